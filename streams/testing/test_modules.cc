#include "streams/testing/test_modules.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <deque>
#include <mutex>
#include <utility>
#include <vector>

#include "streams/ddi.h"
#include "streams/domain.h"
#include "streams/mblk.h"
#include "streams/queue.h"

namespace ustreams::testing {
namespace {

// ---- ctlmod ----

std::atomic<int> g_ctl_ignored{0};

struct CtlState {
  std::atomic<int> down_data{0};
  queue_t* wq = nullptr;
  std::mutex mu;
  mblk_t* delayed = nullptr;  // CTL_DELAY_ACK: the M_IOCTL its timeout acks
  int delay_ms = 0;
  timeout_id_t delay_id = 0;
};

int CtlOpen(queue_t* q, dev_t*, int, int, cred_t*) {
  if (q->q_ptr != nullptr) return 0;  // a reopen of the stream: already set up
  auto* st = new CtlState;
  st->wq = WR(q);
  q->q_ptr = WR(q)->q_ptr = st;
  qprocson(q);
  return 0;
}

int CtlClose(queue_t* q, int, cred_t*) {
  auto* st = static_cast<CtlState*>(q->q_ptr);
  timeout_id_t id;
  {
    std::lock_guard<std::mutex> l(st->mu);
    id = st->delay_id;
  }
  if (id != 0) quntimeout(q, id);
  qprocsoff(q);
  freemsg(st->delayed);
  delete st;
  return 0;
}

void CtlDelayedAck(void* arg) {
  auto* st = static_cast<CtlState*>(arg);
  mblk_t* mp;
  int ms;
  {
    std::lock_guard<std::mutex> l(st->mu);
    mp = std::exchange(st->delayed, nullptr);
    ms = st->delay_ms;
    st->delay_id = 0;
  }
  if (mp != nullptr) miocack(st->wq, mp, 0, ms);
}

int CtlWput(queue_t* q, mblk_t* mp) {
  auto* st = static_cast<CtlState*>(q->q_ptr);
  switch (DB_TYPE(mp)) {
    case M_FLUSH:
      FlushAsModule(q, mp);
      return 0;
    case M_DATA:
      st->down_data++;
      putnext(q, mp);
      return 0;
    case M_IOCTL: {
      auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
      if (ioc->ioc_cmd == CTL_DOWN_COUNT) {
        miocack(q, mp, 0, st->down_data.exchange(0));
        return 0;
      }
      if (ioc->ioc_cmd == CTL_IGNORE) {
        freemsg(mp);
        g_ctl_ignored++;
        return 0;
      }
      if (ioc->ioc_cmd == CTL_DELAY_ACK) {
        int ms = 0;
        if (miocpullup(mp, sizeof(int)) != 0) {
          miocnak(q, mp, 0, EINVAL);
          return 0;
        }
        std::memcpy(&ms, mp->b_cont->b_rptr, sizeof(ms));
        freemsg(mp->b_cont);
        mp->b_cont = nullptr;
        std::lock_guard<std::mutex> l(st->mu);
        if (st->delayed != nullptr) {
          miocnak(q, mp, 0, EBUSY);
          return 0;
        }
        st->delayed = mp;
        st->delay_ms = ms;
        st->delay_id = qtimeout(q, CtlDelayedAck, st, drv_usectohz(ms * 1000));
        return 0;
      }
      if (ioc->ioc_cmd == CTL_ECHO) {
        int n = ioc->ioc_count == TRANSPARENT ? 0 : static_cast<int>(msgdsize(mp->b_cont));
        miocack(q, mp, n, n);
        return 0;
      }
      if (ioc->ioc_cmd != CTL_SEND_UP) break;
      if (ioc->ioc_count == TRANSPARENT || mp->b_cont == nullptr ||
          msgdsize(mp->b_cont) < sizeof(CtlSend) || !pullupmsg(mp->b_cont, -1)) {
        miocnak(q, mp, 0, EINVAL);
        return 0;
      }
      CtlSend cs;
      std::memcpy(&cs, mp->b_cont->b_rptr, sizeof(cs));
      size_t n = MBLKL(mp->b_cont) - sizeof(cs);
      mblk_t* up = allocb(n);
      if (up == nullptr) {
        miocnak(q, mp, 0, ENOSR);
        return 0;
      }
      std::memcpy(up->b_wptr, mp->b_cont->b_rptr + sizeof(cs), n);
      up->b_wptr += n;
      DB_TYPE(up) = cs.type;
      up->b_band = cs.band;
      up->b_flag = cs.flag;
      // Ack first, then send: the message then finds the ioctl finished.
      miocack(q, mp, 0, 0);
      qreply(q, up);
      return 0;
    }
    default:
      break;
  }
  putnext(q, mp);
  return 0;
}

int CtlRput(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);
  } else {
    putnext(q, mp);
  }
  return 0;
}

