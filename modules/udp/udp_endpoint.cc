#include "modules/udp/udp_endpoint.h"

#include <sys/socket.h>

#include <cerrno>
#include <utility>

#include "modules/ip/errno_status.h"
#include "modules/ip/ip.h"
#include "modules/ip/wire.h"
#include "modules/udp/udp.h"

namespace ustreams::udp {
namespace {

constexpr dgram::OptionDesc kOptions[] = {
    {SOL_SOCKET, SO_BROADCAST, 0},
    {SOL_SOCKET, SO_REUSEADDR, 0},
    {SOL_SOCKET, SO_DONTROUTE, 0},
    {SOL_SOCKET, SO_SNDBUF, dgram::SocketOptions{}.sndbuf},
    {SOL_SOCKET, SO_RCVBUF, dgram::SocketOptions{}.rcvbuf},
    {SOL_SOCKET, SO_TYPE, SOCK_DGRAM, /*read_only=*/true},
    {IPPROTO_IP, IP_TTL, dgram::SocketOptions{}.ttl},
    {IPPROTO_IP, IP_TOS, 0},
};
// IPPROTO_UDP is a level with no options here (UDP_CORK and friends are Linux's own).
constexpr int kLevels[] = {SOL_SOCKET, IPPROTO_IP, IPPROTO_UDP};

// The largest payload: 65535 less the IPv4 and UDP headers (T_INFO_ACK TSDU_size).
constexpr size_t kMaxPayload =
    ip::kIpv4MaxDatagram - ip::kIpv4MinHeaderLength - ip::kUdpHeaderLength;
constexpr uint32_t kLoopback = 0x7f000001;

}  // namespace

UdpEndpoint::UdpEndpoint(UdpModule& module) : module_(module) {
  module_.endpoints_.fetch_add(1, std::memory_order_relaxed);
}

UdpEndpoint::~UdpEndpoint() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (bound_) UnbindLocked();  // a face that never called Close()
  }
  module_.endpoints_.fetch_sub(1, std::memory_order_relaxed);
}

void UdpEndpoint::Attach(dgram::DatagramUpper* upper) { gate_.Attach(upper); }

void UdpEndpoint::Close() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (bound_) UnbindLocked();
  }
  gate_.Close();  // waits for an upcall in progress; none starts afterwards
}

absl::Status UdpEndpoint::BindLocked(uint32_t laddr, uint16_t lport) {
  if (laddr != 0 && !module_.ip().IsLocalAddress(laddr)) {
    return ip::ErrnoError(EADDRNOTAVAIL, "not an address of this stack");
  }
  absl::StatusOr<uint16_t> port = module_.ip().classifier().Bind(
      ip::kProtoUdp, laddr, lport, ip::BindOptions{.reuse_addr = opts_.reuse_addr}, this);
  if (!port.ok()) {
    const int err = ip::StatusErrno(port.status());
    // The classifier says EADDRNOTAVAIL when the ephemeral range is exhausted; datagram.h
    // reserves that errno for a foreign address.
    if (err == EADDRNOTAVAIL) return ip::ErrnoError(EAGAIN, "no ephemeral port left");
    return port.status();
  }
  bound_ = true;
  laddr_ = laddr;
  lport_ = *port;
  return absl::OkStatus();
}

void UdpEndpoint::UnbindLocked() {
  // Cannot fail: the entry was made by BindLocked and only this endpoint removes it.
  (void)module_.ip().classifier().Unbind(ip::FiveTuple{ip::kProtoUdp, laddr_, lport_, 0, 0}, this);
  bound_ = false;
  laddr_ = 0;
  lport_ = 0;
}

absl::StatusOr<sockaddr_in> UdpEndpoint::Bind(const sockaddr_in& addr) {
  if (addr.sin_family != AF_INET) return ip::ErrnoError(EAFNOSUPPORT, "not AF_INET");
  std::lock_guard<std::mutex> l(mu_);
  if (bound_) return ip::ErrnoError(EINVAL, "already bound");
  if (absl::Status s = BindLocked(dgram::AddrOf(addr), dgram::PortOf(addr)); !s.ok()) return s;
  return dgram::MakeSockaddr(laddr_, lport_);
}

absl::Status UdpEndpoint::Unbind() {
  std::lock_guard<std::mutex> l(mu_);
  if (!bound_) return ip::ErrnoError(EINVAL, "not bound");
  UnbindLocked();
  return absl::OkStatus();
}

std::optional<sockaddr_in> UdpEndpoint::LocalAddress() const {
  std::lock_guard<std::mutex> l(mu_);
  if (!bound_) return std::nullopt;
  return dgram::MakeSockaddr(laddr_, lport_);
}

