// The scheduler, deterministic and threaded: timers (order, cancelling), deferred work, livelock
// detection, NextDeadline; and through the DDI with the harness: qtimeout/quntimeout,
// qbufcall/qunbufcall (run inside the module's perimeter, cancelled when the module is popped),
// and qwait() in an open routine driving virtual time by itself.
#include "streams/scheduler.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "streams/alloc.h"
#include "streams/msg.h"
#include "streams/perimeter.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/testing/harness.h"
#include "streams/testing/leak_check.h"

namespace ustreams {
namespace {

using testing::Harness;

// ---------------------------------------------------------------------------------------------
// Deterministic scheduler.

TEST(DeterministicScheduler, TimerFiresAtItsTimeNotBefore) {
  auto s = Scheduler::Deterministic();
  const absl::Time t0 = s->Now();
  absl::Time fired_at = absl::InfinitePast();
  s->AddTimer(t0 + absl::Milliseconds(10), [&] { fired_at = s->Now(); });
  EXPECT_EQ(s->pending_timers(), 1u);
  for (int i = 0; i < 9; i++) {
    s->AdvanceBy(absl::Milliseconds(1));
    ASSERT_EQ(fired_at, absl::InfinitePast()) << "fired early, after " << i + 1 << " ms";
  }
  s->AdvanceBy(absl::Milliseconds(1));
  EXPECT_EQ(fired_at, t0 + absl::Milliseconds(10));
  EXPECT_EQ(s->pending_timers(), 0u);
  EXPECT_EQ(s->timers_fired(), 1u);
}

TEST(DeterministicScheduler, SubTickDeadlineRoundsUp) {
  auto s = Scheduler::Deterministic();
  const absl::Time t0 = s->Now();
  bool fired = false;
  s->AddTimer(t0 + absl::Microseconds(10500), [&] { fired = true; });
  EXPECT_EQ(s->NextDeadline(), t0 + absl::Milliseconds(11));
  s->AdvanceTo(t0 + absl::Microseconds(10999));
  EXPECT_FALSE(fired);
  s->AdvanceTo(t0 + absl::Milliseconds(11));
  EXPECT_TRUE(fired);
}

TEST(DeterministicScheduler, OneBigAdvanceFiresInDeadlineThenInsertionOrder) {
  auto s = Scheduler::Deterministic();
  const absl::Time t0 = s->Now();
  std::vector<std::string> order;
  std::vector<absl::Time> when;
  auto rec = [&](std::string name) {
    return [&, name] {
      order.push_back(name);
      when.push_back(s->Now());
    };
  };
  s->AddTimer(t0 + absl::Milliseconds(20), rec("b1"));
  s->AddTimer(t0 + absl::Milliseconds(10), rec("a1"));
  s->AddTimer(t0 + absl::Milliseconds(20), rec("b2"));
  s->AddTimer(t0 + absl::Milliseconds(10), rec("a2"));
  s->AddTimer(t0 + absl::Hours(2), rec("far"));
  s->AddTimer(t0 + absl::Milliseconds(20), rec("b3"));
  s->AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(order, (std::vector<std::string>{"a1", "a2", "b1", "b2", "b3"}));
  // Each ran with the clock at its own deadline.
  ASSERT_EQ(when.size(), 5u);
  EXPECT_EQ(when[0], t0 + absl::Milliseconds(10));
  EXPECT_EQ(when[4], t0 + absl::Milliseconds(20));
  EXPECT_EQ(s->Now(), t0 + absl::Seconds(1));
  EXPECT_EQ(s->NextDeadline(), t0 + absl::Hours(2));
  s->AdvanceBy(absl::Hours(3));
  EXPECT_EQ(order.back(), "far");
  EXPECT_EQ(when.back(), t0 + absl::Hours(2));
}

TEST(DeterministicScheduler, TimerInThePastOrNowRunsAtNextRunUntilIdle) {
  auto s = Scheduler::Deterministic(absl::FromUnixSeconds(1000));
  int fired = 0;
  s->AddTimer(s->Now() - absl::Seconds(5), [&] { fired++; });
  s->AddTimer(s->Now(), [&] { fired++; });
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(s->NextDeadline(), s->Now());
  EXPECT_TRUE(s->RunUntilIdle());
  EXPECT_EQ(fired, 2);
}

TEST(DeterministicScheduler, CancelTimerReturnsTimeLeftAndPreventsFiring) {
  auto s = Scheduler::Deterministic();
  bool fired = false;
  Scheduler::TimerId id = s->AddTimer(s->Now() + absl::Milliseconds(100), [&] { fired = true; });
  s->AdvanceBy(absl::Milliseconds(30));
  EXPECT_EQ(s->CancelTimer(id), absl::Milliseconds(70));
  EXPECT_EQ(s->pending_timers(), 0u);
  EXPECT_EQ(s->NextDeadline(), absl::InfiniteFuture());
  s->AdvanceBy(absl::Milliseconds(200));
  EXPECT_FALSE(fired);
  // A second cancel, or an id never handed out, reports "not pending".
  EXPECT_LT(s->CancelTimer(id), absl::ZeroDuration());
  EXPECT_LT(s->CancelTimer(987654), absl::ZeroDuration());
}

TEST(DeterministicScheduler, CancelFiredTimerReturnsNegative) {
  auto s = Scheduler::Deterministic();
  int fired = 0;
  Scheduler::TimerId id = s->AddTimer(s->Now() + absl::Milliseconds(5), [&] { fired++; });
  s->AdvanceBy(absl::Milliseconds(5));
  EXPECT_EQ(fired, 1);
  EXPECT_LT(s->CancelTimer(id), absl::ZeroDuration());
}

TEST(DeterministicScheduler, CancelDueTimerFromAnotherCallback) {
  // Two timers due at the same tick: the first cancels the second, which has expired from the
  // wheel but not run yet. It must not run, and the cancel reports no time left (not "fired").
  auto s = Scheduler::Deterministic();
  const absl::Time t = s->Now() + absl::Milliseconds(3);
  Scheduler::TimerId second = 0;
  absl::Duration left = absl::InfiniteDuration();
  bool second_ran = false;
  s->AddTimer(t, [&] { left = s->CancelTimer(second); });
  second = s->AddTimer(t, [&] { second_ran = true; });
  s->AdvanceBy(absl::Milliseconds(10));
  EXPECT_FALSE(second_ran);
  EXPECT_EQ(left, absl::ZeroDuration());
}

TEST(DeterministicScheduler, TimerCancellingItselfReturnsAtOnce) {
  auto s = Scheduler::Deterministic();
  Scheduler::TimerId id = 0;
  absl::Duration left = absl::ZeroDuration();
  id = s->AddTimer(s->Now() + absl::Milliseconds(1), [&] { left = s->CancelTimer(id); });
  s->AdvanceBy(absl::Milliseconds(1));
  EXPECT_LT(left, absl::ZeroDuration());
}

TEST(DeterministicScheduler, DeferRunsAtRunUntilIdleInOrder) {
  auto s = Scheduler::Deterministic();
  std::vector<int> ran;
  s->Defer([&] { ran.push_back(1); });
  s->Defer([&] {
    ran.push_back(2);
    s->Defer([&] { ran.push_back(4); });  // deferred from deferred work: same drain
  });
  s->Defer([&] { ran.push_back(3); });
  EXPECT_TRUE(ran.empty());
  EXPECT_TRUE(s->RunUntilIdle());
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_FALSE(s->RunOne());
}

TEST(DeterministicScheduler, RunUntilIdleReportsLivelock) {
  auto s = Scheduler::Deterministic();
  bool stop = false;
  int runs = 0;
  std::function<void()> again = [&] {
    runs++;
    if (!stop) s->Defer(again);
  };
  s->Defer(again);
  EXPECT_FALSE(s->RunUntilIdle(/*max_steps=*/100));
  EXPECT_EQ(runs, 100);
  EXPECT_FALSE(s->RunUntilIdle(/*max_steps=*/50));
  stop = true;
  EXPECT_TRUE(s->RunUntilIdle(/*max_steps=*/100));
}

TEST(DeterministicScheduler, NextDeadline) {
  auto s = Scheduler::Deterministic();
  const absl::Time t0 = s->Now();
  EXPECT_EQ(s->NextDeadline(), absl::InfiniteFuture());
  Scheduler::TimerId a = s->AddTimer(t0 + absl::Milliseconds(50), [] {});
  EXPECT_EQ(s->NextDeadline(), t0 + absl::Milliseconds(50));
  s->AddTimer(t0 + absl::Seconds(70000), [] {});  // beyond 2^24 ticks
  EXPECT_EQ(s->NextDeadline(), t0 + absl::Milliseconds(50));
  s->AddTimer(t0 + absl::Milliseconds(7), [] {});
  EXPECT_EQ(s->NextDeadline(), t0 + absl::Milliseconds(7));
  s->AdvanceBy(absl::Milliseconds(7));
  EXPECT_EQ(s->NextDeadline(), t0 + absl::Milliseconds(50));
  s->CancelTimer(a);
  EXPECT_EQ(s->NextDeadline(), t0 + absl::Seconds(70000));
  s->AdvanceTo(s->NextDeadline());
  EXPECT_EQ(s->NextDeadline(), absl::InfiniteFuture());
  EXPECT_EQ(s->timers_fired(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Threaded scheduler. Only "it happened" is asserted, never how soon.

// Waits (up to a generous limit) until pred() holds.
template <typename Pred>
bool Eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(ThreadedScheduler, TimersFire) {
  auto s = Scheduler::Threaded(2);
  std::mutex mu;
  std::condition_variable cv;
  int fired = 0;
  for (int i = 0; i < 10; i++) {
    s->AddTimer(s->Now() + absl::Milliseconds(1 + i % 4), [&] {
      std::lock_guard<std::mutex> l(mu);
      fired++;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> l(mu);
  EXPECT_TRUE(cv.wait_for(l, std::chrono::seconds(30), [&] { return fired == 10; }));
  l.unlock();
  s->WaitIdle();
  EXPECT_EQ(s->pending_timers(), 0u);
}

TEST(ThreadedScheduler, TimerAddedFromTimerFires) {
  auto s = Scheduler::Threaded(1);
  std::atomic<int> stage{0};
  s->AddTimer(s->Now() + absl::Milliseconds(2), [&] {
    stage = 1;
    s->AddTimer(s->Now() + absl::Milliseconds(2), [&] { stage = 2; });
  });
  EXPECT_TRUE(Eventually([&] { return stage.load() == 2; }));
}

TEST(ThreadedScheduler, DeferFromManyThreadsAllRun) {
  auto s = Scheduler::Threaded(3);
  constexpr int kThreads = 8;
  constexpr int kEach = 2000;
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; i++) s->Defer([&] { ran.fetch_add(1); });
    });
  }
  for (std::thread& t : threads) t.join();
  s->WaitIdle();
  EXPECT_EQ(ran.load(), kThreads * kEach);
}

TEST(ThreadedScheduler, CancelTimerPreventsFiring) {
  auto s = Scheduler::Threaded(2);
  std::atomic<bool> fired{false};
  Scheduler::TimerId id = s->AddTimer(s->Now() + absl::Hours(1), [&] { fired = true; });
  absl::Duration left = s->CancelTimer(id);
  EXPECT_GT(left, absl::Minutes(59));
  EXPECT_LE(left, absl::Hours(1) + absl::Milliseconds(1));  // deadlines round up to a tick
  EXPECT_EQ(s->pending_timers(), 0u);
  EXPECT_FALSE(fired.load());
}

TEST(ThreadedScheduler, CancelWaitsForRunningCallback) {
  auto s = Scheduler::Threaded(2);
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  Scheduler::TimerId id = s->AddTimer(s->Now(), [&] {
    started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    finished = true;
  });
  ASSERT_TRUE(Eventually([&] { return started.load(); }));
  absl::Duration left = s->CancelTimer(id);
  EXPECT_TRUE(finished.load()) << "CancelTimer returned while the callback was still running";
  EXPECT_LT(left, absl::ZeroDuration());
}

TEST(ThreadedScheduler, CallbackCancellingItselfDoesNotDeadlock) {
  auto s = Scheduler::Threaded(1);
  std::atomic<Scheduler::TimerId> id{0};
  std::atomic<bool> done{false};
  std::mutex mu;
  std::unique_lock<std::mutex> hold(mu);  // the callback waits until the id is known
  id = s->AddTimer(s->Now(), [&] {
    { std::lock_guard<std::mutex> l(mu); }
    s->CancelTimer(id.load());
    done = true;
  });
  hold.unlock();
  EXPECT_TRUE(Eventually([&] { return done.load(); }));
}

// ---------------------------------------------------------------------------------------------
// Through the DDI: a D_MTQPAIR module that sets timeouts and bufcalls on command (M_CTL
// "timeout N", "untimeout", "alloc", "unbufcall" on its write side) and records events.

struct Probe {
  queue_t* wq = nullptr;  // while open
  std::vector<std::string> events;
  timeout_id_t tid = 0;
  clock_t untimeout_result = -2;
  bufcall_id_t bid = 0;
  int timeouts_fired = 0;
  absl::Time fired_at = absl::InfinitePast();
  int bufcalls_fired = 0;
  bool wait_in_open = false;  // open sets a 10-tick timeout and qwait()s for it
  bool waited = false;
  std::atomic<int> ticks{0};  // CountCb (threaded tests)
};
Probe* g_probe = nullptr;

// Puts a marker message into our own write side from a callback: if the callback runs inside the
// perimeter, the put is deferred until the callback has returned.
void PutMarker(Probe* p, const char* what) {
  MsgPtr m = MsgPtr::Data(what);
  ASSERT_TRUE(m);
  put(p->wq, m.release());
}

void TimeoutCb(void* arg) {
  auto* p = static_cast<Probe*>(arg);
  p->timeouts_fired++;
  if (p->wq == nullptr) return;  // called after close: the test fails on timeouts_fired
  p->fired_at = p->wq->q_stream->scheduler()->Now();
  p->events.push_back("timeout");
  PutMarker(p, "from-timeout");
  p->events.push_back("timeout-end");
}

void BufCb(void* arg) {
  auto* p = static_cast<Probe*>(arg);
  p->bufcalls_fired++;
  if (p->wq == nullptr) return;
  p->events.push_back("bufcall");
  PutMarker(p, "from-bufcall");
  p->events.push_back("bufcall-end");
}

void WaitCb(void* arg) { static_cast<Probe*>(arg)->waited = true; }

void CountCb(void* arg) { static_cast<Probe*>(arg)->ticks.fetch_add(1); }

int TmodWput(queue_t* q, mblk_t* mp) {
  auto* p = static_cast<Probe*>(q->q_ptr);
  if (DB_TYPE(mp) != M_CTL) {
    p->events.push_back("put:" + MsgBytes(mp));
    putnext(q, mp);
    return 0;
  }
  std::string cmd = MsgBytes(mp);
  freemsg(mp);  // before any allocb: a release would fire pending bufcalls
  if (cmd.rfind("timeout ", 0) == 0) {
    p->tid = qtimeout(q, TimeoutCb, p, static_cast<clock_t>(std::atol(cmd.c_str() + 8)));
  } else if (cmd.rfind("tick ", 0) == 0) {
    qtimeout(q, CountCb, p, static_cast<clock_t>(std::atol(cmd.c_str() + 5)));
  } else if (cmd == "untimeout") {
    p->untimeout_result = quntimeout(q, p->tid);
  } else if (cmd == "alloc") {
    if (mblk_t* m = allocb(8)) {
      p->events.push_back("alloc-ok");
      freemsg(m);
    } else {
      p->events.push_back("alloc-failed");
      p->bid = qbufcall(q, 8, BPRI_MED, BufCb, p);
    }
  } else if (cmd == "unbufcall") {
    qunbufcall(q, p->bid);
  }
  return 0;
}

int TmodRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

int TmodOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;
  Probe* p = g_probe;
  q->q_ptr = WR(q)->q_ptr = p;
  p->wq = WR(q);
  qprocson(q);
  if (p->wait_in_open) {
    qtimeout(q, WaitCb, p, 10);
    while (!p->waited) qwait(q);
  }
  return 0;
}

int TmodClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  static_cast<Probe*>(q->q_ptr)->wq = nullptr;
  return 0;
}

module_info tmod_info{4242, "tmod", 0, INFPSZ, 1 << 16, 1 << 12};
qinit tmod_rinit{TmodRput, nullptr, TmodOpen, TmodClose, nullptr, &tmod_info, nullptr};
qinit tmod_winit{TmodWput, nullptr, nullptr, nullptr, nullptr, &tmod_info, nullptr};
streamtab tmod_tab{&tmod_rinit, &tmod_winit, nullptr, nullptr};

class DdiTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    g_probe = &probe_;
    ASSERT_TRUE(reg_.RegisterModule("tmod", &tmod_tab, D_MTQPAIR).ok());
    ASSERT_TRUE(reg_.RegisterModule("tmodmp", &tmod_tab, D_MP).ok());
  }
  void TearDown() override {
    g_probe = nullptr;
    LeakCheckedTest::TearDown();
  }
  static void Ctl(Harness& h, const std::string& cmd) { h.SendDown(MsgPtr::Make(M_CTL, cmd)); }