module_info ctl_info{0x7400, "ctlmod", 0, INFPSZ, 1 << 16, 1 << 12};
qinit ctl_rinit{CtlRput, nullptr, CtlOpen, CtlClose, nullptr, &ctl_info, nullptr};
qinit ctl_winit{CtlWput, nullptr, nullptr, nullptr, nullptr, &ctl_info, nullptr};
streamtab ctl_tab{&ctl_rinit, &ctl_winit, nullptr, nullptr};

// ---- replymod ----

struct ReplyState {
  std::mutex mu;
  int err = 0;
  int delay_ms = 0;
  bool drop = false;
  std::deque<mblk_t*> later;  // M_DATA waiting for a delayed reply
  queue_t* wq = nullptr;
};

void ReplyLater(void* arg) {
  auto* st = static_cast<ReplyState*>(arg);
  mblk_t* mp;
  int err;
  {
    std::lock_guard<std::mutex> l(st->mu);
    if (st->later.empty()) return;
    mp = st->later.front();
    st->later.pop_front();
    err = st->err;
  }
  mreply(st->wq, mp, err);
}

int ReplyOpen(queue_t* q, dev_t*, int, int, cred_t*) {
  if (q->q_ptr != nullptr) return 0;  // a reopen: SO_REPLY is on already
  auto* st = new ReplyState;
  st->wq = WR(q);
  q->q_ptr = WR(q)->q_ptr = st;
  qprocson(q);
  // SO_REPLY for the life of the stream, before anything is written.
  mblk_t* mp = allocb(sizeof(stroptions));
  if (mp == nullptr) return ENOSR;
  DB_TYPE(mp) = M_SETOPTS;
  stroptions so{};
  so.so_flags = SO_REPLY;
  std::memcpy(mp->b_wptr, &so, sizeof(so));
  mp->b_wptr += sizeof(so);
  putnext(q, mp);
  return 0;
}

int ReplyClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  auto* st = static_cast<ReplyState*>(q->q_ptr);
  for (mblk_t* mp : st->later) freemsg(mp);
  delete st;
  return 0;
}

int ReplyIntArg(mblk_t* mp, int* v) {
  if (mp->b_cont == nullptr || msgdsize(mp->b_cont) < sizeof(int) ||
      !pullupmsg(mp->b_cont, -1)) {
    return EINVAL;
  }
  std::memcpy(v, mp->b_cont->b_rptr, sizeof(int));
  return 0;
}

int ReplyWput(queue_t* q, mblk_t* mp) {
  auto* st = static_cast<ReplyState*>(q->q_ptr);
  switch (DB_TYPE(mp)) {
    case M_FLUSH:
      FlushAsModule(q, mp);
      return 0;
    case M_DATA: {
      std::unique_lock<std::mutex> l(st->mu);
      if (st->drop) {
        l.unlock();
        freemsg(mp);
      } else if (st->delay_ms > 0) {
        st->later.push_back(mp);
        int delay = st->delay_ms;
        l.unlock();
        qtimeout(q, ReplyLater, st, drv_usectohz(delay * 1000));
      } else {
        // -1: the errno is the first byte written (lets concurrent writers tell replies apart).
        int err = st->err == -1 && MBLKL(mp) > 0 ? mp->b_rptr[0] : st->err;
        l.unlock();
        mreply(q, mp, err);
      }
      return 0;
    }
    case M_IOCTL: {
      auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
      int v = 0;
      if (ioc->ioc_cmd == REPLY_SET_ERRNO || ioc->ioc_cmd == REPLY_SET_DELAY ||
          ioc->ioc_cmd == REPLY_SET_DROP) {
        if (ReplyIntArg(mp, &v) != 0) {
          miocnak(q, mp, 0, EINVAL);
          return 0;
        }
        {
          std::lock_guard<std::mutex> l(st->mu);
          if (ioc->ioc_cmd == REPLY_SET_ERRNO) st->err = v;
          if (ioc->ioc_cmd == REPLY_SET_DELAY) st->delay_ms = v;
          if (ioc->ioc_cmd == REPLY_SET_DROP) st->drop = v != 0;
        }
        miocack(q, mp, 0, 0);
        return 0;
      }
      break;
    }
    default:
      break;
  }
  putnext(q, mp);
  return 0;
}

