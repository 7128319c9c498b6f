#include "modules/ip/siphash.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace ustreams::ip {
namespace {

// Reference vectors of the SipHash paper (appendix A) and its reference implementation:
// key 00 01 .. 0f, message 00 01 .. (len-1).
TEST(SipHash24, ReferenceVectors) {
  SipKey key{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
  unsigned char msg[64];
  for (int i = 0; i < 64; ++i) msg[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(SipHash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
  EXPECT_EQ(SipHash24(key, msg, 15), 0xa129ca6149be45e5ull);  // the paper's example
  EXPECT_EQ(SipHash24(key, msg, 1), 0x74f839c593dc67fdull);
  EXPECT_EQ(SipHash24(key, msg, 8), 0x93f5f5799a932462ull);
  EXPECT_EQ(SipHash24(key, msg, 63), 0x958a324ceb064572ull);
}

TEST(SipHash24, KeyMatters) {
  unsigned char msg[12] = {1, 2, 3};
  EXPECT_NE(SipHash24(SipKey{1, 2}, msg, sizeof msg), SipHash24(SipKey{1, 3}, msg, sizeof msg));
}

}  // namespace
}  // namespace ustreams::ip
