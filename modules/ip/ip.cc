// IP output: Send (a transport's datagram), OutputOn (any whole datagram: sent or forwarded),
// fragmentation, the link header, loopback delivery, source and path MTU selection.
//
// Choices where the RFCs leave room (Linux's where it has one):
//  - The weak host model (RFC 1122 §3.3.4.2): any of the stack's addresses is local whatever
//    interface a datagram arrives on, and a datagram to one of them never leaves the stack.
//  - 127.0.0.0/8 is always local (there is no loopback interface to configure); a datagram from a
//    link with a 127/8 source or destination is a martian.
//  - A broadcast (255.255.255.255, or a directed broadcast of an attached subnet) needs
//    SO_BROADCAST (EACCES) and is also delivered to the stack itself, as BSD does.
//  - 255.255.255.255 leaves by the route for it if there is one, else by the first interface that
//    is up and has an address.
//  - IP ids: one counter per stack (RFC 6864 lets atomic datagrams carry any id).
//  - Fragments copy the options whose copied flag is set (RFC 791) and share the payload's data
//    blocks (dupb): fragmenting copies only headers.
#include "modules/ip/ip.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "modules/ip/checksum.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/ip_impl.h"
#include "streams/domain.h"
#include "streams/stream.h"

namespace ustreams::ip {

namespace {

constexpr uint32_t kLimitedBroadcast = 0xffffffff;

bool IsLoopbackNet(uint32_t a) { return (a >> 24) == 127; }
bool IsMulticast(uint32_t a) { return (a >> 28) == 0xe; }

// A block with room in front for the link header, holding n bytes at b_rptr (uninitialised).
mblk_t* HeaderBlock(size_t n) {
  mblk_t* mp = allocb(16 + n);
  if (mp == nullptr) return nullptr;
  mp->b_rptr += 16;
  mp->b_wptr = mp->b_rptr + n;
  return mp;
}

// Puts an IP header for h in front of payload; h.total_length is set here.
MsgPtr PrependIp(Ipv4Header h, MsgPtr payload) {
  const size_t len = msgsize(payload.get());
  h.total_length = static_cast<uint16_t>(kIpv4MinHeaderLength + len);
  uint8_t* p = PrependHeader(payload.get(), kIpv4MinHeaderLength);
  if (p != nullptr) {
    WriteIpv4(h, std::span<uint8_t>(p, kIpv4MinHeaderLength));
    return payload;
  }
  mblk_t* hdr = HeaderBlock(kIpv4MinHeaderLength);
  if (hdr == nullptr) return MsgPtr();
  WriteIpv4(h, std::span<uint8_t>(hdr->b_rptr, kIpv4MinHeaderLength));
  hdr->b_cont = payload.release();
  return MsgPtr(hdr);
}

// The options of a first fragment's header that later fragments carry (copied flag set).
size_t CopiedOptions(const uint8_t* opts, size_t len, uint8_t* out) {
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    uint8_t type = opts[i];
    if (type == kIpOptEol) break;
    if (type == kIpOptNop) {
      i++;
      continue;
    }
    if (i + 1 >= len) break;
    size_t olen = opts[i + 1];
    if (olen < 2 || i + olen > len) break;
    if (type & 0x80) {
      std::memcpy(out + n, opts + i, olen);
      n += olen;
    }
    i += olen;
  }
  while (n % 4 != 0) out[n++] = kIpOptEol;
  return n;
}

}  // namespace

mblk_t* DupRange(const mblk_t* mp, size_t off, size_t len) {
  mblk_t* head = nullptr;
  mblk_t** tail = &head;
  for (; mp != nullptr && len > 0; mp = mp->b_cont) {
    size_t n = MBLKL(mp);
    if (off >= n) {
      off -= n;
      continue;
    }
    size_t take = std::min(n - off, len);
    mblk_t* d = dupb(const_cast<mblk_t*>(mp));
    if (d == nullptr) {
      freemsg(head);
      return nullptr;
    }
    d->b_rptr += off;
    d->b_wptr = d->b_rptr + take;
    *tail = d;
    tail = &d->b_cont;
    len -= take;
    off = 0;
  }
  return head;
}