  Probe probe_;
  Registry reg_;
};

TEST_F(DdiTest, QtimeoutFiresAfterItsTicksInsideThePerimeter) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  const absl::Time t0 = h.Now();
  Ctl(h, "timeout 10");
  h.RunUntilIdle();
  h.Advance(absl::Milliseconds(9));
  EXPECT_EQ(probe_.timeouts_fired, 0);
  h.Advance(absl::Milliseconds(1));
  EXPECT_EQ(probe_.timeouts_fired, 1);
  EXPECT_EQ(probe_.fired_at, t0 + absl::Milliseconds(10));
  // The marker put from inside the callback waited until the callback had left the perimeter.
  EXPECT_EQ(probe_.events,
            (std::vector<std::string>{"timeout", "timeout-end", "put:from-timeout"}));
  std::vector<MsgPtr> down = h.TakeDown();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].Bytes(), "from-timeout");
  // Once fired, quntimeout reports -1.
  Ctl(h, "untimeout");
  EXPECT_EQ(probe_.untimeout_result, -1);
}

TEST_F(DdiTest, QuntimeoutBeforeFiringReturnsTicksLeft) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  Ctl(h, "timeout 100");
  h.Advance(absl::Milliseconds(30));
  Ctl(h, "untimeout");
  EXPECT_EQ(probe_.untimeout_result, 70);
  EXPECT_EQ(h.scheduler().pending_timers(), 0u);
  h.Advance(absl::Milliseconds(500));
  EXPECT_EQ(probe_.timeouts_fired, 0);
  // A second quntimeout of the same id: not pending any more.
  Ctl(h, "untimeout");
  EXPECT_EQ(probe_.untimeout_result, -1);
}

