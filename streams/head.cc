// The stream head: construction, what arrives from below (strrput), errors, signals, poll and
// close. Reads and writes are in head_rw.cc, ioctls in head_ioctl.cc, links in head_mux.cc.
#include "streams/head.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "streams/debug.h"
#include "streams/domain.h"
#include "streams/file.h"
#include "streams/scheduler.h"

namespace ustreams {

namespace {
std::atomic<uint64_t> g_readiness_syscalls{0};
module_info g_head_rinfo{0, "strrhead", 0, INFPSZ, kStrHigh, kStrLow};
module_info g_head_winfo{0, "strwhead", 0, INFPSZ, 0, 0};
}  // namespace

// The head's queues. The read side has no service procedure (data waits on the read queue for
// a reader); the write side's service procedure is what flow control back-enables.
qinit g_head_rinit{nullptr, nullptr, nullptr, nullptr, nullptr, &g_head_rinfo, nullptr};
qinit g_head_winit{nullptr, nullptr, nullptr, nullptr, nullptr, &g_head_winfo, nullptr};
streamtab g_head_tab{&g_head_rinit, &g_head_winit, nullptr, nullptr};

uint64_t ReadinessSyscalls() { return g_readiness_syscalls.load(std::memory_order_relaxed); }

const streamtab* StreamHead::HeadTab() {
  // The procedures are private members: filled in once, before any stream can use them.
  static const streamtab* tab = [] {
    g_head_rinit.qi_putp = &StreamHead::HeadRput;
    g_head_winit.qi_putp = &StreamHead::HeadWput;
    g_head_winit.qi_srvp = &StreamHead::HeadWsrv;
    return &g_head_tab;
  }();
  return tab;
}

StreamHead::StreamHead(Domain* domain, dev_t dev, StreamHead* pipe_peer)
    : domain_(domain),
      dev_(dev),
      is_pipe_(Domain::MajorOf(dev) == static_cast<int>(kPipeMajor)) {
  stream_ = std::make_unique<Stream>(&domain->scheduler(), HeadTab(), this,
                                     pipe_peer != nullptr ? pipe_peer->stream_.get() : nullptr);
  stream_->head_wq()->q_wake = &StreamHead::WakeWriters;
  stream_->set_domain(domain);
  if (is_pipe_) {
    // Pipes raise SIGPIPE on writes without a reader (illumos sets SW_SIGPIPE at birth). illumos
    // also sets OLDNDELAY, making an O_NDELAY read of an empty pipe return 0; Linux has one bit
    // for O_NDELAY and O_NONBLOCK, and O_NONBLOCK's EAGAIN is what POSIX programs expect.
    wropt_ = SNDPIPE;
    strqset(stream_->head_rq(), QHIWAT, 0, kPipeHiwat);
    strqset(stream_->head_rq(), QLOWAT, 0, kPipeLowat);
  }
  mu_.SetAcquireHook(&StreamHead::SpliceHook, this);
  std::lock_guard<Mutex> l(mu_);
  RefreshInboxLimitLocked();
}

StreamHead::~StreamHead() {
  // Close() normally ran; a head that was never opened fully still frees its stream.
  stream_.reset();
  FreeInbox();  // after the stream: nothing below can hand it more
  freemsg(ioc_answer_);
  if (efd_ >= 0) close(efd_.load());
}

bool StreamHead::linked() const {
  std::lock_guard<Mutex> l(mu_);
  return linked_;
}

void StreamHead::SetLinked(bool on) {
  {
    std::lock_guard<Mutex> l(mu_);  // its hook moves what the inbox holds onto the queue
    linked_ = on;
    if (on) {
      CloseInboxLocked();
    } else if (!closing_) {
      OpenInboxLocked();
    }
  }
  wait_.WakeAll();
  Raise(Events{static_cast<short>(POLLNVAL), 0});
}

void StreamHead::SetWatcher(const HeadWatcher& w) {
  std::lock_guard<Mutex> l(mu_);
  watcher_ = w;
  UpdateNotifyLocked();
}

void StreamHead::CancelWaits() {
  cancel_gen_.fetch_add(1, std::memory_order_acq_rel);
  wait_.WakeAll();
}

void StreamHead::SetTimeouts(absl::Duration read, absl::Duration write) {
  std::lock_guard<Mutex> l(mu_);
  read_timeout_ = read;
  write_timeout_ = write;
}

void StreamHead::SetReplyTimeout(absl::Duration d) {
  std::lock_guard<Mutex> l(mu_);
  reply_timeout_ = d;
}

void StreamHead::AddDescriptor() {
  descriptors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<Mutex> l(mu_);
  orphaned_ = false;
}

void StreamHead::DropDescriptor() {
  if (descriptors_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  {
    std::lock_guard<Mutex> l(mu_);
    orphaned_ = true;
  }
  wait_.WakeAll();
}

bool StreamHead::closed() const {
  std::lock_guard<Mutex> l(mu_);
  return closed_;
}

int StreamHead::EventFd() {
  std::lock_guard<Mutex> l(mu_);
  if (efd_ < 0) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) return -errno;
    efd_.store(fd, std::memory_order_release);
  }
  return efd_;
}

