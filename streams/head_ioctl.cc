// The stream head's ioctls (illumos strioctl/strdoioctl): the I_* commands, I_STR and
// transparent ioctls with M_COPYIN/M_COPYOUT. Every errno and the order of the checks follow
// illumos (streamio(4I) and the kernel where the page is vague).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "streams/domain.h"
#include "streams/file.h"
#include "streams/head.h"
#include "streams/user_addr.h"
#include "streams/msg.h"
#include "streams/queue_pair.h"
#include "streams/scheduler.h"

namespace ustreams {

namespace {

bool NonBlocking(int fflag) { return (fflag & (O_NONBLOCK | O_NDELAY)) != 0; }

// The argument of a command that takes a pointer: nullptr (so the command answers EFAULT where it
// would copy) when the address cannot be the caller's (user_addr.h).
template <typename T>
T* Arg(intptr_t arg) {
  auto* p = reinterpret_cast<T*>(arg);
  return internal::BadAddress(p, sizeof(T)) ? nullptr : p;
}

// Copies a module name argument: EFAULT for nullptr, EINVAL when it does not fit FMNAMESZ.
int CopyName(intptr_t arg, char (&name)[FMNAMESZ + 1]) {
  const char* p = Arg<const char>(arg);
  if (p == nullptr) return EFAULT;
  size_t n = strnlen(p, FMNAMESZ + 1);
  if (n > FMNAMESZ) return EINVAL;
  std::memcpy(name, p, n);
  name[n] = '\0';
  return 0;
}

// The commands whose pre-check looks at the read error only.
bool ReadClass(int cmd) {
  return cmd == I_RECVFD || cmd == I_PEEK || cmd == I_NREAD || cmd == I_ATMARK ||
         cmd == FIONREAD || cmd == FIORDCHK || cmd == FIONBIO || cmd == FIOASYNC;
}

constexpr int kSetsigMask =
    S_INPUT | S_HIPRI | S_MSG | S_HANGUP | S_ERROR | S_RDNORM | S_WRNORM | S_RDBAND | S_WRBAND |
    S_BANDURG;

}  // namespace

int StreamHead::Ioctl(int cmd, intptr_t arg, int fflag, int* rval) {
  *rval = 0;
  {
    std::lock_guard<Mutex> l(mu_);
    int e = GetErrLocked(ReadClass(cmd) ? (kErrRead | kErrPlex)
                                        : (kErrRead | kErrWrite | kErrPlex),
                         false);
    if (e != 0) return e;
  }
  switch (cmd) {
    case I_NREAD: {
      int* count = Arg<int>(arg);
      if (count == nullptr) return EFAULT;
      return IoctlNread(count, rval);
    }
    case FIONREAD: {
      int* count = Arg<int>(arg);
      if (count == nullptr) return EFAULT;
      *count = QueuedDataBytes();
      return 0;
    }
    case FIORDCHK:
      *rval = QueuedDataBytes();
      return 0;
    case FIONBIO:   // the descriptor layer sets the open file's O_NONBLOCK (us_ioctl)
    case FIOASYNC:  // accepted, as illumos's head does; SIGIO is not raised
      return 0;
    case I_PUSH: {
      char name[FMNAMESZ + 1];
      if (HungUp()) return ENXIO;
      if (int e = CopyName(arg, name); e != 0) return e;
      return IoctlPush(name, fflag);
    }
    case I_POP:
      if (HungUp()) return ENXIO;
      return IoctlPop(fflag);
    case I_LOOK:
      return IoctlLook(Arg<char>(arg));
    case I_FLUSH:
      if (HungUp()) return ENXIO;
      if (arg & ~static_cast<intptr_t>(FLUSHRW)) return EINVAL;
      return SendFlush(static_cast<unsigned char>(arg), -1);
    case I_FLUSHBAND: {
      bandinfo* bi = Arg<bandinfo>(arg);
      if (bi == nullptr) return EFAULT;
      if (HungUp()) return ENXIO;
      if (bi->bi_flag & ~FLUSHRW) return EINVAL;
      return SendFlush(static_cast<unsigned char>(bi->bi_flag), bi->bi_pri);
    }
    case I_SRDOPT: {
      if (arg & ~static_cast<intptr_t>(RMODEMASK | RPROTMASK)) return EINVAL;
      if ((arg & RMODEMASK) == (RMSGD | RMSGN)) return EINVAL;
      std::lock_guard<Mutex> l(mu_);
      rdopt_ = (rdopt_ & ~RMODEMASK) | static_cast<int>(arg & RMODEMASK);
      int prot = static_cast<int>(arg & RPROTMASK);
      if (prot == RPROTNORM || prot == RPROTDAT || prot == RPROTDIS) {
        rdopt_ = (rdopt_ & ~RPROTMASK) | prot;
      }
      return 0;
    }
    case I_GRDOPT: {
      int* out = Arg<int>(arg);
      if (out == nullptr) return EFAULT;
      std::lock_guard<Mutex> l(mu_);
      *out = rdopt_ & (RMODEMASK | RPROTMASK);
      return 0;
    }
    case I_STR: {
      strioctl* sio = Arg<strioctl>(arg);
      if (HungUp()) return ENXIO;
      if (sio == nullptr) return EFAULT;
      return IoctlStr(sio, fflag, rval);
    }
    case I_SETSIG:
      return IoctlSetsig(getpid(), static_cast<int>(arg), false);
    case I_GETSIG: {
      int* out = Arg<int>(arg);
      std::lock_guard<Mutex> l(mu_);
      for (const SigReg& r : sigs_) {
        if (r.pid == getpid()) {
          if (out == nullptr) return EFAULT;
          *out = r.events;
          return 0;
        }
      }
      return EINVAL;
    }
    case I_ESETSIG: {
      strsigset* ss = Arg<strsigset>(arg);
      if (ss == nullptr) return EFAULT;
      if (ss->ss_events != 0 && ss->ss_pid != 0 && kill(ss->ss_pid, 0) != 0) return errno;
      // Removing a registration names a process (or group) that must exist (illumos: ESRCH
      // before "not registered").
      if (ss->ss_events == 0 && ss->ss_pid != 0 && kill(ss->ss_pid, 0) != 0 && errno == ESRCH) {
        return ESRCH;
      }
      return IoctlSetsig(ss->ss_pid, ss->ss_events, true);
    }
    case I_EGETSIG: {
      strsigset* ss = Arg<strsigset>(arg);
      if (ss == nullptr) return EFAULT;
      if (ss->ss_pid != 0 && kill(ss->ss_pid, 0) != 0 && errno == ESRCH) return ESRCH;
      std::lock_guard<Mutex> l(mu_);
      for (const SigReg& r : sigs_) {
        if (r.pid == ss->ss_pid) {
          ss->ss_events = r.events;
          return 0;
        }
      }
      return EINVAL;
    }
    case I_FIND: {
      char name[FMNAMESZ + 1];
      if (int e = CopyName(arg, name); e != 0) return e;
      return IoctlFind(name, rval);
    }
    case I_LINK:
    case I_PLINK:
      if (HungUp()) return ENXIO;
      return IoctlLink(static_cast<int>(arg), cmd == I_PLINK, rval);
    case I_UNLINK:
    case I_PUNLINK:
      return IoctlUnlink(static_cast<int>(arg), cmd == I_PUNLINK);
    case I_RECVFD:
      return IoctlRecvfd(Arg<strrecvfd>(arg), fflag);
    case I_PEEK: {
      strpeek* sp = Arg<strpeek>(arg);
      if (sp == nullptr) return EFAULT;
      return IoctlPeek(sp, rval);
    }
    case I_FDINSERT: {
      strfdinsert* fi = Arg<strfdinsert>(arg);
      if (HungUp()) return ENXIO;
      if (fi == nullptr) return EFAULT;
      return IoctlFdinsert(fi, fflag);
    }
    case I_SENDFD:
      return IoctlSendfd(static_cast<int>(arg));
    case I_SWROPT: {
      if (arg & ~static_cast<intptr_t>(SNDZERO | SNDPIPE)) return EINVAL;
      std::lock_guard<Mutex> l(mu_);
      wropt_ = static_cast<int>(arg);
      return 0;
    }
    case I_GWROPT: {
      int* out = Arg<int>(arg);
      if (out == nullptr) return EFAULT;
      std::lock_guard<Mutex> l(mu_);
      *out = wropt_;
      return 0;
    }
    case I_LIST:
      if (arg != 0 && Arg<str_list>(arg) == nullptr) return EFAULT;  // 0 asks for the count
      return IoctlList(Arg<str_list>(arg), rval);
    case I_ATMARK: {
      if (arg & ~static_cast<intptr_t>(ANYMARK | LASTMARK)) return EINVAL;
      std::lock_guard<Mutex> l(mu_);
      mblk_t* first = stream_->head_rq()->q_first;
      if (first != nullptr && ((arg == ANYMARK && (first->b_flag & MSGMARK)) ||
                               (arg == LASTMARK && first == mark_))) {
        *rval = 1;
      }
      return 0;
    }
    case I_CKBAND: {
      if (arg < 0 || arg >= NBAND) return EINVAL;
      std::lock_guard<Mutex> l(mu_);
      queue_t* rq = stream_->head_rq();
      std::lock_guard<Mutex> ql(rq->q_lock);
      if (arg == 0) {
        *rval = rq->q_first != nullptr ? 1 : 0;
      } else if (arg <= rq->q_nband) {
        qband* qb = rq->q_bandp;
        for (intptr_t i = 1; i < arg; i++) qb = qb->qb_next;
        *rval = qb->qb_first != nullptr ? 1 : 0;
      }
      return 0;
    }
    case I_GETBAND: {
      int* out = Arg<int>(arg);
      std::lock_guard<Mutex> l(mu_);
      mblk_t* first = stream_->head_rq()->q_first;
      if (first == nullptr) return ENODATA;
      if (out == nullptr) return EFAULT;
      *out = first->b_band;
      return 0;
    }
    case I_CANPUT: {
      if (arg < 0 || arg >= NBAND) return EINVAL;
      StreamClaim claim(stream_.get());
      *rval = bcanputnext(stream_->head_wq(), static_cast<unsigned char>(arg));
      return 0;
    }
    case I_SETCLTIME: {
      int* ms = Arg<int>(arg);
      if (ms == nullptr) return EFAULT;
      if (*ms < 0) return EINVAL;
      std::lock_guard<Mutex> l(mu_);
      closetime_ms_ = *ms;
      return 0;
    }
    case I_GETCLTIME: {
      int* ms = Arg<int>(arg);
      if (ms == nullptr) return EFAULT;
      std::lock_guard<Mutex> l(mu_);
      *ms = closetime_ms_;
      return 0;
    }
    case I_SERROPT: {
      if (arg & ~static_cast<intptr_t>(RERRMASK | WERRMASK)) return EINVAL;
      std::lock_guard<Mutex> l(mu_);
      if ((arg & RERRMASK) == RERRNORM) rerr_nonpersist_ = false;
      if ((arg & RERRMASK) == RERRNONPERSIST) rerr_nonpersist_ = true;
      if ((arg & WERRMASK) == WERRNORM) werr_nonpersist_ = false;
      if ((arg & WERRMASK) == WERRNONPERSIST) werr_nonpersist_ = true;
      return 0;
    }
    case I_GERROPT: {
      int* out = Arg<int>(arg);
      if (out == nullptr) return EFAULT;
      std::lock_guard<Mutex> l(mu_);
      *out = (rerr_nonpersist_ ? RERRNONPERSIST : RERRNORM) |
             (werr_nonpersist_ ? WERRNONPERSIST : WERRNORM);
      return 0;
    }
    case I_ANCHOR: {
      if (is_pipe_) return EINVAL;
      std::lock_guard<Mutex> l(mu_);
      anchor_ = stream_->module_count();
      return 0;
    }
    default:
      return IoctlTransparent(cmd, arg, rval);
  }
}

bool StreamHead::HungUp() {
  std::lock_guard<Mutex> l(mu_);
  return strhup_;
}

// ---- I_STR, transparent ioctls and the ioctl machinery (strdoioctl) ----

int StreamHead::IoctlStr(strioctl* sio, int fflag, int* rval) {
  (void)fflag;  // O_NONBLOCK does not change an I_STR
  if (sio->ic_len < 0 || sio->ic_timout < -1) return EINVAL;
  switch (sio->ic_cmd) {
    case I_LINK:
    case I_PLINK:
    case I_UNLINK:
    case I_PUNLINK:
      return EINVAL;  // only the head makes these
    default:
      break;
  }
  if (sio->ic_len > kStrMsgSz) return EINVAL;
  mblk_t* data = nullptr;
  if (sio->ic_len > 0) {
    if (internal::BadAddress(sio->ic_dp, static_cast<size_t>(sio->ic_len))) return EFAULT;
    data = allocb(static_cast<size_t>(sio->ic_len));
    if (data == nullptr) return ENOSR;
    std::memcpy(data->b_wptr, sio->ic_dp, static_cast<size_t>(sio->ic_len));
    data->b_wptr += sio->ic_len;
  }
  IocRequest req{sio->ic_cmd, data, static_cast<size_t>(sio->ic_len),
                 sio->ic_timout == 0 ? STRTIMOUT : sio->ic_timout, false};
  IocResult res;
  int e = DoIoctl(req, &res);
  MsgPtr reply(res.reply);
  if (e != 0) return e;
  *rval = res.rval;
  if (res.had_copyout) {
    sio->ic_len = static_cast<int>(res.copied_out);
    return 0;
  }
  // ioc_count bytes of the ack's data go back over the caller's buffer (illumos: there is no
  // ic_maxlen to bound it), and ic_len says how many.
  size_t want = std::min(res.count, reply ? msgdsize(reply.get()) : size_t{0});
  size_t n = 0;
  for (mblk_t* bp = reply.get(); bp != nullptr && n < want; bp = bp->b_cont) {
    size_t k = std::min(MBLKL(bp), want - n);
    if (k > 0 && sio->ic_dp != nullptr) std::memcpy(sio->ic_dp + n, bp->b_rptr, k);
    n += k;
  }
  sio->ic_len = static_cast<int>(n);
  return 0;
}

int StreamHead::IoctlTransparent(int cmd, intptr_t arg, int* rval) {
  mblk_t* data = allocb(sizeof(intptr_t));
  if (data == nullptr) return ENOSR;
  std::memcpy(data->b_wptr, &arg, sizeof(arg));
  data->b_wptr += sizeof(arg);
  IocResult res;
  int e = DoIoctl(IocRequest{cmd, data, TRANSPARENT, -1, false}, &res);
  freemsg(res.reply);
  if (e == 0) *rval = res.rval;
  return e;
}

int StreamHead::DoIoctl(const IocRequest& req, IocResult* res) {
  mblk_t* data = req.data;
  mblk_t* mp = allocb(sizeof(ioctypes));
  if (mp == nullptr) {
    freemsg(data);
    return ENOSR;
  }
  DB_TYPE(mp) = M_IOCTL;
  std::memset(mp->b_wptr, 0, sizeof(ioctypes));
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_wptr);
  mp->b_wptr += sizeof(iocblk);
  static cred_t cr{geteuid(), getegid()};
  ioc->ioc_cmd = req.cmd;
  ioc->ioc_cr = &cr;
  ioc->ioc_count = req.count;
  mp->b_cont = data;

