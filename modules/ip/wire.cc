#include "modules/ip/wire.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace ustreams::ip {
namespace {

inline uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline uint32_t Get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void Put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// A partial sum verifies when it folds to 0xffff (-0): the data's sum plus its own complement.
inline bool SumVerifies(uint32_t sum) { return ChecksumFold(sum) == 0xffff; }

constexpr const char* kWireErrorNames[] = {
    "ok",
    "eth_truncated",
    "eth_length_field",
    "eth_vlan_tagged",
    "arp_truncated",
    "arp_hardware_type",
    "arp_protocol_type",
    "arp_hardware_length",
    "arp_protocol_length",
    "arp_operation",
    "ipv4_truncated",
    "ipv4_version",
    "ipv4_header_length",
    "ipv4_total_length",
    "ipv4_frame_short",
    "ipv4_checksum",
    "ipv4_option_truncated",
    "ipv4_option_length",
    "ipv4_option_pointer",
    "ipv4_option_timestamp_flag",
    "ipv4_option_duplicate",
    "ipv4_source_route",
    "icmp_truncated",
    "icmp_checksum",
    "icmp_unknown_type",
    "icmp_code",
    "icmp_quote_truncated",
    "icmp_quote_invalid",
    "udp_truncated",
    "udp_length",
    "udp_length_beyond_payload",
    "udp_checksum",
};
static_assert(std::size(kWireErrorNames) == kWireErrorCount, "a WireError without a name");

// Record route and the source routes: type, length, pointer, then 4-byte addresses. The pointer
// (1-based, from the option's start) is at least 4; when it is not past the end, a whole address
// must fit at it (Linux ip_options_compile checks the same).
WireError CheckRouteOption(const uint8_t* opt, uint8_t len) {
  if (len < 3) return WireError::kIpv4OptionLength;
  uint8_t ptr = opt[2];
  if (ptr < 4) return WireError::kIpv4OptionPointer;
  if (ptr <= len && ptr + 3 > len) return WireError::kIpv4OptionPointer;
  return WireError::kOk;
}

// Timestamp: type, length, pointer, overflow/flag, then entries of 4 (flag 0: timestamps) or
// 8 bytes (flag 1: address + timestamp, flag 3: prespecified addresses). RFC 791.
WireError CheckTimestampOption(const uint8_t* opt, uint8_t len) {
  if (len < 4) return WireError::kIpv4OptionLength;
  uint8_t ptr = opt[2];
  uint8_t flag = opt[3] & 0x0f;
  if (flag != 0 && flag != 1 && flag != 3) return WireError::kIpv4OptionTimestampFlag;
  size_t entry = flag == 0 ? 4 : 8;
  if (ptr < 5) return WireError::kIpv4OptionPointer;
  if (ptr <= len && ptr + entry - 1 > len) return WireError::kIpv4OptionPointer;
  return WireError::kOk;
}

// Walks the options (the bytes after the 20-byte fixed header). See wire.h for the policy.
WireError ParseOptions(const uint8_t* opts, size_t n, Ipv4Options* out) {
  size_t i = 0;
  while (i < n) {
    uint8_t type = opts[i];
    if (type == kIpOptEol) break;  // the rest is padding
    if (type == kIpOptNop) {
      i++;
      continue;
    }
    if (n - i < 2) return WireError::kIpv4OptionTruncated;
    uint8_t len = opts[i + 1];
    if (len < 2 || len > n - i) return WireError::kIpv4OptionLength;
    const uint8_t* opt = opts + i;
    uint8_t at = static_cast<uint8_t>(kIpv4MinHeaderLength + i);
    WireError e = WireError::kOk;
    switch (type) {
      case kIpOptRecordRoute:
        if (out->record_route != 0) return WireError::kIpv4OptionDuplicate;
        e = CheckRouteOption(opt, len);
        out->record_route = at;
        break;
      case kIpOptTimestamp:
        if (out->timestamp != 0) return WireError::kIpv4OptionDuplicate;
        e = CheckTimestampOption(opt, len);
        out->timestamp = at;
        break;
      case kIpOptLsrr:
      case kIpOptSsrr:
        e = CheckRouteOption(opt, len);
        if (e == WireError::kOk) e = WireError::kIpv4SourceRoute;
        break;
      case kIpOptRouterAlert:
        if (out->router_alert) return WireError::kIpv4OptionDuplicate;
        if (len != 4) return WireError::kIpv4OptionLength;
        out->router_alert = true;
        break;
      default:
        out->unknown++;
        break;
    }
    if (e != WireError::kOk) return e;
    i += len;
  }
  return WireError::kOk;
}

}  // namespace

