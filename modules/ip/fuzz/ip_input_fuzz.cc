// libFuzzer target: arbitrary bytes through the Ethernet, ARP, IPv4, ICMP and UDP parsers and
// into reassembly, the path every frame from a link takes into IP.
//
// Input: byte 0 seeds how frames are split into message blocks; then frames, each preceded by a
// big-endian 16-bit length (a short tail is one last frame). Frames are one second apart in
// virtual time, so a reassembler with small bounds (3 s timeout, 4 datagrams, 16 fragments,
// 32 KiB) meets its timeouts and evictions within one input.
//
// Besides crashes and sanitizer reports, it traps on broken properties:
//  - every parse gives the same result over contiguous bytes and over a chain of random blocks;
//  - the chain checksum equals the contiguous one;
//  - what a builder writes from a parsed header parses back to the same fields;
//  - reassembly never exceeds its bounds, and what it completes is a valid datagram whose length
//    is its chain's;
//  - a reassembler without reachable bounds agrees with a plain reference of the rules
//    (ModelReassembler): the same datagrams completed, byte for byte, the same drops by reason;
//  - an ICMP time-exceeded built from a timed-out first fragment parses;
//  - no message block outlives the input.
//
// Build: tests/fuzz/run_fuzz.sh (clang, outside Bazel). Replay of the committed corpus under
// Bazel: //tests/fuzz:ip_input_replay_test.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "modules/ip/checksum.h"
#include "modules/ip/reassembly.h"
#include "modules/ip/wire.h"
#include "modules/ip/wire_test_util.h"
#include "streams/alloc.h"
#include "streams/msg.h"

namespace ustreams::ip {
namespace {

#define FUZZ_CHECK(cond)                                                         \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "ip_input_fuzz: property broken: %s\n", #cond); \
      __builtin_trap();                                                          \
    }                                                                            \
  } while (0)

void Field(std::string& out, const char* name, uint64_t v) {
  out += name;
  out += '=';
  out += std::to_string(v);
  out += ' ';
}

// Everything the parsers report about a frame, as text: two views of the same bytes must give
// the same text.
std::string Describe(PacketView frame) {
  std::string d;
  Parsed<EthernetHeader> eth = ParseEthernet(frame);
  Field(d, "eth", static_cast<uint64_t>(eth.error()));
  if (!eth.ok()) return d;
  Field(d, "type", eth->type);
  if (eth->type == kEtherTypeArp) {
    Parsed<ArpPacket> a = ParseArp(eth->payload);
    Field(d, "arp", static_cast<uint64_t>(a.error()));
    if (a.ok()) {
      Field(d, "op", a->op);
      Field(d, "spa", a->sender_ip);
      Field(d, "tpa", a->target_ip);
    }
    return d;
  }
  if (eth->type != kEtherTypeIpv4) return d;
  Parsed<Ipv4Header> ip = ParseIpv4(eth->payload);
  Field(d, "ip", static_cast<uint64_t>(ip.error()));
  if (!ip.ok()) return d;
  Field(d, "hl", ip->header_length);
  Field(d, "tl", ip->total_length);
  Field(d, "off", ip->fragment_offset);
  Field(d, "mf", ip->mf);
  Field(d, "proto", ip->protocol);
  Field(d, "rr", ip->options.record_route);
  Field(d, "ts", ip->options.timestamp);
  d += ip->payload.ToString();
  if (ip->is_fragment()) return d;
  if (ip->protocol == kProtoIcmp) {
    Parsed<IcmpMessage> m = ParseIcmp(ip->payload);
    Field(d, "icmp", static_cast<uint64_t>(m.error()));
    if (m.ok()) {
      Field(d, "t", m->type);
      Field(d, "c", m->code);
      Field(d, "mtu", m->next_hop_mtu);
      Field(d, "qsrc", m->quote.src);
      Field(d, "qp", m->quote.protocol);
      d += m->body.ToString();
    }
  } else if (ip->protocol == kProtoUdp) {
    Parsed<UdpHeader> u = ParseUdp(ip->payload, ip->src, ip->dst);
    Field(d, "udp", static_cast<uint64_t>(u.error()));
    if (u.ok()) {
      Field(d, "sp", u->src_port);
      Field(d, "dp", u->dst_port);
      d += u->payload.ToString();
    }
  }
  return d;
}

