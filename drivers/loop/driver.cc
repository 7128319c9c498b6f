// The loop driver: a DLPI style-2 Ethernet provider over a LoopNetwork's ports (loop.h).
//
// Theory of operation
// -------------------
// Write side. The put procedure queues M_DATA, M_PROTO, M_PCPROTO and M_IOCTL on the write queue
// (M_FLUSH is answered at once, as a driver must) and the service procedure does the work, one
// message at a time in arrival order (high priority first, as putq orders them). So DLPI
// primitives, ioctls and data keep their order, state changes happen on one thread at a time
// (a queue's service procedure never runs twice at once; no lock is needed to order them), and
// nothing the put procedure does can re-enter the network from a receive path. A frame the
// port cannot take yet (its kOut rate limit has a full backlog) is put back and a qtimeout wakes
// the service procedure when the backlog will have room; meanwhile the write queue fills, QFULL
// holds the stream above back (canputnext fails), and a getq below the low-water mark
// back-enables it: a sender can never queue unbounded memory here.
//
// Read side. The network put()s each frame, as M_DATA holding the whole frame, on the read queue
// of every stream of the port that wants it (PortClient::Wants: the destination is the port's
// address, broadcast, an enabled multicast address, or promiscuous; the type matches the bound
// SAP, or DL_PROMISC_SAP). The put procedure turns it into what the stream's mode asks for and
// passes it up if canputnext() allows, else drops and counts it (rx_overflow), as a NIC drops
// what its ring cannot hold. At open the driver raises the head's read-side water marks
// (M_SETOPTS) so a reader that is a little late does not lose frames.
//
// The conversation (illumos dld is the model; where the brief for this driver and dld differ,
// the DLPI specification's codes are used: DL_BADSAP for a SAP out of range, DL_BADPRIM for an
// unknown primitive, DL_NOTSUPPORTED for a known request this provider does not offer):
//   DL_INFO_REQ          any state; DL_INFO_ACK (dl_max_sdu: the port's MTU, the network's
//                        default before attach; the DLSAP address only when bound).
//   DL_ATTACH_REQ        DL_UNATTACHED, else DL_OUTSTATE; DL_BADPPA for no such port; DL_BUSY
//                        if the port's streams belong to another domain. DL_OK_ACK.
//   DL_DETACH_REQ        DL_UNBOUND, else DL_OUTSTATE. DL_OK_ACK.
//   DL_BIND_REQ          dl_xidtest_flg set: DL_NOAUTO; not DL_CLDLS: DL_UNSUPPORTED; not
//                        DL_UNBOUND: DL_OUTSTATE; SAP not 0..1500 or 0x0600..0xffff: DL_BADSAP.
//                        DL_BIND_ACK with the DLSAP address.
//   DL_UNBIND_REQ        DL_IDLE, else DL_OUTSTATE. Back to DL_UNITDATA_IND mode. DL_OK_ACK.
//   DL_UNITDATA_REQ      DL_IDLE, else DL_ERROR_ACK DL_OUTSTATE; no data or the address outside
//                        the block: DL_BADPRIM; address length not 8: DL_BADADDR; a non-M_DATA
//                        data block or more than the MTU: DL_UDERROR_IND DL_BADDATA. No answer
//                        on success.
//   DL_PHYS_ADDR_REQ     attached, else DL_OUTSTATE; DL_FACT/CURR_PHYS_ADDR, else
//                        DL_UNSUPPORTED. DL_PHYS_ADDR_ACK.
//   DL_SET_PHYS_ADDR_REQ attached; address length 6 inside the block, else DL_BADPRIM; a group
//                        address: DL_BADADDR. Changes the port's address. DL_OK_ACK.
//   DL_PROMISCON/OFF_REQ attached; DL_PROMISC_PHYS/SAP/MULTI, else DL_NOTSUPPORTED; OFF of a
//                        level not on: DL_NOTENAB. DL_OK_ACK.
//   DL_ENABMULTI/DISABMULTI_REQ attached; length 6 inside the block, else DL_BADPRIM; not a group
//                        address: DL_BADADDR; more than 64: DL_TOOMANY; disabling one not
//                        enabled: DL_NOTENAB. DL_OK_ACK.
//   A primitive shorter than its structure: DL_BADPRIM (shorter than 4 bytes: dl_error_primitive
//   DL_PRIM_INVAL).
//   M_DATA (fast path)   DL_IDLE, a whole Ethernet header, all blocks M_DATA, payload within the
//                        MTU: sent as it is. Otherwise dropped and counted (tx_malformed,
//                        tx_oversize): there is no primitive to answer.
//   ioctl DLIOCRAW       received frames go up as M_DATA with their header. Any state.
//   ioctl DL_IOC_HDR_INFO (b_cont: a DL_UNITDATA_REQ with the destination) bound only, else
//                        ENOTSUP; a bad request EINVAL. The ack carries the header to prepend
//                        (b_cont->b_cont); received frames go up as M_DATA without header.
//   Other ioctls: EINVAL.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>

