#include "streams/file.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <new>
#include <vector>

#include "streams/domain.h"
#include "streams/head.h"
#include "streams/mutex.h"

namespace ustreams {

File::File(std::shared_ptr<StreamHead> head, int flags) : head_(std::move(head)), flags_(flags) {}

File::~File() {
  if (head_ == nullptr) return;
  head_->FileClosed(flags());  // the driver hears of each open file's close (FileCloseFn)
  head_->domain()->Release(head_, flags());
}

namespace fdtable {
namespace {

// Two levels, so a lookup never waits for the table to grow: chunks of slots indexed by the
// descriptor's high bits, made on demand and kept. A slot is read under one of 16 striped
// locks, so threads using different descriptors do not share a lock's cache line. The locks are
// spin locks: a lookup holds one for a shared_ptr copy, a few nanoseconds, where a reader-writer
// lock's shared side cost every call two atomic operations and three times the time; a close
// holds it across close(2), and a lookup meeting that yields while it waits.
constexpr int kChunkBits = 10;
constexpr size_t kChunkSize = size_t{1} << kChunkBits;
constexpr size_t kChunks = 1024;  // descriptors below 1 Mi
constexpr size_t kStripes = 16;  // few enough to hold them all across fork()

struct Chunk {
  std::shared_ptr<File> slots[kChunkSize];
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
struct Table {
  std::atomic<Chunk*> chunks[kChunks] = {};
  Stripe stripes[kStripes];
  std::mutex grow_mu;
};

Table& T() {
  static Table* t = [] {
    auto* table = new Table;  // outlives static destructors: descriptors may close late
    // fork(): the child gets the table with no lock held (its descriptors are the parent's).
    pthread_atfork(
        [] {
          T().grow_mu.lock();
          for (Stripe& s : T().stripes) s.mu.lock();
        },
        [] {
          for (Stripe& s : T().stripes) s.mu.unlock();
          T().grow_mu.unlock();
        },
        [] {
          for (Stripe& s : T().stripes) s.mu.Reset();
          new (&T().grow_mu) std::mutex();
        });
    return table;
  }();
  return *t;
}

SpinLock& StripeOf(int fd) { return T().stripes[static_cast<size_t>(fd) % kStripes].mu; }

Chunk* ChunkOf(int fd, bool make) {
  Table& t = T();
  size_t i = static_cast<size_t>(fd) >> kChunkBits;
  if (i >= kChunks) return nullptr;
  Chunk* c = t.chunks[i].load(std::memory_order_acquire);
  if (c != nullptr || !make) return c;
  std::lock_guard<std::mutex> l(t.grow_mu);
  c = t.chunks[i].load(std::memory_order_relaxed);
  if (c == nullptr) {
    c = new Chunk;
    t.chunks[i].store(c, std::memory_order_release);
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
  c->slots[static_cast<size_t>(fd) & (kChunkSize - 1)] = std::move(f);
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
    f = std::move(c->slots[static_cast<size_t>(fd) & (kChunkSize - 1)]);
    if (f == nullptr) return nullptr;
    // Closed under the lock: the number cannot be reused (and installed) before it is free.
    close(fd);
  }
  f->head()->DropDescriptor();
  return f;
}

void ForkInit() { (void)T(); }

int Count() {
  Table& t = T();
  int n = 0;
  for (size_t i = 0; i < kChunks; i++) {
    Chunk* c = t.chunks[i].load(std::memory_order_acquire);
    if (c == nullptr) continue;
    for (size_t j = 0; j < kChunkSize; j++) {
      int fd = static_cast<int>((i << kChunkBits) | j);
      std::lock_guard<SpinLock> l(StripeOf(fd));
      n += c->slots[j] != nullptr;
    }
  }
  return n;
}

}  // namespace fdtable
}  // namespace ustreams