// ---- Ip: the transports' face ----

Ip::Ip(Domain& d, const IpConfig& config) : impl_(std::make_unique<IpImpl>(this, d, config)) {}
Ip::~Ip() = default;

Ip* Ip::Of(Domain& d) { return static_cast<Ip*>(d.context()); }
Ip* Ip::Of(queue_t* q) {
  if (q == nullptr || q->q_stream == nullptr || q->q_stream->domain() == nullptr) return nullptr;
  return Of(*q->q_stream->domain());
}

int Ip::Send(const SendArgs& args, MsgPtr payload) { return impl_->Send(args, std::move(payload)); }
absl::StatusOr<uint32_t> Ip::SourceFor(uint32_t dst) const { return impl_->SourceFor(dst); }
bool Ip::IsLocalAddress(uint32_t addr) const { return impl_->IsLocal(addr); }
uint32_t Ip::PathMtu(uint32_t dst) const {
  std::optional<Route> r = impl_->routes_.Lookup(dst);
  if (!r) return 0;
  InterfacePtr ifp = impl_->FindInterface(r->ifindex);
  if (ifp == nullptr) return 0;
  std::shared_lock<std::shared_mutex> l(impl_->if_mu_);
  return impl_->PathMtu(dst, r->mtu, ifp->mtu);
}
void Ip::SendUnreachable(MsgPtr offending, uint8_t code) {
  if (!offending) return;
  Parsed<Ipv4Header> h = ParseIpv4(PacketView::OfChain(offending.get()), false);
  uint32_t hint = h.ok() && impl_->IsLocal(h->dst) ? h->dst : 0;
  impl_->SendIcmpError(offending, kIcmpUnreachable, code, 0, hint);
}
void Ip::RegisterTransport(uint8_t protocol, Transport* t) {
  impl_->transports_[protocol].store(t, std::memory_order_release);
}
Transport* Ip::transport(uint8_t protocol) const {
  return impl_->transports_[protocol].load(std::memory_order_acquire);
}
Classifier& Ip::classifier() { return impl_->classifier_; }
uint8_t Ip::default_ttl() const { return impl_->config_.default_ttl; }
RouteTable& Ip::routes() { return impl_->routes_; }
Scheduler& Ip::scheduler() const { return impl_->sched_; }
Domain& Ip::domain() const { return impl_->domain_; }
const IpStats& Ip::stats() const { return impl_->stats_; }

uint64_t Ip::SubscribeEvents(EventFn fn) {
  std::lock_guard<std::mutex> l(impl_->ev_mu_);
  const uint64_t id = impl_->ev_next_++;
  impl_->ev_subs_.emplace_back(id, std::move(fn));
  impl_->ev_any_.store(true);
  return id;
}

void Ip::UnsubscribeEvents(uint64_t id) {
  std::lock_guard<std::mutex> l(impl_->ev_mu_);
  std::erase_if(impl_->ev_subs_, [id](const auto& s) { return s.first == id; });
  impl_->ev_any_.store(!impl_->ev_subs_.empty());
}

namespace {
InterfaceInfo InfoOf(const Interface& i) {
  InterfaceInfo r;
  r.index = i.index;
  r.name = i.name;
  r.mac = i.mac;
  r.up = i.up;
  r.running = i.running;
  r.mtu = i.mtu;
  for (const IfAddr& a : i.addrs) r.addrs.push_back({a.addr, a.prefix_len, a.broadcast()});
  return r;
}
}  // namespace

std::vector<InterfaceInfo> Ip::Interfaces() const {
  std::vector<InterfaceInfo> out;
  std::shared_lock<std::shared_mutex> l(impl_->if_mu_);
  for (const InterfacePtr& i : impl_->ifs_) {
    if (i != nullptr) out.push_back(InfoOf(*i));
  }
  return out;
}

std::optional<InterfaceInfo> Ip::Interface(uint32_t index) const {
  InterfacePtr i = impl_->FindInterface(index);
  if (i == nullptr) return std::nullopt;
  std::shared_lock<std::shared_mutex> l(impl_->if_mu_);
  return InfoOf(*i);
}