  Call call(this, 0);
  std::unique_lock<Mutex> l(mu_);
  auto fail = [&](int e) {
    freemsg(mp);
    return e;
  };
  // Unlinking goes ahead on a hung-up or errored stream; everything else stops there.
  auto errors = [&] {
    return req.ignore_errors ? 0 : GetErrLocked(kErrHup | kErrRead | kErrWrite | kErrPlex, false);
  };
  int e = errors();
  if (e != 0) return fail(e);
  // One ioctl at a time: wait for the one in progress, up to STRTIMOUT for each.
  while (ioc_busy_) {
    e = WaitLocked(l, call, DeadlineAfter(absl::Seconds(STRTIMOUT)));
    if (e == 0) e = errors();
    if (e != 0) return fail(e);
  }
  ioc_busy_ = true;
  freemsg(ioc_answer_);
  ioc_answer_ = nullptr;
  ioc_id_ = ioc->ioc_id = NextIocId();
  auto release = [&](int err) {
    ioc_busy_ = false;
    ioc_id_ = 0;
    freemsg(ioc_answer_);
    ioc_answer_ = nullptr;
    wait_.WakeAll();  // the next ioctl's turn
    return err;
  };
  absl::Duration timeout =
      req.timeout_s < 0 ? absl::InfiniteDuration() : absl::Seconds(req.timeout_s);
  l.unlock();
  putnext(stream_->head_wq(), mp);
  l.lock();
  for (;;) {
    absl::Time deadline = DeadlineAfter(timeout);
    while (ioc_answer_ == nullptr) {
      e = errors();
      if (e == 0) e = WaitLocked(l, call, deadline);
      if (e != 0) {
        // A copy request that slipped in still expects an M_IOCDATA: fail it.
        if (ioc_answer_ != nullptr &&
            (DB_TYPE(ioc_answer_) == M_COPYIN || DB_TYPE(ioc_answer_) == M_COPYOUT)) {
          mblk_t* cp = ioc_answer_;
          ioc_answer_ = nullptr;
          freemsg(cp->b_cont);
          cp->b_cont = nullptr;
          DB_TYPE(cp) = M_IOCDATA;
          reinterpret_cast<copyresp*>(cp->b_rptr)->cp_rval = reinterpret_cast<char*>(1);
          l.unlock();
          putnext(stream_->head_wq(), cp);
          l.lock();
        }
        return release(e);
      }
    }
    mblk_t* ans = ioc_answer_;
    ioc_answer_ = nullptr;
    switch (DB_TYPE(ans)) {
      case M_IOCACK: {
        auto* a = reinterpret_cast<iocblk*>(ans->b_rptr);
        int err = a->ioc_error;
        if (err == 0) {
          res->rval = a->ioc_rval;
          res->count = a->ioc_count == TRANSPARENT ? 0 : a->ioc_count;
          res->reply = ans->b_cont;
          ans->b_cont = nullptr;
        }
        freemsg(ans);
        return release(err);
      }
      case M_IOCNAK: {
        auto* a = reinterpret_cast<iocblk*>(ans->b_rptr);
        int err = a->ioc_error != 0 ? a->ioc_error : EINVAL;
        freemsg(ans);
        return release(err);
      }
      case M_COPYIN:
      case M_COPYOUT: {
        auto* cq = reinterpret_cast<copyreq*>(ans->b_rptr);
        bool in = DB_TYPE(ans) == M_COPYIN;
        char* addr = cq->cq_addr;
        size_t size = cq->cq_size;
        int cerr = 0;
        mblk_t* got = nullptr;
        if (internal::BadAddress(addr, size)) {
          cerr = EFAULT;
        } else if (in) {
          got = allocb(size);
          if (got == nullptr) {
            cerr = ENOSR;
          } else {
            if (size > 0) std::memcpy(got->b_wptr, addr, size);
            got->b_wptr += size;
          }
        } else {
          size_t n = 0;
          for (mblk_t* bp = ans->b_cont; bp != nullptr && n < size; bp = bp->b_cont) {
            size_t k = std::min(MBLKL(bp), size - n);
            std::memcpy(addr + n, bp->b_rptr, k);
            n += k;
          }
          res->had_copyout = true;
          res->copied_out = n;
        }
        freemsg(ans->b_cont);
        ans->b_cont = got;
        DB_TYPE(ans) = M_IOCDATA;
        auto* cp = reinterpret_cast<copyresp*>(ans->b_rptr);
        cp->cp_rval = reinterpret_cast<char*>(static_cast<intptr_t>(cerr));
        ans->b_wptr = ans->b_rptr + sizeof(copyresp);
        l.unlock();
        putnext(stream_->head_wq(), ans);
        l.lock();
        if (cerr != 0) return release(cerr);  // the module frees it and sends no ack
        continue;  // wait for the next answer, with a fresh timeout
      }
      default:
        freemsg(ans);
        continue;
    }
  }
}