const char* WireErrorName(WireError e) {
  auto i = static_cast<size_t>(e);
  return i < kWireErrorCount ? kWireErrorNames[i] : "unknown";
}

// ---- Ethernet II ----

Parsed<EthernetHeader> ParseEthernet(PacketView frame) {
  uint8_t scratch[kEthernetHeaderLength];
  const uint8_t* p = frame.Peek(0, kEthernetHeaderLength, scratch);
  if (p == nullptr) return WireError::kEthTruncated;
  EthernetHeader h;
  std::memcpy(h.dst.data(), p, 6);
  std::memcpy(h.src.data(), p + 6, 6);
  h.type = Get16(p + 12);
  if (h.type < 0x0600) return WireError::kEthLengthField;
  if (h.type == kEtherTypeVlan || h.type == kEtherTypeQinQ || h.type == kEtherTypeQinQOld) {
    return WireError::kEthVlanTagged;
  }
  h.payload = frame.Sub(kEthernetHeaderLength);
  return h;
}

size_t WriteEthernet(const EthernetHeader& h, std::span<uint8_t> out) {
  if (out.size() < kEthernetHeaderLength) return 0;
  std::memcpy(out.data(), h.dst.data(), 6);
  std::memcpy(out.data() + 6, h.src.data(), 6);
  Put16(out.data() + 12, h.type);
  return kEthernetHeaderLength;
}

// ---- ARP ----

Parsed<ArpPacket> ParseArp(PacketView packet) {
  uint8_t scratch[kArpPacketLength];
  const uint8_t* p = packet.Peek(0, kArpPacketLength, scratch);
  if (p == nullptr) return WireError::kArpTruncated;
  if (Get16(p) != 1) return WireError::kArpHardwareType;
  if (Get16(p + 2) != kEtherTypeIpv4) return WireError::kArpProtocolType;
  if (p[4] != 6) return WireError::kArpHardwareLength;
  if (p[5] != 4) return WireError::kArpProtocolLength;
  ArpPacket a;
  a.op = Get16(p + 6);
  if (a.op != kArpRequest && a.op != kArpReply) return WireError::kArpOperation;
  std::memcpy(a.sender_mac.data(), p + 8, 6);
  a.sender_ip = Get32(p + 14);
  std::memcpy(a.target_mac.data(), p + 18, 6);
  a.target_ip = Get32(p + 24);
  return a;
}

size_t WriteArp(const ArpPacket& a, std::span<uint8_t> out) {
  if (out.size() < kArpPacketLength) return 0;
  uint8_t* p = out.data();
  Put16(p, 1);
  Put16(p + 2, kEtherTypeIpv4);
  p[4] = 6;
  p[5] = 4;
  Put16(p + 6, a.op);
  std::memcpy(p + 8, a.sender_mac.data(), 6);
  Put32(p + 14, a.sender_ip);
  std::memcpy(p + 18, a.target_mac.data(), 6);
  Put32(p + 24, a.target_ip);
  return kArpPacketLength;
}

// ---- IPv4 ----

Parsed<Ipv4Header> ParseIpv4(PacketView packet, bool verify_checksum) {
  uint8_t scratch[kIpv4MaxHeaderLength];
  const uint8_t* p = packet.Peek(0, kIpv4MinHeaderLength, scratch);
  if (p == nullptr) return WireError::kIpv4Truncated;
  if ((p[0] >> 4) != 4) return WireError::kIpv4Version;
  size_t hl = size_t{p[0] & 0x0fu} * 4;
  if (hl < kIpv4MinHeaderLength) return WireError::kIpv4HeaderLength;
  if (hl > kIpv4MinHeaderLength) {
    p = packet.Peek(0, hl, scratch);
    if (p == nullptr) return WireError::kIpv4Truncated;
  }
  Ipv4Header h;
  h.header_length = static_cast<uint8_t>(hl);
  h.total_length = Get16(p + 2);
  if (h.total_length < hl) return WireError::kIpv4TotalLength;
  if (h.total_length > packet.size()) return WireError::kIpv4FrameShort;
  if (verify_checksum && !SumVerifies(ChecksumAdd(p, hl))) return WireError::kIpv4Checksum;
  WireError e = ParseOptions(p + kIpv4MinHeaderLength, hl - kIpv4MinHeaderLength, &h.options);
  if (e != WireError::kOk) return e;
  h.tos = p[1];
  h.id = Get16(p + 4);
  uint16_t frag = Get16(p + 6);
  h.df = (frag & 0x4000) != 0;
  h.mf = (frag & 0x2000) != 0;
  h.fragment_offset = static_cast<uint16_t>((frag & 0x1fff) * 8);
  h.ttl = p[8];
  h.protocol = p[9];
  h.checksum = Get16(p + 10);
  h.src = Get32(p + 12);
  h.dst = Get32(p + 16);
  h.payload = packet.Sub(hl, h.total_length - hl);
  return h;
}