std::vector<ArpInfo> Ip::ArpEntries() const {
  std::vector<InterfacePtr> ifs;
  {
    std::shared_lock<std::shared_mutex> l(impl_->if_mu_);
    for (const InterfacePtr& i : impl_->ifs_) {
      if (i != nullptr) ifs.push_back(i);
    }
  }
  std::vector<ArpInfo> out;
  std::lock_guard<std::mutex> l(impl_->arp_mu_);
  for (const InterfacePtr& i : ifs) {
    for (const auto& [addr, e] : i->arp) {
      ArpInfo a;
      a.ifindex = i->index;
      a.addr = addr;
      a.mac = e.mac;
      a.state = static_cast<ArpInfo::State>(e.state);
      a.waiting = e.pending.size();
      out.push_back(a);
    }
  }
  std::sort(out.begin(), out.end(), [](const ArpInfo& x, const ArpInfo& y) {
    return x.ifindex != y.ifindex ? x.ifindex < y.ifindex : x.addr < y.addr;
  });
  return out;
}

void Ip::set_extension(Extension e, void* p) { impl_->extensions_[e].store(p); }
void* Ip::extension(Extension e) const { return impl_->extensions_[e].load(); }

void IpImpl::Emit(const IpEvent& e) {
  if (!ev_any_.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> l(ev_mu_);
  for (const auto& [id, fn] : ev_subs_) fn(e);
}

IpEvent IpImpl::EventOf(const Interface& ifp, IpEvent::Kind kind) const {
  IpEvent e;
  e.kind = kind;
  e.ifindex = ifp.index;
  e.ifname = ifp.name;
  e.mac = ifp.mac;
  e.up = ifp.up;
  e.running = ifp.running;
  e.mtu = ifp.mtu;
  return e;
}
Ip::ReassemblyLoad Ip::reassembly_load() const {
  std::lock_guard<std::mutex> l(impl_->reasm_mu_);
  return {impl_->reasm_.datagrams(), impl_->reasm_.bytes_held()};
}

// ---- IpImpl ----

IpImpl::IpImpl(Ip* owner, Domain& d, const IpConfig& config)
    : owner_(owner),
      domain_(d),
      sched_(d.scheduler()),
      config_(config),
      // A datagram cut for one link and cut again by a router for a smaller one has more
      // fragments than either link alone gives: 65535 bytes over 1500 then 576 make 133.
      reasm_(ReassemblyConfig{.timeout = config.reassembly_timeout,
                              .max_bytes = config.reassembly_max_bytes,
                              .max_fragments = 256}),
      icmp_tokens_(config.icmp_burst),
      icmp_refill_(d.scheduler().Now()) {
  forwarding_.store(config.forwarding);
  next_id_.store(static_cast<uint16_t>(reinterpret_cast<uintptr_t>(this) >> 4));
}

IpImpl::~IpImpl() {
  for (auto& [muxid, lower] : lowers_) delete lower;
}

InterfacePtr IpImpl::FindInterface(uint32_t index) const {
  std::shared_lock<std::shared_mutex> l(if_mu_);
  if (index == 0 || index > ifs_.size()) return nullptr;
  return ifs_[index - 1];
}

InterfacePtr IpImpl::FindInterface(std::string_view name) const {
  std::shared_lock<std::shared_mutex> l(if_mu_);
  for (const InterfacePtr& i : ifs_) {
    if (i != nullptr && i->name == name) return i;
  }
  return nullptr;
}

InterfacePtr IpImpl::OwnerOf(uint32_t addr) const {
  std::shared_lock<std::shared_mutex> l(if_mu_);
  for (const InterfacePtr& i : ifs_) {
    if (i != nullptr && i->HasAddress(addr)) return i;
  }
  return nullptr;
}

bool IpImpl::IsLocal(uint32_t addr) const {
  if (IsLoopbackNet(addr)) return true;
  return OwnerOf(addr) != nullptr;
}

bool IpImpl::IsBroadcast(uint32_t addr) const {
  if (addr == kLimitedBroadcast) return true;
  std::shared_lock<std::shared_mutex> l(if_mu_);
  for (const InterfacePtr& i : ifs_) {
    if (i != nullptr && i->IsBroadcastAddress(addr)) return true;
  }
  return false;
}

uint32_t IpImpl::PathMtu(uint32_t dst, uint32_t route_mtu, uint32_t if_mtu) const {
  uint32_t mtu = route_mtu != 0 ? std::min(route_mtu, if_mtu) : if_mtu;
  std::lock_guard<std::mutex> l(misc_mu_);
  auto it = pmtu_.find(dst);
  if (it != pmtu_.end() && it->second.expires > sched_.Now()) mtu = std::min(mtu, it->second.mtu);
  return mtu;
}

absl::StatusOr<uint32_t> IpImpl::SourceFor(uint32_t dst) const {
  if (IsLocal(dst)) return dst;
  if (dst == kLimitedBroadcast) {
    // As Send chooses: the route for it, else the first interface up with an address.
    if (std::optional<Route> r = routes_.Lookup(dst); r && r->prefix_len == 32) {
      if (InterfacePtr ifp = FindInterface(r->ifindex)) {
        std::shared_lock<std::shared_mutex> l(if_mu_);
        if (!ifp->addrs.empty()) return ifp->addrs.front().addr;
      }
    }
    std::shared_lock<std::shared_mutex> l(if_mu_);
    for (const InterfacePtr& i : ifs_) {
      if (i != nullptr && i->up && i->running && !i->addrs.empty()) return i->addrs.front().addr;
    }
    return ErrnoError(ENETUNREACH, "no interface to broadcast on");
  }
  std::optional<Route> r = routes_.Lookup(dst);
  if (!r) return ErrnoError(ENETUNREACH, "no route to the destination");
  InterfacePtr ifp = FindInterface(r->ifindex);
  if (ifp == nullptr) return ErrnoError(ENETUNREACH, "the route's interface is gone");
  std::shared_lock<std::shared_mutex> l(if_mu_);
  uint32_t src = r->src != 0 ? r->src : ifp->SourceFor(r->gateway != 0 ? r->gateway : dst);
  if (src == 0) return ErrnoError(ENETUNREACH, "the interface has no address");
  return src;
}

int IpImpl::Send(const SendArgs& args, MsgPtr payload) {
  Bump(stats_.out_requests);
  if (!payload || args.protocol == 0) {
    Bump(stats_.out_discards);
    return EINVAL;
  }
  const size_t len = msgsize(payload.get());
  if (len + kIpv4MinHeaderLength > kIpv4MaxDatagram) {
    Bump(stats_.out_discards);
    return EMSGSIZE;
  }
  if (args.src != 0 && !IsLocal(args.src)) {
    Bump(stats_.out_discards);
    return EADDRNOTAVAIL;
  }
  Ipv4Header h;
  h.tos = args.tos;
  h.ttl = args.ttl;
  h.protocol = args.protocol;
  h.df = args.df;
  h.id = next_id_.fetch_add(1, std::memory_order_relaxed);
  h.dst = args.dst;

  // To ourselves.
  if (IsLocal(args.dst)) {
    h.src = args.src != 0 ? args.src : args.dst;
    MsgPtr d = PrependIp(h, std::move(payload));
    if (!d) return ENOBUFS;
    LoopBack(std::move(d));
    return 0;
  }
  if (IsMulticast(args.dst)) {
    Bump(stats_.out_no_routes);
    return ENETUNREACH;  // no multicast routing (yet)
  }

  InterfacePtr ifp;
  uint32_t next_hop = args.dst;
  uint32_t route_mtu = 0;
  uint32_t route_src = 0;
  bool link_broadcast = false;
  if (args.dst == kLimitedBroadcast) {
    if (!args.broadcast) return EACCES;
    link_broadcast = true;
    if (std::optional<Route> r = routes_.Lookup(args.dst); r && r->prefix_len == 32) {
      ifp = FindInterface(r->ifindex);
    } else {
      std::shared_lock<std::shared_mutex> l(if_mu_);
      for (const InterfacePtr& i : ifs_) {
        if (i != nullptr && i->up && i->running && !i->addrs.empty()) {
          ifp = i;
          break;
        }
      }
    }
  } else if (args.dontroute) {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    for (const InterfacePtr& i : ifs_) {
      if (i != nullptr && i->up && i->OnLink(args.dst)) {
        ifp = i;
        break;
      }
    }
  } else {
    std::optional<Route> r = routes_.Lookup(args.dst);
    if (!r) {
      Bump(stats_.out_no_routes);
      Emit(MissEvent(args.dst));
      return ENETUNREACH;
    }
    if (r->flags & RTF_BLACKHOLE) {
      stats_.Drop(IpDrop::kBlackhole);
      return 0;
    }
    if (r->flags & RTF_REJECT) {
      Bump(stats_.out_no_routes);
      return EHOSTUNREACH;
    }
    ifp = FindInterface(r->ifindex);
    if (r->gateway != 0) next_hop = r->gateway;
    route_mtu = r->mtu;
    route_src = r->src;
  }
  if (ifp == nullptr) {
    Bump(stats_.out_no_routes);
    return ENETUNREACH;
  }
  uint32_t mtu;
  {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    if (!ifp->up || !ifp->running) {
      stats_.Drop(IpDrop::kInterfaceDown);
      return ENETUNREACH;
    }
    if (ifp->IsBroadcastAddress(args.dst)) {
      if (!args.broadcast) return EACCES;
      link_broadcast = true;
    }
    h.src = args.src != 0 ? args.src : route_src != 0 ? route_src : ifp->SourceFor(next_hop);
    mtu = ifp->mtu;
  }
  if (h.src == 0) {
    Bump(stats_.out_discards);
    return ENETUNREACH;
  }
  mtu = PathMtu(args.dst, route_mtu, mtu);
  if (args.df && len + kIpv4MinHeaderLength > mtu) {
    Bump(stats_.out_discards);
    return EMSGSIZE;
  }
  MsgPtr d = PrependIp(h, std::move(payload));
  if (!d) return ENOBUFS;
  if (link_broadcast) {
    if (mblk_t* copy = copymsg(d.get())) LoopBack(MsgPtr(copy));
  }
  return OutputOn(ifp, next_hop, link_broadcast, mtu, std::move(d), false);
}


int IpImpl::OutputOn(const InterfacePtr& ifp, uint32_t next_hop, bool link_broadcast,
                     uint32_t mtu, MsgPtr dgram, bool forwarding) {
  const size_t total = msgsize(dgram.get());
  {
    // The link's transmit queue is full: drop the datagram, as a full NIC ring or qdisc would.
    // Checked once per datagram, so its fragments go together (the queue may pass its high
    // water mark by one datagram).
    std::shared_lock<std::shared_mutex> l(if_mu_);
    if (ifp->lower_wq != nullptr && !canputnext(ifp->lower_wq)) {
      stats_.Drop(IpDrop::kLinkFull);
      return ENOBUFS;
    }
  }
  std::vector<MsgPtr> out;
  if (total <= mtu) {
    out.push_back(std::move(dgram));
  } else {
    // Fragment (RFC 791 §3.2): the header of the original, then 8-byte-aligned slices.
    uint8_t hdr[kIpv4MaxHeaderLength];
    PacketView view = PacketView::OfChain(dgram.get());
    const size_t hl = static_cast<size_t>(view.U8(0) & 0x0f) * 4;
    if (hl < kIpv4MinHeaderLength || !view.Copy(0, hl, hdr)) return EINVAL;
    const uint16_t frag_word = static_cast<uint16_t>((hdr[6] << 8) | hdr[7]);
    if ((frag_word & 0x4000) || mtu < hl + 8) {
      Bump(stats_.frag_fails);
      if (forwarding) {
        SendIcmpError(dgram, kIcmpUnreachable, kIcmpFragmentationNeeded,
                      static_cast<uint16_t>(mtu), 0);
        stats_.Drop(IpDrop::kNeedFrag);
      }
      return EMSGSIZE;
    }
    uint8_t later_opts[kIpv4MaxHeaderLength];
    const size_t later_optlen = CopiedOptions(hdr + 20, hl - 20, later_opts);
    const size_t base_off = static_cast<size_t>(frag_word & 0x1fff) * 8;
    const bool base_mf = (frag_word & 0x2000) != 0;
    const size_t payload = total - hl;
    for (size_t off = 0; off < payload;) {
      const size_t fhl = off == 0 ? hl : 20 + later_optlen;
      size_t n = std::min(payload - off, (mtu - fhl) & ~size_t{7});
      const bool last = off + n == payload;
      mblk_t* fh = HeaderBlock(fhl);
      mblk_t* body = fh != nullptr ? DupRange(dgram.get(), hl + off, n) : nullptr;
      if (body == nullptr) {
        freeb(fh);
        Bump(stats_.frag_fails);
        stats_.Drop(IpDrop::kNoBuffer);
        return ENOBUFS;
      }
      uint8_t* p = fh->b_rptr;
      std::memcpy(p, hdr, 20);
      if (off == 0) {
        std::memcpy(p + 20, hdr + 20, hl - 20);
      } else {
        std::memcpy(p + 20, later_opts, later_optlen);
      }
      p[0] = static_cast<uint8_t>(0x40 | (fhl / 4));
      const uint16_t tl = static_cast<uint16_t>(fhl + n);
      p[2] = static_cast<uint8_t>(tl >> 8);
      p[3] = static_cast<uint8_t>(tl);
      const uint16_t fw = static_cast<uint16_t>(((base_off + off) / 8) |
                                                ((!last || base_mf) ? 0x2000 : 0));
      p[6] = static_cast<uint8_t>(fw >> 8);
      p[7] = static_cast<uint8_t>(fw);
      p[10] = p[11] = 0;
      const uint16_t sum = InternetChecksum(p, fhl);
      p[10] = static_cast<uint8_t>(sum >> 8);
      p[11] = static_cast<uint8_t>(sum);
      fh->b_cont = body;
      out.emplace_back(fh);
      off += n;
    }
    Bump(stats_.frag_oks);
    Bump(stats_.frag_creates, out.size());
  }
  for (MsgPtr& m : out) {
    if (link_broadcast) {
      Transmit(ifp, kBroadcastMac, kEtherTypeIpv4, std::move(m));
    } else {
      Resolve(ifp, next_hop, std::move(m));
    }
  }
  return 0;
}

void IpImpl::Transmit(const InterfacePtr& ifp, const MacAddress& dst, uint16_t type,
                      MsgPtr packet) {
  EthernetHeader eh;
  eh.dst = dst;
  eh.type = type;
  std::shared_lock<std::shared_mutex> l(if_mu_);  // keeps lower_wq linked across the putnext
  if (ifp->lower_wq == nullptr || !ifp->running) {
    stats_.Drop(IpDrop::kNotBound);
    return;
  }
  eh.src = ifp->mac;
  mblk_t* mp = packet.release();
  uint8_t* p = PrependHeader(mp, kEthernetHeaderLength);
  if (p == nullptr) {
    mblk_t* h = allocb(kEthernetHeaderLength);
    if (h == nullptr) {
      freemsg(mp);
      stats_.Drop(IpDrop::kNoBuffer);
      return;
    }
    h->b_wptr += kEthernetHeaderLength;
    h->b_cont = mp;
    mp = h;
    p = h->b_rptr;
  }
  WriteEthernet(eh, std::span<uint8_t>(p, kEthernetHeaderLength));
  Bump(stats_.out_transmits);
  putnext(ifp->lower_wq, mp);
}

void IpImpl::LoopBack(MsgPtr dgram) {
  Bump(stats_.loopback);
  auto held = std::make_shared<MsgPtr>(std::move(dgram));
  sched_.Defer([this, held] {
    MsgPtr d = std::move(*held);
    Parsed<Ipv4Header> h = ParseIpv4(PacketView::OfChain(d.get()), false);
    if (!h.ok()) {
      stats_.Wire(h.error());
      return;
    }
    LocalInput(0, *h, std::move(d), IsBroadcast(h->dst));
  });
}

}  // namespace ustreams::ip
