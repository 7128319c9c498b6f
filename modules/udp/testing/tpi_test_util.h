// Test helpers for the datagram transports (udp, icmp): TPI conversations through the C API, as an
// application holds them (us_putmsg / us_getmsg / us_poll), and stacks over loop wires.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "drivers/loop/lockstep.h"
#include "drivers/loop/loop.h"
#include "gtest/gtest.h"
#include "modules/icmp/icmp.h"
#include "modules/ip/ip.h"
#include "modules/stack/stack.h"
#include "modules/udp/tpi_util.h"
#include "modules/udp/udp.h"
#include "streams/alloc.h"
#include "streams/file.h"
#include "streams/stropts.h"
#include "streams/tihdr.h"

namespace ustreams::tpi_testing {

inline sockaddr_in Sin(const char* addr, uint16_t port) {
  sockaddr_in s;
  std::memset(&s, 0, sizeof(s));
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, addr, &s.sin_addr), 1) << addr;
  return s;
}
inline std::string AddrString(const sockaddr_in& s) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &s.sin_addr, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(ntohs(s.sin_port));
}

template <typename T>
std::string Bytes(const T& t) {
  return std::string(reinterpret_cast<const char*>(&t), sizeof(T));
}
inline void Pad4(std::string* s) { s->resize(tpi::Align4(s->size()), '\0'); }

// One message read with getmsg.
struct Msg {
  int rc = -1;
  int err = 0;  // errno when rc < 0 (ETIME: nothing came in time)
  int flags = 0;
  bool has_ctl = false, has_data = false;
  std::string ctl, data;

  t_scalar_t prim() const {
    t_scalar_t p = -1;
    if (ctl.size() >= sizeof(p)) std::memcpy(&p, ctl.data(), sizeof(p));
    return p;
  }
  template <typename T>
  T As() const {
    T t{};
    std::memcpy(&t, ctl.data(), std::min(sizeof(T), ctl.size()));
    return t;
  }
  // Bytes of the control part at (off, len), "" if outside.
  std::string At(t_scalar_t off, t_scalar_t len) const {
    if (off < 0 || len < 0 || static_cast<size_t>(off) > ctl.size() ||
        static_cast<size_t>(len) > ctl.size() - static_cast<size_t>(off)) {
      return "";
    }
    return ctl.substr(static_cast<size_t>(off), static_cast<size_t>(len));
  }
  std::optional<sockaddr_in> Addr(t_scalar_t off, t_scalar_t len) const {
    std::string b = At(off, len);
    if (b.size() != sizeof(sockaddr_in)) return std::nullopt;
    sockaddr_in s;
    std::memcpy(&s, b.data(), sizeof(s));
    return s;
  }
};

// putmsg with a control part and (when data is set) a data part.
inline int Put(int fd, const std::string& ctl, const std::string* data = nullptr, int flags = 0) {
  strbuf c{0, static_cast<int>(ctl.size()), const_cast<char*>(ctl.data())};
  strbuf d{0, data ? static_cast<int>(data->size()) : -1,
           data ? const_cast<char*>(data->data()) : nullptr};
  return us_putmsg(fd, &c, data ? &d : nullptr, flags);
}

// getmsg, waiting up to timeout_ms (0: only what is there now).
inline Msg Get(int fd, int timeout_ms = 0) {
  Msg m;
  pollfd p{fd, POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND, 0};
  int n = us_poll(&p, 1, timeout_ms);
  if (n <= 0) {
    m.err = n == 0 ? ETIME : errno;
    return m;
  }
  std::vector<char> cb(70000), db(70000);
  strbuf c{static_cast<int>(cb.size()), 0, cb.data()};
  strbuf d{static_cast<int>(db.size()), 0, db.data()};
  m.rc = us_getmsg(fd, &c, &d, &m.flags);
  if (m.rc < 0) {
    m.err = errno;
    return m;
  }
  m.has_ctl = c.len >= 0;
  m.has_data = d.len >= 0;
  if (c.len > 0) m.ctl.assign(cb.data(), static_cast<size_t>(c.len));
  if (d.len > 0) m.data.assign(db.data(), static_cast<size_t>(d.len));
  return m;
}

// ---- requests ----