void StreamHead::ClearReadiness(short watched) {
  int fd = efd_.load(std::memory_order_acquire);
  if (fd < 0) return;
  // The count first, then the flag: a producer that raises after the flag clears writes a count
  // this read does not take away, so the descriptor stays readable for what it brought.
  eventfd_t v;
  (void)eventfd_read(fd, &v);
  efd_signalled_.store(false, std::memory_order_seq_cst);
  InboxHandshake();  // a record published from now on sees the flag clear (Arrival)
  if (watched == 0) return;
  const short now = static_cast<short>(Poll(watched) & watched);
  if (now != 0) Raise(Events{now, 0});
}

void StreamHead::DropSignals(pid_t pid) {
  std::lock_guard<Mutex> l(mu_);
  std::erase_if(sigs_, [pid](const SigReg& r) { return r.pid == pid; });
  UpdateNotifyLocked();
}

// ---- errors (illumos strgeterr) ----

int StreamHead::GetErrLocked(int which, bool peek) {
  if ((which & kErrPlex) && linked_) return EINVAL;
  if ((which & kErrRead) && strderr_) {
    int e = rerror_;
    if (rerr_nonpersist_ && !peek) {
      rerror_ = 0;
      strderr_ = false;
    }
    return e;
  }
  if ((which & kErrWrite) && stwrerr_) {
    int e = werror_;
    if (werr_nonpersist_ && !peek) {
      werror_ = 0;
      stwrerr_ = false;
    }
    return e;
  }
  if ((which & kErrHup) && strhup_) return werror_;
  return 0;
}

int StreamHead::WriteableLocked(bool eio_on_hangup, bool sigpipe) {
  int e;
  if (eio_on_hangup && strhup_ && !linked_) {
    e = EIO;  // POSIX: a write to a hung-up device
  } else {
    e = GetErrLocked(kErrHup | kErrPlex | kErrWrite, false);
  }
  if (e != 0 && sigpipe && !linked_ && ((wropt_ & SNDPIPE) || PipeReaderGoneLocked())) {
    pthread_kill(pthread_self(), SIGPIPE);
    e = EPIPE;
  }
  return e;
}

// ---- waiting ----

absl::Time StreamHead::DeadlineAfter(absl::Duration d) const {
  if (d == absl::InfiniteDuration()) return absl::InfiniteFuture();
  return domain_->scheduler().Now() + d;
}

