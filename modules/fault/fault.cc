// The fault-injection module: a pass-through module that, on command, sends the stream head the
// messages that make it fail — M_HANGUP, M_ERROR in its three forms, M_SIG/M_PCSIG — or runs a
// transparent copyin/copyout exchange. The commands are in modules/fault/fault.h.
//
// Theory of operation
// -------------------
// Ordering of a fault ioctl: the M_IOCACK goes up first, the fault right after it, from the
// same put procedure call. The head matches the ack to the waiting ioctl before the hangup or
// error arrives, so the ioctl returns 0. Sent the other way round (as LfS's testmod does), the
// head's ioctl wait would see STRHUP or the error first and fail the ioctl with ENXIO or the
// errno: illumos tolerates both, but a test then cannot tell a broken fault from a working one.
// The messages of one fault are built before the ack, so a fault that cannot be allocated is
// NAKed (ENOSR) instead of acked and lost.
//
// FAULT_IOC_DELAY makes the next fault's messages wait on a qtimeout instead; the instance keeps
// them on its pending list until they go, and its close cancels and frees what is left: close
// takes the list, then quntimeout()s each entry (which waits for a callback already running); a
// callback that finds its entry gone from the list sends nothing.
//
// The copy ioctls are the transparent-ioctl state machine of the DDI: the argument (a struct
// fault_copy) is copied in (step kGetStruct), then the buffer it names is copied in (kDataIn)
// and/or out (kDataOut), and the last M_IOCDATA is acked. cp_private carries the step; the
// instance keeps the copied-in struct, which later steps need. A failed copy (cp_rval != 0)
// ends the ioctl: the head has answered the caller, so the message is freed and nothing sent.
//
// The module is D_MP, so that when it injects nothing it changes nothing either: no perimeter
// defers messages past it (a perimeter's sync queue holds messages that flow control does not
// count, which would let a writer overshoot the water marks of the driver below). Its little
// state is guarded by the instance's own mutex.
#include "modules/fault/fault.h"

#include <signal.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <list>

#include "absl/base/thread_annotations.h"
#include <mutex>
#include "modules/fault/fault_module.h"
#include "streams/ddi.h"
#include "streams/queue.h"

