// The two futex(2) calls the library sleeps and wakes with (private to streams/).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace ustreams::internal {

// Sleeps while *word == seen. Returns 0 when woken or the value differed, ETIMEDOUT, or EINTR.
inline int FutexWait(std::atomic<uint32_t>* word, uint32_t seen, const timespec* rel) {
  long r = syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT_PRIVATE, seen, rel,
                   nullptr, 0);
  if (r == 0) return 0;
  if (errno == EAGAIN) return 0;
  return errno;  // ETIMEDOUT, EINTR
}

// Wakes up to n sleepers on word.
inline void FutexWake(std::atomic<uint32_t>* word, int n) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE_PRIVATE, n, nullptr, nullptr,
          0);
}

}  // namespace ustreams::internal
