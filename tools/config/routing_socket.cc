#include "tools/config/routing_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "modules/ip/route.h"
#include "modules/rts/rtmsg.h"
#include "streams/stropts.h"

namespace ustreams::config {
namespace {

void AppendInet(std::string* out, uint32_t addr) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(addr);
  std::string space(RT_ROUNDUP(sizeof(sin)), '\0');
  std::memcpy(space.data(), &sin, sizeof(sin));
  *out += space;
}

}  // namespace

std::string RouteAddMessage(const Cidr& destination, uint32_t gateway, int seq) {
  std::string addrs;
  AppendInet(&addrs, destination.network());
  AppendInet(&addrs, gateway);
  AppendInet(&addrs, destination.mask());
  rt_msghdr h{};
  h.rtm_msglen = static_cast<uint16_t>(sizeof(h) + addrs.size());
  h.rtm_version = RTM_VERSION;
  h.rtm_type = RTM_ADD;
  h.rtm_flags = static_cast<int>(ip::RTF_UP | ip::RTF_GATEWAY | ip::RTF_STATIC |
                                 (destination.len == 32 ? ip::RTF_HOST : 0u));
  h.rtm_addrs = RTA_DST | RTA_GATEWAY | RTA_NETMASK;
  h.rtm_pid = getpid();
  h.rtm_seq = seq;
  return std::string(reinterpret_cast<const char*>(&h), sizeof(h)) + addrs;
}

RoutingSocket::~RoutingSocket() {
  if (fd_ >= 0) us_close(fd_);
}

int RoutingSocket::Open() {
  fd_ = us_open("/dev/rts", O_RDWR);
  if (fd_ < 0) return errno;
  // Nobody reads this socket: its own echoes would only pile up until it is closed.
  int32_t off = 0;
  strioctl s{RTS_IOC_USELOOPBACK, 0, sizeof(off), reinterpret_cast<char*>(&off)};
  (void)us_ioctl(fd_, I_STR, &s);
  return 0;
}

int RoutingSocket::Add(const Cidr& destination, uint32_t gateway) {
  std::string m = RouteAddMessage(destination, gateway, ++seq_);
  ssize_t n = us_write(fd_, m.data(), m.size());
  if (n < 0) return errno;
  return static_cast<size_t>(n) == m.size() ? 0 : EIO;
}

}  // namespace ustreams::config
