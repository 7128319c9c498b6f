// The scheduler: runs enabled service procedures, timers and deferred work for the streams that
// use it. A Stack owns one; so does each test harness.
//
// Two modes, one code path:
//  - Threaded: worker threads (started lazily) run the work; time is the steady clock.
//  - Deterministic: no threads at all. The test calls RunUntilIdle() to run everything runnable
//    now, and AdvanceBy()/AdvanceTo() to move a virtual clock, firing timers in deadline order
//    (ties in the order they were set). Protocol tests run in virtual time and take milliseconds.
//
// Timers live on a hierarchical timing wheel (timer_wheel.h) with 1 ms ticks: adding and
// cancelling are O(1) however many are pending.
//
// After fork() the child goes on: its schedulers start new workers (threads do not survive a
// fork). The parent's workers are quiesced around the fork so no lock of theirs is copied held.
//
// Every drain is bounded: a worker runs at most kServiceBudget service procedures before it
// checks timers again, and RunUntilIdle() gives up (returns false) after a configurable number
// of steps, so a service procedure that re-enables itself forever is reported, not a hang.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "streams/queue.h"
#include "streams/timer_wheel.h"

namespace ustreams {

class Scheduler {
 public:
  using TimerId = uint64_t;

  // Worker threads start on first use, so a process that forks before using the library is fine.
  static std::unique_ptr<Scheduler> Threaded(int workers = 2);
  static std::unique_ptr<Scheduler> Deterministic(absl::Time start = absl::UnixEpoch());
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  bool deterministic() const { return deterministic_; }
  absl::Time Now() const;

  // Runs `fn` soon on a scheduler thread (deterministic: at the next RunUntilIdle).
  void Defer(std::function<void()> fn);
  // Runs `fn` at `when` (or soon, if that has passed). Ids are never reused.
  TimerId AddTimer(absl::Time when, std::function<void()> fn);
  // Cancels a pending timer. Returns the time that was left, or nullopt-like negative duration if
  // it already fired (or is firing: then, from another thread, this waits until it has finished).
  absl::Duration CancelTimer(TimerId id);

  // Deterministic mode only.
  // Runs service procedures, deferred work and due timers until nothing is runnable. Returns
  // false if it stopped after `max_steps` (a livelock), true when idle.
  bool RunUntilIdle(uint64_t max_steps = 10'000'000);
  // Moves virtual time forward, firing timers in deadline order and running until idle at each.
  void AdvanceBy(absl::Duration d);
  void AdvanceTo(absl::Time t);
  // The deadline of the earliest pending timer, or InfiniteFuture.
  absl::Time NextDeadline();
  // Runs one unit of work if any is runnable now (service, deferred, due timer). For waits that
  // must make progress in deterministic mode (qwait).
  bool RunOne();

  // Threaded mode: waits until no work is queued or running and no timer is due (tests).
  void WaitIdle();

  // Counters.
  uint64_t services_run() const { return services_run_.load(std::memory_order_relaxed); }
  uint64_t timers_fired() const { return timers_fired_.load(std::memory_order_relaxed); }
  size_t pending_timers();

  // Used by qenable(): appends q to the run list (the caller has set QENAB).
  void EnqueueService(queue_t* q);
  // A queue is going away: drop it from the run list and wait until its service is not running.
  void ForgetQueue(queue_t* q);

  // The scheduler running on this thread, if any (set while a worker or RunUntilIdle runs work).
  static Scheduler* Current();

  static constexpr int kServiceBudget = 64;

  struct TimerRec;  // defined in scheduler.cc

 private:
  explicit Scheduler(bool deterministic, int workers, absl::Time start);

  void StartWorkersLocked();
  // pthread_atfork handlers (see scheduler.cc).
  static void ForkPrepare();
  static void ForkParent();
  static void ForkChild();
  void WorkerLoop();
  // Takes one unit of runnable work under mu_; returns false if none.
  bool TakeWorkLocked(std::function<void()>* out);
  void RunService(queue_t* q);
  int64_t TickOf(absl::Time t) const;
  absl::Time RawNow() const;

  const bool deterministic_;
  const int workers_wanted_;
  const absl::Time start_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // wakes workers
  std::condition_variable idle_cv_;  // wakes WaitIdle / CancelTimer waiters
  std::deque<queue_t*> run_list_;
  std::vector<queue_t*> taken_;  // service procedures handed to a thread and not finished
  std::deque<std::function<void()>> deferred_;
  TimerWheel wheel_;
  TimerId next_timer_id_ = 1;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  bool pausing_ = false;  // around fork(): workers take no work
  int busy_ = 0;                      // workers running work now
  TimerRec* timers_;                  // id index and expired-but-not-run timers
  std::vector<std::pair<TimerId, std::thread::id>> firing_;  // callbacks running now
  absl::Time virtual_now_;
  std::atomic<uint64_t> services_run_{0};
  std::atomic<uint64_t> timers_fired_{0};
};

}  // namespace ustreams
