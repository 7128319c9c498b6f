// The stream head (illumos stdata and strread/strwrite/strioctl): the top of every stream an
// application opens. It turns calls into messages going down and messages coming up into what
// read(2), getmsg(2), poll(2) and the I_* ioctls return, following the illumos manual pages (and
// the illumos kernel where the pages are vague).
//
// Theory of operation
// -------------------
// The head is an ordinary queue pair at the top of a Stream. Its read queue holds what arrived
// from below (HeadRput sorts each message: data is queued; M_FLUSH, M_ERROR, M_HANGUP,
// M_SETOPTS, M_SIG/M_PCSIG, ioctl answers and M_REPLY act on the head's state). Its write queue
// has a service procedure that flow control back-enables: it wakes blocked writers and pollers.
//
// All state of the head is guarded by mu_ (illumos sd_lock). Calls that must wait — read and
// getmsg on an empty queue, write and putmsg under flow control, an ioctl awaiting its ack, an
// SO_REPLY write awaiting its M_REPLY, close draining — wait on one WaitPoint (wait.h), so signals
// interrupt them as they interrupt system calls and an embedder can cancel them. A call holds a
// claim on the stream (stream.h) while it touches the queues, never while it waits, so I_PUSH and
// I_POP from another thread are never held up by a blocked reader.
//
// Locking order: a stream claim, then mu_, then queue locks. mu_ and the queue locks are the
// library's Mutex (mutex.h: a compare-and-swap to take, no locked instruction to let go). mu_ is never held across a putnext
// (the message may come straight back up into HeadRput on the same thread).
//
// The inbox: a writer on another thread hands a plain data message (M_DATA or M_PROTO, band 0,
// no MSGMARK) to the head without taking mu_, by appending a record to a ring under a spin lock
// of its own (head_inbox.cc). A write of at most kInboxInlineMax bytes on a pipe end with nothing
// pushed on either end does not even make a message: it copies the bytes into the other end's
// ring. Every taking of mu_ first moves the ring's records onto the read queue (the lock's
// acquire hook; copied bytes become a message then), so whatever runs under mu_ sees one queue in
// arrival order; the one exception is read(2), which takes the lock without the hook and, while
// the read queue is empty, copies whole byte records straight to the caller as it would have read
// the messages they would have become. So a reader draining the queue and a writer filling it do
// not meet on mu_ or the read queue, and a small message costs about one line of the ring moving
// between their cores. Such a pipe write takes no lock of its own head either (WriteDirect), nor
// does any write that is one packet and need not wait (it makes its message and sends it down,
// as illumos's strwrite drops sd_lock before it copies): the state it must look at (errors,
// hangup, linked, SO_DELIM, SO_REPLY, SO_MAXBLK, SO_WROFF, SO_TAIL) is atomic, and anything
// unusual sends it the locked way from the start. A record is published with a plain
// release store: the producer reads, still under the ring's spin lock, whether anyone waits
// (WaitPoint::watched) and whether the descriptors are readable already; a waiter or a poller
// changes those first and then takes and drops the spin lock before it looks at the ring
// (InboxHandshake), so one of the two always sees the other. Flow control stays exact: the inbox takes a record only while the read
// queue and the inbox together stay below the read queue's high-water mark (its `limit`, computed
// under mu_); a message that would reach the mark goes the locked way, whose putq() sets QFULL as
// before. Messages that change the head's state or its signals (everything else, and any message
// while I_SETSIG registrations or a watcher exist) always go the locked way. Without memory, copied
// bytes stay in the ring, in order, until a message can be allocated for them (read(2) still takes
// them; getmsg waits for memory, as a write does).
//
// Readiness is pushed, not polled: whenever something a poller or I_SETSIG registrant could care
// about happens, the head calls the watcher it was given (the descriptor layer uses it to make
// the descriptor's eventfd readable) and raises the registered signals.
#pragma once

