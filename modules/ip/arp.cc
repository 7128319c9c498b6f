// ARP (RFC 826) for IPv4 over the Ethernet-framed links, inside IP (as illumos has had it since
// Clearview): one cache per interface, entries keyed by IPv4 address.
//
// Entry life (Linux's neighbour states, simplified): INCOMPLETE while requests go out (a broadcast
// every arp_retry, arp_max_retries of them; the datagrams that wait, at most arp_queue_bytes per address,
// oldest dropped first, are sent when the reply comes, or dropped with ICMP host unreachable when
// it never does); REACHABLE for arp_reachable after a reply or a request from the host; then STALE
// for arp_stale: still used, and the first use sends one unicast request to refresh it; then
// deleted, so the next datagram resolves afresh. STATIC entries (IPIOC_ARPSET) never change.
// RFC 826's merge: a packet from a sender we have an entry for updates it, whoever it was for; a
// request for one of our addresses also creates the sender's entry, and is answered. A packet
// claiming one of our own addresses as its sender is counted (arp_duplicate_address) and
// ignored. When an address comes up, a gratuitous request announces it.
//
// One timer for all caches, armed for the earliest deadline of any entry; nothing is armed when
// no entry needs attention (so a quiet stack has no timers).
#include <algorithm>
#include <utility>
#include <vector>

#include "modules/ip/ip_impl.h"

