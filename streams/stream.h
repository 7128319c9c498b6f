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
// The two streams of a STREAMS pipe are "twisted": the bottom of each one's write side leads into
// the bottom of the other's read side, so flow control and back-enabling cross the pipe like any
// other hop. Such a pair shares one claim group: a claim on either end keeps both chains stable,
// and a plumbing change on either end waits for both.
//
// putnext() checks that the thread holds a claim on the stream it calls into (one thread-local
// compare); a call that crosses into another stream — a multiplexor routing between its upper and
// lower streams, a driver handing a message to another stack — takes a claim on the way.
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
#include <thread>
#include <vector>

#include "streams/claim.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/wait.h"

namespace ustreams {

namespace internal {
// The pipe's meeting point (Twist): its queues' qinits, which PipePeerTop recognises.
extern qinit g_twist_rinit;
extern qinit g_twist_winit;
}  // namespace internal

class Scheduler;
class Domain;


class Stream {
 public:
  // head: the qinit pair of the stream head (put procedures required; the write side's service
  // procedure, if any, is where back-enabling from below lands). head_ptr becomes q_ptr of both
  // head queues.
  // pipe_peer: the other end of a pipe being made (shares its claim group; see Twist()).
  Stream(Scheduler* scheduler, const streamtab* head, void* head_ptr, Stream* pipe_peer = nullptr);
  // Pops every module (calling its close), closes the driver and frees all queues and messages.
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Opens the driver at the bottom. sflag is 0 or CLONEOPEN. Returns 0 or an errno (the open
  // routine's, or ENXIO for a module registration, EBUSY if a driver is already open). A driver
  // whose open failed leaves the stream, unless another open joined the stream while this one
  // waited in qwait() (see BeginOpen): the failure is then this opener's alone, the driver stays
  // (its close runs at the last close), and the driver must have kept what the other open uses.
  int OpenDriver(const fmodsw* driver, dev_t* devp, int oflag, int sflag, cred_t* crp);
  // Pushes a module just below the head and calls its open (sflag MODOPEN). Returns 0 or errno
  // (EINVAL for a driver registration or no driver yet, the open routine's error otherwise).
  int Push(const fmodsw* module, int oflag, cred_t* crp);
  // Pops the module just below the head, calling its close. EINVAL if none.
  int Pop(int oflag, cred_t* crp);
  // Another open of this stream: calls each module's open (MODOPEN) from the top, then the
  // driver's. Returns the first error.
  int Reopen(dev_t* devp, int oflag, cred_t* crp);
  // Opens of a stream run one at a time (illumos STWOPEN): its first open (the driver's open and
  // autopush, by the domain, before anyone else can find the stream) and each later one. An open
  // or close routine waiting in qwait() lets the next open in meanwhile: it may be waiting for
  // that very open (a FIFO's reader waits for a writer).
  void BeginFirstOpen();
  // A later open: waits for the one under way and takes its place. False if the stream's first
  // open failed meanwhile (the caller opens the device afresh).
  bool BeginOpen();
  // first_failed: the first open failed and nobody joined it; later opens give up.
  void EndOpen(bool first_failed = false);
  // Another open began while the first one was under way (waiting in qwait()).
  bool joined() const;
  // qwait() in an open routine: if this thread's open holds the stream's opens, lets them go
  // (returns true); ReturnFromWait() takes them back.
  bool LeaveOpenForWait();
  void ReturnFromWait();
  // An open file of the stream went away: the driver's FileCloseFn (registry.h), if it has one.
  void FileClosed(int fflag, cred_t* crp);
  // Joins two driverless streams made for each other (pipe_peer) into a pipe.
  static void Twist(Stream* a, Stream* b);
  Stream* peer() const { return peer_; }
  bool has_driver() const;

  // Multiplexing: the head pair of a stream linked under a multiplexor takes the mux's lower
  // qinit (st_muxrinit/st_muxwinit) and MT level; Unmux restores the head's own.
  void MuxUnder(const fmodsw* mux);
  void Unmux();

  Scheduler* scheduler() const { return scheduler_; }
  // The domain the stream was opened in (nullptr for a harness's stream): how a driver finds the
  // state of its stack (Domain::context()).
  Domain* domain() const { return domain_; }
  void set_domain(Domain* d) { domain_ = d; }
  queue_t* head_rq() const { return head_rq_; }
  queue_t* head_wq() const { return head_wq_; }
  // For a pipe end with nothing pushed on either end: the queue its write side's data reaches
  // unchanged after the pipe's meeting point (the other end's head read queue); else nullptr.
  // The caller holds a claim.
  queue_t* PipePeerTop() const {
    queue_t* down = head_wq()->q_next;
    if (down == nullptr || down->q_qinfo != &internal::g_twist_winit) return nullptr;
    queue_t* across = down->q_next;
    if (across == nullptr || across->q_qinfo != &internal::g_twist_rinit) return nullptr;
    return across->q_next;
  }
  queue_t* driver_wq() const;  // nullptr before OpenDriver
  const fmodsw* driver() const;  // nullptr before OpenDriver
  std::string DriverName() const;  // "" without a driver
  // Module names from the top (the head and the driver excluded).
  std::vector<std::string> ModuleNames() const;
  int module_count() const;
  // Queues from the head down to the driver, write side (pairs whose procs are on).
  std::vector<queue_t*> WriteQueues() const;

  // Claims (see the theory above). Prefer StreamClaim.
  void Claim() { group_->Claim(); }
  void Unclaim() { group_->Unclaim(); }
  internal::ClaimGroup* claim_group() const { return group_.get(); }
  // Wakes qwait() sleepers after a service procedure or callback completed.
  void NotifyWaiters() { progress_.WakeAll(); }
  // Waits until wait_gen of pair differs from seen (threaded) or runs the scheduler
  // (deterministic). Returns 0, or EINTR when a signal interrupted the wait.
  int WaitForProgress(internal::QueuePair* pair, uint64_t seen);

  // qprocson/qprocsoff for pair (called through the DDI functions).
  void ProcsOn(internal::QueuePair* pair);
  void ProcsOff(internal::QueuePair* pair);

 private:
  internal::QueuePair* NewPair(const streamtab* tab, const fmodsw* sw, void* ptr);
  void FreePair(internal::QueuePair* pair);
  class PlumbingScope {
   public:
    explicit PlumbingScope(Stream* s) : g_(s->group_.get()) { g_->BeginPlumbing(); }
    ~PlumbingScope() { g_->EndPlumbing(); }

   private:
    internal::ClaimGroup* g_;
  };
  // Recomputes q_next, q_nfsrv, q_nbsrv of every pair (and of the peer's, for a pipe). Takes
  // pairs_mu_ of both ends.
  void Relink();
  void SetPairMt(internal::QueuePair* pair, const fmodsw* sw);
  // first_driver_open: a failure leaves the pair as it is if another open joined (joined()).
  int OpenPair(internal::QueuePair* pair, dev_t* devp, int oflag, int sflag, cred_t* crp,
               bool first_driver_open = false);
  void ClosePair(internal::QueuePair* pair, int oflag, cred_t* crp);

  Scheduler* const scheduler_;
  Domain* domain_ = nullptr;
  std::shared_ptr<internal::ClaimGroup> group_;
  mutable std::mutex pairs_mu_;
  std::vector<internal::QueuePair*> pairs_;  // top (head) to bottom (driver)
  // pairs_.front() for the stream's life, read without pairs_mu_ or a claim (a push may move
  // the vector's storage under a head operation that holds neither).
  internal::QueuePair* head_pair_ = nullptr;
  queue_t* head_rq_ = nullptr;  // head_pair_'s queues, for callers that inline the accessors
  queue_t* head_wq_ = nullptr;
  bool has_driver_ = false;
  // The other end of a pipe. Set and cleared under both ends' pairs_mu_ within a plumbing
  // change of their shared group (so both ends' closes, racing, untwist once).
  std::atomic<Stream*> peer_ = nullptr;
  const streamtab* head_tab_;
  void* head_ptr_;
  void (*head_wake_)(queue_t*) = nullptr;  // saved while linked under a multiplexor

  WaitPoint progress_;  // qwait()

  // Opens (BeginOpen).
  mutable std::mutex open_mu_;
  std::condition_variable open_cv_;
  bool open_busy_ = false;            // an open holds the stream's opens
  std::thread::id open_owner_;        // the thread of that open
  bool first_open_ = false;           // the first open is under way
  bool joined_ = false;               // another open began during it
  bool first_failed_ = false;         // it failed, and nobody joined
};

// Holds a claim on a stream for its scope (nullptr: no-op). A caller that must wait lets go of
// it with Release() and takes it again with Reacquire() (never hold a claim while waiting).
class StreamClaim {
 public:
  explicit StreamClaim(Stream* s) : s_(s) {
    if (s_ != nullptr) s_->Claim();
  }
  ~StreamClaim() { Release(); }
  StreamClaim(const StreamClaim&) = delete;
  StreamClaim& operator=(const StreamClaim&) = delete;

  void Release() {
    if (s_ != nullptr && held_) s_->Unclaim();
    held_ = false;
  }
  void Reacquire() {
    if (s_ != nullptr && !held_) s_->Claim();
    held_ = true;
  }

 private:
  Stream* s_;
  bool held_ = true;
};

}  // namespace ustreams
