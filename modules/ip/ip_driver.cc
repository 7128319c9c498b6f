// The "ip" STREAMS driver: the multiplexor that links are plumbed under, and the ioctls of
// ip_ioctl.h. Upper streams (clone opens of "/dev/ip") carry configuration ioctls; lower streams
// (links, I_LINK or I_PLINK) carry Ethernet frames, raw both ways, once IPIOC_PLUMB has
// conducted the DLPI conversation with the link.
//
// D_MP: upper ioctls, lower input and transports' sends run concurrently; IpImpl's locks guard
// the state. A lower's DLPI conversation is sequential (one primitive outstanding at a time).
// IPIOC_PLUMB is answered when the conversation ends (or fails); if the upper stream that asked
// closes meanwhile, the interface is still made and the answer is dropped.
#include "modules/ip/ip_driver.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "modules/ip/ip_impl.h"
#include "modules/ip/ip_ioctl.h"
#include "streams/ddi.h"
#include "streams/dlpi.h"
#include "streams/domain.h"
#include "streams/queue.h"
#include "streams/stream.h"

namespace ustreams::ip {
namespace {

IpImpl* ImplOf(queue_t* q) {
  Ip* ip = Ip::Of(q);
  return ip != nullptr ? &ip->impl() : nullptr;
}

// ---- DLPI requests down a lower ----

template <typename T>
mblk_t* Prim(t_uscalar_t type, size_t extra = 0) {
  mblk_t* mp = allocb(sizeof(T) + extra);
  if (mp == nullptr) return nullptr;
  DB_TYPE(mp) = M_PROTO;
  std::memset(mp->b_wptr, 0, sizeof(T) + extra);
  reinterpret_cast<T*>(mp->b_wptr)->dl_primitive = type;
  mp->b_wptr += sizeof(T);
  return mp;
}

bool SendDown(queue_t* lower_wq, mblk_t* mp) {
  if (mp == nullptr) return false;
  putnext(lower_wq, mp);
  return true;
}

// Answers the held IPIOC_PLUMB (error 0: success) and forgets it.
void FinishPlumb(IpImpl* ip, const InterfacePtr& ifp, int error) {
  mblk_t* mp;
  queue_t* wq;
  uint32_t index;
  {
    std::unique_lock<std::shared_mutex> l(ip->if_mu_);
    mp = ifp->plumb_ioctl;
    wq = ifp->plumb_wq;
    ifp->plumb_ioctl = nullptr;
    ifp->plumb_wq = nullptr;
    index = ifp->index;
    if (error == 0) {
      ifp->running = true;
      ifp->step = PlumbStep::kDone;
    }
  }
  if (error != 0) {
    ip->RemoveInterface(ifp);
  } else {
    IpEvent e;
    {
      std::shared_lock<std::shared_mutex> l(ip->if_mu_);
      e = ip->EventOf(*ifp, IpEvent::kIfInfo);
    }
    ip->Emit(e);
  }
  if (mp == nullptr) return;
  if (wq == nullptr) {
    freemsg(mp);
    return;
  }
  if (error != 0) {
    miocnak(wq, mp, 0, error);
    return;
  }
  ip_plumb p;
  std::memcpy(&p, mp->b_cont->b_rptr, sizeof(p));
  p.ifindex = index;
  std::memcpy(mp->b_cont->b_rptr, &p, sizeof(p));
  miocack(wq, mp, sizeof(p), 0);
}

int DlpiErrno(const dl_error_ack_t& e) {
  if (e.dl_errno == DL_SYSERR && e.dl_unix_errno != 0) return static_cast<int>(e.dl_unix_errno);
  if (e.dl_errno == DL_BADPPA) return ENXIO;
  if (e.dl_errno == DL_BUSY) return EBUSY;
  return EPROTO;
}

// The next step of the plumbing conversation, on the lower's answer `mp` (consumed).
void PlumbAnswer(IpImpl* ip, const InterfacePtr& ifp, queue_t* lower_wq, mblk_t* mp) {
  t_uscalar_t prim = DL_PRIM_INVAL;
  if (DB_TYPE(mp) == M_PROTO || DB_TYPE(mp) == M_PCPROTO) {
    if (MBLKL(mp) >= sizeof(prim)) std::memcpy(&prim, mp->b_rptr, sizeof(prim));
  }
  if (prim == DL_ERROR_ACK) {
    dl_error_ack_t e{};
    std::memcpy(&e, mp->b_rptr, std::min(MBLKL(mp), sizeof(e)));
    freemsg(mp);
    FinishPlumb(ip, ifp, DlpiErrno(e));
    return;
  }
  PlumbStep step;
  int ppa;
  {
    std::shared_lock<std::shared_mutex> l(ip->if_mu_);
    step = ifp->step;
    ppa = ifp->ppa;
  }
  PlumbStep next = step;
  mblk_t* req = nullptr;
  bool fail = false;
  switch (step) {
    case PlumbStep::kInfo: {
      if (prim != DL_INFO_ACK || MBLKL(mp) < sizeof(dl_info_ack_t)) {
        fail = true;
        break;
      }
      dl_info_ack_t a;
      std::memcpy(&a, mp->b_rptr, sizeof(a));
      if (a.dl_provider_style == DL_STYLE2 && a.dl_current_state == DL_UNATTACHED) {
        req = Prim<dl_attach_req_t>(DL_ATTACH_REQ);
        if (req != nullptr) {
          reinterpret_cast<dl_attach_req_t*>(req->b_rptr)->dl_ppa = static_cast<t_uscalar_t>(ppa);
        }
        next = PlumbStep::kAttach;
        break;
      }
      [[fallthrough]];
    }
    case PlumbStep::kAttach:
      if (step == PlumbStep::kAttach && prim != DL_OK_ACK) {
        fail = true;
        break;
      }
      req = Prim<dl_bind_req_t>(DL_BIND_REQ);
      if (req != nullptr) {
        auto* b = reinterpret_cast<dl_bind_req_t*>(req->b_rptr);
        b->dl_sap = kEtherTypeIpv4;
        b->dl_service_mode = DL_CLDLS;
      }
      next = PlumbStep::kBind;
      break;
    case PlumbStep::kBind:
      if (prim != DL_BIND_ACK) {
        fail = true;
        break;
      }
      req = Prim<dl_promiscon_req_t>(DL_PROMISCON_REQ);
      if (req != nullptr) {
        reinterpret_cast<dl_promiscon_req_t*>(req->b_rptr)->dl_level = DL_PROMISC_SAP;
      }
      next = PlumbStep::kPromisc;
      break;
    case PlumbStep::kPromisc:
      if (prim != DL_OK_ACK) {
        fail = true;
        break;
      }
      req = Prim<dl_phys_addr_req_t>(DL_PHYS_ADDR_REQ);
      if (req != nullptr) {
        reinterpret_cast<dl_phys_addr_req_t*>(req->b_rptr)->dl_addr_type = DL_CURR_PHYS_ADDR;
      }
      next = PlumbStep::kPhysAddr;
      break;
    case PlumbStep::kPhysAddr: {
      dl_phys_addr_ack_t a{};
      if (prim != DL_PHYS_ADDR_ACK || MBLKL(mp) < sizeof(a)) {
        fail = true;
        break;
      }
      std::memcpy(&a, mp->b_rptr, sizeof(a));
      if (a.dl_addr_length != 6 || a.dl_addr_offset > MBLKL(mp) ||
          MBLKL(mp) - a.dl_addr_offset < 6) {
        fail = true;
        break;
      }
      {
        std::unique_lock<std::shared_mutex> l(ip->if_mu_);
        std::memcpy(ifp->mac.data(), mp->b_rptr + a.dl_addr_offset, 6);
      }
      req = Prim<dl_info_req_t>(DL_INFO_REQ);
      next = PlumbStep::kInfo2;
      break;
    }
    case PlumbStep::kInfo2: {
      if (prim != DL_INFO_ACK || MBLKL(mp) < sizeof(dl_info_ack_t)) {
        fail = true;
        break;
      }
      dl_info_ack_t a;
      std::memcpy(&a, mp->b_rptr, sizeof(a));
      {
        std::unique_lock<std::shared_mutex> l(ip->if_mu_);
        ifp->link_mtu = a.dl_max_sdu >= 68 ? a.dl_max_sdu : 68;
        ifp->mtu = ifp->link_mtu;
      }
      req = mkiocb(DLIOCRAW);
      next = PlumbStep::kRaw;
      break;
    }
    case PlumbStep::kRaw: {
      const bool acked = DB_TYPE(mp) == M_IOCACK;
      freemsg(mp);
      FinishPlumb(ip, ifp, acked ? 0 : EPROTO);
      return;
    }
    case PlumbStep::kDone:
      break;
  }
  freemsg(mp);
  if (fail) {
    FinishPlumb(ip, ifp, EPROTO);
    return;
  }
  if (req == nullptr) {
    FinishPlumb(ip, ifp, ENOMEM);
    return;
  }
  {
    std::unique_lock<std::shared_mutex> l(ip->if_mu_);
    ifp->step = next;
  }
  SendDown(lower_wq, req);
}

// ---- ioctls ----

// The route IP adds for an address's subnet while its interface is up (illumos IRE_INTERFACE).
Route InterfaceRoute(uint32_t ifindex, const IfAddr& a) {
  Route rt;
  rt.dst = a.net();
  rt.prefix_len = a.prefix_len;
  rt.ifindex = ifindex;
  rt.flags = a.prefix_len == 32 ? (RTF_UP | RTF_HOST) : RTF_UP;
  rt.interface_route = true;
  return rt;
}

// The structure an I_STR carried, if it is exactly sizeof(T).
template <typename T>
bool Arg(mblk_t* mp, T* out) {
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  if (ioc->ioc_count != sizeof(T) || miocpullup(mp, sizeof(T)) != 0) return false;
  std::memcpy(out, mp->b_cont->b_rptr, sizeof(T));
  return true;
}
template <typename T>
void Reply(queue_t* q, mblk_t* mp, const T& v) {
  std::memcpy(mp->b_cont->b_rptr, &v, sizeof(T));
  miocack(q, mp, sizeof(T), 0);
}

bool ValidName(const char (&name)[IPIF_NAMESZ]) {
  size_t n = strnlen(name, IPIF_NAMESZ);
  return n > 0 && n < IPIF_NAMESZ;
}

bool ValidHostAddress(uint32_t a) {
  return a != 0 && a != 0xffffffff && (a >> 28) != 0xe && (a >> 28) != 0xf && (a >> 24) != 127;
}

int Link(IpImpl* ip, mblk_t* mp) {
  if (miocpullup(mp, sizeof(linkblk)) != 0) return EINVAL;
  linkblk lb;
  std::memcpy(&lb, mp->b_cont->b_rptr, sizeof(lb));
  auto* lower = new Lower{lb.l_index, lb.l_qbot};
  lb.l_qbot->q_ptr = RD(lb.l_qbot)->q_ptr = lower;
  std::unique_lock<std::shared_mutex> l(ip->if_mu_);
  ip->lowers_[lb.l_index] = lower;
  return 0;
}

int Unlink(IpImpl* ip, mblk_t* mp) {
  if (miocpullup(mp, sizeof(linkblk)) != 0) return EINVAL;
  linkblk lb;
  std::memcpy(&lb, mp->b_cont->b_rptr, sizeof(lb));
  Lower* lower;
  InterfacePtr ifp;
  {
    std::unique_lock<std::shared_mutex> l(ip->if_mu_);
    auto it = ip->lowers_.find(lb.l_index);
    if (it == ip->lowers_.end()) return EINVAL;
    lower = it->second;
    ip->lowers_.erase(it);
    if (lower->ifindex != 0 && lower->ifindex <= ip->ifs_.size()) {
      ifp = ip->ifs_[lower->ifindex - 1];
    }
  }
  if (ifp != nullptr) {
    FinishPlumb(ip, ifp, ENXIO);  // a plumbing still in progress fails
    ip->RemoveInterface(ifp);
  }
  lower->wq->q_ptr = RD(lower->wq)->q_ptr = nullptr;
  delete lower;
  return 0;
}

// IPIOC_PLUMB: starts the DLPI conversation; the ioctl is answered when it ends. Returns -1 when
// the ioctl was kept.
int Plumb(IpImpl* ip, queue_t* q, mblk_t* mp) {
  ip_plumb p;
  if (!Arg(mp, &p) || !ValidName(p.ifname)) return EINVAL;
  InterfacePtr ifp = std::make_shared<Interface>();
  queue_t* lower_wq;
  {
    std::unique_lock<std::shared_mutex> l(ip->if_mu_);
    auto it = ip->lowers_.find(p.muxid);
    if (it == ip->lowers_.end()) return ENXIO;
    if (it->second->ifindex != 0) return EBUSY;
    for (const InterfacePtr& i : ip->ifs_) {
      if (i != nullptr && i->name == p.ifname) return EEXIST;
    }
    ifp->index = static_cast<uint32_t>(ip->ifs_.size() + 1);
    ifp->name = p.ifname;
    ifp->muxid = p.muxid;
    ifp->lower_wq = lower_wq = it->second->wq;
    ifp->ppa = p.ppa;
    ifp->plumb_ioctl = mp;
    ifp->plumb_wq = q;
    ifp->step = PlumbStep::kInfo;
    ip->ifs_.push_back(ifp);
    it->second->ifindex = ifp->index;
  }
  if (!SendDown(lower_wq, Prim<dl_info_req_t>(DL_INFO_REQ))) FinishPlumb(ip, ifp, ENOMEM);
  return -1;
}

int AddAddress(IpImpl* ip, mblk_t* mp, bool add) {
  ip_addrreq r;
  if (!Arg(mp, &r) || !ValidName(r.ifname)) return EINVAL;
  const uint32_t addr = ntohl(r.addr);
  InterfacePtr ifp = ip->FindInterface(std::string_view(r.ifname));
  if (ifp == nullptr) return ENXIO;
  if (!add) {
    bool had = false;
    bool subnet_kept = false;  // another address of the interface has the same subnet
    IfAddr gone{};
    {
      std::unique_lock<std::shared_mutex> l(ip->if_mu_);
      for (auto it = ifp->addrs.begin(); it != ifp->addrs.end(); ++it) {
        if (it->addr == addr) {
          gone = *it;
          ifp->addrs.erase(it);
          had = true;
          break;
        }
      }
      for (const IfAddr& x : ifp->addrs) {
        subnet_kept |= x.prefix_len == gone.prefix_len && x.net() == gone.net();
      }
    }
    if (!had) return EADDRNOTAVAIL;
    if (!subnet_kept) {
      (void)ip->routes_.FlushIf([&](const Route& rt) {
        return rt.interface_route && rt.ifindex == ifp->index && rt.dst == gone.net() &&
               rt.prefix_len == gone.prefix_len;
      });
      ip->RestoreInterfaceRoutes();  // another interface may have the subnet too
    }
    IpEvent e;
    {
      std::shared_lock<std::shared_mutex> l(ip->if_mu_);
      e = ip->EventOf(*ifp, IpEvent::kDelAddr);
    }
    e.addr = gone.addr;
    e.prefix_len = gone.prefix_len;
    e.broadcast = gone.broadcast();
    ip->Emit(e);
    return 0;
  }
  if (r.prefixlen < 0 || r.prefixlen > 32 || !ValidHostAddress(addr)) return EINVAL;
  IfAddr a{addr, static_cast<uint8_t>(r.prefixlen)};
  if (a.prefix_len < 31 && (addr == a.net() || addr == a.broadcast())) return EINVAL;
  if (ip->IsLocal(addr)) return EEXIST;
  bool up;
  IpEvent e;
  {
    std::unique_lock<std::shared_mutex> l(ip->if_mu_);
    if (ifp->addrs.size() >= 64) return ENOSPC;
    ifp->addrs.push_back(a);
    up = ifp->up && ifp->running;
    e = ip->EventOf(*ifp, IpEvent::kNewAddr);
  }
  e.addr = a.addr;
  e.prefix_len = a.prefix_len;
  e.broadcast = a.broadcast();
  ip->Emit(e);  // before the interface route's RTM_ADD, as BSD orders them
  if (up) {
    (void)ip->routes_.Add(InterfaceRoute(ifp->index, a));  // EEXIST: the subnet has one
    ip->AnnounceAddress(ifp, addr);
  }
  return 0;
}

int SetFlags(IpImpl* ip, mblk_t* mp) {
  ip_ifreq r;
  if (!Arg(mp, &r) || !ValidName(r.ifname)) return EINVAL;
  InterfacePtr ifp = ip->FindInterface(std::string_view(r.ifname));
  if (ifp == nullptr) return ENXIO;
  if (r.flags & ~static_cast<uint32_t>(IPIF_UP | IPIF_BROADCAST | IPIF_RUNNING)) return EINVAL;
  const bool want_up = (r.flags & IPIF_UP) != 0;
  std::vector<uint32_t> addrs;
  {
    std::unique_lock<std::shared_mutex> l(ip->if_mu_);
    if (!ifp->running) return ENXIO;  // still plumbing
    if (ifp->up == want_up) return 0;
    ifp->up = want_up;
    for (const IfAddr& a : ifp->addrs) addrs.push_back(a.addr);
  }
  {
    IpEvent e;
    {
      std::shared_lock<std::shared_mutex> l(ip->if_mu_);
      e = ip->EventOf(*ifp, IpEvent::kIfInfo);
    }
    ip->Emit(e);
  }
  ip->InterfaceRoutes(ifp, want_up);
  if (want_up) {
    for (uint32_t a : addrs) ip->AnnounceAddress(ifp, a);
  } else {
    ip->FlushArp(ifp);
  }
  return 0;
}

int GetIf(IpImpl* ip, queue_t* q, mblk_t* mp) {
  ip_ifreq r;
  if (!Arg(mp, &r)) return EINVAL;
  InterfacePtr ifp;
  if (r.ifname[0] == '\0') {
    ifp = ip->FindInterface(r.ifindex);
  } else if (ValidName(r.ifname)) {
    ifp = ip->FindInterface(std::string_view(r.ifname));
  } else {
    return EINVAL;
  }
  if (ifp == nullptr) return ENXIO;
  {
    std::shared_lock<std::shared_mutex> l(ip->if_mu_);
    std::memset(&r, 0, sizeof(r));
    std::strncpy(r.ifname, ifp->name.c_str(), IPIF_NAMESZ - 1);
    r.ifindex = ifp->index;
    r.flags = IPIF_BROADCAST | (ifp->up ? IPIF_UP : 0) | (ifp->running ? IPIF_RUNNING : 0);
    r.mtu = ifp->mtu;
    std::memcpy(r.mac, ifp->mac.data(), 6);
    r.naddrs = static_cast<uint16_t>(ifp->addrs.size());
    for (size_t i = 0; i < ifp->addrs.size() && i < 8; i++) {
      r.addrs[i] = htonl(ifp->addrs[i].addr);
      r.prefixlens[i] = ifp->addrs[i].prefix_len;
    }
  }
  Reply(q, mp, r);
  return -1;
}

int SetMtu(IpImpl* ip, mblk_t* mp) {
  ip_ifreq r;
  if (!Arg(mp, &r) || !ValidName(r.ifname)) return EINVAL;
  InterfacePtr ifp = ip->FindInterface(std::string_view(r.ifname));
  if (ifp == nullptr) return ENXIO;
  std::unique_lock<std::shared_mutex> l(ip->if_mu_);
  if (r.mtu < 68 || r.mtu > ifp->link_mtu) return EINVAL;
  ifp->mtu = r.mtu;
  return 0;
}

int Arp(IpImpl* ip, queue_t* q, mblk_t* mp, int cmd) {
  ip_arpreq r;
  if (!Arg(mp, &r)) return EINVAL;
  if (strnlen(r.ifname, IPIF_NAMESZ) == IPIF_NAMESZ) return EINVAL;
  const uint32_t addr = ntohl(r.addr);
  std::vector<InterfacePtr> ifs;
  if (r.ifname[0] != '\0') {
    InterfacePtr i = ip->FindInterface(std::string_view(r.ifname));
    if (i == nullptr) return ENXIO;
    ifs.push_back(i);
  } else if (cmd == IPIOC_ARPSET) {
    return EINVAL;
  } else {
    std::shared_lock<std::shared_mutex> l(ip->if_mu_);
    for (const InterfacePtr& i : ip->ifs_) {
      if (i != nullptr) ifs.push_back(i);
    }
  }
  if (cmd == IPIOC_ARPSET) {
    if (!ValidHostAddress(addr) || (r.mac[0] & 1) != 0) return EINVAL;
    if (ip->IsLocal(addr)) return EEXIST;
    {
      std::shared_lock<std::shared_mutex> l(ip->if_mu_);
      if (!ifs[0]->OnLink(addr)) return ENETUNREACH;
    }
    std::deque<MsgPtr> ready;
    MacAddress mac;
    std::memcpy(mac.data(), r.mac, 6);
    {
      std::lock_guard<std::mutex> l(ip->arp_mu_);
      ArpEntry& e = ifs[0]->arp[addr];
      e.state = ArpState::kStatic;
      e.mac = mac;
      if (!e.pending.empty() && !e.flushing) {
        ready.swap(e.pending);
        e.pending_bytes = 0;
        e.flushing = true;
      }
    }
    if (!ready.empty()) ip->FlushPending(ifs[0], addr, mac, std::move(ready));
    return 0;
  }
  std::lock_guard<std::mutex> l(ip->arp_mu_);
  for (const InterfacePtr& i : ifs) {
    auto it = i->arp.find(addr);
    if (it == i->arp.end()) continue;
    if (cmd == IPIOC_ARPDEL) {
      i->arp.erase(it);  // waiting datagrams are freed with it
      return 0;
    }
    const ArpEntry& e = it->second;
    std::memcpy(r.mac, e.mac.data(), 6);
    r.flags = (e.state == ArpState::kStatic ? IPARP_STATIC : 0) |
              (e.state != ArpState::kIncomplete ? IPARP_COMPLETE : 0) |
              (e.state == ArpState::kStale ? IPARP_STALE : 0);
    std::strncpy(r.ifname, i->name.c_str(), IPIF_NAMESZ - 1);
    Reply(q, mp, r);
    return -1;
  }
  return ENXIO;
}

void Ioctl(queue_t* q, mblk_t* mp) {
  IpImpl* ip = ImplOf(q);
  auto* ioc = reinterpret_cast<iocblk*>(mp->b_rptr);
  int err = EINVAL;
  if (ip == nullptr) {
    miocnak(q, mp, 0, ENXIO);
    return;
  }
  switch (ioc->ioc_cmd) {
    case I_LINK:
    case I_PLINK:
      err = Link(ip, mp);
      break;
    case I_UNLINK:
    case I_PUNLINK:
      err = Unlink(ip, mp);
      break;
    case IPIOC_PLUMB:
      err = Plumb(ip, q, mp);
      break;
    case IPIOC_ADDADDR:
      err = AddAddress(ip, mp, true);
      break;
    case IPIOC_DELADDR:
      err = AddAddress(ip, mp, false);
      break;
    case IPIOC_SETFLAGS:
      err = SetFlags(ip, mp);
      break;
    case IPIOC_GETIF:
      err = GetIf(ip, q, mp);
      break;
    case IPIOC_SETMTU:
      err = SetMtu(ip, mp);
      break;
    case IPIOC_ARPSET:
    case IPIOC_ARPDEL:
    case IPIOC_ARPGET:
      err = Arp(ip, q, mp, ioc->ioc_cmd);
      break;
    case IPIOC_SETFORWARD: {
      int32_t v;
      if (!Arg(mp, &v) || (v != 0 && v != 1)) break;
      ip->forwarding_.store(v != 0);
      err = 0;
      break;
    }
    case IPIOC_GETFORWARD: {
      int32_t v;
      if (!Arg(mp, &v)) break;
      Reply(q, mp, static_cast<int32_t>(ip->forwarding_.load() ? 1 : 0));
      err = -1;
      break;
    }
    default:
      break;
  }
  if (err < 0) return;  // answered, or kept
  if (err == 0) {
    miocack(q, mp, 0, 0);
  } else {
    miocnak(q, mp, 0, err);
  }
}

// ---- the procedures ----

int UpperOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != CLONEOPEN) return ENXIO;
  if (ImplOf(q) == nullptr) return ENXIO;  // a domain without a stack
  qprocson(q);
  return 0;
}

int UpperClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  IpImpl* ip = ImplOf(q);
  if (ip == nullptr) return 0;
  // A plumbing this stream asked for goes on; its answer has nowhere to go.
  std::unique_lock<std::shared_mutex> l(ip->if_mu_);
  for (const InterfacePtr& i : ip->ifs_) {
    if (i != nullptr && i->plumb_wq == WR(q)) i->plumb_wq = nullptr;
  }
  return 0;
}

int UpperWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_IOCTL:
      Ioctl(q, mp);
      return 0;
    case M_FLUSH:
      FlushAsDriver(q, mp);
      return 0;
    default:
      freemsg(mp);  // upper ip streams carry no data
      return 0;
  }
}

int UpperRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

int LowerRput(queue_t* q, mblk_t* mp) {
  auto* lower = static_cast<Lower*>(q->q_ptr);
  IpImpl* ip = ImplOf(q);
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsMuxLower(q, mp);
    return 0;
  }
  InterfacePtr ifp;
  if (lower != nullptr && ip != nullptr && lower->ifindex != 0) {
    ifp = ip->FindInterface(lower->ifindex);
  }
  if (ifp == nullptr) {
    freemsg(mp);
    return 0;
  }
  bool running;
  {
    std::shared_lock<std::shared_mutex> l(ip->if_mu_);
    running = ifp->running;
  }
  if (running) {
    if (DB_TYPE(mp) == M_DATA) {
      ip->LinkInput(ifp, MsgPtr(mp));
    } else {
      freemsg(mp);  // DL_UDERROR_IND and the like: nothing to do
    }
    return 0;
  }
  if (DB_TYPE(mp) == M_DATA) {
    freemsg(mp);
    return 0;
  }
  // A frame the link took in while the plumbing conversation runs (once bound, before raw mode:
  // the wire's other end may be up already) comes as an indication: not an answer.
  if (DB_TYPE(mp) == M_PROTO && MBLKL(mp) >= static_cast<ptrdiff_t>(sizeof(t_uscalar_t))) {
    t_uscalar_t prim;
    std::memcpy(&prim, mp->b_rptr, sizeof(prim));
    if (prim == DL_UNITDATA_IND || prim == DL_UDERROR_IND || prim == DL_NOTIFY_IND) {
      freemsg(mp);
      return 0;
    }
  }
  PlumbAnswer(ip, ifp, WR(q), mp);
  return 0;
}