// ---- I_FLUSH, I_FLUSHBAND ----

int StreamHead::SendFlush(unsigned char flags, int band) {
  if (flags == 0) return 0;
  mblk_t* mp = allocb(2);
  if (mp == nullptr) return ENOSR;
  DB_TYPE(mp) = M_FLUSH;
  *mp->b_wptr++ = band >= 0 ? static_cast<unsigned char>(flags | FLUSHBAND) : flags;
  if (band >= 0) *mp->b_wptr++ = static_cast<unsigned char>(band);
  {
    StreamClaim claim(stream_.get());
    putnext(stream_->head_wq(), mp);
  }
  // The head does not flush its own read queue: the FLUSHR comes back up from the driver (or
  // the far end of a pipe) and flushes it then. Wait for it with a dummy ioctl, as illumos does,
  // so the flush is complete when I_FLUSH returns.
  if (flags & FLUSHR) {
    IocResult res;
    (void)DoIoctl(IocRequest{-1, nullptr, 0, STRTIMOUT, false}, &res);
    freemsg(res.reply);
  }
  return 0;
}

// ---- plumbing ioctls ----

int StreamHead::BeginPlumb(int fflag) {
  Call call(this, fflag);
  std::unique_lock<Mutex> l(mu_);
  while (plumbing_) {
    if (NonBlocking(fflag)) return EAGAIN;
    int e = WaitLocked(l, call, absl::InfiniteFuture());
    if (e != 0) return e;
  }
  int e = GetErrLocked(kErrRead | kErrWrite | kErrHup | kErrPlex, false);
  if (e != 0) return e;
  plumbing_ = true;
  return 0;
}

