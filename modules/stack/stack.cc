#include "modules/stack/stack.h"

#include <arpa/inet.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "drivers/loop/loop.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/ip_driver.h"
#include "modules/ip/ip_impl.h"
#include "modules/icmp/icmp.h"
#include "modules/ip/ip_ioctl.h"
#include "modules/rts/rts.h"
#include "modules/udp/udp.h"
#include "streams/drivers/standard.h"
#include "streams/stropts.h"

namespace ustreams {
namespace {

absl::Status Errno(int err, std::string_view what) {
  return ip::ErrnoError(err, absl::StrCat(std::string(what), ": ", std::strerror(err)));
}

// "a.b.c.d/len" (len 32 when absent) into host order.
absl::Status ParseCidr(std::string_view cidr, uint32_t* addr, int* len) {
  std::string s(cidr);
  *len = 32;
  if (size_t slash = s.find('/'); slash != std::string::npos) {
    if (!absl::SimpleAtoi(s.substr(slash + 1), len) || *len < 0 || *len > 32) {
      return ip::ErrnoError(EINVAL, absl::StrCat("bad prefix length in \"", std::string(cidr), "\""));
    }
    s.resize(slash);
  }
  in_addr a;
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
    return ip::ErrnoError(EINVAL, absl::StrCat("bad IPv4 address \"", std::string(cidr), "\""));
  }
  *addr = ntohl(a.s_addr);
  return absl::OkStatus();
}

int Istr(int fd, int cmd, void* arg, int len) {
  strioctl s{cmd, 0, len, static_cast<char*>(arg)};
  return us_ioctl(fd, I_STR, &s);
}

template <size_t N>
void CopyName(char (&dst)[N], std::string_view name) {
  std::memset(dst, 0, N);
  std::memcpy(dst, name.data(), std::min(name.size(), N - 1));
}

}  // namespace

struct Stack::Transports {
  std::unique_ptr<udp::UdpModule> udp;
  std::unique_ptr<icmp::IcmpModule> icmp;
  std::unique_ptr<rts::RtsModule> rts;
};

Stack::Stack() : Stack(Options{}) {}

Stack::Stack(Options options) : options_(options) {
  domain_ = std::make_unique<Domain>(
      Domain::Options{.deterministic = options.deterministic, .workers = options.workers});
  ip_ = std::make_unique<ip::Ip>(*domain_, options.ip);
  domain_->set_context(ip_.get());
  (void)RegisterStandard(*domain_);
  (void)ip::RegisterIpDriver(domain_->registry());
  transports_ = std::make_unique<Transports>();
  if (auto u = udp::RegisterUdp(*domain_, *ip_); u.ok()) transports_->udp = std::move(*u);
  if (auto i = icmp::RegisterIcmp(*domain_, *ip_); i.ok()) transports_->icmp = std::move(*i);
  if (auto r = rts::RegisterRts(*domain_, *ip_); r.ok()) transports_->rts = std::move(*r);
  DomainScope scope(domain_.get());
  ip_fd_ = us_open("/dev/ip", O_RDWR);
}

Stack::~Stack() {
  if (ip_fd_ >= 0) {
    DomainScope scope(domain_.get());
    us_close(ip_fd_);
  }
  ip_->impl().Stop();  // nothing more goes down a link or arms a timer
  domain_.reset();      // closes every stream, links included; stops the threads
  transports_.reset();
  ip_.reset();
}

udp::UdpModule* Stack::udp() { return transports_->udp.get(); }
icmp::IcmpModule* Stack::icmp() { return transports_->icmp.get(); }
rts::RtsModule* Stack::rts() { return transports_->rts.get(); }

absl::Status Stack::AttachLoopNetwork(LoopNetwork& net, std::string_view driver) {
  return RegisterLoopDriver(*domain_, net, driver);
}