TEST_F(DdiTest, PoppedModuleNeverSeesItsTimeout) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  Ctl(h, "timeout 50");
  Ctl(h, "timeout 20");
  h.Advance(absl::Milliseconds(10));
  ASSERT_TRUE(h.Pop().ok());
  EXPECT_EQ(h.scheduler().pending_timers(), 0u);
  h.Advance(absl::Milliseconds(100));
  EXPECT_EQ(probe_.timeouts_fired, 0);
}

TEST_F(DdiTest, QbufcallRunsInsideThePerimeterWhenMemoryReturns) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  MsgPtr cmd = MsgPtr::Make(M_CTL, "alloc");
  ASSERT_TRUE(cmd);
  AllocFaults::FailEveryNth(1);
  h.SendDown(std::move(cmd));
  h.RunUntilIdle();
  EXPECT_EQ(probe_.events, (std::vector<std::string>{"alloc-failed"}));
  EXPECT_NE(probe_.bid, 0u);
  EXPECT_EQ(GetAllocStats().pending_bufcalls, 1);
  AllocFaults::Clear();
  // Memory is back: the callback is handed to the scheduler, not run in this thread.
  EXPECT_EQ(probe_.bufcalls_fired, 0);
  h.RunUntilIdle();
  EXPECT_EQ(probe_.bufcalls_fired, 1);
  EXPECT_EQ(probe_.events, (std::vector<std::string>{"alloc-failed", "bufcall", "bufcall-end",
                                                     "put:from-bufcall"}));
  std::vector<MsgPtr> down = h.TakeDown();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].Bytes(), "from-bufcall");
}

