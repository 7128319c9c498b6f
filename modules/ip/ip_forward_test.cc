// IP forwarding, in virtual time: A — R — B over two loop wires (and a second router R2 on wires of
// its own when a test needs another path). What a router does to a datagram (TTL), the ICMP errors
// it sends (time exceeded, net unreachable, fragmentation needed) and what the sender makes of
// them (the path MTU), refragmentation, forwarding switched off, route changes, the ICMP rate
// limit.
#include <cerrno>
#include <memory>

#include "gtest/gtest.h"
#include "modules/ip/ip_test_util.h"
#include "streams/testing/leak_check.h"

namespace ustreams::ip::testing {
namespace {

constexpr uint8_t kTestProto = 253;  // RFC 3692 experimentation

struct Topology {
  bool forwarding = true;        // R forwards (switched on with IPIOC_SETFORWARD)
  bool forwarding_by_config = false;  // ... or with IpConfig.forwarding
  uint32_t rb_port_mtu = 0;      // R's port toward B, set before plumbing (0: the default 1500)
  int icmp_burst = 50;           // R's
  bool with_r2 = false;          // A — R2 — B as well (A net1 10.0.3.1, B net1 10.0.4.1)
};

class IpForwardTest : public ustreams::testing::LeakCheckedTest {
 protected:
  void Build(const Topology& t = {}) {
    w = std::make_unique<World>();
    auto [pa, pr0] = w->net.AddWire();
    auto [pr1, pb] = w->net.AddWire();
    rb_port = pr1;
    if (t.rb_port_mtu != 0) {
      ASSERT_TRUE(w->net.SetMtu(pr1, t.rb_port_mtu).ok());
    }
    IpConfig rc;
    rc.forwarding = t.forwarding && t.forwarding_by_config;
    rc.icmp_burst = t.icmp_burst;
    a = &w->Add();
    r = &w->Add(rc);
    b = &w->Add();
    int pa1 = -1, pr2a = -1, pr2b = -1, pb1 = -1;
    if (t.with_r2) {
      std::tie(pa1, pr2a) = w->net.AddWire();
      std::tie(pr2b, pb1) = w->net.AddWire();
      r2 = &w->Add(IpConfig{.forwarding = true});
    }
    w->Start();
    ASSERT_TRUE(a->AddLoopInterface("net0", pa, "10.0.1.1/24").ok());
    ASSERT_TRUE(r->AddLoopInterface("net0", pr0, "10.0.1.254/24").ok());
    ASSERT_TRUE(r->AddLoopInterface("net1", pr1, "10.0.2.254/24").ok());
    ASSERT_TRUE(b->AddLoopInterface("net0", pb, "10.0.2.1/24").ok());
    ASSERT_TRUE(a->AddRoute("0.0.0.0/0", "10.0.1.254").ok());
    ASSERT_TRUE(b->AddRoute("0.0.0.0/0", "10.0.2.254").ok());
    if (t.with_r2) {
      ASSERT_TRUE(a->AddLoopInterface("net1", pa1, "10.0.3.1/24").ok());
      ASSERT_TRUE(r2->AddLoopInterface("net0", pr2a, "10.0.3.254/24").ok());
      ASSERT_TRUE(r2->AddLoopInterface("net1", pr2b, "10.0.4.254/24").ok());
      ASSERT_TRUE(b->AddLoopInterface("net1", pb1, "10.0.4.1/24").ok());
      // B's net0 address is reached through B's net1 (B is a weak host).
      ASSERT_TRUE(r2->AddRoute("10.0.2.0/24", "10.0.4.1").ok());
    }
    if (t.forwarding && !t.forwarding_by_config) {
      IpControl ctl(*r);
      ASSERT_EQ(ctl.SetForwarding(true), 0);
    }
    w->Run();  // gratuitous ARP
  }

  void TearDown() override {
    w.reset();  // every stack and the network, before the leak check
    LeakCheckedTest::TearDown();
  }