void StreamHead::EndPlumb() {
  {
    std::lock_guard<Mutex> l(mu_);
    plumbing_ = false;
  }
  wait_.WakeAll();
}

int StreamHead::IoctlPush(const char* name, int fflag) {
  const fmodsw* sw = domain_->registry().FindModule(name);
  if (sw == nullptr) return EINVAL;
  if (int e = BeginPlumb(fflag); e != 0) return e;
  int e = 0;
  if (stream_->module_count() >= kNStrPush) {
    e = EINVAL;
  } else {
    cred_t cr{geteuid(), getegid()};
    e = stream_->Push(sw, fflag, &cr);
  }
  EndPlumb();
  return e;
}

int StreamHead::IoctlPop(int fflag) {
  if (int e = BeginPlumb(fflag); e != 0) return e;
  int e = 0;
  int count = stream_->module_count();
  {
    std::lock_guard<Mutex> l(mu_);
    if (count > 0 && anchor_ > 0 && count == anchor_ && !is_pipe_ && geteuid() != 0) e = EPERM;
  }
  if (e == 0 && count == 0) e = EINVAL;
  if (e == 0) {
    cred_t cr{geteuid(), getegid()};
    e = stream_->Pop(fflag, &cr);
    std::lock_guard<Mutex> l(mu_);
    if (stream_->module_count() < anchor_) anchor_ = 0;
  }
  EndPlumb();
  return e;
}

