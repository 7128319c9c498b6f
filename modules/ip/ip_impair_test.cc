// Large datagrams across a router over impaired links, in virtual time: A — R — B, the A—R wire at
// MTU 1500 and the R—B wire at 576, every direction losing, reordering and (in some cases)
// duplicating frames by a seeded random stream. A 60 KB datagram leaves A in 41 fragments and
// reaches B in about 120 (R cuts each again). Whatever the network does, B delivers a datagram
// whole and byte-identical or not at all, reassembly gives back all it held once the timeout has
// passed, and no message block outlives the test.
//
// The links do not corrupt frames: IPv4 has no payload checksum, so a flipped payload bit would
// be delivered as it is (that is the transports' checksum's job).
#include <cerrno>
#include <memory>
#include <set>

#include "gtest/gtest.h"
#include "modules/ip/ip_test_util.h"
#include "streams/testing/leak_check.h"

namespace ustreams::ip::testing {
namespace {

constexpr uint8_t kTestProto = 253;  // RFC 3692 experimentation

struct Case {
  const char* name;
  double loss;       // per frame, every direction of both wires
  double duplicate;  // likewise
  int datagrams;
  bool expect_some;  // at least one datagram arrives
};

// With 10% loss per frame a 60 KB datagram (about 160 frames on the two wires) survives with
// probability 0.9^160, about 5e-8: nothing arrives, and what is checked is that nothing partial
// does and that memory comes back. The light case loses 0.5% so that about half arrive.
const Case kCases[] = {
    {"HeavyLossReorderDuplicate", 0.10, 0.02, 40, false},
    {"HeavyLossReorder", 0.10, 0.0, 40, false},
    {"LightLossReorderDuplicate", 0.005, 0.02, 30, true},
};

// Distinct sizes and contents per datagram; the first payload byte is the index.
size_t SizeOf(int i) { return 60000 + static_cast<size_t>(i % 7) * 3; }

class IpImpairTest : public ustreams::testing::LeakCheckedTest,
                     public ::testing::WithParamInterface<Case> {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    const Case& c = GetParam();
    w = std::make_unique<World>();
    auto [pa, pr0] = w->net.AddWire();
    auto [pr1, pb] = w->net.AddWire();
    rb_port = pr1;
    // The link MTU is read when IP plumbs the link: set it first.
    ASSERT_TRUE(w->net.SetMtu(pr1, 576).ok());
    ASSERT_TRUE(w->net.SetMtu(pb, 576).ok());
    a = &w->Add();
    r = &w->Add(IpConfig{.forwarding = true});
    b = &w->Add();
    w->Start();
    ASSERT_TRUE(a->AddLoopInterface("net0", pa, "10.0.1.1/24").ok());
    ASSERT_TRUE(r->AddLoopInterface("net0", pr0, "10.0.1.254/24").ok());
    ASSERT_TRUE(r->AddLoopInterface("net1", pr1, "10.0.2.254/24").ok());
    ASSERT_TRUE(b->AddLoopInterface("net0", pb, "10.0.2.1/24").ok());
    ASSERT_TRUE(a->AddRoute("0.0.0.0/0", "10.0.1.254").ok());
    ASSERT_TRUE(b->AddRoute("0.0.0.0/0", "10.0.2.254").ok());
    w->Run();
    Impairments imp;
    imp.loss = c.loss;
    imp.reorder = 0.1;
    imp.reorder_gap = absl::Milliseconds(3);
    imp.duplicate = c.duplicate;
    imp.delay = absl::Microseconds(200);
    imp.jitter = absl::Microseconds(100);
    for (int port : {pa, pr0, pr1, pb}) {
      ASSERT_TRUE(w->net.SetImpairments(port, LinkDir::kOut, imp).ok());
    }
  }

  void TearDown() override {
    w.reset();
    LeakCheckedTest::TearDown();
  }