#include <poll.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "streams/ddi.h"
#include "streams/mutex.h"
#include "streams/queue.h"
#include "streams/stream.h"
#include "streams/stropts.h"
#include "streams/wait.h"

namespace ustreams {

class Domain;
class File;

// Default read-queue marks of a stream head (illumos STRHIGH/STRLOW).
inline constexpr size_t kStrHigh = 5120;
inline constexpr size_t kStrLow = 1024;
// Largest control part of putmsg (strctlsz) and data part of putmsg/I_STR (strmsgsz).
inline constexpr int kStrCtlSz = 1024;
inline constexpr int kStrMsgSz = 64 * 1024;
// Modules and driver a stream may hold (nstrpush).
inline constexpr int kNStrPush = 9;
// Writes of at most this many bytes to a pipe are atomic (PIPE_BUF of illumos).
inline constexpr size_t kPipeBuf = 5120;
// What a pipe end's read queue holds before writers wait (the capacity of a Linux pipe), and
// where they resume.
inline constexpr size_t kPipeHiwat = 64 * 1024;
inline constexpr size_t kPipeLowat = 16 * 1024;
// The head's inbox (see "The inbox"): the largest write copied into it as bytes, and its ring's
// sizes: small while it only carries pointers to messages, large once bytes come.
inline constexpr size_t kInboxInlineMax = 512;
inline constexpr uint32_t kInboxSmall = 2 * 1024;
inline constexpr uint32_t kInboxLarge = 32 * 1024;

// How many times any stream head made its descriptors' eventfd readable (one write(2) each):
// for measuring that a stream nobody waits on costs no system call per message.
uint64_t ReadinessSyscalls();

// Callbacks an embedder installs on a head.
struct HeadWatcher {
  // Something changed that pollers may care about; `events` are the poll bits that may now be
  // true (a hint: Poll() tells what holds). Called without the head's lock, from any thread.
  void (*readiness)(void* arg, short events) = nullptr;
  // I_SETSIG and M_SIG/M_PCSIG: deliver `sig` (with the S_* events that caused it) instead of
  // raising a real signal. nullptr: kill(2) the registered processes.
  void (*signal)(void* arg, int sig, int events) = nullptr;
  void* arg = nullptr;
};

class StreamHead {
 public:
  // Made by Domain (open, pipe). pipe_peer: the head of the other end of a pipe being made.
  StreamHead(Domain* domain, dev_t dev, StreamHead* pipe_peer = nullptr);
  ~StreamHead();
  StreamHead(const StreamHead&) = delete;
  StreamHead& operator=(const StreamHead&) = delete;

  Domain* domain() const { return domain_; }
  Stream& stream() { return *stream_; }
  dev_t dev() const { return dev_; }
  bool is_pipe() const { return is_pipe_; }

  // ---- the calls: each returns 0 or an errno. fflag holds the open file's O_* flags. ----
  int Read(const iovec* iov, int iovcnt, int fflag, ssize_t* done);
  int Write(const iovec* iov, int iovcnt, int fflag, ssize_t* done);
  // getmsg/getpmsg: bandp == nullptr for getmsg (flags are RS_HIPRI or 0), else getpmsg flags.
  // *more gets MORECTL/MOREDATA.
  int GetMsg(strbuf* ctl, strbuf* data, int* bandp, int* flagsp, int fflag, int* more);
  // putmsg/putpmsg: band < 0 for putmsg (flags are RS_HIPRI or 0), else putpmsg flags.
  int PutMsg(const strbuf* ctl, const strbuf* data, int band, int flags, int fflag);
  // ioctl(2) with a STREAMS command or any other (sent down as a transparent ioctl). arg is the
  // caller's argument (a pointer or an int). *rval gets the ioctl's return value.
  int Ioctl(int cmd, intptr_t arg, int fflag, int* rval);
  // The poll(2) events of `events` (and POLLERR/POLLHUP/POLLNVAL) that hold now.
  short Poll(short events);

