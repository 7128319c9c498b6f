// WaitPoint: how an application thread waits for something a STREAMS thread will do. It is the
// one mechanism behind every blocking call of the stream head (read and getmsg on an empty
// stream, write under flow control, an ioctl awaiting its ack, an SO_REPLY write awaiting its
// M_REPLY, close draining the write side, I_RECVFD) and behind qwait_sig().
//
// Theory of operation
// -------------------
// The condition a caller waits for is guarded by the caller's own mutex. A waiter checks it under
// that mutex, reads the wait point's generation, announces itself, unlocks and sleeps in a futex
// on the generation. A waker changes the condition, then bumps the generation and, only if
// someone waits, wakes the futex: with nobody waiting a wake costs one atomic add and one load,
// no system call.
//
// Before sleeping a waiter spins briefly on the generation, so a wake that comes within
// microseconds costs neither side a system call.
//
// A waker that delivers often (a pipe writer, per message) may skip even the atomic add when
// nobody watches: a waiter calls Watch() before it reads the generation and looks at its
// condition, and Unwatch() when done; the waker looks at watched() after it changed the
// condition, and wakes only if it is true. Each side stores, then loads, so the two need
// ordering: the waker changes the condition and looks under a lock that the waiter takes and
// drops between its Watch() and its look (the stream head's inbox spin lock). Then the waiter
// sees the change, or the waker sees the watcher.
//
// The futex sleep is a system call, so signals behave as they do for read(2): a handler installed
// with SA_RESTART lets the wait go on, one without makes it end with EINTR. A deadline is a
// timer of the scheduler's that wakes the point, not a timeout of the futex (Linux would end
// such a wait with EINTR after any handler). An embedder may also cancel the waits of a stream:
// they end with EINTR too.
//
// With a deterministic scheduler there are no other threads to wait for: Wait() runs the
// scheduler's work and moves its virtual clock to the next timer (or to the deadline) until the
// generation changes, and gives EDEADLK when nothing at all could ever wake the waiter.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "absl/time/time.h"
#include "streams/mutex.h"

namespace ustreams {

class Scheduler;

class WaitPoint {
 public:
  // Wakes every waiter; they re-check their conditions. Call after changing the condition.
  void WakeAll();
  bool watched() const { return watchers_.load(std::memory_order_relaxed) != 0; }
  void Watch() { watchers_.fetch_add(1, std::memory_order_seq_cst); }
  void Unwatch() { watchers_.fetch_sub(1, std::memory_order_release); }

  // Called with `l` held; unlocks it while waiting and holds it again on return. Returns 0 when
  // woken (or spuriously: re-check the condition), ETIME when `deadline` (on s's clock) passed,
  // EINTR when a signal handler interrupted the wait or *cancel moved past cancel_seen, EDEADLK
  // when s is deterministic and idle with nothing pending. cancel may be nullptr.
  //
  // A condition that changes without the caller's lock (flow control below a stream head) is
  // checked after Generation() was read, and that value passed as `seen`: a wake between the
  // check and the wait then ends the wait at once (an eventcount).
  //
  // any_signal: any signal handler ends the wait with EINTR, SA_RESTART or not (a wait that is
  // not a system call's, like close's wait for the write side to drain).
  int Wait(std::unique_lock<Mutex>& l, Scheduler* s, absl::Time deadline,
           const std::atomic<uint32_t>* cancel = nullptr, uint32_t cancel_seen = 0,
           const uint32_t* seen = nullptr, bool any_signal = false);
  uint32_t Generation() const { return gen_.load(std::memory_order_seq_cst); }

  int waiters() const { return waiters_.load(std::memory_order_relaxed); }

  // How long a waiter spins before it sleeps (pause instructions: a few tens of microseconds).
  static constexpr int kSpins = 2000;

 private:
  std::atomic<uint32_t> gen_{0};
  std::atomic<int> waiters_{0};
  std::atomic<int> watchers_{0};  // waiters spinning or asleep, and about to (Watch)
};

}  // namespace ustreams
