// The hierarchical timing wheel on its own: expiry order (deadline, then insertion), overdue
// deadlines, far deadlines that cascade through every level and the overflow list, Remove at
// every level, NextDeadline, a randomized comparison against a sorted reference, and big jumps.
#include "streams/timer_wheel.h"

#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ustreams {
namespace {

using Node = TimerWheel::Node;

// Owns the wheel's expired nodes and records them as (deadline, seq).
class WheelTest : public ::testing::Test {
 protected:
  Node* Add(int64_t deadline) {
    auto* n = new Node;
    n->deadline = deadline;
    n->seq = n->id = next_seq_++;
    wheel_.Add(n);
    return n;
  }
  std::vector<std::pair<int64_t, uint64_t>> Advance(int64_t to) {
    std::vector<Node*> expired;
    wheel_.Advance(to, &expired);
    std::vector<std::pair<int64_t, uint64_t>> out;
    for (Node* n : expired) {
      EXPECT_EQ(n->level, -1);
      EXPECT_EQ(n->next, nullptr);
      EXPECT_EQ(n->prev, nullptr);
      out.emplace_back(n->deadline, n->seq);
      delete n;
    }
    return out;
  }
  // Removes n from the wheel and frees it.
  void Remove(Node* n) {
    wheel_.Remove(n);
    EXPECT_EQ(n->level, -1);
    delete n;
  }

