#include "streams/thread_record.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>

namespace ustreams::internal {
namespace {

// Every thread's record. The mutex is taken by rare sides (to scan) and by threads coming and
// going, never by the frequent side.
struct Registry {
  std::mutex mu;
  ThreadRecord* head = nullptr;
  ThreadRecord* orphans = nullptr;  // in a fork()ed child: the records of threads it lacks
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
                     // The forking thread's record only; the others' threads do not exist
                     // here, so their records are kept aside (never scanned nor freed).
                     ThreadRecord* self = t_record;
                     if (self != nullptr) {
                       if (self->prev != nullptr) self->prev->next = self->next;
                       if (self->next != nullptr) self->next->prev = self->prev;
                       if (t.head == self) t.head = self->next;
                       self->prev = self->next = nullptr;
                     }
                     if (t.head != nullptr) {  // after the orphans of earlier forks
                       ThreadRecord* last = t.head;
                       while (last->next != nullptr) last = last->next;
                       last->next = t.orphans;
                       t.orphans = t.head;
                     }
                     t.head = self;
                   });
    return reg;
  }();
  return *r;
}

// A thread's record is on the heap, removed and freed by a thread-specific key's destructor as
// the thread exits. Those run after the thread's C++ thread_local destructors, so a call made
// from one of those still has its record; a call made from another key's destructor after
// this one registers a new record, freed in the destructors' next round.
void Unregister(void* p) {
  auto* rec = static_cast<ThreadRecord*>(p);
  {
    Registry& r = Threads();
    std::lock_guard<std::mutex> l(r.mu);
    if (rec->prev != nullptr) rec->prev->next = rec->next;
    if (rec->next != nullptr) rec->next->prev = rec->prev;
    if (r.head == rec) r.head = rec->next;
  }
  if (t_record == rec) t_record = nullptr;
  delete rec;
}

pthread_key_t RecordKey() {
  static const pthread_key_t key = [] {
    pthread_key_t k;
    if (pthread_key_create(&k, &Unregister) != 0) {
      std::fprintf(stderr, "ustreams: pthread_key_create failed\n");
      std::abort();
    }
    return k;
  }();
  return key;
}

long Membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

// Whether HeavyFence() may use membarrier: decided once, before any light side may rely on it
// (LightFence() reads g_asymmetric_fences, set only here, after the registration succeeded).
bool AsymmetricFences() {
  static const bool on = [] {
#if defined(__SANITIZE_THREAD__)
    return false;
#else
    long cmds = Membarrier(MEMBARRIER_CMD_QUERY);
    if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return false;
    if (Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) != 0) return false;
    g_asymmetric_fences.store(true, std::memory_order_release);
    return true;
#endif
  }();
  return on;
}

}  // namespace

ThreadRecord& RegisterThisThread() {
  const pthread_key_t key = RecordKey();
  auto* rec = new ThreadRecord;
  {
    Registry& r = Threads();
    std::lock_guard<std::mutex> l(r.mu);
    rec->next = r.head;
    if (rec->next != nullptr) rec->next->prev = rec;
    r.head = rec;
  }
  (void)pthread_setspecific(key, rec);
  t_record = rec;
  return *rec;
}

void ForEachThread(void (*fn)(const ThreadRecord&, void*), void* arg) {
  Registry& r = Threads();
  std::lock_guard<std::mutex> l(r.mu);
  for (ThreadRecord* t = r.head; t != nullptr; t = t->next) fn(*t, arg);
}

void ThreadRecordForkInit() {
  (void)Threads();
  // Decide the fences' kind before any thread claims, so a light side never skips its fence
  // while a heavy side has not yet chosen membarrier.
  (void)AsymmetricFences();
}

void HeavyFence() {
  if (!AsymmetricFences()) {
#if defined(__SANITIZE_THREAD__) && defined(__x86_64__)
    asm volatile("mfence" ::: "memory");
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
    return;
  }
  if (Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  // A kernel that forgets the registration in a fork()ed child says EPERM: register again.
  if (errno == EPERM && Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
      Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) {
    return;
  }
  // Light sides already skip their fences: going on would break claims and file lifetimes.
  std::fprintf(stderr, "ustreams: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed: errno %d\n",
               errno);
  std::abort();
}

}  // namespace ustreams::internal
