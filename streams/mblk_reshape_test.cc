// Reshaping and inspecting messages, against the illumos manual pages: linkb(9F), unlinkb(9F),
// rmvb(9F), msgdsize(9F), datamsg(9F), pullupmsg(9F), msgpullup(9F), adjmsg(9F).
// Allocation, sharing and copying are in mblk_test.cc.
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "streams/alloc.h"
#include "streams/mblk.h"
#include "streams/mblk_test_util.h"
#include "streams/msg.h"

namespace ustreams {
namespace {

using testing::Block;
using testing::BlockBytes;
using testing::Chain;
using testing::CountBlocks;
using testing::MblkTest;
using testing::Nth;
using testing::Pattern;

// The visible state of every block of a message, to show that a failed call changed nothing.
struct BlockState {
  const mblk_t* mp;
  const dblk_t* db;
  const unsigned char* rptr;
  const unsigned char* wptr;
  unsigned char type;
  uint32_t ref;
  std::string bytes;
  bool operator==(const BlockState&) const = default;
};

std::vector<BlockState> Snapshot(const mblk_t* mp) {
  std::vector<BlockState> s;
  for (; mp != nullptr; mp = mp->b_cont) {
    s.push_back({mp, mp->b_datap, mp->b_rptr, mp->b_wptr, DB_TYPE(mp), DB_REF(mp),
                 BlockBytes(mp)});
  }
  return s;
}

// `n` blocks of `len` bytes each, continuing one Pattern() across them.
mblk_t* Blocks(size_t n, size_t len, unsigned char type = M_DATA) {
  mblk_t* head = nullptr;
  for (size_t i = 0; i < n; i++) {
    mblk_t* bp = Block(Pattern(len, i * len), type);
    if (head == nullptr) {
      head = bp;
    } else {
      linkb(head, bp);
    }
  }
  return head;
}

bool IsAligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % sizeof(long) == 0; }

// ---------------------------------------------------------------------------------------------
// linkb(9F): "linkb() creates a new message by adding bp to the tail of the message pointed to
// by mp." unlinkb(9F): "unlinkb() removes the first message block from the message pointed to by
// mp. A new message, minus the removed message block, is returned." (NULL if mp was one block.)

TEST_F(MblkTest, LinkbAppendsAtTheTail) {
  mblk_t* mp = Block("a");
  mblk_t* b = Block("b");
  linkb(mp, b);
  EXPECT_EQ(mp->b_cont, b);
  mblk_t* rest = Chain({"c", "d"});
  linkb(mp, rest);  // a whole message goes on the end
  EXPECT_EQ(b->b_cont, rest);
  EXPECT_EQ(CountBlocks(mp), 4u);
  EXPECT_EQ(MsgBytes(mp), "abcd");
  linkb(b, Block("e"));  // from a middle block: still the tail of the message
  EXPECT_EQ(MsgBytes(mp), "abcde");
  freemsg(mp);
}

TEST_F(MblkTest, UnlinkbRemovesTheFirstBlock) {
  mblk_t* mp = Chain({"first", "second", "third"});
  mblk_t* second = mp->b_cont;
  mblk_t* rest = unlinkb(mp);
  EXPECT_EQ(rest, second);
  EXPECT_EQ(mp->b_cont, nullptr);
  EXPECT_EQ(MsgBytes(mp), "first");
  EXPECT_EQ(MsgBytes(rest), "secondthird");
  EXPECT_EQ(unlinkb(mp), nullptr);  // one block: nothing left
  freeb(mp);
  freemsg(rest);
}

// rmvb(9F): "rmvb() removes a message block (bp) from a message (mp), and returns a pointer to
// the altered message ... If bp is not included in the message, returns -1. If the message
// block is the only block of the message, returns NULL."

TEST_F(MblkTest, RmvbFromTheMiddle) {
  mblk_t* mp = Chain({"a", "b", "c"});
  mblk_t* b = mp->b_cont;
  EXPECT_EQ(rmvb(mp, b), mp);
  EXPECT_EQ(b->b_cont, nullptr);
  EXPECT_EQ(MsgBytes(mp), "ac");
  freeb(b);
  freemsg(mp);
}

TEST_F(MblkTest, RmvbOfTheLastBlock) {
  mblk_t* mp = Chain({"a", "b", "c"});
  mblk_t* c = Nth(mp, 2);
  EXPECT_EQ(rmvb(mp, c), mp);
  EXPECT_EQ(mp->b_cont->b_cont, nullptr);
  EXPECT_EQ(MsgBytes(mp), "ab");
  freeb(c);
  freemsg(mp);
}

TEST_F(MblkTest, RmvbOfTheFirstBlockReturnsTheSecond) {
  mblk_t* mp = Chain({"a", "b", "c"});
  mblk_t* second = mp->b_cont;
  EXPECT_EQ(rmvb(mp, mp), second);
  EXPECT_EQ(mp->b_cont, nullptr);
  EXPECT_EQ(MsgBytes(second), "bc");
  freeb(mp);
  freemsg(second);
}

TEST_F(MblkTest, RmvbOfTheOnlyBlockReturnsNull) {
  mblk_t* mp = Block("only");
  EXPECT_EQ(rmvb(mp, mp), nullptr);
  freeb(mp);
}

TEST_F(MblkTest, RmvbOfABlockNotInTheMessageReturnsMinusOne) {
  mblk_t* mp = Chain({"a", "b"});
  mblk_t* other = Chain({"x", "y"});
  auto before = Snapshot(mp);
  EXPECT_EQ(rmvb(mp, other), reinterpret_cast<mblk_t*>(-1));
  EXPECT_EQ(rmvb(mp, other->b_cont), reinterpret_cast<mblk_t*>(-1));
  EXPECT_EQ(rmvb(mp->b_cont, mp), reinterpret_cast<mblk_t*>(-1));  // only looks forward
  EXPECT_EQ(Snapshot(mp), before);
  EXPECT_EQ(MsgBytes(other), "xy");
  freemsg(mp);
  freemsg(other);
}

// ---------------------------------------------------------------------------------------------
// msgdsize(9F): "msgdsize() counts the number of bytes in a data message. Only bytes included in
// the data blocks of type M_DATA are included in the count." msgsize counts every block.
// datamsg(9F): true for M_DATA, M_DELAY, M_PROTO and M_PCPROTO.

TEST_F(MblkTest, MsgdsizeCountsOnlyMData) {
  mblk_t* mp = Block("prot", M_PROTO);
  linkb(mp, Block("0123456789", M_DATA, /*headroom=*/6, /*tailroom=*/9));
  linkb(mp, Block("ctl", M_CTL));
  linkb(mp, Block("abcde"));
  linkb(mp, allocb(100));  // empty: counts nothing
  EXPECT_EQ(msgdsize(mp), 15u);
  EXPECT_EQ(msgsize(mp), 22u);
  EXPECT_EQ(msgdsize(mp->b_cont->b_cont), 5u);  // from a middle block on
  mblk_t* ctl = Block("ctl only", M_CTL);
  EXPECT_EQ(msgdsize(ctl), 0u);
  EXPECT_EQ(msgsize(ctl), 8u);
  EXPECT_EQ(msgdsize(nullptr), 0u);
  EXPECT_EQ(msgsize(nullptr), 0u);
  freeb(ctl);
  freemsg(mp);
}

TEST(MblkInspectTest, Datamsg) {
  for (unsigned char t : {M_DATA, M_PROTO, M_PCPROTO, M_DELAY}) {
    EXPECT_TRUE(datamsg(t)) << MessageTypeName(t);
  }
  for (unsigned char t : {M_CTL, M_IOCTL, M_FLUSH, M_BREAK, M_PASSFP, M_SIG, M_SETOPTS, M_IOCACK,
                          M_IOCNAK, M_PCSIG, M_READ, M_STOP, M_START, M_HANGUP, M_ERROR,
                          M_COPYIN, M_COPYOUT, M_IOCDATA, M_CMD, M_REPLY}) {
    EXPECT_FALSE(datamsg(t)) << MessageTypeName(t);
  }
}

TEST(MblkInspectTest, PriorityClassAndNames) {
  mblk_t* mp = allocb(1);
  ASSERT_NE(mp, nullptr);
  EXPECT_FALSE(queclass_is_hipri(mp));
  EXPECT_EQ(queclass(mp), QNORM);
  DB_TYPE(mp) = M_PCPROTO;
  EXPECT_TRUE(queclass_is_hipri(mp));
  EXPECT_EQ(queclass(mp), QPCTL);
  freeb(mp);
  EXPECT_STREQ(MessageTypeName(M_DATA), "M_DATA");
  EXPECT_STREQ(MessageTypeName(M_PCPROTO), "M_PCPROTO");
  EXPECT_STREQ(MessageTypeName(0x7f), "M_<unknown>");
}

// ---------------------------------------------------------------------------------------------
// pullupmsg(9F): "pullupmsg() tries to combine multiple data blocks into a single block.
// pullupmsg() concatenates and aligns the first len data bytes of the message pointed to by mp.
// If len equals -1, all data are concatenated. If len bytes of the same message type cannot be
// found, pullupmsg() fails and returns 0." On success 1. The caller's mp stays the head.

TEST_F(MblkTest, PullupmsgAcrossManyBlocks) {
  mblk_t* mp = Blocks(10, 7);
  const std::string all = Pattern(70);
  mblk_t* ninth = Nth(mp, 8);
  mblk_t* tenth = Nth(mp, 9);
  ASSERT_EQ(pullupmsg(mp, 50), 1);

  ASSERT_GE(MBLKL(mp), 50u);
  EXPECT_EQ(BlockBytes(mp).substr(0, 50), all.substr(0, 50));
  EXPECT_TRUE(IsAligned(mp->b_rptr));
  EXPECT_EQ(DB_TYPE(mp), M_DATA);
  EXPECT_EQ(DB_REF(mp), 1u);
  EXPECT_EQ(MsgBytes(mp), all) << "bytes lost, duplicated or reordered";
  EXPECT_EQ(msgdsize(mp), 70u);
  // Blocks 1-7 are used up and freed; block 8 gave one byte; 9 and 10 are untouched.
  EXPECT_EQ(CountBlocks(mp), 4u);
  EXPECT_EQ(MBLKL(mp), 50u);
  EXPECT_EQ(BlockBytes(mp->b_cont), all.substr(50, 6));
  EXPECT_EQ(Nth(mp, 2), ninth);
  EXPECT_EQ(Nth(mp, 3), tenth);
  EXPECT_EQ(LiveMblks(), 4);
  EXPECT_EQ(LiveDblks(), 4);
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgOfEverything) {
  mblk_t* mp = Blocks(10, 7);
  ASSERT_EQ(pullupmsg(mp, -1), 1);
  EXPECT_EQ(mp->b_cont, nullptr);
  EXPECT_EQ(BlockBytes(mp), Pattern(70));
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(LiveDblks(), 1);
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgOfExactlyAllBytes) {
  mblk_t* mp = Blocks(3, 5);
  ASSERT_EQ(pullupmsg(mp, 15), 1);
  EXPECT_EQ(mp->b_cont, nullptr);
  EXPECT_EQ(BlockBytes(mp), Pattern(15));
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgMinusOneStopsAtADifferentType) {
  mblk_t* mp = Chain({"ab", "cde"}, M_PROTO);
  mp->b_band = 5;
  mp->b_flag = MSGMARK;
  mblk_t* data = Chain({"fgh", "ij"});
  linkb(mp, data);
  ASSERT_EQ(pullupmsg(mp, -1), 1);
  EXPECT_EQ(DB_TYPE(mp), M_PROTO);
  EXPECT_EQ(BlockBytes(mp), "abcde");
  EXPECT_EQ(mp->b_cont, data) << "the M_DATA blocks are not part of the pullup";
  EXPECT_EQ(MsgBytes(mp), "abcdefghij");
  EXPECT_EQ(mp->b_band, 5);
  EXPECT_EQ(mp->b_flag, MSGMARK);
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgOfMoreThanThereIsFailsAndChangesNothing) {
  mblk_t* mp = Blocks(10, 7);
  const auto before = Snapshot(mp);
  EXPECT_EQ(pullupmsg(mp, 71), 0);
  EXPECT_EQ(pullupmsg(mp, 1 << 20), 0);
  EXPECT_EQ(pullupmsg(mp, -2), 0);  // not a length
  EXPECT_EQ(Snapshot(mp), before);

  // Bytes of another type do not count.
  mblk_t* proto = Block("hello", M_PROTO);
  linkb(proto, Block("0123456789"));
  const auto proto_before = Snapshot(proto);
  EXPECT_EQ(pullupmsg(proto, 6), 0);
  EXPECT_EQ(Snapshot(proto), proto_before);
  freemsg(proto);
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgWithinAnAlignedFirstBlockChangesNothing) {
  mblk_t* mp = Chain({"0123456789", "abc"});
  auto before = Snapshot(mp);
  EXPECT_EQ(pullupmsg(mp, 10), 1);
  EXPECT_EQ(pullupmsg(mp, 0), 1);
  EXPECT_EQ(Snapshot(mp), before);

  mblk_t* single = Block("single");
  before = Snapshot(single);
  EXPECT_EQ(pullupmsg(single, -1), 1);
  EXPECT_EQ(Snapshot(single), before);
  freemsg(single);
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgAlignsAnUnalignedFirstBlock) {
  mblk_t* mp = Block("0123456789", M_PROTO, /*headroom=*/3);
  linkb(mp, Block("rest"));
  ASSERT_FALSE(IsAligned(mp->b_rptr));
  ASSERT_EQ(pullupmsg(mp, 4), 1);
  EXPECT_TRUE(IsAligned(mp->b_rptr));
  EXPECT_GE(MBLKL(mp), 4u);
  EXPECT_EQ(DB_TYPE(mp), M_PROTO);
  EXPECT_EQ(MsgBytes(mp), "0123456789rest");
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgSkipsEmptyBlocks) {
  mblk_t* mp = Block("abc");
  linkb(mp, allocb(32));
  linkb(mp, Block("defg"));
  linkb(mp, allocb(0));
  ASSERT_EQ(pullupmsg(mp, -1), 1);
  EXPECT_EQ(MsgBytes(mp), "abcdefg");
  EXPECT_EQ(BlockBytes(mp), "abcdefg");
  EXPECT_EQ(msgsize(mp->b_cont), 0u);
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgIntoALargeBlock) {
  mblk_t* mp = Blocks(3, 30000);
  ASSERT_EQ(pullupmsg(mp, -1), 1);
  EXPECT_EQ(mp->b_cont, nullptr);
  EXPECT_EQ(BlockBytes(mp), Pattern(90000));
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgLeavesASharedFirstBlockAlone) {
  mblk_t* mp = Chain({"0123456", "789"});
  mblk_t* other = dupb(mp);  // another holder of the first data block
  ASSERT_NE(other, nullptr);
  dblk_t* shared = mp->b_datap;
  auto other_before = Snapshot(other);

  ASSERT_EQ(pullupmsg(mp, 10), 1);
  EXPECT_EQ(BlockBytes(mp), "0123456789");
  EXPECT_NE(mp->b_datap, shared) << "pullupmsg wrote into a shared data block";
  EXPECT_EQ(DB_REF(mp), 1u);
  EXPECT_EQ(other->b_datap, shared);
  other_before[0].ref = 1;  // mp no longer refers to it
  EXPECT_EQ(Snapshot(other), other_before);

  mp->b_rptr[0] = 'X';  // mp's new block is its own
  EXPECT_EQ(BlockBytes(other), "0123456");
  freeb(other);  // debug builds also check that the shared data never changed
  EXPECT_EQ(BlockBytes(mp), "X123456789");
  freemsg(mp);
}

TEST_F(MblkTest, PullupmsgLeavesASharedLaterBlockAlone) {
  mblk_t* mp = Chain({"abc", "defg", "hi"});
  mblk_t* other = dupb(mp->b_cont);
  ASSERT_EQ(pullupmsg(mp, -1), 1);
  EXPECT_EQ(BlockBytes(mp), "abcdefghi");
  EXPECT_EQ(DB_REF(other), 1u);
  EXPECT_EQ(BlockBytes(other), "defg");
  freemsg(mp);
  freeb(other);
}

void CountFree(char* arg) { ++*reinterpret_cast<int*>(arg); }

TEST_F(MblkTest, PullupmsgOfAnEsballocBlockReleasesTheBuffer) {
  unsigned char buf[8] = {'e', 's', 'b'};
  int frees = 0;
  frtn_t fr{CountFree, reinterpret_cast<char*>(&frees)};
  mblk_t* mp = esballoc(buf, sizeof buf, BPRI_MED, &fr);
  ASSERT_NE(mp, nullptr);
  mp->b_wptr += 3;
  linkb(mp, Block("123"));
  ASSERT_EQ(pullupmsg(mp, -1), 1);
  EXPECT_EQ(frees, 1) << "the caller's buffer was copied out and is no longer referenced";
  EXPECT_EQ(BlockBytes(mp), "esb123");
  EXPECT_EQ(mp->b_datap->db_frtnp, nullptr);
  freemsg(mp);
  EXPECT_EQ(frees, 1);
}

TEST_F(MblkTest, PullupmsgFailsCleanlyWhenAllocationFails) {
  mblk_t* mp = Blocks(4, 5);
  auto before = Snapshot(mp);
  AllocFaults::FailEveryNth(1);
  EXPECT_EQ(pullupmsg(mp, -1), 0);
  EXPECT_EQ(pullupmsg(mp, 12), 0);
  AllocFaults::Clear();
  EXPECT_EQ(Snapshot(mp), before);
  freemsg(mp);
}

// ---------------------------------------------------------------------------------------------
// msgpullup(9F): "msgpullup() concatenates and aligns the first len data bytes of the message
// pointed to by mp, copying the data into a new message. Any remaining bytes in the remaining
// message blocks will be copied and linked onto the new message. The original message is
// unaltered. If len equals -1, all data are concatenated. If len bytes of the same message type
// cannot be found, msgpullup() fails and returns NULL."

TEST_F(MblkTest, MsgpullupMakesANewMessage) {
  mblk_t* mp = Blocks(10, 7);
  mp->b_band = 3;
  auto before = Snapshot(mp);
  mblk_t* np = msgpullup(mp, 50);
  ASSERT_NE(np, nullptr);
  EXPECT_EQ(Snapshot(mp), before) << "the original message is unaltered";

  EXPECT_NE(np, mp);
  ASSERT_GE(MBLKL(np), 50u);
  EXPECT_EQ(BlockBytes(np).substr(0, 50), Pattern(50));
  EXPECT_TRUE(IsAligned(np->b_rptr));
  EXPECT_EQ(MsgBytes(np), Pattern(70));
  EXPECT_EQ(np->b_band, 3);
  for (mblk_t* bp = np; bp != nullptr; bp = bp->b_cont) {
    for (const BlockState& o : before) EXPECT_NE(bp, o.mp);
  }

  freemsg(mp);  // the new message stands alone
  EXPECT_EQ(MsgBytes(np), Pattern(70));
  freemsg(np);
}

TEST_F(MblkTest, MsgpullupMinusOneKeepsTheOtherTypesAfter) {
  mblk_t* mp = Chain({"ab", "cde"}, M_PROTO);
  linkb(mp, Chain({"fgh", "ij"}));
  auto before = Snapshot(mp);
  mblk_t* np = msgpullup(mp, -1);
  ASSERT_NE(np, nullptr);
  EXPECT_EQ(DB_TYPE(np), M_PROTO);
  EXPECT_EQ(BlockBytes(np), "abcde");
  ASSERT_NE(np->b_cont, nullptr);
  EXPECT_EQ(DB_TYPE(np->b_cont), M_DATA);
  EXPECT_EQ(MsgBytes(np->b_cont), "fghij");
  // The original is unaltered apart from reference counts, if the tail was shared.
  auto after = Snapshot(mp);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); i++) {
    after[i].ref = before[i].ref;
    EXPECT_EQ(after[i], before[i]) << "block " << i;
  }
  freemsg(mp);
  EXPECT_EQ(MsgBytes(np), "abcdefghij");
  freemsg(np);
}

