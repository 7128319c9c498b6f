// Each impairment end to end between two stacks over a wire, with fixed seeds, in virtual time:
// the statistics, the timing, what the receiver sees; and the same seed giving the same run.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "drivers/loop/loop_test_util.h"

namespace ustreams::loop_testing {
namespace {

// Two stacks on a wire, each with a stream bound to 0x0800: A on port a, B on port b.
struct Link {
  explicit Link(uint64_t seed, bool deterministic = true)
      : w(2, deterministic, {.seed = seed}) {
    std::tie(a, b) = w.net().AddWire();
    ma = w.net().Mac(a);
    mb = w.net().Mac(b);
    fa = w.Plumb(0, a, 0x0800);
    fb = w.Plumb(1, b, 0x0800);
  }
  World w;
  int a = 0, b = 0, fa = -1, fb = -1;
  MacAddr ma, mb;
};

// Frame i's payload: its number, padded to `size` bytes.
std::string Payload(int i, size_t size = 64) {
  std::string s = absl::StrFormat("%08d", i);
  s.resize(size, '.');
  return s;
}

struct Arrival {
  absl::Duration at;  // since the start of the run
  std::string data;
};

// Runs virtual time from deadline to deadline until nothing is pending, collecting what reaches
// fd and when.
std::vector<Arrival> CollectUntilQuiet(World& w, int fd, absl::Time t0) {
  std::vector<Arrival> got;
  for (;;) {
    w.Settle();
    for (Msg m = Get(fd); m.rc >= 0; m = Get(fd)) {
      EXPECT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_UNITDATA_IND));
      got.push_back({w.lockstep().Now() - t0, m.data});
    }
    const absl::Time next = w.lockstep().NextDeadline();
    if (next == absl::InfiniteFuture()) return got;
    w.lockstep().AdvanceTo(next);
  }
}

// Sends n frames from A to B, one every `spacing` of virtual time (zero: all at once, letting
// the writer's queue drain every 100).
void SendRun(Link& l, int n, absl::Duration spacing, size_t size = 64) {
  for (int i = 0; i < n; i++) {
    ASSERT_EQ(SendUnitdata(l.fa, l.mb, 0x0800, Payload(i, size)), 0) << strerror(errno);
    if (spacing > absl::ZeroDuration()) {
      l.w.lockstep().AdvanceBy(spacing);
    } else if (i % 100 == 99) {
      l.w.Settle();
    }
  }
}

class ImpairLinkTest : public ::testing::Test {
 protected:
  void TearDown() override { leaks_.Check(); }

 private:
  LeakChecked leaks_;
};

TEST_F(ImpairLinkTest, LossDropsTheExpectedShare) {
  Link l(11);
  ASSERT_TRUE(l.w.net().SetImpairments(l.a, LinkDir::kOut, {.loss = 0.25}).ok());
  const absl::Time t0 = l.w.lockstep().Now();
  SendRun(l, 2000, absl::ZeroDuration());
  std::vector<Arrival> got = CollectUntilQuiet(l.w, l.fb, t0);
  const PortStats s = l.w.net().Stats(l.a);
  EXPECT_EQ(s.out.offered_frames, 2000u);
  EXPECT_GT(s.out.dropped_loss, 400u);  // Binomial(2000, 0.25): 500 +- 19
  EXPECT_LT(s.out.dropped_loss, 600u);
  EXPECT_EQ(got.size(), 2000u - s.out.dropped_loss);
  EXPECT_EQ(l.w.net().Stats(l.b).rx_frames, got.size());
  for (size_t i = 1; i < got.size(); i++) EXPECT_LT(got[i - 1].data, got[i].data);  // in order
}

TEST_F(ImpairLinkTest, DelayIsExactInVirtualTime) {
  Link l(12);
  ASSERT_TRUE(
      l.w.net().SetImpairments(l.a, LinkDir::kOut, {.delay = absl::Milliseconds(20)}).ok());
  ASSERT_TRUE(l.w.net().SetImpairments(l.b, LinkDir::kIn, {.delay = absl::Milliseconds(5)}).ok());
  l.w.lockstep().AdvanceBy(absl::Milliseconds(3));  // any start
  ASSERT_EQ(SendUnitdata(l.fa, l.mb, 0x0800, "late"), 0);
  l.w.Settle();
  l.w.lockstep().AdvanceBy(absl::Milliseconds(24));
  EXPECT_EQ(Get(l.fb).err, EAGAIN);
  EXPECT_EQ(l.w.net().in_flight_frames(), 1u);
  l.w.lockstep().AdvanceBy(absl::Milliseconds(1));
  Msg m = Get(l.fb);
  EXPECT_EQ(m.data, "late");
  // The way back has no delay.
  ASSERT_EQ(SendUnitdata(l.fb, l.ma, 0x0800, "at once"), 0);
  l.w.Settle();
  EXPECT_EQ(Get(l.fa).data, "at once");
}

