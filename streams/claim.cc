#include "streams/claim.h"

#include <chrono>
#include <vector>

#include "streams/debug.h"
#include "streams/thread_record.h"

namespace ustreams::internal {
namespace {

bool HoldsAlready(const ThreadRecord& r, ClaimGroup* g) {
  for (int i = 0; i < r.depth; i++) {
    if (r.held[i].load(std::memory_order_relaxed) == g) return true;
  }
  return false;
}


void SetInnermost(const ThreadRecord& r) {
  t_claim_group = r.depth > 0 ? r.held[r.depth - 1].load(std::memory_order_relaxed) : nullptr;
}

}  // namespace

void ClaimForkInit() { ThreadRecordForkInit(); }

// ---- the pool ----

struct ClaimPool {
  std::mutex mu;
  std::vector<ClaimGroup*> free;
  static ClaimPool& Get() {
    static ClaimPool* p = new ClaimPool;
    return *p;
  }
};

std::shared_ptr<ClaimGroup> ClaimGroup::Make() {
  ClaimPool& pool = ClaimPool::Get();
  ClaimGroup* g = nullptr;
  {
    std::lock_guard<std::mutex> l(pool.mu);
    if (!pool.free.empty()) {
      g = pool.free.back();
      pool.free.pop_back();
    }
  }
  if (g == nullptr) g = new ClaimGroup;
  return std::shared_ptr<ClaimGroup>(g, [](ClaimGroup* dead) {
    dead->plumbing_.store(false);
    ClaimPool& p = ClaimPool::Get();
    std::lock_guard<std::mutex> l(p.mu);
    p.free.push_back(dead);
  });
}

// ---- claims ----

void ClaimGroup::ClaimSlow() {
  ThreadRecord& r = ThisThread();
  STREAMS_RULE(r.depth < ThreadRecord::kMaxClaims, "stream claims nest a bounded number of times",
               "too many nested stream claims in one thread (a putnext loop across streams?)");
  bool nested = HoldsAlready(r, this);
  for (;;) {
    // Mark the slot, count it, then fill it: a signal handler's claim before the count takes
    // this slot and leaves it empty, one after takes the next, and its release stops popping
    // empty slots at the marked one.
    const int d = r.depth;
    r.held[d].store(FillingMark(), std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    r.depth = d + 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    r.held[d].store(this, std::memory_order_relaxed);
    t_claim_group = this;
    // Inside already: a plumber waits for us, so we must not wait for it.
    if (nested) return;
    LightFence();  // the slot's store before the flag's load (thread_record.h)
    if (!plumbing_.load(std::memory_order_acquire)) return;
    // A plumbing change is under way: step back, let it finish, try again.
    r.depth--;
    r.held[r.depth].store(nullptr, std::memory_order_seq_cst);
    SetInnermost(r);
    std::unique_lock<std::mutex> l(claim_mu_);
    claim_cv_.notify_all();
    claim_cv_.wait(l, [&] { return !plumbing_.load(); });
  }
}

void ClaimGroup::UnclaimSlow() {
  ThreadRecord& r = ThisThread();
  int i = r.depth - 1;
  while (i >= 0 && r.held[i].load(std::memory_order_relaxed) != this) i--;
  STREAMS_RULE(i >= 0, "a stream claim is released by the thread that took it",
               "Unclaim() without Claim()");
  // Release, not sequentially consistent: the work inside the stream is ordered before the slot
  // clears, and a plumber that still sees the claim waits (its wait re-scans within a
  // millisecond) where a full fence here would cost every call.
  r.held[i].store(nullptr, std::memory_order_release);
  while (r.depth > 0 && r.held[r.depth - 1].load(std::memory_order_relaxed) == nullptr) r.depth--;
  SetInnermost(r);
  if (plumbing_.load(std::memory_order_seq_cst)) NotifyPlumber();
}

void ClaimGroup::NotifyPlumber() {
  std::lock_guard<std::mutex> l(claim_mu_);
  claim_cv_.notify_all();
}

bool ClaimGroup::HeldAnywhere() {
  struct Scan {
    ClaimGroup* g;
    bool held = false;
  } scan{this};
  ForEachThread(
      [](const ThreadRecord& t, void* arg) {
        auto* s = static_cast<Scan*>(arg);
        for (int i = 0; i < ThreadRecord::kMaxClaims && !s->held; i++) {
          s->held = t.held[i].load(std::memory_order_acquire) == s->g;
        }
      },
      &scan);
  return scan.held;
}

void ClaimGroup::BeginPlumbing() {
  STREAMS_RULE(!HoldsAlready(ThisThread(), this), "plumbing changes are made from outside the stream",
               "qprocson/qprocsoff/push/pop called from a put or service procedure");
  plumb_mu_.lock();
  plumbing_.store(true, std::memory_order_seq_cst);
  HeavyFence();  // every claim under way is now in its slot, or will see the flag
  std::unique_lock<std::mutex> l(claim_mu_);
  // Claimers notify under claim_mu_ as they leave; the timeout only guards the unexpected.
  while (HeldAnywhere()) claim_cv_.wait_for(l, std::chrono::milliseconds(1));
}

void ClaimGroup::EndPlumbing() {
  {
    std::lock_guard<std::mutex> l(claim_mu_);
    plumbing_.store(false, std::memory_order_seq_cst);
  }
  claim_cv_.notify_all();
  plumb_mu_.unlock();
}

}  // namespace ustreams::internal
