// Real threads through every kind of perimeter: a threaded harness with qpair (D_MTQPAIR),
// permod (D_MTPERMOD), perq (D_MTPERQ) and svcpass (D_MP) pushed. Four threads send down, one
// sends up, two drain the ends, all at once. Nothing may be lost or duplicated, each sender's
// messages arrive in order, and the sample modules' counters (kept under their perimeters) add
// up. With small marks at the driver and the head, flow control and back-enabling run under
// threads too. Meant to be run under ThreadSanitizer as well (bazel test --config=tsan).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "streams/msg.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/testing/harness.h"
#include "streams/testing/leak_check.h"
#include "streams/testing/sample_modules.h"

namespace ustreams {
namespace {

using testing::CountersOf;
using testing::Harness;
using testing::PermodTotal;
using testing::RegisterSampleModules;
using testing::SampleCounters;

constexpr int kDownSenders = 4;
constexpr uint32_t kPerDownSender = 20000;
constexpr uint32_t kUpSender = 100;  // sender id of the one thread sending up
constexpr uint32_t kPerUpSender = 20000;
constexpr auto kPatience = std::chrono::seconds(120);  // only a hang gets near this

MsgPtr Encode(uint32_t sender, uint32_t seq) {
  char buf[8];
  std::memcpy(buf, &sender, 4);
  std::memcpy(buf + 4, &seq, 4);
  return MsgPtr::Data(std::string(buf, sizeof(buf)));
}

bool Decode(const MsgPtr& mp, uint32_t* sender, uint32_t* seq) {
  std::string b = mp.Bytes();
  if (b.size() != 8 || DB_TYPE(mp.get()) != M_DATA) return false;
  std::memcpy(sender, b.data(), 4);
  std::memcpy(seq, b.data() + 4, 4);
  return true;
}

// What one end saw: per sender, the next sequence number expected; plus anything wrong.
struct Tally {
  std::vector<uint32_t> next;  // indexed by sender (0..kDownSenders-1, or 0 for the up sender)
  uint64_t total = 0;
  uint64_t bad = 0;         // undecodable or from an unexpected sender
  uint64_t out_of_order = 0;  // lost, duplicated or reordered
  std::string first_error;
};

void Check(Tally& t, const MsgPtr& mp, bool up) {
  uint32_t sender, seq;
  t.total++;
  if (!Decode(mp, &sender, &seq) || (up ? sender != kUpSender : sender >= kDownSenders)) {
    if (t.bad++ == 0 && t.first_error.empty()) t.first_error = "undecodable or foreign message";
    return;
  }
  uint32_t& want = t.next[up ? 0 : sender];
  if (seq != want) {
    if (t.out_of_order++ == 0 && t.first_error.empty()) {
      t.first_error = "sender " + std::to_string(sender) + ": got seq " + std::to_string(seq) +
                      ", expected " + std::to_string(want);
    }
  }
  want = seq + 1;
}

// Drains one end until `want` messages arrived (or patience runs out). If wait_full, it first
// waits until the queue it drains has been full once, so flow control has surely held the
// modules above back and draining has to back-enable them.
void DrainEnd(Harness& h, bool up, uint64_t want, bool wait_full, Tally* t,
              std::atomic<bool>* saw_full) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  queue_t* q = up ? h.head_rq() : h.driver_wq();
  if (wait_full) {
    while (!(Harness::State(q).flags & QFULL)) {
      if (std::chrono::steady_clock::now() > deadline) return;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    saw_full->store(true);
  }
  while (t->total < want && std::chrono::steady_clock::now() < deadline) {
    std::vector<MsgPtr> got = up ? h.TakeUp() : h.TakeDown();
    if (got.empty()) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    for (const MsgPtr& mp : got) Check(*t, mp, up);
  }
}

std::string Describe(Harness& h) {
  std::string s;
  std::vector<std::string> names = h.stream().ModuleNames();
  for (int i = 0; i < static_cast<int>(names.size()); i++) {
    testing::QueueState w = Harness::State(h.module_wq(i));
    testing::QueueState r = Harness::State(h.module_rq(i));
    absl::StrAppend(&s, names[i], ": wq ", w.messages, " msgs flags 0x", absl::Hex(w.flags),
                    ", rq ", r.messages, " msgs flags 0x", absl::Hex(r.flags), "\n");
  }
  return s;
}

class StressTest : public testing::LeakCheckedTest {
 protected:
  void Run(Harness::Options opt, bool small_marks) {
    Registry reg;
    ASSERT_TRUE(RegisterSampleModules(reg).ok());
    const uint64_t permod_before = PermodTotal();
    {
      Harness h(&reg, opt);
      for (const char* m : {"qpair", "permod", "perq", "svcpass"}) ASSERT_TRUE(h.Push(m).ok()) << m;
      ASSERT_EQ(h.stream().ModuleNames(),
                (std::vector<std::string>{"svcpass", "perq", "permod", "qpair"}));

      Tally down, up;
      down.next.assign(kDownSenders, 0);
      up.next.assign(1, 0);
      std::atomic<bool> down_full{false}, up_full{false};
      std::atomic<int> send_failures{0};
      std::vector<std::thread> threads;
      threads.emplace_back([&] {
        DrainEnd(h, false, uint64_t{kDownSenders} * kPerDownSender, small_marks, &down,
                 &down_full);
      });
      threads.emplace_back(
          [&] { DrainEnd(h, true, kPerUpSender, small_marks, &up, &up_full); });
      for (uint32_t s = 0; s < kDownSenders; s++) {
        threads.emplace_back([&h, &send_failures, s] {
          for (uint32_t i = 0; i < kPerDownSender; i++) {
            MsgPtr mp = Encode(s, i);
            if (!mp) {
              send_failures++;
              continue;
            }
            h.SendDown(std::move(mp));
          }
        });
      }
      threads.emplace_back([&h, &send_failures] {
        for (uint32_t i = 0; i < kPerUpSender; i++) {
          MsgPtr mp = Encode(kUpSender, i);
          if (!mp) {
            send_failures++;
            continue;
          }
          h.SendUp(std::move(mp));
        }
      });
      for (std::thread& t : threads) t.join();
      h.RunUntilIdle();  // WaitIdle: nothing queued or running any more

      EXPECT_EQ(send_failures.load(), 0);
      // Nothing lost, nothing duplicated, per-sender order kept.
      EXPECT_EQ(down.total, uint64_t{kDownSenders} * kPerDownSender) << Describe(h);
      EXPECT_EQ(up.total, kPerUpSender) << Describe(h);
      EXPECT_EQ(down.bad + down.out_of_order, 0u) << down.first_error;
      EXPECT_EQ(up.bad + up.out_of_order, 0u) << up.first_error;
      for (uint32_t n : down.next) EXPECT_EQ(n, kPerDownSender);
      EXPECT_EQ(up.next[0], kPerUpSender);
      EXPECT_EQ(h.down_count(), 0);
      EXPECT_EQ(h.up_count(), 0);
      if (small_marks) {
        EXPECT_TRUE(down_full.load()) << "the driver's queue never filled";
        EXPECT_TRUE(up_full.load()) << "the head's queue never filled";
      }

      // The counters the modules keep under their perimeters add up.
      std::vector<std::string> names = h.stream().ModuleNames();
      for (int i = 0; i < static_cast<int>(names.size()); i++) {
        if (names[i] == "svcpass") continue;  // keeps no counters
        SampleCounters* c = CountersOf(h.module_wq(i));
        ASSERT_NE(c, nullptr) << names[i];
        EXPECT_EQ(c->down, uint64_t{kDownSenders} * kPerDownSender) << names[i];
        EXPECT_EQ(c->up, kPerUpSender) << names[i];
        EXPECT_LE(c->queued(), c->down + c->up) << names[i];
        if (small_marks && names[i] == "qpair") {
          // Right above the driver, which stayed full until the drainer started.
          EXPECT_GT(c->queued(), 0u) << "flow control never held qpair back";
        }
      }
      EXPECT_EQ(PermodTotal() - permod_before,
                uint64_t{kDownSenders} * kPerDownSender + kPerUpSender);
    }
  }
};

TEST_F(StressTest, DefaultMarks) {
  Harness::Options opt;
  opt.threaded = true;
  opt.workers = 4;
  Run(opt, /*small_marks=*/false);
}

TEST_F(StressTest, SmallMarksFlowControlAndBackEnable) {
  Harness::Options opt;
  opt.threaded = true;
  opt.workers = 4;
  opt.driver_hiwat = 1024;
  opt.driver_lowat = 256;
  opt.head_hiwat = 1024;
  opt.head_lowat = 256;
  Run(opt, /*small_marks=*/true);
}

TEST_F(StressTest, SmallMarksZeroLowWater) {
  // q_lowat 0: back-enable as soon as a waiting writer's queue has room at all.
  Harness::Options opt;
  opt.threaded = true;
  opt.workers = 2;
  opt.driver_hiwat = 512;
  opt.driver_lowat = 0;
  opt.head_hiwat = 512;
  opt.head_lowat = 0;
  Run(opt, /*small_marks=*/true);
}

}  // namespace
}  // namespace ustreams
