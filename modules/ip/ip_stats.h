// IP's counters (MIB-II names where MIB-II has one, RFC 4293 / RFC 1213), ARP's and ICMP's.
// Relaxed atomics: each is exact, a snapshot of several is not.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "modules/ip/reassembly.h"
#include "modules/ip/wire.h"

namespace ustreams::ip {

using Counter = std::atomic<uint64_t>;

inline void Bump(Counter& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }

// Why IP dropped an inbound frame or datagram, beyond the parsers' WireError reasons.
enum class IpDrop : uint8_t {
  kNotForUs,         // unicast to another host, and forwarding is off
  kMartianSource,    // source 0 (not DHCP), broadcast, multicast, loopback from a link
  kMulticast,        // no multicast support: group destinations are dropped
  kInterfaceDown,    // arrived on, or routed to, an interface that is down
  kUnknownEtherType, // neither IPv4 nor ARP
  kUnknownProtocol,  // no transport (protocol unreachable sent)
  kNoRoute,          // forwarding found no route (net unreachable sent)
  kTtlExceeded,      // forwarding: TTL ran out (time exceeded sent)
  kNeedFrag,         // forwarding: DF set and too long (frag-needed sent)
  kArpFailed,        // the next hop never answered ARP
  kArpQueueFull,     // too many datagrams waiting for one next hop
  kNoBuffer,         // allocation failed
  kNotBound,         // the link is not plumbed (yet)
  kBlackhole,        // an RTF_BLACKHOLE route
  kLinkFull,         // the link's transmit queue was full (flow controlled)
};
inline constexpr size_t kIpDropCount = static_cast<size_t>(IpDrop::kLinkFull) + 1;
const char* IpDropName(IpDrop d);

struct IpStats {
  // IP
  Counter in_receives{0};       // datagrams from links (before any check)
  Counter in_delivers{0};       // to a transport or ICMP
  Counter forw_datagrams{0};    // forwarded
  Counter out_requests{0};      // Send() calls
  Counter out_transmits{0};     // frames handed to links (each fragment)
  Counter out_no_routes{0};
  Counter out_discards{0};      // Send() errors other than no route
  Counter frag_oks{0}, frag_fails{0}, frag_creates{0};
  // Fragments received; datagrams reassembled; datagrams given up on (timed out with or without
  // their first fragment, evicted, inconsistent; a duplicate fragment is not a failure).
  Counter reasm_reqds{0}, reasm_oks{0}, reasm_fails{0};
  Counter loopback{0};          // datagrams delivered to the stack's own addresses
  std::array<Counter, kWireErrorCount> wire_errors{};  // parser refusals, by WireError
  std::array<Counter, kIpDropCount> drops{};           // by IpDrop
  // ICMP
  Counter icmp_in{0}, icmp_out{0};
  std::array<Counter, 19> icmp_in_type{}, icmp_out_type{};  // by type (0..18)
  Counter icmp_ratelimited{0};  // errors not sent: the rate limit
  Counter pmtu_updates{0};      // frag-needed messages that lowered a path MTU
  // ARP
  Counter arp_requests_in{0}, arp_replies_in{0}, arp_requests_out{0}, arp_replies_out{0};
  Counter arp_resolved{0}, arp_failed{0}, arp_expired{0};
  Counter arp_duplicate_address{0};  // someone else claims one of our addresses

  void Drop(IpDrop d) { Bump(drops[static_cast<size_t>(d)]); }
  void Wire(WireError e) { Bump(wire_errors[static_cast<size_t>(e)]); }
  uint64_t drop(IpDrop d) const { return drops[static_cast<size_t>(d)].load(); }
  uint64_t wire(WireError e) const { return wire_errors[static_cast<size_t>(e)].load(); }
};

}  // namespace ustreams::ip
