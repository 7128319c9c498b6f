// Stream claims (private to streams/; see stream.h for what they protect).
//
// Theory of operation
// -------------------
// A claim says "this thread is inside the stream: keep its q_next pointers where they are". It
// is taken on every entry into a stream from outside (every read, write, service procedure,
// callback, cross-stream putnext), so it must cost no shared write: a thread announces a claim
// by storing the group in a slot of its own (a per-thread record, registered once), then checks
// the group's plumbing flag. A plumber sets the flag first, then scans every thread's record and
// waits until none announces the group. Both sides store, then load, across the asymmetric
// fences of thread_record.h (a claim's only stops the compiler; the plumber's makes every thread
// fence), so at least one sees the other (the Dekker pattern): a claim either sees the plumbing
// and steps back, or the plumber sees the claim and waits for it.
//
// Claims nest (a thread inside a stream may claim it again, or claim another stream it hands a
// message to), and a thread never waits for a plumbing change of a stream it already claims.
//
// Groups are type-stable: a group that is no longer used goes back to a pool and is reused as a
// group, never freed, so a claimer that touches it just after its last release (to notify a
// plumber) touches a group, not freed memory.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "streams/thread_record.h"

namespace ustreams::internal {

class ClaimGroup {
 public:
  // A group from the pool (reset), returned to it when the last pointer goes.
  static std::shared_ptr<ClaimGroup> Make();

  // Inline for the usual case, a thread entering from outside (no claim held yet) and leaving;
  // nested claims and a plumbing change under way take the general way (claim.cc).
  void Claim();
  void Unclaim();
  void BeginPlumbing();
  void EndPlumbing();

 private:
  friend struct ClaimPool;
  ClaimGroup() = default;
  bool HeldAnywhere();  // under claim_mu_
  void ClaimSlow();
  void UnclaimSlow();
  void NotifyPlumber();

  std::mutex plumb_mu_;  // one plumbing change at a time
  std::atomic<bool> plumbing_{false};
  std::mutex claim_mu_;
  std::condition_variable claim_cv_;
};

// Registers the claim registry's fork handlers now (see AllocForkInit).
void ClaimForkInit();

// The innermost claim group this thread holds (putnext's fast check).
inline thread_local ClaimGroup* t_claim_group __attribute__((tls_model("initial-exec"))) = nullptr;

// A slot being filled (Claim): not a group, not empty.
inline ClaimGroup* FillingMark() { return reinterpret_cast<ClaimGroup*>(alignof(ClaimGroup)); }

inline void ClaimGroup::Claim() {
  ThreadRecord* r = t_record;
  if (r == nullptr || r->depth != 0) [[unlikely]] {
    ClaimSlow();
    return;
  }
  // As ClaimSlow does at depth 0 (see there): mark, count, fill, then look for a plumber.
  r->held[0].store(FillingMark(), std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  r->depth = 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  r->held[0].store(this, std::memory_order_relaxed);
  t_claim_group = this;
  LightFence();  // the slot's store before the flag's load (thread_record.h)
  if (!plumbing_.load(std::memory_order_acquire)) [[likely]] return;
  // A plumbing change is under way: step back and take the general way, which waits for it.
  r->depth = 0;
  r->held[0].store(nullptr, std::memory_order_seq_cst);
  t_claim_group = nullptr;
  ClaimSlow();
}

inline void ClaimGroup::Unclaim() {
  ThreadRecord* r = t_record;
  if (r == nullptr || r->depth != 1 || r->held[0].load(std::memory_order_relaxed) != this)
      [[unlikely]] {
    UnclaimSlow();
    return;
  }
  // Release: the work inside the stream is ordered before the slot clears (see UnclaimSlow).
  r->held[0].store(nullptr, std::memory_order_release);
  r->depth = 0;
  t_claim_group = nullptr;
  if (plumbing_.load(std::memory_order_seq_cst)) [[unlikely]] NotifyPlumber();
}

}  // namespace ustreams::internal