TEST_F(MblkTest, MsgpullupOfMoreThanTheLeadingRunFails) {
  mblk_t* mp = Chain({"ab", "cde"}, M_PROTO);
  linkb(mp, Block("fghij"));
  auto before = Snapshot(mp);
  EXPECT_EQ(msgpullup(mp, 6), nullptr);  // 10 bytes in all, but only 5 of M_PROTO
  EXPECT_EQ(msgpullup(mp, -2), nullptr);
  EXPECT_EQ(Snapshot(mp), before);
  mblk_t* np = msgpullup(mp, 5);
  ASSERT_NE(np, nullptr);
  EXPECT_EQ(MsgBytes(np), "abcdefghij");
  freemsg(np);
  freemsg(mp);
}

TEST_F(MblkTest, MsgpullupOfZeroCopiesTheMessage) {
  mblk_t* mp = Chain({"x", "yz"});
  mblk_t* np = msgpullup(mp, 0);
  ASSERT_NE(np, nullptr);
  EXPECT_EQ(MsgBytes(np), "xyz");
  freemsg(np);
  freemsg(mp);
}

TEST_F(MblkTest, MsgpullupFailsCleanlyWhenAllocationFails) {
  mblk_t* mp = Chain({"ab", "cde"}, M_PROTO);
  linkb(mp, Block("fghij"));
  auto before = Snapshot(mp);
  AllocFaults::FailEveryNth(1);
  EXPECT_EQ(msgpullup(mp, -1), nullptr);
  AllocFaults::FailEveryNth(2);  // the pullup's buffer succeeds, duplicating the tail fails
  EXPECT_EQ(msgpullup(mp, -1), nullptr);
  AllocFaults::Clear();
  EXPECT_EQ(Snapshot(mp), before);
  freemsg(mp);
}

