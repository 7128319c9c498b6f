// Statistics of the default network after an ICMP echo and a UDP datagram nobody listens for
// cross from a to b: the counters in the message, in its text and JSON forms, and the routing
// and ARP tables.
#include "tools/config/stats.h"

#include <string>

#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "modules/ip/ip_test_util.h"
#include "streams/testing/leak_check.h"
#include "tools/config/config.h"

namespace ustreams::config {
namespace {

using ip::testing::EchoRequest;
using ip::testing::Payload;
using ip::testing::To;

const pb::StackStats& StackNamed(const pb::NetworkStats& s, const std::string& name) {
  for (const pb::StackStats& st : s.stacks()) {
    if (st.name() == name) return st;
  }
  ADD_FAILURE() << "no stack " << name;
  return s.stacks(0);
}

uint64_t Named(const google::protobuf::RepeatedPtrField<pb::NamedCounter>& v,
               const std::string& name) {
  for (const pb::NamedCounter& c : v) {
    if (c.name() == name) return c.count();
  }
  return 0;
}

// A UDP datagram (checksum 0: none) from port 1234 to `port`, n bytes of payload.
MsgPtr UdpDatagram(uint16_t port, size_t n) {
  MsgPtr m = Payload(8 + n);
  uint8_t* p = m->b_rptr;
  p[0] = 1234 >> 8;
  p[1] = 1234 & 0xff;
  p[2] = static_cast<uint8_t>(port >> 8);
  p[3] = static_cast<uint8_t>(port);
  p[4] = static_cast<uint8_t>((8 + n) >> 8);
  p[5] = static_cast<uint8_t>(8 + n);
  p[6] = p[7] = 0;
  return m;
}

class StatsTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    absl::StatusOr<Config> c = LoadDefault();
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<std::unique_ptr<Network>> n = Build(*c);
    ASSERT_TRUE(n.ok()) << n.status();
    net_ = std::move(*n);
    ip::Ip& a = net_->stack("a")->ip();
    ASSERT_EQ(a.Send(To("10.0.2.1", ip::kProtoIcmp), EchoRequest(7, 1, 32)), 0);
    ASSERT_EQ(a.Send(To("10.0.2.1", ip::kProtoUdp), UdpDatagram(9, 20)), 0);
    ASSERT_TRUE(net_->Run());
    net_->Advance(absl::Milliseconds(10));
    stats_ = CollectStats(*net_);
  }
  void TearDown() override {
    net_.reset();
    LeakCheckedTest::TearDown();
  }
  std::unique_ptr<Network> net_;
  pb::NetworkStats stats_;
};

TEST_F(StatsTest, CountersOfEachLayer) {
  ASSERT_EQ(stats_.stacks_size(), 3);
  const pb::StackStats& a = StackNamed(stats_, "a");
  const pb::StackStats& r = StackNamed(stats_, "r");
  const pb::StackStats& b = StackNamed(stats_, "b");
  EXPECT_EQ(a.ip().out_requests(), 2u);
  EXPECT_EQ(r.ip().forw_datagrams(), 4u);  // echo, UDP; reply, port unreachable
  EXPECT_EQ(Named(b.icmp().in_types(), "echo_request"), 1u);
  EXPECT_EQ(Named(b.icmp().out_types(), "echo_reply"), 1u);
  EXPECT_EQ(Named(b.icmp().out_types(), "unreachable"), 1u);
  EXPECT_EQ(Named(a.icmp().in_types(), "echo_reply"), 1u);
  EXPECT_EQ(Named(a.icmp().in_types(), "unreachable"), 1u);
  EXPECT_EQ(b.udp().no_ports(), 1u);
  EXPECT_GE(a.arp().requests_out(), 1u);
  EXPECT_GE(r.arp().replies_out(), 1u);
  EXPECT_EQ(a.rts().requests(), 1u);  // the default route
  EXPECT_EQ(a.rts().request_errors(), 0u);
  EXPECT_EQ(r.rts().requests(), 0u);

  ASSERT_EQ(r.interfaces_size(), 2);
  EXPECT_EQ(r.interfaces(1).name(), "net1");
  EXPECT_EQ(r.interfaces(1).addresses(0), "10.0.2.254/24");
  EXPECT_TRUE(r.interfaces(1).up());

  ASSERT_EQ(stats_.ports_size(), 4);
  const pb::PortStats& p0 = stats_.ports(0);
  EXPECT_EQ(p0.link(), "ab");
  EXPECT_EQ(p0.stack(), "a");
  EXPECT_EQ(p0.interface(), "net0");
  EXPECT_GE(p0.tx_frames(), 3u);  // ARP, echo, UDP
  EXPECT_EQ(p0.tx_frames(), stats_.ports(1).rx_frames() + stats_.ports(1).rx_filtered());
}

TEST_F(StatsTest, RoutesAndArpCache) {
  const pb::StackStats& a = StackNamed(stats_, "a");
  ASSERT_EQ(a.routes_size(), 2);
  EXPECT_EQ(a.routes(0).destination(), "0.0.0.0/0");
  EXPECT_EQ(a.routes(0).gateway(), "10.0.1.254");
  EXPECT_EQ(a.routes(0).flags(), "UGS");
  EXPECT_EQ(a.routes(1).destination(), "10.0.1.0/24");
  EXPECT_EQ(a.routes(1).flags(), "UC");
  ASSERT_GE(a.arp_cache_size(), 1);
  EXPECT_EQ(a.arp_cache(0).address(), "10.0.1.254");
  EXPECT_EQ(a.arp_cache(0).state(), "reachable");
  EXPECT_EQ(a.arp_cache(0).mac(), "02:00:00:01:00:01");  // r's port 1

  std::string routes = RoutesText(stats_);
  EXPECT_NE(routes.find("stack \"b\" routing table\n"), std::string::npos) << routes;
  EXPECT_NE(routes.find("  0.0.0.0/0          10.0.2.254      UGS    net0\n"), std::string::npos)
      << routes;
  std::string arp = ArpText(stats_);
  EXPECT_NE(arp.find("  net0       10.0.1.254      02:00:00:01:00:01 reachable\n"),
            std::string::npos)
      << arp;
}

TEST_F(StatsTest, TextHasTheCounters) {
  std::string text = StatsText(stats_);
  EXPECT_NE(text.find("forw_datagrams: 4"), std::string::npos) << text;
  EXPECT_NE(text.find("name: \"echo_request\"\n      count: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("no_ports: 1"), std::string::npos) << text;
  EXPECT_NE(text.find("destination: \"0.0.0.0/0\""), std::string::npos) << text;
  // And it reads back as the same message.
  pb::NetworkStats back;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &back));
  EXPECT_EQ(back.SerializeAsString(), stats_.SerializeAsString());
}

TEST_F(StatsTest, JsonHasEveryCounter) {
  absl::StatusOr<std::string> json = StatsJson(stats_);
  ASSERT_TRUE(json.ok()) << json.status();
  // proto3 JSON: 64-bit integers as strings, zeros included.
  EXPECT_NE(json->find("\"forw_datagrams\": \"4\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"no_ports\": \"1\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"checksum_errors\": \"0\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"request_errors\": \"0\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"name\": \"echo_reply\""), std::string::npos) << *json;
  EXPECT_NE(json->find("\"tx_frames\""), std::string::npos) << *json;
  pb::NetworkStats back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &back).ok());
  EXPECT_EQ(back.SerializeAsString(), stats_.SerializeAsString());
}

}  // namespace
}  // namespace ustreams::config