  // ---- readiness for descriptors ----
  // The eventfd behind this stream's descriptors (made on first use), or -errno. It becomes
  // readable when something happened that a poller may care about; ClearReadiness() resets it
  // (before a caller looks at the stream's state and then sleeps in poll(2)).
  int EventFd();
  // watched: the events a caller that just got EAGAIN would wait for; if one of them holds
  // again by the time the eventfd is reset (it came meanwhile), the eventfd is made readable
  // again, so an epoll user is not left waiting for something already there.
  void ClearReadiness(short watched = 0);

  // ---- life cycle ----
  // An open of an existing stream (not a clone): waits for an open of it under way, clears a
  // hangup and errors (illumos stropen; before the opens, so a hangup the driver sends from its
  // open or after it stands), then runs each module's and the driver's open. kOpenAgain: the
  // stream's first open failed meanwhile, open the device afresh.
  static constexpr int kOpenAgain = -1;
  int Reopen(int oflag, cred_t* cr);
  // An open file of the stream goes (File): tells the driver (Stream::FileClosed).
  void FileClosed(int fflag);
  // The last close: unlinks what this stream linked, drains the write side for the close time
  // (not when fflag is non-blocking), pops the modules, closes the driver.
  void Close(int fflag);
  bool closed() const;
  // Descriptors referring to the stream. When the last one closes while calls are blocked on
  // the stream (in other threads), those calls end with EBADF.
  void AddDescriptor();
  void DropDescriptor();
  // Holds (Domain::Hold/Release): open files and multiplexor links keeping the stream open.
  void AddHold() { holds_.fetch_add(1, std::memory_order_relaxed); }
  bool DropHold() { return holds_.fetch_sub(1, std::memory_order_acq_rel) == 1; }
  void set_dev(dev_t d) { dev_ = d; }
  // Autopush at open: pushes one module (with the push limit) / anchors after those pushed.
  int PushForOpen(const std::string& module, int oflag, cred_t* cr);
  void AnchorHere();

  // ---- embedders ----
  void SetWatcher(const HeadWatcher& w);
  // Makes every call blocked on this stream return EINTR (a calls-in-flight cancel).
  void CancelWaits();
  // How long an SO_REPLY write waits for its M_REPLY (default STRTIMOUT seconds).
  void SetReplyTimeout(absl::Duration d);
  // Bounds for blocked calls (like SO_RCVTIMEO/SO_SNDTIMEO): a read or getmsg waiting for data,
  // or a write or putmsg waiting for flow control, longer than this fails with ETIME (or returns
  // what it already moved). InfiniteDuration (the default) waits for ever.
  void SetTimeouts(absl::Duration read, absl::Duration write);
  // The I_SETSIG registration of process pid goes (each close(2) of the stream by it).
  void DropSignals(pid_t pid);

  // ---- for the framework ----
  static const streamtab* HeadTab();
  // True while the stream is linked under a multiplexor.
  bool linked() const;
  void SetLinked(bool on);
  struct Link {
    int muxid;
    std::shared_ptr<StreamHead> lower;
  };

 private:
  struct PassedFile;
  // One call in progress: its claim on the stream (released while it waits) and the cancel
  // generation it started in.
  struct Call {
    Call(StreamHead* h, int f)
        : claim(h->stream_.get()), cancel_seen(h->cancel_gen_.load()), fflag(f) {}
    StreamClaim claim;
    uint32_t cancel_seen;
    int fflag;
  };
  struct Events {
    short poll = 0;
    int sig = 0;  // S_* events
  };
  struct IocRequest {
    int cmd;
    mblk_t* data;      // b_cont of the M_IOCTL (consumed)
    size_t count;      // ioc_count (TRANSPARENT for a transparent ioctl)
    int timeout_s;     // -1: for ever
    bool ignore_errors;  // go ahead on a hung-up or errored stream (unlinking)
  };
  struct IocResult {
    int rval = 0;
    size_t count = 0;         // the ack's ioc_count
    mblk_t* reply = nullptr;  // the ack's data, the caller's to free
    bool had_copyout = false;
    size_t copied_out = 0;
  };