// ---------------------------------------------------------------------------------------------
// adjmsg(9F): "adjmsg() trims bytes from either the head or tail of the message specified by
// mp. If len is greater than zero, it removes len bytes from the beginning of mp. If len is less
// than zero, it removes (-len) bytes from the end of mp. If len is zero, adjmsg() does nothing."
// It fails (0) if the message has fewer than len bytes (of the leading block's type) to trim.

TEST_F(MblkTest, AdjmsgTrimsFromTheHeadAcrossBlocks) {
  mblk_t* mp = Chain({"abcde", "fghij", "klmno"});
  mblk_t* third = Nth(mp, 2);
  ASSERT_EQ(adjmsg(mp, 7), 1);
  EXPECT_EQ(MsgBytes(mp), "hijklmno");
  EXPECT_EQ(msgdsize(mp), 8u);
  EXPECT_EQ(MBLKL(mp), 0u) << "the first block stays, emptied";
  EXPECT_EQ(BlockBytes(mp->b_cont), "hij");
  EXPECT_EQ(Nth(mp, 2), third);

  ASSERT_EQ(adjmsg(mp, 3), 1);  // empties the second block, which is freed
  EXPECT_EQ(MsgBytes(mp), "klmno");
  EXPECT_EQ(CountBlocks(mp), 2u);
  EXPECT_EQ(LiveMblks(), 2);
  freemsg(mp);
}

