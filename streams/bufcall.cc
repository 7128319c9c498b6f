// bufcall(9F): callbacks waiting for memory. The list is process-wide because the memory is.
// Entries fire when a message block is released (or AllocFaults::Clear()); each fires once.
// A plain bufcall runs in the releasing thread after the release completed, with no framework
// lock held; qbufcall (queue.cc) hands its entries to the queue's scheduler instead, which is
// why modules should prefer it.
#include <pthread.h>

#include <condition_variable>
#include <list>
#include <mutex>
#include <new>
#include <thread>

#include "streams/alloc_internal.h"
#include "streams/mblk.h"

namespace ustreams {
namespace internal {

std::atomic<int64_t> g_pending_bufcalls{0};

namespace {

struct Entry {
  bufcall_id_t id;
  size_t size;
  void (*func)(void*);
  void* arg;
  BufcallRunner runner;
  void* ctx;
};

struct BufcallList {
  std::mutex mu;
  std::condition_variable done;
  std::list<Entry> pending;
  bufcall_id_t next_id = 1;
  bufcall_id_t running_id = 0;  // an inline callback running now
  std::thread::id running_thread;
  // Set by a release in another thread while a callback runs: the running thread's pass then
  // also covers entries registered up to here, since that release came after them.
  bufcall_id_t rerun_limit = 0;
};

BufcallList& List() {
  static BufcallList* l = [] {
    auto* list = new BufcallList;
    // fork(): not copied held into the child.
    pthread_atfork([] { List().mu.lock(); }, [] { List().mu.unlock(); },
                   [] { new (&List().mu) std::mutex(); });
    return list;
  }();
  return *l;
}

}  // namespace

bufcall_id_t BufcallRegister(size_t size, void (*func)(void*), void* arg, BufcallRunner runner,
                             void* ctx) {
  if (func == nullptr) return 0;
  BufcallList& l = List();
  std::lock_guard<std::mutex> g(l.mu);
  bufcall_id_t id = l.next_id++;
  l.pending.push_back(Entry{id, size, func, arg, runner, ctx});
  g_pending_bufcalls.fetch_add(1);
  return id;
}

bool BufcallCancel(bufcall_id_t id) {
  // 0 is what a failed bufcall returned, never a real entry; it also equals running_id when
  // nothing runs, so the wait below would never end.
  if (id == 0) return false;
  BufcallList& l = List();
  std::unique_lock<std::mutex> g(l.mu);
  for (auto it = l.pending.begin(); it != l.pending.end(); ++it) {
    if (it->id == id) {
      l.pending.erase(it);
      g_pending_bufcalls.fetch_sub(1);
      return true;
    }
  }
  // unbufcall(9F): a callback already running finishes before the cancel returns (unless the
  // canceller is the callback itself).
  while (l.running_id == id && l.running_thread != std::this_thread::get_id()) l.done.wait(g);
  return false;
}

void BufcallMemoryAvailable() {
  BufcallList& l = List();
  bufcall_id_t limit;
  {
    std::lock_guard<std::mutex> g(l.mu);
    limit = l.next_id;  // entries registered by the callbacks below wait for the next release
  }
  for (;;) {
    std::unique_lock<std::mutex> g(l.mu);
    // One inline callback at a time keeps unbufcall's wait simple; a nested release from inside
    // a callback leaves the rest to the outer loop.
    if (l.pending.empty()) return;
    if (l.running_id != 0) {
      // Another thread is mid-callback and will carry on with the list; leave it the entries
      // registered so far, or they would wait for a release that may never come. (A release
      // from inside the callback itself does not count, so a callback that re-registers and
      // frees cannot loop.)
      if (l.running_thread != std::this_thread::get_id()) l.rerun_limit = l.next_id;
      return;
    }
    if (l.pending.front().id >= limit) return;
    Entry e = l.pending.front();
    l.pending.pop_front();
    g_pending_bufcalls.fetch_sub(1);
    if (e.runner != nullptr) {
      g.unlock();
      e.runner(e.ctx, e.id, e.func, e.arg);
      continue;
    }
    l.running_id = e.id;
    l.running_thread = std::this_thread::get_id();
    g.unlock();
    e.func(e.arg);
    g.lock();
    l.running_id = 0;
    if (l.rerun_limit > limit) limit = l.rerun_limit;
    l.rerun_limit = 0;
    l.done.notify_all();
  }
}

void BufcallForkInit() { (void)List(); }

}  // namespace internal

bufcall_id_t bufcall(size_t size, unsigned int /*pri*/, void (*func)(void*), void* arg) {
  return internal::BufcallRegister(size, func, arg, nullptr, nullptr);
}

bufcall_id_t esbbcall(unsigned int pri, void (*func)(void*), void* arg) {
  return bufcall(0, pri, func, arg);
}

void unbufcall(bufcall_id_t id) { internal::BufcallCancel(id); }

}  // namespace ustreams