TEST_F(ImpairLinkTest, JitterSpreadsArrivalsButKeepsOrder) {
  Link l(13);
  ASSERT_TRUE(l.w.net()
                  .SetImpairments(l.a, LinkDir::kOut,
                                  {.delay = absl::Milliseconds(10), .jitter = absl::Milliseconds(8)})
                  .ok());
  const absl::Time t0 = l.w.lockstep().Now();
  SendRun(l, 300, absl::Milliseconds(1));
  std::vector<Arrival> got = CollectUntilQuiet(l.w, l.fb, t0);
  ASSERT_EQ(got.size(), 300u);
  int late = 0;
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].data, Payload(static_cast<int>(i)));
    const absl::Duration sent = absl::Milliseconds(static_cast<int64_t>(i));
    EXPECT_GE(got[i].at, sent + absl::Milliseconds(10));
    late += got[i].at > sent + absl::Milliseconds(13);
  }
  EXPECT_GT(late, 30);  // the jitter is there
}

TEST_F(ImpairLinkTest, ReorderingLetsLaterFramesOvertake) {
  Link l(14);
  ASSERT_TRUE(l.w.net()
                  .SetImpairments(l.a, LinkDir::kOut,
                                  {.delay = absl::Milliseconds(1), .reorder = 0.3,
                                   .reorder_gap = absl::Milliseconds(5)})
                  .ok());
  const absl::Time t0 = l.w.lockstep().Now();
  SendRun(l, 200, absl::Milliseconds(1));
  std::vector<Arrival> got = CollectUntilQuiet(l.w, l.fb, t0);
  ASSERT_EQ(got.size(), 200u);  // reordered, not lost
  int inversions = 0;
  for (size_t i = 1; i < got.size(); i++) inversions += got[i].data < got[i - 1].data;
  const uint64_t reordered = l.w.net().Stats(l.a).out.reordered;
  EXPECT_GT(reordered, 30u);  // Binomial(200, 0.3): 60 +- 6.5
  EXPECT_LT(reordered, 90u);
  EXPECT_GT(inversions, 15);
}

TEST_F(ImpairLinkTest, DuplicatesArriveRightBehindTheOriginal) {
  Link l(15);
  ASSERT_TRUE(l.w.net().SetImpairments(l.a, LinkDir::kOut, {.duplicate = 0.1}).ok());
  const absl::Time t0 = l.w.lockstep().Now();
  SendRun(l, 500, absl::ZeroDuration());
  std::vector<Arrival> got = CollectUntilQuiet(l.w, l.fb, t0);
  const uint64_t dups = l.w.net().Stats(l.a).out.duplicated;
  EXPECT_GT(dups, 25u);  // Binomial(500, 0.1): 50 +- 6.7
  EXPECT_LT(dups, 80u);
  EXPECT_EQ(got.size(), 500u + dups);
  uint64_t repeats = 0;
  for (size_t i = 1; i < got.size(); i++) {
    EXPECT_LE(got[i - 1].data, got[i].data);
    repeats += got[i].data == got[i - 1].data;
  }
  EXPECT_EQ(repeats, dups);
}

TEST_F(ImpairLinkTest, CorruptionFlipsOneBitOfThePayload) {
  Link l(16);
  ASSERT_TRUE(l.w.net().SetImpairments(l.b, LinkDir::kIn, {.corrupt = 0.2}).ok());
  const absl::Time t0 = l.w.lockstep().Now();
  SendRun(l, 500, absl::ZeroDuration(), 200);
  std::vector<Arrival> got = CollectUntilQuiet(l.w, l.fb, t0);
  ASSERT_EQ(got.size(), 500u);  // the header is never hit: every frame still arrives
  uint64_t damaged = 0;
  for (size_t i = 0; i < got.size(); i++) {
    const std::string want = Payload(static_cast<int>(i), 200);
    ASSERT_EQ(got[i].data.size(), want.size());
    int bits = 0;
    for (size_t j = 0; j < want.size(); j++) {
      bits += __builtin_popcount(static_cast<unsigned char>(got[i].data[j] ^ want[j]));
    }
    EXPECT_LE(bits, 1);
    damaged += bits;
  }
  const uint64_t corrupted = l.w.net().Stats(l.b).in.corrupted;
  EXPECT_EQ(damaged, corrupted);
  EXPECT_GT(corrupted, 70u);  // Binomial(500, 0.2): 100 +- 9
  EXPECT_LT(corrupted, 130u);
}

