// IP between two stacks over a loop wire, in virtual time: ARP, delivery, loopback, ICMP echo,
// unreachables, fragmentation and reassembly, broadcast, the errors of Send.
#include <cerrno>

#include "gtest/gtest.h"
#include "modules/ip/ip_test_util.h"

namespace ustreams::ip::testing {
namespace {

constexpr uint8_t kTestProto = 253;  // RFC 3692 experimentation

class IpLinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [pa, pb] = w.net.AddWire();
    a = &w.Add();
    b = &w.Add();
    w.Start();
    ASSERT_TRUE(a->AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
    ASSERT_TRUE(b->AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
    w.Run();  // gratuitous ARP
  }

  World w;
  Stack* a;
  Stack* b;
};

TEST_F(IpLinkTest, DatagramCrossesTheWireAfterArp) {
  Recorder rb(b->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(100)), 0);
  w.Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.src, Addr("10.0.0.1"));
  EXPECT_EQ(got[0].h.dst, Addr("10.0.0.2"));
  EXPECT_EQ(got[0].h.ttl, 64);
  EXPECT_EQ(got[0].payload, PayloadBytes(100));
  EXPECT_FALSE(got[0].broadcast);
  EXPECT_EQ(a->ip().stats().arp_requests_out.load(), 2u);  // the gratuitous one and this
  EXPECT_EQ(b->ip().stats().arp_replies_out.load(), 1u);

  // The second one needs no ARP.
  ASSERT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(10)), 0);
  w.Run();
  EXPECT_EQ(rb.Take().size(), 1u);
  EXPECT_EQ(a->ip().stats().arp_requests_out.load(), 2u);
}

TEST_F(IpLinkTest, DatagramsWaitingForArpAreSentInOrder) {
  Recorder rb(b->ip(), kTestProto);
  for (uint8_t i = 0; i < 5; i++) {
    ASSERT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(20, i)), 0);
  }
  w.Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 5u);
  for (uint8_t i = 0; i < 5; i++) EXPECT_EQ(got[i].payload, PayloadBytes(20, i));
}

TEST_F(IpLinkTest, OwnAddressIsDeliveredLocally) {
  Recorder ra(a->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.0.1", kTestProto), Payload(30)), 0);
  EXPECT_TRUE(ra.Take().empty());  // never inside Send
  w.Run();
  std::vector<Received> got = ra.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.src, Addr("10.0.0.1"));
  ASSERT_EQ(a->ip().Send(To("127.0.0.1", kTestProto), Payload(30)), 0);
  w.Run();
  EXPECT_EQ(ra.Take().size(), 1u);
  EXPECT_EQ(w.net.in_flight_frames(), 0u) << "nothing went to the wire";
}

TEST_F(IpLinkTest, EchoRequestIsAnswered) {
  Recorder raw(a->ip(), kProtoIcmp);
  ASSERT_EQ(a->ip().Send(To("10.0.0.2", kProtoIcmp), EchoRequest(7, 1, 56)), 0);
  w.Run();
  std::vector<Received> got = raw.Take();
  ASSERT_EQ(got.size(), 1u);
  Parsed<IcmpMessage> m = ParseIcmp(PacketView(got[0].payload.data(), got[0].payload.size()));
  ASSERT_TRUE(m.ok()) << WireErrorName(m.error());
  EXPECT_EQ(m->type, kIcmpEchoReply);
  EXPECT_EQ(m->echo_id, 7);
  EXPECT_EQ(m->echo_seq, 1);
  EXPECT_EQ(got[0].payload.substr(8), PayloadBytes(64, 3).substr(8));
  EXPECT_EQ(got[0].h.src, Addr("10.0.0.2"));
  EXPECT_EQ(b->ip().stats().icmp_out_type[kIcmpEchoReply].load(), 1u);
}

TEST_F(IpLinkTest, UnknownProtocolGetsProtocolUnreachable) {
  Recorder raw(a->ip(), kProtoIcmp);
  Recorder errs(a->ip(), kTestProto);  // the sender's transport is told
  ASSERT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(40)), 0);
  w.Run();
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.type, kIcmpUnreachable);
  EXPECT_EQ(e[0].m.code, kIcmpProtocolUnreachable);
  EXPECT_EQ(e[0].m.quote.protocol, kTestProto);
  EXPECT_EQ(e[0].m.quote.dst, Addr("10.0.0.2"));
  EXPECT_EQ(e[0].from, Addr("10.0.0.2"));
  EXPECT_EQ(raw.Take().size(), 1u);
  EXPECT_EQ(b->ip().stats().drop(IpDrop::kUnknownProtocol), 1u);
}