inline std::string InfoReq() { return Bytes(T_info_req{T_INFO_REQ}); }
inline std::string AddrReq() { return Bytes(T_addr_req{T_ADDR_REQ}); }
inline std::string UnbindReq() { return Bytes(T_unbind_req{T_UNBIND_REQ}); }
// A bind request for addr (nullopt: ADDR_length 0).
inline std::string BindReq(std::optional<sockaddr_in> addr, t_scalar_t prim = T_BIND_REQ) {
  T_bind_req r{prim, 0, 0, 0};
  if (addr) {
    r.ADDR_length = sizeof(sockaddr_in);
    r.ADDR_offset = sizeof(T_bind_req);
  }
  std::string s = Bytes(r);
  if (addr) s += Bytes(*addr);
  return s;
}
inline std::string UnitdataReq(const sockaddr_in& dst) {
  T_unitdata_req r{T_UNITDATA_REQ, sizeof(sockaddr_in), sizeof(T_unitdata_req), 0, 0};
  return Bytes(r) + Bytes(dst);
}

struct Opt {
  int level, name, value;
};
// T_SVR4_OPTMGMT_REQ with struct opthdr entries.
inline std::string Svr4OptReq(t_scalar_t flags, const std::vector<Opt>& opts) {
  std::string body;
  for (const Opt& o : opts) {
    body += Bytes(
        opthdr{static_cast<t_uscalar_t>(o.level), static_cast<t_uscalar_t>(o.name), sizeof(int)});
    body += Bytes(o.value);
  }
  T_optmgmt_req r{T_SVR4_OPTMGMT_REQ, static_cast<t_scalar_t>(body.size()), sizeof(T_optmgmt_req),
                  flags};
  return Bytes(r) + body;
}
// T_OPTMGMT_REQ with T_opthdr entries; with_value false sends headers only.
inline std::string XtiOptReq(t_scalar_t flags, const std::vector<Opt>& opts,
                             bool with_value = true) {
  std::string body;
  for (const Opt& o : opts) {
    T_opthdr h{static_cast<t_uscalar_t>(sizeof(T_opthdr) + (with_value ? sizeof(int) : 0)),
               static_cast<t_uscalar_t>(o.level), static_cast<t_uscalar_t>(o.name), 0};
    body += Bytes(h);
    if (with_value) body += Bytes(o.value);
  }
  T_optmgmt_req r{T_OPTMGMT_REQ, static_cast<t_scalar_t>(body.size()), sizeof(T_optmgmt_req),
                  flags};
  return Bytes(r) + body;
}

// The options of a T_OPTMGMT_ACK: (level, name, value) for SVR4 acks.
inline std::vector<Opt> Svr4Opts(const Msg& m) {
  std::vector<Opt> out;
  T_optmgmt_ack a = m.As<T_optmgmt_ack>();
  std::string b = m.At(a.OPT_offset, a.OPT_length);
  for (size_t off = 0; off + sizeof(opthdr) <= b.size();) {
    opthdr h;
    std::memcpy(&h, b.data() + off, sizeof(h));
    int v = 0;
    if (h.len >= sizeof(int) && off + sizeof(h) + sizeof(int) <= b.size()) {
      std::memcpy(&v, b.data() + off + sizeof(h), sizeof(int));
    }
    out.push_back(Opt{static_cast<int>(h.level), static_cast<int>(h.name), v});
    off += sizeof(h) + tpi::Align4(h.len);
  }
  return out;
}
struct XtiOpt {
  T_opthdr h;
  int value;  // 0 when there is none
};
inline std::vector<XtiOpt> XtiOpts(const Msg& m) {
  std::vector<XtiOpt> out;
  T_optmgmt_ack a = m.As<T_optmgmt_ack>();
  std::string b = m.At(a.OPT_offset, a.OPT_length);
  for (size_t off = 0; off + sizeof(T_opthdr) <= b.size();) {
    XtiOpt o{};
    std::memcpy(&o.h, b.data() + off, sizeof(T_opthdr));
    if (o.h.len >= sizeof(T_opthdr) + sizeof(int) && off + o.h.len <= b.size()) {
      std::memcpy(&o.value, b.data() + off + sizeof(T_opthdr), sizeof(int));
    }
    out.push_back(o);
    if (o.h.len < sizeof(T_opthdr)) break;
    off += tpi::Align4(o.h.len);
  }
  return out;
}

// ---- stacks ----

// The transports a Stack registers, for their counters.
struct Transports {
  static udp::UdpModule* Udp(Stack& s) { return s.udp(); }
  static icmp::IcmpModule* Icmp(Stack& s) { return s.icmp(); }
};

