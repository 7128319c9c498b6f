#include "streams/testing/test_modules.h"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>

#include "streams/ddi.h"
#include "streams/mblk.h"
#include "streams/queue.h"

namespace ustreams::testing {
namespace {

// ---- ctlmod ----

struct CtlState {
  std::atomic<int> down_data{0};
};

int CtlOpen(queue_t* q, dev_t*, int, int, cred_t*) {
  auto* st = new CtlState;
  q->q_ptr = WR(q)->q_ptr = st;
  qprocson(q);
  return 0;
}

int CtlClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  delete static_cast<CtlState*>(q->q_ptr);
  return 0;
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

}  // namespace

absl::Status RegisterTestModules(Registry& registry) {
  if (absl::Status s = registry.RegisterModule("ctlmod", &ctl_tab, D_MP); !s.ok()) return s;
  return registry.RegisterModule("replymod", &reply_tab, D_MTQPAIR);
}

}  // namespace ustreams::testing
