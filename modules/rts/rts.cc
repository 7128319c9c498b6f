#include "modules/rts/rts.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "modules/ip/errno_status.h"
#include "modules/ip/route.h"
#include "modules/rts/rtmsg.h"
#include "streams/queue.h"

namespace ustreams::rts {
namespace {

using ip::Route;

// The bytes an address of family af takes in a message; 0 for a family not carried.
size_t SockaddrSpace(sa_family_t af) {
  switch (af) {
    case AF_INET:
      return RT_ROUNDUP(sizeof(sockaddr_in));
    case AF_INET6:
      return RT_ROUNDUP(sizeof(sockaddr_in6));
    case AF_LINK:
      return RT_ROUNDUP(sizeof(sockaddr_dl));
    default:
      return 0;
  }
}

// The addresses of a request, by RTAX index.
struct Addrs {
  int found = 0;  // RTA_* bits present
  sa_family_t family[RTAX_MAX] = {};
  uint32_t in[RTAX_MAX] = {};  // AF_INET addresses, host order
  uint16_t link_index = 0;     // RTA_IFP's sdl_index (AF_LINK)
};

// Walks the addresses after the header. 0 or EINVAL (one does not fit, or has a family routing
// sockets do not carry).
int ParseAddrs(const uint8_t* p, size_t len, int bits, Addrs* out) {
  size_t off = sizeof(rt_msghdr);
  for (int i = 0; i < RTAX_MAX; i++) {
    if ((bits & (1 << i)) == 0) continue;
    sa_family_t af;
    if (len - off < sizeof(af)) return EINVAL;
    std::memcpy(&af, p + off, sizeof(af));
    const size_t space = SockaddrSpace(af);
    if (space == 0 || len - off < space) return EINVAL;
    out->found |= 1 << i;
    out->family[i] = af;
    if (af == AF_INET) {
      sockaddr_in sin;
      std::memcpy(&sin, p + off, sizeof(sin));
      out->in[i] = ntohl(sin.sin_addr.s_addr);
    } else if (af == AF_LINK && i == RTAX_IFP) {
      sockaddr_dl sdl;
      std::memcpy(&sdl, p + off, sizeof(sdl));
      out->link_index = sdl.sdl_index;
    }
    off += space;
  }
  return 0;
}

// The prefix length of a contiguous netmask, or -1.
int MaskLength(uint32_t mask) {
  int n = 0;
  while (n < 32 && (mask & (0x80000000u >> n)) != 0) n++;
  return ip::PrefixMask(n) == mask ? n : -1;
}

// Builds a message: a header of hdr_len bytes (filled by the caller through the returned
// pointer) followed by the given addresses in RTAX order.
class MsgBuilder {
 public:
  void Inet(int rtax, uint32_t addr) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(addr);
    Put(rtax, &sin, sizeof(sin), SockaddrSpace(AF_INET));
  }
  void Link(int rtax, const ip::InterfaceInfo& i) {
    sockaddr_dl sdl{};
    sdl.sdl_family = AF_LINK;
    sdl.sdl_index = static_cast<uint16_t>(i.index);
    sdl.sdl_type = 6;  // IFT_ETHER
    sdl.sdl_nlen = static_cast<uint8_t>(std::min<size_t>(i.name.size(), 32));
    sdl.sdl_alen = 6;
    std::memcpy(sdl.sdl_data, i.name.data(), sdl.sdl_nlen);
    std::memcpy(sdl.sdl_data + sdl.sdl_nlen, i.mac.data(), 6);
    Put(rtax, &sdl, sizeof(sdl), SockaddrSpace(AF_LINK));
  }
  int bits() const { return bits_; }
  // The message: hdr (hdr_len bytes, its length field set here) then the addresses.
  MsgPtr Finish(const void* hdr, size_t hdr_len) {
    const size_t total = hdr_len + used_;
    mblk_t* mp = allocb(total);
    if (mp == nullptr) return MsgPtr();
    std::memcpy(mp->b_wptr, hdr, hdr_len);
    const uint16_t len16 = static_cast<uint16_t>(total);
    std::memcpy(mp->b_wptr, &len16, sizeof(len16));  // every header starts with its length
    size_t off = hdr_len;
    for (int i = 0; i < RTAX_MAX; i++) {
      if ((bits_ & (1 << i)) == 0) continue;
      std::memcpy(mp->b_wptr + off, slot_[i].data(), slot_[i].size());
      off += slot_[i].size();
    }
    mp->b_wptr += total;
    return MsgPtr(mp);
  }

