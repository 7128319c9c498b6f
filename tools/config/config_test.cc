// Loading: the golden error messages of testdata/bad (each X.textproto against X.expected: one
// "X.textproto:LINE: ..." per problem, in line order), addresses, and the embedded default.
#include "tools/config/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ustreams::config {
namespace {

constexpr char kBadDir[] = "tools/config/testdata/bad";

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  EXPECT_TRUE(in.good()) << p;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::filesystem::path> BadFiles() {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(kBadDir)) {
    if (e.path().extension() == ".textproto") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The names the golden files were written with (a module or driver added to the stack later
// must not change them); Catalog::Default() has at least these.
const Catalog& GoldenCatalog() {
  static const Catalog c{{"echo", "fault", "null", "pcap", "trace"},
                         {"echo", "fifo", "icmp", "ip", "loop", "nuls", "rts", "sad", "udp"}};
  return c;
}

TEST(ConfigGolden, TheStackHasTheGoldenCatalog) {
  const Catalog& d = Catalog::Default();
  for (const std::string& m : GoldenCatalog().modules) {
    EXPECT_NE(std::find(d.modules.begin(), d.modules.end(), m), d.modules.end()) << m;
  }
  for (const std::string& m : GoldenCatalog().drivers) {
    EXPECT_NE(std::find(d.drivers.begin(), d.drivers.end(), m), d.drivers.end()) << m;
  }
}

TEST(ConfigGolden, EveryBadFileGivesItsExpectedMessages) {
  std::vector<std::filesystem::path> files = BadFiles();
  ASSERT_GE(files.size(), 15u);
  for (const std::filesystem::path& f : files) {
    SCOPED_TRACE(f.string());
    std::vector<Diagnostic> errors;
    std::string name = f.filename().string();
    std::optional<Config> c = Parse(ReadFile(f), name, &errors, GoldenCatalog());
    EXPECT_FALSE(c.has_value());
    std::string got;
    for (const Diagnostic& d : errors) {
      // Each names the file and a line.
      EXPECT_EQ(d.file, name);
      EXPECT_GT(d.line, 0) << d.message;
      got += d.ToString() + "\n";
    }
    std::filesystem::path expected = f;
    expected.replace_extension(".expected");
    EXPECT_EQ(got, ReadFile(expected)) << "actual output for " << expected.filename() << ":\n"
                                       << got;
  }
}

TEST(ConfigGolden, LoadTextJoinsTheMessages) {
  absl::StatusOr<Config> c = LoadText("stack { name: \"a\" }\nstack { name: \"a\" }\n", "x");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.status().message(), "x:2: stack \"a\": duplicate stack name (first at line 1)");
}

TEST(ConfigLoad, MissingFileSaysWhy) {
  absl::StatusOr<Config> c = LoadFile("tools/config/testdata/no-such-file.textproto");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("No such file"), std::string::npos) << c.status();
}

TEST(ConfigLoad, EmptyFileIsAnEmptyNetwork) {
  absl::StatusOr<Config> c = LoadText("", "empty");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->stacks.empty());
  EXPECT_EQ(c->mtu, 1500u);
  EXPECT_EQ(c->seed, 1u);
}

TEST(ConfigLoad, DefaultConfigIsTheFileAndValid) {
  EXPECT_EQ(std::string(kDefaultConfig), ReadFile("tools/config/default.textproto"));
  absl::StatusOr<Config> c = LoadDefault();
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->stacks.size(), 3u);
  const StackSpec* r = c->FindStack("r");
  ASSERT_NE(r, nullptr);
  EXPECT_TRUE(r->ip.forwarding);
  ASSERT_EQ(r->interfaces.size(), 2u);
  ASSERT_EQ(r->interfaces[0].push.size(), 1u);
  EXPECT_EQ(r->interfaces[0].push[0].module, "trace");
  const StackSpec* a = c->FindStack("a");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->routes.size(), 1u);
  EXPECT_EQ(a->routes[0].destination, (Cidr{0, 0}));
  EXPECT_EQ(a->routes[0].gateway, *ParseAddress("10.0.1.254"));
  EXPECT_EQ(a->routes[0].line, 17);  // where the route block starts in default.textproto
}

