#include "modules/udp/datagram.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace ustreams::dgram {

sockaddr_in MakeSockaddr(uint32_t addr, uint16_t port) {
  sockaddr_in sin;
  std::memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(addr);
  return sin;
}

const OptionDesc* FindOption(std::span<const OptionDesc> options, int level, int name) {
  for (const OptionDesc& d : options) {
    if (d.level == level && d.name == name) return &d;
  }
  return nullptr;
}

int GetSocketOption(const SocketOptions& o, std::span<const OptionDesc> supported, int level,
                    int name, int* value) {
  const OptionDesc* d = FindOption(supported, level, name);
  if (d == nullptr) return ENOPROTOOPT;
  if (d->read_only) {
    *value = d->default_value;
    return 0;
  }
  switch (level) {
    case SOL_SOCKET:
      switch (name) {
        case SO_BROADCAST:
          *value = o.broadcast;
          return 0;
        case SO_REUSEADDR:
          *value = o.reuse_addr;
          return 0;
        case SO_DONTROUTE:
          *value = o.dont_route;
          return 0;
        case SO_SNDBUF:
          *value = o.sndbuf;
          return 0;
        case SO_RCVBUF:
          *value = o.rcvbuf;
          return 0;
      }
      break;
    case IPPROTO_IP:
      switch (name) {
        case IP_TTL:
          *value = o.ttl;
          return 0;
        case IP_TOS:
          *value = o.tos;
          return 0;
      }
      break;
  }
  return ENOPROTOOPT;
}

int SetSocketOption(SocketOptions* o, std::span<const OptionDesc> supported, int level, int name,
                    int value, bool check_only) {
  const OptionDesc* d = FindOption(supported, level, name);
  if (d == nullptr) return ENOPROTOOPT;
  if (d->read_only) return EACCES;
  SocketOptions n = *o;
  switch (level) {
    case SOL_SOCKET:
      switch (name) {
        case SO_BROADCAST:
          n.broadcast = value != 0;
          break;
        case SO_REUSEADDR:
          n.reuse_addr = value != 0;
          break;
        case SO_DONTROUTE:
          n.dont_route = value != 0;
          break;
        case SO_SNDBUF:
        case SO_RCVBUF:
          if (value <= 0) return EINVAL;
          if (value > kMaxSocketBuffer) return ENOBUFS;
          (name == SO_SNDBUF ? n.sndbuf : n.rcvbuf) = value;
          break;
        default:
          return ENOPROTOOPT;
      }
      break;
    case IPPROTO_IP:
      switch (name) {
        case IP_TTL:
          // Linux: -1 restores the default; 0 and values above 255 are invalid.
          if (value == -1) value = SocketOptions{}.ttl;
          if (value < 1 || value > 255) return EINVAL;
          n.ttl = value;
          break;
        case IP_TOS:
          if (value < 0 || value > 255) return EINVAL;
          n.tos = value;
          break;
        default:
          return ENOPROTOOPT;
      }
      break;
    default:
      return ENOPROTOOPT;
  }
  if (!check_only) *o = n;
  return 0;
}

int SetSocketOptionAndTell(std::mutex& mu, SocketOptions* o, std::span<const OptionDesc> supported,
                           int level, int name, int value, bool check_only, UpcallGate& gate) {
  int rcvbuf;
  {
    std::lock_guard<std::mutex> l(mu);
    const int old_rcvbuf = o->rcvbuf;
    if (int err = SetSocketOption(o, supported, level, name, value, check_only); err != 0) {
      return err;
    }
    if (o->rcvbuf == old_rcvbuf) return 0;
    rcvbuf = o->rcvbuf;
  }
  UpcallGate::Upcall up(gate);
  if (up.upper() != nullptr) up.upper()->SetReceiveBuffer(static_cast<size_t>(rcvbuf));
  return 0;
}

}  // namespace ustreams::dgram
