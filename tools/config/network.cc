// Build(): a validated Config into a LoopNetwork and Stacks (network.h has the order of steps).
#include "tools/config/network.h"

#include <arpa/inet.h>
#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/ip_ioctl.h"
#include "modules/pcap/pcap.h"
#include "modules/trace/trace.h"
#include "streams/drivers/sad.h"
#include "streams/stropts.h"
#include "tools/config/routing_socket.h"

namespace ustreams::config {
namespace {

// "FILE:LINE: what: strerror" with err as the status's errno. Callers pass errno by value,
// read before anything that could change it.
absl::Status Failed(const Config& c, int line, const std::string& what, int err) {
  return ip::ErrnoError(err, absl::StrCat(c.Where(line), what, ": ", std::strerror(err)));
}

int Istr(int fd, int cmd, void* arg, int len) {
  strioctl s{cmd, 0, len, static_cast<char*>(arg)};
  return us_ioctl(fd, I_STR, &s) < 0 ? errno : 0;
}

template <size_t N>
void CopyName(char (&dst)[N], std::string_view name) {
  std::memset(dst, 0, N);
  std::memcpy(dst, name.data(), std::min(name.size(), N - 1));
}

std::string Ctx(const StackSpec& s) { return absl::StrCat("stack \"", s.name, "\""); }
std::string Ctx(const StackSpec& s, const InterfaceSpec& i) {
  return absl::StrCat(Ctx(s), " interface \"", i.name, "\"");
}

// The autopush entries of one stack, through sad(4D).
absl::Status SetAutopush(const Config& c, const StackSpec& spec, Stack& stack) {
  if (spec.autopush.empty()) return absl::OkStatus();
  int fd = us_open(ADMINDEV, O_RDWR);
  if (fd < 0) {
    int err = errno;
    return Failed(c, spec.autopush.front().line, Ctx(spec) + ": open " ADMINDEV, err);
  }
  absl::Status status;
  for (const AutopushSpec& a : spec.autopush) {
    const fmodsw* drv = stack.domain().registry().FindDriver(a.driver);
    if (drv == nullptr) {
      status = Failed(c, a.line, absl::StrCat(Ctx(spec), " autopush \"", a.driver, "\""), ENODEV);
      break;
    }
    strapush sap{};
    sap.sap_cmd = a.cmd;
    sap.sap_major = static_cast<unsigned int>(drv->major);
    sap.sap_minor = static_cast<unsigned int>(a.minor);
    sap.sap_lastminor = static_cast<unsigned int>(a.last_minor);
    sap.sap_npush = static_cast<unsigned int>(a.modules.size());
    for (size_t i = 0; i < a.modules.size(); i++) CopyName(sap.sap_list[i], a.modules[i]);
    sap.sap_anchor = static_cast<unsigned int>(a.anchor);
    if (us_ioctl(fd, SAD_SAP, &sap) < 0) {
      int err = errno;
      status =
          Failed(c, a.line, absl::StrCat(Ctx(spec), " autopush \"", a.driver, "\": SAD_SAP"), err);
      break;
    }
  }
  us_close(fd);
  return status;
}

// Pushes one module on the link stream and configures it.
absl::Status PushModule(const Config& c, const std::string& ctx, int fd, const PushSpec& p) {
  if (us_ioctl(fd, I_PUSH, p.module.c_str()) < 0) {
    int err = errno;
    return Failed(c, p.line, absl::StrCat(ctx, ": I_PUSH ", p.module), err);
  }
  if (!p.pcap_file.empty()) {
    std::string path = p.pcap_file;
    if (int e = Istr(fd, PCAP_IOC_OPEN, path.data(), static_cast<int>(path.size() + 1)); e != 0) {
      return Failed(c, p.line, absl::StrCat(ctx, ": pcap capture \"", path, "\""), e);
    }
  }
  if (p.trace_log) {
    int on = 1;
    if (int e = Istr(fd, TRACE_IOC_LOG, &on, sizeof(on)); e != 0) {
      return Failed(c, p.line, absl::StrCat(ctx, ": TRACE_IOC_LOG"), e);
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> ListStream(int fd) {
  int n = us_ioctl(fd, I_LIST, nullptr);
  if (n <= 0) return {};
  std::vector<str_mlist> names(static_cast<size_t>(n));
  str_list sl{n, names.data()};
  if (us_ioctl(fd, I_LIST, &sl) < 0) return {};
  std::vector<std::string> out;
  for (int i = 0; i < sl.sl_nmods; i++) out.emplace_back(names[i].l_name);
  return out;
}

// One interface: Stack::AddLoopInterface's sequence, with the modules pushed before linking.
absl::Status AddInterface(const Config& c, const StackSpec& spec, const InterfaceSpec& is, int port,
                          Network::StackState& st) {
  const std::string ctx = Ctx(spec, is);
  int link = us_open("/dev/loop", O_RDWR);
  if (link < 0) {
    int err = errno;
    return Failed(c, is.line, ctx + ": open /dev/loop", err);
  }
  for (const PushSpec& p : is.push) {
    if (absl::Status s = PushModule(c, ctx, link, p); !s.ok()) {
      us_close(link);
      return s;
    }
  }
  Network::LinkStream ls;
  ls.ifname = is.name;
  ls.port = port;
  ls.modules = ListStream(link);
  ls.muxid = us_ioctl(st.ip_fd, I_PLINK, link);
  int err = errno;
  us_close(link);
  if (ls.muxid < 0) return Failed(c, is.line, ctx + ": I_PLINK under ip", err);
  ip_plumb p{};
  CopyName(p.ifname, is.name);
  p.muxid = ls.muxid;
  p.ppa = port;
  if (int e = Istr(st.ip_fd, IPIOC_PLUMB, &p, sizeof(p)); e != 0) {
    us_ioctl(st.ip_fd, I_PUNLINK, ls.muxid);
    return Failed(c, is.line, ctx + ": IPIOC_PLUMB", e);
  }
  ls.ifindex = p.ifindex;
  st.links.push_back(ls);
  for (size_t k = 0; k < is.addresses.size(); k++) {
    ip_addrreq a{};
    CopyName(a.ifname, is.name);
    a.addr = htonl(is.addresses[k].addr);
    a.prefixlen = is.addresses[k].len;
    if (int e = Istr(st.ip_fd, IPIOC_ADDADDR, &a, sizeof(a)); e != 0) {
      return Failed(c, is.address_lines[k],
                    absl::StrCat(ctx, ": address ", is.addresses[k].ToString()), e);
    }
  }
  if (is.mtu != 0) {
    ip_ifreq f{};
    CopyName(f.ifname, is.name);
    f.mtu = is.mtu;
    if (int e = Istr(st.ip_fd, IPIOC_SETMTU, &f, sizeof(f)); e != 0) {
      return Failed(c, is.line, absl::StrCat(ctx, ": mtu ", is.mtu), e);
    }
  }
  ip_ifreq f{};
  CopyName(f.ifname, is.name);
  f.flags = IPIF_UP;
  if (int e = Istr(st.ip_fd, IPIOC_SETFLAGS, &f, sizeof(f)); e != 0) {
    return Failed(c, is.line, ctx + ": IPIOC_SETFLAGS up", e);
  }
  return absl::OkStatus();
}

absl::Status AddRoutes(const Config& c, const StackSpec& spec) {
  if (spec.routes.empty()) return absl::OkStatus();
  RoutingSocket rts;
  if (int e = rts.Open(); e != 0) {
    return Failed(c, spec.routes.front().line, Ctx(spec) + ": open /dev/rts", e);
  }
  for (const RouteSpec& r : spec.routes) {
    if (int e = rts.Add(r.destination, r.gateway); e != 0) {
      return Failed(c, r.line,
                    absl::StrCat(Ctx(spec), " route ", r.destination.ToString(), " via ",
                                 FormatAddress(r.gateway), ": the routing socket refused it"),
                    e);
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> ListModules(int fd) { return ListStream(fd); }

Network::~Network() {
  for (StackState& s : stacks_) {
    if (s.ip_fd >= 0) {
      DomainScope scope(&s.stack->domain());
      us_close(s.ip_fd);
    }
  }
  clock_.reset();
  stacks_.clear();
  loop_.reset();
}

Stack* Network::stack(std::string_view name) {
  for (StackState& s : stacks_) {
    if (s.name == name) return s.stack.get();
  }
  return nullptr;
}

const Network::StackState* Network::state(std::string_view name) const {
  for (const StackState& s : stacks_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool Network::Run() { return clock_ == nullptr || clock_->RunUntilIdle(); }

void Network::Advance(absl::Duration d) {
  if (clock_ != nullptr) clock_->AdvanceBy(d);
}

absl::StatusOr<std::unique_ptr<Network>> Build(const Config& c, BuildOptions options) {
  std::unique_ptr<Network> n(new Network(c));
  // 1. Links.
  n->loop_ = std::make_unique<LoopNetwork>(LoopNetwork::Options{.seed = c.seed, .mtu = c.mtu});
  for (size_t i = 0; i < c.links.size(); i++) {
    const LinkSpec& l = c.links[i];
    std::vector<int> ports;
    switch (l.kind) {
      case LinkKind::kWire: {
        auto [a, b] = n->loop_->AddWire();
        ports = {a, b};
        break;
      }
      case LinkKind::kHub:
        ports = n->loop_->AddHub(l.ports);
        break;
      case LinkKind::kSwitch:
        ports = n->loop_->AddSwitch(l.ports);
        break;
    }
    for (size_t k = 0; k < ports.size(); k++) {
      n->ports_.resize(std::max(n->ports_.size(), static_cast<size_t>(ports[k] + 1)));
      n->ports_[ports[k]] = {i, static_cast<int>(k), "", ""};
      if (l.mtu != 0) {
        if (absl::Status s = n->loop_->SetMtu(ports[k], l.mtu); !s.ok()) {
          return ip::ErrnoError(
              EINVAL, absl::StrCat(c.Where(l.line), "link \"", l.name, "\": ", s.message()));
        }
      }
      if (l.impair) {
        if (absl::Status s = n->loop_->SetImpairments(ports[k], LinkDir::kOut, *l.impair);
            !s.ok()) {
          return ip::ErrnoError(EINVAL, absl::StrCat(c.Where(l.line), "link \"", l.name,
                                                     "\": impair: ", s.message()));
        }
      }
    }
    n->link_ports_.push_back(std::move(ports));
  }
  // 2. Stacks.
  for (const StackSpec& spec : c.stacks) {
    Network::StackState st;
    st.name = spec.name;
    st.stack = std::make_unique<Stack>(Stack::Options{
        .deterministic = options.deterministic, .workers = options.workers, .ip = spec.ip});
    if (absl::Status s = st.stack->AttachLoopNetwork(*n->loop_); !s.ok()) {
      return ip::ErrnoError(ip::StatusErrno(s),
                            absl::StrCat(c.Where(spec.line), Ctx(spec), ": ", s.message()));
    }
    n->stacks_.push_back(std::move(st));
  }
  if (options.deterministic && !n->stacks_.empty()) {
    std::vector<Scheduler*> schedulers;
    for (Network::StackState& st : n->stacks_) schedulers.push_back(&st.stack->scheduler());
    n->clock_ = std::make_unique<Lockstep>(schedulers);
  }
  // 3. Autopush, the ip stream, the interfaces.
  for (size_t si = 0; si < c.stacks.size(); si++) {
    const StackSpec& spec = c.stacks[si];
    Network::StackState& st = n->stacks_[si];
    DomainScope scope(&st.stack->domain());
    if (absl::Status s = SetAutopush(c, spec, *st.stack); !s.ok()) return s;
    st.ip_fd = us_open("/dev/ip", O_RDWR);
    if (st.ip_fd < 0) {
      int err = errno;
      return Failed(c, spec.line, Ctx(spec) + ": open /dev/ip", err);
    }
    for (const InterfaceSpec& is : spec.interfaces) {
      int port = n->link_ports_[is.link][is.port];
      n->ports_[port].stack = spec.name;
      n->ports_[port].ifname = is.name;
      if (absl::Status s = AddInterface(c, spec, is, port, st); !s.ok()) return s;
    }
  }
  // 4. Routes, once every interface of every stack is up.
  for (size_t si = 0; si < c.stacks.size(); si++) {
    DomainScope scope(&n->stacks_[si].stack->domain());
    if (absl::Status s = AddRoutes(c, c.stacks[si]); !s.ok()) return s;
  }
  if (!n->Run()) return absl::InternalError("the network did not settle after it was built");
  return n;
}

}  // namespace ustreams::config