int StreamHead::WaitLocked(std::unique_lock<Mutex>& l, Call& call, absl::Time deadline,
                           const uint32_t* seen, bool any_signal) {
  if (orphaned_) return EBADF;
  // A writer handing a message to the inbox does not take mu_, and wakes only watchers
  // (InboxArrived): watch, meet the producers (InboxHandshake), read the generation, then look
  // at the inbox again, so one that came after the caller's look ends the wait (an eventcount).
  struct Watching {
    explicit Watching(WaitPoint& w) : w_(w) { w_.Watch(); }
    ~Watching() { w_.Unwatch(); }
    WaitPoint& w_;
  } watching(wait_);
  InboxHandshake();
  uint32_t gen = seen != nullptr ? *seen : wait_.Generation();
  bufcall_id_t mem = 0;
  if (inbox_.Pending()) {
    const uint64_t before = arrivals_;
    const size_t stuck = SpliceInboxLocked();
    if (stuck == 0 || arrivals_ != before) {
      // Something arrived: the caller looks again; a cancel or a deadline passed still counts.
      if (cancel_gen_.load(std::memory_order_acquire) != call.cancel_seen) return EINTR;
      if (deadline != absl::InfiniteFuture() && domain_->scheduler().Now() >= deadline) {
        return ETIME;
      }
      return 0;
    }
    // Copied bytes wait for memory to become a message (a read takes them as they are): wait
    // for memory as well (bufcall(9F)).
    mem = bufcall(
        stuck, BPRI_MED, [](void* arg) { static_cast<WaitPoint*>(arg)->WakeAll(); }, &wait_);
    if (mem == 0) return ENOSR;
  }
  seen = &gen;
  call.claim.Release();
  int rc = wait_.Wait(l, &domain_->scheduler(), deadline, &cancel_gen_, call.cancel_seen, seen,
                      any_signal);
  l.unlock();
  call.claim.Reacquire();
  if (mem != 0) unbufcall(mem);
  l.lock();
  if (rc == 0 && orphaned_) rc = EBADF;
  return rc;
}

// ---- readiness and signals ----

void StreamHead::Raise(const Events& ev) {
  // The descriptors' eventfd: one write per batch of events until someone clears it, so a stream
  // nobody waits on costs no system call per message (a relaxed load when already signalled).
  int efd = efd_.load(std::memory_order_acquire);
  if (efd >= 0 && ev.poll != 0 && !efd_signalled_.load(std::memory_order_seq_cst) &&
      !efd_signalled_.exchange(true, std::memory_order_seq_cst)) {
    (void)eventfd_write(efd, 1);
    g_readiness_syscalls.fetch_add(1, std::memory_order_relaxed);
  }
  if (!notify_slow_.load(std::memory_order_acquire)) return;
  HeadWatcher w;
  std::vector<SigReg> regs;
  {
    std::lock_guard<Mutex> l(mu_);
    w = watcher_;
    if (ev.sig != 0) {
      for (const SigReg& r : sigs_) {
        if (r.events & ev.sig) regs.push_back(r);
      }
    }
  }
  if (ev.poll != 0 && w.readiness != nullptr) w.readiness(w.arg, ev.poll);
  for (const SigReg& r : regs) {
    int mine = r.events & ev.sig;
    // S_BANDURG turns the S_RDBAND signal into SIGURG; the rest stay SIGPOLL.
    if ((r.events & S_BANDURG) && (mine & S_RDBAND)) {
      SendSignal(w, r.pid, SIGURG, S_RDBAND);
      mine &= ~S_RDBAND;
    }
    if (mine != 0) SendSignal(w, r.pid, SIGPOLL, mine);
  }
}

void StreamHead::SendSignal(const HeadWatcher& w, pid_t pid, int sig, int sevents) {
  if (w.signal != nullptr) {
    w.signal(w.arg, sig, sevents);
    return;
  }
  // A registration made by this process (pid 0 from I_ESETSIG, or our own pid) signals us;
  // another pid (or a process group, negative) is signalled as kill(2) would.
  if (pid == 0 || pid == getpid()) {
    kill(getpid(), sig);
  } else {
    kill(pid, sig);
  }
}

void StreamHead::DeliverSig(int sig) {
  if (sig <= 0 || sig >= NSIG) return;
  if (sig == SIGPOLL) {
    Raise(Events{static_cast<short>(POLLMSG), S_MSG});
    return;
  }
  HeadWatcher w;
  bool tty;
  {
    std::lock_guard<Mutex> l(mu_);
    w = watcher_;
    tty = istty_;
  }
  // Any other signal goes to the stream's process group, which only a controlling terminal has
  // (illumos); an embedder's callback hears every one.
  if (w.signal != nullptr) {
    w.signal(w.arg, sig, 0);
  } else if (tty) {
    kill(getpid(), sig);
  }
}

StreamHead::Events StreamHead::ArrivalEvents(const mblk_t* mp) {
  if (queclass_is_hipri(mp)) return Events{static_cast<short>(POLLPRI), S_HIPRI};
  if (mp->b_band != 0) {
    return Events{static_cast<short>(POLLIN | POLLRDBAND), S_INPUT | S_RDBAND};
  }
  return Events{static_cast<short>(POLLIN | POLLRDNORM), S_INPUT | S_RDNORM};
}