  std::unique_ptr<World> w;
  Stack* a = nullptr;
  Stack* r = nullptr;
  Stack* b = nullptr;
  Stack* r2 = nullptr;
  int rb_port = -1;
};

TEST_F(IpForwardTest, DatagramsCrossBothWaysWithTtlDecrementedOnce) {
  ASSERT_NO_FATAL_FAILURE(Build());
  Recorder ra(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(300, 1)), 0);
  w->Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.src, Addr("10.0.1.1"));
  EXPECT_EQ(got[0].h.dst, Addr("10.0.2.1"));
  EXPECT_EQ(got[0].h.ttl, 63);
  EXPECT_EQ(got[0].payload, PayloadBytes(300, 1));

  ASSERT_EQ(b->ip().Send(To("10.0.1.1", kTestProto), Payload(200, 2)), 0);
  w->Run();
  got = ra.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.src, Addr("10.0.2.1"));
  EXPECT_EQ(got[0].h.ttl, 63);
  EXPECT_EQ(got[0].payload, PayloadBytes(200, 2));

  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 2u);
  EXPECT_EQ(r->ip().stats().in_delivers.load(), 0u) << "nothing was for the router itself";
}

TEST_F(IpForwardTest, ForwardingEnabledByConfig) {
  ASSERT_NO_FATAL_FAILURE(Build({.forwarding_by_config = true}));
  Recorder rb(b->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(10)), 0);
  w->Run();
  EXPECT_EQ(rb.Take().size(), 1u);
}

TEST_F(IpForwardTest, EchoAcrossTheRouter) {
  ASSERT_NO_FATAL_FAILURE(Build());
  Recorder raw(a->ip(), kProtoIcmp);
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kProtoIcmp), EchoRequest(9, 4, 100)), 0);
  w->Run();
  std::vector<Received> got = raw.Take();
  ASSERT_EQ(got.size(), 1u);
  Parsed<IcmpMessage> m = ParseIcmp(PacketView(got[0].payload.data(), got[0].payload.size()));
  ASSERT_TRUE(m.ok()) << WireErrorName(m.error());
  EXPECT_EQ(m->type, kIcmpEchoReply);
  EXPECT_EQ(m->echo_id, 9);
  EXPECT_EQ(m->echo_seq, 4);
  EXPECT_EQ(got[0].payload.substr(8), PayloadBytes(108, 3).substr(8));
  EXPECT_EQ(got[0].h.src, Addr("10.0.2.1"));
  EXPECT_EQ(got[0].h.ttl, 63);
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 2u);
  EXPECT_EQ(b->ip().stats().icmp_out_type[kIcmpEchoReply].load(), 1u);
}

TEST_F(IpForwardTest, TtlOneGetsTimeExceededFromTheRouter) {
  ASSERT_NO_FATAL_FAILURE(Build());
  Recorder errs(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  SendArgs s = To("10.0.2.1", kTestProto);
  s.ttl = 1;
  ASSERT_EQ(a->ip().Send(s, Payload(40)), 0);
  w->Run();
  EXPECT_TRUE(rb.Take().empty());
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.type, kIcmpTimeExceeded);
  EXPECT_EQ(e[0].m.code, kIcmpTtlExceeded);
  EXPECT_EQ(e[0].from, Addr("10.0.1.254"));
  EXPECT_EQ(e[0].m.quote.src, Addr("10.0.1.1"));
  EXPECT_EQ(e[0].m.quote.dst, Addr("10.0.2.1"));
  EXPECT_EQ(e[0].m.quote.protocol, kTestProto);
  EXPECT_EQ(r->ip().stats().drop(IpDrop::kTtlExceeded), 1u);
  EXPECT_EQ(r->ip().stats().icmp_out_type[kIcmpTimeExceeded].load(), 1u);
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 0u);

  // TTL 2 gets through, with 1 left.
  s.ttl = 2;
  ASSERT_EQ(a->ip().Send(s, Payload(40)), 0);
  w->Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].h.ttl, 1);
  EXPECT_TRUE(errs.TakeErrors().empty());
}

