// A Stack: one independent TCP/IP instance (illumos netstack). It owns a STREAMS domain (its
// scheduler and clock, its registry of drivers and modules, its open streams) and the protocol
// state of IP and the transports above it. Several stacks live in one process with nothing shared;
// two of them talk over a loop network (drivers/loop/loop.h).
//
//   LoopNetwork net;
//   auto [pa, pb] = net.AddWire();
//   Stack a({.deterministic = true}), b({.deterministic = true});
//   a.AttachLoopNetwork(net);  b.AttachLoopNetwork(net);        // "/dev/loop" in each
//   a.AddLoopInterface("net0", pa, "10.0.0.1/24");
//   b.AddLoopInterface("net0", pb, "10.0.0.2/24");
//   // us_open("/dev/udp", ...) with DomainScope scope(&a.domain()) ...
//
// What a stack registers in its domain: the standard drivers and modules (streams/standard.h),
// "ip" (modules/ip), "udp" (modules/udp), "icmp" (raw ICMP, modules/icmp), "rts" (routing
// sockets, modules/rts).
//
// The plumbing helpers below use the same calls an application would (us_open, I_PLINK, I_STR on
// an "ip" stream, ip_ioctl.h), from the calling thread with this stack's domain made current.
//
// Teardown: the destructor closes every stream of the domain (traffic in flight included), stops
// the scheduler's threads and frees everything.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "modules/ip/ip.h"
#include "streams/domain.h"

namespace ustreams {

class LoopNetwork;
namespace udp {
class UdpModule;
}
namespace icmp {
class IcmpModule;
}
namespace rts {
class RtsModule;
}

class Stack {
 public:
  struct Options {
    bool deterministic = false;  // virtual time, no threads (run with scheduler().RunUntilIdle())
    int workers = 2;
    ip::IpConfig ip;
  };
  Stack();
  explicit Stack(Options options);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  Domain& domain() { return *domain_; }
  Scheduler& scheduler() { return domain_->scheduler(); }
  ip::Ip& ip() { return *ip_; }
  // The transports (their counters; their endpoints are opened as "/dev/udp", "/dev/icmp").
  udp::UdpModule* udp();
  icmp::IcmpModule* icmp();
  rts::RtsModule* rts();  // routing sockets ("/dev/rts")

  // Registers the loop driver for `net` in this stack's domain under `driver` ("/dev/loop").
  absl::Status AttachLoopNetwork(LoopNetwork& net, std::string_view driver = "loop");
  // Opens `driver`, links it under IP and makes it interface `name` on port `ppa` with address
  // `cidr` ("10.0.0.1/24"; empty: none) and brings it up. Returns the interface index.
  absl::StatusOr<uint32_t> AddLoopInterface(std::string_view name, int ppa, std::string_view cidr,
                                            std::string_view driver = "loop");
  // More addresses on an interface; routes (gateway 0: on-link).
  absl::Status AddAddress(std::string_view ifname, std::string_view cidr);
  absl::Status AddRoute(std::string_view cidr, std::string_view gateway);
  absl::Status DeleteRoute(std::string_view cidr);

 private:
  struct Transports;
  Options options_;
  // Declaration order is destruction order reversed: the domain (and its streams) goes first,
  // then the transports, then IP.
  std::unique_ptr<ip::Ip> ip_;
  std::unique_ptr<Transports> transports_;
  std::unique_ptr<Domain> domain_;
  int ip_fd_ = -1;  // the "ip" stream the plumbing ioctls go through (and links hang off)
};

}  // namespace ustreams
