#include "streams/file.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <new>
#include <vector>

#include "streams/domain.h"
#include "streams/head.h"
#include "streams/mutex.h"
#include "streams/thread_record.h"

namespace ustreams {

File::File(std::shared_ptr<StreamHead> head, int flags) : head_(std::move(head)), flags_(flags) {}

namespace fdtable {
void RetireFile(File* f);
}

std::shared_ptr<File> File::Make(std::shared_ptr<StreamHead> head, int flags) {
  return std::shared_ptr<File>(new File(std::move(head), flags), &fdtable::RetireFile);
}

File::~File() {
  if (head_ == nullptr) return;
  head_->FileClosed(flags());  // the driver hears of each open file's close (FileCloseFn)
  head_->domain()->Release(head_, flags());
}

namespace fdtable {
namespace {

// Two levels, so a lookup never waits for the table to grow: chunks of slots indexed by the
// descriptor's high bits, made on demand and kept. A slot holds the file twice: the reference
// that keeps it open, changed and copied under one of 16 striped locks (so threads using
// different descriptors do not share a lock's cache line), and its plain address, which a
// FileRef reads with no lock at all. The locks are spin locks: a lookup holds one for a
// shared_ptr copy, a few nanoseconds; a close holds it across close(2), and a lookup meeting
// that yields while it waits.
using detail::kChunkBits;
using detail::kChunks;
using detail::kChunkSize;
constexpr size_t kStripes = 16;  // few enough to hold them all across fork()

struct Chunk {
  std::shared_ptr<File> slots[kChunkSize];
  std::atomic<File*> files[kChunkSize] = {};  // slots[i].get(), for FileRef
};
class SpinLock {
 public:
  void lock() {
    for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); spins++) {
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins < 1000) {
          CpuRelax();
        } else {
          sched_yield();
        }
      }
    }
  }
  void unlock() { locked_.store(false, std::memory_order_release); }
  void Reset() { locked_.store(false, std::memory_order_relaxed); }  // in a fork()ed child

 private:
  std::atomic<bool> locked_{false};
};

struct alignas(64) Stripe {
  SpinLock mu;
};
// The chunks, apart from the rest of the table: a FileRef reads them with no initialisation
// guard in the way (constant-initialised).
constinit std::atomic<Chunk*> g_chunks[kChunks] = {};
struct Table {
  Stripe stripes[kStripes];
  std::mutex grow_mu;
  // Files whose last reference went while a FileRef still named them (RetireFile).
  std::mutex retired_mu;
  std::vector<File*> retired;
};
using detail::g_retired;
// Set in a fork()ed child that inherited retired files (see ~FileRef).
std::atomic<bool> g_sweep_after_fork{false};

Table& T() {
  static Table* t = [] {
    // The thread registry's fork handlers first: Reap takes retired_mu, then the registry's
    // lock, and fork's prepare handlers run in the reverse order of registration.
    internal::ThreadRecordForkInit();
    auto* table = new Table;  // outlives static destructors: descriptors may close late
    // fork(): the child gets the table with no lock held (its descriptors are the parent's).
    pthread_atfork(
        [] {
          T().retired_mu.lock();
          T().grow_mu.lock();
          for (Stripe& s : T().stripes) s.mu.lock();
        },
        [] {
          for (Stripe& s : T().stripes) s.mu.unlock();
          T().grow_mu.unlock();
          T().retired_mu.unlock();
        },
        [] {
          for (Stripe& s : T().stripes) s.mu.Reset();
          new (&T().grow_mu) std::mutex();
          new (&T().retired_mu) std::mutex();
          if (!T().retired.empty()) g_sweep_after_fork.store(true);
        });
    return table;
  }();
  return *t;
}

SpinLock& StripeOf(int fd) { return T().stripes[static_cast<size_t>(fd) % kStripes].mu; }

Chunk* ChunkOf(int fd, bool make) {
  size_t i = static_cast<size_t>(fd) >> kChunkBits;
  if (i >= kChunks) return nullptr;
  Chunk* c = g_chunks[i].load(std::memory_order_acquire);
  if (c != nullptr || !make) return c;
  std::lock_guard<std::mutex> l(T().grow_mu);
  c = g_chunks[i].load(std::memory_order_relaxed);
  if (c == nullptr) {
    c = new Chunk;
    // FileRef's view first: a descriptor installed through g_chunks (by any thread that sees
    // it) must be found by a FileRef at once.
    detail::g_files[i].store(c->files, std::memory_order_release);
    g_chunks[i].store(c, std::memory_order_release);
  }
  return c;
}

}  // namespace

int Install(std::shared_ptr<File> f, int min_fd, bool cloexec) {
  int efd = f->head()->EventFd();
  if (efd < 0) return efd;
  int fd = fcntl(efd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min_fd);
  if (fd < 0) return -errno;
  Chunk* c = ChunkOf(fd, true);
  if (c == nullptr) {
    close(fd);
    return -EMFILE;
  }
  f->head()->AddDescriptor();  // not under a table lock: heads take those under theirs
  std::lock_guard<SpinLock> l(StripeOf(fd));
  size_t j = static_cast<size_t>(fd) & (kChunkSize - 1);
  c->files[j].store(f.get(), std::memory_order_release);
  c->slots[j] = std::move(f);
  return fd;
}

std::shared_ptr<File> Lookup(int fd) {
  if (fd < 0) return nullptr;
  Chunk* c = ChunkOf(fd, false);
  if (c == nullptr) return nullptr;
  std::lock_guard<SpinLock> l(StripeOf(fd));
  return c->slots[static_cast<size_t>(fd) & (kChunkSize - 1)];
}