TEST_F(IpLinkTest, LargeDatagramIsFragmentedAndReassembled) {
  Recorder rb(b->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(60000)), 0);
  w.Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, PayloadBytes(60000));
  EXPECT_EQ(a->ip().stats().frag_oks.load(), 1u);
  EXPECT_EQ(a->ip().stats().frag_creates.load(), 41u);  // 1480 bytes each
  EXPECT_EQ(b->ip().stats().reasm_oks.load(), 1u);
}

TEST_F(IpLinkTest, DontFragmentTooBigIsEmsgsize) {
  SendArgs args = To("10.0.0.2", kTestProto);
  args.df = true;
  EXPECT_EQ(a->ip().Send(args, Payload(1481)), EMSGSIZE);
  EXPECT_EQ(a->ip().Send(args, Payload(1480)), 0);
}

TEST_F(IpLinkTest, SendErrors) {
  EXPECT_EQ(a->ip().Send(To("192.168.1.1", kTestProto), Payload(10)), ENETUNREACH);
  EXPECT_EQ(a->ip().Send(To("10.0.0.255", kTestProto), Payload(10)), EACCES);
  EXPECT_EQ(a->ip().Send(To("255.255.255.255", kTestProto), Payload(10)), EACCES);
  EXPECT_EQ(a->ip().Send(To("10.0.0.2", 0), Payload(10)), EINVAL);
  EXPECT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), MsgPtr()), EINVAL);
  SendArgs s = To("10.0.0.2", kTestProto);
  s.src = Addr("10.0.0.9");
  EXPECT_EQ(a->ip().Send(s, Payload(10)), EADDRNOTAVAIL);
  EXPECT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(65516)), EMSGSIZE);
  EXPECT_EQ(a->ip().SourceFor(Addr("10.0.0.77")).value(), Addr("10.0.0.1"));
  EXPECT_FALSE(a->ip().SourceFor(Addr("172.16.0.1")).ok());
}

TEST_F(IpLinkTest, BroadcastReachesEveryoneIncludingTheSender) {
  Recorder ra(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  SendArgs s = To("10.0.0.255", kTestProto);
  s.broadcast = true;
  ASSERT_EQ(a->ip().Send(s, Payload(12)), 0);
  w.Run();
  std::vector<Received> gb = rb.Take();
  ASSERT_EQ(gb.size(), 1u);
  EXPECT_TRUE(gb[0].broadcast);
  std::vector<Received> ga = ra.Take();
  ASSERT_EQ(ga.size(), 1u);
  EXPECT_TRUE(ga[0].broadcast);
  EXPECT_EQ(a->ip().stats().arp_requests_out.load(), 1u) << "no ARP for a broadcast";
}

TEST_F(IpLinkTest, ArpEntriesExpireAndAreResolvedAgain) {
  Recorder rb(b->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(10)), 0);
  w.Run();
  const uint64_t requests = a->ip().stats().arp_requests_out.load();
  // Reachable 30 s, then stale 60 s, then gone.
  w.Advance(absl::Seconds(95));
  EXPECT_GE(a->ip().stats().arp_expired.load(), 1u);
  ASSERT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(10)), 0);
  w.Run();
  EXPECT_EQ(a->ip().stats().arp_requests_out.load(), requests + 1);
  EXPECT_EQ(rb.Take().size(), 2u);
}

TEST_F(IpLinkTest, UnansweredArpDropsTheWaitingDatagrams) {
  Recorder errs(a->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.0.99", kTestProto), Payload(10)), 0);
  w.Run();
  w.Advance(absl::Seconds(5));
  EXPECT_EQ(a->ip().stats().arp_failed.load(), 1u);
  EXPECT_EQ(a->ip().stats().drop(IpDrop::kArpFailed), 1u);
  EXPECT_EQ(a->ip().stats().arp_requests_out.load(), 1u + 3u);  // gratuitous + 3 tries
  // The sender's transport hears host unreachable (from itself).
  w.Run();
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.code, kIcmpHostUnreachable);
}

TEST_F(IpLinkTest, CorruptedFramesAreDroppedAndCounted) {
  Recorder rb(b->ip(), kTestProto);
  Impairments imp;
  imp.corrupt = 1.0;
  ASSERT_TRUE(w.net.SetImpairments(1, LinkDir::kIn, imp).ok());
  for (int i = 0; i < 20; i++) a->ip().Send(To("10.0.0.2", kTestProto), Payload(200));
  w.Run();
  w.Advance(absl::Seconds(1));
  // Every frame has one bit flipped: the IP checksum, a header check, or ARP catches it, or the
  // flip hit the payload (which IP does not cover) and the datagram arrives altered.
  const auto& s = b->ip().stats();
  uint64_t wire = 0;
  for (const auto& c : s.wire_errors) wire += c.load();
  EXPECT_GT(wire + s.drop(IpDrop::kMartianSource) + s.drop(IpDrop::kNotForUs), 0u);
}

}  // namespace
}  // namespace ustreams::ip::testing