  // The error checks of illumos strgeterr: kErrPlex (linked: EINVAL), then the read error, the
  // write error, the hangup (werror, ENXIO). A non-persistent error is cleared as it is returned
  // unless peek.
  static constexpr int kErrPlex = 1, kErrRead = 2, kErrWrite = 4, kErrHup = 8;
  int GetErrLocked(int which, bool peek);
  // Before a write: EIO on hangup (if eio_on_hangup), else the write error; with SNDPIPE an error
  // becomes EPIPE and raises SIGPIPE in the calling thread (if sigpipe).
  int WriteableLocked(bool eio_on_hangup, bool sigpipe);
  // A pipe or FIFO whose other end (its reader) is gone: write(2) then fails with EPIPE and
  // raises SIGPIPE whatever I_SWROPT set, as illumos fifo_write checks the reader before the
  // stream head's options.
  bool PipeReaderGoneLocked() const { return (is_pipe_ || fifo_) && strhup_ && peer_gone_; }
  bool HungUp();

  // Waiting: releases the call's claim and mu_ while it waits. deadline on the scheduler's clock.
  int WaitLocked(std::unique_lock<Mutex>& l, Call& call, absl::Time deadline,
                 const uint32_t* seen = nullptr, bool any_signal = false);
  // Waits until the head's write side may send a band-`band` message (flow control below):
  // 0, EAGAIN when non-blocking, or the wait's or the stream's error (write side).
  // sigpipe (write(2)): with SNDPIPE, an error met while waiting (the reader of a pipe or FIFO
  // went) becomes EPIPE and raises SIGPIPE, as in WriteableLocked.
  int WaitWritableLocked(std::unique_lock<Mutex>& l, Call& call, int band, int fflag,
                         bool sigpipe = false);
  static void WakeWriters(queue_t* wq);  // back-enable of the head's write side, in place
  absl::Time DeadlineAfter(absl::Duration d) const;
  int WaitForMemoryLocked(std::unique_lock<Mutex>& l, Call& call, size_t size,
                          uint32_t seen);

  // put and service procedures of the head's queues.
  static int HeadRput(queue_t* q, mblk_t* mp);
  static int HeadWput(queue_t* q, mblk_t* mp);
  static int HeadWsrv(queue_t* q);
  // HeadRput's cases (each consumes mp).
  void RecvData(queue_t* q, mblk_t* mp);
  void RecvDataLocked(queue_t* q, mblk_t* mp);  // what the inbox did not take: to the read queue
  void RecvSig(queue_t* q, mblk_t* mp, bool now);
  void RecvFlush(queue_t* q, mblk_t* mp);
  void RecvError(queue_t* q, mblk_t* mp);
  void RecvHangup(bool hangup, bool peer_gone = false);
  void RecvSetopts(queue_t* q, mblk_t* mp);
  void RecvIocAnswer(mblk_t* mp);
  void RecvReply(mblk_t* mp);

  // Read-queue helpers (mu_ held).
  bool StrPriLocked();  // an M_PCPROTO waits at the head
  void FlushReadLocked(int band, bool by_band);
  mblk_t* FirstLocked();  // the first message, taking M_SIGs at the front off for delivery
  mblk_t* TakeFirstLocked();
  void PutBackLocked(mblk_t* mp);
  void FlushPendingSigs(std::unique_lock<Mutex>& l);

  // Read's direct way: the inbox's bytes, copied to the caller (mu_ held).
  bool ReadInboxLocked(const iovec*& iov, int& iovcnt, size_t& off, size_t& resid, ssize_t* done,
                       bool& copied);