int LowerWput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

module_info info{0x4950, "ip", 0, INFPSZ, 1 << 16, 1 << 12};
qinit urinit{UpperRput, nullptr, UpperOpen, UpperClose, nullptr, &info, nullptr};
qinit uwinit{UpperWput, nullptr, nullptr, nullptr, nullptr, &info, nullptr};
qinit lrinit{LowerRput, nullptr, nullptr, nullptr, nullptr, &info, nullptr};
qinit lwinit{LowerWput, nullptr, nullptr, nullptr, nullptr, &info, nullptr};
streamtab tab{&urinit, &uwinit, &lrinit, &lwinit};

}  // namespace

void IpImpl::InterfaceRoutes(const InterfacePtr& ifp, bool add) {
  std::vector<IfAddr> addrs;
  {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    addrs = ifp->addrs;
  }
  if (!add) {
    routes_.FlushIf([&](const Route& r) { return r.interface_route && r.ifindex == ifp->index; });
    RestoreInterfaceRoutes();
    return;
  }
  for (const IfAddr& a : addrs) (void)routes_.Add(InterfaceRoute(ifp->index, a));
}

void IpImpl::RestoreInterfaceRoutes() {
  std::vector<Route> want;
  {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    for (const InterfacePtr& i : ifs_) {
      if (i == nullptr || !i->up || !i->running) continue;
      for (const IfAddr& a : i->addrs) want.push_back(InterfaceRoute(i->index, a));
    }
  }
  for (const Route& r : want) (void)routes_.Add(r);  // EEXIST: the subnet has its route
}

