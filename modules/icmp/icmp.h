// Raw ICMP: the transport for IP protocol 1 above IP's own ICMP, with the "icmp" STREAMS driver
// (a clone device like illumos /dev/icmp, D_MP) as its TPI face (modules/udp/tpi_dgram.h).
//
//   auto icmp = RegisterIcmp(stack_domain, stack_ip);   // the Stack does this; keep it alive
//   // an application (ping): us_open("/dev/icmp", O_RDWR), T_UNITDATA_REQ with an echo request,
//   // T_UNITDATA_IND with the reply (IP header + ICMP message).
//
// IP answers echo requests and acts on ICMP errors itself, then hands the module every ICMP
// message it accepted; the module gives each open endpoint (icmp_endpoint.h) a copy. TPI as for
// UDP (the same driver face): T_INFO_ACK says T_CLTS with a TSDU of 65515 (65535 less the IP
// header), T_BIND_REQ takes an address and ignores the port, options SO_BROADCAST, SO_DONTROUTE,
// SO_SNDBUF, SO_RCVBUF, SO_TYPE (SOCK_RAW), IP_TTL, IP_TOS.
//
// Lifetime: made after IP, destroyed after its domain's streams are closed; the destructor
// unregisters from IP.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "modules/icmp/icmp_endpoint.h"
#include "modules/ip/ip.h"
#include "streams/domain.h"

namespace ustreams::icmp {

struct IcmpStats {
  uint64_t in_messages = 0;   // copies delivered to endpoints
  uint64_t buffer_drops = 0;  // an endpoint's receive buffer was full (or it was closing)
  uint64_t out_messages = 0;  // sent, accepted by IP
  uint64_t out_errors = 0;    // refused by IP
};

class IcmpModule final : public ip::Transport {
 public:
  // Registers for protocol 1 with ip.
  explicit IcmpModule(ip::Ip& ip);
  ~IcmpModule() override;
  IcmpModule(const IcmpModule&) = delete;
  IcmpModule& operator=(const IcmpModule&) = delete;

  // The module of the stack q's stream belongs to, or nullptr.
  static IcmpModule* Of(queue_t* q);

  std::shared_ptr<IcmpEndpoint> NewEndpoint();
  ip::Ip& ip() { return ip_; }
  IcmpStats stats() const;
  size_t endpoints() const;

  // ---- ip::Transport ----
  // Every ICMP message IP accepted (from its IP header on): a copy to each endpoint that wants it.
  void Receive(const ip::Ipv4Header& h, MsgPtr mp, uint32_t ifindex, bool broadcast) override;
  // IP reports errors about ICMP messages to raw endpoints as the messages themselves (Receive);
  // there is nothing more to do here.
  void ReceiveIcmpError(const ip::IcmpMessage& m, uint32_t from) override;

 private:
  friend class IcmpEndpoint;
  void Add(IcmpEndpoint* ep);
  void Remove(IcmpEndpoint* ep);
  static void Bump(std::atomic<uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

  ip::Ip& ip_;
  mutable std::mutex mu_;
  // Every endpoint alive. Receive takes a reference on each under mu_ (an endpoint being
  // destroyed removes itself under mu_ first, so it is never found half gone).
  std::vector<IcmpEndpoint*> endpoints_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> in_messages_{0}, buffer_drops_{0}, out_messages_{0}, out_errors_{0};
};

// Registers the "icmp" clone driver (D_MP) in d and the transport for protocol 1 with ip. The
// caller keeps the module alive until after d's streams are closed.
absl::StatusOr<std::unique_ptr<IcmpModule>> RegisterIcmp(Domain& d, ip::Ip& ip);

}  // namespace ustreams::icmp
