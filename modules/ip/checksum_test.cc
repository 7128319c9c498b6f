#include "modules/ip/checksum.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "modules/ip/packet_view.h"
#include "modules/ip/wire.h"
#include "modules/ip/wire_test_util.h"
#include "streams/msg.h"
#include "streams/testing/leak_check.h"

namespace ustreams::ip {
namespace {

using testing::Chain;
using testing::RandomChain;

// The textbook RFC 1071 loop, one big-endian word at a time: the reference every fast path is
// checked against.
uint16_t ReferenceSum(const std::string& s) {
  uint32_t sum = 0;
  for (size_t i = 0; i < s.size(); i += 2) {
    uint32_t hi = static_cast<uint8_t>(s[i]);
    uint32_t lo = i + 1 < s.size() ? static_cast<uint8_t>(s[i + 1]) : 0;
    sum += hi << 8 | lo;
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<uint16_t>(sum);
}

std::string RandomBytes(std::mt19937& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Sums are equal as ones'-complement numbers: 0 and 0xffff are both zero.
bool SameSum(uint32_t a, uint32_t b) {
  uint16_t fa = ChecksumFold(a);
  uint16_t fb = ChecksumFold(b);
  return fa == fb || (fa == 0 && fb == 0xffff) || (fa == 0xffff && fb == 0);
}

class ChecksumTest : public ustreams::testing::LeakCheckedTest {};

TEST_F(ChecksumTest, Rfc1071Example) {
  // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
  const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(ChecksumAdd(b, sizeof(b)), 0xddf2u);
  EXPECT_EQ(InternetChecksum(b, sizeof(b)), 0x220d);
}

TEST_F(ChecksumTest, KnownIpv4Header) {
  // A classic example header (Wikipedia "IPv4 header checksum"): checksum b861.
  const uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                       0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  EXPECT_EQ(InternetChecksum(h, sizeof(h)), 0xb861);
}

TEST_F(ChecksumTest, ContiguousMatchesReferenceAtEveryLengthAndAlignment) {
  std::mt19937 rng(1);
  std::string buf = RandomBytes(rng, 600);
  for (size_t align = 0; align < 8; ++align) {
    for (size_t len = 0; len + align <= 300; ++len) {
      std::string s = buf.substr(align, len);
      ASSERT_EQ(ChecksumAdd(buf.data() + align, len), ReferenceSum(s))
          << "align " << align << " len " << len;
    }
  }
}

TEST_F(ChecksumTest, AllOnesAndAllZeros) {
  std::string ones(65536, '\xff');
  EXPECT_TRUE(SameSum(ChecksumAdd(ones.data(), ones.size()), 0xffff));
  std::string zeros(65536, '\0');
  EXPECT_EQ(ChecksumAdd(zeros.data(), zeros.size()), 0u);
  // 65535 bytes of 0xff: 32767 words of ffff and one ff00.
  EXPECT_EQ(ChecksumAdd(ones.data(), 65535), ReferenceSum(ones.substr(0, 65535)));
}

TEST_F(ChecksumTest, ChainsOfRandomBlockSizesMatchReference) {
  std::mt19937 rng(2);
  for (int round = 0; round < 2000; ++round) {
    size_t len = rng() % 2000;
    std::string s = RandomBytes(rng, len);
    size_t max_block = round % 3 == 0 ? 3 : round % 3 == 1 ? 17 : 400;
    MsgPtr mp = RandomChain(s, rng, max_block);
    ASSERT_TRUE(mp);
    ASSERT_EQ(msgsize(mp.get()), len);
    ASSERT_TRUE(SameSum(ChainSum(mp.get(), 0, len), ReferenceSum(s))) << "round " << round;
    // A random window of the chain, and the same through PacketView.
    size_t skip = len == 0 ? 0 : rng() % (len + 1);
    size_t n = rng() % (len - skip + 1);
    ASSERT_TRUE(SameSum(ChainSum(mp.get(), skip, n), ReferenceSum(s.substr(skip, n))));
    ASSERT_TRUE(SameSum(PacketView::OfChain(mp.get()).Sub(skip, n).Sum(),
                        ReferenceSum(s.substr(skip, n))));
    ASSERT_EQ(InternetChecksum(mp.get()), InternetChecksum(s.data(), s.size()));
  }
}

TEST_F(ChecksumTest, OddBlocksEverywhere) {
  // Every split of a short message into three blocks, including empty ones.
  std::string s = "\x12\x34\x56\x78\x9a\xbc\xde\xf0\x0f\x1e\x2d";
  for (size_t a = 0; a <= s.size(); ++a) {
    for (size_t b = 0; a + b <= s.size(); ++b) {
      MsgPtr mp = Chain(s, {a, b, 0});
      ASSERT_TRUE(SameSum(ChainSum(mp.get(), 0, s.size()), ReferenceSum(s))) << a << "," << b;
    }
  }
}

TEST_F(ChecksumTest, ChainSumClampsToTheChain) {
  std::string s = "abcdef";
  MsgPtr mp = Chain(s, {2, 1});
  EXPECT_EQ(ChainSum(mp.get(), 0, 1000), ChecksumAdd(s.data(), s.size()));
  EXPECT_EQ(ChainSum(mp.get(), 10, 4), 0u);
  EXPECT_EQ(ChainSum(nullptr, 0, 4), 0u);
}

TEST_F(ChecksumTest, PseudoHeaderMatchesReference) {
  std::mt19937 rng(3);
  for (int i = 0; i < 1000; ++i) {
    uint32_t src = rng(), dst = rng();
    auto len = static_cast<uint16_t>(rng());
    uint8_t proto = static_cast<uint8_t>(rng());
    std::string ph(12, '\0');
    for (int k = 0; k < 4; ++k) {
      ph[k] = static_cast<char>(src >> (24 - 8 * k));
      ph[4 + k] = static_cast<char>(dst >> (24 - 8 * k));
    }
    ph[9] = static_cast<char>(proto);
    ph[10] = static_cast<char>(len >> 8);
    ph[11] = static_cast<char>(len);
    ASSERT_TRUE(SameSum(PseudoHeaderSum(src, dst, proto, len), ReferenceSum(ph)));
  }
}

// RFC 1624: the incremental update gives what a full recomputation gives.
TEST_F(ChecksumTest, AdjustMatchesRecomputation) {
  std::mt19937 rng(4);
  for (int i = 0; i < 20000; ++i) {
    uint8_t h[20];
    for (auto& b : h) b = static_cast<uint8_t>(rng());
    h[10] = h[11] = 0;
    uint16_t c = InternetChecksum(h, sizeof(h));
    size_t word = (rng() % 10) * 2;
    if (word == 10) continue;  // the checksum field itself
    uint16_t old_word = static_cast<uint16_t>(h[word] << 8 | h[word + 1]);
    auto new_word = static_cast<uint16_t>(rng());
    h[word] = static_cast<uint8_t>(new_word >> 8);
    h[word + 1] = static_cast<uint8_t>(new_word);
    uint16_t full = InternetChecksum(h, sizeof(h));
    uint16_t inc = ChecksumAdjust16(c, old_word, new_word);
    ASSERT_EQ(inc, full) << "round " << i;
  }
}

// The corner RFC 1624 §3 is about: the new checksum is 0x0000 (the other words sum to -0).
TEST_F(ChecksumTest, AdjustToAZeroChecksum) {
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; ++i) {
    uint8_t h[20];
    for (auto& b : h) b = static_cast<uint8_t>(rng());
    h[10] = h[11] = 0;
    uint16_t c = InternetChecksum(h, sizeof(h));
    uint16_t old_word = static_cast<uint16_t>(h[0] << 8 | h[1]);
    // Choose word 0 so that all words sum to 0xffff: then the full checksum is 0x0000.
    h[0] = h[1] = 0;
    uint16_t rest = ChecksumFold(ChecksumAdd(h, sizeof(h)));
    auto new_word = static_cast<uint16_t>(0xffff - rest);
    h[0] = static_cast<uint8_t>(new_word >> 8);
    h[1] = static_cast<uint8_t>(new_word);
    uint16_t full = InternetChecksum(h, sizeof(h));
    ASSERT_EQ(full, 0);
    ASSERT_EQ(ChecksumAdjust16(c, old_word, new_word), full) << "round " << i;
  }
}

TEST_F(ChecksumTest, Adjust32ForAnAddress) {
  std::mt19937 rng(5);
  for (int i = 0; i < 1000; ++i) {
    Ipv4Header h = testing::TestIpv4(kProtoUdp);
    h.total_length = 20;
    h.src = rng();
    uint8_t b[20];
    ASSERT_EQ(WriteIpv4(h, b), 20u);
    uint16_t c = static_cast<uint16_t>(b[10] << 8 | b[11]);
    uint32_t old_src = h.src;
    h.src = rng();
    ASSERT_EQ(WriteIpv4(h, b), 20u);
    EXPECT_EQ(ChecksumAdjust32(c, old_src, h.src), static_cast<uint16_t>(b[10] << 8 | b[11]));
  }
}

TEST_F(ChecksumTest, TtlDecrementEveryTtlAndProtocol) {
  std::mt19937 rng(6);
  for (int ttl = 1; ttl <= 255; ++ttl) {
    for (int proto = 0; proto <= 255; ++proto) {
      Ipv4Header h = testing::TestIpv4(static_cast<uint8_t>(proto), static_cast<uint16_t>(rng()));
      h.ttl = static_cast<uint8_t>(ttl);
      h.total_length = 20;
      h.src = rng();
      uint8_t b[20];
      ASSERT_EQ(WriteIpv4(h, b), 20u);
      Ipv4DecrementTtl(b);
      ASSERT_EQ(b[8], ttl - 1);
      ASSERT_EQ(InternetChecksum(b, sizeof(b)), 0) << "ttl " << ttl << " proto " << proto;
      uint8_t want[20];
      h.ttl = static_cast<uint8_t>(ttl - 1);
      WriteIpv4(h, want);
      ASSERT_EQ(0, std::memcmp(b, want, 20)) << "ttl " << ttl << " proto " << proto;
    }
  }
}

}  // namespace
}  // namespace ustreams::ip
