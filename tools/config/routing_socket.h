// Static routes through a routing socket, as route(8) adds them: an RTM_ADD message (rtmsg.h)
// written to an "rts" stream of the stack's domain.
#pragma once

#include <cstdint>
#include <string>

#include "tools/config/config.h"

namespace ustreams::config {

// The bytes of an RTM_ADD for destination via gateway: rt_msghdr, then RTA_DST, RTA_GATEWAY and
// RTA_NETMASK as sockaddr_in, each RT_ROUNDUP'd. Flags RTF_UP | RTF_GATEWAY | RTF_STATIC, and
// RTF_HOST for a /32.
std::string RouteAddMessage(const Cidr& destination, uint32_t gateway, int seq);

// A routing socket of the calling thread's current domain, with its own echoes turned off
// (SO_USELOOPBACK): the builder only writes. Closed by the destructor.
class RoutingSocket {
 public:
  RoutingSocket() = default;
  ~RoutingSocket();
  RoutingSocket(const RoutingSocket&) = delete;
  RoutingSocket& operator=(const RoutingSocket&) = delete;

  // us_open("/dev/rts"): 0 or the errno.
  int Open();
  // Writes RouteAddMessage: 0, or the errno the routing socket answered (EEXIST, ENETUNREACH ...).
  int Add(const Cidr& destination, uint32_t gateway);

 private:
  int fd_ = -1;
  int seq_ = 0;
};

}  // namespace ustreams::config