TEST_F(IpForwardTest, NoRouteAtTheRouterIsNetUnreachable) {
  ASSERT_NO_FATAL_FAILURE(Build());
  Recorder errs(a->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.9.1", kTestProto), Payload(40)), 0);
  w->Run();
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.type, kIcmpUnreachable);
  EXPECT_EQ(e[0].m.code, kIcmpNetUnreachable);
  EXPECT_EQ(e[0].from, Addr("10.0.1.254"));
  EXPECT_EQ(e[0].m.quote.dst, Addr("10.0.9.1"));
  EXPECT_EQ(r->ip().stats().drop(IpDrop::kNoRoute), 1u);
}

TEST_F(IpForwardTest, UnansweredArpAtTheRouterIsHostUnreachable) {
  ASSERT_NO_FATAL_FAILURE(Build());
  Recorder errs(a->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.2.77", kTestProto), Payload(40)), 0);
  w->Run();
  w->Advance(absl::Seconds(5));  // arp_max_retries requests, arp_retry apart
  EXPECT_EQ(r->ip().stats().arp_failed.load(), 1u);
  EXPECT_EQ(r->ip().stats().drop(IpDrop::kArpFailed), 1u);
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.type, kIcmpUnreachable);
  EXPECT_EQ(e[0].m.code, kIcmpHostUnreachable);
  EXPECT_EQ(e[0].from, Addr("10.0.1.254"));
  EXPECT_EQ(e[0].m.quote.dst, Addr("10.0.2.77"));
}

TEST_F(IpForwardTest, DirectedBroadcastIsNotForwarded) {
  ASSERT_NO_FATAL_FAILURE(Build());
  Recorder errs(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  SendArgs s = To("10.0.2.255", kTestProto);
  s.broadcast = true;  // not a broadcast address of A's: it leaves as unicast to R
  ASSERT_EQ(a->ip().Send(s, Payload(40)), 0);
  w->Run();
  EXPECT_TRUE(rb.Take().empty());
  EXPECT_TRUE(errs.TakeErrors().empty());
  EXPECT_EQ(r->ip().stats().drop(IpDrop::kNotForUs), 1u);  // RFC 2644
  EXPECT_EQ(r->ip().stats().icmp_out.load(), 0u);
}

TEST_F(IpForwardTest, ErrorFromBeyondTheRouterReachesTheSender) {
  ASSERT_NO_FATAL_FAILURE(Build());
  Recorder errs(a->ip(), kTestProto);  // B has no transport for the protocol
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(40)), 0);
  w->Run();
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.code, kIcmpProtocolUnreachable);
  EXPECT_EQ(e[0].from, Addr("10.0.2.1"));
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 2u);
}

