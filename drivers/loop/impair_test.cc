// The impairment model of one direction (impair.h), without streams: each knob's statistics and
// timing with fixed seeds, and reproducibility.
#include "drivers/loop/impair.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace ustreams::loop_internal {
namespace {

const absl::Time kT0 = absl::UnixEpoch() + absl::Seconds(100);

DirectionModel Model(const Impairments& imp, uint64_t seed = 42) {
  EXPECT_TRUE(DirectionModel::Validate(imp).ok());
  DirectionModel m(seed);
  m.Configure(imp);
  return m;
}

TEST(ImpairModelTest, PerfectLinkPassesEverythingAtOnce) {
  DirectionModel m = Model({});
  for (int i = 0; i < 100; i++) {
    Verdict v = m.Offer(kT0, 100, 86, false);
    EXPECT_EQ(v.drop, Verdict::kNone);
    EXPECT_EQ(v.arrival, kT0);
    EXPECT_FALSE(v.corrupt);
    EXPECT_FALSE(v.duplicate);
  }
  EXPECT_EQ(m.stats().offered_frames, 100u);
  EXPECT_EQ(m.stats().passed_frames, 100u);
  EXPECT_EQ(m.stats().passed_bytes, 10000u);
}

TEST(ImpairModelTest, ValidateRefusesBadValues) {
  EXPECT_FALSE(DirectionModel::Validate({.loss = -0.1}).ok());
  EXPECT_FALSE(DirectionModel::Validate({.loss = 1.5}).ok());
  EXPECT_FALSE(DirectionModel::Validate({.corrupt = 2}).ok());
  EXPECT_FALSE(DirectionModel::Validate({.delay = absl::Milliseconds(-1)}).ok());
  EXPECT_FALSE(DirectionModel::Validate({.jitter = absl::InfiniteDuration()}).ok());
  EXPECT_FALSE(DirectionModel::Validate({.rate_bps = 1000, .queue_bytes = 0}).ok());
  EXPECT_TRUE(DirectionModel::Validate({.loss = 1}).ok());
}

TEST(ImpairModelTest, LossRateWithinBounds) {
  DirectionModel m = Model({.loss = 0.1});
  int lost = 0;
  constexpr int kN = 20000;
  for (int i = 0; i < kN; i++) lost += m.Offer(kT0, 100, 86, false).drop == Verdict::kLoss;
  // Binomial(20000, 0.1): mean 2000, sd 42; 5 sd either side.
  EXPECT_GT(lost, 1790);
  EXPECT_LT(lost, 2210);
  EXPECT_EQ(m.stats().dropped_loss, static_cast<uint64_t>(lost));
  EXPECT_EQ(m.stats().passed_frames, static_cast<uint64_t>(kN - lost));
}

TEST(ImpairModelTest, LossOfOneDropsAll) {
  DirectionModel m = Model({.loss = 1});
  for (int i = 0; i < 10; i++) EXPECT_EQ(m.Offer(kT0, 100, 86, false).drop, Verdict::kLoss);
}

TEST(ImpairModelTest, DelayIsExact) {
  DirectionModel m = Model({.delay = absl::Milliseconds(7)});
  for (int i = 0; i < 5; i++) {
    const absl::Time now = kT0 + absl::Milliseconds(i);
    EXPECT_EQ(m.Offer(now, 100, 86, false).arrival, now + absl::Milliseconds(7));
  }
}

TEST(ImpairModelTest, JitterStaysWithinBoundsAndKeepsOrder) {
  DirectionModel m = Model({.delay = absl::Milliseconds(10), .jitter = absl::Milliseconds(5)});
  absl::Time last = absl::InfinitePast();
  int spread = 0;
  for (int i = 0; i < 1000; i++) {
    const absl::Time now = kT0 + absl::Milliseconds(i);
    const absl::Time at = m.Offer(now, 100, 86, false).arrival;
    EXPECT_GE(at, now + absl::Milliseconds(10));
    EXPECT_GE(at, last) << "frame " << i << " overtook its predecessor";
    // Only order keeping pushes an arrival past delay + jitter.
    if (at > now + absl::Milliseconds(15)) {
      EXPECT_EQ(at, last);
    }
    if (at > now + absl::Milliseconds(12)) spread++;
    last = at;
  }
  EXPECT_GT(spread, 100);  // the jitter is really drawn
}

TEST(ImpairModelTest, ReorderingHoldsFramesBackSoOthersOvertake) {
  DirectionModel m = Model({.delay = absl::Milliseconds(1), .reorder = 0.2,
                            .reorder_gap = absl::Milliseconds(3)});
  std::vector<absl::Time> arrivals;
  for (int i = 0; i < 2000; i++) {
    arrivals.push_back(m.Offer(kT0 + absl::Milliseconds(i), 100, 86, false).arrival);
  }
  int overtaken = 0;
  for (size_t i = 0; i + 1 < arrivals.size(); i++) overtaken += arrivals[i + 1] < arrivals[i];
  EXPECT_GT(m.stats().reordered, 300u);  // Binomial(2000, 0.2): 400 +- 18
  EXPECT_LT(m.stats().reordered, 500u);
  EXPECT_GT(overtaken, 200);  // a held frame is passed by the next ones sent within 3 ms
}

TEST(ImpairModelTest, DuplicatesAreCounted) {
  DirectionModel m = Model({.duplicate = 0.05});
  int dups = 0;
  for (int i = 0; i < 10000; i++) dups += m.Offer(kT0, 100, 86, false).duplicate;
  EXPECT_GT(dups, 350);
  EXPECT_LT(dups, 650);
  EXPECT_EQ(m.stats().duplicated, static_cast<uint64_t>(dups));
  EXPECT_EQ(m.stats().passed_frames, 10000u + static_cast<uint64_t>(dups));
}

TEST(ImpairModelTest, CorruptionPicksABitOfThePayload) {
  DirectionModel m = Model({.corrupt = 0.5});
  int corrupted = 0;
  std::vector<int> hits(86 * 8, 0);
  for (int i = 0; i < 4000; i++) {
    Verdict v = m.Offer(kT0, 100, 86, false);
    if (!v.corrupt) continue;
    corrupted++;
    ASSERT_LT(v.corrupt_bit, 86u * 8);
    hits[v.corrupt_bit]++;
  }
  EXPECT_GT(corrupted, 1800);
  EXPECT_LT(corrupted, 2200);
  EXPECT_EQ(m.stats().corrupted, static_cast<uint64_t>(corrupted));
  int distinct = 0;
  for (int h : hits) distinct += h > 0;
  EXPECT_GT(distinct, 400);  // spread over the payload, not one favourite bit
  // A frame without payload is never corrupted.
  DirectionModel e = Model({.corrupt = 1});
  EXPECT_FALSE(e.Offer(kT0, 14, 0, false).corrupt);
}

TEST(ImpairModelTest, RateLimitSerialisesFrames) {
  // 1 Mbit/s: a 1500-byte frame takes 12 ms.
  DirectionModel m = Model({.rate_bps = 1'000'000, .queue_bytes = 100'000});
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(m.Offer(kT0, 1500, 1486, false).arrival, kT0 + absl::Milliseconds(12 * (i + 1)));
  }
  // The backlog is 60 ms; a kOut sender with a 3000-byte queue may add a 1500-byte frame once
  // at most 1500 bytes (12 ms) remain.
  DirectionModel q = Model({.rate_bps = 1'000'000, .queue_bytes = 3000});
  EXPECT_EQ(q.ReadyAt(kT0, 1500), kT0);
  q.Offer(kT0, 1500, 1486, false);
  EXPECT_EQ(q.ReadyAt(kT0, 1500), kT0);  // 1500 queued + 1500 = 3000 fits
  q.Offer(kT0, 1500, 1486, false);
  EXPECT_EQ(q.ReadyAt(kT0, 1500), kT0 + absl::Milliseconds(12));
  // Idle link: even a frame larger than the queue may go.
  DirectionModel big = Model({.rate_bps = 1'000'000, .queue_bytes = 1000});
  EXPECT_EQ(big.ReadyAt(kT0, 1500), kT0);
}

TEST(ImpairModelTest, RateLimitedInboundQueueTailDrops) {
  DirectionModel m = Model({.rate_bps = 1'000'000, .queue_bytes = 4500});
  int passed = 0, dropped = 0;
  for (int i = 0; i < 10; i++) {
    Verdict v = m.Offer(kT0, 1500, 1486, /*tail_drop=*/true);
    (v.drop == Verdict::kQueue ? dropped : passed)++;
  }
  EXPECT_EQ(passed, 3);  // 4500 bytes of backlog, the frame being serialised included
  EXPECT_EQ(dropped, 7);
  EXPECT_EQ(m.stats().dropped_queue, 7u);
  // Once the queue has drained, frames pass again.
  EXPECT_EQ(m.Offer(kT0 + absl::Milliseconds(36), 1500, 1486, true).drop, Verdict::kNone);
}

TEST(ImpairModelTest, MtuDropsLongPayloads) {
  DirectionModel m = Model({.mtu = 576});
  EXPECT_EQ(m.Offer(kT0, 590, 576, false).drop, Verdict::kNone);
  EXPECT_EQ(m.Offer(kT0, 591, 577, false).drop, Verdict::kMtu);
  EXPECT_EQ(m.stats().dropped_mtu, 1u);
}

std::vector<int64_t> Verdicts(uint64_t seed) {
  DirectionModel m = Model({.loss = 0.1, .delay = absl::Milliseconds(2),
                            .jitter = absl::Milliseconds(3), .reorder = 0.1, .duplicate = 0.05,
                            .corrupt = 0.05}, seed);
  std::vector<int64_t> out;
  for (int i = 0; i < 500; i++) {
    Verdict v = m.Offer(kT0 + absl::Milliseconds(i), 300, 286, false);
    out.push_back(v.drop);
    out.push_back(absl::ToInt64Nanoseconds(v.arrival - kT0));
    out.push_back(v.corrupt ? static_cast<int64_t>(v.corrupt_bit) : -1);
    out.push_back(v.duplicate);
  }
  return out;
}

TEST(ImpairModelTest, SameSeedSameVerdicts) {
  EXPECT_EQ(Verdicts(7), Verdicts(7));
  EXPECT_NE(Verdicts(7), Verdicts(8));
}

}  // namespace
}  // namespace ustreams::loop_internal
