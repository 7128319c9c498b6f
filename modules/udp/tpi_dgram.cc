#include "modules/udp/tpi_dgram.h"

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "modules/ip/errno_status.h"
#include "modules/udp/tpi_optmgmt.h"
#include "modules/udp/tpi_util.h"
#include "streams/ddi.h"

namespace ustreams::tpi {
namespace {

using dgram::DatagramEndpoint;

// One open stream: the endpoint below, and the upper face it calls.
class DatagramStream final : public dgram::DatagramUpper {
 public:
  DatagramStream(queue_t* rq, std::shared_ptr<DatagramEndpoint> ep,
                 const DatagramProvider* provider)
      : rq_(rq), ep_(std::move(ep)), provider_(provider) {}

  DatagramEndpoint& ep() { return *ep_; }
  const DatagramProvider& provider() const { return *provider_; }

  // ---- DatagramUpper ----
  bool Deliver(const sockaddr_in& from, MsgPtr data) override {
    if (!canputnext(rq_)) return false;  // over SO_RCVBUF: the caller counts the drop
    MsgPtr ind = UnitdataInd(from, std::move(data));
    if (!ind) return false;
    putnext(rq_, ind.release());
    return true;
  }
  void DeliverError(const sockaddr_in& dst, int error) override {
    if (!canputnext(rq_)) return;  // a full stream takes no more errors (forged ICMP floods)
    if (MsgPtr ind = UderrorInd(dst, error)) putnext(rq_, ind.release());
  }
  void SetReceiveBuffer(size_t bytes) override { SendOptions(SO_HIWAT, bytes); }

  // M_SETOPTS up: the flags given, the high-water mark, and the write offset.
  void SendOptions(unsigned int flags, size_t hiwat) {
    MsgPtr mp(allocb(sizeof(stroptions)));
    if (!mp) return;  // the head keeps its previous marks
    DB_TYPE(mp.get()) = M_SETOPTS;
    stroptions so{};
    so.so_flags = flags;
    so.so_hiwat = hiwat;
    so.so_wroff = provider_->wroff;
    std::memcpy(mp->b_wptr, &so, sizeof(so));
    mp->b_wptr += sizeof(so);
    putnext(rq_, mp.release());
  }