TEST_F(IpForwardTest, RouterWithForwardingOffDropsAndSendsNothing) {
  ASSERT_NO_FATAL_FAILURE(Build({.forwarding = false}));
  Recorder raw(a->ip(), kProtoIcmp);
  Recorder errs(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  {
    IpControl ctl(*r);
    int32_t v = -1;
    ASSERT_EQ(ctl.Ioctl(IPIOC_GETFORWARD, &v), 0);
    EXPECT_EQ(v, 0);
  }
  // Resolve A <-> R first (a ping of R), so that what follows would need no ARP.
  ASSERT_EQ(a->ip().Send(To("10.0.1.254", kProtoIcmp), EchoRequest(1, 1, 8)), 0);
  w->Run();
  ASSERT_EQ(raw.Take().size(), 1u);
  const uint64_t r_out = r->ip().stats().out_transmits.load();
  const uint64_t r_icmp = r->ip().stats().icmp_out.load();
  const uint64_t rb_tx = w->net.Stats(rb_port).tx_frames;

  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(40)), 0);
  ASSERT_EQ(a->ip().Send(To("10.0.9.1", kTestProto), Payload(40)), 0);
  w->Run();
  EXPECT_TRUE(rb.Take().empty());
  EXPECT_TRUE(errs.TakeErrors().empty());
  EXPECT_TRUE(raw.Take().empty());
  EXPECT_EQ(r->ip().stats().drop(IpDrop::kNotForUs), 2u);
  EXPECT_EQ(r->ip().stats().out_transmits.load(), r_out) << "the router sent something";
  EXPECT_EQ(r->ip().stats().icmp_out.load(), r_icmp);
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 0u);
  EXPECT_EQ(w->net.Stats(rb_port).tx_frames, rb_tx);

  // Switched on while running, the next datagram crosses.
  IpControl ctl(*r);
  ASSERT_EQ(ctl.SetForwarding(true), 0);
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(40)), 0);
  w->Run();
  EXPECT_EQ(rb.Take().size(), 1u);
}

TEST_F(IpForwardTest, DontFragmentOverASmallerLinkGetsFragNeededAndLowersThePathMtu) {
  ASSERT_NO_FATAL_FAILURE(Build({.rb_port_mtu = 576}));
  Recorder errs(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  const uint32_t dst = Addr("10.0.2.1");
  EXPECT_EQ(a->ip().PathMtu(dst), 1500u);
  SendArgs s = To("10.0.2.1", kTestProto);
  s.df = true;
  ASSERT_EQ(a->ip().Send(s, Payload(1000)), 0);  // A does not know yet
  w->Run();
  EXPECT_TRUE(rb.Take().empty());
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.type, kIcmpUnreachable);
  EXPECT_EQ(e[0].m.code, kIcmpFragmentationNeeded);
  EXPECT_EQ(e[0].m.next_hop_mtu, 576);
  EXPECT_EQ(e[0].from, Addr("10.0.1.254"));
  EXPECT_EQ(r->ip().stats().drop(IpDrop::kNeedFrag), 1u);
  EXPECT_EQ(a->ip().stats().pmtu_updates.load(), 1u);
  EXPECT_EQ(a->ip().PathMtu(dst), 576u);
  EXPECT_EQ(a->ip().PathMtu(Addr("10.0.1.254")), 1500u) << "only the path to B is smaller";

  // Now A refuses what does not fit, and what fits crosses whole.
  EXPECT_EQ(a->ip().Send(s, Payload(1000)), EMSGSIZE);
  EXPECT_EQ(a->ip().Send(s, Payload(557)), EMSGSIZE);
  ASSERT_EQ(a->ip().Send(s, Payload(556, 5)), 0);
  w->Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].h.df);
  EXPECT_FALSE(got[0].h.is_fragment());
  EXPECT_EQ(got[0].payload, PayloadBytes(556, 5));
  // Without DF, A fragments to the path MTU itself: the router has nothing to cut.
  const uint64_t r_frags = r->ip().stats().frag_creates.load();
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(1000, 6)), 0);
  w->Run();
  got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, PayloadBytes(1000, 6));
  EXPECT_EQ(a->ip().stats().frag_creates.load(), 2u);
  EXPECT_EQ(r->ip().stats().frag_creates.load(), r_frags);
  EXPECT_TRUE(errs.TakeErrors().empty());

  // RFC 1191: the learned value is forgotten after pmtu_expiry.
  w->Advance(IpConfig{}.pmtu_expiry + absl::Seconds(1));
  EXPECT_EQ(a->ip().PathMtu(dst), 1500u);
}

