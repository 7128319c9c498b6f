#include "modules/icmp/icmp_endpoint.h"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "modules/icmp/icmp.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/wire.h"

namespace ustreams::icmp {
namespace {

constexpr dgram::OptionDesc kOptions[] = {
    {SOL_SOCKET, SO_BROADCAST, 0},
    {SOL_SOCKET, SO_DONTROUTE, 0},
    {SOL_SOCKET, SO_SNDBUF, dgram::SocketOptions{}.sndbuf},
    {SOL_SOCKET, SO_RCVBUF, dgram::SocketOptions{}.rcvbuf},
    {SOL_SOCKET, SO_TYPE, SOCK_RAW, /*read_only=*/true},
    {IPPROTO_IP, IP_TTL, dgram::SocketOptions{}.ttl},
    {IPPROTO_IP, IP_TOS, 0},
};
constexpr int kLevels[] = {SOL_SOCKET, IPPROTO_IP, IPPROTO_ICMP};

// The largest message: 65535 less the IPv4 header (illumos ICMP_MAXPACKET_IPV4).
constexpr size_t kMaxMessage = ip::kIpv4MaxDatagram - ip::kIpv4MinHeaderLength;
constexpr uint32_t kLoopback = 0x7f000001;

}  // namespace

IcmpEndpoint::IcmpEndpoint(IcmpModule& module) : module_(module) {}

IcmpEndpoint::~IcmpEndpoint() { module_.Remove(this); }

void IcmpEndpoint::Attach(dgram::DatagramUpper* upper) { gate_.Attach(upper); }

void IcmpEndpoint::Close() { gate_.Close(); }  // waits for an upcall in progress

absl::StatusOr<sockaddr_in> IcmpEndpoint::Bind(const sockaddr_in& addr) {
  if (addr.sin_family != AF_INET) return ip::ErrnoError(EAFNOSUPPORT, "not AF_INET");
  const uint32_t a = dgram::AddrOf(addr);
  std::lock_guard<std::mutex> l(mu_);
  if (bound_) return ip::ErrnoError(EINVAL, "already bound");
  if (a != 0 && !module_.ip().IsLocalAddress(a)) {
    return ip::ErrnoError(EADDRNOTAVAIL, "not an address of this stack");
  }
  bound_ = true;
  laddr_ = a;
  return dgram::MakeSockaddr(a, 0);
}

absl::Status IcmpEndpoint::Unbind() {
  std::lock_guard<std::mutex> l(mu_);
  if (!bound_) return ip::ErrnoError(EINVAL, "not bound");
  bound_ = false;
  laddr_ = 0;
  return absl::OkStatus();
}

std::optional<sockaddr_in> IcmpEndpoint::LocalAddress() const {
  std::lock_guard<std::mutex> l(mu_);
  if (!bound_) return std::nullopt;
  return dgram::MakeSockaddr(laddr_, 0);
}

std::span<const dgram::OptionDesc> IcmpEndpoint::Options() const { return kOptions; }
std::span<const int> IcmpEndpoint::OptionLevels() const { return kLevels; }

int IcmpEndpoint::GetOption(int level, int name, int* value) const {
  std::lock_guard<std::mutex> l(mu_);
  return dgram::GetSocketOption(opts_, kOptions, level, name, value);
}

int IcmpEndpoint::SetOption(int level, int name, int value, bool check_only) {
  return dgram::SetSocketOptionAndTell(mu_, &opts_, kOptions, level, name, value, check_only,
                                       gate_);
}

int IcmpEndpoint::SendTo(const sockaddr_in& to, MsgPtr data) {
  if (to.sin_family != AF_INET) return EAFNOSUPPORT;
  if (!data || msgdsize(data.get()) == 0) return EINVAL;
  if (msgdsize(data.get()) > kMaxMessage) {
    IcmpModule::Bump(module_.out_errors_);
    return EMSGSIZE;
  }
  ip::SendArgs args;
  {
    std::lock_guard<std::mutex> l(mu_);
    args.src = laddr_;
    args.ttl = static_cast<uint8_t>(opts_.ttl);
    args.tos = static_cast<uint8_t>(opts_.tos);
    args.broadcast = opts_.broadcast;
    args.dontroute = opts_.dont_route;
  }
  args.dst = dgram::AddrOf(to) != 0 ? dgram::AddrOf(to) : kLoopback;
  args.protocol = ip::kProtoIcmp;
  const int err = module_.ip().Send(args, std::move(data));
  IcmpModule::Bump(err == 0 ? module_.out_messages_ : module_.out_errors_);
  return err;
}

bool IcmpEndpoint::Wants(uint32_t dst) const {
  std::lock_guard<std::mutex> l(mu_);
  return !bound_ || laddr_ == 0 || laddr_ == dst;
}

void IcmpEndpoint::Deliver(uint32_t src, MsgPtr datagram) {
  dgram::UpcallGate::Upcall up(gate_);
  if (up.upper() == nullptr || !up.upper()->Deliver(dgram::MakeSockaddr(src, 0), std::move(datagram))) {
    IcmpModule::Bump(module_.buffer_drops_);
    return;
  }
  IcmpModule::Bump(module_.in_messages_);
}

}  // namespace ustreams::icmp
