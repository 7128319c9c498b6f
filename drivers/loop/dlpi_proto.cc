// The loop driver's control primitives and ioctls (the rules are listed at the top of
// driver.cc). Each runs in the write service procedure (one run at a time), builds its answer in
// the block the caller set aside, and changes the state under mu only once it knows it will
// succeed.
#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

#include "drivers/loop/loop_stream.h"
#include "streams/ddi.h"

namespace ustreams::loop_internal {
namespace {

// Requests of DLPI (and of the Solaris additions) this provider knows and does not offer.
bool KnownRequest(t_uscalar_t prim) {
  switch (prim) {
    case DL_SUBS_BIND_REQ:
    case DL_SUBS_UNBIND_REQ:
    case DL_UDQOS_REQ:
    case DL_CONNECT_REQ:
    case DL_CONNECT_RES:
    case DL_TOKEN_REQ:
    case DL_DISCONNECT_REQ:
    case DL_RESET_REQ:
    case DL_RESET_RES:
    case DL_DATA_ACK_REQ:
    case DL_REPLY_REQ:
    case DL_REPLY_UPDATE_REQ:
    case DL_XID_REQ:
    case DL_XID_RES:
    case DL_TEST_REQ:
    case DL_TEST_RES:
    case DL_GET_STATISTICS_REQ:
    case DL_NOTIFY_REQ:
    case DL_NOTIFY_CONF:
    case DL_AGGR_REQ:
    case DL_UNAGGR_REQ:
    case DL_CAPABILITY_REQ:
    case DL_CONTROL_REQ:
    case DL_PASSIVE_REQ:
    case DL_INTR_MODE_REQ:
      return true;
    default:
      return false;
  }
}

template <typename T>
void SetAck(mblk_t* ack, unsigned char type, const T& body) {
  DB_TYPE(ack) = type;
  ack->b_rptr = ack->b_wptr = ack->b_datap->db_base;
  std::memcpy(ack->b_wptr, &body, sizeof(body));
  ack->b_wptr += sizeof(body);
}

bool Attached(LoopStream* s) {
  std::lock_guard<std::mutex> l(s->mu);
  return s->state != DL_UNATTACHED;
}

void Info(LoopStream* s, mblk_t* ack) {
  const LoopStream::Snapshot st = s->Snap();
  MacAddr mac;
  uint32_t mtu = s->core->default_mtu();
  if (st.ppa >= 0) s->core->PortInfo(st.ppa, &mac, nullptr, &mtu);
  dl_info_ack_t a{};
  a.dl_primitive = DL_INFO_ACK;
  a.dl_max_sdu = mtu;
  a.dl_min_sdu = 0;
  a.dl_addr_length = kDlsapLen;
  a.dl_mac_type = DL_ETHER;
  a.dl_current_state = st.state;
  a.dl_sap_length = -2;
  a.dl_service_mode = DL_CLDLS;
  a.dl_provider_style = DL_STYLE2;
  a.dl_version = DL_VERSION_2;
  a.dl_brdcst_addr_length = 6;
  a.dl_brdcst_addr_offset = sizeof(a) + kDlsapLen;
  if (st.state == DL_IDLE) a.dl_addr_offset = sizeof(a);  // a DLSAP address only once bound
  SetAck(ack, M_PCPROTO, a);
  if (st.state == DL_IDLE) PutDlsap(ack->b_rptr + sizeof(a), mac, st.sap);
  std::memset(ack->b_rptr + sizeof(a) + kDlsapLen, 0xff, 6);
  ack->b_wptr = ack->b_rptr + sizeof(a) + kDlsapLen + 6;
}

void Attach(LoopStream* s, Scheduler* sched, mblk_t* req, mblk_t* ack) {
  dl_attach_req_t r;
  if (!ReadPrim(req, &r)) return SetErrorAck(ack, DL_ATTACH_REQ, DL_BADPRIM, 0);
  if (Attached(s)) return SetErrorAck(ack, DL_ATTACH_REQ, DL_OUTSTATE, 0);
  if (r.dl_ppa > static_cast<t_uscalar_t>(INT_MAX)) {
    return SetErrorAck(ack, DL_ATTACH_REQ, DL_BADPPA, 0);
  }
  const int ppa = static_cast<int>(r.dl_ppa);
  if (t_uscalar_t err = s->core->Attach(ppa, s, sched); err != 0) {
    return SetErrorAck(ack, DL_ATTACH_REQ, err, 0);
  }
  {
    std::lock_guard<std::mutex> l(s->mu);
    s->state = DL_UNBOUND;
    s->ppa = ppa;
  }
  SetOkAck(ack, DL_ATTACH_REQ);
}

void Detach(LoopStream* s, mblk_t* req, mblk_t* ack) {
  dl_detach_req_t r;
  if (!ReadPrim(req, &r)) return SetErrorAck(ack, DL_DETACH_REQ, DL_BADPRIM, 0);
  int ppa;
  {
    std::lock_guard<std::mutex> l(s->mu);
    if (s->state != DL_UNBOUND) return SetErrorAck(ack, DL_DETACH_REQ, DL_OUTSTATE, 0);
    ppa = s->ppa;
    s->state = DL_UNATTACHED;
    s->ppa = -1;
    s->promisc_phys = s->promisc_sap = s->promisc_multi = false;
    s->multicast.clear();
  }
  s->core->Detach(ppa, s);  // waits if a delivery is handing this stream a frame
  SetOkAck(ack, DL_DETACH_REQ);
}

void Bind(LoopStream* s, mblk_t* req, mblk_t* ack) {
  dl_bind_req_t r;
  if (!ReadPrim(req, &r)) return SetErrorAck(ack, DL_BIND_REQ, DL_BADPRIM, 0);
  if (r.dl_xidtest_flg != 0) return SetErrorAck(ack, DL_BIND_REQ, DL_NOAUTO, 0);
  if (r.dl_service_mode != DL_CLDLS) return SetErrorAck(ack, DL_BIND_REQ, DL_UNSUPPORTED, 0);
  int ppa;
  {
    std::lock_guard<std::mutex> l(s->mu);
    if (s->state != DL_UNBOUND) return SetErrorAck(ack, DL_BIND_REQ, DL_OUTSTATE, 0);
    // Ethertypes, or 802.3 SAPs (<= 1500) for frames whose type field is a length. Between the
    // two is neither (illumos mac_ether_sap_verify draws the same line).
    if (r.dl_sap > 0xffff || (r.dl_sap > 1500 && r.dl_sap < 0x0600)) {
      return SetErrorAck(ack, DL_BIND_REQ, DL_BADSAP, 0);
    }
    s->state = DL_IDLE;
    s->sap = static_cast<uint16_t>(r.dl_sap);
    ppa = s->ppa;
  }
  MacAddr mac;
  s->core->PortInfo(ppa, &mac, nullptr, nullptr);
  dl_bind_ack_t a{};
  a.dl_primitive = DL_BIND_ACK;
  a.dl_sap = r.dl_sap;
  a.dl_addr_length = kDlsapLen;
  a.dl_addr_offset = sizeof(a);
  SetAck(ack, M_PCPROTO, a);
  PutDlsap(ack->b_wptr, mac, static_cast<uint16_t>(r.dl_sap));
  ack->b_wptr += kDlsapLen;
}

void Unbind(LoopStream* s, mblk_t* req, mblk_t* ack) {
  dl_unbind_req_t r;
  if (!ReadPrim(req, &r)) return SetErrorAck(ack, DL_UNBIND_REQ, DL_BADPRIM, 0);
  {
    std::lock_guard<std::mutex> l(s->mu);
    if (s->state != DL_IDLE) return SetErrorAck(ack, DL_UNBIND_REQ, DL_OUTSTATE, 0);
    s->state = DL_UNBOUND;
    s->mode = RxMode::kUnitdata;  // as illumos dld: fast path and raw end with the binding
  }
  SetOkAck(ack, DL_UNBIND_REQ);
}

void PhysAddr(LoopStream* s, mblk_t* req, mblk_t* ack) {
  dl_phys_addr_req_t r;
  if (!ReadPrim(req, &r)) return SetErrorAck(ack, DL_PHYS_ADDR_REQ, DL_BADPRIM, 0);
  const LoopStream::Snapshot st = s->Snap();
  if (st.state == DL_UNATTACHED) return SetErrorAck(ack, DL_PHYS_ADDR_REQ, DL_OUTSTATE, 0);
  if (r.dl_addr_type != DL_FACT_PHYS_ADDR && r.dl_addr_type != DL_CURR_PHYS_ADDR) {
    return SetErrorAck(ack, DL_PHYS_ADDR_REQ, DL_UNSUPPORTED, 0);
  }
  MacAddr current, factory;
  s->core->PortInfo(st.ppa, &current, &factory, nullptr);
  dl_phys_addr_ack_t a{};
  a.dl_primitive = DL_PHYS_ADDR_ACK;
  a.dl_addr_length = 6;
  a.dl_addr_offset = sizeof(a);
  SetAck(ack, M_PCPROTO, a);
  const MacAddr& m = r.dl_addr_type == DL_FACT_PHYS_ADDR ? factory : current;
  std::memcpy(ack->b_wptr, m.octets.data(), 6);
  ack->b_wptr += 6;
}

// The 6-byte address a request carries at (off, len) in its block, or a dl_errno.
t_uscalar_t AddressIn(const mblk_t* req, t_uscalar_t off, t_uscalar_t len, MacAddr* out) {
  if (!InBlock(req, off, len) || len != 6) return DL_BADPRIM;
  *out = MacAddr::FromBytes(req->b_rptr + off);
  return 0;
}

void SetPhysAddr(LoopStream* s, mblk_t* req, mblk_t* ack) {
  const LoopStream::Snapshot st = s->Snap();
  if (st.state == DL_UNATTACHED) return SetErrorAck(ack, DL_SET_PHYS_ADDR_REQ, DL_OUTSTATE, 0);
  dl_set_phys_addr_req_t r;
  MacAddr mac;
  t_uscalar_t err = ReadPrim(req, &r) ? AddressIn(req, r.dl_addr_offset, r.dl_addr_length, &mac)
                                      : DL_BADPRIM;
  if (err == 0 && mac.IsGroup()) err = DL_BADADDR;
  if (err != 0) return SetErrorAck(ack, DL_SET_PHYS_ADDR_REQ, err, 0);
  s->core->SetPortMac(st.ppa, mac);
  SetOkAck(ack, DL_SET_PHYS_ADDR_REQ);
}

void Promisc(LoopStream* s, bool on, mblk_t* req, mblk_t* ack) {
  const t_uscalar_t prim = on ? DL_PROMISCON_REQ : DL_PROMISCOFF_REQ;
  dl_promiscon_req_t r;  // same layout as dl_promiscoff_req_t
  if (!ReadPrim(req, &r)) return SetErrorAck(ack, prim, DL_BADPRIM, 0);
  std::lock_guard<std::mutex> l(s->mu);
  if (s->state == DL_UNATTACHED) return SetErrorAck(ack, prim, DL_OUTSTATE, 0);
  bool* flag = nullptr;
  switch (r.dl_level) {
    case DL_PROMISC_PHYS:
      flag = &s->promisc_phys;
      break;
    case DL_PROMISC_SAP:
      flag = &s->promisc_sap;
      break;
    case DL_PROMISC_MULTI:
      flag = &s->promisc_multi;
      break;
    default:
      return SetErrorAck(ack, prim, DL_NOTSUPPORTED, 0);
  }
  if (!on && !*flag) return SetErrorAck(ack, prim, DL_NOTENAB, 0);
  *flag = on;
  SetOkAck(ack, prim);
}

void Multicast(LoopStream* s, bool on, mblk_t* req, mblk_t* ack) {
  const t_uscalar_t prim = on ? DL_ENABMULTI_REQ : DL_DISABMULTI_REQ;
  if (!Attached(s)) return SetErrorAck(ack, prim, DL_OUTSTATE, 0);
  dl_enabmulti_req_t r;  // same layout as dl_disabmulti_req_t
  MacAddr mac;
  t_uscalar_t err = ReadPrim(req, &r) ? AddressIn(req, r.dl_addr_offset, r.dl_addr_length, &mac)
                                      : DL_BADPRIM;
  if (err == 0 && !mac.IsGroup()) err = DL_BADADDR;
  if (err != 0) return SetErrorAck(ack, prim, err, 0);
  std::lock_guard<std::mutex> l(s->mu);
  auto it = std::find(s->multicast.begin(), s->multicast.end(), mac);
  if (on) {
    if (it == s->multicast.end()) {
      if (s->multicast.size() >= kMaxMulticast) return SetErrorAck(ack, prim, DL_TOOMANY, 0);
      s->multicast.push_back(mac);
    }
  } else {
    if (it == s->multicast.end()) return SetErrorAck(ack, prim, DL_NOTENAB, 0);
    s->multicast.erase(it);
  }
  SetOkAck(ack, prim);
}

// DL_IOC_HDR_INFO: b_cont holds a DL_UNITDATA_REQ naming the destination; the ack adds the
// Ethernet header to prepend after it. Returns 0 or the errno of the M_IOCNAK.
int HeaderInfo(LoopStream* s, mblk_t* mp) {
  if (int err = miocpullup(mp, sizeof(dl_unitdata_req_t)); err != 0) return err;
  mblk_t* d = mp->b_cont;
  dl_unitdata_req_t r;
  std::memcpy(&r, d->b_rptr, sizeof(r));
  if (r.dl_primitive != DL_UNITDATA_REQ || !InBlock(d, r.dl_dest_addr_offset,
                                                     r.dl_dest_addr_length)) {
    return EINVAL;
  }
  const LoopStream::Snapshot st = s->Snap();
  if (st.state != DL_IDLE) return ENOTSUP;
  if (r.dl_dest_addr_length != kDlsapLen) return EINVAL;
  const unsigned char* addr = d->b_rptr + r.dl_dest_addr_offset;
  MacAddr mac;
  s->core->PortInfo(st.ppa, &mac, nullptr, nullptr);
  mblk_t* hdr = allocb(kEtherHeaderLen);
  if (hdr == nullptr) return ENOMEM;
  WriteHeader(hdr->b_wptr, FrameHeader{MacAddr::FromBytes(addr), mac, DlsapSap(addr)});
  hdr->b_wptr += kEtherHeaderLen;
  freemsg(d->b_cont);
  d->b_cont = hdr;
  std::lock_guard<std::mutex> l(s->mu);
  s->mode = RxMode::kFastpath;
  return 0;
}

}  // namespace

void SetOkAck(mblk_t* ack, t_uscalar_t prim) {
  dl_ok_ack_t a{};
  a.dl_primitive = DL_OK_ACK;
  a.dl_correct_primitive = prim;
  SetAck(ack, M_PCPROTO, a);
}

void SetErrorAck(mblk_t* ack, t_uscalar_t prim, t_uscalar_t dl_errno, t_uscalar_t unix_errno) {
  dl_error_ack_t a{};
  a.dl_primitive = DL_ERROR_ACK;
  a.dl_error_primitive = prim;
  a.dl_errno = dl_errno;
  a.dl_unix_errno = unix_errno;
  SetAck(ack, M_PCPROTO, a);
}

void HandleControl(LoopStream* s, Scheduler* sched, t_uscalar_t prim, mblk_t* req, mblk_t* ack) {
  switch (prim) {
    case DL_INFO_REQ:
      return Info(s, ack);
    case DL_ATTACH_REQ:
      return Attach(s, sched, req, ack);
    case DL_DETACH_REQ:
      return Detach(s, req, ack);
    case DL_BIND_REQ:
      return Bind(s, req, ack);
    case DL_UNBIND_REQ:
      return Unbind(s, req, ack);
    case DL_PHYS_ADDR_REQ:
      return PhysAddr(s, req, ack);
    case DL_SET_PHYS_ADDR_REQ:
      return SetPhysAddr(s, req, ack);
    case DL_PROMISCON_REQ:
    case DL_PROMISCOFF_REQ:
      return Promisc(s, prim == DL_PROMISCON_REQ, req, ack);
    case DL_ENABMULTI_REQ:
    case DL_DISABMULTI_REQ:
      return Multicast(s, prim == DL_ENABMULTI_REQ, req, ack);
    default:
      return SetErrorAck(ack, prim, KnownRequest(prim) ? DL_NOTSUPPORTED : DL_BADPRIM, 0);
  }
}

void HandleIoctl(queue_t* wq, LoopStream* s, mblk_t* mp) {
  iocblk ioc;
  if (MBLKL(mp) < sizeof(ioc)) {
    freemsg(mp);
    return;
  }
  std::memcpy(&ioc, mp->b_rptr, sizeof(ioc));
  switch (ioc.ioc_cmd) {
    case DLIOCRAW: {
      {
        std::lock_guard<std::mutex> l(s->mu);
        s->mode = RxMode::kRaw;
      }
      miocack(wq, mp, 0, 0);
      return;
    }
    case DL_IOC_HDR_INFO: {
      if (const int err = HeaderInfo(s, mp); err != 0) {
        miocnak(wq, mp, 0, err);
      } else {
        miocack(wq, mp, static_cast<int>(msgdsize(mp->b_cont)), 0);
      }
      return;
    }
    default:
      miocnak(wq, mp, 0, EINVAL);
      return;
  }
}

}  // namespace ustreams::loop_internal