int StreamHead::IoctlLook(char* name) {
  std::vector<std::string> mods = stream_->ModuleNames();
  if (mods.empty()) return EINVAL;
  if (name == nullptr) return EFAULT;
  std::snprintf(name, FMNAMESZ + 1, "%s", mods.front().c_str());
  return 0;
}

int StreamHead::IoctlFind(const char* name, int* rval) {
  if (domain_->registry().FindModule(name) == nullptr) return EINVAL;
  for (const std::string& m : stream_->ModuleNames()) {
    if (m == name) {
      *rval = 1;
      return 0;
    }
  }
  // A pipe's meeting point is no driver the caller could name.
  *rval = !is_pipe_ && stream_->DriverName() == name ? 1 : 0;
  return 0;
}

int StreamHead::IoctlList(str_list* sl, int* rval) {
  std::vector<std::string> names = stream_->ModuleNames();
  if (!is_pipe_) names.push_back(stream_->DriverName());  // pipes list their modules only
  if (sl == nullptr) {
    *rval = static_cast<int>(names.size());
    return 0;
  }
  if (sl->sl_nmods <= 0) return EINVAL;
  if (internal::BadAddress(sl->sl_modlist,
                           static_cast<size_t>(sl->sl_nmods) * sizeof(str_mlist))) {
    return EFAULT;
  }
  int n = std::min(sl->sl_nmods, static_cast<int>(names.size()));
  for (int i = 0; i < n; i++) {
    std::snprintf(sl->sl_modlist[i].l_name, FMNAMESZ + 1, "%s", names[i].c_str());
  }
  sl->sl_nmods = n;
  return 0;
}