  TimerWheel wheel_;
  uint64_t next_seq_ = 1;
};

using Expiry = std::vector<std::pair<int64_t, uint64_t>>;

TEST_F(WheelTest, EmptyWheel) {
  EXPECT_EQ(wheel_.size(), 0u);
  EXPECT_EQ(wheel_.NextDeadline(), INT64_MAX);
  EXPECT_TRUE(Advance(1000).empty());
  EXPECT_EQ(wheel_.now(), 1000);
  // Never backwards.
  EXPECT_TRUE(Advance(10).empty());
  EXPECT_EQ(wheel_.now(), 1000);
}

TEST_F(WheelTest, ExpiresInDeadlineThenInsertionOrder) {
  Add(30);  // seq 1
  Add(10);  // seq 2
  Add(20);  // seq 3
  Add(10);  // seq 4
  Add(30);  // seq 5
  Add(10);  // seq 6
  EXPECT_EQ(wheel_.size(), 6u);
  EXPECT_EQ(wheel_.NextDeadline(), 10);
  EXPECT_TRUE(Advance(9).empty());
  EXPECT_EQ(Advance(10), (Expiry{{10, 2}, {10, 4}, {10, 6}}));
  EXPECT_EQ(wheel_.NextDeadline(), 20);
  EXPECT_EQ(Advance(100), (Expiry{{20, 3}, {30, 1}, {30, 5}}));
  EXPECT_EQ(wheel_.size(), 0u);
}

TEST_F(WheelTest, TiesAcrossLevelsKeepInsertionOrder) {
  // The same deadline added from different distances lands on different levels first; after
  // cascading they must still come out in insertion order.
  const int64_t d = 0x12345;
  Add(d);                       // seq 1, level 2 from now = 0
  ASSERT_TRUE(Advance(0x12300).empty());
  Add(d);                       // seq 2, level 0 from here
  Add(d);                       // seq 3
  EXPECT_EQ(Advance(d), (Expiry{{d, 1}, {d, 2}, {d, 3}}));
}

TEST_F(WheelTest, OverdueDeadlinesAreDueAtOnce) {
  ASSERT_TRUE(Advance(1000).empty());
  Add(1000);  // seq 1: now
  Add(5);     // seq 2: long past
  Add(-50);   // seq 3: negative
  Add(1001);  // seq 4: next tick
  EXPECT_EQ(wheel_.NextDeadline(), 1000);
  EXPECT_EQ(Advance(1000), (Expiry{{-50, 3}, {5, 2}, {1000, 1}}));
  EXPECT_EQ(wheel_.NextDeadline(), 1001);
  EXPECT_EQ(Advance(1001), (Expiry{{1001, 4}}));
}

TEST_F(WheelTest, FarDeadlinesFireExactlyAtTheirTick) {
  const int64_t kFar[] = {255,
                          256,
                          (int64_t{1} << 16) + 3,
                          (int64_t{1} << 24) + 7,
                          (int64_t{1} << 32) - 1,
                          (int64_t{1} << 32) + 11,
                          (int64_t{1} << 40) + 5,
                          (int64_t{1} << 52) + 0x1234567};
  for (int64_t start : {int64_t{0}, int64_t{12345}, int64_t{0xfffffff0}}) {
    for (int64_t dist : kFar) {
      SCOPED_TRACE(testing::Message() << "start " << start << " dist " << dist);
      TimerWheel w(start);
      auto* n = new Node;
      n->deadline = start + dist;
      w.Add(n);
      EXPECT_EQ(w.NextDeadline(), start + dist);
      std::vector<Node*> out;
      // Creep up on it: big steps, then the tick before, then the tick itself.
      for (int64_t step = dist / 3; step > 0 && w.now() + step < start + dist - 1; step /= 2) {
        w.Advance(w.now() + step, &out);
        ASSERT_TRUE(out.empty()) << "fired early at " << w.now();
        EXPECT_EQ(w.NextDeadline(), start + dist);
      }
      w.Advance(start + dist - 1, &out);
      ASSERT_TRUE(out.empty()) << "fired a tick early";
      EXPECT_EQ(w.NextDeadline(), start + dist);
      w.Advance(start + dist, &out);
      ASSERT_EQ(out.size(), 1u);
      EXPECT_EQ(out[0], n);
      EXPECT_EQ(w.size(), 0u);
      delete n;
    }
  }
}

TEST_F(WheelTest, FarDeadlineInOneJump) {
  for (int shift : {8, 16, 24, 32, 33, 40, 48}) {
    TimerWheel w(777);
    auto* n = new Node;
    n->deadline = 777 + (int64_t{1} << shift) + 1;
    w.Add(n);
    std::vector<Node*> out;
    w.Advance(n->deadline - 1, &out);
    EXPECT_TRUE(out.empty()) << shift;
    w.Advance(n->deadline + 1000, &out);
    ASSERT_EQ(out.size(), 1u) << shift;
    delete n;
  }
}

// A deadline in the next 2^32 window sits on the overflow list. When time moves into that window
// without reaching it, and a later timer is then added to the wheel, the overflow timer must
// still come first (and NextDeadline must say so).
TEST_F(WheelTest, OverflowTimerStaysFirstAfterTimeEntersItsWindow) {
  const int64_t w = int64_t{1} << 32;
  Add(w + 10);  // seq 1: overflow from now = 0
  ASSERT_TRUE(Advance(w + 5).empty());
  Add(w + 100);  // seq 2: level 0 of the new window
  EXPECT_EQ(wheel_.NextDeadline(), w + 10);
  EXPECT_TRUE(Advance(w + 9).empty());
  EXPECT_EQ(Advance(w + 200), (Expiry{{w + 10, 1}, {w + 100, 2}}));
}

TEST_F(WheelTest, RemoveAtEveryLevel) {
  ASSERT_TRUE(Advance(0x1000).empty());
  const int64_t now = wheel_.now();
  std::vector<Node*> nodes;
  std::vector<int> levels;
  for (int64_t dist : {int64_t{0}, int64_t{5}, int64_t{0x300}, int64_t{0x30000},
                       int64_t{0x3000000}, int64_t{0x300000000}}) {
    // Two per level, so removal from the head, the tail and the middle of a slot is covered.
    nodes.push_back(Add(now + dist));
    nodes.push_back(Add(now + dist));
    nodes.push_back(Add(now + dist));
    levels.push_back(nodes.back()->level);
  }
  // Level 0 twice (now and now+5), then 1, 2, 3 and the overflow list (4).
  EXPECT_EQ(levels, (std::vector<int>{0, 0, 1, 2, 3, 4}));
  EXPECT_EQ(wheel_.size(), nodes.size());
  // Remove the middle one of each slot, then the head, leaving the tail.
  std::vector<Node*> keep;
  for (size_t i = 0; i < nodes.size(); i += 3) {
    Remove(nodes[i + 1]);
    Remove(nodes[i]);
    keep.push_back(nodes[i + 2]);
  }
  EXPECT_EQ(wheel_.size(), keep.size());
  EXPECT_EQ(wheel_.NextDeadline(), now);
  // Removing a node twice (or one not in the wheel) is harmless.
  Node* first = keep[0];
  wheel_.Remove(first);
  wheel_.Remove(first);
  delete first;
  EXPECT_EQ(wheel_.NextDeadline(), now + 5);
  Remove(keep[1]);
  EXPECT_EQ(wheel_.NextDeadline(), now + 0x300);
  Remove(keep[2]);
  EXPECT_EQ(wheel_.NextDeadline(), now + 0x30000);
  Remove(keep[3]);
  EXPECT_EQ(wheel_.NextDeadline(), now + 0x3000000);
  Remove(keep[4]);
  EXPECT_EQ(wheel_.NextDeadline(), now + 0x300000000);
  Remove(keep[5]);
  EXPECT_EQ(wheel_.size(), 0u);
  EXPECT_EQ(wheel_.NextDeadline(), INT64_MAX);
  EXPECT_TRUE(Advance(now + 0x400000000).empty());
}

TEST_F(WheelTest, RemoveAfterCascade) {
  Node* a = Add(0x20005);
  Node* b = Add(0x20005);
  EXPECT_EQ(a->level, 2);
  // Cascade to level 0 without firing.
  ASSERT_TRUE(Advance(0x20004).empty());
  EXPECT_EQ(a->level, 0);
  Remove(a);
  EXPECT_EQ(wheel_.NextDeadline(), 0x20005);
  EXPECT_EQ(Advance(0x20005), (Expiry{{0x20005, b->seq}}));
}

TEST_F(WheelTest, NextDeadlineIsExact) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; round++) {
    TimerWheel w(static_cast<int64_t>(rng() % 100000));
    std::vector<Node*> nodes;
    int64_t best = INT64_MAX;
    int count = 1 + static_cast<int>(rng() % 5);
    for (int i = 0; i < count; i++) {
      auto* n = new Node;
      int shift = static_cast<int>(rng() % 36);
      n->deadline = w.now() + static_cast<int64_t>((uint64_t{rng()} << 4 ^ rng()) &
                                                    ((uint64_t{1} << shift) - 1));
      best = std::min(best, n->deadline);
      w.Add(n);
    }
    EXPECT_EQ(w.NextDeadline(), best);
    // Move to just before it: still exact.
    std::vector<Node*> out;
    if (best > w.now()) w.Advance(best - 1, &out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(w.NextDeadline(), best);
    w.Advance(best, &out);
    EXPECT_FALSE(out.empty());
    for (Node* n : out) {
      EXPECT_EQ(n->deadline, best);
      delete n;
    }
    // The rest is freed by the wheel's destructor.
  }
}