// ---- what arrives from below (strrput) ----

int StreamHead::HeadRput(queue_t* q, mblk_t* mp) {
  auto* h = static_cast<StreamHead*>(q->q_ptr);
  switch (DB_TYPE(mp)) {
    case M_DATA:
    case M_PROTO:
    case M_PCPROTO:
    case M_PASSFP:
      h->RecvData(q, mp);
      break;
    case M_SIG:
      h->RecvSig(q, mp, false);
      break;
    case M_PCSIG:
      h->RecvSig(q, mp, true);
      break;
    case M_FLUSH:
      h->RecvFlush(q, mp);
      break;
    case M_ERROR:
      h->RecvError(q, mp);
      break;
    case M_HANGUP:
      h->RecvHangup(true, (mp->b_flag & MSGPEERGONE) != 0);
      freemsg(mp);
      break;
    case M_UNHANGUP:
      h->RecvHangup(false);
      freemsg(mp);
      break;
    case M_SETOPTS:
      h->RecvSetopts(q, mp);
      break;
    case M_IOCACK:
    case M_IOCNAK:
    case M_COPYIN:
    case M_COPYOUT:
      h->RecvIocAnswer(mp);
      break;
    case M_IOCTL:
      // An ioctl travelling up is refused: it goes back down as a NAK.
      DB_TYPE(mp) = M_IOCNAK;
      qreply(q, mp);
      break;
    case M_REPLY:
      h->RecvReply(mp);
      break;
    default:
      freemsg(mp);  // meaningless at a head (M_CTL, M_BREAK, M_DELAY, M_START ...)
      break;
  }
  return 0;
}

int StreamHead::HeadWput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);  // put(9F) on the head's write queue: send it on down
  return 0;
}

// Back-enabled by flow control below: wake writers and POLLOUT/POLLWRBAND pollers. Runs in place,
// in the thread whose getq() drained the queue below (queue_t::q_wake), so a blocked writer does
// not wait for a scheduler thread to run the head's service procedure; HeadWsrv does the same
// for a qenable() of the head's write queue. Writers read the wait generation before checking
// flow control, so this needs no lock of the head's.
void StreamHead::WakeWriters(queue_t* q) {
  auto* h = static_cast<StreamHead*>(q->q_ptr);
  Events ev;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    if (q->q_flag & QBACK) {
      q->q_flag &= ~QBACK;
      ev.poll |= POLLOUT;
      ev.sig |= S_OUTPUT;
    }
    for (qband* qb = q->q_bandp; qb != nullptr; qb = qb->qb_next) {
      if (qb->qb_flag & QB_BACK) {
        qb->qb_flag &= ~QB_BACK;
        ev.poll |= POLLWRBAND;
        ev.sig |= S_WRBAND;
      }
    }
  }
  h->wait_.WakeAll();
  if (ev.poll == 0) ev.poll = POLLOUT;  // a qenable() of the head: writers re-check anyway
  h->Raise(ev);
}

int StreamHead::HeadWsrv(queue_t* q) {
  WakeWriters(q);
  return 0;
}

int StreamHead::WaitWritableLocked(std::unique_lock<Mutex>& l, Call& call, int band,
                                   int fflag, bool sigpipe) {
  const absl::Time deadline = DeadlineAfter(write_timeout_);
  for (;;) {
    uint32_t seen = wait_.Generation();
    if (bcanputnext(stream_->head_wq(), static_cast<unsigned char>(band))) return 0;
    if (fflag & (O_NONBLOCK | O_NDELAY)) return EAGAIN;
    if (int e = WaitLocked(l, call, deadline, &seen); e != 0) return e;
    if (int e = GetErrLocked(kErrWrite | kErrHup | kErrPlex, false); e != 0) {
      if (sigpipe && !linked_ && PipeReaderGoneLocked()) {
        // The reader of a pipe or FIFO went while the writer waited: EPIPE and SIGPIPE, as a
        // write(2) begun then would have had. Other streams keep the error the wait found
        // (a hangup's ENXIO), SNDPIPE or not: illumos strwaitq reports it as it is.
        pthread_kill(pthread_self(), SIGPIPE);
        e = EPIPE;
      }
      return e;
    }
  }
}

