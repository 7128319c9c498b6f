// Routing sockets (RTS): the "rts" clone driver above IP, speaking the illumos/BSD routing
// messages of rtmsg.h.
//
// Theory of operation
// -------------------
// At open an rts stream sends M_SETOPTS with SO_REPLY up: from then on every write() blocks until
// the driver answers it with mreply(), and returns that answer, 0 or the errno (the PSARC SO_REPLY
// case, ../shared/reference/psarc-so_reply.txt). Routing requests travel only as M_DATA; a
// putmsg() with a control part gets T_ERROR_ACK (TNOTSUPPORT) except T_INFO_REQ (T_INFO_ACK with a
// TSDU size of 0, telling a socket layer to send M_DATA only, as illumos' rts does).
//
// A request (RTM_ADD, RTM_DELETE, RTM_CHANGE, RTM_GET) is checked in illumos' order
// (ip_rts_request_common): shorter than rt_msghdr, EINVAL and nothing echoed; rtm_msglen not the
// length written, EINVAL; rtm_version, EPROTONOSUPPORT; an address that does not fit or has a
// family routing sockets do not carry, EINVAL; no RTA_DST, EINVAL; a destination family other
// than AF_INET: ESRCH for ADD/DELETE, EAFNOSUPPORT for GET/CHANGE, EOPNOTSUPP otherwise; RTA_IFP
// naming no interface, EINVAL; ADD or DELETE without RTA_GATEWAY, EINVAL; RTA_SRC on GET or
// CHANGE, EOPNOTSUPP; a netmask that is not contiguous or has the destination's host bits set,
// or an rmx_mtu (RTV_MTU) below 68, EINVAL; then the table's answers: EEXIST (ADD of an existing prefix), ESRCH (DELETE, GET,
// CHANGE of a missing one; a DELETE whose gateway differs), ENETUNREACH (a gateway no interface
// reaches; without RTF_GATEWAY, a "gateway" that is not one of the stack's addresses, as
// route add -interface wants), ENOBUFS (no memory). Any other rtm_type: EOPNOTSUPP.
// Every caller is privileged (there is no EPERM: the library has no credentials to check).
//
// Every request with a whole header, failed or not, is then echoed to every routing socket:
// the request as written with rtm_pid set to the writer's process, and rtm_errno set on failure
// or RTF_DONE added on success; for RTM_GET the echo is the reply, which carries the route
// found (RTA_DST, RTA_GATEWAY, RTA_NETMASK, and RTA_IFP with RTA_IFA when the request asked for
// either; rtm_index, rtm_flags, rmx_mtu). The writer reads its own echo unless it turned
// SO_USELOOPBACK off (the RTS_IOC_USELOOPBACK ioctl). The echo is queued to every reader
// before the writer's write() returns.
//
// Changes nobody asked through a routing socket (IP's interface routes as addresses and
// interfaces come and go, the Stack API) reach every routing socket as RTM_ADD, RTM_DELETE or
// RTM_CHANGE with rtm_pid 0; IP's events as RTM_NEWADDR / RTM_DELADDR (ifa_msghdr with RTA_IFA,
// RTA_NETMASK, RTA_IFP and RTA_BRD), RTM_IFINFO (if_msghdr with RTA_IFP) and RTM_MISS (a
// destination IP found no route for). A reader whose stream is full misses messages (counted).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/status/statusor.h"
#include "modules/ip/ip.h"
#include "streams/domain.h"
#include "streams/queue.h"

namespace ustreams::rts {

struct RtsStats {
  uint64_t requests = 0;        // M_DATA writes answered
  uint64_t request_errors = 0;  // answered with an errno
  uint64_t messages_out = 0;    // messages queued to readers (echoes and notifications)
  uint64_t reader_drops = 0;    // not queued: the reader's stream was full, or no memory
};

class RtsEndpoint;

class RtsModule {
 public:
  explicit RtsModule(ip::Ip& ip);
  ~RtsModule();
  RtsModule(const RtsModule&) = delete;
  RtsModule& operator=(const RtsModule&) = delete;

  static RtsModule* Of(queue_t* q);

  // The driver's entry points.
  void Attach(RtsEndpoint* ep);
  void Detach(RtsEndpoint* ep);
  // Processes one written request (consumed). Returns the errno for mreply().
  int Request(RtsEndpoint* writer, MsgPtr msg);

  RtsStats stats() const;
  ip::Ip& ip() { return ip_; }

 private:
  // Queues a copy of msg to every endpoint (the writer only if it wants its own echoes).
  void Broadcast(const mblk_t* msg, const RtsEndpoint* writer);
  void OnRouteChange(const ip::RouteChange& c);
  void OnIpEvent(const ip::IpEvent& e);

  ip::Ip& ip_;
  uint64_t route_sub_ = 0;
  uint64_t event_sub_ = 0;
  // The endpoints. Messages are queued to them without it (a putnext into another stream may
  // wait for that stream's plumbing); Detach waits until none is on its way.
  mutable std::mutex mu_;
  std::condition_variable delivered_;
  std::vector<RtsEndpoint*> endpoints_;
  std::atomic<uint64_t> requests_{0}, request_errors_{0}, messages_out_{0}, reader_drops_{0};
};

// One open rts stream.
class RtsEndpoint {
 public:
  explicit RtsEndpoint(queue_t* rq) : rq_(rq) {}
  queue_t* rq() const { return rq_; }
  std::atomic<bool> use_loopback{true};  // SO_USELOOPBACK

 private:
  friend class RtsModule;
  queue_t* rq_;
  int deliveries_ = 0;  // messages on their way to rq_ (guarded by the module's mu_)
};

// Registers the "rts" clone driver in d, for the routing table and events of ip. The caller
// keeps the module alive until after d's streams are closed.
absl::StatusOr<std::unique_ptr<RtsModule>> RegisterRts(Domain& d, ip::Ip& ip);

}  // namespace ustreams::rts
