#include "streams/mutex.h"

#include "streams/futex.h"

namespace ustreams {

void Mutex::LockSlow() {
  // A holder usually lets go within a few hundred nanoseconds: look a few times first.
  for (int i = 0; i < 64; i++) {
    CpuRelax();
    if (word_.load(std::memory_order_relaxed) == 0 && TryAcquire()) return;
  }
  sleepers_.fetch_add(1, std::memory_order_seq_cst);
  // Every holder's release is now visible to the look below, or its own look at sleepers_
  // comes after this count (mutex.h).
  internal::HeavyFence();
  while (!TryAcquire()) internal::FutexWait(&word_, 1, nullptr);
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

void Mutex::WakeOne() { internal::FutexWake(&word_, 1); }

}  // namespace ustreams
