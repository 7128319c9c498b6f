// Read-copy-update for the lookup tables of IP: lock-free readers, writers that publish immutable
// versions and free the old ones once no reader can hold them.
//
// Theory of operation. This is epoch-based reclamation with one reader slot per thread, the
// "memb" flavour of liburcu:
//  - A global epoch counter only grows. A reader entering its outermost read section copies the
//    epoch into its thread's slot (a seq_cst store), and clears the slot when it leaves. Nothing
//    shared is written by readers: each slot sits on its own cache line.
//  - A writer makes a new version, publishes it with a seq_cst store of the one pointer readers
//    start from, and hands what the new version no longer uses to its RcuRetireList.
//  - Reclaim() stamps the newly retired objects with the current epoch s and advances the epoch
//    to s+1. An object stamped s is freed once every slot reads 0 (no reader) or more than s (a
//    reader that entered after the advance, hence after the publication, and so cannot see it).
//    With all the accesses involved seq_cst, a reader whose slot still read 0 when the writer
//    looked loads the published pointer after that look, and sees the new version.
// Readers never wait; writers never wait for readers (freeing is deferred to a later Reclaim);
// a reader that stays in its section long holds back only the memory retired meanwhile.
//
// The reader registry is process-wide (one slot per thread, reused after the thread exits), so
// any number of tables, in any number of stacks, share it. Read sections nest.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ustreams::ip {

// Marks the calling thread as a reader for its lifetime. Pointers loaded from an RCU-published
// root stay valid until the guard is destroyed. Cheap: a thread-local check, one seq_cst store,
// one release store. Do not block inside one (it holds back reclamation, not writers).
class RcuReadGuard {
 public:
  RcuReadGuard();
  ~RcuReadGuard();
  RcuReadGuard(const RcuReadGuard&) = delete;
  RcuReadGuard& operator=(const RcuReadGuard&) = delete;
};

// Objects retired by one writer. Not synchronised: its owner calls it under the lock that
// serialises the owner's writers.
class RcuRetireList {
 public:
  RcuRetireList() = default;
  // Waits for the readers of the moment (RcuSynchronize) and frees everything still pending.
  ~RcuRetireList();
  RcuRetireList(const RcuRetireList&) = delete;
  RcuRetireList& operator=(const RcuRetireList&) = delete;

  // p is no longer reachable from the published root (the caller published first); free_fn(p)
  // runs once no reader can hold it.
  void Retire(const void* p, void (*free_fn)(const void*));
  template <typename T>
  void RetireObject(const T* p) {
    Retire(p, [](const void* q) { delete static_cast<const T*>(q); });
  }
  // Frees what no reader can hold any more. Returns how many objects it freed.
  size_t Reclaim();
  // Objects retired and not yet freed.
  size_t pending() const { return unstamped_.size() + stamped_.size(); }

 private:
  struct Item {
    const void* p;
    void (*free_fn)(const void*);
    uint64_t stamp;
  };
  std::vector<Item> unstamped_;
  std::vector<Item> stamped_;  // stamps ascend
};

// Waits until every read section that began before the call has ended (it spins and yields;
// for tests and teardown, not hot paths). Must not be called inside a read section.
void RcuSynchronize();

}  // namespace ustreams::ip