namespace ustreams {
namespace {

// Steps of a copy ioctl, carried in cq_private/cp_private.
constexpr intptr_t kGetStruct = 1;
constexpr intptr_t kDataIn = 2;
constexpr intptr_t kDataOut = 3;

struct FaultInstance;

// The messages of one delayed fault, linked by b_next, and the timeout that will send them.
struct Pending {
  FaultInstance* self;
  timeout_id_t id = 0;
  mblk_t* msgs = nullptr;
};

struct FaultInstance {
  explicit FaultInstance(queue_t* r) : rq(r) {}
  queue_t* const rq;
  std::mutex mu;  // not absl::Mutex: the system Abseil is invisible to ThreadSanitizer
  int delay_ms ABSL_GUARDED_BY(mu) = 0;  // the next fault waits this long (0: goes at once)
  fault_copy req ABSL_GUARDED_BY(mu){};  // a copy ioctl's argument, once copied in
  // Delayed faults not yet sent (a list: callbacks hold the addresses of its entries).
  std::list<Pending> pending ABSL_GUARDED_BY(mu);
};

FaultInstance* Instance(queue_t* q) { return static_cast<FaultInstance*>(q->q_ptr); }

bool IsCopyCmd(int cmd) {
  return cmd == FAULT_IOC_COPYIN || cmd == FAULT_IOC_COPYOUT || cmd == FAULT_IOC_COPYINOUT;
}

// ---- sending faults up ----

void SendChain(queue_t* rq, mblk_t* mp) {
  while (mp != nullptr) {
    mblk_t* next = mp->b_next;
    mp->b_next = nullptr;
    putnext(rq, mp);
    mp = next;
  }
}

void FreeChain(mblk_t* mp) {
  while (mp != nullptr) {
    mblk_t* next = mp->b_next;
    mp->b_next = nullptr;
    freemsg(mp);
    mp = next;
  }
}

void FireDelayed(void* arg) {
  auto* p = static_cast<Pending*>(arg);
  FaultInstance* self = p->self;
  mblk_t* msgs = nullptr;
  {
    std::lock_guard<std::mutex> l(self->mu);
    for (auto it = self->pending.begin(); it != self->pending.end(); ++it) {
      if (&*it != p) continue;
      msgs = it->msgs;
      self->pending.erase(it);
      break;
    }
  }
  SendChain(self->rq, msgs);  // nothing if close took the entry first
}

// Sends a fault's messages (consumes chain): now, or after the delay armed by FAULT_IOC_DELAY.
void SendFault(queue_t* wq, mblk_t* chain) {
  FaultInstance* self = Instance(wq);
  {
    std::lock_guard<std::mutex> l(self->mu);
    if (self->delay_ms > 0) {
      Pending& p = self->pending.emplace_back(Pending{self});
      p.msgs = chain;
      // The callback takes mu first, so it cannot look for p before p.id is set.
      p.id = qtimeout(wq, FireDelayed, &p, static_cast<clock_t>(self->delay_ms));
      self->delay_ms = 0;
      return;
    }
  }
  SendChain(self->rq, chain);
}

// A message of type holding bytes, appended to the b_next chain at *tail. False on no memory.
bool Append(mblk_t*** tail, unsigned char type, const void* bytes, size_t n) {
  mblk_t* mp = allocb(n);
  if (mp == nullptr) return false;
  DB_TYPE(mp) = type;
  if (n > 0) std::memcpy(mp->b_wptr, bytes, n);
  mp->b_wptr += n;
  **tail = mp;
  *tail = &mp->b_next;
  return true;
}

// The messages of a value fault, in the order they go up. Returns 0 or the errno to NAK with.
int BuildFault(int cmd, intptr_t arg, mblk_t** chain) {
  *chain = nullptr;
  mblk_t** tail = chain;
  bool ok = true;
  switch (cmd) {
    case FAULT_IOC_HANGUP:
      ok = Append(&tail, M_HANGUP, nullptr, 0);
      break;
    case FAULT_IOC_UNHANGUP:
      ok = Append(&tail, M_UNHANGUP, nullptr, 0);
      break;
    case FAULT_IOC_SIGNAL:
    case FAULT_IOC_PSIGNAL: {
      if (arg <= 0 || arg >= NSIG) return EINVAL;
      unsigned char sig = static_cast<unsigned char>(arg);
      ok = Append(&tail, cmd == FAULT_IOC_SIGNAL ? M_SIG : M_PCSIG, &sig, 1);
      break;
    }
    default: {  // the six error faults
      if (arg < 0 || arg >= NOERROR) return EINVAL;
      const unsigned char e = static_cast<unsigned char>(arg);
      const bool rd = cmd == FAULT_IOC_RDERR || cmd == FAULT_IOC_RDERR_NP;
      const bool wr = cmd == FAULT_IOC_WRERR || cmd == FAULT_IOC_WRERR_NP;
      const bool nonpersist =
          cmd == FAULT_IOC_RDERR_NP || cmd == FAULT_IOC_WRERR_NP || cmd == FAULT_IOC_RWERR_NP;
      if (nonpersist) {
        stroptions so{};
        so.so_flags = SO_ERROPT;
        so.so_erropt = static_cast<unsigned short>((wr ? 0 : RERRNONPERSIST) |
                                                   (rd ? 0 : WERRNONPERSIST));
        ok = Append(&tail, M_SETOPTS, &so, sizeof(so));
      }
      if (rd || wr) {
        const unsigned char two[2] = {rd ? e : NOERROR, wr ? e : NOERROR};
        ok = ok && Append(&tail, M_ERROR, two, sizeof(two));
      } else {
        ok = ok && Append(&tail, M_ERROR, &e, 1);  // the old one-byte form: both sides
      }
      break;
    }
  }
  if (!ok) {
    FreeChain(*chain);
    *chain = nullptr;
    return ENOSR;
  }
  return 0;
}

// ---- ioctls ----

// The argument of a value ioctl: by value when transparent, an int in the data of an I_STR
// (none: 0). False if an I_STR carries too few bytes.
bool ValueArg(mblk_t* mp, intptr_t* out) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  if (ioc->ioc_count == TRANSPARENT) {
    *out = 0;
    if (mp->b_cont != nullptr && MBLKL(mp->b_cont) >= sizeof(*out)) {
      std::memcpy(out, mp->b_cont->b_rptr, sizeof(*out));
    }
    return true;
  }
  if (ioc->ioc_count == 0) {
    *out = 0;
    return true;
  }
  if (miocpullup(mp, sizeof(int)) != 0) return false;
  int v;
  std::memcpy(&v, mp->b_cont->b_rptr, sizeof(v));
  *out = v;
  return true;
}

void ValueIoctl(queue_t* wq, mblk_t* mp, int cmd) {
  intptr_t arg;
  if (!ValueArg(mp, &arg)) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  if (cmd == FAULT_IOC_DELAY) {
    if (arg < 0 || arg > INT32_MAX) {
      miocnak(wq, mp, 0, EINVAL);
      return;
    }
    FaultInstance* self = Instance(wq);
    std::lock_guard<std::mutex> l(self->mu);
    self->delay_ms = static_cast<int>(arg);
    miocack(wq, mp, 0, 0);
    return;
  }
  mblk_t* chain;
  if (int err = BuildFault(cmd, arg, &chain); err != 0) {
    miocnak(wq, mp, 0, err);
    return;
  }
  miocack(wq, mp, 0, 0);  // first, so the ioctl succeeds (see the theory above)
  SendFault(wq, chain);
}

// FAULT_IOC_FILL: the I_STR data comes back as FAULT_PATTERN.
void FillIoctl(queue_t* wq, mblk_t* mp) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  if (ioc->ioc_count == TRANSPARENT) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  if (mp->b_cont != nullptr) {
    // Never write a shared block (DESIGN: shared data is read-only).
    for (mblk_t* bp = mp->b_cont; bp != nullptr; bp = bp->b_cont) {
      if (DB_REF(bp) > 1) {
        mblk_t* copy = copymsg(mp->b_cont);
        if (copy == nullptr) {
          miocnak(wq, mp, 0, ENOSR);
          return;
        }
        freemsg(mp->b_cont);
        mp->b_cont = copy;
        break;
      }
    }
    for (mblk_t* bp = mp->b_cont; bp != nullptr; bp = bp->b_cont) {
      std::memset(bp->b_rptr, FAULT_PATTERN, MBLKL(bp));
    }
  }
  miocack(wq, mp, static_cast<int>(ioc->ioc_count), 0);
}

