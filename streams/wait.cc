#include "streams/wait.h"

#include <cerrno>
#include <climits>
#include <ctime>

#include "absl/time/clock.h"
#include "streams/futex.h"
#include "streams/scheduler.h"

namespace ustreams {
namespace {

bool Cancelled(const std::atomic<uint32_t>* cancel, uint32_t seen) {
  return cancel != nullptr && cancel->load(std::memory_order_acquire) != seen;
}

}  // namespace

void WaitPoint::WakeAll() {
  gen_.fetch_add(1, std::memory_order_seq_cst);
  if (waiters_.load(std::memory_order_seq_cst) > 0) internal::FutexWake(&gen_, INT_MAX);
}

int WaitPoint::Wait(std::unique_lock<Mutex>& l, Scheduler* s, absl::Time deadline,
                    const std::atomic<uint32_t>* cancel, uint32_t cancel_seen,
                    const uint32_t* seen_before, bool any_signal) {
  // The generation first, then the cancel check: a cancel in between bumps the generation.
  uint32_t seen = seen_before != nullptr ? *seen_before : gen_.load(std::memory_order_seq_cst);
  if (Cancelled(cancel, cancel_seen)) return EINTR;
  if (s != nullptr && s->deterministic()) {
    // Nobody else can run the work the caller waits for: run it here.
    l.unlock();
    int rc = 0;
    while (gen_.load() == seen && !Cancelled(cancel, cancel_seen)) {
      if (s->RunOne()) continue;
      absl::Time next = s->NextDeadline();
      if (next > deadline) {
        if (deadline == absl::InfiniteFuture()) {
          rc = EDEADLK;
          break;
        }
        s->AdvanceTo(deadline);
        if (gen_.load() == seen) rc = ETIME;
        break;
      }
      s->AdvanceTo(next);
    }
    l.lock();
    if (rc == 0 && Cancelled(cancel, cancel_seen)) rc = EINTR;
    return rc;
  }
  if (deadline != absl::InfiniteFuture() && (s != nullptr ? s->Now() : absl::Now()) >= deadline) {
    return ETIME;
  }
  l.unlock();
  // Spin a little before sleeping: the other side of a pipe or a busy stream usually answers
  // within microseconds, and a futex sleep and wake cost two system calls and a context switch
  // per message. Bounded, so a waiter that must sleep wastes little.
  for (int i = 0; i < kSpins; i++) {
    if (gen_.load(std::memory_order_acquire) != seen || Cancelled(cancel, cancel_seen)) {
      l.lock();
      return Cancelled(cancel, cancel_seen) ? EINTR : 0;
    }
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  int rc;
  if (any_signal) {
    // A futex wait with a timeout ends with EINTR after any handler: what this wait wants.
    absl::Duration left = deadline == absl::InfiniteFuture()
                              ? absl::Hours(24 * 365)
                              : deadline - (s != nullptr ? s->Now() : absl::Now());
    timespec ts = absl::ToTimespec(left > absl::ZeroDuration() ? left : absl::ZeroDuration());
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    rc = internal::FutexWait(&gen_, seen, &ts);
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  } else if (deadline == absl::InfiniteFuture()) {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    rc = internal::FutexWait(&gen_, seen, nullptr);
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
  } else if (s != nullptr) {
    // Linux never restarts a futex wait that has a timeout, whatever SA_RESTART says; so the
    // deadline is a timer of the scheduler's that wakes this point, and the wait itself has
    // none: a handler with SA_RESTART lets it go on, as it would a system call.
    // Woken by the timer, the caller re-checks its condition and calls again, and the check at
    // the top reports the timeout; a real wake at the deadline is not lost that way.
    Scheduler::TimerId t = s->AddTimer(deadline, [this] { WakeAll(); });
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    rc = internal::FutexWait(&gen_, seen, nullptr);
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
    s->CancelTimer(t);  // waits for it if it is firing: `this` outlives it
  } else {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      rc = ETIMEDOUT;
    } else {
      timespec ts = absl::ToTimespec(left);
      waiters_.fetch_add(1, std::memory_order_seq_cst);
      rc = internal::FutexWait(&gen_, seen, &ts);
      waiters_.fetch_sub(1, std::memory_order_seq_cst);
    }
  }
  l.lock();
  if (rc == ETIMEDOUT) return ETIME;
  if (rc == EINTR || Cancelled(cancel, cancel_seen)) return EINTR;
  return 0;
}

}  // namespace ustreams