size_t WriteIpv4(const Ipv4Header& h, std::span<uint8_t> out, std::span<const uint8_t> options) {
  size_t padded = (options.size() + 3) & ~size_t{3};
  size_t hl = kIpv4MinHeaderLength + padded;
  if (hl > kIpv4MaxHeaderLength || out.size() < hl) return 0;
  if (h.fragment_offset % 8 != 0 || h.total_length < hl) return 0;
  uint8_t* p = out.data();
  p[0] = static_cast<uint8_t>(0x40 | (hl / 4));
  p[1] = h.tos;
  Put16(p + 2, h.total_length);
  Put16(p + 4, h.id);
  uint16_t frag = static_cast<uint16_t>(h.fragment_offset / 8);
  if (h.df) frag |= 0x4000;
  if (h.mf) frag |= 0x2000;
  Put16(p + 6, frag);
  p[8] = h.ttl;
  p[9] = h.protocol;
  Put16(p + 10, 0);
  Put32(p + 12, h.src);
  Put32(p + 16, h.dst);
  if (!options.empty()) std::memcpy(p + kIpv4MinHeaderLength, options.data(), options.size());
  std::memset(p + kIpv4MinHeaderLength + options.size(), kIpOptEol, padded - options.size());
  Put16(p + 10, InternetChecksum(p, hl));
  return hl;
}

// ---- ICMP ----

Parsed<IcmpMessage> ParseIcmp(PacketView message, bool verify_checksum) {
  uint8_t scratch[kIcmpHeaderLength];
  const uint8_t* p = message.Peek(0, kIcmpHeaderLength, scratch);
  if (p == nullptr) return WireError::kIcmpTruncated;
  if (verify_checksum && !SumVerifies(message.Sum())) return WireError::kIcmpChecksum;
  IcmpMessage m;
  m.type = p[0];
  m.code = p[1];
  m.checksum = Get16(p + 2);
  uint8_t max_code = 0;
  switch (m.type) {
    case kIcmpEchoReply:
    case kIcmpEchoRequest:
      m.echo_id = Get16(p + 4);
      m.echo_seq = Get16(p + 6);
      max_code = 0xff;  // not checked
      break;
    case kIcmpUnreachable:
      max_code = kIcmpMaxUnreachableCode;
      if (m.code == kIcmpFragmentationNeeded) m.next_hop_mtu = Get16(p + 6);
      break;
    case kIcmpSourceQuench:
      max_code = 0;
      break;
    case kIcmpRedirect:
      max_code = 3;  // net, host, TOS and net, TOS and host
      m.gateway = Get32(p + 4);
      break;
    case kIcmpTimeExceeded:
      max_code = kIcmpReassemblyTimeExceeded;
      break;
    case kIcmpParameterProblem:
      max_code = 2;  // pointer, missing option (RFC 1108), bad length (RFC 1812)
      m.pointer = p[4];
      break;
    default:
      return WireError::kIcmpUnknownType;
  }
  if (m.code > max_code) return WireError::kIcmpCode;
  m.body = message.Sub(kIcmpHeaderLength);
  if (!m.is_error()) return m;

  uint8_t qscratch[kIpv4MaxHeaderLength + 8];
  const uint8_t* q = m.body.Peek(0, kIpv4MinHeaderLength, qscratch);
  if (q == nullptr) return WireError::kIcmpQuoteTruncated;
  size_t hl = size_t{q[0] & 0x0fu} * 4;
  if ((q[0] >> 4) != 4 || hl < kIpv4MinHeaderLength) return WireError::kIcmpQuoteInvalid;
  q = m.body.Peek(0, hl + 8, qscratch);
  if (q == nullptr) return WireError::kIcmpQuoteTruncated;
  IcmpQuote& quote = m.quote;
  quote.header_length = static_cast<uint8_t>(hl);
  quote.total_length = Get16(q + 2);
  quote.id = Get16(q + 4);
  quote.mf = (Get16(q + 6) & 0x2000) != 0;
  quote.fragment_offset = static_cast<uint16_t>((Get16(q + 6) & 0x1fff) * 8);
  quote.protocol = q[9];
  quote.src = Get32(q + 12);
  quote.dst = Get32(q + 16);
  std::memcpy(quote.transport.data(), q + hl, 8);
  return m;
}