void StreamHead::RecvData(queue_t* q, mblk_t* mp) {
  if (Arrival a; TryInbox(mp, &a)) {
    InboxArrived(a);
    return;
  }
  RecvDataLocked(q, mp);
}

// Kept out of line: RecvData's inbox way is what every data message takes, inlined where
// HeadRput dispatches.
[[gnu::noinline]] void StreamHead::RecvDataLocked(queue_t* q, mblk_t* mp) {
  Events ev;
  {
    std::lock_guard<Mutex> l(mu_);
    bool pcproto = DB_TYPE(mp) == M_PCPROTO;
    if (pcproto && StrPriLocked()) {
      freemsg(mp);  // only one high-priority message waits at a head
      return;
    }
    if (!putq(q, mp)) {
      freemsg(mp);  // no memory for a band structure: dropped like any allocation failure
      return;
    }
    arrivals_++;
    if (mp->b_flag & MSGMARK) mark_ = mp;
    // The inbox refused it, or it could not go there: its limit may be stale (the reader has
    // taken messages since), so whatever the queue can take now goes that way again.
    RefreshInboxLimitLocked();
    // The "first message" signals: always for M_PCPROTO, otherwise only when this message is
    // now first and no getmsg is taking the queue apart.
    if (pcproto || (q->q_first == mp && !getmsg_in_progress_)) {
      ev = ArrivalEvents(mp);
    } else {
      ev.poll = ArrivalEvents(mp).poll;
    }
  }
  wait_.WakeAll();
  Raise(ev);
}

void StreamHead::RecvSig(queue_t* q, mblk_t* mp, bool now) {
  int sig = MBLKL(mp) > 0 ? mp->b_rptr[0] : 0;
  {
    std::lock_guard<Mutex> l(mu_);
    if (!now && q->q_first != nullptr) {
      // Delivered when a read reaches it.
      if (putq(q, mp)) return;
    }
  }
  freemsg(mp);
  DeliverSig(sig);
}

bool StreamHead::StrPriLocked() {
  queue_t* rq = stream_->head_rq();
  return rq->q_first != nullptr && DB_TYPE(rq->q_first) == M_PCPROTO;
}

void StreamHead::FlushReadLocked(int band, bool by_band) {
  queue_t* rq = stream_->head_rq();
  if (by_band) {
    flushband(rq, static_cast<unsigned char>(band), FLUSHALL);
  } else if (rdopt_ & RFLUSHPCPROT) {
    for (mblk_t* mp = rq->q_first; mp != nullptr;) {
      mblk_t* next = mp->b_next;
      if (DB_TYPE(mp) != M_PCPROTO) {
        rmvq(rq, mp);
        freemsg(mp);
      }
      mp = next;
    }
  } else {
    flushq(rq, FLUSHALL);
  }
  // mark_ may point at a freed message: forget it unless it is still queued.
  bool found = false;
  for (mblk_t* mp = rq->q_first; mp != nullptr && !found; mp = mp->b_next) found = mp == mark_;
  if (!found) mark_ = nullptr;
}

void StreamHead::RecvFlush(queue_t* q, mblk_t* mp) {
  if (MBLKL(mp) < 1) {
    freemsg(mp);
    return;
  }
  unsigned char flags = mp->b_rptr[0];
  if (flags & FLUSHR) {
    std::lock_guard<Mutex> l(mu_);
    FlushReadLocked(MBLKL(mp) >= 2 ? mp->b_rptr[1] : 0, (flags & FLUSHBAND) && MBLKL(mp) >= 2);
  }
  if ((flags & FLUSHW) && !(mp->b_flag & MSGNOLOOP)) {
    if (DB_REF(mp) > 1) {  // the flag byte changes below: never in a shared block
      mblk_t* copy = copymsg(mp);
      freemsg(mp);
      if (copy == nullptr) return;
      mp = copy;
    }
    mp->b_rptr[0] &= static_cast<unsigned char>(~FLUSHR);
    mp->b_flag |= MSGNOLOOP;  // a pipe's far head must not send it back again
    qreply(q, mp);
    return;
  }
  freemsg(mp);
}