TEST_F(IpForwardTest, SetMtuIoctlOnTheRouterGivesItsMtuInFragNeeded) {
  ASSERT_NO_FATAL_FAILURE(Build());
  {
    IpControl ctl(*r);
    ASSERT_EQ(ctl.SetMtu("net1", 1000), 0);
  }
  Recorder errs(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  SendArgs s = To("10.0.2.1", kTestProto);
  s.df = true;
  ASSERT_EQ(a->ip().Send(s, Payload(1200)), 0);
  w->Run();
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.code, kIcmpFragmentationNeeded);
  EXPECT_EQ(e[0].m.next_hop_mtu, 1000);
  EXPECT_EQ(a->ip().PathMtu(Addr("10.0.2.1")), 1000u);
  ASSERT_EQ(a->ip().Send(s, Payload(980, 8)), 0);
  w->Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, PayloadBytes(980, 8));
}

TEST_F(IpForwardTest, WithoutDontFragmentTheRouterFragments) {
  ASSERT_NO_FATAL_FAILURE(Build({.rb_port_mtu = 576}));
  Recorder errs(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  // One frame from A, cut in three by R: 552 + 552 + 296 payload bytes.
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(1400, 1)), 0);
  w->Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, PayloadBytes(1400, 1));
  EXPECT_EQ(got[0].h.ttl, 63);
  EXPECT_EQ(a->ip().stats().frag_oks.load(), 0u);
  EXPECT_EQ(r->ip().stats().frag_oks.load(), 1u);
  EXPECT_EQ(r->ip().stats().frag_creates.load(), 3u);
  EXPECT_EQ(b->ip().stats().reasm_oks.load(), 1u);

  // Fragments of fragments: A cuts 4000 bytes in three (1480, 1480, 1040), R cuts each again
  // (3 + 3 + 2), and B puts the eight together.
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(4000, 2)), 0);
  w->Run();
  got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, PayloadBytes(4000, 2));
  EXPECT_EQ(a->ip().stats().frag_creates.load(), 3u);
  EXPECT_EQ(r->ip().stats().frag_oks.load(), 1u + 3u);
  EXPECT_EQ(r->ip().stats().frag_creates.load(), 3u + 8u);
  EXPECT_EQ(b->ip().stats().reasm_oks.load(), 2u);
  EXPECT_EQ(w->net.Stats(rb_port).tx_oversize, 0u);
  EXPECT_TRUE(errs.TakeErrors().empty());
  EXPECT_EQ(a->ip().PathMtu(Addr("10.0.2.1")), 1500u) << "no frag-needed without DF";
}

// The largest datagram, cut by A for the 1500 link (45 fragments) and each fragment again by R
// for the 576 one: 133 fragments to put together at B.
TEST_F(IpForwardTest, LargestDatagramCrossesTheSmallerLinkWhole) {
  ASSERT_NO_FATAL_FAILURE(Build({.rb_port_mtu = 576}));
  Recorder rb(b->ip(), kTestProto);
  ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(65515, 9)), 0);
  w->Run();
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].payload == PayloadBytes(65515, 9));
  EXPECT_EQ(b->ip().reassembly_load().bytes, 0u);
}