 private:
  void Put(int rtax, const void* sa, size_t n, size_t space) {
    std::string s(space, '\0');
    std::memcpy(s.data(), sa, n);
    used_ += space - slot_[rtax].size();
    slot_[rtax] = std::move(s);
    bits_ |= 1 << rtax;
  }
  int bits_ = 0;
  size_t used_ = 0;
  std::string slot_[RTAX_MAX];
};

// An rt_msghdr message about route r.
MsgPtr RouteMessage(ip::Ip& ip, uint8_t type, const Route& r, int flags, pid_t pid, int seq,
                    int err, bool with_ifp) {
  MsgBuilder b;
  b.Inet(RTAX_DST, r.dst);
  std::optional<ip::InterfaceInfo> ifi = ip.Interface(r.ifindex);
  uint32_t gw = r.gateway;
  if (gw == 0 && ifi && !ifi->addrs.empty()) gw = ifi->addrs.front().addr;  // on-link: our end
  b.Inet(RTAX_GATEWAY, gw);
  b.Inet(RTAX_NETMASK, ip::PrefixMask(r.prefix_len));
  if (with_ifp && ifi) {
    b.Link(RTAX_IFP, *ifi);
    if (!ifi->addrs.empty()) b.Inet(RTAX_IFA, ifi->addrs.front().addr);
  }
  rt_msghdr h{};
  h.rtm_version = RTM_VERSION;
  h.rtm_type = type;
  h.rtm_index = static_cast<uint16_t>(r.ifindex);
  h.rtm_flags = flags;
  h.rtm_addrs = b.bits();
  h.rtm_pid = pid;
  h.rtm_seq = seq;
  h.rtm_errno = err;
  if (r.mtu != 0) {
    h.rtm_inits = RTV_MTU;
    h.rtm_rmx.rmx_mtu = r.mtu;
  }
  return b.Finish(&h, sizeof(h));
}

// What a request asks for, checked (the errno of the first rule broken, as illumos orders them).
struct Decoded {
  rt_msghdr h;
  Addrs a;
  uint32_t dst = 0;
  int prefix_len = 32;
  uint32_t ifindex = 0;  // RTA_IFP's, 0 if absent
  bool prefix_error = false;  // a netmask with holes, or host bits set in the destination
};

int Decode(ip::Ip& ip, const uint8_t* p, size_t len, Decoded* d) {
  std::memcpy(&d->h, p, sizeof(d->h));
  const rt_msghdr& h = d->h;
  if (h.rtm_msglen != len) return EINVAL;
  if (h.rtm_version != RTM_VERSION) return EPROTONOSUPPORT;
  if (int e = ParseAddrs(p, len, h.rtm_addrs, &d->a); e != 0) return e;
  if ((d->a.found & RTA_DST) == 0) return EINVAL;
  if (d->a.family[RTAX_DST] != AF_INET) {
    switch (h.rtm_type) {
      case RTM_ADD:
      case RTM_DELETE:
        return ESRCH;
      case RTM_GET:
      case RTM_CHANGE:
        return EAFNOSUPPORT;
      default:
        return EOPNOTSUPP;
    }
  }
  for (int i : {RTAX_GATEWAY, RTAX_NETMASK, RTAX_IFA, RTAX_BRD, RTAX_SRC, RTAX_GENMASK,
                RTAX_AUTHOR}) {
    if ((d->a.found & (1 << i)) && d->a.family[i] != AF_INET) return EINVAL;
  }
  if ((d->a.found & RTA_IFP) != 0) {
    // An index names the interface; 0 (route get's empty RTA_IFP) only asks to be told it.
    if (d->a.family[RTAX_IFP] != AF_LINK) return EINVAL;
    if (d->a.link_index != 0 && !ip.Interface(d->a.link_index)) return EINVAL;
    d->ifindex = d->a.link_index;
  }
  d->dst = d->a.in[RTAX_DST];
  if ((d->a.found & RTA_NETMASK) != 0 && (h.rtm_flags & ip::RTF_HOST) == 0) {
    d->prefix_len = MaskLength(d->a.in[RTAX_NETMASK]);
  }
  // Checked after the type's own rules (RTA_GATEWAY, RTA_SRC), as illumos orders them.
  d->prefix_error = d->prefix_len < 0 || (d->dst & ~ip::PrefixMask(d->prefix_len)) != 0;
  return 0;
}

// The interface a gateway is reached by: the on-link route covering it. 0 if none.
uint32_t GatewayInterface(ip::Ip& ip, uint32_t gw) {
  std::optional<Route> via = ip.routes().Lookup(gw);
  return via && via->gateway == 0 && !(via->flags & (ip::RTF_REJECT | ip::RTF_BLACKHOLE))
             ? via->ifindex
             : 0;
}

// The interface that has addr as one of its addresses. 0 if none.
uint32_t AddressInterface(ip::Ip& ip, uint32_t addr) {
  for (const ip::InterfaceInfo& i : ip.Interfaces()) {
    for (const auto& a : i.addrs) {
      if (a.addr == addr) return i.index;
    }
  }
  return 0;
}

}  // namespace

