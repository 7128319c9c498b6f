// Checks of the addresses an application passes (private to streams/).
//
// A kernel finds a bad buffer when its copy faults and answers EFAULT. This library runs in the
// caller's address space and copies with memcpy, where a bad address would crash the process;
// so every address a call is about to copy through is checked first, and one that cannot be
// the caller's memory is EFAULT where the kernel would report it: null (with a length), inside
// the first page, or reaching past the top of user space, as (void*)-1 does (the conventional
// "invalid address" of test suites). An address inside the user range that is simply not
// mapped is not detected (that would cost a system call per copy).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ustreams::internal {

// The top of user space on x86-64 and arm64 with 5-level page tables; above it (and at the
// canonical kernel half) nothing is the caller's.
inline constexpr uintptr_t kUserTop = uintptr_t{1} << 56;
inline constexpr uintptr_t kFirstPage = 4096;

// True when [p, p + len) cannot be the caller's memory. len 0 is never bad (nothing copied).
inline bool BadAddress(const void* p, size_t len) {
  if (len == 0) return false;
  const auto a = reinterpret_cast<uintptr_t>(p);
  return a < kFirstPage || a >= kUserTop || len > kUserTop - a;
}

}  // namespace ustreams::internal