// Builders give back what the parser read.
void CheckIpv4RoundTrip(const Ipv4Header& h, PacketView packet) {
  uint8_t opts[40];
  size_t n = h.header_length - kIpv4MinHeaderLength;
  FUZZ_CHECK(packet.Copy(kIpv4MinHeaderLength, n, opts));
  uint8_t out[kIpv4MaxHeaderLength] = {};
  FUZZ_CHECK(WriteIpv4(h, out, std::span<const uint8_t>(opts, n)) == h.header_length);
  FUZZ_CHECK(InternetChecksum(out, h.header_length) == 0);
  // Byte for byte the header that came in, but for the checksum (recomputed) and the reserved
  // flag bit (ignored on input, never sent).
  uint8_t in[kIpv4MaxHeaderLength];
  FUZZ_CHECK(packet.Copy(0, h.header_length, in));
  in[6] &= 0x7f;
  for (size_t i = 0; i < h.header_length; ++i) {
    if (i != 10 && i != 11) FUZZ_CHECK(in[i] == out[i]);
  }
}

void CheckTransportRoundTrip(const Ipv4Header& ip) {
  if (ip.protocol == kProtoIcmp) {
    Parsed<IcmpMessage> m = ParseIcmp(ip.payload);
    if (!m.ok()) return;
    uint8_t hdr[kIcmpHeaderLength];
    FUZZ_CHECK(WriteIcmpHeader(*m, hdr, m->body) == kIcmpHeaderLength);
    std::string again(reinterpret_cast<char*>(hdr), sizeof(hdr));
    again += m->body.ToString();
    Parsed<IcmpMessage> r = ParseIcmp(testing::View(again));
    FUZZ_CHECK(r.ok());
    FUZZ_CHECK(r->type == m->type && r->code == m->code && r->echo_id == m->echo_id &&
               r->echo_seq == m->echo_seq && r->next_hop_mtu == m->next_hop_mtu &&
               r->gateway == m->gateway && r->pointer == m->pointer);
  } else if (ip.protocol == kProtoUdp) {
    Parsed<UdpHeader> u = ParseUdp(ip.payload, ip.src, ip.dst);
    if (!u.ok()) return;
    uint8_t hdr[kUdpHeaderLength];
    FUZZ_CHECK(WriteUdp(u->src_port, u->dst_port, ip.src, ip.dst, u->payload, hdr) ==
               kUdpHeaderLength);
    std::string again(reinterpret_cast<char*>(hdr), sizeof(hdr));
    again += u->payload.ToString();
    Parsed<UdpHeader> r = ParseUdp(testing::View(again), ip.src, ip.dst);
    FUZZ_CHECK(r.ok() && r->src_port == u->src_port && r->dst_port == u->dst_port &&
               r->length == u->length);
  }
}

// A reference of the reassembly rules (reassembly.h), written the plain way: every check a loop
// over the fragments held, bytes copied. It has no bounds, so it is compared with a Reassembler
// whose bounds are out of reach: the same completions, byte for byte, and the same drop counts.
class ModelReassembler {
 public:
  explicit ModelReassembler(absl::Duration timeout) : timeout_(timeout) {}