  // Write helpers. They need a claim, not mu_ (they read its atomic state).
  bool WriteDirect(const iovec* iov, int iovcnt, size_t n);
  StreamHead* InlinePeer(size_t n);
  void PacketSizes(ssize_t* rmin, ssize_t* rmax);
  mblk_t* MakeData(const iovec*& iov, int& iovcnt, size_t& off, size_t count);
  size_t DataAllocSize(size_t n) const {
    return wroff_.load(std::memory_order_relaxed) + n + tail_.load(std::memory_order_relaxed);
  }
  // Sends mp down (consumes it); with SO_REPLY, an M_DATA waits for its M_REPLY. last: the
  // caller returns next, and l may come back unlocked.
  int SendDownLocked(std::unique_lock<Mutex>& l, Call& call, mblk_t* mp, bool last);

  // What a producer saw, under the inbox's spin lock, as it published a record: whether anyone
  // watches the wait point, and whether the descriptors are readable already. A waiter or
  // poller changes those first and then takes and drops the spin lock before it looks at the
  // inbox (InboxHandshake), so one of the two sees the other: no locked store to publish.
  struct Arrival {
    bool watched = false;
    bool signalled = false;
  };
  // The inbox (head_inbox.cc). TryInbox: without mu_, true if mp went into the inbox.
  bool TryInbox(mblk_t* mp, Arrival* a);
  // After a record went into the inbox (without mu_): wakes waiters and makes the descriptors
  // readable. Signals are not wanted, or the record would have gone the locked way.
  void InboxArrived(const Arrival& a);
  // Orders the caller's earlier stores (a watcher's count, the readiness flag's clearing)
  // before its looks at the inbox, against every producer (see Arrival).
  void InboxHandshake() {
    inbox_.Lock();
    inbox_.Unlock();
  }
  static void SpliceHook(void* head);  // mu_'s acquire hook
  // Moves what the inbox holds onto the read queue. Returns 0, or the size of the copied message
  // it could not allocate (it and those after it stay, in order, until the next try).
  size_t SpliceInboxLocked();
  // Recomputes the inbox's limit from the read queue (mu_ held): after the queue grew the
  // locked way or its high-water mark changed.
  void RefreshInboxLimitLocked();
  void FreeInbox();
  // Shut while the stream closes or is linked under a multiplexor (whose procedures then own
  // the head's read queue): everything goes the locked way. Open again at the unlink.
  void CloseInboxLocked();
  void OpenInboxLocked();
  void InboxSeesNotifyLocked();  // after notify_slow_ turned on

  // Readiness and signals, delivered without mu_ held.
  void Raise(const Events& ev);
  static void SendSignal(const HeadWatcher& w, pid_t pid, int sig, int sevents);
  void DeliverSig(int sig);
  static Events ArrivalEvents(const mblk_t* mp);

  // ioctls (head_ioctl.cc, head_mux.cc).
  int IoctlStr(strioctl* sio, int fflag, int* rval);
  int IoctlTransparent(int cmd, intptr_t arg, int* rval);
  int DoIoctl(const IocRequest& req, IocResult* res);
  int SendFlush(unsigned char flags, int band);  // band < 0: not FLUSHBAND
  int BeginPlumb(int fflag);
  void EndPlumb();
  int IoctlPush(const char* name, int fflag);
  int IoctlPop(int fflag);
  int IoctlLook(char* name);
  int IoctlFind(const char* name, int* rval);
  int IoctlList(str_list* sl, int* rval);
  int IoctlSetsig(pid_t pid, int events, bool extended);
  int IoctlPeek(strpeek* sp, int* rval);
  int IoctlNread(int* count, int* rval);
  int QueuedDataBytes();  // FIONREAD: the M_DATA bytes of every message queued, at most INT_MAX
  int IoctlFdinsert(strfdinsert* fi, int fflag);
  int IoctlSendfd(int fd);
  int IoctlRecvfd(strrecvfd* rf, int fflag);
  int IoctlLink(int fd, bool persistent, int* rval);
  int IoctlUnlink(int muxid, bool persistent);
  int UnlinkOne(const Link& link, bool persistent);
  void Dismantle(const Link& link);
  void Relink(std::vector<Link>& kept, bool persistent, int major);
  void UnlinkAllOnClose();
  static void FreePassedFile(char* arg);
  void ReleasePassedFile(mblk_t* mp);
  void DrainBelow();