#include "drivers/loop/loop.h"
#include "drivers/loop/loop_stream.h"
#include "drivers/loop/net_core.h"
#include "streams/ddi.h"
#include "streams/dlpi.h"
#include "streams/stream.h"

namespace ustreams {
namespace loop_internal {
namespace {

// Messages the write service procedure handles per run before it yields to other queues.
constexpr int kServiceBudget = 64;
// The head's read-side marks the driver asks for at open.
constexpr size_t kHeadHiwat = 256 * 1024;
constexpr size_t kHeadLowat = 32 * 1024;

LoopStream* StreamOf(queue_t* q) { return static_cast<LoopStream*>(q->q_ptr); }

// ---- the network of each registration (as sad.cc finds its domain) ----

std::mutex g_nets_mu;
std::map<const fmodsw*, std::weak_ptr<NetCore>>& Nets() {
  static auto* m = new std::map<const fmodsw*, std::weak_ptr<NetCore>>;  // streams outlive exit
  return *m;
}

std::shared_ptr<NetCore> NetOf(queue_t* q) {
  const fmodsw* sw = q->q_stream != nullptr ? q->q_stream->driver() : nullptr;
  std::lock_guard<std::mutex> l(g_nets_mu);
  auto it = Nets().find(sw);
  return it == Nets().end() ? nullptr : it->second.lock();
}

// ---- helpers ----

void EnableCb(void* arg) { qenable(static_cast<queue_t*>(arg)); }

// The write side's wake-up once the port can take the frame put back. At most one is pending:
// close cancels the last one armed (only the service procedure arms them).
void WakeCb(void* arg) {
  auto* wq = static_cast<queue_t*>(arg);
  {
    LoopStream* s = StreamOf(wq);
    std::lock_guard<std::mutex> l(s->mu);
    s->wake_pending = false;
  }
  qenable(wq);
}

void ArmWake(queue_t* wq, LoopStream* s, absl::Duration after) {
  {
    std::lock_guard<std::mutex> l(s->mu);
    if (s->wake_pending) return;
    s->wake_pending = true;
  }
  const timeout_id_t id = qtimeout(wq, WakeCb, wq, after);
  std::lock_guard<std::mutex> l(s->mu);
  s->wake_id = id;
}

// Sends up a DL_ERROR_ACK for prim (when no ack block was set aside: dropped without memory).
void ErrorAckNow(queue_t* wq, t_uscalar_t prim, t_uscalar_t dl_errno) {
  mblk_t* ack = allocb(kAckRoom);
  if (ack == nullptr) return;
  SetErrorAck(ack, prim, dl_errno, 0);
  qreply(wq, ack);
}

// DL_UDERROR_IND for a DL_UNITDATA_REQ (consumes req; addr points into it).
void UderrorInd(queue_t* wq, mblk_t* req, const unsigned char* addr, t_uscalar_t dl_errno) {
  mblk_t* ind = allocb(sizeof(dl_uderror_ind_t) + kDlsapLen);
  if (ind != nullptr) {
    DB_TYPE(ind) = M_PROTO;
    dl_uderror_ind_t u{};
    u.dl_primitive = DL_UDERROR_IND;
    u.dl_dest_addr_length = kDlsapLen;
    u.dl_dest_addr_offset = sizeof(u);
    u.dl_unix_errno = 0;
    u.dl_errno = dl_errno;
    std::memcpy(ind->b_wptr, &u, sizeof(u));
    std::memcpy(ind->b_wptr + sizeof(u), addr, kDlsapLen);
    ind->b_wptr += sizeof(u) + kDlsapLen;
  }
  freemsg(req);
  if (ind != nullptr) qreply(wq, ind);
}

// Puts the Ethernet header in front of payload (consumed): into its headroom when the block is
// ours alone, else in a new block. nullptr (payload freed) without memory.
mblk_t* PrependHeader(mblk_t* payload, const FrameHeader& h) {
  if (DB_TYPE(payload) == M_DATA && DB_REF(payload) == 1 && MBLKHEAD(payload) >= kEtherHeaderLen) {
    payload->b_rptr -= kEtherHeaderLen;
    WriteHeader(payload->b_rptr, h);
    return payload;
  }
  mblk_t* hdr = allocb(kEtherHeaderLen);
  if (hdr == nullptr) {
    freemsg(payload);
    return nullptr;
  }
  WriteHeader(hdr->b_wptr, h);
  hdr->b_wptr += kEtherHeaderLen;
  hdr->b_cont = payload;
  return hdr;
}

// The port may not take frame_bytes yet: put mp back and come back when it can. Returns false
// (the service procedure stops).
bool HoldForPort(queue_t* wq, LoopStream* s, Scheduler* sched, int ppa, size_t frame_bytes,
                 mblk_t* mp) {
  const absl::Time now = sched->Now();
  const absl::Time ready = s->core->TxReadyAt(ppa, now, frame_bytes);
  if (ready <= now) return true;
  putbq(wq, mp);
  ArmWake(wq, s, ready - now);
  return false;
}

// ---- the write side ----

// DL_UNITDATA_REQ. Returns false if the frame was put back (flow control).
bool SendUnitdata(queue_t* wq, LoopStream* s, Scheduler* sched, mblk_t* mp) {
  dl_unitdata_req_t req;
  if (!ReadPrim(mp, &req) || mp->b_cont == nullptr) {
    freemsg(mp);
    ErrorAckNow(wq, DL_UNITDATA_REQ, DL_BADPRIM);
    return true;
  }
  const LoopStream::Snapshot st = s->Snap();
  t_uscalar_t err = 0;
  if (st.state != DL_IDLE) {
    err = DL_OUTSTATE;
  } else if (!InBlock(mp, req.dl_dest_addr_offset, req.dl_dest_addr_length)) {
    err = DL_BADPRIM;
  } else if (req.dl_dest_addr_length != kDlsapLen) {
    err = DL_BADADDR;
  }
  if (err != 0) {
    freemsg(mp);
    ErrorAckNow(wq, DL_UNITDATA_REQ, err);
    return true;
  }
  const unsigned char* addr = mp->b_rptr + req.dl_dest_addr_offset;
  size_t payload = 0;
  bool all_data = true;
  for (const mblk_t* b = mp->b_cont; b != nullptr; b = b->b_cont) {
    all_data = all_data && DB_TYPE(b) == M_DATA;
    payload += MBLKL(b);
  }
  MacAddr mac;
  uint32_t mtu = 0;
  s->core->PortInfo(st.ppa, &mac, nullptr, &mtu);
  if (!all_data || payload > mtu) {
    if (all_data) s->core->CountTxDrop(st.ppa, TxDrop::kOversize);
    UderrorInd(wq, mp, addr, DL_BADDATA);
    return true;
  }
  if (!HoldForPort(wq, s, sched, st.ppa, payload + kEtherHeaderLen, mp)) return false;
  const FrameHeader h{MacAddr::FromBytes(addr), mac, TypeField(DlsapSap(addr), payload)};
  mblk_t* data = unlinkb(mp);
  freeb(mp);  // the M_PROTO block (addr is not used past here)
  if (mblk_t* frame = PrependHeader(data, h)) s->core->Transmit(st.ppa, sched, frame);
  return true;
}

// M_DATA: the fast path (a whole frame from above). Returns false if put back.
bool SendFrame(queue_t* wq, LoopStream* s, Scheduler* sched, mblk_t* mp) {
  const LoopStream::Snapshot st = s->Snap();
  size_t total = 0;
  bool all_data = true;
  for (const mblk_t* b = mp; b != nullptr; b = b->b_cont) {
    all_data = all_data && DB_TYPE(b) == M_DATA;
    total += MBLKL(b);
  }
  if (st.state != DL_IDLE || !all_data || total < kEtherHeaderLen ||
      (MBLKL(mp) < kEtherHeaderLen && !pullupmsg(mp, kEtherHeaderLen))) {
    if (st.ppa >= 0) s->core->CountTxDrop(st.ppa, TxDrop::kMalformed);
    freemsg(mp);
    return true;
  }
  uint32_t mtu = 0;
  s->core->PortInfo(st.ppa, nullptr, nullptr, &mtu);
  if (total - kEtherHeaderLen > mtu) {
    s->core->CountTxDrop(st.ppa, TxDrop::kOversize);
    freemsg(mp);
    return true;
  }
  if (!HoldForPort(wq, s, sched, st.ppa, total, mp)) return false;
  s->core->Transmit(st.ppa, sched, mp);
  return true;
}

// M_PROTO / M_PCPROTO. Returns false if the message was put back.
bool Proto(queue_t* wq, LoopStream* s, Scheduler* sched, mblk_t* mp) {
  t_uscalar_t prim = DL_PRIM_INVAL;
  const bool whole = ReadPrim(mp, &prim);
  if (whole && prim == DL_UNITDATA_REQ) return SendUnitdata(wq, s, sched, mp);
  // The answer's block first, so that no memory never leaves a request half done.
  mblk_t* ack = allocb(kAckRoom);
  if (ack == nullptr) {
    putbq(wq, mp);
    if (qbufcall(wq, kAckRoom, BPRI_HI, EnableCb, wq) == 0) {
      ArmWake(wq, s, absl::Milliseconds(10));
    }
    return false;
  }
  if (whole) {
    HandleControl(s, sched, prim, mp, ack);
  } else {
    SetErrorAck(ack, DL_PRIM_INVAL, DL_BADPRIM, 0);
  }
  freemsg(mp);
  qreply(wq, ack);
  return true;
}

int LoopWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_DATA:
    case M_PROTO:
    case M_PCPROTO:
    case M_IOCTL:
      putq(q, mp);  // consumes mp; the service procedure keeps the order
      break;
    case M_FLUSH:
      FlushAsDriver(q, mp);
      break;
    default:
      freemsg(mp);  // M_IOCDATA (no copyin is ever asked for), M_READ, M_CTL ...
      break;
  }
  return 0;
}

int LoopWsrv(queue_t* q) {
  LoopStream* s = StreamOf(q);
  Scheduler* sched = q->q_stream->scheduler();
  for (int n = 0; n < kServiceBudget; n++) {
    mblk_t* mp = getq(q);
    if (mp == nullptr) return 0;
    if (s->closing.load(std::memory_order_relaxed)) {  // no answers to a stream going away
      freemsg(mp);
      continue;
    }
    switch (DB_TYPE(mp)) {
      case M_DATA:
        if (!SendFrame(q, s, sched, mp)) return 0;
        break;
      case M_PROTO:
      case M_PCPROTO:
        if (!Proto(q, s, sched, mp)) return 0;
        break;
      case M_IOCTL:
        HandleIoctl(q, s, mp);
        break;
      default:
        freemsg(mp);
        break;
    }
  }
  qenable(q);  // budget spent: let other queues run, then go on
  return 0;
}

// ---- the read side ----

// DL_UNITDATA_IND in front of the payload of frame (consumed). nullptr (frame kept) without
// memory.
mblk_t* UnitdataInd(mblk_t* frame) {
  const FrameHeader h = ParseHeader(frame);
  mblk_t* ind = allocb(sizeof(dl_unitdata_ind_t) + 2 * kDlsapLen);
  if (ind == nullptr) return nullptr;
  DB_TYPE(ind) = M_PROTO;
  dl_unitdata_ind_t u{};
  u.dl_primitive = DL_UNITDATA_IND;
  u.dl_dest_addr_length = kDlsapLen;
  u.dl_dest_addr_offset = sizeof(u);
  u.dl_src_addr_length = kDlsapLen;
  u.dl_src_addr_offset = sizeof(u) + kDlsapLen;
  u.dl_group_address = h.dst.IsGroup() ? 1 : 0;
  std::memcpy(ind->b_wptr, &u, sizeof(u));
  PutDlsap(ind->b_wptr + sizeof(u), h.dst, h.type);
  PutDlsap(ind->b_wptr + sizeof(u) + kDlsapLen, h.src, h.type);
  ind->b_wptr += sizeof(u) + 2 * kDlsapLen;
  frame->b_rptr += kEtherHeaderLen;
  ind->b_cont = frame;
  return ind;
}

// A frame from the network (M_DATA, the whole frame, header in the first block).
int LoopRput(queue_t* q, mblk_t* mp) {
  LoopStream* s = StreamOf(q);
  if (DB_TYPE(mp) != M_DATA || MBLKL(mp) < kEtherHeaderLen) {  // nothing else is put here
    freemsg(mp);
    return 0;
  }
  const LoopStream::Snapshot st = s->Snap();
  // Unbound since the network chose it, or closing.
  if ((st.state != DL_IDLE && !st.promisc_sap) || s->closing.load(std::memory_order_relaxed)) {
    freemsg(mp);
    return 0;
  }
  mblk_t* up = mp;
  switch (st.mode) {
    case RxMode::kRaw:
      break;
    case RxMode::kFastpath:
      mp->b_rptr += kEtherHeaderLen;  // this mblk_t is ours; the data is only read
      break;
    case RxMode::kUnitdata:
      up = UnitdataInd(mp);
      if (up == nullptr) {
        s->core->CountRxOverflow(st.ppa);
        freemsg(mp);
        return 0;
      }
      break;
  }
  if (!canputnext(q)) {
    s->core->CountRxOverflow(st.ppa);
    freemsg(up);
    return 0;
  }
  putnext(q, up);
  return 0;
}

// ---- open and close ----

mblk_t* HeadOptions() {
  mblk_t* mp = allocb(sizeof(stroptions));
  if (mp == nullptr) return nullptr;
  DB_TYPE(mp) = M_SETOPTS;
  stroptions so{};
  so.so_flags = SO_HIWAT | SO_LOWAT;
  so.so_hiwat = kHeadHiwat;
  so.so_lowat = kHeadLowat;
  std::memcpy(mp->b_wptr, &so, sizeof(so));
  mp->b_wptr += sizeof(so);
  return mp;
}

int LoopOpen(queue_t* q, dev_t* /*devp*/, int /*oflag*/, int sflag, cred_t* /*crp*/) {
  if (sflag == MODOPEN) return ENXIO;  // a driver, not a module
  if (q->q_ptr != nullptr) return 0;   // another open of a stream already set up
  std::shared_ptr<NetCore> core = NetOf(q);
  if (core == nullptr) return ENXIO;  // its network is gone
  mblk_t* so = HeadOptions();
  if (so == nullptr) return ENOSR;
  auto* s = new LoopStream(std::move(core), q);
  q->q_ptr = WR(q)->q_ptr = s;
  qprocson(q);
  putnext(q, so);
  return 0;
}

// Close, in an order that leaves nothing running on the stream state it frees:
//   1. closing: whatever the write side or a delivery is doing now sends nothing more up;
//   2. qprocsoff: the write service procedure has finished and will not run again (so no
//      primitive can attach the stream behind step 3), and callbacks under way are done;
//   3. detach: the network hands the stream nothing more once Detach returns (it waits for a
//      delivery that is putting a frame here now; frames in flight to a port left with no
//      stream are dropped as rx_abandoned);
//   4. the write side's wake-up, the only timeout that can still be pending, is cancelled.
int LoopClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  LoopStream* s = StreamOf(q);
  s->closing.store(true);
  qprocsoff(q);
  int ppa;
  timeout_id_t wake;
  {
    std::lock_guard<std::mutex> l(s->mu);
    ppa = s->ppa;
    s->state = DL_UNATTACHED;
    s->ppa = -1;
    wake = s->wake_id;
  }
  if (ppa >= 0) s->core->Detach(ppa, s);
  if (wake != 0) quntimeout(q, wake);
  delete s;
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

module_info loop_minfo{0x6c70, "loop", 0, INFPSZ, 64 * 1024, 16 * 1024};
qinit loop_rinit{LoopRput, nullptr, LoopOpen, LoopClose, nullptr, &loop_minfo, nullptr};
qinit loop_winit{LoopWput, LoopWsrv, nullptr, nullptr, nullptr, &loop_minfo, nullptr};
streamtab loop_tab{&loop_rinit, &loop_winit, nullptr, nullptr};

}  // namespace