TEST_F(IpForwardTest, RouteChangesMoveTheTraffic) {
  ASSERT_NO_FATAL_FAILURE(Build({.with_r2 = true}));
  Recorder rb(b->ip(), kTestProto);
  auto send = [&](int n) {
    for (int i = 0; i < n; i++) {
      ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(64, static_cast<uint8_t>(i))),
                0);
    }
    w->Run();
  };
  ASSERT_NO_FATAL_FAILURE(send(3));
  EXPECT_EQ(rb.Take().size(), 3u);
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 3u);
  EXPECT_EQ(r2->ip().stats().forw_datagrams.load(), 0u);

  // The default route now leads through R2.
  ASSERT_TRUE(a->DeleteRoute("0.0.0.0/0").ok());
  ASSERT_TRUE(a->AddRoute("0.0.0.0/0", "10.0.3.254").ok());
  EXPECT_EQ(a->ip().SourceFor(Addr("10.0.2.1")).value(), Addr("10.0.3.1"));
  ASSERT_NO_FATAL_FAILURE(send(4));
  std::vector<Received> got = rb.Take();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].h.src, Addr("10.0.3.1"));
  EXPECT_EQ(got[0].ifindex, 2u) << "arrived on B's net1";
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 3u);
  EXPECT_EQ(r2->ip().stats().forw_datagrams.load(), 4u);

  // A longer prefix through R wins over the default through R2.
  ASSERT_TRUE(a->AddRoute("10.0.2.0/24", "10.0.1.254").ok());
  ASSERT_NO_FATAL_FAILURE(send(2));
  EXPECT_EQ(rb.Take().size(), 2u);
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 5u);
  EXPECT_EQ(r2->ip().stats().forw_datagrams.load(), 4u);

  // Removed, back to R2; with no route at all, nowhere.
  ASSERT_TRUE(a->DeleteRoute("10.0.2.0/24").ok());
  ASSERT_NO_FATAL_FAILURE(send(1));
  EXPECT_EQ(rb.Take().size(), 1u);
  EXPECT_EQ(r2->ip().stats().forw_datagrams.load(), 5u);
  ASSERT_TRUE(a->DeleteRoute("0.0.0.0/0").ok());
  EXPECT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(10)), ENETUNREACH);
  w->Run();
  EXPECT_TRUE(rb.Take().empty());
  EXPECT_EQ(r->ip().stats().forw_datagrams.load(), 5u);
  EXPECT_EQ(r2->ip().stats().forw_datagrams.load(), 5u);

  // A route removed at the router: R answers net unreachable.
  ASSERT_TRUE(a->AddRoute("0.0.0.0/0", "10.0.3.254").ok());
  ASSERT_TRUE(r2->DeleteRoute("10.0.2.0/24").ok());
  Recorder errs(a->ip(), kTestProto);
  ASSERT_NO_FATAL_FAILURE(send(1));
  EXPECT_TRUE(rb.Take().empty());
  std::vector<ReceivedError> e = errs.TakeErrors();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].m.code, kIcmpNetUnreachable);
  EXPECT_EQ(e[0].from, Addr("10.0.3.254"));
}

TEST_F(IpForwardTest, IcmpErrorsAreRateLimited) {
  ASSERT_NO_FATAL_FAILURE(Build({.icmp_burst = 5}));
  Recorder errs(a->ip(), kTestProto);
  SendArgs s = To("10.0.2.1", kTestProto);
  s.ttl = 1;
  for (int i = 0; i < 20; i++) ASSERT_EQ(a->ip().Send(s, Payload(20)), 0);
  w->Run();
  EXPECT_EQ(errs.TakeErrors().size(), 5u);
  EXPECT_EQ(r->ip().stats().drop(IpDrop::kTtlExceeded), 20u);
  EXPECT_EQ(r->ip().stats().icmp_out_type[kIcmpTimeExceeded].load(), 5u);
  EXPECT_EQ(r->ip().stats().icmp_ratelimited.load(), 15u);

  // A token comes back every icmp_ratelimit (10 ms).
  w->Advance(absl::Milliseconds(30));
  for (int i = 0; i < 5; i++) ASSERT_EQ(a->ip().Send(s, Payload(20)), 0);
  w->Run();
  EXPECT_EQ(errs.TakeErrors().size(), 3u);
  EXPECT_EQ(r->ip().stats().icmp_ratelimited.load(), 17u);

  // Never more than the burst, however long the pause.
  w->Advance(absl::Seconds(10));
  for (int i = 0; i < 20; i++) ASSERT_EQ(a->ip().Send(s, Payload(20)), 0);
  w->Run();
  EXPECT_EQ(errs.TakeErrors().size(), 5u);
  EXPECT_EQ(r->ip().stats().icmp_ratelimited.load(), 32u);
}

}  // namespace
}  // namespace ustreams::ip::testing