// Points a copy request at addr. mcopyin/mcopyout read a null address as "the ioctl's own
// argument"; a null fc_buf must reach the head as null, where the copy fails with EFAULT.
void CopyTo(mblk_t* mp, char* addr) { reinterpret_cast<copyreq*>(mp->b_rptr)->cq_addr = addr; }

void CopyIoctl(queue_t* wq, mblk_t* mp) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  if (ioc->ioc_count != TRANSPARENT) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  mcopyin(mp, reinterpret_cast<void*>(kGetStruct), sizeof(fault_copy), nullptr);
  qreply(wq, mp);
}

// Makes the M_IOCDATA's data one writable block of at least n bytes; false if there is less.
bool PullData(mblk_t* mp, size_t n) {
  if (n == 0) return true;
  if (mp->b_cont == nullptr || msgdsize(mp->b_cont) < n) return false;
  if (MBLKL(mp->b_cont) < n || DB_REF(mp->b_cont) > 1) {
    mblk_t* flat = msgpullup(mp->b_cont, -1);  // a fresh, unshared copy
    if (flat == nullptr) return false;
    freemsg(mp->b_cont);
    mp->b_cont = flat;
  }
  return true;
}

void CopyIocdata(queue_t* wq, mblk_t* mp) {
  auto* cp = reinterpret_cast<copyresp*>(mp->b_rptr);
  if (cp->cp_rval != nullptr) {
    freemsg(mp);  // the copy failed and the head has told the caller
    return;
  }
  FaultInstance* self = Instance(wq);
  const int cmd = cp->cp_cmd;
  fault_copy req;
  switch (reinterpret_cast<intptr_t>(cp->cp_private)) {
    case kGetStruct: {
      if (!PullData(mp, sizeof(fault_copy))) break;
      std::memcpy(&req, mp->b_cont->b_rptr, sizeof(req));
      {
        std::lock_guard<std::mutex> l(self->mu);
        self->req = req;
      }
      const int size = req.fc_size;
      if (size < 0 || size > FAULT_COPY_MAX) break;
      if (cmd == FAULT_IOC_COPYOUT) {
        mblk_t* dp = allocb(static_cast<size_t>(size));
        if (dp == nullptr) {
          miocnak(wq, mp, 0, ENOSR);
          return;
        }
        std::memset(dp->b_wptr, FAULT_PATTERN, static_cast<size_t>(size));
        dp->b_wptr += size;
        mcopyout(mp, reinterpret_cast<void*>(kDataOut), static_cast<size_t>(size), nullptr, dp);
      } else {
        mcopyin(mp, reinterpret_cast<void*>(kDataIn), static_cast<size_t>(size), nullptr);
      }
      CopyTo(mp, req.fc_buf);
      qreply(wq, mp);
      return;
    }
    case kDataIn: {
      {
        std::lock_guard<std::mutex> l(self->mu);
        req = self->req;
      }
      const size_t size = static_cast<size_t>(req.fc_size);
      if (!PullData(mp, size)) break;
      unsigned char* p = size > 0 ? mp->b_cont->b_rptr : nullptr;
      if (cmd == FAULT_IOC_COPYIN) {
        for (size_t i = 0; i < size; i++) {
          if (p[i] != FAULT_PATTERN) {
            miocnak(wq, mp, 0, EINVAL);
            return;
          }
        }
        miocack(wq, mp, 0, 0);
        return;
      }
      for (size_t i = 0; i < size; i++) p[i] ^= FAULT_PATTERN;
      mcopyout(mp, reinterpret_cast<void*>(kDataOut), size, nullptr, nullptr);  // keeps b_cont
      CopyTo(mp, req.fc_buf);
      qreply(wq, mp);
      return;
    }
    case kDataOut:
      miocack(wq, mp, 0, 0);  // the data reached the caller
      return;
    default:
      break;
  }
  miocnak(wq, mp, 0, EINVAL);
}