TEST_F(ImpairLinkTest, RateLimitedInboundQueueSpacesAndTailDrops) {
  Link l(17);
  ASSERT_TRUE(l.w.net()
                  .SetImpairments(l.b, LinkDir::kIn, {.rate_bps = 1'000'000, .queue_bytes = 4500})
                  .ok());
  const absl::Time t0 = l.w.lockstep().Now();
  SendRun(l, 10, absl::ZeroDuration(), 1486);  // 1500-byte frames
  std::vector<Arrival> got = CollectUntilQuiet(l.w, l.fb, t0);
  ASSERT_EQ(got.size(), 3u);
  for (size_t i = 0; i < got.size(); i++) {
    EXPECT_EQ(got[i].at, absl::Milliseconds(12 * static_cast<int64_t>(i + 1)));
  }
  EXPECT_EQ(l.w.net().Stats(l.b).in.dropped_queue, 7u);
}

TEST_F(ImpairLinkTest, PathMtuDropsLongFrames) {
  Link l(18);
  ASSERT_TRUE(l.w.net().SetImpairments(l.a, LinkDir::kOut, {.mtu = 576}).ok());
  ASSERT_EQ(SendUnitdata(l.fa, l.mb, 0x0800, std::string(577, 'x')), 0);
  ASSERT_EQ(SendUnitdata(l.fa, l.mb, 0x0800, std::string(576, 'y')), 0);
  Msg m = l.w.Await(l.fb);
  EXPECT_EQ(m.data, std::string(576, 'y'));
  EXPECT_EQ(l.w.net().Stats(l.a).out.dropped_mtu, 1u);
}

// Everything at once, twice with one seed and once with another.
std::vector<std::pair<int64_t, std::string>> Scenario(uint64_t seed) {
  Link l(seed);
  const Impairments imp{.loss = 0.1, .delay = absl::Milliseconds(3),
                        .jitter = absl::Milliseconds(4), .reorder = 0.1, .duplicate = 0.05,
                        .corrupt = 0.05};
  EXPECT_TRUE(l.w.net().SetImpairments(l.a, imp).ok());
  EXPECT_TRUE(l.w.net().SetImpairments(l.b, imp).ok());
  const absl::Time t0 = l.w.lockstep().Now();
  SendRun(l, 300, absl::Milliseconds(1));
  std::vector<std::pair<int64_t, std::string>> log;
  for (const Arrival& a : CollectUntilQuiet(l.w, l.fb, t0)) {
    log.emplace_back(absl::ToInt64Microseconds(a.at), a.data);
  }
  return log;
}

TEST_F(ImpairLinkTest, SameSeedSameRun) {
  const auto first = Scenario(99);
  EXPECT_GT(first.size(), 200u);
  EXPECT_EQ(Scenario(99), first);
  EXPECT_NE(Scenario(100), first);
}

// With real threads and real time: what passed the impairments is what arrives.
TEST_F(ImpairLinkTest, ThreadedLossyDelayedLink) {
  Link l(19, /*deterministic=*/false);
  ASSERT_TRUE(l.w.net()
                  .SetImpairments(l.a, LinkDir::kOut,
                                  {.loss = 0.1, .delay = absl::Milliseconds(2),
                                   .jitter = absl::Milliseconds(2)})
                  .ok());
  constexpr int kN = 300;
  for (int i = 0; i < kN;) {
    if (SendUnitdata(l.fa, l.mb, 0x0800, Payload(i)) == 0) {
      i++;
    } else {
      ASSERT_EQ(errno, EAGAIN);
      std::this_thread::yield();
    }
  }
  size_t got = 0;
  std::string last;
  const absl::Time end = absl::Now() + absl::Seconds(20);
  while (absl::Now() < end) {
    const PortStats s = l.w.net().Stats(l.a);
    if (s.out.offered_frames == kN && got == s.out.passed_frames) break;
    Msg m = l.w.Await(l.fb, absl::Milliseconds(50));
    if (m.rc < 0) continue;
    EXPECT_GT(m.data, last);  // jitter keeps order
    last = m.data;
    got++;
  }
  const PortStats s = l.w.net().Stats(l.a);
  EXPECT_EQ(s.out.offered_frames, static_cast<uint64_t>(kN));
  EXPECT_EQ(got, s.out.passed_frames);
  EXPECT_GT(s.out.dropped_loss, 5u);
  EXPECT_LT(s.out.dropped_loss, 70u);
}

}  // namespace
}  // namespace ustreams::loop_testing