void StreamHead::RecvError(queue_t* q, mblk_t* mp) {
  unsigned char flush = 0;
  bool set = false;
  int sig_errno = 0;
  {
    std::lock_guard<Mutex> l(mu_);
    bool r_was = strderr_, w_was = stwrerr_;
    bool set_r = false, set_w = false;
    if (MBLKL(mp) == 2) {
      unsigned char r = mp->b_rptr[0], w = mp->b_rptr[1];
      if (r != NOERROR) {
        rerror_ = r;
        strderr_ = r != 0;
        set_r = r != 0;
      }
      if (w != NOERROR) {
        werror_ = w;
        stwrerr_ = w != 0;
        set_w = w != 0;
      }
    } else if (MBLKL(mp) >= 1 && mp->b_rptr[0] != 0) {
      rerror_ = werror_ = mp->b_rptr[0];
      strderr_ = stwrerr_ = true;
      set_r = set_w = true;
    }
    set = set_r || set_w;
    // The first error on a side flushes the stream below; one already in error does not again.
    bool fresh = (set_r && !r_was) || (set_w && !w_was);
    if (MBLKL(mp) != 2) fresh = !r_was && !w_was;
    if (set && fresh) flush = (set_r ? FLUSHR : 0) | (set_w ? FLUSHW : 0);
    sig_errno = set_r ? rerror_ : werror_;
  }
  (void)sig_errno;
  if (!set) {
    freemsg(mp);
    return;
  }
  wait_.WakeAll();
  Raise(Events{static_cast<short>(POLLERR), S_ERROR});
  if (flush == 0) {
    freemsg(mp);
    return;
  }
  // Reuse the message as a one-byte M_FLUSH downstream (in a fresh block if it is shared).
  if (DB_REF(mp) > 1 || MBLKSIZE(mp) < 1) {
    freemsg(mp);
    mp = allocb(1);
    if (mp == nullptr) return;
  } else {
    freemsg(mp->b_cont);
    mp->b_cont = nullptr;
    mp->b_rptr = mp->b_wptr = mp->b_datap->db_base;
  }
  DB_TYPE(mp) = M_FLUSH;
  *mp->b_wptr++ = flush;
  qreply(q, mp);
}

void StreamHead::RecvHangup(bool hangup, bool peer_gone) {
  {
    std::lock_guard<Mutex> l(mu_);
    if (hangup) {
      werror_ = ENXIO;
      strhup_ = true;
      peer_gone_ = peer_gone;
    } else {
      werror_ = 0;
      strhup_ = false;
      peer_gone_ = false;
    }
  }
  if (!hangup) return;
  wait_.WakeAll();
  Raise(Events{static_cast<short>(POLLHUP), S_HANGUP});
}