TEST_F(DdiTest, QunbufcallCancels) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  MsgPtr alloc = MsgPtr::Make(M_CTL, "alloc");
  MsgPtr unbuf = MsgPtr::Make(M_CTL, "unbufcall");
  ASSERT_TRUE(alloc && unbuf);
  AllocFaults::FailEveryNth(1);
  h.SendDown(std::move(alloc));
  ASSERT_EQ(probe_.events, (std::vector<std::string>{"alloc-failed"}));
  // Freeing the second command inside the module's put would fire the bufcall; the module
  // cancels it right after, and a callback already handed to the scheduler must not run.
  h.SendDown(std::move(unbuf));
  AllocFaults::Clear();
  h.RunUntilIdle();
  EXPECT_EQ(probe_.bufcalls_fired, 0);
  EXPECT_EQ(GetAllocStats().pending_bufcalls, 0);
}

TEST_F(DdiTest, QunbufcallBeforeMemoryReturns) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  MsgPtr alloc = MsgPtr::Make(M_CTL, "alloc");
  ASSERT_TRUE(alloc);
  AllocFaults::FailEveryNth(1);
  h.SendDown(std::move(alloc));
  ASSERT_EQ(GetAllocStats().pending_bufcalls, 1);
  // Cancel from the module's perimeter without releasing memory first.
  internal::RunCallback(probe_.wq, [this] { qunbufcall(probe_.wq, probe_.bid); });
  EXPECT_EQ(GetAllocStats().pending_bufcalls, 0);
  AllocFaults::Clear();
  h.RunUntilIdle();
  EXPECT_EQ(probe_.bufcalls_fired, 0);
}

