// A stream's plumbing: the head's queue pair at the top, pushed modules, the driver's queue pair
// at the bottom, and the rules for changing that chain while messages flow.
//
// Theory of operation (plumbing)
// ------------------------------
// putnext() is a plain call through q_next: no lock, no atomic per hop. What keeps q_next stable
// is the stream claim: every entry into a stream from outside it (a head operation, a service
// procedure run by the scheduler, a callback, a message handed over from another stream) holds a
// StreamClaim for as long as it runs, and a change of plumbing waits until no claim is held and
// holds new ones off while it rewires. A thread that already holds a claim on the stream never
// waits for another (claims nest), so plumbing changes must be made from outside the stream:
// from open, close, I_PUSH and I_POP, never from a put or service procedure.
//
// A pushed module's queues join the chain when it calls qprocson() (or when its open returns
// without doing so) and leave it at qprocsoff() (or after its close returns). Messages that
// waited in its perimeter move on past it; its timeouts and bufcalls are cancelled when the pair
// is freed, so a module cannot be called after it was closed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "streams/queue.h"
#include "streams/registry.h"

namespace ustreams {

class Scheduler;

class Stream {
 public:
  // head: the qinit pair of the stream head (put procedures required; the write side's service
  // procedure, if any, is where back-enabling from below lands). head_ptr becomes q_ptr of both
  // head queues.
  Stream(Scheduler* scheduler, const streamtab* head, void* head_ptr);
  // Pops every module (calling its close), closes the driver and frees all queues and messages.
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Opens the driver at the bottom. sflag is 0 or CLONEOPEN. Returns 0 or an errno (the open
  // routine's, or ENXIO for a module registration, EBUSY if a driver is already open).
  int OpenDriver(const fmodsw* driver, dev_t* devp, int oflag, int sflag, cred_t* crp);
  // Pushes a module just below the head and calls its open (sflag MODOPEN). Returns 0 or errno
  // (EINVAL for a driver registration or no driver yet, the open routine's error otherwise).
  int Push(const fmodsw* module, int oflag, cred_t* crp);
  // Pops the module just below the head, calling its close. EINVAL if none.
  int Pop(int oflag, cred_t* crp);

  Scheduler* scheduler() const { return scheduler_; }
  queue_t* head_rq() const;
  queue_t* head_wq() const;
  queue_t* driver_wq() const;  // nullptr before OpenDriver
  // Module names from the top (the head and the driver excluded).
  std::vector<std::string> ModuleNames() const;
  int module_count() const;
  // Queues from the head down to the driver, write side (pairs whose procs are on).
  std::vector<queue_t*> WriteQueues() const;

  // Claims (see the theory above). Prefer StreamClaim.
  void Claim();
  void Unclaim();
  // Wakes qwait() sleepers after a service procedure or callback completed.
  void NotifyWaiters();
  // Blocks until wake_gen of pair differs from seen (threaded) or runs the scheduler (deterministic).
  void WaitForProgress(internal::QueuePair* pair, uint64_t seen);

  // qprocson/qprocsoff for pair (called through the DDI functions).
  void ProcsOn(internal::QueuePair* pair);
  void ProcsOff(internal::QueuePair* pair);

 private:
  internal::QueuePair* NewPair(const streamtab* tab, const fmodsw* sw, void* ptr);
  void FreePair(internal::QueuePair* pair);
  void BeginPlumbing();
  void EndPlumbing();
  class PlumbingScope {
   public:
    explicit PlumbingScope(Stream* s) : s_(s) { s_->BeginPlumbing(); }
    ~PlumbingScope() { s_->EndPlumbing(); }

   private:
    Stream* s_;
  };
  void RelinkLocked();  // recomputes q_next, q_nfsrv, q_nbsrv of every linked pair
  int OpenPair(internal::QueuePair* pair, dev_t* devp, int oflag, int sflag, cred_t* crp);
  void ClosePair(internal::QueuePair* pair, int oflag, cred_t* crp);

  Scheduler* const scheduler_;
  std::mutex plumb_mu_;  // one plumbing change at a time
  mutable std::mutex pairs_mu_;
  std::vector<internal::QueuePair*> pairs_;  // top (head) to bottom (driver)
  bool has_driver_ = false;

  std::atomic<int> claims_{0};
  std::atomic<bool> plumbing_{false};
  std::mutex claim_mu_;
  std::condition_variable claim_cv_;

  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
};

// Holds a claim on a stream for its scope (nullptr: no-op).
class StreamClaim {
 public:
  explicit StreamClaim(Stream* s) : s_(s) {
    if (s_ != nullptr) s_->Claim();
  }
  ~StreamClaim() {
    if (s_ != nullptr) s_->Unclaim();
  }
  StreamClaim(const StreamClaim&) = delete;
  StreamClaim& operator=(const StreamClaim&) = delete;

 private:
  Stream* s_;
};

}  // namespace ustreams
