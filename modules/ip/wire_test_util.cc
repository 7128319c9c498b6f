#include "modules/ip/wire_test_util.h"

#include <cstring>

namespace ustreams::ip::testing {

std::string FromHex(std::string_view text, bool* ok) {
  std::string out;
  bool good = true;
  int nibble = -1;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '#') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      good = false;
      continue;
    }
    if (nibble < 0) {
      nibble = v;
    } else {
      out.push_back(static_cast<char>(nibble << 4 | v));
      nibble = -1;
    }
  }
  if (nibble >= 0) good = false;
  if (ok != nullptr) *ok = good;
  return out;
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto b = static_cast<uint8_t>(bytes[i]);
    if (i != 0) out.push_back(i % 16 == 0 ? '\n' : ' ');
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  out.push_back('\n');
  return out;
}

namespace {

mblk_t* Block(std::string_view bytes, size_t headroom) {
  mblk_t* b = allocb(headroom + bytes.size());
  if (b == nullptr) return nullptr;
  b->b_rptr += headroom;
  b->b_wptr = b->b_rptr;
  if (!bytes.empty()) std::memcpy(b->b_wptr, bytes.data(), bytes.size());
  b->b_wptr += bytes.size();
  return b;
}

void Append(MsgPtr& head, mblk_t*& tail, mblk_t* b) {
  if (!head) {
    head.reset(b);
  } else {
    tail->b_cont = b;
  }
  tail = b;
}

}  // namespace

MsgPtr Chain(std::string_view bytes, const std::vector<size_t>& sizes, size_t headroom) {
  MsgPtr head;
  mblk_t* tail = nullptr;
  size_t at = 0;
  for (size_t i = 0; i < sizes.size() && at < bytes.size(); ++i) {
    size_t n = i + 1 == sizes.size() ? bytes.size() - at : std::min(sizes[i], bytes.size() - at);
    Append(head, tail, Block(bytes.substr(at, n), headroom));
    at += n;
  }
  if (at < bytes.size() || !head) Append(head, tail, Block(bytes.substr(at), headroom));
  return head;
}

MsgPtr RandomChain(std::string_view bytes, std::mt19937& rng, size_t max_block) {
  std::vector<size_t> sizes;
  size_t total = 0;
  std::uniform_int_distribution<size_t> dist(0, max_block);
  while (total < bytes.size()) {
    sizes.push_back(dist(rng));
    total += sizes.back();
  }
  sizes.push_back(0);  // the last block takes the rest (possibly nothing: an empty block)
  return Chain(bytes, sizes, 0);
}

std::string Ipv4Bytes(const Ipv4Header& h, std::string_view payload,
                      std::span<const uint8_t> options) {
  std::string out(kIpv4MaxHeaderLength, '\0');
  size_t hl = WriteIpv4(h, {reinterpret_cast<uint8_t*>(out.data()), out.size()}, options);
  out.resize(hl);
  out.append(payload);
  return out;
}

std::string Ipv4Packet(Ipv4Header h, std::string_view payload, std::span<const uint8_t> options) {
  h.total_length = static_cast<uint16_t>(kIpv4MinHeaderLength + ((options.size() + 3) & ~3u) +
                                         payload.size());
  return Ipv4Bytes(h, payload, options);
}

std::string UdpDatagram(uint16_t sport, uint16_t dport, uint32_t src, uint32_t dst,
                        std::string_view payload, bool with_checksum) {
  std::string out(kUdpHeaderLength, '\0');
  WriteUdp(sport, dport, src, dst, PacketView(payload.data(), payload.size()),
           {reinterpret_cast<uint8_t*>(out.data()), out.size()}, with_checksum);
  out.append(payload);
  return out;
}

std::string IcmpEcho(uint8_t type, uint16_t id, uint16_t seq, std::string_view data) {
  IcmpMessage m;
  m.type = type;
  m.echo_id = id;
  m.echo_seq = seq;
  std::string out(kIcmpHeaderLength, '\0');
  WriteIcmpHeader(m, {reinterpret_cast<uint8_t*>(out.data()), out.size()},
                  PacketView(data.data(), data.size()));
  out.append(data);
  return out;
}

std::string IcmpError(uint8_t type, uint8_t code, std::string_view offending, uint16_t mtu) {
  IcmpMessage m;
  m.type = type;
  m.code = code;
  m.next_hop_mtu = mtu;
  std::string out(kIcmpHeaderLength + kIcmpMaxQuote, '\0');
  size_t n = WriteIcmpError(m, {reinterpret_cast<uint8_t*>(out.data()), out.size()},
                            PacketView(offending.data(), offending.size()));
  out.resize(n);
  return out;
}

std::string EthernetFrame(uint16_t type, std::string_view payload) {
  EthernetHeader h;
  h.dst = {0x02, 0, 0, 0, 0, 0x02};
  h.src = {0x02, 0, 0, 0, 0, 0x01};
  h.type = type;
  std::string out(kEthernetHeaderLength, '\0');
  WriteEthernet(h, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
  out.append(payload);
  return out;
}

std::string ArpBytes(uint16_t op) {
  ArpPacket a;
  a.op = op;
  a.sender_mac = {0x02, 0, 0, 0, 0, 0x01};
  a.sender_ip = kTestSrc;
  a.target_mac = op == kArpRequest ? MacAddress{} : MacAddress{0x02, 0, 0, 0, 0, 0x02};
  a.target_ip = kTestDst;
  std::string out(kArpPacketLength, '\0');
  WriteArp(a, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
  return out;
}

Ipv4Header TestIpv4(uint8_t protocol, uint16_t id) {
  Ipv4Header h;
  h.id = id;
  h.ttl = 64;
  h.protocol = protocol;
  h.src = kTestSrc;
  h.dst = kTestDst;
  return h;
}

WireError ParseFrameLayers(PacketView frame) {
  Parsed<EthernetHeader> eth = ParseEthernet(frame);
  if (!eth.ok()) return eth.error();
  if (eth->type == kEtherTypeArp) return ParseArp(eth->payload).error();
  if (eth->type != kEtherTypeIpv4) return WireError::kOk;
  Parsed<Ipv4Header> ip = ParseIpv4(eth->payload);
  if (!ip.ok()) return ip.error();
  if (ip->is_fragment()) return WireError::kOk;
  if (ip->protocol == kProtoIcmp) return ParseIcmp(ip->payload).error();
  if (ip->protocol == kProtoUdp) return ParseUdp(ip->payload, ip->src, ip->dst).error();
  return WireError::kOk;
}

}  // namespace ustreams::ip::testing