absl::StatusOr<uint32_t> Stack::AddLoopInterface(std::string_view name, int ppa,
                                                 std::string_view cidr, std::string_view driver) {
  if (ip_fd_ < 0) return ip::ErrnoError(ENXIO, "the stack has no ip stream");
  uint32_t addr = 0;
  int len = 0;
  if (!cidr.empty()) {
    if (absl::Status s = ParseCidr(cidr, &addr, &len); !s.ok()) return s;
  }
  DomainScope scope(domain_.get());
  int link = us_open(absl::StrCat("/dev/", std::string(driver)).c_str(), O_RDWR);
  if (link < 0) return Errno(errno, absl::StrCat("open /dev/", std::string(driver)));
  int muxid = us_ioctl(ip_fd_, I_PLINK, link);
  int err = errno;
  us_close(link);
  if (muxid < 0) return Errno(err, "I_PLINK under ip");
  ip_plumb p{};
  CopyName(p.ifname, name);
  p.muxid = muxid;
  p.ppa = ppa;
  if (Istr(ip_fd_, IPIOC_PLUMB, &p, sizeof(p)) < 0) {
    err = errno;
    us_ioctl(ip_fd_, I_PUNLINK, muxid);
    return Errno(err, absl::StrCat("IPIOC_PLUMB ", std::string(name)));
  }
  if (!cidr.empty()) {
    ip_addrreq a{};
    CopyName(a.ifname, name);
    a.addr = htonl(addr);
    a.prefixlen = len;
    if (Istr(ip_fd_, IPIOC_ADDADDR, &a, sizeof(a)) < 0) {
      return Errno(errno, absl::StrCat("IPIOC_ADDADDR ", std::string(cidr)));
    }
  }
  ip_ifreq f{};
  CopyName(f.ifname, name);
  f.flags = IPIF_UP;
  if (Istr(ip_fd_, IPIOC_SETFLAGS, &f, sizeof(f)) < 0) {
    return Errno(errno, absl::StrCat("IPIOC_SETFLAGS ", std::string(name)));
  }
  return p.ifindex;
}

absl::Status Stack::AddAddress(std::string_view ifname, std::string_view cidr) {
  uint32_t addr;
  int len;
  if (absl::Status s = ParseCidr(cidr, &addr, &len); !s.ok()) return s;
  DomainScope scope(domain_.get());
  ip_addrreq a{};
  CopyName(a.ifname, ifname);
  a.addr = htonl(addr);
  a.prefixlen = len;
  if (Istr(ip_fd_, IPIOC_ADDADDR, &a, sizeof(a)) < 0) {
    return Errno(errno, absl::StrCat("IPIOC_ADDADDR ", std::string(cidr)));
  }
  return absl::OkStatus();
}

absl::Status Stack::AddRoute(std::string_view cidr, std::string_view gateway) {
  uint32_t dst, gw;
  int len, gwlen;
  if (absl::Status s = ParseCidr(cidr, &dst, &len); !s.ok()) return s;
  if (absl::Status s = ParseCidr(gateway, &gw, &gwlen); !s.ok()) return s;
  // The gateway must be on a subnet of an interface (illumos: ENETUNREACH).
  std::optional<ip::Route> via = ip_->routes().Lookup(gw);
  if (!via || via->gateway != 0) {
    return ip::ErrnoError(ENETUNREACH, absl::StrCat("gateway ", std::string(gateway), " is not on-link"));
  }
  ip::Route r;
  r.dst = dst;
  r.prefix_len = static_cast<uint8_t>(len);
  r.gateway = gw;
  r.ifindex = via->ifindex;
  r.flags = ip::RTF_UP | ip::RTF_GATEWAY | ip::RTF_STATIC | (len == 32 ? ip::RTF_HOST : 0u);
  return ip_->routes().Add(r);
}

absl::Status Stack::DeleteRoute(std::string_view cidr) {
  uint32_t dst;
  int len;
  if (absl::Status s = ParseCidr(cidr, &dst, &len); !s.ok()) return s;
  return ip_->routes().Delete(dst, len);
}

}  // namespace ustreams
