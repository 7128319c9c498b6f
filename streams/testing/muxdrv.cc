#include "streams/testing/muxdrv.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "streams/ddi.h"
#include "streams/queue.h"

namespace ustreams::testing {
namespace {

// D_MTPERMOD: one perimeter around every instance, so the tables below need no lock.
struct Upper {
  queue_t* rq;
  int route = 0;  // mux id, 0: none
};
struct Lower {
  int muxid;
  queue_t* wq;  // l_qbot: putnext from here goes down the lower stream
};
std::vector<Upper*> g_uppers;
std::vector<Lower*> g_lowers;

Lower* FindLower(int muxid) {
  for (Lower* l : g_lowers) {
    if (l->muxid == muxid) return l;
  }
  return nullptr;
}

int UpperOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != CLONEOPEN) return ENXIO;
  auto* u = new Upper{q};
  q->q_ptr = WR(q)->q_ptr = u;
  g_uppers.push_back(u);
  qprocson(q);
  return 0;
}

int UpperClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  auto* u = static_cast<Upper*>(q->q_ptr);
  std::erase(g_uppers, u);
  delete u;
  return 0;
}

void Ioctl(queue_t* q, mblk_t* mp) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  auto* u = static_cast<Upper*>(q->q_ptr);
  switch (ioc->ioc_cmd) {
    case I_LINK:
    case I_PLINK: {
      if (miocpullup(mp, sizeof(linkblk)) != 0) break;
      linkblk lb;
      std::memcpy(&lb, mp->b_cont->b_rptr, sizeof(lb));
      auto* l = new Lower{lb.l_index, lb.l_qbot};
      RD(lb.l_qbot)->q_ptr = lb.l_qbot->q_ptr = l;
      g_lowers.push_back(l);
      if (u->route == 0) u->route = lb.l_index;
      miocack(q, mp, 0, 0);
      return;
    }
    case I_UNLINK:
    case I_PUNLINK: {
      if (miocpullup(mp, sizeof(linkblk)) != 0) break;
      linkblk lb;
      std::memcpy(&lb, mp->b_cont->b_rptr, sizeof(lb));
      Lower* l = FindLower(lb.l_index);
      if (l == nullptr) break;
      std::erase(g_lowers, l);
      for (Upper* up : g_uppers) {
        if (up->route == l->muxid) up->route = 0;
      }
      RD(l->wq)->q_ptr = l->wq->q_ptr = nullptr;
      delete l;
      miocack(q, mp, 0, 0);
      return;
    }
    case MUXDRV_ROUTE: {
      if (miocpullup(mp, sizeof(int)) != 0) break;
      int id;
      std::memcpy(&id, mp->b_cont->b_rptr, sizeof(id));
      if (FindLower(id) == nullptr) break;
      u->route = id;
      miocack(q, mp, 0, 0);
      return;
    }
    default:
      break;
  }
  miocnak(q, mp, 0, EINVAL);
}

int UpperWput(queue_t* q, mblk_t* mp) {
  auto* u = static_cast<Upper*>(q->q_ptr);
  switch (DB_TYPE(mp)) {
    case M_IOCTL:
      Ioctl(q, mp);
      return 0;
    case M_FLUSH:
      FlushAsDriver(q, mp);
      return 0;
    case M_DATA:
    case M_PROTO:
    case M_PCPROTO:
      if (Lower* l = FindLower(u->route)) {
        putnext(l->wq, mp);  // crosses into the lower stream
        return 0;
      }
      break;
    default:
      break;
  }
  freemsg(mp);
  return 0;
}

// The lower side: what comes up a linked stream.
int LowerRput(queue_t* q, mblk_t* mp) {
  auto* l = static_cast<Lower*>(q->q_ptr);
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsMuxLower(q, mp);
    return 0;
  }
  if (l == nullptr || !(DB_TYPE(mp) == M_DATA || DB_TYPE(mp) == M_PROTO ||
                        DB_TYPE(mp) == M_PCPROTO)) {
    freemsg(mp);
    return 0;
  }
  // Up every upper routed to this lower (a copy for all but the last).
  Upper* last = nullptr;
  for (Upper* u : g_uppers) {
    if (u->route != l->muxid) continue;
    if (last != nullptr) {
      if (mblk_t* dp = copymsg(mp)) putnext(last->rq, dp);
    }
    last = u;
  }
  if (last != nullptr) {
    putnext(last->rq, mp);
  } else {
    freemsg(mp);
  }
  return 0;
}

int LowerWput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

int UpperRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

module_info info{0x7600, "muxdrv", 0, INFPSZ, 1 << 16, 1 << 12};
qinit urinit{UpperRput, nullptr, UpperOpen, UpperClose, nullptr, &info, nullptr};
qinit uwinit{UpperWput, nullptr, nullptr, nullptr, nullptr, &info, nullptr};
qinit lrinit{LowerRput, nullptr, nullptr, nullptr, nullptr, &info, nullptr};
qinit lwinit{LowerWput, nullptr, nullptr, nullptr, nullptr, &info, nullptr};
streamtab tab{&urinit, &uwinit, &lrinit, &lwinit};

}  // namespace

absl::Status RegisterMuxDriver(Registry& registry) {
  return registry.RegisterDriver("muxdrv", &tab, D_MTPERMOD, /*clone=*/true);
}

}  // namespace ustreams::testing
