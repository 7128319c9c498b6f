#include "modules/ip/wire.h"

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "modules/ip/wire_test_util.h"
#include "streams/msg.h"
#include "streams/testing/leak_check.h"

namespace ustreams::ip {
namespace {

using testing::Bytes;
using testing::Chain;
using testing::EthernetFrame;
using testing::IcmpEcho;
using testing::IcmpError;
using testing::Ipv4Bytes;
using testing::Ipv4Packet;
using testing::kTestDst;
using testing::kTestSrc;
using testing::RandomChain;
using testing::TestIpv4;
using testing::UdpDatagram;
using testing::View;

class WireTest : public ustreams::testing::LeakCheckedTest {};

// Rewrites the IPv4 header checksum of a packet string after a test changed a field.
void FixIpv4Checksum(std::string& p) {
  size_t hl = (static_cast<uint8_t>(p[0]) & 0x0f) * 4u;
  p[10] = p[11] = 0;
  uint16_t c = InternetChecksum(p.data(), std::min(hl, p.size()));
  p[10] = static_cast<char>(c >> 8);
  p[11] = static_cast<char>(c);
}

// Rewrites the ICMP checksum of a message string.
void FixIcmpChecksum(std::string& m) {
  m[2] = m[3] = 0;
  uint16_t c = InternetChecksum(m.data(), m.size());
  m[2] = static_cast<char>(c >> 8);
  m[3] = static_cast<char>(c);
}

// ======================= Ethernet =======================

TEST_F(WireTest, EthernetRoundTrip) {
  std::string f = EthernetFrame(kEtherTypeIpv4, "payload");
  Parsed<EthernetHeader> e = ParseEthernet(View(f));
  ASSERT_TRUE(e.ok()) << WireErrorName(e.error());
  EXPECT_EQ(e->dst, (MacAddress{0x02, 0, 0, 0, 0, 0x02}));
  EXPECT_EQ(e->src, (MacAddress{0x02, 0, 0, 0, 0, 0x01}));
  EXPECT_EQ(e->type, kEtherTypeIpv4);
  EXPECT_EQ(e->payload.ToString(), "payload");
  uint8_t out[14];
  EXPECT_EQ(WriteEthernet(*e, out), 14u);
  EXPECT_EQ(0, std::memcmp(out, f.data(), 14));
  EXPECT_EQ(WriteEthernet(*e, std::span<uint8_t>(out, 13)), 0u);
}

TEST_F(WireTest, EthernetTruncatedAtEveryLength) {
  std::string f = EthernetFrame(kEtherTypeArp, "");
  for (size_t n = 0; n < kEthernetHeaderLength; ++n) {
    EXPECT_EQ(ParseEthernet(View(f).Sub(0, n)).error(), WireError::kEthTruncated) << n;
  }
  EXPECT_TRUE(ParseEthernet(View(f)).ok());  // a bare header, empty payload
}

TEST_F(WireTest, EthernetLengthFieldAndVlanRefused) {
  for (uint16_t t : {0x0000, 0x002e, 0x05dc, 0x05ff}) {
    EXPECT_EQ(ParseEthernet(View(EthernetFrame(t, "x"))).error(), WireError::kEthLengthField) << t;
  }
  for (uint16_t t : {kEtherTypeVlan, kEtherTypeQinQ, kEtherTypeQinQOld}) {
    EXPECT_EQ(ParseEthernet(View(EthernetFrame(t, "xxxx"))).error(), WireError::kEthVlanTagged);
  }
  // Types IP does not speak are the caller's to count, not errors.
  EXPECT_TRUE(ParseEthernet(View(EthernetFrame(0x0600, ""))).ok());
  EXPECT_TRUE(ParseEthernet(View(EthernetFrame(kEtherTypeIpv6, ""))).ok());
}

// ======================= ARP =======================

TEST_F(WireTest, ArpRoundTrip) {
  for (uint16_t op : {kArpRequest, kArpReply}) {
    std::string a = testing::ArpBytes(op);
    Parsed<ArpPacket> p = ParseArp(View(a));
    ASSERT_TRUE(p.ok()) << WireErrorName(p.error());
    EXPECT_EQ(p->op, op);
    EXPECT_EQ(p->sender_ip, kTestSrc);
    EXPECT_EQ(p->target_ip, kTestDst);
    EXPECT_EQ(p->sender_mac, (MacAddress{0x02, 0, 0, 0, 0, 0x01}));
    uint8_t out[28];
    ASSERT_EQ(WriteArp(*p, out), 28u);
    EXPECT_EQ(0, std::memcmp(out, a.data(), 28));
    EXPECT_EQ(WriteArp(*p, std::span<uint8_t>(out, 27)), 0u);
  }
  // Ethernet padding after the 28 bytes is ignored.
  std::string padded = testing::ArpBytes(kArpRequest) + std::string(18, '\0');
  EXPECT_TRUE(ParseArp(View(padded)).ok());
}

TEST_F(WireTest, ArpTruncatedAtEveryLength) {
  std::string a = testing::ArpBytes(kArpRequest);
  for (size_t n = 0; n < kArpPacketLength; ++n) {
    EXPECT_EQ(ParseArp(View(a).Sub(0, n)).error(), WireError::kArpTruncated) << n;
  }
}

TEST_F(WireTest, ArpEachFieldWrong) {
  struct Case {
    size_t at;
    uint8_t value;
    WireError want;
  } cases[] = {
      {0, 0x01, WireError::kArpHardwareType},     // htype 0x0101
      {1, 0x06, WireError::kArpHardwareType},     // htype 6 (IEEE 802)
      {2, 0x86, WireError::kArpProtocolType},     // ptype 0x8600
      {3, 0x06, WireError::kArpProtocolType},     // ptype 0x0806
      {4, 8, WireError::kArpHardwareLength},
      {4, 0, WireError::kArpHardwareLength},
      {5, 16, WireError::kArpProtocolLength},
      {5, 0, WireError::kArpProtocolLength},
      {7, 0, WireError::kArpOperation},
      {7, 3, WireError::kArpOperation},           // RARP request
      {6, 1, WireError::kArpOperation},           // 0x0101
  };
  for (const Case& c : cases) {
    std::string a = testing::ArpBytes(kArpRequest);
    a[c.at] = static_cast<char>(c.value);
    EXPECT_EQ(ParseArp(View(a)).error(), c.want) << "byte " << c.at << " = " << int{c.value};
  }
}

// ======================= IPv4 =======================

TEST_F(WireTest, Ipv4RoundTrip) {
  Ipv4Header h = TestIpv4(kProtoUdp, 0xbeef);
  h.tos = 0xb8;
  h.df = true;
  h.ttl = 7;
  std::string p = Ipv4Packet(h, "hello");
  Parsed<Ipv4Header> r = ParseIpv4(View(p));
  ASSERT_TRUE(r.ok()) << WireErrorName(r.error());
  EXPECT_EQ(r->header_length, 20);
  EXPECT_EQ(r->tos, 0xb8);
  EXPECT_EQ(r->total_length, 25);
  EXPECT_EQ(r->id, 0xbeef);
  EXPECT_TRUE(r->df);
  EXPECT_FALSE(r->mf);
  EXPECT_EQ(r->fragment_offset, 0);
  EXPECT_FALSE(r->is_fragment());
  EXPECT_EQ(r->ttl, 7);
  EXPECT_EQ(r->protocol, kProtoUdp);
  EXPECT_EQ(r->src, kTestSrc);
  EXPECT_EQ(r->dst, kTestDst);
  EXPECT_EQ(r->payload_length(), 5);
  EXPECT_EQ(r->payload.ToString(), "hello");
  EXPECT_EQ(InternetChecksum(p.data(), 20), 0);
  // Rebuilding the parsed header gives the same bytes.
  EXPECT_EQ(Ipv4Bytes(*r, "hello"), p);
}

TEST_F(WireTest, Ipv4FragmentFields) {
  Ipv4Header h = TestIpv4(kProtoIcmp);
  h.mf = true;
  h.fragment_offset = 8 * 8191;
  std::string p = Ipv4Packet(h, "12345678");
  Parsed<Ipv4Header> r = ParseIpv4(View(p));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->mf);
  EXPECT_FALSE(r->df);
  EXPECT_EQ(r->fragment_offset, 65528);
  EXPECT_TRUE(r->is_fragment());
  // The reserved flag is ignored.
  p[6] = static_cast<char>(p[6] | 0x80);
  FixIpv4Checksum(p);
  EXPECT_TRUE(ParseIpv4(View(p)).ok());
}

TEST_F(WireTest, Ipv4BuilderRefusesWhatItCannotEncode) {
  Ipv4Header h = TestIpv4(kProtoUdp);
  h.total_length = 20;
  uint8_t out[60];
  EXPECT_EQ(WriteIpv4(h, std::span<uint8_t>(out, 19)), 0u);
  h.fragment_offset = 12;
  EXPECT_EQ(WriteIpv4(h, out), 0u);
  h.fragment_offset = 0;
  uint8_t opts[41] = {};
  EXPECT_EQ(WriteIpv4(h, out, std::span<const uint8_t>(opts, 41)), 0u);
  h.total_length = 60;
  EXPECT_EQ(WriteIpv4(h, out, std::span<const uint8_t>(opts, 40)), 60u);
  h.total_length = 59;
  EXPECT_EQ(WriteIpv4(h, out, std::span<const uint8_t>(opts, 40)), 0u);  // total < header
  // Options are padded with EOL to a multiple of 4.
  const uint8_t nop[1] = {kIpOptNop};
  h.total_length = 24;
  ASSERT_EQ(WriteIpv4(h, out, nop), 24u);
  EXPECT_EQ(out[0], 0x46);
  EXPECT_EQ(out[20], kIpOptNop);
  EXPECT_EQ(out[21], kIpOptEol);
  EXPECT_EQ(out[23], kIpOptEol);
}

TEST_F(WireTest, Ipv4TruncatedAtEveryLength) {
  std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd");
  for (size_t n = 0; n < 20; ++n) {
    EXPECT_EQ(ParseIpv4(View(p).Sub(0, n)).error(), WireError::kIpv4Truncated) << n;
  }
  // Cut inside the payload: the total length says more than the frame holds.
  for (size_t n = 20; n < p.size(); ++n) {
    EXPECT_EQ(ParseIpv4(View(p).Sub(0, n)).error(), WireError::kIpv4FrameShort) << n;
  }
  // With options: cut inside the options.
  const uint8_t ra[4] = {kIpOptRouterAlert, 4, 0, 0};
  std::string q = Ipv4Packet(TestIpv4(kProtoUdp), "abcd", ra);
  for (size_t n = 20; n < 24; ++n) {
    EXPECT_EQ(ParseIpv4(View(q).Sub(0, n)).error(), WireError::kIpv4Truncated) << n;
  }
}

TEST_F(WireTest, Ipv4Version) {
  for (int v = 0; v < 16; ++v) {
    if (v == 4) continue;
    std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd");
    p[0] = static_cast<char>(v << 4 | 5);
    FixIpv4Checksum(p);
    EXPECT_EQ(ParseIpv4(View(p)).error(), WireError::kIpv4Version) << v;
  }
}

TEST_F(WireTest, Ipv4HeaderLength) {
  for (int ihl = 0; ihl < 5; ++ihl) {
    std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd");
    p[0] = static_cast<char>(0x40 | ihl);
    EXPECT_EQ(ParseIpv4(View(p)).error(), WireError::kIpv4HeaderLength) << ihl;
  }
  // IHL larger than the packet is a truncation.
  std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd");
  p[0] = 0x4f;
  EXPECT_EQ(ParseIpv4(View(p)).error(), WireError::kIpv4Truncated);
}

TEST_F(WireTest, Ipv4TotalLength) {
  for (uint16_t total : {0, 1, 19}) {
    std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd");
    p[2] = static_cast<char>(total >> 8);
    p[3] = static_cast<char>(total);
    FixIpv4Checksum(p);
    EXPECT_EQ(ParseIpv4(View(p)).error(), WireError::kIpv4TotalLength) << total;
  }
  // With a 24-byte header, a total of 20..23 is shorter than the header.
  const uint8_t ra[4] = {kIpOptRouterAlert, 4, 0, 0};
  std::string q = Ipv4Packet(TestIpv4(kProtoUdp), "", ra);
  q[3] = 23;
  FixIpv4Checksum(q);
  EXPECT_EQ(ParseIpv4(View(q)).error(), WireError::kIpv4TotalLength);
  for (uint16_t total : {25, 1500, 65535}) {
    std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd");
    p[2] = static_cast<char>(total >> 8);
    p[3] = static_cast<char>(total);
    FixIpv4Checksum(p);
    EXPECT_EQ(ParseIpv4(View(p)).error(), WireError::kIpv4FrameShort) << total;
  }
  // Bytes beyond the total length (Ethernet padding) are not payload.
  std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd") + std::string(22, '\0');
  Parsed<Ipv4Header> r = ParseIpv4(View(p));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->payload.ToString(), "abcd");
}