RtsModule::RtsModule(ip::Ip& ip) : ip_(ip) {
  route_sub_ = ip_.routes().Subscribe([this](const ip::RouteChange& c) { OnRouteChange(c); });
  event_sub_ = ip_.SubscribeEvents([this](const ip::IpEvent& e) { OnIpEvent(e); });
  ip_.set_extension(ip::Ip::kRtsExtension, this);
}

RtsModule::~RtsModule() {
  ip_.set_extension(ip::Ip::kRtsExtension, nullptr);
  ip_.UnsubscribeEvents(event_sub_);
  ip_.routes().Unsubscribe(route_sub_);
}

RtsModule* RtsModule::Of(queue_t* q) {
  ip::Ip* ip = ip::Ip::Of(q);
  return ip != nullptr ? static_cast<RtsModule*>(ip->extension(ip::Ip::kRtsExtension)) : nullptr;
}

void RtsModule::Attach(RtsEndpoint* ep) {
  std::lock_guard<std::mutex> l(mu_);
  endpoints_.push_back(ep);
}

void RtsModule::Detach(RtsEndpoint* ep) {
  std::unique_lock<std::mutex> l(mu_);
  std::erase(endpoints_, ep);
  delivered_.wait(l, [ep] { return ep->deliveries_ == 0; });
}

RtsStats RtsModule::stats() const {
  return RtsStats{requests_.load(), request_errors_.load(), messages_out_.load(),
                  reader_drops_.load()};
}

void RtsModule::Broadcast(const mblk_t* msg, const RtsEndpoint* writer) {
  if (msg == nullptr) return;
  std::vector<RtsEndpoint*> targets;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (RtsEndpoint* ep : endpoints_) {
      if (ep == writer && !ep->use_loopback.load()) continue;
      ep->deliveries_++;
      targets.push_back(ep);
    }
  }
  for (RtsEndpoint* ep : targets) {
    mblk_t* copy = canputnext(ep->rq()) ? dupmsg(const_cast<mblk_t*>(msg)) : nullptr;
    if (copy == nullptr) {
      reader_drops_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    messages_out_.fetch_add(1, std::memory_order_relaxed);
    putnext(ep->rq(), copy);
  }
  std::lock_guard<std::mutex> l(mu_);
  for (RtsEndpoint* ep : targets) {
    if (--ep->deliveries_ == 0) delivered_.notify_all();
  }
}