TEST_F(MblkTest, AdjmsgTrimsFromTheTailAcrossBlocks) {
  mblk_t* mp = Chain({"abcde", "fghij", "klmno"});
  ASSERT_EQ(adjmsg(mp, -7), 1);
  EXPECT_EQ(MsgBytes(mp), "abcdefgh");
  EXPECT_EQ(CountBlocks(mp), 2u) << "the emptied last block is freed";
  EXPECT_EQ(BlockBytes(mp->b_cont), "fgh");
  EXPECT_EQ(LiveMblks(), 2);
  ASSERT_EQ(adjmsg(mp, -4), 1);
  EXPECT_EQ(MsgBytes(mp), "abcd");
  EXPECT_EQ(CountBlocks(mp), 1u);
  freemsg(mp);
}

TEST_F(MblkTest, AdjmsgOfTheExactTotal) {
  for (ssize_t len : {15, -15}) {
    mblk_t* mp = Chain({"abcde", "fghij", "klmno"});
    ASSERT_EQ(adjmsg(mp, len), 1) << len;
    EXPECT_EQ(msgdsize(mp), 0u) << len;
    EXPECT_EQ(CountBlocks(mp), 1u) << "only the (empty) first block remains";
    EXPECT_EQ(LiveMblks(), 1);
    freemsg(mp);
  }
}

