// IP input: frames from the links, validation (every refusal counted by its reason), local
// delivery with reassembly, ICMP (echo, errors to the transports, path MTU), forwarding, and the
// ICMP errors IP itself sends.
//
// Choices (RFC 1122 / RFC 1812, Linux's defaults where they leave room):
//  - Echo requests to a broadcast address are not answered (icmp_echo_ignore_broadcasts).
//  - ICMP errors are never sent about an ICMP error, a datagram to a broadcast or multicast
//    address, a fragment other than the first, or a datagram whose source is not a unicast
//    address (RFC 1122 §3.2.2); they are rate-limited by a token bucket (icmp_ratelimit between
//    tokens, icmp_burst of them).
//  - A router does not forward link broadcasts or directed broadcasts (RFC 2644), and sends no
//    redirects (a datagram forwarded out of the interface it came in on is forwarded).
//  - Frag-needed lowers the path MTU toward the quoted destination to the advertised next-hop
//    MTU (RFC 1191), never below 68; a message without one (an RFC 792 router) gives 576 as a
//    plateau. Learned values expire after pmtu_expiry.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "modules/ip/checksum.h"
#include "modules/ip/ip_impl.h"

namespace ustreams::ip {

namespace {

constexpr uint32_t kLimitedBroadcast = 0xffffffff;

bool IsMulticast(uint32_t a) { return (a >> 28) == 0xe; }
bool IsLoopbackNet(uint32_t a) { return (a >> 24) == 127; }



// True when a chain pins buffers much larger than the bytes it carries: a fragment that is a
// slice of its sender's whole datagram, handed over without a copy (IP fragments by dupb, and the
// loop link moves blocks between stacks as they are).
bool PinsLargeBuffers(const mblk_t* mp) {
  size_t data = 0, held = 0;
  for (; mp != nullptr; mp = mp->b_cont) {
    data += MBLKL(mp);
    held += MBLKSIZE(mp);
  }
  return held > 2 * data + 512;
}

// Datagrams the reassembler gave up on, whatever the reason (RFC 4293 ipSystemStatsReasmFails):
// every drop it counts except a duplicate fragment, after which the datagram goes on.
uint64_t ReassemblyFailures(const ReassemblyStats& s) {
  uint64_t n = 0;
  for (uint64_t d : s.drops) n += d;
  return n - s.drop(ReassemblyDrop::kDuplicate);
}

bool IcmpErrorType(uint8_t t) {
  return t == kIcmpUnreachable || t == kIcmpSourceQuench || t == kIcmpRedirect ||
         t == kIcmpTimeExceeded || t == kIcmpParameterProblem;
}

}  // namespace

const char* IpDropName(IpDrop d) {
  static constexpr const char* kNames[] = {
      "not_for_us",    "martian_source", "multicast",       "interface_down",  "unknown_ethertype",
      "unknown_protocol", "no_route",    "ttl_exceeded",    "need_frag",       "arp_failed",
      "arp_queue_full", "no_buffer",     "not_bound",       "blackhole",       "link_full",
  };
  static_assert(std::size(kNames) == kIpDropCount);
  auto i = static_cast<size_t>(d);
  return i < kIpDropCount ? kNames[i] : "unknown";
}

void IpImpl::LinkInput(const InterfacePtr& ifp, MsgPtr frame) {
  Parsed<EthernetHeader> eh = ParseEthernet(PacketView::OfChain(frame.get()));
  if (!eh.ok()) {
    stats_.Wire(eh.error());
    return;
  }
  if (eh->type == kEtherTypeArp) {
    Parsed<ArpPacket> a = ParseArp(eh->payload);
    if (!a.ok()) {
      stats_.Wire(a.error());
      return;
    }
    ArpInput(ifp, *a);
    return;
  }
  if (eh->type != kEtherTypeIpv4) {
    stats_.Drop(IpDrop::kUnknownEtherType);
    return;
  }
  mblk_t* mp = TrimFront(frame.release(), kEthernetHeaderLength);
  Ipv4Input(ifp, MsgPtr(mp));
}

void IpImpl::Ipv4Input(const InterfacePtr& ifp, MsgPtr packet) {
  Bump(stats_.in_receives);
  Parsed<Ipv4Header> h = ParseIpv4(PacketView::OfChain(packet.get()));
  if (!h.ok()) {
    stats_.Wire(h.error());
    return;
  }
  TrimTo(packet.get(), h->total_length);  // link padding
  const uint32_t src = h->src, dst = h->dst;
  bool up, bcast;
  {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    up = ifp->up;
    bcast = dst == kLimitedBroadcast || ifp->IsBroadcastAddress(dst);
  }
  if (!up) {
    stats_.Drop(IpDrop::kInterfaceDown);
    return;
  }
  if (IsMulticast(src) || IsLoopbackNet(src) || IsLoopbackNet(dst) || (src == 0 && !bcast) ||
      (src != 0 && IsBroadcast(src))) {
    stats_.Drop(IpDrop::kMartianSource);
    return;
  }
  if (bcast || IsLocal(dst)) {
    LocalInput(ifp->index, *h, std::move(packet), bcast);
    return;
  }
  if (IsMulticast(dst)) {
    stats_.Drop(IpDrop::kMulticast);
    return;
  }
  if (!forwarding_.load(std::memory_order_relaxed)) {
    stats_.Drop(IpDrop::kNotForUs);
    return;
  }
  Forward(*h, std::move(packet));
}

void IpImpl::LocalInput(uint32_t ifindex, const Ipv4Header& h, MsgPtr dgram, bool broadcast) {
  if (!h.is_fragment()) {
    Deliver(ifindex, h, std::move(dgram), broadcast);
    return;
  }
  Bump(stats_.reasm_reqds);
  // Reassembly charges a fragment for the whole buffers it holds (reassembly.h). Slices of one
  // shared 60 KB buffer would each be charged 60 KB, and a datagram cut in ~100 fragments could
  // never fit under reassembly_max_bytes: give such a fragment a block of its own. (h's views
  // point into the old chain; Add reads only h's fields.)
  if (PinsLargeBuffers(dgram.get())) {
    if (mblk_t* c = msgpullup(dgram.get(), -1)) dgram.reset(c);
  }
  Ipv4Header whole;
  MsgPtr done;
  {
    std::lock_guard<std::mutex> l(reasm_mu_);
    const uint64_t before = ReassemblyFailures(reasm_.stats());
    done = reasm_.Add(sched_.Now(), h, std::move(dgram), &whole);
    Bump(stats_.reasm_fails, ReassemblyFailures(reasm_.stats()) - before);
    ArmReassemblyTimer();
  }
  if (!done) return;
  Bump(stats_.reasm_oks);
  Deliver(ifindex, whole, std::move(done), broadcast);
}

void IpImpl::ArmReassemblyTimer() {
  const absl::Time next = reasm_.NextDeadline();
  if (stopping_ || next == absl::InfiniteFuture() || next >= reasm_timer_at_) return;
  reasm_timer_at_ = next;
  sched_.AddTimer(next, [this] {
    std::vector<MsgPtr> firsts;
    {
      std::lock_guard<std::mutex> l(reasm_mu_);
      reasm_timer_at_ = absl::InfiniteFuture();
      const uint64_t before = ReassemblyFailures(reasm_.stats());
      reasm_.Expire(sched_.Now(), &firsts);  // with or without their first fragment
      Bump(stats_.reasm_fails, ReassemblyFailures(reasm_.stats()) - before);
      ArmReassemblyTimer();
    }
    for (MsgPtr& f : firsts) {
      SendIcmpError(f, kIcmpTimeExceeded, kIcmpReassemblyTimeExceeded, 0, 0);
    }
  });
}

void IpImpl::Deliver(uint32_t ifindex, const Ipv4Header& h, MsgPtr dgram, bool broadcast) {
  Bump(stats_.in_delivers);
  if (h.protocol == kProtoIcmp) {
    IcmpInput(ifindex, h, std::move(dgram), broadcast);
    return;
  }
  if (Transport* t = transports_[h.protocol].load(std::memory_order_acquire)) {
    t->Receive(h, std::move(dgram), ifindex, broadcast);
    return;
  }
  stats_.Drop(IpDrop::kUnknownProtocol);
  if (!broadcast) {
    SendIcmpError(dgram, kIcmpUnreachable, kIcmpProtocolUnreachable, 0, h.dst);
  }
}

void IpImpl::IcmpInput(uint32_t ifindex, const Ipv4Header& h, MsgPtr dgram, bool broadcast) {
  Parsed<IcmpMessage> m = ParseIcmp(h.payload);
  if (!m.ok()) {
    stats_.Wire(m.error());
    return;
  }
  Bump(stats_.icmp_in);
  if (m->type < stats_.icmp_in_type.size()) Bump(stats_.icmp_in_type[m->type]);

  if (m->type == kIcmpEchoRequest && !broadcast) {
    // The reply: the request's message with the type changed, from the address it was sent to.
    const size_t len = h.payload.size();
    mblk_t* r = allocb(kIpHeadroom + len);
    if (r != nullptr) {
      r->b_rptr += kIpHeadroom;
      h.payload.Copy(0, len, r->b_rptr);
      r->b_wptr = r->b_rptr + len;
      const uint16_t old_word = static_cast<uint16_t>((r->b_rptr[0] << 8) | r->b_rptr[1]);
      r->b_rptr[0] = kIcmpEchoReply;
      const uint16_t new_word = static_cast<uint16_t>(r->b_rptr[1]);
      uint16_t sum = static_cast<uint16_t>((r->b_rptr[2] << 8) | r->b_rptr[3]);
      sum = ChecksumAdjust16(sum, old_word, new_word);
      r->b_rptr[2] = static_cast<uint8_t>(sum >> 8);
      r->b_rptr[3] = static_cast<uint8_t>(sum);
      SendArgs a;
      a.src = h.dst;
      a.dst = h.src;
      a.protocol = kProtoIcmp;
      a.ttl = config_.default_ttl;
      a.tos = h.tos;
      if (Send(a, MsgPtr(r)) == 0) {
        Bump(stats_.icmp_out);
        Bump(stats_.icmp_out_type[kIcmpEchoReply]);
      }
    }
  } else if (m->is_error()) {
    const IcmpQuote& q = m->quote;
    if (m->type == kIcmpUnreachable && m->code == kIcmpFragmentationNeeded) {
      uint32_t mtu = m->next_hop_mtu != 0 ? m->next_hop_mtu : 576;
      mtu = std::max<uint32_t>(mtu, 68);
      std::lock_guard<std::mutex> l(misc_mu_);
      auto& e = pmtu_[q.dst];
      if (e.mtu == 0 || mtu < e.mtu || e.expires <= sched_.Now()) {
        e.mtu = mtu;
        Bump(stats_.pmtu_updates);
      }
      e.expires = sched_.Now() + config_.pmtu_expiry;
    }
    if (q.protocol != kProtoIcmp) {
      if (Transport* t = transports_[q.protocol].load(std::memory_order_acquire)) {
        t->ReceiveIcmpError(*m, h.src);
      }
    }
  }
  // Raw ICMP endpoints see every message, after IP has handled it.
  if (Transport* raw = transports_[kProtoIcmp].load(std::memory_order_acquire)) {
    raw->Receive(h, std::move(dgram), ifindex, broadcast);
  }
}

void IpImpl::Forward(const Ipv4Header& h, MsgPtr dgram) {
  if (h.ttl <= 1) {
    stats_.Drop(IpDrop::kTtlExceeded);
    SendIcmpError(dgram, kIcmpTimeExceeded, kIcmpTtlExceeded, 0, 0);
    return;
  }
  std::optional<Route> r = routes_.Lookup(h.dst);
  if (!r) Emit(MissEvent(h.dst));
  if (!r || (r->flags & RTF_REJECT)) {
    stats_.Drop(IpDrop::kNoRoute);
    SendIcmpError(dgram, kIcmpUnreachable, r ? kIcmpHostUnreachable : kIcmpNetUnreachable, 0, 0);
    return;
  }
  if (r->flags & RTF_BLACKHOLE) {
    stats_.Drop(IpDrop::kBlackhole);
    return;
  }
  InterfacePtr out = FindInterface(r->ifindex);
  uint32_t if_mtu = 0;
  bool ok = false, directed = false;
  if (out != nullptr) {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    ok = out->up && out->running;
    if_mtu = out->mtu;
    directed = out->IsBroadcastAddress(h.dst);
  }
  if (!ok) {
    stats_.Drop(IpDrop::kInterfaceDown);
    SendIcmpError(dgram, kIcmpUnreachable, kIcmpNetUnreachable, 0, 0);
    return;
  }
  if (directed) {
    stats_.Drop(IpDrop::kNotForUs);
    return;
  }
  // The header is about to change: make it ours if it is shared.
  if (DB_REF(dgram.get()) > 1 || MBLKL(dgram.get()) < h.header_length) {
    mblk_t* c = msgpullup(dgram.get(), -1);
    if (c == nullptr) {
      stats_.Drop(IpDrop::kNoBuffer);
      return;
    }
    dgram.reset(c);
  }
  Ipv4DecrementTtl(dgram->b_rptr);
  const uint32_t mtu = PathMtu(h.dst, r->mtu, if_mtu);
  Bump(stats_.forw_datagrams);
  OutputOn(out, r->gateway != 0 ? r->gateway : h.dst, false, mtu, std::move(dgram), true);
}

bool IpImpl::IcmpAllowed() {
  std::lock_guard<std::mutex> l(misc_mu_);
  const absl::Time now = sched_.Now();
  if (config_.icmp_ratelimit > absl::ZeroDuration() && now > icmp_refill_) {
    icmp_tokens_ = std::min<double>(config_.icmp_burst,
                                    icmp_tokens_ + (now - icmp_refill_) / config_.icmp_ratelimit);
  }
  icmp_refill_ = now;
  if (config_.icmp_ratelimit <= absl::ZeroDuration()) return true;
  if (icmp_tokens_ < 1) return false;
  icmp_tokens_ -= 1;
  return true;
}

void IpImpl::SendIcmpError(const MsgPtr& offending, uint8_t type, uint8_t code, uint16_t mtu,
                           uint32_t src_hint) {
  if (!offending) return;
  PacketView v = PacketView::OfChain(offending.get());
  Parsed<Ipv4Header> h = ParseIpv4(v, false);
  if (!h.ok()) return;
  // RFC 1122 §3.2.2: never about these.
  if (h->fragment_offset != 0 || h->dst == kLimitedBroadcast || IsMulticast(h->dst) ||
      h->src == 0 || h->src == kLimitedBroadcast || IsMulticast(h->src)) {
    return;
  }
  if (IsBroadcast(h->dst) || IsBroadcast(h->src)) return;
  if (h->protocol == kProtoIcmp && IcmpErrorType(h->payload.U8(0))) return;
  if (!IcmpAllowed()) {
    Bump(stats_.icmp_ratelimited);
    return;
  }
  IcmpMessage m;
  m.type = type;
  m.code = code;
  m.next_hop_mtu = mtu;
  const size_t room = kIcmpHeaderLength + std::min(v.size(), kIcmpMaxQuote);
  mblk_t* e = allocb(kIpHeadroom + room);
  if (e == nullptr) return;
  e->b_rptr += kIpHeadroom;
  size_t n = WriteIcmpError(m, std::span<uint8_t>(e->b_rptr, room), v);
  if (n == 0) {
    freeb(e);
    return;
  }
  e->b_wptr = e->b_rptr + n;
  SendArgs a;
  a.src = src_hint;
  a.dst = h->src;
  a.protocol = kProtoIcmp;
  a.ttl = config_.default_ttl;
  if (Send(a, MsgPtr(e)) == 0) {
    Bump(stats_.icmp_out);
    Bump(stats_.icmp_out_type[type]);
  }
}

}  // namespace ustreams::ip