namespace ustreams::ip {

void IpImpl::SendArp(const InterfacePtr& ifp, uint16_t op, uint32_t sender_ip,
                     const MacAddress& dst_mac, const MacAddress& target_mac,
                     uint32_t target_ip) {
  ArpPacket a;
  a.op = op;
  {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    a.sender_mac = ifp->mac;
  }
  a.sender_ip = sender_ip;
  a.target_mac = target_mac;
  a.target_ip = target_ip;
  mblk_t* mp = allocb(16 + kArpPacketLength);
  if (mp == nullptr) {
    stats_.Drop(IpDrop::kNoBuffer);
    return;
  }
  mp->b_rptr += 16;
  mp->b_wptr = mp->b_rptr + WriteArp(a, std::span<uint8_t>(mp->b_rptr, kArpPacketLength));
  Bump(op == kArpRequest ? stats_.arp_requests_out : stats_.arp_replies_out);
  Transmit(ifp, dst_mac, kEtherTypeArp, MsgPtr(mp));
}

void IpImpl::AnnounceAddress(const InterfacePtr& ifp, uint32_t addr) {
  SendArp(ifp, kArpRequest, addr, kBroadcastMac, MacAddress{}, addr);
}

void IpImpl::ArmArpTimerLocked(absl::Time when) {
  if (stopping_ || when >= arp_timer_at_) return;
  arp_timer_at_ = when;
  sched_.AddTimer(when, [this] { ArpTimer(); });
}

void IpImpl::Resolve(const InterfacePtr& ifp, uint32_t next_hop, MsgPtr dgram) {
  MacAddress mac;
  uint32_t src = 0;
  bool request = false, probe = false;
  {
    std::unique_lock<std::mutex> l(arp_mu_);
    auto [it, fresh] = ifp->arp.try_emplace(next_hop);
    ArpEntry& e = it->second;
    const absl::Time now = sched_.Now();
    if (fresh || e.state == ArpState::kIncomplete) {
      // Wait, the oldest making room (Linux's unres_qlen_bytes).
      const size_t n = msgsize(dgram.get());
      while (!e.pending.empty() && e.pending_bytes + n > config_.arp_queue_bytes) {
        e.pending_bytes -= msgsize(e.pending.front().get());
        e.pending.pop_front();
        stats_.Drop(IpDrop::kArpQueueFull);
      }
      e.pending_bytes += n;
      e.pending.push_back(std::move(dgram));
      if (!fresh) return;
      e.state = ArpState::kIncomplete;
      e.tries = 1;
      e.expires = now + config_.arp_retry;
      ArmArpTimerLocked(e.expires);
      request = true;
    } else if (e.flushing) {
      e.pending_bytes += msgsize(dgram.get());
      e.pending.push_back(std::move(dgram));  // behind the ones being sent
      return;
    } else {
      mac = e.mac;
      if (e.state == ArpState::kStale && e.tries == 0) {
        e.tries = 1;  // one refresh per stale period
        probe = true;
      }
    }
  }
  if (request || probe) {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    src = ifp->SourceFor(next_hop);
  }
  if (request) {
    SendArp(ifp, kArpRequest, src, kBroadcastMac, MacAddress{}, next_hop);
    return;
  }
  if (probe) SendArp(ifp, kArpRequest, src, mac, MacAddress{}, next_hop);
  Transmit(ifp, mac, kEtherTypeIpv4, std::move(dgram));
}

void IpImpl::ArpInput(const InterfacePtr& ifp, const ArpPacket& a) {
  Bump(a.op == kArpRequest ? stats_.arp_requests_in : stats_.arp_replies_in);
  MacAddress my_mac;
  bool for_us, sender_is_us;
  {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    my_mac = ifp->mac;
    for_us = ifp->HasAddress(a.target_ip);
    sender_is_us = ifp->HasAddress(a.sender_ip);
  }
  if (a.sender_mac == my_mac) return;  // our own, looped back by a hub
  if (sender_is_us) {
    Bump(stats_.arp_duplicate_address);
    return;
  }
  if (a.sender_mac == kBroadcastMac || (a.sender_mac[0] & 1) != 0) return;  // not a host
  std::deque<MsgPtr> ready;
  if (a.sender_ip != 0) {
    std::lock_guard<std::mutex> l(arp_mu_);
    auto it = ifp->arp.find(a.sender_ip);
    if (it == ifp->arp.end() && for_us) it = ifp->arp.try_emplace(a.sender_ip).first;
    if (it != ifp->arp.end() && it->second.state != ArpState::kStatic) {
      ArpEntry& e = it->second;
      if (e.state == ArpState::kIncomplete) Bump(stats_.arp_resolved);
      e.mac = a.sender_mac;
      e.state = ArpState::kReachable;
      e.tries = 0;
      e.expires = sched_.Now() + config_.arp_reachable;
      if (!e.pending.empty() && !e.flushing) {
        ready.swap(e.pending);
        e.pending_bytes = 0;
        e.flushing = true;
      }
      ArmArpTimerLocked(e.expires);
    }
  }
  if (a.op == kArpRequest && for_us) {
    SendArp(ifp, kArpReply, a.target_ip, a.sender_mac, a.sender_mac, a.sender_ip);
  }
  if (!ready.empty()) FlushPending(ifp, a.sender_ip, a.sender_mac, std::move(ready));
}

void IpImpl::FlushPending(const InterfacePtr& ifp, uint32_t ip, const MacAddress& mac,
                          std::deque<MsgPtr> batch) {
  for (;;) {
    for (MsgPtr& d : batch) Transmit(ifp, mac, kEtherTypeIpv4, std::move(d));
    batch.clear();
    std::lock_guard<std::mutex> l(arp_mu_);
    auto it = ifp->arp.find(ip);
    if (it == ifp->arp.end()) return;  // deleted meanwhile (its queue went with it)
    ArpEntry& e = it->second;
    if (e.pending.empty() || e.state == ArpState::kIncomplete) {
      e.flushing = false;
      return;
    }
    batch.swap(e.pending);
    e.pending_bytes = 0;
  }
}

void IpImpl::ArpTimer() {
  std::vector<InterfacePtr> ifs;
  {
    std::shared_lock<std::shared_mutex> l(if_mu_);
    for (const InterfacePtr& i : ifs_) {
      if (i != nullptr) ifs.push_back(i);
    }
  }
  struct Retry {
    InterfacePtr ifp;
    uint32_t ip;
  };
  std::vector<Retry> retries;
  std::vector<MsgPtr> failed;
  {
    std::lock_guard<std::mutex> l(arp_mu_);
    arp_timer_at_ = absl::InfiniteFuture();
    const absl::Time now = sched_.Now();
    absl::Time next = absl::InfiniteFuture();
    for (const InterfacePtr& ifp : ifs) {
      for (auto it = ifp->arp.begin(); it != ifp->arp.end();) {
        ArpEntry& e = it->second;
        if (e.state == ArpState::kStatic) {
          ++it;
          continue;
        }
        if (e.expires <= now) {
          switch (e.state) {
            case ArpState::kIncomplete:
              if (e.tries < config_.arp_max_retries) {
                e.tries++;
                e.expires = now + config_.arp_retry;
                retries.push_back({ifp, it->first});
                break;
              }
              Bump(stats_.arp_failed);
              for (MsgPtr& d : e.pending) {
                stats_.Drop(IpDrop::kArpFailed);
                failed.push_back(std::move(d));
              }
              ifp->arp.erase(it++);
              continue;
            case ArpState::kReachable:
              e.state = ArpState::kStale;
              e.tries = 0;
              e.expires = now + config_.arp_stale;
              break;
            default:
              Bump(stats_.arp_expired);
              ifp->arp.erase(it++);
              continue;
          }
        }
        next = std::min(next, e.expires);
        ++it;
      }
    }
    ArmArpTimerLocked(next);
  }
  for (const Retry& r : retries) {
    uint32_t src;
    {
      std::shared_lock<std::shared_mutex> l(if_mu_);
      src = r.ifp->SourceFor(r.ip);
    }
    SendArp(r.ifp, kArpRequest, src, kBroadcastMac, MacAddress{}, r.ip);
  }
  for (MsgPtr& d : failed) SendIcmpError(d, kIcmpUnreachable, kIcmpHostUnreachable, 0, 0);
}

void IpImpl::FlushArp(const InterfacePtr& ifp) {
  absl::flat_hash_map<uint32_t, ArpEntry> gone;
  {
    std::lock_guard<std::mutex> l(arp_mu_);
    for (auto it = ifp->arp.begin(); it != ifp->arp.end();) {
      if (it->second.state == ArpState::kStatic) {
        ++it;
      } else {
        gone.insert(std::move(*it));
        ifp->arp.erase(it++);
      }
    }
  }
  // The waiting datagrams are freed here, outside the lock.
}

}  // namespace ustreams::ip