TEST_F(MblkTest, AdjmsgPastTheEndFailsAndChangesNothing) {
  mblk_t* mp = Chain({"abcde", "fghij", "klmno"});
  auto before = Snapshot(mp);
  EXPECT_EQ(adjmsg(mp, 16), 0);
  EXPECT_EQ(adjmsg(mp, -16), 0);
  EXPECT_EQ(adjmsg(mp, 1 << 30), 0);
  EXPECT_EQ(Snapshot(mp), before);
  freemsg(mp);
}

TEST_F(MblkTest, AdjmsgOfTheMostNegativeLengthFails) {
  // -SSIZE_MIN does not fit in an ssize_t; it is still far more than the message holds.
  mblk_t* mp = Chain({"abc", "def"});
  auto before = Snapshot(mp);
  EXPECT_EQ(adjmsg(mp, std::numeric_limits<ssize_t>::min()), 0);
  EXPECT_EQ(adjmsg(mp, std::numeric_limits<ssize_t>::max()), 0);
  EXPECT_EQ(Snapshot(mp), before);
  freemsg(mp);
}

TEST_F(MblkTest, AdjmsgOfZeroDoesNothing) {
  mblk_t* mp = Chain({"abc", "def"});
  auto before = Snapshot(mp);
  EXPECT_EQ(adjmsg(mp, 0), 1);
  EXPECT_EQ(Snapshot(mp), before);
  mblk_t* empty = allocb(0);
  EXPECT_EQ(adjmsg(empty, 0), 1);
  EXPECT_EQ(adjmsg(empty, 1), 0);
  EXPECT_EQ(adjmsg(empty, -1), 0);
  freeb(empty);
  freemsg(mp);
}