TEST_F(WireTest, Ipv4ChecksumEveryByteFlipped) {
  std::string good = Ipv4Packet(TestIpv4(kProtoUdp), "abcd");
  // Bytes whose change another rule catches first: version/IHL (0) and total length (2, 3).
  for (size_t i = 0; i < 20; ++i) {
    if (i == 0 || i == 2 || i == 3) continue;
    std::string p = good;
    p[i] = static_cast<char>(p[i] ^ 0x01);
    EXPECT_EQ(ParseIpv4(View(p)).error(), WireError::kIpv4Checksum) << i;
    EXPECT_TRUE(ParseIpv4(View(p), /*verify_checksum=*/false).ok()) << i;
  }
}

// A packet with the given option bytes (padded with EOL), checksum correct.
Parsed<Ipv4Header> WithOptions(std::vector<uint8_t> opts, std::string* out = nullptr) {
  std::string p = Ipv4Packet(TestIpv4(kProtoUdp), "abcd", opts);
  if (out != nullptr) *out = p;
  static std::string keep;  // the view returned must outlive this call
  keep = p;
  return ParseIpv4(View(keep));
}

TEST_F(WireTest, Ipv4OptionsAccepted) {
  EXPECT_TRUE(WithOptions({kIpOptEol}).ok());
  EXPECT_TRUE(WithOptions({kIpOptNop, kIpOptNop, kIpOptNop, kIpOptNop}).ok());
  // EOL ends the list: what follows is padding, not options.
  EXPECT_TRUE(WithOptions({kIpOptEol, 0xff, 0x00, 0x12}).ok());
  // Record route with room for 2 addresses: empty, half-full, full.
  for (uint8_t ptr : {4, 8, 12}) {
    Parsed<Ipv4Header> r = WithOptions({kIpOptNop, kIpOptRecordRoute, 11, ptr, 0, 0, 0, 0, 0, 0,
                                        0, 0});
    ASSERT_TRUE(r.ok()) << int{ptr} << " " << WireErrorName(r.error());
    EXPECT_EQ(r->options.record_route, 21);
  }
  // Timestamp: flags 0 (4-byte entries), 1 and 3 (8-byte entries).
  for (uint8_t flag : {0, 1, 3}) {
    Parsed<Ipv4Header> r =
        WithOptions({kIpOptTimestamp, 12, 5, flag, 0, 0, 0, 0, 0, 0, 0, 0});
    ASSERT_TRUE(r.ok()) << int{flag} << " " << WireErrorName(r.error());
    EXPECT_EQ(r->options.timestamp, 20);
  }
  Parsed<Ipv4Header> ts_full = WithOptions({kIpOptTimestamp, 12, 13, 0x11, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_TRUE(ts_full.ok());  // pointer past the end: full, overflow counted in the high nibble
  Parsed<Ipv4Header> ra = WithOptions({kIpOptRouterAlert, 4, 0, 0});
  ASSERT_TRUE(ra.ok());
  EXPECT_TRUE(ra->options.router_alert);
  // Unknown options (security, stream id, an unassigned type) are skipped by their length.
  Parsed<Ipv4Header> unk = WithOptions({130, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 136, 4, 0, 1, 0x55, 2});
  ASSERT_TRUE(unk.ok()) << WireErrorName(unk.error());
  EXPECT_EQ(unk->options.unknown, 3);
  // 40 bytes of options, the most there can be.
  std::vector<uint8_t> big(40, kIpOptNop);
  EXPECT_TRUE(WithOptions(big).ok());
  EXPECT_EQ(WithOptions(big)->header_length, 60);
}

TEST_F(WireTest, Ipv4OptionsMalformed) {
  struct Case {
    std::vector<uint8_t> opts;
    WireError want;
  } cases[] = {
      // A type with no room for its length byte.
      {{kIpOptNop, kIpOptNop, kIpOptNop, 0x55}, WireError::kIpv4OptionTruncated},
      {{kIpOptNop, kIpOptNop, kIpOptNop, kIpOptRecordRoute}, WireError::kIpv4OptionTruncated},
      // Length 0, 1, and past the header.
      {{0x55, 0}, WireError::kIpv4OptionLength},
      {{0x55, 1}, WireError::kIpv4OptionLength},
      {{0x55, 5, 0, 0}, WireError::kIpv4OptionLength},
      {{kIpOptNop, kIpOptRecordRoute, 40, 4}, WireError::kIpv4OptionLength},
      // Record route: too short, pointer below 4, pointer where no whole address fits.
      {{kIpOptRecordRoute, 2, kIpOptNop, kIpOptNop}, WireError::kIpv4OptionLength},
      {{kIpOptRecordRoute, 7, 3, 0, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
      {{kIpOptRecordRoute, 7, 0, 0, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
      {{kIpOptRecordRoute, 7, 5, 0, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
      {{kIpOptRecordRoute, 9, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
      // Timestamp: too short, bad flag, pointer below 5, entry does not fit.
      {{kIpOptTimestamp, 3, 5, 0}, WireError::kIpv4OptionLength},
      {{kIpOptTimestamp, 8, 5, 2, 0, 0, 0, 0}, WireError::kIpv4OptionTimestampFlag},
      {{kIpOptTimestamp, 8, 5, 0x0f, 0, 0, 0, 0}, WireError::kIpv4OptionTimestampFlag},
      {{kIpOptTimestamp, 8, 4, 0, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
      {{kIpOptTimestamp, 8, 5, 1, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
      {{kIpOptTimestamp, 8, 6, 0, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
      // Router alert must be 4 bytes.
      {{kIpOptRouterAlert, 2, kIpOptNop, kIpOptNop}, WireError::kIpv4OptionLength},
      {{kIpOptRouterAlert, 6, 0, 0, 0, 0}, WireError::kIpv4OptionLength},
      // Twice.
      {{kIpOptRouterAlert, 4, 0, 0, kIpOptRouterAlert, 4, 0, 0}, WireError::kIpv4OptionDuplicate},
      {{kIpOptRecordRoute, 3, 4, kIpOptRecordRoute, 3, 4}, WireError::kIpv4OptionDuplicate},
      {{kIpOptTimestamp, 4, 5, 0, kIpOptTimestamp, 4, 5, 0}, WireError::kIpv4OptionDuplicate},
      // Source routes, well formed: refused. Malformed: the shape error.
      {{kIpOptNop, kIpOptLsrr, 7, 4, 10, 0, 0, 9}, WireError::kIpv4SourceRoute},
      {{kIpOptNop, kIpOptSsrr, 7, 4, 10, 0, 0, 9}, WireError::kIpv4SourceRoute},
      {{kIpOptLsrr, 2, kIpOptNop, kIpOptNop}, WireError::kIpv4OptionLength},
      {{kIpOptSsrr, 7, 2, 0, 0, 0, 0, 0}, WireError::kIpv4OptionPointer},
  };
  for (const Case& c : cases) {
    std::string hex = testing::ToHex(
        std::string(reinterpret_cast<const char*>(c.opts.data()), c.opts.size()));
    EXPECT_EQ(WithOptions(c.opts).error(), c.want)
        << hex << " got " << WireErrorName(WithOptions(c.opts).error());
  }
}

// ======================= ICMP =======================

TEST_F(WireTest, IcmpEchoRoundTrip) {
  for (uint8_t type : {kIcmpEchoRequest, kIcmpEchoReply}) {
    for (std::string data : {std::string(), std::string("odd"), std::string(1000, 'x')}) {
      std::string m = IcmpEcho(type, 0x1234, 0x5678, data);
      Parsed<IcmpMessage> r = ParseIcmp(View(m));
      ASSERT_TRUE(r.ok()) << WireErrorName(r.error());
      EXPECT_EQ(r->type, type);
      EXPECT_EQ(r->code, 0);
      EXPECT_EQ(r->echo_id, 0x1234);
      EXPECT_EQ(r->echo_seq, 0x5678);
      EXPECT_FALSE(r->is_error());
      EXPECT_EQ(r->body.ToString(), data);
      EXPECT_EQ(InternetChecksum(m.data(), m.size()), 0);
    }
  }
  // Echo codes are not checked.
  std::string m = IcmpEcho(kIcmpEchoRequest, 1, 2, "x");
  m[1] = 9;
  FixIcmpChecksum(m);
  EXPECT_TRUE(ParseIcmp(View(m)).ok());
}

TEST_F(WireTest, IcmpTruncatedAtEveryLength) {
  std::string m = IcmpEcho(kIcmpEchoRequest, 1, 2, "");
  for (size_t n = 0; n < kIcmpHeaderLength; ++n) {
    EXPECT_EQ(ParseIcmp(View(m).Sub(0, n)).error(), WireError::kIcmpTruncated) << n;
  }
}

TEST_F(WireTest, IcmpChecksumEveryByteFlipped) {
  std::string good = IcmpEcho(kIcmpEchoRequest, 1, 2, "abcdefg");
  for (size_t i = 0; i < good.size(); ++i) {
    std::string m = good;
    m[i] = static_cast<char>(m[i] ^ 0x40);
    EXPECT_EQ(ParseIcmp(View(m)).error(), WireError::kIcmpChecksum) << i;
  }
  std::string m = good;
  m[5] = 0x77;
  EXPECT_TRUE(ParseIcmp(View(m), /*verify_checksum=*/false).ok());
}

TEST_F(WireTest, IcmpUnknownTypes) {
  for (int t = 0; t < 256; ++t) {
    bool known = t == 0 || t == 3 || t == 4 || t == 5 || t == 8 || t == 11 || t == 12;
    if (known) continue;
    std::string m = IcmpEcho(kIcmpEchoRequest, 1, 2, "");
    m[0] = static_cast<char>(t);
    FixIcmpChecksum(m);
    EXPECT_EQ(ParseIcmp(View(m)).error(), WireError::kIcmpUnknownType) << t;
  }
}

std::string Offending() {
  return Ipv4Packet(TestIpv4(kProtoUdp, 0x4242),
                    UdpDatagram(1000, 53, kTestSrc, kTestDst, "some query data"));
}

TEST_F(WireTest, IcmpErrorsQuoteTheDatagram) {
  std::string off = Offending();
  struct Case {
    uint8_t type, code;
  } cases[] = {{kIcmpUnreachable, kIcmpPortUnreachable},
               {kIcmpUnreachable, kIcmpFragmentationNeeded},
               {kIcmpUnreachable, 15},
               {kIcmpSourceQuench, 0},
               {kIcmpRedirect, 1},
               {kIcmpTimeExceeded, kIcmpTtlExceeded},
               {kIcmpTimeExceeded, kIcmpReassemblyTimeExceeded},
               {kIcmpParameterProblem, 2}};
  for (const Case& c : cases) {
    std::string m = IcmpError(c.type, c.code, off, 1400);
    ASSERT_EQ(m.size(), 8 + off.size());
    Parsed<IcmpMessage> r = ParseIcmp(View(m));
    ASSERT_TRUE(r.ok()) << int{c.type} << "/" << int{c.code} << " " << WireErrorName(r.error());
    EXPECT_TRUE(r->is_error());
    EXPECT_EQ(r->quote.header_length, 20);
    EXPECT_EQ(r->quote.total_length, off.size());
    EXPECT_EQ(r->quote.id, 0x4242);
    EXPECT_EQ(r->quote.protocol, kProtoUdp);
    EXPECT_EQ(r->quote.src, kTestSrc);
    EXPECT_EQ(r->quote.dst, kTestDst);
    EXPECT_EQ(r->quote.transport[0], 1000 >> 8);
    EXPECT_EQ(r->quote.transport[1], 1000 & 0xff);
    EXPECT_EQ(r->quote.transport[3], 53);
    EXPECT_EQ(r->next_hop_mtu, c.type == kIcmpUnreachable && c.code == 4 ? 1400 : 0);
  }
}

TEST_F(WireTest, IcmpRedirectAndParameterProblemFields) {
  IcmpMessage m;
  m.type = kIcmpRedirect;
  m.code = 1;
  m.gateway = 0x0a000009;
  std::string off = Offending();
  std::string buf(8 + off.size(), '\0');
  ASSERT_EQ(WriteIcmpError(m, {reinterpret_cast<uint8_t*>(buf.data()), buf.size()}, View(off)),
            buf.size());
  Parsed<IcmpMessage> r = ParseIcmp(View(buf));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gateway, 0x0a000009u);
  m = IcmpMessage();
  m.type = kIcmpParameterProblem;
  m.pointer = 9;
  ASSERT_EQ(WriteIcmpError(m, {reinterpret_cast<uint8_t*>(buf.data()), buf.size()}, View(off)),
            buf.size());
  r = ParseIcmp(View(buf));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->pointer, 9);
}

TEST_F(WireTest, IcmpCodeOutOfRange) {
  std::string off = Offending();
  struct Case {
    uint8_t type, first_bad;
  } cases[] = {{kIcmpUnreachable, 16},  {kIcmpSourceQuench, 1}, {kIcmpRedirect, 4},
               {kIcmpTimeExceeded, 2}, {kIcmpParameterProblem, 3}};
  for (const Case& c : cases) {
    for (int code = c.first_bad; code < 256; code += 37) {
      std::string m = IcmpError(c.type, static_cast<uint8_t>(code), off);
      EXPECT_EQ(ParseIcmp(View(m)).error(), WireError::kIcmpCode) << int{c.type} << "/" << code;
    }
    std::string m = IcmpError(c.type, c.first_bad, off);
    EXPECT_EQ(ParseIcmp(View(m)).error(), WireError::kIcmpCode);
  }
}

TEST_F(WireTest, IcmpQuoteTruncatedAtEveryLength) {
  std::string m = IcmpError(kIcmpUnreachable, kIcmpPortUnreachable, Offending());
  for (size_t n = 8; n < 8 + 20 + 8; ++n) {
    std::string cut = m.substr(0, n);
    FixIcmpChecksum(cut);
    EXPECT_EQ(ParseIcmp(View(cut)).error(), WireError::kIcmpQuoteTruncated) << n;
  }
  std::string cut = m.substr(0, 8 + 28);
  FixIcmpChecksum(cut);
  EXPECT_TRUE(ParseIcmp(View(cut)).ok());
  // A quoted header with options needs its whole header plus 8 bytes.
  const uint8_t ra[4] = {kIpOptRouterAlert, 4, 0, 0};
  std::string off = Ipv4Packet(TestIpv4(kProtoUdp), UdpDatagram(1, 2, kTestSrc, kTestDst, ""), ra);
  std::string m2 = IcmpError(kIcmpTimeExceeded, 0, off);
  ASSERT_EQ(m2.size(), 8u + 24 + 8);
  EXPECT_TRUE(ParseIcmp(View(m2)).ok());
  std::string cut2 = m2.substr(0, m2.size() - 1);
  FixIcmpChecksum(cut2);
  EXPECT_EQ(ParseIcmp(View(cut2)).error(), WireError::kIcmpQuoteTruncated);
}

TEST_F(WireTest, IcmpQuoteInvalid) {
  std::string m = IcmpError(kIcmpUnreachable, kIcmpPortUnreachable, Offending());
  for (uint8_t first : {0x65, 0x44, 0x40, 0x00}) {
    std::string bad = m;
    bad[8] = static_cast<char>(first);
    FixIcmpChecksum(bad);
    EXPECT_EQ(ParseIcmp(View(bad)).error(), WireError::kIcmpQuoteInvalid) << int{first};
  }
}

TEST_F(WireTest, IcmpErrorBuilderLimits) {
  // The quote stops at 548 bytes (RFC 1812: 576 in all) and at the room given.
  std::string big = Ipv4Packet(TestIpv4(kProtoUdp), std::string(1400, 'z'));
  std::string m = IcmpError(kIcmpUnreachable, kIcmpFragmentationNeeded, big, 1280);
  EXPECT_EQ(m.size(), 8 + kIcmpMaxQuote);
  Parsed<IcmpMessage> r = ParseIcmp(View(m));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->next_hop_mtu, 1280);
  IcmpMessage e;
  e.type = kIcmpTimeExceeded;
  uint8_t out[100];
  EXPECT_EQ(WriteIcmpError(e, std::span<uint8_t>(out, 100), View(big)), 100u);
  EXPECT_TRUE(ParseIcmp(PacketView(out, 100)).ok());
  EXPECT_EQ(WriteIcmpError(e, std::span<uint8_t>(out, 8 + 27), View(big)), 0u);  // < header + 8
  EXPECT_EQ(WriteIcmpError(e, std::span<uint8_t>(out, 7), View(big)), 0u);
  // An offending datagram shorter than header + 8 is quoted whole.
  std::string tiny = Ipv4Packet(TestIpv4(kProtoUdp), "ab");
  EXPECT_EQ(WriteIcmpError(e, out, View(tiny)), 8 + tiny.size());
  EXPECT_EQ(WriteIcmpHeader(e, std::span<uint8_t>(out, 7), PacketView()), 0u);
}

// ======================= UDP =======================

TEST_F(WireTest, UdpRoundTrip) {
  for (bool sum : {true, false}) {
    for (std::string data : {std::string(), std::string("odd"), std::string(1473, 'u')}) {
      std::string d = UdpDatagram(5353, 53, kTestSrc, kTestDst, data, sum);
      Parsed<UdpHeader> u = ParseUdp(View(d), kTestSrc, kTestDst);
      ASSERT_TRUE(u.ok()) << WireErrorName(u.error());
      EXPECT_EQ(u->src_port, 5353);
      EXPECT_EQ(u->dst_port, 53);
      EXPECT_EQ(u->length, 8 + data.size());
      EXPECT_EQ(u->checksum != 0, sum);
      EXPECT_EQ(u->payload.ToString(), data);
    }
  }
}

TEST_F(WireTest, UdpTruncatedAtEveryLength) {
  std::string d = UdpDatagram(1, 2, kTestSrc, kTestDst, "");
  for (size_t n = 0; n < kUdpHeaderLength; ++n) {
    EXPECT_EQ(ParseUdp(View(d).Sub(0, n), kTestSrc, kTestDst).error(), WireError::kUdpTruncated);
  }
}

TEST_F(WireTest, UdpLength) {
  std::string d = UdpDatagram(1, 2, kTestSrc, kTestDst, "abcdef", false);
  for (uint16_t len : {0, 1, 7}) {
    d[4] = static_cast<char>(len >> 8);
    d[5] = static_cast<char>(len);
    EXPECT_EQ(ParseUdp(View(d), kTestSrc, kTestDst).error(), WireError::kUdpLength) << len;
  }
  for (uint16_t len : {15, 100, 65535}) {
    d[4] = static_cast<char>(len >> 8);
    d[5] = static_cast<char>(len);
    EXPECT_EQ(ParseUdp(View(d), kTestSrc, kTestDst).error(), WireError::kUdpLengthBeyondPayload);
  }
  // Shorter than the IP payload: the rest is ignored (and not covered by the checksum).
  std::string e = UdpDatagram(1, 2, kTestSrc, kTestDst, "abc") + "trailing";
  Parsed<UdpHeader> u = ParseUdp(View(e), kTestSrc, kTestDst);
  ASSERT_TRUE(u.ok()) << WireErrorName(u.error());
  EXPECT_EQ(u->payload.ToString(), "abc");
}

TEST_F(WireTest, UdpChecksum) {
  std::string good = UdpDatagram(1, 2, kTestSrc, kTestDst, "abcdefg");
  for (size_t i = 0; i < good.size(); ++i) {
    if (i == 4 || i == 5) continue;  // the length: another rule
    std::string d = good;
    d[i] = static_cast<char>(d[i] ^ 0x10);
    if (i == 6 || i == 7) {
      // A damaged checksum field that becomes 0 would mean "none"; 0x10 flips never make 0 here.
      ASSERT_NE(d[6] | d[7], 0);
    }
    EXPECT_EQ(ParseUdp(View(d), kTestSrc, kTestDst).error(), WireError::kUdpChecksum) << i;
    EXPECT_TRUE(ParseUdp(View(d), kTestSrc, kTestDst, /*verify_checksum=*/false).ok());
  }
  // The pseudo-header is covered: another address fails.
  EXPECT_EQ(ParseUdp(View(good), kTestSrc + 1, kTestDst).error(), WireError::kUdpChecksum);
  EXPECT_EQ(ParseUdp(View(good), kTestSrc, kTestDst ^ 0x100).error(), WireError::kUdpChecksum);
  // Zero means none: not verified.
  std::string none = good;
  none[6] = none[7] = 0;
  EXPECT_TRUE(ParseUdp(View(none), kTestSrc, kTestDst).ok());
}

TEST_F(WireTest, UdpComputedZeroIsSentAsOnes) {
  // Pick the last two payload bytes so the datagram sums to 0xffff with a zero checksum field:
  // the computed checksum is then 0, which must go out as 0xffff.
  std::string payload = "ab..";
  payload[2] = payload[3] = 0;
  std::string d = UdpDatagram(7, 9, kTestSrc, kTestDst, payload, false);
  uint32_t sum = PseudoHeaderSum(kTestSrc, kTestDst, kProtoUdp, static_cast<uint16_t>(d.size()));
  uint16_t folded = ChecksumFold(ChecksumAdd(d.data(), d.size(), sum));
  uint16_t fill = static_cast<uint16_t>(0xffff - folded);
  payload[2] = static_cast<char>(fill >> 8);
  payload[3] = static_cast<char>(fill);
  d = UdpDatagram(7, 9, kTestSrc, kTestDst, payload);
  EXPECT_EQ(static_cast<uint8_t>(d[6]), 0xff);
  EXPECT_EQ(static_cast<uint8_t>(d[7]), 0xff);
  EXPECT_TRUE(ParseUdp(View(d), kTestSrc, kTestDst).ok());
}

TEST_F(WireTest, UdpBuilderLimits) {
  uint8_t out[8];
  EXPECT_EQ(WriteUdp(1, 2, 3, 4, PacketView(), std::span<uint8_t>(out, 7)), 0u);
  std::string big(65528, 'x');
  EXPECT_EQ(WriteUdp(1, 2, 3, 4, View(big), out), 0u);
  big.pop_back();
  EXPECT_EQ(WriteUdp(1, 2, 3, 4, View(big), out), 8u);
}

// ======================= Chains and views =======================

// Every parser gives the same answer over any split of the packet into blocks.
TEST_F(WireTest, ParsersAgreeOverRandomChains) {
  std::mt19937 rng(11);
  const uint8_t rr[8] = {kIpOptRecordRoute, 7, 4, 0, 0, 0, 0, kIpOptNop};
  std::vector<std::string> frames = {
      EthernetFrame(kEtherTypeArp, testing::ArpBytes(kArpReply)),
      EthernetFrame(kEtherTypeIpv4,
                    Ipv4Packet(TestIpv4(kProtoIcmp), IcmpEcho(8, 1, 2, std::string(333, 'e')))),
      EthernetFrame(kEtherTypeIpv4,
                    Ipv4Packet(TestIpv4(kProtoUdp),
                               UdpDatagram(9, 10, kTestSrc, kTestDst, std::string(777, 'u')), rr)),
      EthernetFrame(kEtherTypeIpv4,
                    Ipv4Packet(TestIpv4(kProtoIcmp),
                               IcmpError(kIcmpUnreachable, 4, Offending(), 576))),
  };
  for (const std::string& f : frames) {
    ASSERT_EQ(testing::ParseFrameLayers(View(f)), WireError::kOk);
    for (int round = 0; round < 300; ++round) {
      MsgPtr mp = RandomChain(f, rng, round % 2 ? 5 : 64);
      PacketView v = PacketView::OfChain(mp.get());
      ASSERT_EQ(v.ToString(), f);
      ASSERT_EQ(testing::ParseFrameLayers(v), WireError::kOk);
      // Corrupt one byte: flat and chained parses agree on the reason.
      size_t at = rng() % f.size();
      std::string bad = f;
      bad[at] = static_cast<char>(bad[at] ^ (1 << (rng() % 8)));
      MsgPtr bmp = RandomChain(bad, rng, 7);
      ASSERT_EQ(testing::ParseFrameLayers(PacketView::OfChain(bmp.get())),
                testing::ParseFrameLayers(View(bad)))
          << "byte " << at;
    }
  }
}

TEST_F(WireTest, PacketViewBounds) {
  std::string s = "0123456789";
  MsgPtr mp = Chain(s, {3, 0, 4});
  for (PacketView v : {View(s), PacketView::OfChain(mp.get())}) {
    EXPECT_EQ(v.size(), 10u);
    EXPECT_EQ(v.Sub(3).ToString(), "3456789");
    EXPECT_EQ(v.Sub(2, 5).ToString(), "23456");
    EXPECT_EQ(v.Sub(8, 100).ToString(), "89");
    EXPECT_TRUE(v.Sub(10).empty());
    EXPECT_TRUE(v.Sub(11, 2).empty());
    EXPECT_EQ(v.U8(9), '9');
    EXPECT_EQ(v.U8(10), 0);
    EXPECT_EQ(v.Be16(8), ('8' << 8) | '9');
    EXPECT_EQ(v.Be16(9), 0);
    EXPECT_EQ(v.Be32(6), 0x36373839u);
    EXPECT_EQ(v.Be32(7), 0u);
    EXPECT_EQ(v.Be32(static_cast<size_t>(-2)), 0u);  // offset + n overflows
    char out[4] = {'x', 'x', 'x', 'x'};
    EXPECT_FALSE(v.Copy(8, 3, out));
    EXPECT_EQ(out[0], 'x');
    EXPECT_TRUE(v.Copy(2, 4, out));
    EXPECT_EQ(std::string(out, 4), "2345");
    EXPECT_TRUE(v.Copy(10, 0, out));
    uint8_t scratch[8];
    const uint8_t* p = v.Peek(1, 5, scratch);  // straddles blocks in the chain
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(p), 5), "12345");
    EXPECT_EQ(v.Peek(6, 5, scratch), nullptr);
    EXPECT_EQ(v.Sub(4, 3).Sub(1).ToString(), "56");
  }
  // Within one block, Peek points into the block itself.
  uint8_t scratch[8];
  EXPECT_EQ(PacketView::OfChain(mp.get()).Peek(3, 4, scratch), mp->b_cont->b_cont->b_rptr);
  EXPECT_TRUE(PacketView::OfChain(nullptr).empty());
  EXPECT_TRUE(PacketView(nullptr, 5).empty());
}

TEST_F(WireTest, PrependHeaderUsesHeadroom) {
  MsgPtr mp = Chain("payload", {7}, 40);
  uint8_t* p = PrependHeader(mp.get(), 28);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p, mp->b_rptr);
  EXPECT_EQ(MBLKL(mp.get()), 35u);
  EXPECT_EQ(PrependHeader(mp.get(), 13), nullptr);  // 12 bytes left
  EXPECT_EQ(MBLKL(mp.get()), 35u);
  // A shared block is never written.
  MsgPtr shared(dupb(mp.get()));
  ASSERT_TRUE(shared);
  EXPECT_EQ(PrependHeader(mp.get(), 4), nullptr);
  EXPECT_EQ(PrependHeader(nullptr, 0), nullptr);
}

// The header builders write straight into headroom: one block, nothing allocated per layer.
TEST_F(WireTest, BuildersFillHeadroomOfOneBlock) {
  std::string data = "ping data";
  MsgPtr mp = Chain(data, {data.size()}, 64);
  IcmpMessage echo;
  echo.type = kIcmpEchoRequest;
  echo.echo_id = 77;
  uint8_t* icmp = PrependHeader(mp.get(), kIcmpHeaderLength);
  ASSERT_NE(icmp, nullptr);
  ASSERT_EQ(WriteIcmpHeader(echo, {icmp, kIcmpHeaderLength},
                            PacketView::OfChain(mp.get()).Sub(kIcmpHeaderLength)),
            8u);
  Ipv4Header h = TestIpv4(kProtoIcmp);
  h.total_length = static_cast<uint16_t>(20 + MBLKL(mp.get()));
  uint8_t* ip = PrependHeader(mp.get(), 20);
  ASSERT_EQ(WriteIpv4(h, {ip, 20}), 20u);
  uint8_t* eth = PrependHeader(mp.get(), kEthernetHeaderLength);
  EthernetHeader e;
  e.type = kEtherTypeIpv4;
  ASSERT_EQ(WriteEthernet(e, {eth, kEthernetHeaderLength}), 14u);
  EXPECT_EQ(mp->b_cont, nullptr);
  EXPECT_EQ(testing::ParseFrameLayers(PacketView::OfChain(mp.get())), WireError::kOk);
}

TEST_F(WireTest, ErrorNamesAreDistinct) {
  std::set<std::string> names;
  for (size_t i = 0; i < kWireErrorCount; ++i) {
    names.insert(WireErrorName(static_cast<WireError>(i)));
  }
  EXPECT_EQ(names.size(), kWireErrorCount);
  EXPECT_STREQ(WireErrorName(WireError::kIpv4Checksum), "ipv4_checksum");
  EXPECT_STREQ(WireErrorName(WireError::kUdpChecksum), "udp_checksum");
  EXPECT_STREQ(WireErrorName(static_cast<WireError>(200)), "unknown");
}

}  // namespace
}  // namespace ustreams::ip