TEST_F(DdiTest, PoppedModuleNeverSeesItsBufcall) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  MsgPtr alloc = MsgPtr::Make(M_CTL, "alloc");
  ASSERT_TRUE(alloc);
  AllocFaults::FailEveryNth(1);
  h.SendDown(std::move(alloc));
  ASSERT_EQ(GetAllocStats().pending_bufcalls, 1);
  ASSERT_TRUE(h.Pop().ok());
  EXPECT_EQ(GetAllocStats().pending_bufcalls, 0);
  AllocFaults::Clear();
  h.RunUntilIdle();
  EXPECT_EQ(probe_.bufcalls_fired, 0);
}

TEST_F(DdiTest, PoppedModuleNeverSeesABufcallThatFiredBeforeThePop) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("tmod").ok());
  MsgPtr alloc = MsgPtr::Make(M_CTL, "alloc");
  MsgPtr spare = MsgPtr::Data("spare");
  ASSERT_TRUE(alloc && spare);
  AllocFaults::FailEveryNth(1);
  h.SendDown(std::move(alloc));
  ASSERT_EQ(GetAllocStats().pending_bufcalls, 1);
  // Memory comes back: the bufcall fires and its callback waits for the scheduler...
  spare.reset();
  AllocFaults::Clear();
  EXPECT_EQ(GetAllocStats().pending_bufcalls, 0);
  // ... but the module is popped first. Its queues are gone; the callback must not run.
  ASSERT_TRUE(h.Pop().ok());
  h.RunUntilIdle();
  EXPECT_EQ(probe_.bufcalls_fired, 0);
}