dgram::SocketOptions UdpEndpoint::options() const {
  std::lock_guard<std::mutex> l(mu_);
  return opts_;
}

std::span<const dgram::OptionDesc> UdpEndpoint::Options() const { return kOptions; }
std::span<const int> UdpEndpoint::OptionLevels() const { return kLevels; }

int UdpEndpoint::GetOption(int level, int name, int* value) const {
  std::lock_guard<std::mutex> l(mu_);
  return dgram::GetSocketOption(opts_, kOptions, level, name, value);
}

int UdpEndpoint::SetOption(int level, int name, int value, bool check_only) {
  return dgram::SetSocketOptionAndTell(mu_, &opts_, kOptions, level, name, value, check_only,
                                       gate_);
}

MsgPtr UdpEndpoint::AddHeader(MsgPtr data, uint32_t src, uint16_t sport, uint32_t dst,
                              uint16_t dport) {
  uint8_t* h = ip::PrependHeader(data.get(), ip::kUdpHeaderLength);
  if (h == nullptr) {
    // No headroom (or a shared block): a block of its own, with room for IP and the link.
    MsgPtr hdr(allocb(ip::kIpHeadroom + ip::kUdpHeaderLength));
    if (!hdr) return hdr;
    hdr->b_rptr += ip::kIpHeadroom;
    hdr->b_wptr = hdr->b_rptr + ip::kUdpHeaderLength;
    hdr->b_cont = data.release();
    data = std::move(hdr);
    h = data->b_rptr;
  }
  ip::PacketView payload = ip::PacketView::OfChain(data.get()).Sub(ip::kUdpHeaderLength);
  if (ip::WriteUdp(sport, dport, src, dst, payload, std::span<uint8_t>(h, ip::kUdpHeaderLength)) ==
      0) {
    return MsgPtr();
  }
  return data;
}

int UdpEndpoint::SendTo(const sockaddr_in& to, MsgPtr data) {
  if (to.sin_family != AF_INET) return EAFNOSUPPORT;
  uint32_t dst = dgram::AddrOf(to);
  const uint16_t dport = dgram::PortOf(to);
  if (dst == 0) dst = kLoopback;  // illumos: the unspecified destination is this host
  if (dport == 0) return EADDRNOTAVAIL;
  if (!data || msgdsize(data.get()) > kMaxPayload) {
    UdpModule::Bump(module_.counters_.out_errors);
    return data ? EMSGSIZE : EINVAL;
  }
  uint32_t laddr;
  uint16_t lport;
  dgram::SocketOptions o;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!bound_) {
      // BSD and Linux bind an unbound endpoint to INADDR_ANY and an ephemeral port on send.
      if (absl::Status s = BindLocked(0, 0); !s.ok()) return ip::StatusErrno(s);
    }
    laddr = laddr_;
    lport = lport_;
    o = opts_;
  }
  ip::Ip& ip = module_.ip();
  uint32_t src = laddr;
  if (src == 0) {
    // The pseudo-header needs the source IP will put in the header.
    absl::StatusOr<uint32_t> chosen = ip.SourceFor(dst);
    if (!chosen.ok()) {
      UdpModule::Bump(module_.counters_.out_errors);
      return ip::StatusErrno(chosen.status());
    }
    src = *chosen;
  }
  MsgPtr dgram = AddHeader(std::move(data), src, lport, dst, dport);
  if (!dgram) {
    UdpModule::Bump(module_.counters_.out_errors);
    return ENOBUFS;
  }
  ip::SendArgs args;
  args.src = src;
  args.dst = dst;
  args.protocol = ip::kProtoUdp;
  args.ttl = static_cast<uint8_t>(o.ttl);
  args.tos = static_cast<uint8_t>(o.tos);
  args.broadcast = o.broadcast;
  args.dontroute = o.dont_route;
  const int err = ip.Send(args, std::move(dgram));
  UdpModule::Bump(err == 0 ? module_.counters_.out_datagrams : module_.counters_.out_errors);
  return err;
}

void UdpEndpoint::Deliver(uint32_t src, uint16_t sport, MsgPtr data) {
  dgram::UpcallGate::Upcall up(gate_);
  if (up.upper() == nullptr || !up.upper()->Deliver(dgram::MakeSockaddr(src, sport), std::move(data))) {
    UdpModule::Bump(module_.counters_.buffer_drops);
    return;
  }
  UdpModule::Bump(module_.counters_.in_datagrams);
}

void UdpEndpoint::DeliverError(uint32_t dst, uint16_t dport, int error) {
  dgram::UpcallGate::Upcall up(gate_);
  if (up.upper() != nullptr) up.upper()->DeliverError(dgram::MakeSockaddr(dst, dport), error);
}

}  // namespace ustreams::udp
