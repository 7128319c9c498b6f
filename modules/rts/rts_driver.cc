// The "rts" clone driver: each stream is an RtsEndpoint of its stack's RtsModule (rts.h has the
// rules). D_MP: requests of different streams run concurrently; the module serialises nothing
// but the table's own updates, so concurrent writers each get their own answer.
#include <cerrno>
#include <cstring>
#include <memory>

#include "modules/rts/rtmsg.h"
#include "modules/rts/rts.h"
#include "streams/ddi.h"
#include "streams/queue.h"
#include "streams/tihdr.h"

namespace ustreams::rts {
namespace {

RtsEndpoint* EndpointOf(queue_t* q) { return static_cast<RtsEndpoint*>(q->q_ptr); }

int Open(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != CLONEOPEN) return ENXIO;
  RtsModule* m = RtsModule::Of(q);
  if (m == nullptr) return ENXIO;  // a domain without a stack
  mblk_t* opts = allocb(sizeof(stroptions));
  if (opts == nullptr) return ENOMEM;
  auto* ep = new RtsEndpoint(q);
  q->q_ptr = WR(q)->q_ptr = ep;
  qprocson(q);
  m->Attach(ep);  // messages reach it only once its queues are linked
  // Every write() waits for its answer (SO_REPLY); readers get whole messages.
  DB_TYPE(opts) = M_SETOPTS;
  stroptions so{};
  so.so_flags = SO_REPLY | SO_READOPT | SO_HIWAT;
  so.so_readopt = RMSGD;
  so.so_hiwat = 256 * 1024;
  std::memcpy(opts->b_wptr, &so, sizeof(so));
  opts->b_wptr += sizeof(so);
  putnext(q, opts);
  return 0;
}

int Close(queue_t* q, int, cred_t*) {
  auto* ep = EndpointOf(q);
  if (RtsModule* m = RtsModule::Of(q)) m->Detach(ep);  // no message is on its way in after this
  qprocsoff(q);
  delete ep;
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

void Proto(queue_t* q, mblk_t* mp) {
  t_scalar_t prim = -1;
  if (MBLKL(mp) >= sizeof(prim)) std::memcpy(&prim, mp->b_rptr, sizeof(prim));
  freemsg(mp);
  if (prim == T_INFO_REQ) {
    mblk_t* ack = allocb(sizeof(T_info_ack));
    if (ack == nullptr) return;
    DB_TYPE(ack) = M_PCPROTO;
    T_info_ack a{};
    a.PRIM_type = T_INFO_ACK;
    a.TSDU_size = 0;  // routing requests are M_DATA only
    a.ETSDU_size = -2;
    a.CDATA_size = -2;
    a.DDATA_size = -2;
    a.ADDR_size = -2;
    a.OPT_size = -1;
    a.TIDU_size = 64 * 1024;
    a.SERV_type = T_CLTS;
    a.CURRENT_state = TS_IDLE;
    std::memcpy(ack->b_wptr, &a, sizeof(a));
    ack->b_wptr += sizeof(a);
    qreply(q, ack);
    return;
  }
  // A routing request written with a control part (putmsg) is refused: requests are M_DATA.
  mblk_t* err = allocb(sizeof(T_error_ack));
  if (err == nullptr) return;
  DB_TYPE(err) = M_PCPROTO;
  T_error_ack e{T_ERROR_ACK, prim, TNOTSUPPORT, 0};
  std::memcpy(err->b_wptr, &e, sizeof(e));
  err->b_wptr += sizeof(e);
  qreply(q, err);
}

void Ioctl(queue_t* q, mblk_t* mp) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  if (ioc->ioc_cmd == RTS_IOC_USELOOPBACK && ioc->ioc_count == sizeof(int32_t) &&
      miocpullup(mp, sizeof(int32_t)) == 0) {
    int32_t v;
    std::memcpy(&v, mp->b_cont->b_rptr, sizeof(v));
    if (v == 0 || v == 1) {
      EndpointOf(q)->use_loopback.store(v != 0);
      miocack(q, mp, 0, 0);
      return;
    }
  }
  miocnak(q, mp, 0, EINVAL);
}

int Wput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_DATA: {
      RtsModule* m = RtsModule::Of(q);
      int err = ENXIO;
      if (m != nullptr) {
        mblk_t* req = dupmsg(mp);
        err = req != nullptr ? m->Request(EndpointOf(q), MsgPtr(req)) : ENOBUFS;
      }
      mreply(q, mp, err);
      return 0;
    }
    case M_PROTO:
    case M_PCPROTO:
      Proto(q, mp);
      return 0;
    case M_IOCTL:
      Ioctl(q, mp);
      return 0;
    case M_FLUSH:
      FlushAsDriver(q, mp);
      return 0;
    default:
      freemsg(mp);
      return 0;
  }
}

int Rput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

module_info info{0x5254, "rts", 0, INFPSZ, 256 * 1024, 16 * 1024};
qinit rinit{Rput, nullptr, Open, Close, nullptr, &info, nullptr};
qinit winit{Wput, nullptr, nullptr, nullptr, nullptr, &info, nullptr};
streamtab tab{&rinit, &winit, nullptr, nullptr};

}  // namespace

absl::StatusOr<std::unique_ptr<RtsModule>> RegisterRts(Domain& d, ip::Ip& ip) {
  if (absl::Status s = d.registry().RegisterDriver("rts", &tab, D_MP, /*clone=*/true); !s.ok()) {
    return s;
  }
  return std::make_unique<RtsModule>(ip);
}

}  // namespace ustreams::rts
