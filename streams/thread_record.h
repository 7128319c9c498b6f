// Thread records and asymmetric fences (private to streams/).
//
// Theory of operation
// -------------------
// Two things every call does must cost no shared write: announcing a stream claim (claim.h) and
// protecting the open file a descriptor names while the call uses it (file.h, FileRef). Both
// are the same pattern. The frequent side stores a pointer in a slot of its own thread record,
// then loads a shared word (the claim group's plumbing flag, the descriptor's table slot). The
// rare side (a plumber, the last release of a file) stores the shared word, then scans every
// thread's record. Each side stores, then loads, so at least one must see the other: the Dekker
// pattern, which needs a store-load fence on both sides.
//
// The fence on the frequent side is the expensive one, paid per call. So it is made asymmetric:
// LightFence() only stops the compiler, and HeavyFence() on the rare side makes every running
// thread of the process execute a full fence (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED;
// a thread not running passes one as it is switched out). After HeavyFence() returns, each
// thread either had made its store visible, or has yet to make its load, which then sees the
// rare side's store. Where membarrier is missing (or under ThreadSanitizer, which cannot see
// it), both fences are full fences.
//
// A record is registered the first time its thread needs one, and removed when the thread exits.
// Only the owner writes its slots (and its signal handlers, which nest like calls); any thread
// may read them while it holds the registry through ForEachThread.
#pragma once

#include <atomic>

namespace ustreams::internal {

class ClaimGroup;

struct ThreadRecord {
  // Stream claims, innermost last (claim.cc).
  static constexpr int kMaxClaims = 32;
  std::atomic<ClaimGroup*> held[kMaxClaims] = {};
  int depth = 0;  // owner only

  // Hazard pointers: the open files this thread's calls use now (file.cc). A stack, so a signal
  // handler's call takes the slots above its interrupted call's.
  static constexpr int kHazards = 8;
  std::atomic<const void*> hazard[kHazards] = {};
  int hazards = 0;  // slots in use; owner only

  ThreadRecord* prev = nullptr;  // the registry's list, under its lock
  ThreadRecord* next = nullptr;
};

// The calling thread's record (registered on first use).
ThreadRecord& RegisterThisThread();
inline thread_local ThreadRecord* t_record __attribute__((tls_model("initial-exec"))) = nullptr;
inline ThreadRecord& ThisThread() {
  ThreadRecord* r = t_record;
  return r != nullptr ? *r : RegisterThisThread();
}

// Calls fn(record, arg) for each thread's record, holding the registry (no thread comes or goes).
void ForEachThread(void (*fn)(const ThreadRecord&, void*), void* arg);

// Registers the registry's fork handlers now (see AllocForkInit): after fork() only the forking
// thread's record remains.
void ThreadRecordForkInit();

// The fences (see above). LightFence() orders this thread's earlier stores before its later loads
// as seen by a HeavyFence() caller; HeavyFence() orders its caller's, and every other thread's.
inline std::atomic<bool> g_asymmetric_fences{false};
inline void LightFence() {
#if defined(__SANITIZE_THREAD__) && defined(__x86_64__)
  asm volatile("mfence" ::: "memory");  // ThreadSanitizer rejects atomic_thread_fence
#else
  if (g_asymmetric_fences.load(std::memory_order_relaxed)) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
#endif
}
void HeavyFence();

}  // namespace ustreams::internal