void StreamHead::RecvSetopts(queue_t* q, mblk_t* mp) {
  if (MBLKL(mp) < sizeof(stroptions)) {
    freemsg(mp);
    return;
  }
  stroptions so;
  std::memcpy(&so, mp->b_rptr, sizeof(so));
  freemsg(mp);
  unsigned int f = so.so_flags;
  int backenable_band = -1;
  {
    std::lock_guard<Mutex> l(mu_);
    if (f & SO_READOPT) {
      switch (so.so_readopt & RMODEMASK) {
        case RNORM: rdopt_ = (rdopt_ & ~RMODEMASK) | RNORM; break;
        case RMSGD: rdopt_ = (rdopt_ & ~RMODEMASK) | RMSGD; break;
        case RMSGN: rdopt_ = (rdopt_ & ~RMODEMASK) | RMSGN; break;
        default: break;
      }
      int prot = so.so_readopt & RPROTMASK;
      if (prot == RPROTNORM || prot == RPROTDAT || prot == RPROTDIS) {
        rdopt_ = (rdopt_ & ~RPROTMASK) | prot;
      }
      if (so.so_readopt & RFLUSHPCPROT) rdopt_ |= RFLUSHPCPROT;  // never cleared again
    }
    if (f & SO_ERROPT) {
      switch (so.so_erropt & RERRMASK) {
        case RERRNORM: rerr_nonpersist_ = false; break;
        case RERRNONPERSIST: rerr_nonpersist_ = true; break;
        default: break;
      }
      switch (so.so_erropt & WERRMASK) {
        case WERRNORM: werr_nonpersist_ = false; break;
        case WERRNONPERSIST: werr_nonpersist_ = true; break;
        default: break;
      }
    }
    if (f & SO_COPYOPT) copyopt_ = so.so_copyopt;
    if (f & SO_WROFF) wroff_ = so.so_wroff;
    if (f & SO_TAIL) tail_ = so.so_tail;
    if (f & SO_MAXBLK) maxblk_ = so.so_maxblk;
    if (f & SO_MINPSZ) strqset(q, QMINPSZ, 0, so.so_minpsz);
    if (f & SO_MAXPSZ) strqset(q, QMAXPSZ, 0, so.so_maxpsz);
    if (f & (SO_HIWAT | SO_LOWAT)) {
      unsigned char band = (f & SO_BAND) ? so.so_band : 0;
      if (f & SO_HIWAT) strqset(q, QHIWAT, band, static_cast<intptr_t>(so.so_hiwat));
      if (f & SO_LOWAT) strqset(q, QLOWAT, band, static_cast<intptr_t>(so.so_lowat));
      backenable_band = band;
      RefreshInboxLimitLocked();
    }
    // Each ON is applied before its OFF: both at once leave the option off.
    if (f & SO_MREADON) mread_ = true;
    if (f & SO_MREADOFF) mread_ = false;
    if (f & SO_NDELON) ndelon_ = true;
    if (f & SO_NDELOFF) ndelon_ = false;
    if (f & SO_ISTTY) istty_ = true;
    if (f & SO_ISNTTY) istty_ = false;
    if (f & SO_TOSTOP) tostop_ = true;
    if (f & SO_TONSTOP) tostop_ = false;
    if (f & SO_DELIM) delim_ = true;
    if (f & SO_NODELIM) delim_ = false;
    if (f & SO_REPLY) so_reply_ = true;  // for the life of the stream
    if ((f & SO_FIFO) && !fifo_) {
      // What illumos gives a FIFO's head at its first open: SIGPIPE on writes (sd_wput_opt).
      fifo_ = true;
      wropt_ |= SNDPIPE;
    }
  }
  // New marks may leave the read queue below its low mark with a writer waiting behind.
  if (backenable_band >= 0) qbackenable(q, static_cast<unsigned char>(backenable_band));
}

void StreamHead::RecvIocAnswer(mblk_t* mp) {
  bool taken = false;
  if (MBLKL(mp) >= sizeof(iocblk)) {
    const unsigned int id = reinterpret_cast<const iocblk*>(mp->b_rptr)->ioc_id;
    std::lock_guard<Mutex> l(mu_);
    if (ioc_id_ != 0 && id == ioc_id_ && ioc_answer_ == nullptr) {
      ioc_answer_ = mp;
      taken = true;
    }
  }
  if (taken) {
    wait_.WakeAll();
    return;
  }
  // A late or unknown answer. A copy request still expects an M_IOCDATA: fail it.
  if ((DB_TYPE(mp) == M_COPYIN || DB_TYPE(mp) == M_COPYOUT) && MBLKL(mp) >= sizeof(copyresp) &&
      DB_REF(mp) == 1) {
    freemsg(mp->b_cont);
    mp->b_cont = nullptr;
    DB_TYPE(mp) = M_IOCDATA;
    reinterpret_cast<copyresp*>(mp->b_rptr)->cp_rval = reinterpret_cast<char*>(1);
    StreamClaim claim(stream_.get());
    putnext(stream_->head_wq(), mp);
    return;
  }
  freemsg(mp);
}

void StreamHead::RecvReply(mblk_t* mp) {
  bool taken = false;
  {
    std::lock_guard<Mutex> l(mu_);
    if (reply_busy_ && !reply_arrived_) {
      strreply_t r{EINVAL};  // a reply too short to carry an errno is a failure
      if (MBLKL(mp) >= sizeof(r)) std::memcpy(&r, mp->b_rptr, sizeof(r));
      reply_errno_ = r.sr_errno;
      reply_arrived_ = true;
      taken = true;
    }
  }
  freemsg(mp);  // consumed here, never queued for read()
  if (taken) wait_.WakeAll();
}

// ---- poll ----