module_info reply_info{0x7500, "replymod", 0, INFPSZ, 1 << 16, 1 << 12};
qinit reply_rinit{CtlRput, nullptr, ReplyOpen, ReplyClose, nullptr, &reply_info, nullptr};
qinit reply_winit{ReplyWput, nullptr, nullptr, nullptr, nullptr, &reply_info, nullptr};
streamtab reply_tab{&reply_rinit, &reply_winit, nullptr, nullptr};


// ---- the packet modules: pktmod, pkt100, pktzero, recmod ----

struct PktState {
  std::mutex mu;
  std::vector<PktRecord> recs;
  std::vector<ssize_t> mreads;
  int answer_mread = 0;
};

PktRecord Describe(const mblk_t* mp) {
  PktRecord r{};
  r.type = DB_TYPE(mp);
  r.flag = mp->b_flag;
  r.band = mp->b_band;
  r.min_headroom = r.min_tailroom = -1;
  for (const mblk_t* bp = mp; bp != nullptr; bp = bp->b_cont) {
    if (DB_TYPE(bp) != M_DATA) continue;
    const int len = static_cast<int>(MBLKL(bp));
    const int head = static_cast<int>(MBLKHEAD(bp));
    const int tail = static_cast<int>(MBLKTAIL(bp));
    r.bytes += len;
    r.blocks++;
    r.max_block = std::max(r.max_block, len);
    r.min_headroom = r.min_headroom < 0 ? head : std::min(r.min_headroom, head);
    r.min_tailroom = r.min_tailroom < 0 ? tail : std::min(r.min_tailroom, tail);
  }
  return r;
}

int PktOpen(queue_t* q, dev_t*, int, int, cred_t*) {
  if (q->q_ptr != nullptr) return 0;
  auto* st = new PktState;
  q->q_ptr = WR(q)->q_ptr = st;
  qprocson(q);
  return 0;
}

int PktClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  delete static_cast<PktState*>(q->q_ptr);
  return 0;
}

// Replaces the M_IOCTL's data with n bytes copied from src and acks it with rval.
void AckWithData(queue_t* q, mblk_t* mp, const void* src, size_t n, int rval) {
  freemsg(mp->b_cont);
  mp->b_cont = nullptr;
  if (n > 0) {
    mblk_t* dp = allocb(n);
    if (dp == nullptr) {
      miocnak(q, mp, 0, ENOSR);
      return;
    }
    std::memcpy(dp->b_wptr, src, n);
    dp->b_wptr += n;
    mp->b_cont = dp;
  }
  miocack(q, mp, static_cast<int>(n), rval);
}

// Answers the packet modules' ioctls; false if mp is another module's.
bool PktIoctl(queue_t* q, PktState* st, mblk_t* mp) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  const size_t room = ioc->ioc_count == TRANSPARENT ? 0 : ioc->ioc_count;
  switch (ioc->ioc_cmd) {
    case PKT_GET: {
      std::vector<PktRecord> out;
      {
        std::lock_guard<std::mutex> l(st->mu);
        size_t n = std::min(st->recs.size(), room / sizeof(PktRecord));
        out.assign(st->recs.begin(), st->recs.begin() + static_cast<ptrdiff_t>(n));
        st->recs.erase(st->recs.begin(), st->recs.begin() + static_cast<ptrdiff_t>(n));
      }
      AckWithData(q, mp, out.data(), out.size() * sizeof(PktRecord),
                  static_cast<int>(out.size()));
      return true;
    }
    case PKT_MREADS: {
      std::vector<ssize_t> out;
      int seen;
      {
        std::lock_guard<std::mutex> l(st->mu);
        seen = static_cast<int>(st->mreads.size());
        size_t n = std::min(st->mreads.size(), room / sizeof(ssize_t));
        out.assign(st->mreads.begin(), st->mreads.begin() + static_cast<ptrdiff_t>(n));
      }
      AckWithData(q, mp, out.data(), out.size() * sizeof(ssize_t), seen);
      return true;
    }
    case PKT_ANSWER_MREAD: {
      int v;
      if (miocpullup(mp, sizeof(int)) != 0) {
        miocnak(q, mp, 0, EINVAL);
        return true;
      }
      std::memcpy(&v, mp->b_cont->b_rptr, sizeof(v));
      {
        std::lock_guard<std::mutex> l(st->mu);
        st->answer_mread = v;
      }
      miocack(q, mp, 0, 0);
      return true;
    }
    case PKT_RESET: {
      {
        std::lock_guard<std::mutex> l(st->mu);
        st->recs.clear();
        st->mreads.clear();
      }
      miocack(q, mp, 0, 0);
      return true;
    }
    default:
      return false;
  }
}

