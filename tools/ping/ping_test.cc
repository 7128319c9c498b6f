// ping over threaded stacks in real time: a host, a router and a far host on two loop wires.
//
//   a 10.0.0.1 ---- 10.0.0.254 r 10.0.1.254 ---- 10.0.1.2 c
//
// a routes 10.0.1.0/24 and 10.9.0.0/16 through r; r forwards and knows no 10.9/16.
#include "tools/ping/ping.h"

#include <sstream>
#include <string>

#include "absl/time/clock.h"
#include "drivers/loop/loop.h"
#include "gtest/gtest.h"
#include "modules/stack/stack.h"
#include "modules/udp/testing/tpi_test_util.h"
#include "streams/alloc.h"
#include "streams/domain.h"
#include "streams/file.h"

namespace ustreams::ping {
namespace {

class PingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    before_ = GetAllocStats();
    fds_before_ = fdtable::Count();
    net_ = std::make_unique<LoopNetwork>();
    auto [a0, r0] = net_->AddWire();
    auto [r1, c1] = net_->AddWire();
    Stack::Options host;
    Stack::Options router;
    router.ip.forwarding = true;
    a_ = Make(host);
    r_ = Make(router);
    c_ = Make(host);
    ASSERT_TRUE(a_->AddLoopInterface("net0", a0, "10.0.0.1/24").ok());
    ASSERT_TRUE(r_->AddLoopInterface("net0", r0, "10.0.0.254/24").ok());
    ASSERT_TRUE(r_->AddLoopInterface("net1", r1, "10.0.1.254/24").ok());
    ASSERT_TRUE(c_->AddLoopInterface("net0", c1, "10.0.1.2/24").ok());
    ASSERT_TRUE(a_->AddRoute("10.0.1.0/24", "10.0.0.254").ok());
    ASSERT_TRUE(a_->AddRoute("10.9.0.0/16", "10.0.0.254").ok());
    ASSERT_TRUE(c_->AddRoute("0.0.0.0/0", "10.0.1.254").ok());
  }
  void TearDown() override {
    // Stacks go with traffic in flight: their destructors take care of it.
    a_.reset();
    r_.reset();
    c_.reset();
    net_.reset();
    EXPECT_EQ(fdtable::Count(), fds_before_) << "stream descriptors left open";
    AllocStats after = GetAllocStats();
    EXPECT_EQ(after.live_mblks, before_.live_mblks) << "message blocks leaked";
    EXPECT_EQ(after.live_dblks, before_.live_dblks) << "data blocks leaked";
  }
  std::unique_ptr<Stack> Make(const Stack::Options& o) {
    auto s = std::make_unique<Stack>(o);
    EXPECT_TRUE(s->AttachLoopNetwork(*net_).ok());
    return s;
  }
  // Pings from a, returning the report and the output.
  PingReport PingFromA(const PingOptions& o, std::string* text) {
    DomainScope scope(&a_->domain());
    std::ostringstream out;
    PingReport r = Ping(o, out);
    *text = out.str();
    return r;
  }
  static PingOptions Opts(const char* dst, int count = 3) {
    PingOptions o;
    o.dst = dst;
    o.count = count;
    o.interval = absl::Milliseconds(20);
    o.timeout = absl::Seconds(2);
    return o;
  }

  AllocStats before_{};
  int fds_before_ = 0;
  std::unique_ptr<LoopNetwork> net_;
  std::unique_ptr<Stack> a_, r_, c_;
};

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST_F(PingTest, AcrossTheWire) {
  std::string text;
  PingReport r = PingFromA(Opts("10.0.0.254"), &text);
  EXPECT_EQ(r.setup_error, 0);
  EXPECT_EQ(r.transmitted, 3);
  EXPECT_EQ(r.received, 3);
  EXPECT_EQ(r.errors, 0);
  EXPECT_EQ(r.loss_percent(), 0);
  EXPECT_GT(r.rtt_min, absl::ZeroDuration());
  EXPECT_LE(r.rtt_min, r.rtt_avg);
  EXPECT_LE(r.rtt_avg, r.rtt_max);
  EXPECT_TRUE(Contains(text, "PING 10.0.0.254 (10.0.0.254) 56(84) bytes of data.\n")) << text;
  for (int seq = 1; seq <= 3; seq++) {
    EXPECT_TRUE(Contains(
        text, "64 bytes from 10.0.0.254: icmp_seq=" + std::to_string(seq) + " ttl=64 time="))
        << text;
  }
  EXPECT_TRUE(Contains(text, "--- 10.0.0.254 ping statistics ---\n")) << text;
  EXPECT_TRUE(
      Contains(text, "3 packets transmitted, 3 received, 0% packet loss, rtt min/avg/max = "))
      << text;
}

