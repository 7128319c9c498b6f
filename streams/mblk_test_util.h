// Helpers shared by mblk_test.cc and mblk_reshape_test.cc: a fixture that checks for leaked (or
// doubly freed) message blocks and leftover allocation faults, and builders for test messages.
#pragma once

#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "streams/alloc.h"
#include "streams/mblk.h"
#include "streams/msg.h"

namespace ustreams::testing {

// Every test starts and ends with no injected faults, and must give back every mblk_t and data
// block it allocated: a leak or a double free shows up as a changed live count.
class MblkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    AllocFaults::Clear();
    start_ = GetAllocStats();
  }
  void TearDown() override {
    AllocFaults::Clear();  // also runs any bufcall a failed test left pending
    AllocStats end = GetAllocStats();
    EXPECT_EQ(end.live_mblks, start_.live_mblks) << "mblk_t leaked or freed twice";
    EXPECT_EQ(end.live_dblks, start_.live_dblks) << "data block leaked or freed twice";
    EXPECT_EQ(end.pending_bufcalls, start_.pending_bufcalls);
  }

  // Live counts relative to the start of the test.
  int64_t LiveMblks() const { return GetAllocStats().live_mblks - start_.live_mblks; }
  int64_t LiveDblks() const { return GetAllocStats().live_dblks - start_.live_dblks; }
  int64_t PendingBufcalls() const {
    return GetAllocStats().pending_bufcalls - start_.pending_bufcalls;
  }

  AllocStats start_{};
};

// A one-block message of `type` holding `data`, with `headroom` unused bytes before b_rptr and
// `tailroom` after b_wptr. Fails the test (returns nullptr) if allocb fails.
inline mblk_t* Block(std::string_view data, unsigned char type = M_DATA, size_t headroom = 0,
                     size_t tailroom = 0) {
  mblk_t* mp = allocb(headroom + data.size() + tailroom);
  EXPECT_NE(mp, nullptr);
  if (mp == nullptr) return nullptr;
  mp->b_datap->db_type = type;
  mp->b_rptr += headroom;
  mp->b_wptr = mp->b_rptr;
  if (!data.empty()) std::memcpy(mp->b_wptr, data.data(), data.size());
  mp->b_wptr += data.size();
  return mp;
}

// A message with one block of `type` per part, linked by b_cont.
inline mblk_t* Chain(std::initializer_list<std::string_view> parts,
                     unsigned char type = M_DATA) {
  mblk_t* head = nullptr;
  for (std::string_view part : parts) {
    mblk_t* bp = Block(part, type);
    if (head == nullptr) {
      head = bp;
    } else {
      linkb(head, bp);
    }
  }
  return head;
}

// `n` bytes "abc...zabc...", so misplaced bytes show in failure messages.
inline std::string Pattern(size_t n, size_t start = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + (start + i) % 26);
  return s;
}

inline size_t CountBlocks(const mblk_t* mp) {
  size_t n = 0;
  for (; mp != nullptr; mp = mp->b_cont) n++;
  return n;
}

// The `i`-th block of a message (0 = the head), or nullptr.
inline mblk_t* Nth(mblk_t* mp, size_t i) {
  while (mp != nullptr && i-- > 0) mp = mp->b_cont;
  return mp;
}

inline std::string BlockBytes(const mblk_t* mp) {
  return std::string(reinterpret_cast<const char*>(mp->b_rptr), MBLKL(mp));
}

}  // namespace ustreams::testing