int PktWput(queue_t* q, mblk_t* mp) {
  auto* st = static_cast<PktState*>(q->q_ptr);
  switch (DB_TYPE(mp)) {
    case M_FLUSH:
      FlushAsModule(q, mp);
      return 0;
    case M_DATA:
    case M_PROTO:
    case M_PCPROTO: {
      std::lock_guard<std::mutex> l(st->mu);
      st->recs.push_back(Describe(mp));
      break;
    }
    case M_READ: {
      ssize_t want = -1;
      if (MBLKL(mp) >= sizeof(want)) std::memcpy(&want, mp->b_rptr, sizeof(want));
      int answer;
      {
        std::lock_guard<std::mutex> l(st->mu);
        st->mreads.push_back(want);
        answer = st->answer_mread;
      }
      if (answer > 0) {
        mblk_t* up = allocb(static_cast<size_t>(answer));
        if (up != nullptr) {
          std::memset(up->b_wptr, 'm', static_cast<size_t>(answer));
          up->b_wptr += answer;
          freemsg(mp);
          qreply(q, up);  // the reader finds it as soon as its M_READ comes back
          return 0;
        }
      }
      break;
    }
    case M_IOCTL:
      if (PktIoctl(q, st, mp)) return 0;
      break;
    default:
      break;
  }
  putnext(q, mp);
  return 0;
}

module_info pkt_info{0x7700, "pktmod", 10, 100, 1 << 16, 1 << 12};
module_info pkt100_info{0x7700, "pkt100", 0, 100, 1 << 16, 1 << 12};
module_info pktzero_info{0x7700, "pktzero", 0, 0, 1 << 16, 1 << 12};
module_info rec_info{0x7700, "recmod", 0, INFPSZ, 1 << 16, 1 << 12};
qinit pkt_rinit{CtlRput, nullptr, PktOpen, PktClose, nullptr, &pkt_info, nullptr};
qinit pkt_winit{PktWput, nullptr, nullptr, nullptr, nullptr, &pkt_info, nullptr};
qinit pkt100_rinit{CtlRput, nullptr, PktOpen, PktClose, nullptr, &pkt100_info, nullptr};
qinit pkt100_winit{PktWput, nullptr, nullptr, nullptr, nullptr, &pkt100_info, nullptr};
qinit pktzero_rinit{CtlRput, nullptr, PktOpen, PktClose, nullptr, &pktzero_info, nullptr};
qinit pktzero_winit{PktWput, nullptr, nullptr, nullptr, nullptr, &pktzero_info, nullptr};
qinit rec_rinit{CtlRput, nullptr, PktOpen, PktClose, nullptr, &rec_info, nullptr};
qinit rec_winit{PktWput, nullptr, nullptr, nullptr, nullptr, &rec_info, nullptr};
streamtab pkt_tab{&pkt_rinit, &pkt_winit, nullptr, nullptr};
streamtab pkt100_tab{&pkt100_rinit, &pkt100_winit, nullptr, nullptr};
streamtab pktzero_tab{&pktzero_rinit, &pktzero_winit, nullptr, nullptr};
streamtab rec_tab{&rec_rinit, &rec_winit, nullptr, nullptr};

// ---- holdmod ----

struct HoldState {
  queue_t* wq = nullptr;
  std::atomic<bool> released{false};
  std::mutex mu;
  timeout_id_t release_id = 0;
};