// ---- signals ----

int StreamHead::IoctlSetsig(pid_t pid, int events, bool extended) {
  (void)extended;
  std::lock_guard<Mutex> l(mu_);
  auto it = std::find_if(sigs_.begin(), sigs_.end(), [pid](const SigReg& r) { return r.pid == pid; });
  if (events == 0) {
    if (it == sigs_.end()) return EINVAL;
    sigs_.erase(it);
    UpdateNotifyLocked();
    return 0;
  }
  if (events & ~kSetsigMask) return EINVAL;
  if ((events & S_BANDURG) && !(events & S_RDBAND)) return EINVAL;
  if (it != sigs_.end()) {
    it->events = events;
  } else {
    sigs_.push_back(SigReg{pid, events});
  }
  UpdateNotifyLocked();
  return 0;
}

// ---- I_PEEK, I_NREAD ----

int StreamHead::IoctlPeek(strpeek* sp, int* rval) {
  std::unique_lock<Mutex> l(mu_);
  // M_SIGs at the front are skipped, not delivered: a peek takes nothing away.
  mblk_t* mp = stream_->head_rq()->q_first;
  while (mp != nullptr && DB_TYPE(mp) == M_SIG) mp = mp->b_next;
  int rc = 0;
  if (mp == nullptr || ((sp->flags & RS_HIPRI) && !queclass_is_hipri(mp))) {
    *rval = 0;
  } else if (DB_TYPE(mp) == M_PASSFP) {
    rc = EBADMSG;
  } else {
    sp->flags = DB_TYPE(mp) == M_PCPROTO ? RS_HIPRI : 0;
    // Control: the leading non-data blocks; data: the M_DATA blocks.
    // A buffer the part would be copied into that cannot be the caller's: EFAULT.
    auto bad_part = [](const strbuf* sb, const mblk_t* bp, bool ctl) {
      size_t bytes = 0;
      for (; bp != nullptr; bp = bp->b_cont) {
        if ((DB_TYPE(bp) != M_DATA) == ctl) bytes += MBLKL(bp);
      }
      size_t room = sb->maxlen > 0 ? static_cast<size_t>(sb->maxlen) : 0;
      return internal::BadAddress(sb->buf, std::min(bytes, room));
    };
    if (bad_part(&sp->ctlbuf, mp, true) || bad_part(&sp->databuf, mp, false)) return EFAULT;
    auto copy_part = [](strbuf* sb, const mblk_t* bp, bool ctl) {
      bool present = false;
      size_t n = 0;
      size_t room = sb->maxlen > 0 ? static_cast<size_t>(sb->maxlen) : 0;
      for (; bp != nullptr; bp = bp->b_cont) {
        if ((DB_TYPE(bp) != M_DATA) != ctl) continue;
        present = true;
        size_t k = std::min(MBLKL(bp), room - n);
        if (k > 0) std::memcpy(sb->buf + n, bp->b_rptr, k);
        n += k;
      }
      // illumos: a maxlen below 0 asks for nothing (-1), a maxlen of 0 reads 0 bytes (0) even
      // of a part that is absent; otherwise -1 says the part is absent.
      if (sb->maxlen < 0) {
        sb->len = -1;
      } else if (sb->maxlen == 0) {
        sb->len = 0;
      } else {
        sb->len = present ? static_cast<int>(n) : -1;
      }
    };
    copy_part(&sp->ctlbuf, mp, true);
    copy_part(&sp->databuf, mp, false);
    *rval = (sp->ctlbuf.len == -1 && sp->databuf.len == -1) ? 0 : 1;
  }
  return rc;
}

int StreamHead::QueuedDataBytes() {
  std::lock_guard<Mutex> l(mu_);
  size_t bytes = 0;
  for (const mblk_t* mp = stream_->head_rq()->q_first; mp != nullptr; mp = mp->b_next) {
    bytes += msgdsize(mp);
  }
  return static_cast<int>(std::min<size_t>(bytes, INT_MAX));
}

int StreamHead::IoctlNread(int* count, int* rval) {
  std::lock_guard<Mutex> l(mu_);
  queue_t* rq = stream_->head_rq();
  size_t first_bytes = rq->q_first != nullptr ? msgdsize(rq->q_first) : 0;
  *count = static_cast<int>(std::min<size_t>(first_bytes, INT_MAX));
  *rval = qsize(rq);
  return 0;
}

}  // namespace ustreams