std::shared_ptr<File> Remove(int fd) {
  if (fd < 0) return nullptr;
  Chunk* c = ChunkOf(fd, false);
  if (c == nullptr) return nullptr;
  std::shared_ptr<File> f;
  {
    std::lock_guard<SpinLock> l(StripeOf(fd));
    size_t j = static_cast<size_t>(fd) & (kChunkSize - 1);
    f = std::move(c->slots[j]);
    if (f == nullptr) return nullptr;
    c->files[j].store(nullptr, std::memory_order_relaxed);
    // Closed under the lock: the number cannot be reused (and installed) before it is free.
    close(fd);
  }
  f->head()->DropDescriptor();
  return f;
}

void ForkInit() { (void)T(); }

int Retired() { return static_cast<int>(g_retired.load(std::memory_order_relaxed)); }

int Count() {
  int n = 0;
  for (size_t i = 0; i < kChunks; i++) {
    Chunk* c = g_chunks[i].load(std::memory_order_acquire);
    if (c == nullptr) continue;
    for (size_t j = 0; j < kChunkSize; j++) {
      int fd = static_cast<int>((i << kChunkBits) | j);
      std::lock_guard<SpinLock> l(StripeOf(fd));
      n += c->slots[j] != nullptr;
    }
  }
  return n;
}

// ---- the last release of a file (see FileRef) ----

namespace {

// Whether a thread's FileRef names f.
bool InUse(const File* f) {
  struct Scan {
    const File* f;
    bool found = false;
  } scan{f};
  internal::ForEachThread(
      [](const internal::ThreadRecord& t, void* arg) {
        auto* s = static_cast<Scan*>(arg);
        for (int i = 0; i < internal::ThreadRecord::kHazards && !s->found; i++) {
          s->found = t.hazard[i].load(std::memory_order_acquire) == s->f;
        }
      },
      &scan);
  return scan.found;
}

// Deletes f if it is retired and no FileRef names it any more; f == nullptr: every such file.
// A thread reaps only the file its own FileRef named (another file's close, which may wait to
// drain, is not an unrelated call's to run), except after fork().
void Reap(const File* f) {
  Table& t = T();
  std::vector<File*> dead;
  {
    std::lock_guard<std::mutex> l(t.retired_mu);
    if (f != nullptr && std::find(t.retired.begin(), t.retired.end(), f) == t.retired.end()) {
      return;  // another thread's Reap took it
    }
    internal::HeavyFence();  // each FileRef's end is visible, or will see g_retired
    for (auto it = t.retired.begin(); it != t.retired.end();) {
      if ((f == nullptr || *it == f) && !InUse(*it)) {
        dead.push_back(*it);
        it = t.retired.erase(it);
      } else {
        ++it;
      }
    }
    g_retired.store(t.retired.size(), std::memory_order_relaxed);
  }
  for (File* d : dead) delete d;  // the stream's close, with no table lock held
}

}  // namespace

// The deleter of every File (File::Make): runs when its last reference goes. Its descriptors
// are gone by then, so each FileRef naming it has published its hazard, or will see the table's
// slot changed; after the heavy fence, a scan tells which.
void RetireFile(File* f) {
  internal::HeavyFence();
  if (!InUse(f)) {
    delete f;
    return;
  }
  Table& t = T();
  {
    std::lock_guard<std::mutex> l(t.retired_mu);
    t.retired.push_back(f);
    g_retired.store(t.retired.size(), std::memory_order_relaxed);
  }
  // A FileRef that ended before the count went up (and so will not look) has ended for Reap's
  // scan too; one that ends after sees the count and reaps.
  Reap(f);
}

}  // namespace fdtable

void FileRef::Strong(int fd) {
  strong_ = fdtable::Lookup(fd);
  file_ = strong_.get();
}

// The inline constructor's loop, from where it found the table's slot changing (slot -1: the
// thread has no record yet, or no hazard slot free).
void FileRef::Settle(int fd, std::atomic<File*>& in_table, int slot, File* named) {
  internal::ThreadRecord& r = internal::ThisThread();
  if (slot < 0) {
    if (r.hazards == internal::ThreadRecord::kHazards) {
      Strong(fd);
      return;
    }
    slot = r.hazards;
    r.hazards = slot + 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);  // a handler's call takes the next slot
  }
  File* f = in_table.load(std::memory_order_acquire);
  for (;;) {
    r.hazard[slot].store(f, std::memory_order_relaxed);
    internal::LightFence();  // the hazard's store before the table's second look
    // A file the slot named and no longer does may have been retired meanwhile, seen in use by
    // this slot: its reaping is this thread's, as at a FileRef's end.
    if (named != nullptr && named != f && fdtable::g_retired.load(std::memory_order_relaxed) != 0) {
      fdtable::Reap(named);
    }
    named = f;
    if (f == nullptr) break;
    File* again = in_table.load(std::memory_order_acquire);
    if (again == f) break;
    f = again;
  }
  if (f == nullptr) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    r.hazards = slot;
    return;
  }
  file_ = f;
  slot_ = slot;
}

void FileRef::End() {
  // In a fork()ed child, files retired for threads the child does not have are this thread's
  // to reap too (once).
  fdtable::Reap(fdtable::g_sweep_after_fork.exchange(false) ? nullptr : file_);
}

}  // namespace ustreams