int HoldOpen(queue_t* q, dev_t*, int, int, cred_t*) {
  if (q->q_ptr != nullptr) return 0;
  auto* st = new HoldState;
  st->wq = WR(q);
  q->q_ptr = WR(q)->q_ptr = st;
  qprocson(q);
  return 0;
}

int HoldClose(queue_t* q, int, cred_t*) {
  auto* st = static_cast<HoldState*>(q->q_ptr);
  timeout_id_t id;
  {
    std::lock_guard<std::mutex> l(st->mu);
    id = std::exchange(st->release_id, 0);
  }
  if (id != 0) quntimeout(q, id);
  qprocsoff(q);  // what is still held is freed with the queues
  delete st;
  return 0;
}

void HoldRelease(void* arg) {
  auto* st = static_cast<HoldState*>(arg);
  {
    std::lock_guard<std::mutex> l(st->mu);
    st->release_id = 0;
  }
  st->released = true;
  qenable(st->wq);
}

int HoldWput(queue_t* q, mblk_t* mp) {
  auto* st = static_cast<HoldState*>(q->q_ptr);
  switch (DB_TYPE(mp)) {
    case M_DATA:
    case M_PROTO:
      if (!putq(q, mp)) freemsg(mp);
      return 0;
    case M_FLUSH:
      FlushAsModule(q, mp);
      return 0;
    case M_IOCTL: {
      auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
      if (ioc->ioc_cmd != HOLD_RELEASE) break;
      int ms = 0;
      if (miocpullup(mp, sizeof(int)) == 0) std::memcpy(&ms, mp->b_cont->b_rptr, sizeof(ms));
      if (ms <= 0) {
        HoldRelease(st);
      } else {
        std::lock_guard<std::mutex> l(st->mu);
        if (st->release_id == 0) {
          st->release_id = qtimeout(q, HoldRelease, st, drv_usectohz(ms * 1000));
        }
      }
      miocack(q, mp, 0, 0);
      return 0;
    }
    default:
      break;
  }
  putnext(q, mp);
  return 0;
}

int HoldWsrv(queue_t* q) {
  auto* st = static_cast<HoldState*>(q->q_ptr);
  if (!st->released) return 0;  // held: the messages wait on the queue
  while (mblk_t* mp = getq(q)) {
    if (!canputnext(q)) {
      putbq(q, mp);
      return 0;
    }
    putnext(q, mp);
  }
  return 0;
}

module_info hold_info{0x7800, "holdmod", 0, INFPSZ, 1024, 256};
qinit hold_rinit{CtlRput, nullptr, HoldOpen, HoldClose, nullptr, &hold_info, nullptr};
qinit hold_winit{HoldWput, HoldWsrv, nullptr, nullptr, nullptr, &hold_info, nullptr};
streamtab hold_tab{&hold_rinit, &hold_winit, nullptr, nullptr};

// ---- testdrv ----

struct TdrvState {
  std::atomic<int> opens{0};
  int first_sflag = 0;
  std::atomic<int> fail_reopen{0};
  std::atomic<bool> hold{false};
  queue_t* wq = nullptr;
  std::mutex mu;
  timeout_id_t poll_id = 0;  // the QWANTW poller while holding
};

std::atomic<int> g_tdrv_drain_waits{0};

// Counts (and takes back) a request for a back-enable on the write queue: someone waits for
// it to drain.
void TdrvNoticeWait(queue_t* wq) {
  std::lock_guard<Mutex> l(wq->q_lock);
  if (wq->q_flag & QWANTW) {
    wq->q_flag &= ~QWANTW;
    g_tdrv_drain_waits++;
  }
}

void TdrvPoll(void* arg) {
  auto* st = static_cast<TdrvState*>(arg);
  TdrvNoticeWait(st->wq);
  std::lock_guard<std::mutex> l(st->mu);
  if (st->poll_id != 0) st->poll_id = qtimeout(st->wq, TdrvPoll, st, drv_usectohz(1000));
}

