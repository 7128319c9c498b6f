#include "modules/ip/rcu.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <thread>

#include "absl/base/internal/raw_logging.h"

namespace ustreams::ip {
namespace {

// One per thread that ever read, never freed: the registry is a list that only grows (a slot
// whose thread exited is reused by the next new reader thread), so writers walk it without a
// lock.
struct alignas(64) ReaderSlot {
  std::atomic<uint64_t> epoch{0};  // 0: not in a read section
  std::atomic<bool> in_use{false};
  ReaderSlot* next = nullptr;  // set before the slot is published, then immutable
};

constinit std::atomic<uint64_t> g_epoch{1};
constinit std::atomic<ReaderSlot*> g_slots{nullptr};

ReaderSlot* AcquireSlot() {
  for (ReaderSlot* s = g_slots.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    bool expected = false;
    if (!s->in_use.load(std::memory_order_relaxed) &&
        s->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      return s;
    }
  }
  auto* s = new ReaderSlot;
  s->in_use.store(true, std::memory_order_relaxed);
  ReaderSlot* head = g_slots.load(std::memory_order_relaxed);
  do {
    s->next = head;
  } while (!g_slots.compare_exchange_weak(head, s, std::memory_order_release,
                                          std::memory_order_relaxed));
  return s;
}

struct ThreadReader {
  ReaderSlot* slot = nullptr;
  int nesting = 0;
  ~ThreadReader() {
    if (slot == nullptr) return;
    slot->epoch.store(0, std::memory_order_release);
    slot->in_use.store(false, std::memory_order_release);
  }
};

thread_local ThreadReader t_reader;

// The smallest epoch of a reader inside a section, or the maximum if there is none.
uint64_t OldestReaderEpoch() {
  uint64_t oldest = std::numeric_limits<uint64_t>::max();
  for (ReaderSlot* s = g_slots.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    uint64_t e = s->epoch.load(std::memory_order_seq_cst);
    if (e != 0) oldest = std::min(oldest, e);
  }
  return oldest;
}

}  // namespace

RcuReadGuard::RcuReadGuard() {
  ThreadReader& t = t_reader;
  if (t.nesting++ != 0) return;
  if (t.slot == nullptr) t.slot = AcquireSlot();
  t.slot->epoch.store(g_epoch.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
}

RcuReadGuard::~RcuReadGuard() {
  ThreadReader& t = t_reader;
  if (--t.nesting == 0) t.slot->epoch.store(0, std::memory_order_release);
}

void RcuRetireList::Retire(const void* p, void (*free_fn)(const void*)) {
  unstamped_.push_back(Item{p, free_fn, 0});
}

size_t RcuRetireList::Reclaim() {
  if (!unstamped_.empty()) {
    // Everything in unstamped_ was unpublished before this point; readers that read the epoch
    // after the increment started after the unpublication.
    uint64_t stamp = g_epoch.fetch_add(1, std::memory_order_seq_cst);
    for (Item& it : unstamped_) {
      it.stamp = stamp;
      stamped_.push_back(it);
    }
    unstamped_.clear();
  }
  if (stamped_.empty()) return 0;
  uint64_t oldest = OldestReaderEpoch();
  size_t n = 0;
  while (n < stamped_.size() && stamped_[n].stamp < oldest) {
    stamped_[n].free_fn(stamped_[n].p);
    ++n;
  }
  stamped_.erase(stamped_.begin(), stamped_.begin() + static_cast<ptrdiff_t>(n));
  return n;
}

RcuRetireList::~RcuRetireList() {
  if (pending() == 0) return;
  RcuSynchronize();
  for (Item& it : stamped_) it.free_fn(it.p);
  for (Item& it : unstamped_) it.free_fn(it.p);
}

void RcuSynchronize() {
  ABSL_RAW_CHECK(t_reader.nesting == 0, "RcuSynchronize inside a read section");
  uint64_t stamp = g_epoch.fetch_add(1, std::memory_order_seq_cst);
  while (OldestReaderEpoch() <= stamp) std::this_thread::yield();
}

}  // namespace ustreams::ip