TEST_F(DdiTest, QwaitInOpenAdvancesVirtualTime) {
  probe_.wait_in_open = true;
  Harness h(&reg_);
  const absl::Time t0 = h.Now();
  ASSERT_TRUE(h.Push("tmod").ok());
  EXPECT_TRUE(probe_.waited);
  EXPECT_EQ(h.Now(), t0 + absl::Milliseconds(10));
  // The stream works afterwards.
  h.SendDown(MsgPtr::Data("after"));
  h.RunUntilIdle();
  std::vector<MsgPtr> down = h.TakeDown();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].Bytes(), "after");
}

// Threaded: timeouts due at once, set outside any perimeter (D_MP), all fire. Their callbacks
// start while qtimeout() may still be returning.
TEST_F(DdiTest, ThreadedZeroTickTimeoutsAllFire) {
  Harness::Options opt;
  opt.threaded = true;
  Harness h(&reg_, opt);
  ASSERT_TRUE(h.Push("tmodmp").ok());
  constexpr int kN = 300;
  for (int i = 0; i < kN; i++) Ctl(h, "tick " + std::to_string(i % 3));
  EXPECT_TRUE(Eventually([&] { return probe_.ticks.load() == kN; })) << probe_.ticks.load();
  h.RunUntilIdle();
  EXPECT_EQ(h.scheduler().pending_timers(), 0u);
}

TEST_F(DdiTest, ThreadedQwaitInOpenWaitsForTheTimeout) {
  probe_.wait_in_open = true;
  Harness::Options opt;
  opt.threaded = true;
  Harness h(&reg_, opt);
  ASSERT_TRUE(h.Push("tmod").ok());  // returns only once the callback has run
  EXPECT_TRUE(probe_.waited);
  h.SendDown(MsgPtr::Data("after"));
  h.RunUntilIdle();
  EXPECT_EQ(h.TakeDown().size(), 1u);
}

}  // namespace
}  // namespace ustreams
