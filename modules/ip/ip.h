// The IP instance of a stack, as the transports above it see it (UDP, raw ICMP, later TCP and
// RTS): send a datagram, learn a source address, register for the datagrams of a protocol.
//
// Theory of operation
// -------------------
// IP is a multiplexing STREAMS driver ("ip", ip_driver.cc): links are I_PLINKed under it and made
// into interfaces by ioctls (ip_ioctl.h). Above it, the transports are STREAMS drivers of their own
// ("udp", "icmp") whose endpoints call this class directly, as illumos' conn_t-based transports call
// ip_output_simple() and are called by ip_fanout_*(): no STREAMS queue sits between a transport and
// IP, so a later direct socket face reaches the same code.
//
// One Ip per Stack. Its domain's context() points at it, so a driver finds it from any queue:
// IpOf(q). Everything it owns (interfaces, ARP caches, reassembly, routes, the classifier, timers)
// belongs to that stack alone.
//
// Threads: every method may be called from any thread, concurrently. Inbound datagrams are handed
// to a transport on the thread that runs the link's read side (a scheduler thread of the stack),
// never while IP holds a lock; a datagram sent to one of the stack's own addresses is delivered
// from a deferred call, never inside the sender's Send (so a transport may hold its own lock
// around Send).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "absl/status/statusor.h"
#include "modules/ip/classifier.h"
#include "modules/ip/route.h"
#include "modules/ip/wire.h"
#include "streams/msg.h"
#include "streams/queue.h"

namespace ustreams {
class Domain;
class Scheduler;
}  // namespace ustreams

namespace ustreams::ip {

class Ip;
class IpImpl;  // ip_impl.h

// Tunables of one stack's IP (defaults as Linux has them where Linux has one).
struct IpConfig {
  bool forwarding = false;  // route datagrams between interfaces (ip_forward)
  uint8_t default_ttl = 64;
  absl::Duration arp_reachable = absl::Seconds(30);  // an entry is fresh this long
  absl::Duration arp_stale = absl::Seconds(60);      // then stale (used, re-probed) this long
  absl::Duration arp_retry = absl::Seconds(1);       // between requests while resolving
  int arp_max_retries = 3;                           // then the waiting datagrams are dropped
  size_t arp_queue_bytes = 208 * 1024;  // datagrams waiting per unresolved address (Linux's)
  absl::Duration reassembly_timeout = absl::Seconds(30);
  size_t reassembly_max_bytes = size_t{4} << 20;
  absl::Duration icmp_ratelimit = absl::Milliseconds(10);  // between errors (token refill)
  int icmp_burst = 50;
  absl::Duration pmtu_expiry = absl::Minutes(10);  // RFC 1191: a learned MTU is retried after
};

// Bytes of headroom a transport should leave in front of its header so IP and the link prepend
// theirs without a new block: an Ethernet header (14, rounded to 16) and an IPv4 header with
// the largest options (60).
inline constexpr size_t kIpHeadroom = 16 + kIpv4MaxHeaderLength;

// How a transport wants a datagram sent.
struct SendArgs {
  uint32_t src = 0;  // 0: IP chooses (the outgoing interface's address for dst)
  uint32_t dst = 0;
  uint8_t protocol = 0;
  uint8_t ttl = 64;
  uint8_t tos = 0;
  bool df = false;         // IP_DONTFRAG: EMSGSIZE rather than fragment
  bool broadcast = false;  // SO_BROADCAST: dst may be a broadcast address (EACCES otherwise)
  bool dontroute = false;  // SO_DONTROUTE: only on-link destinations (ENETUNREACH otherwise)
};

// A transport: receives the datagrams of its protocol addressed to this stack.
class Transport {
 public:
  virtual ~Transport() = default;
  // A whole datagram (reassembled, every header field checked). mp holds it from the IP header
  // on (b_rptr at the header); h describes it and its views look into mp. `broadcast` is true
  // when it was sent to a broadcast address of the interface (or 255.255.255.255). Consumes mp.
  virtual void Receive(const Ipv4Header& h, MsgPtr mp, uint32_t ifindex, bool broadcast) = 0;
  // An ICMP error (unreachable, time exceeded, parameter problem, source quench) about a datagram
  // of this protocol the stack sent; m.quote names it. `from` sent the error.
  virtual void ReceiveIcmpError(const IcmpMessage& m, uint32_t from) = 0;
};

struct IpStats;  // ip_stats.h

// An interface as IP reports it (Ip::Interfaces).
struct InterfaceInfo {
  uint32_t index = 0;
  std::string name;
  MacAddress mac{};
  bool up = false, running = false;
  uint32_t mtu = 0;
  struct Address {
    uint32_t addr;
    uint8_t prefix_len;
    uint32_t broadcast;  // 0: none
  };
  std::vector<Address> addrs;  // the first is the primary
};

// An ARP cache entry as IP reports it (Ip::ArpEntries).
struct ArpInfo {
  uint32_t ifindex = 0;
  uint32_t addr = 0;
  MacAddress mac{};
  enum State : uint8_t { kIncomplete, kReachable, kStale, kStatic } state = kIncomplete;
  size_t waiting = 0;  // datagrams queued for the address
};

// What IP tells a routing socket layer about (RTM_NEWADDR, RTM_DELADDR, RTM_IFINFO, RTM_MISS).
struct IpEvent {
  enum Kind : uint8_t { kNewAddr, kDelAddr, kIfInfo, kMiss } kind = kIfInfo;
  uint32_t ifindex = 0;
  std::string ifname;
  MacAddress mac{};
  uint32_t addr = 0;  // kNewAddr/kDelAddr: the address; kMiss: the destination
  uint8_t prefix_len = 0;
  uint32_t broadcast = 0;  // 0: none
  bool up = false, running = false;  // kIfInfo (and the others: the interface's state)
  uint32_t mtu = 0;
};

class Ip {
 public:
  // The IP of the stack whose domain `q`'s stream belongs to; nullptr outside a stack.
  static Ip* Of(queue_t* q);
  static Ip* Of(Domain& d);