bool LoopStream::Wants(const FrameHeader& h, const MacAddr& port_mac) {
  std::lock_guard<std::mutex> l(mu);
  if (state == DL_UNATTACHED) return false;
  const bool addressed =
      promisc_phys || h.dst == port_mac || h.dst.IsBroadcast() ||
      (h.dst.IsGroup() &&
       (promisc_multi || std::find(multicast.begin(), multicast.end(), h.dst) != multicast.end()));
  if (!addressed) return false;
  if (promisc_sap) return true;
  if (state != DL_IDLE) return false;
  return sap <= 1500 ? h.type <= 1500 : h.type == sap;  // 802.3 SAPs take length-field frames
}

void ForgetNetwork(const NetCore* core) {
  std::lock_guard<std::mutex> l(g_nets_mu);
  for (auto it = Nets().begin(); it != Nets().end();) {
    std::shared_ptr<NetCore> c = it->second.lock();
    if (c == nullptr || c.get() == core) {
      it = Nets().erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace loop_internal

absl::Status RegisterLoopDriver(Domain& d, LoopNetwork& net, std::string_view name) {
  if (absl::Status s = d.registry().RegisterDriver(name, &loop_internal::loop_tab, D_MP,
                                                   /*clone=*/true);
      !s.ok()) {
    return s;
  }
  std::lock_guard<std::mutex> l(loop_internal::g_nets_mu);
  loop_internal::Nets()[d.registry().FindDriver(name)] = net.core();
  return absl::OkStatus();
}

}  // namespace ustreams
