// A GoogleTest fixture that fails any test which ends with more message blocks alive than it
// started with (lwIP-style leak checking). Derive test fixtures from it.
#pragma once

#include "gtest/gtest.h"
#include "streams/alloc.h"

namespace ustreams::testing {

class LeakCheckedTest : public ::testing::Test {
 protected:
  void SetUp() override { before_ = GetAllocStats(); }
  void TearDown() override {
    AllocFaults::Clear();
    AllocStats after = GetAllocStats();
    EXPECT_EQ(after.live_mblks, before_.live_mblks) << "message blocks leaked";
    EXPECT_EQ(after.live_dblks, before_.live_dblks) << "data blocks leaked";
    EXPECT_EQ(after.pending_bufcalls, before_.pending_bufcalls) << "bufcalls left pending";
  }

 private:
  AllocStats before_{};
};

}  // namespace ustreams::testing