int RtsModule::Request(RtsEndpoint* writer, MsgPtr msg) {
  requests_.fetch_add(1, std::memory_order_relaxed);
  const size_t len = msgdsize(msg.get());
  if (len < sizeof(rt_msghdr) || len > 65535) {
    request_errors_.fetch_add(1, std::memory_order_relaxed);
    return EINVAL;  // no header: nothing to echo (illumos)
  }
  if (msg->b_cont != nullptr || DB_REF(msg.get()) > 1) {
    mblk_t* flat = msgpullup(msg.get(), -1);
    if (flat == nullptr) {
      request_errors_.fetch_add(1, std::memory_order_relaxed);
      return ENOBUFS;
    }
    msg.reset(flat);
  }
  uint8_t* p = msg->b_rptr;
  Decoded d;
  int err = Decode(ip_, p, len, &d);
  const pid_t pid = getpid();
  const uint64_t origin = reinterpret_cast<uintptr_t>(this);
  MsgPtr reply;  // RTM_GET's
  if (err == 0) {
    const rt_msghdr& h = d.h;
    const bool has_gw = (d.a.found & RTA_GATEWAY) != 0;
    const uint32_t gw = d.a.in[RTAX_GATEWAY];
    switch (h.rtm_type) {
      case RTM_ADD: {
        if (!has_gw || d.prefix_error) {
          err = EINVAL;
          break;
        }
        if ((h.rtm_inits & RTV_MTU) && h.rtm_rmx.rmx_mtu < 68) {
          err = EINVAL;  // below IPv4's minimum MTU
          break;
        }
        Route r;
        r.dst = d.dst;
        r.prefix_len = static_cast<uint8_t>(d.prefix_len);
        r.flags = (static_cast<uint32_t>(h.rtm_flags) & ~uint32_t{ip::RTF_DONE}) | ip::RTF_UP |
                  (d.prefix_len == 32 ? uint32_t{ip::RTF_HOST} : 0u);
        // The gateway must be reachable (or, without RTF_GATEWAY, be one of our addresses)
        // whether or not RTA_IFP names the interface.
        const uint32_t via = (h.rtm_flags & ip::RTF_GATEWAY) ? GatewayInterface(ip_, gw)
                                                             : AddressInterface(ip_, gw);
        if (h.rtm_flags & ip::RTF_GATEWAY) r.gateway = gw;
        r.ifindex = via == 0 ? 0 : d.ifindex != 0 ? d.ifindex : via;
        if (r.ifindex == 0) {
          err = ENETUNREACH;
          break;
        }
        if (h.rtm_inits & RTV_MTU) r.mtu = h.rtm_rmx.rmx_mtu;
        err = ip::StatusErrno(ip_.routes().Add(r, origin));
        break;
      }
      case RTM_DELETE:
        if (!has_gw || d.prefix_error) {
          err = EINVAL;
          break;
        }
        if (absl::StatusOr<Route> r = ip_.routes().Get(d.dst, d.prefix_len); !r.ok()) {
          err = ESRCH;
        } else if (r->gateway != 0 && r->gateway != gw) {
          err = ESRCH;  // not the route through that gateway
        } else {
          err = ip::StatusErrno(ip_.routes().Delete(d.dst, d.prefix_len, std::nullopt, origin));
        }
        break;
      case RTM_GET:
      case RTM_CHANGE: {
        if (d.a.found & RTA_SRC) {
          err = EOPNOTSUPP;
          break;
        }
        if (d.prefix_error || ((h.rtm_inits & RTV_MTU) && h.rtm_type == RTM_CHANGE &&
                               h.rtm_rmx.rmx_mtu < 68)) {
          err = EINVAL;
          break;
        }
        std::optional<Route> found;
        if ((d.a.found & RTA_NETMASK) != 0 || (h.rtm_flags & ip::RTF_HOST) != 0 ||
            h.rtm_type == RTM_CHANGE) {
          absl::StatusOr<Route> r = ip_.routes().Get(d.dst, d.prefix_len);
          if (r.ok()) found = *r;
        } else {
          found = ip_.routes().Lookup(d.dst);  // the route that carries traffic to dst
        }
        if (found && h.rtm_type == RTM_GET && has_gw && found->gateway != gw) found.reset();
        if (!found) {
          err = ESRCH;
          break;
        }
        if (h.rtm_type == RTM_GET) {
          const int flags = static_cast<int>(found->flags) | ip::RTF_DONE;
          reply = RouteMessage(ip_, RTM_GET, *found, flags, pid, h.rtm_seq, 0,
                               (h.rtm_addrs & (RTA_IFP | RTA_IFA)) != 0);
          if (!reply) err = ENOBUFS;
          break;
        }
        Route r = *found;
        if (has_gw) {
          const uint32_t via = GatewayInterface(ip_, gw);
          const uint32_t ifindex = via == 0 ? 0 : d.ifindex != 0 ? d.ifindex : via;
          if (ifindex == 0) {
            err = ENETUNREACH;
            break;
          }
          r.gateway = gw;
          r.ifindex = ifindex;
          r.flags |= ip::RTF_GATEWAY;
        }
        if (h.rtm_inits & RTV_MTU) r.mtu = h.rtm_rmx.rmx_mtu;
        err = ip::StatusErrno(ip_.routes().Change(r, origin));
        break;
      }
      default:
        err = EOPNOTSUPP;
        break;
    }
  }
  if (err != 0) request_errors_.fetch_add(1, std::memory_order_relaxed);
  // The echo: the request as written (or RTM_GET's reply), with the writer's pid and the outcome.
  if (reply) {
    Broadcast(reply.get(), writer);
  } else {
    rt_msghdr h;
    std::memcpy(&h, p, sizeof(h));
    h.rtm_pid = pid;
    if (err != 0) {
      h.rtm_errno = err;
    } else {
      h.rtm_flags |= ip::RTF_DONE;
    }
    std::memcpy(p, &h, sizeof(h));
    Broadcast(msg.get(), writer);
  }
  return err;
}