  Domain* const domain_;
  dev_t dev_;
  const bool is_pipe_;
  std::unique_ptr<Stream> stream_;
  std::atomic<int> holds_{0};
  std::atomic<int> descriptors_{0};

  // The inbox (head_inbox.cc): a ring of records, each a message's bytes copied in (plain data
  // of at most kInboxInlineMax bytes, from a pipe end's write) or a pointer to an mblk_t.
  // Producers append under the spin lock `busy`; the consumer is whoever holds mu_ (one at a
  // time), and reads without the spin lock. The producer's fields and the consumer's sit on
  // separate cache lines, each side keeping a copy of the other's index that it refreshes only
  // when the ring looks full (or empty), so a message costs about one line of the ring crossing
  // between the cores, read in order (the hardware prefetches it).
  struct alignas(64) Inbox {
    std::atomic<bool> busy{false};  // the producers' spin lock
    // Bytes ever published; stored (release) under busy after the record is written.
    std::atomic<uint64_t> tail{0};
    // The ring (a power of two in size; grown from kInboxSmall to kInboxLarge by the first inline
    // record, while empty). Written under busy; the consumer reads both after loading tail.
    std::atomic<unsigned char*> ring{nullptr};
    std::atomic<uint32_t> size{0};
    uint64_t head_seen = 0;  // the producers' copy of head
    int64_t charge_in = 0;   // charge ever appended (max(bytes, blocks) of each message)
    int64_t out_seen = 0;    // the producers' copy of charge_out
    int64_t limit = 0;       // the charge it may hold: what keeps rq and it below the mark
    uint64_t reserved_end = 0;  // InboxReserveBytes to InboxPublishLocked
    void Lock();
    void Unlock() { busy.store(false, std::memory_order_release); }

    // The consumer's (mu_): bytes and charge consumed.
    alignas(64) std::atomic<uint64_t> head{0};
    std::atomic<int64_t> charge_out{0};

    bool Pending() const {
      return tail.load(std::memory_order_acquire) != head.load(std::memory_order_relaxed);
    }
  };
  // Reserves an inline record of n bytes (without mu_): the place to copy them to, with the
  // spin lock held, or nullptr if the inbox cannot take them now (the locked way then).
  unsigned char* InboxReserveBytes(size_t n);
  unsigned char* InboxReserve(uint32_t kind, uint32_t len, size_t need, int64_t charge,
                              uint32_t want);
  bool CopyIntoInbox(const iovec*& iov, int& iovcnt, size_t& off, size_t n, Arrival* a);
  unsigned char* InboxRoom(size_t need, int64_t charge, uint32_t want, uint64_t* end);
  Arrival InboxPublishLocked();  // after the copy: publishes the record, drops the spin lock
  // The consumer (mu_ held): the next record's data, if a read may copy it out where it is:
  // bytes copied in, or a message of one block of M_DATA. False when the inbox is empty or the
  // next record must become (or stay) a message on the read queue (SpliceInboxLocked).
  struct InboxData {
    const unsigned char* p = nullptr;
    size_t n = 0;
    mblk_t* mp = nullptr;  // the message holding the bytes; nullptr: bytes copied in
    int64_t charge = 0;
  };
  bool InboxPeekDataLocked(InboxData* d);
  void InboxConsumeLocked(const InboxData& d);  // after a peek: frees the message, if any
  Inbox inbox_;
  bool inbox_open_ = true;  // under mu_

