// The message allocator's controls: fault injection for tests and live counts for leak checks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ustreams {

// Process-wide, like the kernel's memory: allocation failures injected here hit every stream.
// Tests use them to drive bufcall(9F)/qbufcall(9F) recovery. Off by default; when off the
// allocator pays one relaxed load.
class AllocFaults {
 public:
  // Fail every n-th allocation from now on (n = 1 fails all). 0 turns this rule off.
  static void FailEveryNth(uint64_t n);
  // Fail every allocation whose payload is at least `size` bytes. 0 turns this rule off.
  static void FailAtLeast(size_t size);
  // Turn all rules off. Memory has "become available": pending bufcalls are run.
  static void Clear();
  // How many allocations were failed on purpose since the process started.
  static uint64_t InjectedFailures();
};

// Live objects, for leak checks at the end of a test (lwIP-style).
struct AllocStats {
  int64_t live_mblks;   // mblk_t handed out and not yet freed
  int64_t live_dblks;   // data blocks (chunks and esballoc headers) not yet released
  int64_t pending_bufcalls;
};
AllocStats GetAllocStats();

}  // namespace ustreams
