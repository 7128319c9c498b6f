// Inner perimeters (private to streams/).
//
// Theory of operation
// -------------------
// A module registered D_MTQPAIR, D_MTPERQ or D_MTPERMOD runs its put and service procedures and
// its callbacks inside an inner perimeter: at most one thread is inside at a time. A thread that
// finds the perimeter busy does not wait: it appends its work (a message for a put procedure, or
// a closure for a service procedure or callback) to the perimeter's sync queue and returns. The
// thread inside drains the sync queue before it leaves, so putnext never blocks on a perimeter,
// up- and downstream traffic through one module cannot deadlock, and each queue sees its
// messages in the order they were put. A drainer that exhausts its budget hands the rest to the
// scheduler, still holding the perimeter, so order is kept. D_MP modules have no perimeter.
//
// Open and close enter exclusively and may block to do so (they run in an application thread);
// qwait() leaves the perimeter while it waits and enters it again afterwards.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

#include "streams/queue.h"

namespace ustreams {
class Scheduler;
}

namespace ustreams::internal {

struct QueuePair;

class SyncQ {
 public:
  SyncQ() = default;
  ~SyncQ();  // frees messages still waiting
  SyncQ(const SyncQ&) = delete;
  SyncQ& operator=(const SyncQ&) = delete;

  // Calls q's put procedure with mp inside the perimeter, now or later (consumes mp).
  void Put(queue_t* q, mblk_t* mp);
  // Runs fn inside the perimeter, now or later; q names the stream it belongs to.
  void Call(queue_t* q, std::function<void()> fn);

  // Blocking exclusive entry for open/close and the end of qwait; Leave() drains first. With a
  // deterministic scheduler, "blocking" runs its work until the holder has left.
  void EnterBlocking(Scheduler* s);
  void Leave();
  // A pair is going away: its waiting messages move on past it (or are freed at the end of the
  // stream) and its waiting calls are dropped.
  void Purge(QueuePair* pair, Scheduler* s);

  static constexpr int kDrainBudget = 256;

 private:
  struct Entry {
    queue_t* q;
    mblk_t* mp;                // a put, or
    std::function<void()> fn;  // a call
  };
  bool TryEnter();
  void Execute(Entry& e);
  void Drain();

  std::mutex mu_;
  std::condition_variable free_cv_;
  bool busy_ = false;
  std::deque<Entry> pending_;
};

// Runs q's service procedure (inside its perimeter, if any): clears QENAB, marks QINSERVICE, and
// re-enqueues q if it was enabled again meanwhile.
void RunServiceProcedure(queue_t* q);
// Calls q's put procedure directly (inside its perimeter, if any). Consumes mp.
void CallPut(queue_t* q, mblk_t* mp);
// Runs fn for q inside q's perimeter and stream claim; for timeouts and bufcalls.
void RunCallback(queue_t* q, std::function<void()> fn);

}  // namespace ustreams::internal