short StreamHead::Poll(short events) {
  StreamClaim claim(stream_.get());
  std::lock_guard<Mutex> l(mu_);
  if (linked_) return POLLNVAL;
  const short kRead = POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI;
  const short kWrite = POLLOUT | POLLWRNORM | POLLWRBAND;
  if (((events & kRead) && strderr_) || ((events & kWrite) && stwrerr_)) return POLLERR;
  short rev = 0;
  queue_t* wq = stream_->head_wq();
  if (strhup_) {
    rev |= POLLHUP;
  } else if (events & kWrite) {
    if ((events & (POLLOUT | POLLWRNORM)) && canputnext(wq)) {
      rev |= events & (POLLOUT | POLLWRNORM);
    }
    if (events & POLLWRBAND) {
      queue_t* tq = wq->q_next != nullptr ? wq->q_next->q_nfsrv : nullptr;
      bool writable = tq == nullptr;
      if (tq != nullptr) {
        std::lock_guard<Mutex> ql(tq->q_lock);
        writable = tq->q_bandp == nullptr;
        for (qband* qb = tq->q_bandp; qb != nullptr && !writable; qb = qb->qb_next) {
          writable = !(qb->qb_flag & QB_FULL);
        }
      }
      if (writable) rev |= POLLWRBAND;
    }
  }
  queue_t* rq = stream_->head_rq();
  mblk_t* first = rq->q_first;
  if (first != nullptr) {
    if (queclass_is_hipri(first)) {
      rev |= events & POLLPRI;
    } else if (first->b_band == 0) {
      rev |= events & (POLLIN | POLLRDNORM);
    } else {
      rev |= events & (POLLIN | POLLRDBAND);
    }
    if ((events & POLLMSG) && DB_TYPE(first) == M_SIG && MBLKL(first) > 0 &&
        first->b_rptr[0] == SIGPOLL) {
      rev |= POLLMSG;
    }
  }
  return rev;
}

// ---- close ----

void StreamHead::Close(int fflag) {
  {
    std::lock_guard<Mutex> l(mu_);
    if (closing_) return;
    strhup_ = true;  // pollers see POLLHUP from now on
    closing_ = true;
    orphaned_ = false;  // the close's own waits are not cut short
    sigs_.clear();
    UpdateNotifyLocked();
  }
  wait_.WakeAll();
  UnlinkAllOnClose();
  // Let the write side drain, a queue at a time, for up to the close time each; then close
  // the modules from the top. The last round waits for the driver's queue (illumos strclose:
  // once per queue below the head).
  cred_t cr{geteuid(), getegid()};
  bool drain = !(fflag & (O_NONBLOCK | O_NDELAY));
  for (;;) {
    if (drain) DrainBelow();
    if (stream_->module_count() == 0) break;
    stream_->Pop(fflag, &cr);
  }
  if (stream_->peer() != nullptr) {
    // The other end of a pipe hangs up (through the modules on its read side).
    if (mblk_t* mp = allocb(0)) {
      DB_TYPE(mp) = M_HANGUP;
      mp->b_flag |= MSGPEERGONE;
      StreamClaim claim(stream_.get());
      putnext(stream_->head_wq(), mp);
    }
  }
  {
    // The driver's close, and freeing every queue (messages still on them go too). Taken out
    // under mu_, whose hook moves the inbox onto the read queue first; from here on the inbox
    // takes nothing, and what still comes up while the driver closes is dropped.
    std::unique_ptr<Stream> s;
    {
      std::lock_guard<Mutex> l(mu_);
      CloseInboxLocked();
      s = std::move(stream_);
    }
    s.reset();
  }
  std::lock_guard<Mutex> l(mu_);
  closed_ = true;
}

void StreamHead::DrainBelow() {
  Call call(this, 0);
  std::unique_lock<Mutex> l(mu_);
  if (closetime_ms_ <= 0) return;
  absl::Time deadline = DeadlineAfter(absl::Milliseconds(closetime_ms_));
  for (;;) {
    uint32_t seen = wait_.Generation();
    queue_t* below = stream_->head_wq()->q_next;
    // Nothing below, or the other end of a pipe: what it has not read is not ours to wait for.
    if (below == nullptr || below->q_stream != stream_.get()) return;
    {
      std::lock_guard<Mutex> ql(below->q_lock);
      if (below->q_first == nullptr) return;
      below->q_flag |= QWANTW;  // back-enables the head's write side as it drains
    }
    // Any signal ends close's wait (SA_RESTART or not: close itself does not fail).
    if (WaitLocked(l, call, deadline, &seen, /*any_signal=*/true) != 0) return;
  }
}

}  // namespace ustreams