// 100000 timers at every scale, random removals and random advances, against a sorted set.
TEST_F(WheelTest, RandomizedAgainstReference) {
  std::mt19937 rng(20240611);
  TimerWheel w(1000);
  std::set<std::pair<int64_t, uint64_t>> ref;  // (deadline, seq)
  std::vector<Node*> live;                     // for random removal (swap-and-pop)
  std::vector<size_t> index_of;                // seq -> position in live
  uint64_t seq = 0;
  auto rand_span = [&rng](int max_shift) {
    int shift = static_cast<int>(rng() % (max_shift + 1));
    uint64_t r = (uint64_t{rng()} << 32) | rng();
    return shift == 0 ? int64_t{0} : static_cast<int64_t>(r & ((uint64_t{1} << shift) - 1));
  };
  auto add = [&](int64_t deadline) {
    auto* n = new Node;
    n->deadline = deadline;
    n->seq = n->id = seq++;
    w.Add(n);
    ref.emplace(deadline, n->seq);
    index_of.push_back(live.size());
    live.push_back(n);
  };
  auto remove_at = [&](size_t i) {
    Node* n = live[i];
    w.Remove(n);
    ASSERT_EQ(ref.erase({n->deadline, n->seq}), 1u);
    live[i] = live.back();
    index_of[live[i]->seq] = i;
    live.pop_back();
    delete n;
  };
  size_t added = 0;
  size_t fired = 0;
  while (added < 100000 || !ref.empty()) {
    int action = static_cast<int>(rng() % 10);
    if (added < 100000 && action < 6) {
      int burst = 1 + static_cast<int>(rng() % 50);
      for (int i = 0; i < burst && added < 100000; i++, added++) {
        // Mostly near, sometimes far (beyond 2^32), sometimes overdue.
        int64_t d = w.now() + rand_span(rng() % 8 == 0 ? 40 : 20);
        if (rng() % 50 == 0) d = w.now() - rand_span(10);
        add(d);
      }
    } else if (action < 8 && !live.empty()) {
      int n = 1 + static_cast<int>(rng() % 20);
      for (int i = 0; i < n && !live.empty(); i++) remove_at(rng() % live.size());
    } else {
      int64_t to = w.now() + rand_span(added < 100000 && rng() % 16 != 0 ? 18 : 42);
      std::vector<Node*> out;
      w.Advance(to, &out);
      ASSERT_EQ(w.now(), to);
      // Everything due, in (deadline, insertion) order, and nothing else.
      std::vector<std::pair<int64_t, uint64_t>> want;
      while (!ref.empty() && ref.begin()->first <= to) {
        want.push_back(*ref.begin());
        ref.erase(ref.begin());
      }
      std::vector<std::pair<int64_t, uint64_t>> got;
      for (Node* n : out) {
        got.emplace_back(n->deadline, n->seq);
        size_t i = index_of[n->seq];
        ASSERT_EQ(live[i], n);
        live[i] = live.back();
        index_of[live[i]->seq] = i;
        live.pop_back();
        delete n;
      }
      ASSERT_EQ(got, want) << "at now " << to;
      fired += got.size();
    }
    ASSERT_EQ(w.size(), ref.size());
    int64_t next = ref.empty() ? INT64_MAX : std::max(ref.begin()->first, w.now());
    ASSERT_EQ(w.NextDeadline(), next) << "at now " << w.now();
  }
  EXPECT_GT(fired, 10000u);
}

TEST_F(WheelTest, LargeJumpCompletes) {
  // Timers spread over every level and far beyond, then one jump over all of them: the wheel
  // skips empty slots, so this takes a few thousand steps at most.
  std::mt19937 rng(3);
  for (int i = 0; i < 10000; i++) {
    Add(static_cast<int64_t>(((uint64_t{rng()} << 32) | rng()) & ((uint64_t{1} << 40) - 1)));
  }
  Expiry out = Advance(int64_t{1} << 41);
  ASSERT_EQ(out.size(), 10000u);
  for (size_t i = 1; i < out.size(); i++) ASSERT_LT(out[i - 1], out[i]);
  // An empty wheel jumps anywhere at once.
  EXPECT_TRUE(Advance(int64_t{1} << 62).empty());
  Add((int64_t{1} << 62) + 1);
  EXPECT_EQ(Advance(INT64_MAX - 1).size(), 1u);
}

}  // namespace
}  // namespace ustreams
