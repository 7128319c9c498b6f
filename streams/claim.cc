#include "streams/claim.h"

#include <pthread.h>

#include <chrono>
#include <new>
#include <vector>

#include "streams/debug.h"

namespace ustreams::internal {
namespace {

// Each thread's announced claims, innermost last. Only the owner writes; plumbers read.
struct ThreadClaims {
  static constexpr int kMax = 32;
  std::atomic<ClaimGroup*> held[kMax] = {};
  int depth = 0;  // owner only
  ThreadClaims* prev = nullptr;
  ThreadClaims* next = nullptr;
  ThreadClaims();
  ~ThreadClaims();
};

thread_local ThreadClaims* t_rec = nullptr;

// Every thread's record. The mutex is taken by plumbers (to scan) and by threads coming and
// going, never by a claim.
struct Registry {
  std::mutex mu;
  ThreadClaims* head = nullptr;
};
Registry& Threads() {
  static Registry* r = [] {
    auto* reg = new Registry;  // lives for the process: threads may exit during static teardown
    // After fork() only the forking thread exists: forget the others' records (and a lock one of
    // them may have held).
    pthread_atfork([] { Threads().mu.lock(); }, [] { Threads().mu.unlock(); },
                   [] {
                     Registry& t = Threads();
                     new (&t.mu) std::mutex();
                     t.head = t_rec;  // the forking thread's record only
                     if (t_rec != nullptr) t_rec->prev = t_rec->next = nullptr;
                   });
    return reg;
  }();
  return *r;
}

ThreadClaims::ThreadClaims() {
  Registry& r = Threads();
  std::lock_guard<std::mutex> l(r.mu);
  next = r.head;
  if (next != nullptr) next->prev = this;
  r.head = this;
}

ThreadClaims::~ThreadClaims() {
  Registry& r = Threads();
  std::lock_guard<std::mutex> l(r.mu);
  if (prev != nullptr) prev->next = next;
  if (next != nullptr) next->prev = prev;
  if (r.head == this) r.head = next;
  t_rec = nullptr;
}

ThreadClaims& Rec() {
  if (t_rec == nullptr) {
    static thread_local ThreadClaims rec;  // registers itself
    t_rec = &rec;
  }
  return *t_rec;
}

bool HoldsAlready(const ThreadClaims& r, ClaimGroup* g) {
  for (int i = 0; i < r.depth; i++) {
    if (r.held[i].load(std::memory_order_relaxed) == g) return true;
  }
  return false;
}

void SetInnermost(const ThreadClaims& r) {
  t_claim_group = r.depth > 0 ? r.held[r.depth - 1].load(std::memory_order_relaxed) : nullptr;
}

}  // namespace

void ClaimForkInit() { (void)Threads(); }

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

void ClaimGroup::Claim() {
  ThreadClaims& r = Rec();
  STREAMS_RULE(r.depth < ThreadClaims::kMax, "stream claims nest a bounded number of times",
               "too many nested stream claims in one thread (a putnext loop across streams?)");
  bool nested = HoldsAlready(r, this);
  for (;;) {
    r.held[r.depth].store(this, std::memory_order_seq_cst);
    r.depth++;
    t_claim_group = this;
    // Inside already: a plumber waits for us, so we must not wait for it.
    if (nested || !plumbing_.load(std::memory_order_seq_cst)) return;
    // A plumbing change is under way: step back, let it finish, try again.
    r.depth--;
    r.held[r.depth].store(nullptr, std::memory_order_seq_cst);
    SetInnermost(r);
    std::unique_lock<std::mutex> l(claim_mu_);
    claim_cv_.notify_all();
    claim_cv_.wait(l, [&] { return !plumbing_.load(); });
  }
}

void ClaimGroup::Unclaim() {
  ThreadClaims& r = Rec();
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
  if (plumbing_.load(std::memory_order_seq_cst)) {
    std::lock_guard<std::mutex> l(claim_mu_);
    claim_cv_.notify_all();
  }
}

bool ClaimGroup::HeldAnywhere() {
  Registry& reg = Threads();
  std::lock_guard<std::mutex> l(reg.mu);
  for (ThreadClaims* t = reg.head; t != nullptr; t = t->next) {
    for (int i = 0; i < ThreadClaims::kMax; i++) {
      if (t->held[i].load(std::memory_order_seq_cst) == this) return true;
    }
  }
  return false;
}

void ClaimGroup::BeginPlumbing() {
  STREAMS_RULE(!HoldsAlready(Rec(), this), "plumbing changes are made from outside the stream",
               "qprocson/qprocsoff/push/pop called from a put or service procedure");
  plumb_mu_.lock();
  plumbing_.store(true, std::memory_order_seq_cst);
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