TEST_F(PingTest, ThroughARouterTheTtlIsOneLess) {
  std::string text;
  PingOptions o = Opts("10.0.1.2", 2);
  o.payload = 1000;
  PingReport r = PingFromA(o, &text);
  EXPECT_EQ(r.received, 2);
  EXPECT_TRUE(Contains(text, "1008 bytes from 10.0.1.2: icmp_seq=1 ttl=63 time=")) << text;
}

TEST_F(PingTest, NobodyHasTheAddressIsAllLossWithinTheTimeout) {
  std::string text;
  PingOptions o = Opts("10.0.0.99", 2);
  o.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  PingReport r = PingFromA(o, &text);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(r.transmitted, 2);
  EXPECT_EQ(r.received, 0);
  EXPECT_EQ(r.loss_percent(), 100);
  EXPECT_TRUE(Contains(text, "2 packets transmitted, 0 received, 100% packet loss\n")) << text;
  EXPECT_FALSE(Contains(text, "rtt")) << text;
}

TEST_F(PingTest, TheRoutersUnreachableIsReported) {
  std::string text;
  PingReport r = PingFromA(Opts("10.9.9.9", 2), &text);
  EXPECT_EQ(r.received, 0);
  EXPECT_EQ(r.errors, 2);
  EXPECT_TRUE(Contains(text, "From 10.0.0.254 icmp_seq=1 Destination Net Unreachable\n")) << text;
  EXPECT_TRUE(Contains(text, "2 packets transmitted, 0 received, +2 errors, 100% packet loss"))
      << text;
}

TEST_F(PingTest, TimeExceededIsReported) {
  std::string text;
  PingOptions o = Opts("10.0.1.2", 1);
  o.ttl = 1;
  PingReport r = PingFromA(o, &text);
  EXPECT_EQ(r.errors, 1);
  EXPECT_TRUE(Contains(text, "From 10.0.0.254 icmp_seq=1 Time to live exceeded\n")) << text;
}

TEST_F(PingTest, NoRouteFailsTheSend) {
  std::string text;
  PingReport r = PingFromA(Opts("192.168.5.5", 2), &text);
  EXPECT_EQ(r.transmitted, 2);
  EXPECT_EQ(r.errors, 2);
  EXPECT_TRUE(Contains(text, "ping: sendmsg: Network is unreachable\n")) << text;
}

TEST_F(PingTest, BadArguments) {
  std::string text;
  EXPECT_EQ(PingFromA(Opts("not-an-address"), &text).setup_error, EINVAL);
  PingOptions o = Opts("10.0.0.254");
  o.payload = 70000;
  EXPECT_EQ(PingFromA(o, &text).setup_error, EMSGSIZE);
  o = Opts("10.0.0.254");
  o.ttl = 0;
  EXPECT_EQ(PingFromA(o, &text).setup_error, EINVAL);
}

TEST_F(PingTest, ADomainWithoutIcmpSaysSo) {
  Domain plain;
  DomainScope scope(&plain);
  std::ostringstream out;
  PingReport r = Ping(Opts("10.0.0.254"), out);
  EXPECT_EQ(r.setup_error, ENOENT);
  EXPECT_TRUE(Contains(out.str(), "ping: /dev/icmp: ")) << out.str();
}

}  // namespace
}  // namespace ustreams::ping
