// Building: the default network comes up with its interfaces and routes and forwards a datagram
// from a to b through r; its graph is stable (testdata/default_graph.txt) and its DOT form is
// drawn by graphviz; pushed and autopushed modules land where the config says; a route the stack
// refuses fails the build with the errno and the config line.
#include "tools/config/network.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/ip_stats.h"
#include "modules/ip/ip_test_util.h"
#include "modules/ip/route.h"
#include "streams/testing/leak_check.h"
#include "tools/config/config.h"
#include "tools/config/graph.h"

namespace ustreams::config {
namespace {

using ip::testing::Addr;
using ip::testing::Payload;
using ip::testing::PayloadBytes;
using ip::testing::Recorder;
using ip::testing::To;

constexpr uint8_t kTestProto = 253;  // RFC 3692 experimentation

std::string ReadFile(const std::string& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string TempDir() {
  const char* d = std::getenv("TEST_TMPDIR");
  return d != nullptr ? d : "/tmp";
}

std::unique_ptr<Network> BuildText(const std::string& text, BuildOptions o = {}) {
  absl::StatusOr<Config> c = LoadText(text, "test.textproto");
  EXPECT_TRUE(c.ok()) << c.status();
  if (!c.ok()) return nullptr;
  absl::StatusOr<std::unique_ptr<Network>> n = Build(*c, o);
  EXPECT_TRUE(n.ok()) << n.status();
  return n.ok() ? std::move(*n) : nullptr;
}

class NetworkTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    absl::StatusOr<Config> c = LoadDefault();
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<std::unique_ptr<Network>> n = Build(*c);
    ASSERT_TRUE(n.ok()) << n.status();
    net_ = std::move(*n);
  }
  void TearDown() override {
    net_.reset();
    LeakCheckedTest::TearDown();
  }
  std::unique_ptr<Network> net_;
};

TEST_F(NetworkTest, DefaultHasItsStacksInterfacesAndRoutes) {
  ASSERT_NE(net_->stack("a"), nullptr);
  ASSERT_NE(net_->stack("r"), nullptr);
  ASSERT_NE(net_->stack("b"), nullptr);
  EXPECT_EQ(net_->stack("x"), nullptr);
  EXPECT_TRUE(net_->deterministic());

  Stack& a = *net_->stack("a");
  Stack& r = *net_->stack("r");
  Stack& b = *net_->stack("b");
  EXPECT_TRUE(a.ip().IsLocalAddress(Addr("10.0.1.1")));
  EXPECT_TRUE(r.ip().IsLocalAddress(Addr("10.0.1.254")));
  EXPECT_TRUE(r.ip().IsLocalAddress(Addr("10.0.2.254")));
  EXPECT_TRUE(b.ip().IsLocalAddress(Addr("10.0.2.1")));
  EXPECT_FALSE(a.ip().IsLocalAddress(Addr("10.0.2.1")));

  // The hosts' default routes came in through the routing socket; the router has only its
  // connected subnets.
  std::optional<ip::Route> via = a.ip().routes().Lookup(Addr("10.0.2.1"));
  ASSERT_TRUE(via.has_value());
  EXPECT_EQ(via->prefix_len, 0);
  EXPECT_EQ(via->gateway, Addr("10.0.1.254"));
  EXPECT_TRUE(via->flags & ip::RTF_STATIC);
  via = b.ip().routes().Lookup(Addr("10.0.1.1"));
  ASSERT_TRUE(via.has_value());
  EXPECT_EQ(via->gateway, Addr("10.0.2.254"));
  via = r.ip().routes().Lookup(Addr("10.0.2.1"));
  ASSERT_TRUE(via.has_value());
  EXPECT_EQ(via->gateway, 0u);
  EXPECT_EQ(via->prefix_len, 24);
  EXPECT_FALSE(r.ip().routes().Lookup(Addr("192.0.2.1")).has_value());
  EXPECT_EQ(r.ip().routes().size(), 2u);

  // Which port each interface sits on.
  ASSERT_EQ(net_->ports().size(), 4u);
  EXPECT_EQ(net_->ports()[1].stack, "r");
  EXPECT_EQ(net_->ports()[1].ifname, "net0");
  EXPECT_EQ(net_->ports()[3].stack, "b");
  const Network::StackState* rs = net_->state("r");
  ASSERT_NE(rs, nullptr);
  ASSERT_EQ(rs->links.size(), 2u);
  EXPECT_EQ(rs->links[0].modules, (std::vector<std::string>{"trace", "loop"}));
  EXPECT_EQ(rs->links[1].modules, (std::vector<std::string>{"loop"}));
}

TEST_F(NetworkTest, DatagramCrossesTheRouter) {
  Stack& a = *net_->stack("a");
  Stack& r = *net_->stack("r");
  Stack& b = *net_->stack("b");
  Recorder at_b(b.ip(), kTestProto);
  ASSERT_EQ(a.ip().Send(To("10.0.2.1", kTestProto), Payload(100, 7)), 0);
  ASSERT_TRUE(net_->Run());
  net_->Advance(absl::Milliseconds(10));
  std::vector<ip::testing::Received> got = at_b.Take();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, PayloadBytes(100, 7));
  EXPECT_EQ(got[0].h.src, Addr("10.0.1.1"));
  EXPECT_EQ(got[0].h.ttl, 63);  // one hop: r
  EXPECT_EQ(r.ip().stats().forw_datagrams.load(), 1u);
}