  // Sends payload (a transport header and data, M_DATA; consumed whatever happens) to args.dst:
  // routing, source selection, ARP, fragmentation to the path MTU. Returns 0 once the datagram
  // is on its way (or queued for ARP), else the errno: ENETUNREACH (no route, or not on-link
  // with dontroute), EHOSTUNREACH (a reject route), EACCES (a broadcast destination without
  // broadcast), EMSGSIZE (longer than 65535 with its header, or than the path MTU with df),
  // EADDRNOTAVAIL (src is not an address of this stack), ENOBUFS (no memory, or the ARP queue
  // of the next hop is full), EINVAL (no payload, or protocol 0).
  int Send(const SendArgs& args, MsgPtr payload);

  // The source address Send would use for dst (connect(), getsockname()). ENETUNREACH when no
  // route leads to dst or the interface has no address.
  absl::StatusOr<uint32_t> SourceFor(uint32_t dst) const;
  // True if addr is one of the stack's addresses (any interface, up or down) or 127/8 when
  // loopback is configured.
  bool IsLocalAddress(uint32_t addr) const;
  // The path MTU toward dst (the route's or interface's MTU, lowered by ICMP frag-needed).
  uint32_t PathMtu(uint32_t dst) const;

  // Sends an ICMP error (destination unreachable with `code`, e.g. kIcmpPortUnreachable) about
  // `offending`, a datagram received by this stack (b_rptr at its IP header): the transport
  // found no endpoint. Rate-limited and never about an ICMP error, a broadcast, or a non-first
  // fragment (RFC 1122 §3.2.2). Consumes offending.
  void SendUnreachable(MsgPtr offending, uint8_t code);

  // At most one transport per protocol; nullptr unregisters. The transport outlives its
  // registration (IP holds no reference: unregister before destroying it).
  void RegisterTransport(uint8_t protocol, Transport* t);
  Transport* transport(uint8_t protocol) const;

  Classifier& classifier();
  // The TTL datagrams get unless their endpoint says otherwise (IpConfig::default_ttl).
  uint8_t default_ttl() const;
  RouteTable& routes();
  Scheduler& scheduler() const;
  Domain& domain() const;

  // The interfaces (in index order), one of them (nullopt: no such index), the ARP caches.
  std::vector<InterfaceInfo> Interfaces() const;
  std::optional<InterfaceInfo> Interface(uint32_t index) const;
  std::vector<ArpInfo> ArpEntries() const;

  // Calls fn for every IpEvent, from the thread that caused it (an ioctl's, or a sender's for
  // kMiss), with no IP lock held but under the subscription lock: fn must not subscribe or
  // unsubscribe. After Unsubscribe returns, fn is not running and is not called again.
  using EventFn = std::function<void(const IpEvent&)>;
  uint64_t SubscribeEvents(EventFn fn);
  void UnsubscribeEvents(uint64_t id);

  // One pointer per extension of the stack that its drivers find through IP (the routing socket
  // module: kRtsExtension). Not owned.
  enum Extension { kRtsExtension, kExtensionCount };
  void set_extension(Extension e, void* p);
  void* extension(Extension e) const;

  // The stack's counters (ip_stats.h).
  const IpStats& stats() const;
  // What reassembly holds now: datagrams in progress and the bytes charged for them.
  struct ReassemblyLoad {
    size_t datagrams = 0;
    size_t bytes = 0;
  };
  ReassemblyLoad reassembly_load() const;

  // Made by the stack that owns `d`, which it makes point here (d.set_context(ip)); destroyed
  // after the domain's streams are closed.
  Ip(Domain& d, const IpConfig& config);
  ~Ip();
  Ip(const Ip&) = delete;
  Ip& operator=(const Ip&) = delete;

  IpImpl& impl() { return *impl_; }

 private:
  std::unique_ptr<IpImpl> impl_;
};

}  // namespace ustreams::ip