  // Returns the completed datagram's bytes, or "" (a datagram is never empty).
  std::string Add(absl::Time now, const Ipv4Header& h, const std::string& packet) {
    uint32_t start = h.fragment_offset;
    uint32_t len = h.total_length - h.header_length;
    uint32_t end = start + len;
    bool last = !h.mf;
    Key key{h.src, h.dst, h.id, h.protocol};
    auto found = held_.find(key);
    auto drop = [&](ReassemblyDrop r) {
      drops[static_cast<size_t>(r)]++;
      held_.erase(key);
      return std::string();
    };
    if (len == 0) return drop(ReassemblyDrop::kEmptyFragment);
    if (!last && len % 8 != 0) return drop(ReassemblyDrop::kNotMultipleOf8);
    if (end + (start == 0 ? h.header_length : kIpv4MinHeaderLength) > kIpv4MaxDatagram) {
      return drop(ReassemblyDrop::kTooLong);
    }
    if (found == held_.end()) {
      found = held_.emplace(key, Datagram()).first;
      found->second.deadline = now + timeout_;
    }
    Datagram& d = found->second;
    uint32_t max_end = 0;
    for (const Frag& f : d.frags) max_end = std::max(max_end, f.end);
    if (last && ((d.end_known && end != d.end) || max_end > end)) {
      return drop(ReassemblyDrop::kEndMismatch);
    }
    if (!last && d.end_known && end > d.end) return drop(ReassemblyDrop::kEndMismatch);
    for (const Frag& f : d.frags) {
      if (f.start == start && f.end == end) {
        if (f.last != last) return drop(ReassemblyDrop::kEndMismatch);
        drops[static_cast<size_t>(ReassemblyDrop::kDuplicate)]++;
        return std::string();
      }
    }
    for (const Frag& f : d.frags) {
      if (f.start < end && start < f.end) return drop(ReassemblyDrop::kOverlap);
    }
    d.frags.push_back({start, end, last, packet.substr(h.header_length, len)});
    if (last) {
      d.end = end;
      d.end_known = true;
    }
    if (start == 0) d.header = packet.substr(0, h.header_length);
    uint32_t received = 0;
    for (const Frag& f : d.frags) received += f.end - f.start;
    if (!d.end_known || received != d.end) return std::string();
    if (d.header.size() + d.end > kIpv4MaxDatagram) return drop(ReassemblyDrop::kTooLong);
    std::string out = d.header;
    out.resize(d.header.size() + d.end);
    for (const Frag& f : d.frags) out.replace(d.header.size() + f.start, f.end - f.start, f.data);
    size_t total = out.size();
    out[2] = static_cast<char>(total >> 8);
    out[3] = static_cast<char>(total);
    out[6] = static_cast<char>(out[6] & 0x40);
    out[7] = 0;
    out[10] = out[11] = 0;
    uint16_t c = InternetChecksum(out.data(), d.header.size());
    out[10] = static_cast<char>(c >> 8);
    out[11] = static_cast<char>(c);
    held_.erase(key);
    return out;
  }

  void Expire(absl::Time now) {
    for (auto it = held_.begin(); it != held_.end();) {
      if (it->second.deadline <= now) {
        drops[static_cast<size_t>(ReassemblyDrop::kTimeout)]++;
        it = held_.erase(it);
      } else {
        ++it;
      }
    }
  }

  size_t datagrams() const { return held_.size(); }
  std::array<uint64_t, kReassemblyDropCount> drops{};

 private:
  using Key = std::tuple<uint32_t, uint32_t, uint16_t, uint8_t>;
  struct Frag {
    uint32_t start, end;
    bool last;
    std::string data;
  };
  struct Datagram {
    absl::Time deadline;
    std::vector<Frag> frags;
    bool end_known = false;
    uint32_t end = 0;
    std::string header;  // of fragment zero
  };
  absl::Duration timeout_;
  std::map<Key, Datagram> held_;
};

struct Run {
  std::mt19937 rng;
  Reassembler reassembler;
  absl::Time now = absl::UnixEpoch();

  static ReassemblyConfig Config() {
    ReassemblyConfig c;
    c.timeout = absl::Seconds(3);
    c.max_datagrams = 4;
    c.max_fragments = 16;
    c.max_bytes = 32 * 1024;
    return c;
  }
  static ReassemblyConfig Unbounded() {
    ReassemblyConfig c = Config();
    c.max_datagrams = c.max_fragments = c.max_bytes = static_cast<size_t>(-1);
    return c;
  }
  explicit Run(uint8_t seed)
      : rng(seed), reassembler(Config()), exact(Unbounded()), model(Config().timeout) {}

  Reassembler exact;  // bounds out of reach: must agree with the model
  ModelReassembler model;