TEST_F(MblkTest, AdjmsgStaysWithinTheLeadingType) {
  mblk_t* mp = Chain({"pr", "ot"}, M_PROTO);
  mblk_t* data = Block("datadata");
  linkb(mp, data);
  auto before = Snapshot(mp);
  EXPECT_EQ(adjmsg(mp, 5), 0) << "only 4 bytes of M_PROTO";
  EXPECT_EQ(adjmsg(mp, -5), 0);
  EXPECT_EQ(Snapshot(mp), before);

  ASSERT_EQ(adjmsg(mp, -3), 1);  // trims the end of the M_PROTO part, not the M_DATA
  EXPECT_EQ(MsgBytes(mp), "pdatadata");
  EXPECT_EQ(mp->b_cont, data);
  EXPECT_EQ(BlockBytes(data), "datadata");
  ASSERT_EQ(adjmsg(mp, 1), 1);
  EXPECT_EQ(MsgBytes(mp), "datadata");
  EXPECT_EQ(DB_TYPE(mp), M_PROTO);
  freemsg(mp);
}

TEST_F(MblkTest, AdjmsgSkipsEmptyBlocks) {
  mblk_t* mp = Block("ab");
  linkb(mp, allocb(10));
  linkb(mp, Block("cd"));
  linkb(mp, allocb(0));
  ASSERT_EQ(adjmsg(mp, 3), 1);
  EXPECT_EQ(MsgBytes(mp), "d");
  ASSERT_EQ(adjmsg(mp, -1), 1);
  EXPECT_EQ(msgdsize(mp), 0u);
  freemsg(mp);
}

TEST_F(MblkTest, AdjmsgOnASharedBlockMovesOnlyItsOwnPointers) {
  mblk_t* mp = Block("abcdef");
  mblk_t* other = dupb(mp);
  ASSERT_EQ(adjmsg(mp, 2), 1);
  ASSERT_EQ(adjmsg(mp, -2), 1);
  EXPECT_EQ(BlockBytes(mp), "cd");
  EXPECT_EQ(BlockBytes(other), "abcdef");
  freeb(other);
  freeb(mp);
}

}  // namespace
}  // namespace ustreams
