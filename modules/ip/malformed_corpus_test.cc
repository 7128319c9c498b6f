// Runs every frame of testdata/malformed through the parsers and checks each is refused with the
// reason its file name starts with (<reason>__<what>.hex). Add a file to add a case: hex bytes,
// whitespace and '#' comments free (modules/ip/fuzz/make_corpus.cc writes the initial set).
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "modules/ip/wire.h"
#include "modules/ip/wire_test_util.h"
#include "streams/msg.h"
#include "streams/testing/leak_check.h"

namespace ustreams::ip {
namespace {

constexpr const char* kDir = "modules/ip/testdata/malformed";

class MalformedCorpusTest : public ustreams::testing::LeakCheckedTest {};

TEST_F(MalformedCorpusTest, EveryFrameIsRefusedWithItsReason) {
  ASSERT_TRUE(std::filesystem::is_directory(kDir)) << kDir << " missing from the runfiles";
  std::set<std::string> reasons_seen;
  std::mt19937 rng(1);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kDir)) {
    std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".hex") continue;
    files++;
    size_t sep = name.find("__");
    ASSERT_NE(sep, std::string::npos) << name << ": expected <reason>__<what>.hex";
    std::string want = name.substr(0, sep);
    std::ifstream in(entry.path(), std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    bool ok = false;
    std::string frame = testing::FromHex(text.str(), &ok);
    ASSERT_TRUE(ok) << name << ": not hex";
    EXPECT_EQ(WireErrorName(testing::ParseFrameLayers(testing::View(frame))), want) << name;
    // The same answer whatever the block boundaries.
    for (int round = 0; round < 20; ++round) {
      MsgPtr mp = testing::RandomChain(frame, rng, 1 + round * 3);
      EXPECT_EQ(WireErrorName(testing::ParseFrameLayers(PacketView::OfChain(mp.get()))), want)
          << name << " split round " << round;
    }
    reasons_seen.insert(want);
  }
  EXPECT_GT(files, 0);
  // Every reason a frame can be refused for has at least one example.
  for (size_t i = 1; i < kWireErrorCount; ++i) {
    const char* reason = WireErrorName(static_cast<WireError>(i));
    EXPECT_TRUE(reasons_seen.count(reason)) << "no malformed example for " << reason;
  }
}

}  // namespace
}  // namespace ustreams::ip