  // Each on its own cache line: the waits' generation, bumped by whoever delivers to the head
  // (a writer on another thread, per message); what that writer reads for every message and
  // rarely changes; and mu_ with the state it guards, which the head's own callers write.
  alignas(64) WaitPoint wait_;

  alignas(64) std::atomic<int> efd_{-1};
  std::atomic<uint32_t> cancel_gen_{0};  // read by every call: not on wait_'s line
  std::atomic<bool> efd_signalled_{false};
  // True when Raise has more to do than the eventfd: signals registered or a watcher set. Keeps
  // mu_ out of the per-message path otherwise.
  std::atomic<bool> notify_slow_{false};

  alignas(64) mutable Mutex mu_;  // sd_lock: everything below
  HeadWatcher watcher_;
  void UpdateNotifyLocked() {
    const bool slow =
        !sigs_.empty() || watcher_.readiness != nullptr || watcher_.signal != nullptr;
    const bool was = notify_slow_.exchange(slow, std::memory_order_acq_rel);
    if (slow && !was) InboxSeesNotifyLocked();
  }

  // Options and state (sd_flag and friends).
  int rdopt_ = RNORM | RPROTNORM;
  int wropt_ = 0;
  int rerror_ = 0;
  int werror_ = 0;
  bool strderr_ = false;   // a read error is set
  // What a direct write looks at without mu_ (WriteDirect) is atomic; changed under mu_.
  std::atomic<bool> stwrerr_ = false;  // a write error is set
  std::atomic<bool> strhup_ = false;   // hung up
  bool peer_gone_ = false;  // ... by a pipe's or FIFO's other side going (MSGPEERGONE)
  bool rerr_nonpersist_ = false;
  bool werr_nonpersist_ = false;
  std::atomic<bool> linked_ = false;
  bool fifo_ = false;  // SO_FIFO: writes come back up this stream's own read side
  bool orphaned_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::atomic<size_t> wroff_ = 0;
  std::atomic<size_t> tail_ = 0;
  std::atomic<ssize_t> maxblk_ = INFPSZ;
  bool mread_ = false;
  bool ndelon_ = false;
  std::atomic<bool> delim_ = false;
  bool istty_ = false;
  bool tostop_ = false;
  unsigned short copyopt_ = 0;
  int closetime_ms_ = STRTIMOUT * 1000;
  int anchor_ = 0;  // the module count at I_ANCHOR (0: none); popping it needs privilege
  bool plumbing_ = false;  // an I_PUSH/I_POP/I_LINK/I_UNLINK is under way
  bool getmsg_in_progress_ = false;
  uint64_t arrivals_ = 0;  // messages queued at the head so far (M_READ's resend rule)
  mblk_t* mark_ = nullptr;  // the last MSGMARK message queued (I_ATMARK LASTMARK)
  std::vector<int> pending_sigs_;  // M_SIGs taken off the front, delivered after mu_ is let go

  // SO_REPLY (PSARC SO_REPLY case): one request outstanding per stream.
  std::atomic<bool> so_reply_ = false;
  bool reply_busy_ = false;  // a writer owns the request slot
  bool reply_arrived_ = false;
  int reply_errno_ = 0;
  absl::Duration reply_timeout_ = absl::Seconds(STRTIMOUT);
  absl::Duration read_timeout_ = absl::InfiniteDuration();
  absl::Duration write_timeout_ = absl::InfiniteDuration();

  // ioctls: one outstanding per stream, answers matched on ioc_id.
  bool ioc_busy_ = false;
  unsigned int ioc_id_ = 0;  // the id awaited, 0 if none
  mblk_t* ioc_answer_ = nullptr;

  // I_SETSIG registrations.
  struct SigReg {
    pid_t pid;
    int events;
  };
  std::vector<SigReg> sigs_;

  // Links made through this stream (I_LINK; I_PLINK ones live in the Domain).
  std::vector<Link> links_;
};

}  // namespace ustreams