  std::unique_ptr<World> w;
  Stack* a = nullptr;
  Stack* r = nullptr;
  Stack* b = nullptr;
  int rb_port = -1;
};

TEST_P(IpImpairTest, DatagramsArriveWholeOrNotAtAll) {
  const Case& c = GetParam();
  Recorder ra(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);

  // Resolve the addresses on both wires first (ARP frames are lost too), so that the big
  // datagrams do not wait in ARP queues.
  for (int i = 0; i < 20 && rb.Take().empty(); i++) {
    ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(8)), 0);
    w->Advance(absl::Seconds(1));
  }
  w->Advance(absl::Seconds(1));
  (void)rb.Take();
  const uint64_t oks0 = b->ip().stats().reasm_oks.load();
  const uint64_t fails0 = b->ip().stats().reasm_fails.load();
  ASSERT_EQ(oks0 + fails0, 0u) << "the warm-up datagrams are not fragmented";

  for (int i = 0; i < c.datagrams; i++) {
    ASSERT_EQ(a->ip().Send(To("10.0.2.1", kTestProto), Payload(SizeOf(i), static_cast<uint8_t>(i))),
              0);
    w->Advance(absl::Milliseconds(20));
  }
  w->Advance(absl::Seconds(2));  // everything still on the wires has landed
  EXPECT_EQ(w->net.in_flight_frames(), 0u);

  std::vector<Received> got = rb.Take();
  std::set<int> seen;
  for (const Received& g : got) {
    ASSERT_FALSE(g.payload.empty());
    const int i = static_cast<uint8_t>(g.payload[0]);
    ASSERT_LT(i, c.datagrams);
    EXPECT_TRUE(seen.insert(i).second) << "datagram " << i << " delivered twice";
    EXPECT_FALSE(g.h.is_fragment());
    EXPECT_EQ(g.h.total_length, 20 + SizeOf(i));
    ASSERT_EQ(g.payload.size(), SizeOf(i)) << "datagram " << i << " arrived partial";
    EXPECT_TRUE(g.payload == PayloadBytes(SizeOf(i), static_cast<uint8_t>(i)))
        << "datagram " << i << " arrived altered";
  }
  if (c.expect_some) {
    EXPECT_GT(got.size(), 0u);
    EXPECT_LT(got.size(), static_cast<size_t>(c.datagrams)) << "the links lost nothing?";
  }
  const IpStats& bs = b->ip().stats();
  EXPECT_EQ(bs.reasm_oks.load(), got.size());
  EXPECT_GT(b->ip().reassembly_load().datagrams + bs.reasm_fails.load(), 0u)
      << "some datagram should be incomplete";

  // Past the reassembly timeout nothing is held any more, and every datagram that reached B in
  // part has been given up on and counted.
  w->Advance(IpConfig{}.reassembly_timeout + absl::Seconds(1));
  EXPECT_EQ(b->ip().reassembly_load().datagrams, 0u);
  EXPECT_EQ(b->ip().reassembly_load().bytes, 0u);
  EXPECT_EQ(a->ip().reassembly_load().bytes, 0u);
  EXPECT_EQ(r->ip().reassembly_load().bytes, 0u) << "a router does not reassemble";
  EXPECT_TRUE(rb.Take().empty());
  // Every datagram reached B in part (losing all of its 120 frames is beyond belief), so each
  // one B did not deliver is a failure. A late duplicate of a fragment of a datagram already
  // delivered starts a new one that fails too.
  const uint64_t started = bs.reasm_oks.load() + bs.reasm_fails.load();
  if (c.duplicate == 0) {
    EXPECT_EQ(started, static_cast<uint64_t>(c.datagrams));
  } else {
    EXPECT_GE(started, static_cast<uint64_t>(c.datagrams));
  }
  // R cut what it forwarded to fit the small link, and never sent a frame too big for it.
  EXPECT_GT(r->ip().stats().frag_creates.load(), 0u);
  EXPECT_EQ(r->ip().stats().frag_fails.load(), 0u);
  EXPECT_EQ(w->net.Stats(rb_port).tx_oversize, 0u);
  // B told A (with the first fragment, when it had it) and A heard it.
  std::vector<ReceivedError> e = ra.TakeErrors();
  for (const ReceivedError& x : e) {
    EXPECT_EQ(x.m.type, kIcmpTimeExceeded);
    EXPECT_EQ(x.m.code, kIcmpReassemblyTimeExceeded);
    EXPECT_EQ(x.from, Addr("10.0.2.1"));
  }
}

INSTANTIATE_TEST_SUITE_P(Links, IpImpairTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) {
                           return std::string(i.param.name);
                         });

}  // namespace
}  // namespace ustreams::ip::testing