TEST_F(NetworkTest, GraphTextIsStable) {
  std::string got = GraphText(*net_);
  EXPECT_EQ(got, ReadFile("tools/config/testdata/default_graph.txt")) << "actual:\n" << got;
}

TEST_F(NetworkTest, DotIsDrawnByGraphviz) {
  std::string dot = GraphDot(*net_);
  EXPECT_NE(dot.find("\"r/if/net0/0\" [label=\"trace\"]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("muxid 2"), std::string::npos);
  if (std::system("command -v dot >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "graphviz (dot) is not installed: the DOT text is not drawn "
                    "(tools/setup.sh installs it)";
  }
  const std::string in = TempDir() + "/default.dot", out = TempDir() + "/default.svg";
  {
    std::ofstream f(in);
    f << dot;
  }
  int rc = std::system(("dot -Tsvg " + in + " -o " + out + " 2>" + TempDir() + "/dot.err").c_str());
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0)
      << "dot failed: " << ReadFile(TempDir() + "/dot.err") << "\n"
      << dot;
  std::string svg = ReadFile(out);
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("trace"), std::string::npos);
}

// ---- Configs of their own ----

class BuildTest : public testing::LeakCheckedTest {};

TEST_F(BuildTest, PushedAndAutopushedModulesLandInOrder) {
  const std::string pcap = TempDir() + "/h1.pcap";
  std::unique_ptr<Network> n = BuildText(R"(
link { name: "sw" kind: SWITCH ports: 3 subnet: "10.9.0.0/24" }
stack {
  name: "h1"
  autopush { driver: "loop" module: "null" }
  interface {
    name: "e0" link: "sw" port: 2 address: "10.9.0.1/24"
    push { module: "pcap" pcap_file: ")" +
                                         pcap + R"(" }
    push { module: "trace" }
  }
}
stack {
  name: "h2"
  interface { name: "e0" link: "sw" address: "10.9.0.2/24" }
}
)");
  ASSERT_NE(n, nullptr);
  const Network::StackState* h1 = n->state("h1");
  ASSERT_EQ(h1->links.size(), 1u);
  // Autopush first (at open), then the pushes, each on top of the last.
  EXPECT_EQ(h1->links[0].modules, (std::vector<std::string>{"trace", "pcap", "null", "loop"}));
  EXPECT_EQ(h1->links[0].port, 2);
  EXPECT_EQ(n->state("h2")->links[0].port, 0);
  EXPECT_NE(GraphText(*n).find("trace -> pcap -> null -> loop (port 2 of link \"sw\")"),
            std::string::npos)
      << GraphText(*n);

  {
    Recorder at_h2(n->stack("h2")->ip(), kTestProto);
    ASSERT_EQ(n->stack("h1")->ip().Send(To("10.9.0.2", kTestProto), Payload(64)), 0);
    ASSERT_TRUE(n->Run());
    n->Advance(absl::Milliseconds(10));
    EXPECT_EQ(at_h2.Take().size(), 1u);
  }
  n.reset();  // closes the capture
  std::string capture = ReadFile(pcap);
  // The global header, then at least the ARP exchange and the datagram.
  EXPECT_GT(capture.size(), 24u + 3 * 16u);
}

TEST_F(BuildTest, HubWithImpairmentsAndTunables) {
  std::unique_ptr<Network> n = BuildText(R"(
seed: 9
link { name: "hub" kind: HUB ports: 3 mtu: 1400 impair { delay: "2ms" } }
stack {
  name: "x"
  tunables { default_ttl: 17 arp_retry: "200ms" }
  interface { name: "e0" link: "hub" address: "10.5.0.1/24" mtu: 1300 }
}
stack { name: "y" interface { name: "e0" link: "hub" address: "10.5.0.2/24" } }
)");
  ASSERT_NE(n, nullptr);
  EXPECT_EQ(n->stack("x")->ip().default_ttl(), 17);
  EXPECT_EQ(n->stack("x")->ip().PathMtu(Addr("10.5.0.2")), 1300u);
  EXPECT_EQ(n->stack("y")->ip().PathMtu(Addr("10.5.0.1")), 1400u);
  Recorder at_y(n->stack("y")->ip(), kTestProto);
  ASSERT_EQ(n->stack("x")->ip().Send(To("10.5.0.2", kTestProto), Payload(10)), 0);
  ASSERT_TRUE(n->Run());
  n->Advance(absl::Milliseconds(1));
  EXPECT_TRUE(at_y.Take().empty());  // ARP request, 2 ms; reply, 2 ms; then the datagram
  n->Advance(absl::Milliseconds(10));
  EXPECT_EQ(at_y.Take().size(), 1u);
}

TEST_F(BuildTest, ThreadedStacksBuildToo) {
  BuildOptions o;
  o.deterministic = false;
  absl::StatusOr<Config> c = LoadDefault();
  ASSERT_TRUE(c.ok());
  absl::StatusOr<std::unique_ptr<Network>> n = Build(*c, o);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_FALSE((*n)->deterministic());
  std::optional<ip::Route> via = (*n)->stack("a")->ip().routes().Lookup(Addr("10.0.2.1"));
  ASSERT_TRUE(via.has_value());
  EXPECT_EQ(via->gateway, Addr("10.0.1.254"));
}

// A Config that skipped validation (the only way to get one the stack refuses): the routing
// socket's errno comes back with the line that asked for the route.
TEST_F(BuildTest, RefusedRouteFailsWithTheErrnoAndTheLine) {
  absl::StatusOr<Config> c = LoadText(R"(
link { name: "ab" }
stack {
  name: "a"
  interface { name: "net0" link: "ab" address: "10.0.1.1/24" }
  route { destination: "default" gateway: "10.0.1.254" }
}
)",
                                      "hand.textproto");
  ASSERT_TRUE(c.ok()) << c.status();
  c->stacks[0].routes[0].gateway = Addr("10.0.7.1");  // off-link
  absl::StatusOr<std::unique_ptr<Network>> n = Build(*c);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(ip::StatusErrno(n.status()), ENETUNREACH) << n.status();
  EXPECT_EQ(n.status().message(),
            "hand.textproto:6: stack \"a\" route 0.0.0.0/0 via 10.0.7.1: the routing socket "
            "refused it: Network is unreachable");

  c->stacks[0].routes[0].gateway = Addr("10.0.1.254");
  c->stacks[0].routes.push_back(c->stacks[0].routes[0]);  // twice
  c->stacks[0].routes[1].line = 7;
  n = Build(*c);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(ip::StatusErrno(n.status()), EEXIST) << n.status();
  EXPECT_EQ(n.status().message().substr(0, 17), "hand.textproto:7:");
}

// A step that fails while building (here the capture file cannot be created) names the line
// of the field that asked for it, and leaves nothing behind.
TEST_F(BuildTest, FailedPushNamesItsLine) {
  absl::StatusOr<Config> c = LoadText(R"(
link { name: "ab" }
stack {
  name: "a"
  interface {
    name: "net0"
    link: "ab"
    push { module: "pcap" pcap_file: "/nonexistent-dir/x.pcap" }
  }
}
)",
                                      "pcap.textproto");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<std::unique_ptr<Network>> n = Build(*c);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(ip::StatusErrno(n.status()), ENOENT);
  EXPECT_EQ(n.status().message(),
            "pcap.textproto:8: stack \"a\" interface \"net0\": pcap capture "
            "\"/nonexistent-dir/x.pcap\": No such file or directory");
}

TEST_F(BuildTest, EmptyNetworkBuilds) {
  std::unique_ptr<Network> n = BuildText("");
  ASSERT_NE(n, nullptr);
  EXPECT_TRUE(n->stacks().empty());
  EXPECT_EQ(GraphText(*n), "network test.textproto: 0 stacks, 0 links, seed 1\n");
}

}  // namespace
}  // namespace ustreams::config