TEST(ConfigLoad, ValuesArrive) {
  absl::StatusOr<Config> c = LoadText(R"(
seed: 42
mtu: 9000
link { name: "s" kind: SWITCH ports: 4 mtu: 1400 subnet: "10.1.0.0/16"
       impair { loss: 0.25 delay: "5ms" jitter: "1ms" rate_bps: 1000000 } }
stack {
  name: "h"
  tunables { default_ttl: 9 arp_retry: "250ms" arp_max_retries: 5 icmp_burst: 0 }
  interface { name: "e0" link: "s" port: 3 address: ["10.1.2.3/16", "10.1.9.9/16"] mtu: 1300
              push { module: "pcap" pcap_file: "/tmp/x.pcap" } push { module: "trace" trace_log: true } }
  interface { name: "e1" link: "s" }
  route { destination: "10.2.0.0/16" gateway: "10.1.0.1" }
  autopush { driver: "echo" minor: 2 last_minor: 4 module: ["null", "trace"] anchor: 1 }
}
)",
                                      "v");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->seed, 42u);
  EXPECT_EQ(c->mtu, 9000u);
  ASSERT_EQ(c->links.size(), 1u);
  const LinkSpec& l = c->links[0];
  EXPECT_EQ(l.kind, LinkKind::kSwitch);
  EXPECT_EQ(l.ports, 4);
  EXPECT_EQ(l.mtu, 1400u);
  ASSERT_TRUE(l.impair.has_value());
  EXPECT_EQ(l.impair->loss, 0.25);
  EXPECT_EQ(l.impair->delay, absl::Milliseconds(5));
  EXPECT_EQ(l.impair->jitter, absl::Milliseconds(1));
  EXPECT_EQ(l.impair->rate_bps, 1000000u);
  const StackSpec& h = c->stacks[0];
  EXPECT_EQ(h.ip.default_ttl, 9);
  EXPECT_EQ(h.ip.arp_retry, absl::Milliseconds(250));
  EXPECT_EQ(h.ip.arp_max_retries, 5);
  EXPECT_EQ(h.ip.icmp_burst, 0);
  EXPECT_FALSE(h.ip.forwarding);
  ASSERT_EQ(h.interfaces.size(), 2u);
  EXPECT_EQ(h.interfaces[0].port, 3);
  EXPECT_EQ(h.interfaces[1].port, 0);  // the first port nobody asked for
  ASSERT_EQ(h.interfaces[0].addresses.size(), 2u);
  EXPECT_EQ(h.interfaces[0].addresses[1].ToString(), "10.1.9.9/16");
  EXPECT_EQ(h.interfaces[0].mtu, 1300u);
  ASSERT_EQ(h.interfaces[0].push.size(), 2u);
  EXPECT_EQ(h.interfaces[0].push[0].pcap_file, "/tmp/x.pcap");
  EXPECT_TRUE(h.interfaces[0].push[1].trace_log);
  ASSERT_EQ(h.autopush.size(), 1u);
  EXPECT_EQ(h.autopush[0].cmd, SAP_RANGE);
  EXPECT_EQ(h.autopush[0].minor, 2);
  EXPECT_EQ(h.autopush[0].last_minor, 4);
  EXPECT_EQ(h.autopush[0].anchor, 1);
  EXPECT_EQ(h.autopush[0].modules, (std::vector<std::string>{"null", "trace"}));
}

TEST(Cidr, ParsesAndFormats) {
  EXPECT_EQ(ParseCidr("10.0.1.2/24"), (Cidr{0x0a000102, 24}));
  EXPECT_EQ(ParseCidr("0.0.0.0/0"), (Cidr{0, 0}));
  EXPECT_EQ(ParseCidr("10.0.1.2", false), (Cidr{0x0a000102, 32}));
  EXPECT_FALSE(ParseCidr("10.0.1.2"));
  EXPECT_FALSE(ParseCidr("10.0.1.2/33"));
  EXPECT_FALSE(ParseCidr("10.0.1.2/"));
  EXPECT_FALSE(ParseCidr("10.0.1.2/+8"));
  EXPECT_FALSE(ParseCidr("10.0.1.2/ 8"));
  EXPECT_FALSE(ParseCidr("10.0.1/8"));
  EXPECT_FALSE(ParseCidr("/8"));
  EXPECT_EQ(Cidr({0x0a000102, 24}).ToString(), "10.0.1.2/24");
  EXPECT_EQ(Cidr({0x0a000102, 24}).network(), 0x0a000100u);
  EXPECT_TRUE(Cidr({0x0a000100, 24}).Contains(0x0a0001ff));
  EXPECT_FALSE(Cidr({0x0a000100, 24}).Contains(0x0a000200));
  EXPECT_TRUE(Cidr({0, 0}).Contains(0xffffffff));
}

}  // namespace
}  // namespace ustreams::config