size_t WriteIcmpHeader(const IcmpMessage& m, std::span<uint8_t> out, PacketView rest) {
  if (out.size() < kIcmpHeaderLength) return 0;
  uint8_t* p = out.data();
  p[0] = m.type;
  p[1] = m.code;
  Put16(p + 2, 0);
  switch (m.type) {
    case kIcmpEchoReply:
    case kIcmpEchoRequest:
      Put16(p + 4, m.echo_id);
      Put16(p + 6, m.echo_seq);
      break;
    case kIcmpRedirect:
      Put32(p + 4, m.gateway);
      break;
    case kIcmpParameterProblem:
      Put32(p + 4, uint32_t{m.pointer} << 24);
      break;
    case kIcmpUnreachable:
      Put32(p + 4, m.code == kIcmpFragmentationNeeded ? m.next_hop_mtu : 0);
      break;
    default:
      Put32(p + 4, 0);
      break;
  }
  // The header is 8 bytes, so `rest` starts at an even offset: the sums concatenate.
  uint32_t sum = rest.Sum(ChecksumAdd(p, kIcmpHeaderLength));
  Put16(p + 2, ChecksumFinish(sum));
  return kIcmpHeaderLength;
}

size_t WriteIcmpError(const IcmpMessage& m, std::span<uint8_t> out, PacketView offending) {
  if (out.size() < kIcmpHeaderLength) return 0;
  size_t ihl = size_t{offending.U8(0) & 0x0fu} * 4;
  size_t needed = std::min(offending.size(), std::max(ihl, kIpv4MinHeaderLength) + 8);
  size_t quote = std::min({offending.size(), out.size() - kIcmpHeaderLength, kIcmpMaxQuote});
  if (quote < needed) return 0;
  uint8_t* q = out.data() + kIcmpHeaderLength;
  if (!offending.Copy(0, quote, q)) return 0;
  WriteIcmpHeader(m, out, PacketView(q, quote));
  return kIcmpHeaderLength + quote;
}

// ---- UDP ----

Parsed<UdpHeader> ParseUdp(PacketView datagram, uint32_t src, uint32_t dst, bool verify_checksum) {
  uint8_t scratch[kUdpHeaderLength];
  const uint8_t* p = datagram.Peek(0, kUdpHeaderLength, scratch);
  if (p == nullptr) return WireError::kUdpTruncated;
  UdpHeader u;
  u.src_port = Get16(p);
  u.dst_port = Get16(p + 2);
  u.length = Get16(p + 4);
  u.checksum = Get16(p + 6);
  if (u.length < kUdpHeaderLength) return WireError::kUdpLength;
  if (u.length > datagram.size()) return WireError::kUdpLengthBeyondPayload;
  if (verify_checksum && u.checksum != 0) {
    uint32_t sum = datagram.Sub(0, u.length).Sum(PseudoHeaderSum(src, dst, kProtoUdp, u.length));
    if (!SumVerifies(sum)) return WireError::kUdpChecksum;
  }
  u.payload = datagram.Sub(kUdpHeaderLength, u.length - kUdpHeaderLength);
  return u;
}

size_t WriteUdp(uint16_t src_port, uint16_t dst_port, uint32_t src, uint32_t dst,
                PacketView payload, std::span<uint8_t> out, bool with_checksum) {
  if (out.size() < kUdpHeaderLength) return 0;
  if (payload.size() > kIpv4MaxDatagram - kUdpHeaderLength) return 0;
  auto length = static_cast<uint16_t>(kUdpHeaderLength + payload.size());
  uint8_t* p = out.data();
  Put16(p, src_port);
  Put16(p + 2, dst_port);
  Put16(p + 4, length);
  Put16(p + 6, 0);
  if (with_checksum) {
    uint32_t sum = ChecksumAdd(p, kUdpHeaderLength, PseudoHeaderSum(src, dst, kProtoUdp, length));
    uint16_t c = ChecksumFinish(payload.Sum(sum));
    Put16(p + 6, c == 0 ? 0xffff : c);  // RFC 768: a computed zero is sent as all ones
  }
  return kUdpHeaderLength;
}

// ---- Headroom ----

uint8_t* PrependHeader(mblk_t* mp, size_t n) {
  if (mp == nullptr || MBLKHEAD(mp) < n || DB_REF(mp) > 1) return nullptr;
  mp->b_rptr -= n;
  return mp->b_rptr;
}

}  // namespace ustreams::ip
