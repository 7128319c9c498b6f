#include "streams/placeholder.h"
#include "gtest/gtest.h"
TEST(Version, IsSet) { EXPECT_EQ(ustreams::Version(), "0.1"); }