 private:
  queue_t* rq_;
  std::shared_ptr<DatagramEndpoint> ep_;
  const DatagramProvider* provider_;
};

DatagramStream* StreamOf(queue_t* q) { return static_cast<DatagramStream*>(q->q_ptr); }

void Reply(queue_t* wq, MsgPtr reply) {
  if (reply) qreply(wq, reply.release());  // no memory: no answer, as illumos' mi_tpi_* helpers
}

T_info_ack CurrentInfo(DatagramStream& s) {
  T_info_ack info = s.provider().info;
  info.PRIM_type = T_INFO_ACK;
  info.CURRENT_state = s.ep().LocalAddress() ? TS_IDLE : TS_UNBND;
  info.OPT_size = MaxOptionSize(s.ep().Options());
  return info;
}

// ---- T_BIND_REQ / O_T_BIND_REQ ----
MsgPtr Bind(DatagramStream& s, const mblk_t* mp, t_scalar_t prim) {
  T_bind_req tbr;
  if (!ReadPrimitive(mp, &tbr)) return ErrorAck(prim, TPROTO, 0);
  if (s.ep().LocalAddress()) return ErrorAck(prim, TOUTSTATE, 0);
  sockaddr_in want = dgram::MakeSockaddr(0, 0);
  switch (tbr.ADDR_length) {
    case 0:
      break;
    case sizeof(sockaddr_in): {
      std::optional<sockaddr_in> sin = ReadSockaddr(mp, tbr.ADDR_offset, tbr.ADDR_length);
      if (!sin) return ErrorAck(prim, TSYSERR, EINVAL);
      if (sin->sin_family != AF_INET) return ErrorAck(prim, TSYSERR, EAFNOSUPPORT);
      want = *sin;
      break;
    }
    default:
      return ErrorAck(prim, TBADADDR, 0);
  }
  absl::StatusOr<sockaddr_in> bound = s.ep().Bind(want);
  if (!bound.ok() && prim == O_T_BIND_REQ && want.sin_port != 0 &&
      ip::StatusErrno(bound.status()) == EADDRINUSE) {
    // Old TLI semantics (illumos bind_to_req_port_only false): any port will do.
    want.sin_port = 0;
    bound = s.ep().Bind(want);
  }
  if (!bound.ok()) {
    const int err = ip::StatusErrno(bound.status());
    const t_scalar_t tli = TliErrorForBind(err);
    return ErrorAck(prim, tli, tli == TSYSERR ? err : 0);
  }
  return BindAck(*bound);
}

// ---- T_UNBIND_REQ ----
void Unbind(queue_t* wq, DatagramStream& s) {
  if (!s.ep().Unbind().ok()) {
    Reply(wq, ErrorAck(T_UNBIND_REQ, TOUTSTATE, 0));
    return;
  }
  // TPI: flush what the old binding received before acknowledging.
  putnextctl1(RD(wq), M_FLUSH, FLUSHRW);
  Reply(wq, OkAck(T_UNBIND_REQ));
}

// ---- T_UNITDATA_REQ (consumes mp) ----
void Unitdata(queue_t* wq, DatagramStream& s, MsgPtr mp) {
  T_unitdata_req tudr;
  if (!ReadPrimitive(mp.get(), &tudr)) {
    Reply(wq, UderrorInd(nullptr, 0, EADDRNOTAVAIL));
    return;
  }
  MsgPtr data(mp->b_cont);
  mp->b_cont = nullptr;
  // The T_UDERROR_IND echoes the destination as given, when it is inside the block.
  const bool dest_in = InBlock(mp.get(), tudr.DEST_offset, tudr.DEST_length);
  const void* dest_bytes = dest_in ? At(mp.get(), tudr.DEST_offset) : nullptr;
  const size_t dest_len = dest_in ? static_cast<size_t>(tudr.DEST_length) : 0;
  if (!data || (s.provider().send_needs_bind && !s.ep().LocalAddress())) {
    Reply(wq, UderrorInd(dest_bytes, dest_len, EPROTO));
    return;
  }
  std::optional<sockaddr_in> dst = ReadSockaddr(mp.get(), tudr.DEST_offset, tudr.DEST_length);
  if (!dst || dst->sin_family != AF_INET) {
    Reply(wq, UderrorInd(dest_bytes, dest_len, EADDRNOTAVAIL));
    return;
  }
  if (int err = s.ep().SendTo(*dst, std::move(data)); err != 0) {
    Reply(wq, UderrorInd(*dst, err));
  }
}

void Proto(queue_t* wq, MsgPtr mp) {
  DatagramStream& s = *StreamOf(wq);
  std::optional<t_scalar_t> prim = Primitive(mp.get());
  if (!prim) return;  // no PRIM_type: freed, as illumos does
  switch (*prim) {
    case T_INFO_REQ:
      Reply(wq, InfoAck(CurrentInfo(s)));
      return;
    case T_CAPABILITY_REQ: {
      T_capability_req req{T_CAPABILITY_REQ, 0};
      ReadPrimitive(mp.get(), &req);
      Reply(wq, CapabilityAck(req.CAP_bits1, CurrentInfo(s)));
      return;
    }
    case T_ADDR_REQ:
      Reply(wq, AddrAck(s.ep().LocalAddress(), std::nullopt));
      return;
    case T_BIND_REQ:
    case O_T_BIND_REQ:
      Reply(wq, Bind(s, mp.get(), *prim));
      return;
    case T_UNBIND_REQ:
      Unbind(wq, s);
      return;
    case T_UNITDATA_REQ:
      Unitdata(wq, s, std::move(mp));
      return;
    case T_SVR4_OPTMGMT_REQ:
    case T_OPTMGMT_REQ:
      Reply(wq, OptMgmt(s.ep(), mp.get()));
      return;
    case T_CONN_REQ:
    case T_DISCON_REQ:
    case T_CONN_RES:
    case O_T_CONN_RES:
    case T_DATA_REQ:
    case T_EXDATA_REQ:
    case T_ORDREL_REQ:
    default:
      Reply(wq, ErrorAck(*prim, TNOTSUPPORT, 0));
      return;
  }
}

}  // namespace

int DatagramOpen(queue_t* q, int sflag, std::shared_ptr<dgram::DatagramEndpoint> ep,
                 const DatagramProvider* provider) {
  if (sflag == MODOPEN) return EINVAL;  // a driver, not a module (illumos udp_open)
  if (q->q_ptr != nullptr) return 0;
  if (ep == nullptr) return ENXIO;
  auto* s = new DatagramStream(q, std::move(ep), provider);
  s->ep().Attach(s);
  q->q_ptr = WR(q)->q_ptr = s;
  qprocson(q);
  int rcvbuf = 0;
  s->ep().GetOption(SOL_SOCKET, SO_RCVBUF, &rcvbuf);
  s->SendOptions(SO_HIWAT | SO_WROFF, static_cast<size_t>(rcvbuf));
  return 0;
}

int DatagramClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  DatagramStream* s = StreamOf(q);
  s->ep().Close();  // no upcall runs after this
  qprocsoff(q);
  delete s;
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

int DatagramWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_PROTO:
    case M_PCPROTO:
      Proto(q, MsgPtr(mp));
      break;
    case M_FLUSH:
      FlushAsDriver(q, mp);
      break;
    case M_IOCTL:
      miocnak(q, mp, 0, EINVAL);
      break;
    default:
      freemsg(mp);  // M_DATA without a destination, M_IOCDATA, M_READ ...
      break;
  }
  return 0;
}

int DatagramRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

dgram::DatagramEndpoint* EndpointOf(queue_t* q) {
  DatagramStream* s = q != nullptr ? StreamOf(q) : nullptr;
  return s != nullptr ? &s->ep() : nullptr;
}

}  // namespace ustreams::tpi