void IpImpl::RemoveInterface(const InterfacePtr& ifp) {
  routes_.FlushInterface(ifp->index);
  FlushArp(ifp);
  {
    std::lock_guard<std::mutex> l(arp_mu_);
    ifp->arp.clear();
  }
  {
    std::unique_lock<std::shared_mutex> l(if_mu_);
    if (ifp->index >= 1 && ifp->index <= ifs_.size() && ifs_[ifp->index - 1] == ifp) {
      ifs_[ifp->index - 1] = nullptr;
    }
    for (auto& [muxid, lower] : lowers_) {
      if (lower->ifindex == ifp->index) lower->ifindex = 0;
    }
    ifp->up = false;
    ifp->running = false;
    ifp->lower_wq = nullptr;
    ifp->addrs.clear();
  }
  RestoreInterfaceRoutes();
}

void IpImpl::Stop() {
  {
    std::scoped_lock l(arp_mu_, reasm_mu_);
    stopping_ = true;
  }
  std::unique_lock<std::shared_mutex> l(if_mu_);
  for (const InterfacePtr& i : ifs_) {
    if (i == nullptr) continue;
    i->running = false;
    i->lower_wq = nullptr;
  }
}

absl::Status RegisterIpDriver(Registry& registry) {
  return registry.RegisterDriver("ip", &tab, D_MP, /*clone=*/true);
}

}  // namespace ustreams::ip