// Stacks in virtual time on one wire: a is 10.0.0.1/24, b is 10.0.0.2/24. Descriptors opened
// with Open() are closed at the end; message blocks and descriptors are leak-checked.
class TwoStacks : public ::testing::Test {
 protected:
  void SetUp() override {
    before_ = GetAllocStats();
    fds_before_ = fdtable::Count();
    net_ = std::make_unique<LoopNetwork>();
    auto [pa, pb] = net_->AddWire();
    port_a_ = pa;
    Stack::Options o;
    o.deterministic = true;
    a_ = std::make_unique<Stack>(o);
    b_ = std::make_unique<Stack>(o);
    ASSERT_TRUE(a_->AttachLoopNetwork(*net_).ok());
    ASSERT_TRUE(b_->AttachLoopNetwork(*net_).ok());
    ASSERT_TRUE(a_->AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
    ASSERT_TRUE(b_->AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
    clock_ =
        std::make_unique<Lockstep>(std::initializer_list<Domain*>{&a_->domain(), &b_->domain()});
    Run();
  }
  void TearDown() override {
    for (auto [fd, st] : fds_) {
      DomainScope scope(&st->domain());
      us_close(fd);
    }
    fds_.clear();
    if (clock_) Run();
    clock_.reset();
    a_.reset();
    b_.reset();
    net_.reset();
    EXPECT_EQ(fdtable::Count(), fds_before_) << "stream descriptors left open";
    AllocStats after = GetAllocStats();
    EXPECT_EQ(after.live_mblks, before_.live_mblks) << "message blocks leaked";
    EXPECT_EQ(after.live_dblks, before_.live_dblks) << "data blocks leaked";
  }

  Stack& a() { return *a_; }
  LoopNetwork& net() { return *net_; }
  int port_a() const { return port_a_; }  // a's port on the wire
  Stack& b() { return *b_; }
  udp::UdpModule& udp(Stack& s) { return *Transports::Udp(s); }
  icmp::IcmpModule& icmp(Stack& s) { return *Transports::Icmp(s); }
  void Run() { ASSERT_TRUE(clock_->RunUntilIdle()); }
  void Advance(absl::Duration d) { clock_->AdvanceBy(d); }

  // Opens `path` in stack s (closed at the end of the test).
  int Open(Stack& s, const char* path = "/dev/udp") {
    DomainScope scope(&s.domain());
    int fd = us_open(path, O_RDWR);
    EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
    if (fd >= 0) fds_.push_back({fd, &s});
    return fd;
  }
  // A UDP stream bound to an ephemeral port of any address: ready to send (TPI wants a bind
  // before T_UNITDATA_REQ).
  int OpenSender(Stack& s) {
    int fd = Open(s);
    Bind(fd, sockaddr_in{AF_INET, 0, {0}, {}});
    return fd;
  }
  void Close(int fd) {
    auto it = std::find_if(fds_.begin(), fds_.end(), [&](auto& p) { return p.first == fd; });
    ASSERT_NE(it, fds_.end());
    DomainScope scope(&it->second->domain());
    EXPECT_EQ(us_close(fd), 0);
    fds_.erase(it);
  }

  // A request and its one reply, in virtual time.
  Msg Ask(int fd, const std::string& ctl, const std::string* data = nullptr) {
    EXPECT_EQ(Put(fd, ctl, data), 0) << strerror(errno);
    Run();
    return Get(fd);
  }
  // Binds and returns the address bound (ADDR_length 0 when addr is nullopt).
  sockaddr_in Bind(int fd, std::optional<sockaddr_in> addr) {
    Msg m = Ask(fd, BindReq(addr));
    EXPECT_EQ(m.prim(), T_BIND_ACK) << ErrorText(m);
    T_bind_ack ack = m.As<T_bind_ack>();
    return m.Addr(ack.ADDR_offset, ack.ADDR_length).value_or(sockaddr_in{});
  }
  void SetOpt(int fd, int level, int name, int value) {
    Msg m = Ask(fd, Svr4OptReq(T_NEGOTIATE, {{level, name, value}}));
    EXPECT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  }
  // Sends data to dst (the reply, if any, is left for the test).
  void SendTo(int fd, const sockaddr_in& dst, const std::string& data) {
    EXPECT_EQ(Put(fd, UnitdataReq(dst), &data), 0) << strerror(errno);
  }
  static std::string ErrorText(const Msg& m) {
    if (m.prim() != T_ERROR_ACK) return "prim " + std::to_string(m.prim());
    T_error_ack e = m.As<T_error_ack>();
    return "T_ERROR_ACK prim " + std::to_string(e.ERROR_prim) + " tli " +
           std::to_string(e.TLI_error) + " errno " + std::to_string(e.UNIX_error);
  }

 private:
  AllocStats before_{};
  int fds_before_ = 0;
  std::unique_ptr<LoopNetwork> net_;
  int port_a_ = 0;
  std::unique_ptr<Stack> a_, b_;
  std::unique_ptr<Lockstep> clock_;
  std::vector<std::pair<int, Stack*>> fds_;
};

}  // namespace ustreams::tpi_testing