// ---- put procedures, open, close ----

int FaultWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_FLUSH:
      FlushAsModule(q, mp);
      return 0;
    case M_IOCTL: {
      const int cmd = reinterpret_cast<iocblk*>(mp->b_rptr)->ioc_cmd;
      switch (cmd) {
        case FAULT_IOC_HANGUP:
        case FAULT_IOC_UNHANGUP:
        case FAULT_IOC_RDERR:
        case FAULT_IOC_WRERR:
        case FAULT_IOC_RWERR:
        case FAULT_IOC_RDERR_NP:
        case FAULT_IOC_WRERR_NP:
        case FAULT_IOC_RWERR_NP:
        case FAULT_IOC_SIGNAL:
        case FAULT_IOC_PSIGNAL:
        case FAULT_IOC_DELAY:
          ValueIoctl(q, mp, cmd);
          return 0;
        case FAULT_IOC_COPYIN:
        case FAULT_IOC_COPYOUT:
        case FAULT_IOC_COPYINOUT:
          CopyIoctl(q, mp);
          return 0;
        case FAULT_IOC_FILL:
          FillIoctl(q, mp);
          return 0;
        default:
          break;  // not ours: on down
      }
      break;
    }
    case M_IOCDATA:
      if (IsCopyCmd(reinterpret_cast<copyresp*>(mp->b_rptr)->cp_cmd)) {
        CopyIocdata(q, mp);
        return 0;
      }
      break;
    default:
      break;
  }
  putnext(q, mp);
  return 0;
}

int FaultRput(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);
  } else {
    putnext(q, mp);
  }
  return 0;
}

int FaultOpen(queue_t* q, dev_t* /*devp*/, int /*oflag*/, int sflag, cred_t* /*crp*/) {
  if (sflag != MODOPEN) return EINVAL;
  if (q->q_ptr != nullptr) return 0;  // a reopen of the stream
  auto* self = new FaultInstance(q);
  q->q_ptr = WR(q)->q_ptr = self;
  qprocson(q);
  // Take the packet sizes of the queue below, so the head splits writes as it would without
  // this module in between.
  if (queue_t* below = WR(q)->q_next) {
    intptr_t v;
    if (strqget(below, QMINPSZ, 0, &v) == 0) strqset(WR(q), QMINPSZ, 0, v);
    if (strqget(below, QMAXPSZ, 0, &v) == 0) strqset(WR(q), QMAXPSZ, 0, v);
  }
  return 0;
}

int FaultClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  FaultInstance* self = Instance(q);
  std::list<Pending> pending;
  {
    std::lock_guard<std::mutex> l(self->mu);
    pending.swap(self->pending);
  }
  // Not under mu: quntimeout() waits for a callback already running, which takes mu.
  for (Pending& p : pending) {
    quntimeout(q, p.id);
    FreeChain(p.msgs);
  }
  qprocsoff(q);
  delete self;
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

module_info fault_minfo{0x6661, FAULT_MODULE_NAME, 0, INFPSZ, 0, 0};
qinit fault_rinit{FaultRput, nullptr, FaultOpen, FaultClose, nullptr, &fault_minfo, nullptr};
qinit fault_winit{FaultWput, nullptr, nullptr, nullptr, nullptr, &fault_minfo, nullptr};
streamtab fault_tab{&fault_rinit, &fault_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterFault(Registry& registry) {
  return registry.RegisterModule(FAULT_MODULE_NAME, &fault_tab, D_MP);
}

}  // namespace ustreams
