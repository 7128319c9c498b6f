// The malformed corpus (testdata/malformed, one frame per file named <reason>__<what>.hex) through
// a real stack's IP input, as a link would hand each frame up: IP drops every frame it checks and
// counts it under exactly that reason, delivers nothing, answers nothing, and frees everything.
// UDP's reasons are the UDP transport's to count: IP delivers those datagrams to it.
// The same frames cut into random blocks give the same answers.
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "modules/ip/ip_impl.h"
#include "modules/ip/ip_test_util.h"
#include "modules/ip/wire_test_util.h"

namespace ustreams::ip::testing {
namespace {

constexpr const char* kDir = "modules/ip/testdata/malformed";

uint64_t WireTotal(const IpStats& s) {
  uint64_t n = 0;
  for (const auto& c : s.wire_errors) n += c.load();
  return n;
}

TEST(IpMalformedTest, EveryFrameIsDroppedAndCountedByItsReason) {
  World w;
  auto [pa, pb] = w.net.AddWire();
  (void)pb;
  Stack& s = w.Add();
  w.Start();
  // The corpus is addressed from 10.0.0.1 to 10.0.0.2.
  ASSERT_TRUE(s.AddLoopInterface("net0", pa, "10.0.0.2/24").ok());
  w.Run();
  Recorder udp(s.ip(), kProtoUdp);
  Recorder raw(s.ip(), kProtoIcmp);
  InterfacePtr ifp = s.ip().impl().FindInterface("net0");
  ASSERT_NE(ifp, nullptr);
  std::mt19937 rng(7);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) {
    if (entry.path().extension() != ".hex") continue;
    const std::string name = entry.path().filename().string();
    const std::string reason = name.substr(0, name.find("__"));
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    bool ok = false;
    const std::string frame = FromHex(text.str(), &ok);
    ASSERT_TRUE(ok) << name;
    files++;
    for (int round = 0; round < 4; round++) {
      SCOPED_TRACE(name + " round " + std::to_string(round));
      const uint64_t wire_before = WireTotal(s.ip().stats());
      const uint64_t out_before = s.ip().stats().out_transmits.load();
      MsgPtr mp = RandomChain(frame, rng, round == 0 ? frame.size() : 1 + round * 5);
      s.ip().impl().LinkInput(ifp, std::move(mp));
      w.Run();
      if (reason.rfind("udp_", 0) == 0) {
        EXPECT_EQ(udp.Take().size(), 1u) << "IP delivers; UDP checks its own header";
        continue;
      }
      EXPECT_EQ(WireTotal(s.ip().stats()), wire_before + 1);
      size_t i = 0;
      while (i < kWireErrorCount && WireErrorName(static_cast<WireError>(i)) != reason) i++;
      ASSERT_LT(i, kWireErrorCount) << "unknown reason " << reason;
      EXPECT_GE(s.ip().stats().wire_errors[i].load(), 1u);
      EXPECT_TRUE(udp.Take().empty());
      EXPECT_TRUE(raw.Take().empty());
      EXPECT_EQ(s.ip().stats().out_transmits.load(), out_before) << "a malformed frame was answered";
    }
  }
  EXPECT_GT(files, 30);
}

// Random bytes behind valid Ethernet, IPv4 and ICMP prefixes: never a crash, every frame
// accounted for somewhere.
TEST(IpMalformedTest, RandomFramesNeverCrash) {
  World w;
  auto [pa, pb] = w.net.AddWire();
  (void)pb;
  Stack& s = w.Add();
  w.Start();
  ASSERT_TRUE(s.AddLoopInterface("net0", pa, "10.0.0.2/24").ok());
  w.Run();
  InterfacePtr ifp = s.ip().impl().FindInterface("net0");
  std::mt19937 rng(11);
  const std::string eth = FromHex("02 00 00 00 00 02 02 00 00 00 00 01 08 00");
  for (int i = 0; i < 3000; i++) {
    std::string f = eth;
    size_t n = rng() % 120;
    std::string body(n, '\0');
    for (char& c : body) c = static_cast<char>(rng());
    if (n > 20 && i % 2 == 0) {
      body[0] = 0x45;  // mostly valid IPv4 headers, to get past the first checks
      body[9] = static_cast<char>(i % 3 == 0 ? 1 : i % 3 == 1 ? 17 : 6);
    }
    if (i % 5 == 0) f[13] = 0x06;  // ARP
    f += body;
    s.ip().impl().LinkInput(ifp, RandomChain(f, rng, 1 + rng() % 16));
  }
  w.Run();
  w.Advance(absl::Seconds(120));  // reassembly and ARP timers
  EXPECT_GT(WireTotal(s.ip().stats()), 1000u);
}

}  // namespace
}  // namespace ustreams::ip::testing