int TdrvOpen(queue_t* q, dev_t* devp, int, int sflag, cred_t*) {
  if (sflag == MODOPEN) return ENXIO;  // a driver, not a module
  if (q->q_ptr != nullptr) {
    // Another open of this minor: the stream exists; the driver may still refuse it.
    auto* st = static_cast<TdrvState*>(q->q_ptr);
    st->opens++;
    return st->fail_reopen.exchange(0);
  }
  if (Domain::MinorOf(*devp) >= 100) return ENXIO;  // no such unit
  auto* st = new TdrvState;
  st->opens = 1;
  st->first_sflag = sflag;
  st->wq = WR(q);
  q->q_ptr = WR(q)->q_ptr = st;
  qprocson(q);
  return 0;
}

int TdrvClose(queue_t* q, int, cred_t*) {
  auto* st = static_cast<TdrvState*>(q->q_ptr);
  timeout_id_t id;
  {
    std::lock_guard<std::mutex> l(st->mu);
    id = std::exchange(st->poll_id, 0);
  }
  if (id != 0) quntimeout(q, id);
  if (st->hold) TdrvNoticeWait(st->wq);  // a wait the poller had no time to see
  qprocsoff(q);
  delete st;
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

int TdrvWput(queue_t* q, mblk_t* mp) {
  auto* st = static_cast<TdrvState*>(q->q_ptr);
  switch (DB_TYPE(mp)) {
    case M_DATA:
    case M_PROTO:
      if (st->hold) {
        if (!putq(q, mp)) freemsg(mp);  // no service procedure: it stays
        return 0;
      }
      qreply(q, mp);
      return 0;
    case M_PCPROTO:
      qreply(q, mp);
      return 0;
    case M_FLUSH:
      FlushAsDriver(q, mp);
      return 0;
    case M_IOCTL: {
      auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
      switch (ioc->ioc_cmd) {
        case TDRV_OPENS:
          miocack(q, mp, 0, st->opens.load());
          return 0;
        case TDRV_SFLAG:
          miocack(q, mp, 0, st->first_sflag);
          return 0;
        case TDRV_FAIL_REOPEN:
        case TDRV_HOLD: {
          int v = 0;
          if (miocpullup(mp, sizeof(int)) != 0) {
            miocnak(q, mp, 0, EINVAL);
            return 0;
          }
          std::memcpy(&v, mp->b_cont->b_rptr, sizeof(v));
          if (ioc->ioc_cmd == TDRV_HOLD) {
            st->hold = v != 0;
            std::lock_guard<std::mutex> l(st->mu);
            if (st->hold && st->poll_id == 0) {
              st->poll_id = qtimeout(q, TdrvPoll, st, drv_usectohz(1000));
            }
          } else {
            st->fail_reopen = v;
          }
          miocack(q, mp, 0, 0);
          return 0;
        }
        default:
          miocnak(q, mp, 0, EINVAL);
          return 0;
      }
    }
    default:
      freemsg(mp);
      return 0;
  }
}

module_info tdrv_info{0x7900, "testdrv", 0, INFPSZ, 1 << 16, 1 << 12};
qinit tdrv_rinit{CtlRput, nullptr, TdrvOpen, TdrvClose, nullptr, &tdrv_info, nullptr};
qinit tdrv_winit{TdrvWput, nullptr, nullptr, nullptr, nullptr, &tdrv_info, nullptr};
streamtab tdrv_tab{&tdrv_rinit, &tdrv_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterTestModules(Registry& registry) {
  if (absl::Status s = registry.RegisterModule("ctlmod", &ctl_tab, D_MP); !s.ok()) return s;
  if (absl::Status s = registry.RegisterModule("replymod", &reply_tab, D_MTQPAIR); !s.ok()) {
    return s;
  }
  const std::pair<const char*, const streamtab*> kPacketMods[] = {
      {"pktmod", &pkt_tab}, {"pkt100", &pkt100_tab}, {"pktzero", &pktzero_tab},
      {"recmod", &rec_tab}};
  for (const auto& [name, tab] : kPacketMods) {
    if (absl::Status s = registry.RegisterModule(name, tab, D_MP); !s.ok()) return s;
  }
  return registry.RegisterModule("holdmod", &hold_tab, D_MP);
}

absl::Status RegisterTestDriver(Registry& registry) {
  return registry.RegisterDriver("testdrv", &tdrv_tab, D_MP, /*clone=*/false);
}

int TakeTestDriverDrainWaits() { return g_tdrv_drain_waits.exchange(0); }

int TakeCtlIgnored() { return g_ctl_ignored.exchange(0); }

}  // namespace ustreams::testing
