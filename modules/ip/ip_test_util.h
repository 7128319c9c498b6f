// Test helpers for IP: stacks over loop links in virtual time, a transport that records what IP
// delivers to it, and an "ip" stream for the ioctls.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/loop/lockstep.h"
#include "drivers/loop/loop.h"
#include "gtest/gtest.h"
#include "modules/ip/ip.h"
#include "modules/ip/ip_ioctl.h"
#include "modules/ip/ip_stats.h"
#include "modules/stack/stack.h"
#include "streams/domain.h"
#include "streams/stropts.h"

namespace ustreams::ip::testing {

inline uint32_t Addr(const char* s) {
  in_addr a;
  EXPECT_EQ(inet_pton(AF_INET, s, &a), 1) << s;
  return ntohl(a.s_addr);
}

// What a Recorder was given.
struct Received {
  Ipv4Header h;
  std::string payload;  // the IP payload
  uint32_t ifindex;
  bool broadcast;
};
struct ReceivedError {
  IcmpMessage m;
  uint32_t from;
};

// A transport that keeps what it receives.
class Recorder : public Transport {
 public:
  // Takes the protocol's place (the stack's own transport, if any, comes back afterwards).
  Recorder(Ip& ip, uint8_t protocol)
      : ip_(ip), protocol_(protocol), previous_(ip.transport(protocol)) {
    ip_.RegisterTransport(protocol, this);
  }
  ~Recorder() override { ip_.RegisterTransport(protocol_, previous_); }

  void Receive(const Ipv4Header& h, MsgPtr /*mp*/, uint32_t ifindex, bool broadcast) override {
    std::lock_guard<std::mutex> l(mu_);
    Received r{h, h.payload.ToString(), ifindex, broadcast};
    r.h.payload = PacketView();
    got_.push_back(std::move(r));
  }
  void ReceiveIcmpError(const IcmpMessage& m, uint32_t from) override {
    std::lock_guard<std::mutex> l(mu_);
    ReceivedError e{m, from};
    e.m.body = PacketView();
    errors_.push_back(e);
  }
  std::vector<Received> Take() {
    std::lock_guard<std::mutex> l(mu_);
    return std::move(got_);
  }
  std::vector<ReceivedError> TakeErrors() {
    std::lock_guard<std::mutex> l(mu_);
    return std::move(errors_);
  }

 private:
  Ip& ip_;
  uint8_t protocol_;
  Transport* previous_;
  std::mutex mu_;
  std::vector<Received> got_;
  std::vector<ReceivedError> errors_;
};

// A message of n bytes (a pattern that differs per offset and seed), with IP's headroom.
inline MsgPtr Payload(size_t n, uint8_t seed = 1) {
  mblk_t* mp = allocb(kIpHeadroom + n);
  mp->b_rptr += kIpHeadroom;
  for (size_t i = 0; i < n; i++) mp->b_rptr[i] = static_cast<uint8_t>(i * 7 + seed + (i >> 8));
  mp->b_wptr = mp->b_rptr + n;
  return MsgPtr(mp);
}
inline std::string PayloadBytes(size_t n, uint8_t seed = 1) {
  MsgPtr m = Payload(n, seed);
  return std::string(reinterpret_cast<char*>(m->b_rptr), n);
}

inline SendArgs To(const char* dst, uint8_t protocol) {
  SendArgs a;
  a.dst = Addr(dst);
  a.protocol = protocol;
  return a;
}

// An ICMP echo request message (type 8) with its checksum.
inline MsgPtr EchoRequest(uint16_t id, uint16_t seq, size_t data) {
  MsgPtr m = Payload(kIcmpHeaderLength + data, 3);
  IcmpMessage h;
  h.type = kIcmpEchoRequest;
  h.echo_id = id;
  h.echo_seq = seq;
  WriteIcmpHeader(h, std::span<uint8_t>(m->b_rptr, kIcmpHeaderLength),
                  PacketView(m->b_rptr + kIcmpHeaderLength, data));
  return m;
}

// Stacks in virtual time over one loop network, stepped together.
struct World {
  LoopNetwork net;
  std::vector<std::unique_ptr<Stack>> stacks;
  std::unique_ptr<Lockstep> clock;

  Stack& Add(IpConfig config = {}) {
    stacks.push_back(std::make_unique<Stack>(Stack::Options{.deterministic = true, .ip = config}));
    EXPECT_TRUE(stacks.back()->AttachLoopNetwork(net).ok());
    return *stacks.back();
  }
  // Call after the stacks are made.
  void Start() {
    std::vector<Scheduler*> s;
    for (auto& st : stacks) s.push_back(&st->scheduler());
    clock = std::make_unique<Lockstep>(s);
  }
  void Run() { ASSERT_TRUE(clock->RunUntilIdle()); }
  void Advance(absl::Duration d) { clock->AdvanceBy(d); }
};

// An "ip" stream of a stack, opened with the C API in the stack's domain, for the ioctls of
// ip_ioctl.h. In a deterministic stack an ioctl runs that stack's scheduler until it is answered.
class IpControl {
 public:
  explicit IpControl(Stack& s) : domain_(&s.domain()) {
    DomainScope scope(domain_);
    fd_ = us_open("/dev/ip", O_RDWR);
    EXPECT_GE(fd_, 0) << "open /dev/ip: " << errno;
  }
  ~IpControl() {
    DomainScope scope(domain_);
    if (fd_ >= 0) us_close(fd_);
  }
  IpControl(const IpControl&) = delete;
  IpControl& operator=(const IpControl&) = delete;

  // I_STR with `len` bytes at arg: 0, or the errno.
  int Ioctl(int cmd, void* arg, int len) {
    DomainScope scope(domain_);
    strioctl s{cmd, 0, len, static_cast<char*>(arg)};
    return us_ioctl(fd_, I_STR, &s) < 0 ? errno : 0;
  }
  template <typename T>
  int Ioctl(int cmd, T* arg) {
    return Ioctl(cmd, arg, static_cast<int>(sizeof(T)));
  }
  int SetForwarding(bool on) {
    int32_t v = on ? 1 : 0;
    return Ioctl(IPIOC_SETFORWARD, &v);
  }
  int SetMtu(const char* ifname, uint32_t mtu) {
    ip_ifreq r{};
    std::snprintf(r.ifname, sizeof(r.ifname), "%s", ifname);
    r.mtu = mtu;
    return Ioctl(IPIOC_SETMTU, &r);
  }

  int fd() const { return fd_; }
  Domain* domain() const { return domain_; }

 private:
  Domain* domain_;
  int fd_ = -1;
};

}  // namespace ustreams::ip::testing
