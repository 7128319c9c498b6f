// UDP: the transport for IP protocol 17, with a TPI STREAMS driver ("/dev/udp", a clone device,
// D_MP) as its first upper face.
//
//   auto udp = RegisterUdp(stack_domain, stack_ip);   // the Stack does this; keep it alive
//   // an application: us_open("/dev/udp", O_RDWR), T_BIND_REQ, T_UNITDATA_REQ ...
//
// Theory of operation
// -------------------
// The module is IP's Transport for protocol 17 and the owner of the stack's UDP counters. Its
// endpoints (udp_endpoint.h) are made per stream by the driver's open and found by IP input
// through the classifier: Receive() parses and checks the UDP header (bad checksum and bad
// headers are counted and dropped), then hands the payload to the endpoint bound to the
// destination — for a datagram IP marked broadcast, a copy to every endpoint bound to the port
// (Classifier::LookupAll), for unicast the one Lookup() picks. A unicast datagram nobody listens
// for is counted and returned to IP as an ICMP port unreachable (IP rate-limits and never answers
// a broadcast). ICMP errors about datagrams this stack sent reach the endpoint that sent them,
// found from the addresses and ports of the quoted header, as a T_UDERROR_IND: port and protocol
// unreachable are ECONNREFUSED (as illumos), the others are mapped as Linux's icmp_err_convert
// does (net unreachable ENETUNREACH, host unreachable and time exceeded EHOSTUNREACH,
// fragmentation needed EMSGSIZE, parameter problem EPROTO); source quench and redirect are not
// reported. Unlike illumos, which reports only ECONNREFUSED and only to endpoints that asked for
// T_UDERROR_IND (sockets do when connected), the sender always hears of these errors, with the
// destination it had sent to; an application that does not care skips T_UDERROR_IND.
//
// Lifetime: the Stack makes the module after IP and destroys it after its domain (and so every
// UDP stream) is gone; the destructor unregisters from IP.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "modules/ip/ip.h"
#include "modules/udp/udp_endpoint.h"
#include "streams/domain.h"

namespace ustreams::udp {

// The stack's UDP counters (RFC 4113 udpInDatagrams … where there is one).
struct UdpStats {
  uint64_t in_datagrams = 0;       // delivered to an endpoint (a broadcast counts once per copy)
  uint64_t out_datagrams = 0;      // handed to IP and accepted
  uint64_t out_errors = 0;         // refused by IP or not sent (no memory, too long)
  uint64_t no_ports = 0;           // unicast to a port nobody is bound to
  uint64_t ignored_broadcast = 0;  // broadcast to a port nobody is bound to
  uint64_t header_errors = 0;      // malformed UDP header (length)
  uint64_t checksum_errors = 0;    // bad checksum
  uint64_t buffer_drops = 0;       // receive buffer (SO_RCVBUF) full, or the endpoint closing
};

class UdpModule final : public ip::Transport {
 public:
  // Registers for protocol 17 with ip.
  explicit UdpModule(ip::Ip& ip);
  ~UdpModule() override;
  UdpModule(const UdpModule&) = delete;
  UdpModule& operator=(const UdpModule&) = delete;

  // The module of the stack q's stream belongs to, or nullptr.
  static UdpModule* Of(queue_t* q);

  std::shared_ptr<UdpEndpoint> NewEndpoint();
  ip::Ip& ip() { return ip_; }
  UdpStats stats() const;
  // Endpoints alive.
  size_t endpoints() const { return endpoints_.load(std::memory_order_relaxed); }

  // ---- ip::Transport ----
  void Receive(const ip::Ipv4Header& h, MsgPtr mp, uint32_t ifindex, bool broadcast) override;
  void ReceiveIcmpError(const ip::IcmpMessage& m, uint32_t from) override;

 private:
  friend class UdpEndpoint;
  struct Counters {
    std::atomic<uint64_t> in_datagrams{0}, out_datagrams{0}, out_errors{0}, no_ports{0},
        ignored_broadcast{0}, header_errors{0}, checksum_errors{0}, buffer_drops{0};
  };
  static void Bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }
  void Broadcast(const ip::FiveTuple& t, uint32_t src, uint16_t sport, MsgPtr data);

  ip::Ip& ip_;
  Counters counters_;
  std::atomic<size_t> endpoints_{0};
};

// Registers the "udp" clone driver (D_MP) in d and the transport for protocol 17 with ip. The
// caller keeps the module alive until after d's streams are closed.
absl::StatusOr<std::unique_ptr<UdpModule>> RegisterUdp(Domain& d, ip::Ip& ip);

// The errno an ICMP error reports to a datagram endpoint, or 0 for one it does not report.
int IcmpErrno(uint8_t type, uint8_t code);

}  // namespace ustreams::udp