void RtsModule::OnRouteChange(const ip::RouteChange& c) {
  if (c.origin == reinterpret_cast<uintptr_t>(this)) return;  // echoed with its request
  const uint8_t type = c.type == ip::kRouteAdd      ? RTM_ADD
                       : c.type == ip::kRouteDelete ? RTM_DELETE
                                                    : RTM_CHANGE;
  MsgPtr m = RouteMessage(ip_, type, c.route, static_cast<int>(c.route.flags) | ip::RTF_DONE, 0,
                          0, 0, false);
  if (!m) {
    reader_drops_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Broadcast(m.get(), nullptr);
}

void RtsModule::OnIpEvent(const ip::IpEvent& e) {
  ip::InterfaceInfo ifi;
  ifi.index = e.ifindex;
  ifi.name = e.ifname;
  ifi.mac = e.mac;
  MsgBuilder b;
  MsgPtr m;
  switch (e.kind) {
    case ip::IpEvent::kNewAddr:
    case ip::IpEvent::kDelAddr: {
      b.Inet(RTAX_NETMASK, ip::PrefixMask(e.prefix_len));
      b.Link(RTAX_IFP, ifi);
      b.Inet(RTAX_IFA, e.addr);
      if (e.broadcast != 0) b.Inet(RTAX_BRD, e.broadcast);
      ifa_msghdr h{};
      h.ifam_version = RTM_VERSION;
      h.ifam_type = e.kind == ip::IpEvent::kNewAddr ? RTM_NEWADDR : RTM_DELADDR;
      h.ifam_addrs = b.bits();
      h.ifam_flags = (e.up ? 0x1 : 0) | (e.running ? 0x40 : 0);
      h.ifam_index = static_cast<uint16_t>(e.ifindex);
      m = b.Finish(&h, sizeof(h));
      break;
    }
    case ip::IpEvent::kIfInfo: {
      b.Link(RTAX_IFP, ifi);
      if_msghdr h{};
      h.ifm_version = RTM_VERSION;
      h.ifm_type = RTM_IFINFO;
      h.ifm_addrs = b.bits();
      h.ifm_flags = (e.up ? 0x1 : 0) | 0x2 | (e.running ? 0x40 : 0);  // UP, BROADCAST, RUNNING
      h.ifm_index = static_cast<uint16_t>(e.ifindex);
      h.ifm_data.ifi_type = 6;
      h.ifm_data.ifi_addrlen = 6;
      h.ifm_data.ifi_hdrlen = 14;
      h.ifm_data.ifi_mtu = e.mtu;
      m = b.Finish(&h, sizeof(h));
      break;
    }
    case ip::IpEvent::kMiss: {
      b.Inet(RTAX_DST, e.addr);
      rt_msghdr h{};
      h.rtm_version = RTM_VERSION;
      h.rtm_type = RTM_MISS;
      h.rtm_addrs = b.bits();
      h.rtm_errno = ENETUNREACH;
      m = b.Finish(&h, sizeof(h));
      break;
    }
  }
  if (!m) {
    reader_drops_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Broadcast(m.get(), nullptr);
}

}  // namespace ustreams::rts
