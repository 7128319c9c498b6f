// Test helpers for routing sockets: a stack with an interface, routing messages built and read
// through the C API as a routing daemon would.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "drivers/loop/loop.h"
#include "gtest/gtest.h"
#include "modules/ip/ip.h"
#include "modules/ip/route.h"
#include "modules/rts/rtmsg.h"
#include "modules/stack/stack.h"
#include "streams/domain.h"
#include "streams/stropts.h"

namespace ustreams::rts::testing {

inline uint32_t A(const char* s) {
  in_addr a;
  inet_pton(AF_INET, s, &a);
  return ntohl(a.s_addr);
}

// A routing message under construction: a header and addresses in RTAX order.
struct RtMsg {
  rt_msghdr h{};
  std::string addrs[RTAX_MAX];

  explicit RtMsg(uint8_t type, int seq = 1) {
    h.rtm_version = RTM_VERSION;
    h.rtm_type = type;
    h.rtm_seq = seq;
    h.rtm_flags = ip::RTF_UP | ip::RTF_STATIC;
  }
  RtMsg& Inet(int rtax, uint32_t addr) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(addr);
    addrs[rtax] = std::string(reinterpret_cast<char*>(&sin), sizeof(sin));
    h.rtm_addrs |= 1 << rtax;
    return *this;
  }
  RtMsg& Dst(const char* a) { return Inet(RTAX_DST, A(a)); }
  RtMsg& Gateway(const char* a) {
    h.rtm_flags |= ip::RTF_GATEWAY;
    return Inet(RTAX_GATEWAY, A(a));
  }
  RtMsg& Mask(const char* a) { return Inet(RTAX_NETMASK, A(a)); }
  RtMsg& Raw(int rtax, const std::string& bytes) {
    addrs[rtax] = bytes;
    h.rtm_addrs |= 1 << rtax;
    return *this;
  }
  // The bytes, rtm_msglen set to their length unless told otherwise.
  std::string Bytes(int msglen = -1) const {
    std::string body;
    for (int i = 0; i < RTAX_MAX; i++) {
      if (h.rtm_addrs & (1 << i)) body += addrs[i];
    }
    rt_msghdr hh = h;
    hh.rtm_msglen = static_cast<uint16_t>(msglen >= 0 ? msglen : sizeof(hh) + body.size());
    return std::string(reinterpret_cast<char*>(&hh), sizeof(hh)) + body;
  }
};

// A message read from a routing socket.
struct Read {
  std::string bytes;
  uint8_t type() const { return bytes.size() > 3 ? static_cast<uint8_t>(bytes[3]) : 0; }
  rt_msghdr rt() const {
    rt_msghdr h{};
    std::memcpy(&h, bytes.data(), std::min(bytes.size(), sizeof(h)));
    return h;
  }
  // The AF_INET address at RTAX index rtax of an rt_msghdr message (0 if absent).
  uint32_t Inet(int rtax) const {
    rt_msghdr h = rt();
    size_t off = sizeof(rt_msghdr);
    for (int i = 0; i < RTAX_MAX; i++) {
      if ((h.rtm_addrs & (1 << i)) == 0) continue;
      sa_family_t af;
      std::memcpy(&af, bytes.data() + off, sizeof(af));
      size_t space = af == AF_LINK ? RT_ROUNDUP(sizeof(sockaddr_dl)) : RT_ROUNDUP(16);
      if (i == rtax) {
        sockaddr_in sin;
        std::memcpy(&sin, bytes.data() + off, sizeof(sin));
        return ntohl(sin.sin_addr.s_addr);
      }
      off += space;
    }
    return 0;
  }
};

// A stack with net0 10.0.0.1/24 (a loop wire whose other end nobody uses).
class RtsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto [a, b] = net_.AddWire();
    (void)b;
    ASSERT_TRUE(stack_.AttachLoopNetwork(net_).ok());
    ASSERT_TRUE(stack_.AddLoopInterface("net0", a, "10.0.0.1/24").ok());
  }
  void TearDown() override {
    DomainScope s(&stack_.domain());
    for (int fd : fds_) us_close(fd);
  }

  int Open() {
    DomainScope s(&stack_.domain());
    int fd = us_open("/dev/rts", O_RDWR | O_NONBLOCK);
    EXPECT_GE(fd, 0) << strerror(errno);
    fds_.push_back(fd);
    return fd;
  }
  // write(): 0 or the errno.
  int Write(int fd, const std::string& bytes) {
    DomainScope s(&stack_.domain());
    ssize_t n = us_write(fd, bytes.data(), bytes.size());
    if (n < 0) return errno;
    EXPECT_EQ(static_cast<size_t>(n), bytes.size());
    return 0;
  }
  int Write(int fd, const RtMsg& m) { return Write(fd, m.Bytes()); }
  // Every message waiting on fd.
  std::vector<Read> Drain(int fd) {
    DomainScope s(&stack_.domain());
    std::vector<Read> out;
    char buf[4096];
    for (;;) {
      ssize_t n = us_read(fd, buf, sizeof(buf));
      if (n < 0) break;
      out.push_back(Read{std::string(buf, static_cast<size_t>(n))});
    }
    return out;
  }
  size_t Routes() { return stack_.ip().routes().size(); }

  LoopNetwork net_;
  Stack stack_{Stack::Options{.deterministic = true, .workers = 2, .ip = {}}};
  std::vector<int> fds_;
};

}  // namespace ustreams::rts::testing