  void Frame(const std::string& frame) {
    PacketView flat = testing::View(frame);
    MsgPtr chain = testing::RandomChain(frame, rng, 1 + rng() % 64);
    FUZZ_CHECK(chain);
    PacketView chained = PacketView::OfChain(chain.get());
    FUZZ_CHECK(Describe(flat) == Describe(chained));
    FUZZ_CHECK(ChecksumFold(chained.Sum()) == ChecksumFold(flat.Sum()) ||
               (ChecksumFold(chained.Sum()) | ChecksumFold(flat.Sum())) == 0xffff);

    Parsed<EthernetHeader> eth = ParseEthernet(flat);
    if (!eth.ok() || eth->type != kEtherTypeIpv4) return;
    Parsed<Ipv4Header> ip = ParseIpv4(eth->payload);
    if (!ip.ok()) return;
    CheckIpv4RoundTrip(*ip, eth->payload);
    if (!ip->is_fragment()) {
      CheckTransportRoundTrip(*ip);
      return;
    }
    std::string ip_bytes = eth->payload.ToString();
    // The reference and the unbounded reassembler agree exactly.
    MsgPtr copy = testing::RandomChain(ip_bytes, rng, 1 + rng() % 600);
    Parsed<Ipv4Header> hc = ParseIpv4(PacketView::OfChain(copy.get()));
    FUZZ_CHECK(hc.ok());
    MsgPtr got = exact.Add(now, *hc, std::move(copy));
    std::string want = model.Add(now, *ip, ip_bytes);
    FUZZ_CHECK(MsgBytes(got.get()) == want);
    FUZZ_CHECK(exact.stats().drops == model.drops);
    FUZZ_CHECK(exact.datagrams() == model.datagrams());

    // The IP packet (without the Ethernet header) as IP would hold it: a chain of blocks.
    MsgPtr packet = testing::RandomChain(ip_bytes, rng, 1 + rng() % 600);
    Parsed<Ipv4Header> h = ParseIpv4(PacketView::OfChain(packet.get()));
    FUZZ_CHECK(h.ok());
    Ipv4Header done;
    MsgPtr whole = reassembler.Add(now, *h, std::move(packet), &done);
    const ReassemblyConfig& c = reassembler.config();
    FUZZ_CHECK(reassembler.bytes_held() <= c.max_bytes);
    FUZZ_CHECK(reassembler.datagrams() <= c.max_datagrams);
    if (whole) {
      Parsed<Ipv4Header> w = ParseIpv4(PacketView::OfChain(whole.get()));
      FUZZ_CHECK(w.ok());
      FUZZ_CHECK(!w->is_fragment());
      FUZZ_CHECK(w->total_length == msgsize(whole.get()));
      FUZZ_CHECK(done.total_length == w->total_length);
      CheckTransportRoundTrip(*w);
    }
  }

  void Tick() {
    now += absl::Seconds(1);
    std::vector<MsgPtr> firsts;
    reassembler.Expire(now, &firsts);
    exact.Expire(now);
    model.Expire(now);
    FUZZ_CHECK(exact.stats().drops == model.drops);
    FUZZ_CHECK(exact.datagrams() == model.datagrams());
    FUZZ_CHECK(reassembler.NextDeadline() > now);
    for (const MsgPtr& f : firsts) {
      IcmpMessage m;
      m.type = kIcmpTimeExceeded;
      m.code = kIcmpReassemblyTimeExceeded;
      uint8_t out[kIcmpHeaderLength + kIcmpMaxQuote];
      size_t n = WriteIcmpError(m, out, PacketView::OfChain(f.get()));
      FUZZ_CHECK(n > kIcmpHeaderLength);
      FUZZ_CHECK(ParseIcmp(PacketView(out, n)).ok());
    }
  }
};

}  // namespace
}  // namespace ustreams::ip

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ustreams;
  if (size == 0) return 0;
  const int64_t live_before = GetAllocStats().live_mblks;
  {
    ip::Run run(data[0]);
    size_t at = 1;
    while (at < size) {
      size_t len = size - at;
      if (len >= 2) {
        len = std::min<size_t>(static_cast<size_t>(data[at] << 8 | data[at + 1]), size - at - 2);
        at += 2;
      }
      run.Frame(std::string(reinterpret_cast<const char*>(data + at), len));
      at += len;
      run.Tick();
    }
  }
  FUZZ_CHECK(GetAllocStats().live_mblks == live_before);
  return 0;
}
