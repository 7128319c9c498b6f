// Mutex: the lock of a stream head (and of the waits on it). One type for every head lock, so
// the kind of lock is chosen in one place.
//
// Taking it is one compare-and-swap; letting it go is a plain store and a load, no locked
// instruction: the release stores "free", then looks whether anyone sleeps. That store-then-load
// races a sleeper's count-then-look the other way (the Dekker pattern), so a thread about to
// sleep pays for both sides: it counts itself, makes every thread fence (HeavyFence, see
// thread_record.h), and only then looks at the lock once more and sleeps in a futex. Contention
// on a head's lock is rare (writers hand messages to the inbox without it), so the heavy fence
// is paid rarely, and the release, paid by every call, stays cheap.
//
// Letting go touches the mutex after the store that frees it (the sleepers' count), so whoever
// destroys a Mutex must know no thread is still letting it go: a stream head is destroyed only
// once no call holds its file or a claim on its stream.
//
// (Measured on the two-core machines here: an adaptive mutex that spins long took the pipe burst
// benchmark from ~900k to ~600k messages/s; so a taker spins only briefly before it sleeps.)
#pragma once

#include <atomic>
#include <cstdint>

#include "streams/cpu.h"
#include "streams/thread_record.h"

namespace ustreams {

class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    Acquire();
    if (hook_ != nullptr) hook_(hook_arg_);
  }
  // Takes the lock without running the hook: for a taker that runs it itself if it must (a
  // stream head's read, which may take the inbox's bytes as they are).
  void LockWithoutHook() { Acquire(); }
  void unlock() {
    word_.store(0, std::memory_order_release);
    internal::LightFence();  // the store before the sleepers' look (LockSlow's heavy fence)
    if (sleepers_.load(std::memory_order_relaxed) != 0) WakeOne();
  }
  bool try_lock() {
    if (!TryAcquire()) return false;
    if (hook_ != nullptr) hook_(hook_arg_);
    return true;
  }

  // Runs fn(arg) each time the lock is taken, before the taker goes on (a stream head moves what
  // writers left in its inbox onto its read queue, so all that runs under its lock sees one
  // queue). Set before the lock is shared.
  void SetAcquireHook(void (*fn)(void*), void* arg) {
    hook_ = fn;
    hook_arg_ = arg;
  }

 private:
  bool TryAcquire() {
    uint32_t free = 0;
    return word_.compare_exchange_strong(free, 1, std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }
  void Acquire() {
    if (!TryAcquire()) LockSlow();
  }
  void LockSlow();
  void WakeOne();

  std::atomic<uint32_t> word_{0};      // 1: held
  std::atomic<uint32_t> sleepers_{0};  // takers asleep or about to sleep in a futex on word_
  void (*hook_)(void*) = nullptr;
  void* hook_arg_ = nullptr;
};

}  // namespace ustreams
