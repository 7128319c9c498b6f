// Message block allocation, freeing, sharing and copying, against the illumos manual pages:
// allocb(9F), esballoc(9F), freeb(9F), freemsg(9F), dupb(9F), dupmsg(9F), copyb(9F), copymsg(9F),
// testb(9F), bufcall(9F), unbufcall(9F); plus allocation fault injection, MsgPtr, and the
// debug-build misuse checks. Reshaping (linkb, pullupmsg, adjmsg ...) is in mblk_reshape_test.cc.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "streams/alloc.h"
#include "streams/debug.h"
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

bool IsAligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// ---------------------------------------------------------------------------------------------
// allocb(9F): "allocb() tries to allocate a STREAMS message block. Buffer allocation fails only
// when the system is out of memory." The data buffer is [db_base, db_lim) of exactly the
// requested size; b_rptr and b_wptr start at db_base; the type is M_DATA.

class AllocbSizeTest : public MblkTest, public ::testing::WithParamInterface<size_t> {};

TEST_P(AllocbSizeTest, FreshBlockIsEmptyWritableMData) {
  const size_t size = GetParam();
  mblk_t* mp = allocb(size, BPRI_MED);
  ASSERT_NE(mp, nullptr);
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(LiveDblks(), 1);

  dblk_t* db = mp->b_datap;
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(static_cast<size_t>(db->db_lim - db->db_base), size);
  EXPECT_EQ(MBLKSIZE(mp), size);
  EXPECT_EQ(mp->b_rptr, db->db_base);
  EXPECT_EQ(mp->b_wptr, db->db_base);
  EXPECT_EQ(MBLKL(mp), 0u);
  EXPECT_EQ(MBLKTAIL(mp), size);
  EXPECT_EQ(db->db_type, M_DATA);
  EXPECT_EQ(DB_REF(mp), 1u);
  EXPECT_EQ(db->db_frtnp, nullptr);
  EXPECT_EQ(mp->b_band, 0);
  EXPECT_EQ(mp->b_flag, 0);
  EXPECT_EQ(mp->b_cont, nullptr);
  EXPECT_EQ(mp->b_next, nullptr);
  EXPECT_EQ(mp->b_prev, nullptr);
  EXPECT_TRUE(IsAligned(db->db_base, sizeof(long)));  // pullupmsg(9F) relies on it

  // The whole buffer is ours to write, up to db_lim.
  std::string data = Pattern(size);
  if (size != 0) std::memcpy(mp->b_wptr, data.data(), size);
  mp->b_wptr += size;
  EXPECT_EQ(MBLKL(mp), size);
  EXPECT_EQ(mp->b_wptr, db->db_lim);
  EXPECT_EQ(MsgBytes(mp), data);
  EXPECT_EQ(msgdsize(mp), size);

  freeb(mp);
  EXPECT_EQ(LiveMblks(), 0);
  EXPECT_EQ(LiveDblks(), 0);
}

// 0 and 1: degenerate; 64/65: either side of the smallest size class; 2048: a mid class;
// 65536: the largest cached class; 70000: a chunk of its own.
INSTANTIATE_TEST_SUITE_P(Sizes, AllocbSizeTest,
                         ::testing::Values(0, 1, 63, 64, 65, 2048, 4097, 65536, 65537, 70000));

TEST_F(MblkTest, AllocbPriorityIsIgnored) {
  for (unsigned int pri : {BPRI_LO, BPRI_MED, BPRI_HI}) {
    mblk_t* mp = allocb(100, pri);
    ASSERT_NE(mp, nullptr);
    EXPECT_EQ(MBLKSIZE(mp), 100u);
    freeb(mp);
  }
}

TEST_F(MblkTest, AllocbOfAnImpossibleSizeFails) {
  // No buffer this large exists; allocb must say so rather than wrap the size arithmetic and
  // hand out a tiny buffer whose db_lim lies far beyond its end.
  EXPECT_EQ(allocb(SIZE_MAX), nullptr);
  EXPECT_EQ(allocb(SIZE_MAX - 16), nullptr);
  EXPECT_EQ(allocb(SIZE_MAX - 100), nullptr);
}

TEST_F(MblkTest, RecycledBlocksComeBackClean) {
  // A block recycled through the allocator's cache must look brand new.
  mblk_t* mp = Block("dirty", M_PCPROTO, 3);
  mp->b_band = 7;
  mp->b_flag = MSGMARK | MSGDELIM;
  freeb(mp);
  mblk_t* again = allocb(8);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(DB_TYPE(again), M_DATA);
  EXPECT_EQ(again->b_band, 0);
  EXPECT_EQ(again->b_flag, 0);
  EXPECT_EQ(again->b_rptr, again->b_datap->db_base);
  EXPECT_EQ(again->b_wptr, again->b_datap->db_base);
  EXPECT_EQ(DB_REF(again), 1u);
  EXPECT_EQ(again->b_cont, nullptr);
  freeb(again);
}

// ---------------------------------------------------------------------------------------------
// freeb(9F) frees one block (the data block only when its reference count drops to zero);
// freemsg(9F) frees every block of a message.

TEST_F(MblkTest, FreemsgFreesWholeChain) {
  mblk_t* mp = Chain({"one", "two", "three"});
  linkb(mp, allocb(70000));  // a large-path block in the same chain
  linkb(mp, Block("proto", M_PROTO));
  ASSERT_EQ(CountBlocks(mp), 5u);
  EXPECT_EQ(LiveMblks(), 5);
  EXPECT_EQ(LiveDblks(), 5);
  freemsg(mp);
  EXPECT_EQ(LiveMblks(), 0);
  EXPECT_EQ(LiveDblks(), 0);
}

TEST_F(MblkTest, FreemsgOfNullIsHarmless) { freemsg(nullptr); }

TEST_F(MblkTest, FreebFreesOnlyThatBlock) {
  mblk_t* mp = Chain({"a", "b"});
  mblk_t* rest = unlinkb(mp);
  freeb(mp);
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(BlockBytes(rest), "b");
  freeb(rest);
}

TEST_F(MblkTest, ManyBlocksOfEverySizeClassRoundTrip) {
  // More blocks than a per-thread cache holds, so both the cache and its overflow are used.
  std::vector<mblk_t*> blocks;
  for (size_t size = 1; size <= 70000; size *= 3) {
    for (int i = 0; i < 300; i++) {
      mblk_t* mp = allocb(size);
      ASSERT_NE(mp, nullptr);
      ASSERT_EQ(MBLKSIZE(mp), size);
      mp->b_rptr[0] = static_cast<unsigned char>(i);
      blocks.push_back(mp);
    }
  }
  EXPECT_EQ(LiveMblks(), static_cast<int64_t>(blocks.size()));
  for (mblk_t* mp : blocks) freeb(mp);
}

// ---------------------------------------------------------------------------------------------
// dupb(9F): "dupb() creates a new mblk_t structure to reference the message block pointed to by
// bp ... the data is not copied; the db_ref field of the data block is incremented." dupb fails
// when the reference count would pass DBLK_REFMAX.

TEST_F(MblkTest, DupbSharesTheDataBlock) {
  mblk_t* mp = Block("hello, world", M_PROTO, 4);
  mp->b_band = 2;
  mblk_t* dp = dupb(mp);
  ASSERT_NE(dp, nullptr);
  EXPECT_NE(dp, mp);
  EXPECT_EQ(dp->b_datap, mp->b_datap);
  EXPECT_EQ(DB_REF(mp), 2u);
  EXPECT_EQ(dp->b_rptr, mp->b_rptr);
  EXPECT_EQ(dp->b_wptr, mp->b_wptr);
  EXPECT_EQ(DB_TYPE(dp), M_PROTO);
  EXPECT_EQ(dp->b_band, 2);
  EXPECT_EQ(dp->b_cont, nullptr);
  EXPECT_EQ(LiveMblks(), 2);
  EXPECT_EQ(LiveDblks(), 1);  // one data block, two references

  // Read and write pointers belong to each mblk_t.
  dp->b_rptr += 7;
  mp->b_wptr -= 2;
  EXPECT_EQ(BlockBytes(dp), "world");
  EXPECT_EQ(BlockBytes(mp), "hello, wor");

  freeb(dp);
  freeb(mp);
}

TEST_F(MblkTest, DupbDoesNotCopyTheContinuation) {
  mblk_t* mp = Chain({"head", "tail"});
  mblk_t* dp = dupb(mp);
  ASSERT_NE(dp, nullptr);
  EXPECT_EQ(dp->b_cont, nullptr);
  EXPECT_EQ(DB_REF(mp->b_cont), 1u);
  freeb(dp);
  freemsg(mp);
}

class DupbFreeOrderTest : public MblkTest, public ::testing::WithParamInterface<bool> {};

TEST_P(DupbFreeOrderTest, DataBlockFreedOnceWhicheverReferenceGoesLast) {
  const bool original_first = GetParam();
  for (size_t size : {8u, 2048u, 70000u}) {
    mblk_t* mp = Block(Pattern(size));
    mblk_t* dp = dupb(mp);
    ASSERT_NE(dp, nullptr);
    mblk_t* first = original_first ? mp : dp;
    mblk_t* second = original_first ? dp : mp;

    freeb(first);
    EXPECT_EQ(LiveMblks(), 1);
    EXPECT_EQ(LiveDblks(), 1) << "data block freed while still referenced";
    EXPECT_EQ(DB_REF(second), 1u);
    EXPECT_EQ(BlockBytes(second), Pattern(size));  // still intact

    freeb(second);
    EXPECT_EQ(LiveMblks(), 0);
    EXPECT_EQ(LiveDblks(), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Order, DupbFreeOrderTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "OriginalFirst" : "DuplicateFirst";
                         });

TEST_F(MblkTest, DupbOfADuplicate) {
  mblk_t* mp = Block("abc");
  mblk_t* d1 = dupb(mp);
  mblk_t* d2 = dupb(d1);
  ASSERT_NE(d2, nullptr);
  EXPECT_EQ(d2->b_datap, mp->b_datap);
  EXPECT_EQ(DB_REF(mp), 3u);
  freeb(mp);
  freeb(d2);
  EXPECT_EQ(DB_REF(d1), 1u);
  EXPECT_EQ(BlockBytes(d1), "abc");
  freeb(d1);
}

TEST_F(MblkTest, DupbFailsAtDblkRefmax) {
  mblk_t* mp = Block("shared");
  std::vector<mblk_t*> dups;
  while (DB_REF(mp) < DBLK_REFMAX) {
    mblk_t* dp = dupb(mp);
    ASSERT_NE(dp, nullptr) << "dupb failed at db_ref " << DB_REF(mp);
    dups.push_back(dp);
  }
  EXPECT_EQ(dups.size(), DBLK_REFMAX - 1);
  EXPECT_EQ(DB_REF(mp), 255u);
  EXPECT_EQ(dupb(mp), nullptr);
  EXPECT_EQ(dupb(dups.back()), nullptr);
  EXPECT_EQ(DB_REF(mp), 255u) << "a failed dupb must not leave db_ref raised";
  EXPECT_EQ(LiveMblks(), static_cast<int64_t>(DBLK_REFMAX));

  // dupmsg fails too, and cleanly.
  EXPECT_EQ(dupmsg(mp), nullptr);
  EXPECT_EQ(DB_REF(mp), 255u);

  // Once a reference goes, dupb works again.
  freeb(dups.back());
  dups.pop_back();
  mblk_t* dp = dupb(mp);
  ASSERT_NE(dp, nullptr);
  dups.push_back(dp);
  for (mblk_t* d : dups) freeb(d);
  EXPECT_EQ(DB_REF(mp), 1u);
  freeb(mp);
}

// dupmsg(9F): "dupmsg() forms a new message by copying the message block descriptors pointed to
// by mp and linking them. dupb(9F) is called for each message block. The data blocks themselves
// are not duplicated." It returns NULL on failure.
TEST_F(MblkTest, DupmsgDuplicatesEveryBlock) {
  mblk_t* mp = Block("proto", M_PROTO);
  linkb(mp, Chain({"alpha", "beta", "gamma"}));
  mblk_t* dp = dupmsg(mp);
  ASSERT_NE(dp, nullptr);
  ASSERT_EQ(CountBlocks(dp), 4u);
  for (size_t i = 0; i < 4; i++) {
    mblk_t* o = Nth(mp, i);
    mblk_t* d = Nth(dp, i);
    EXPECT_NE(d, o);
    EXPECT_EQ(d->b_datap, o->b_datap) << "block " << i;
    EXPECT_EQ(DB_REF(o), 2u) << "block " << i;
    EXPECT_EQ(d->b_rptr, o->b_rptr);
    EXPECT_EQ(d->b_wptr, o->b_wptr);
  }
  EXPECT_EQ(MsgBytes(dp), "protoalphabetagamma");
  EXPECT_EQ(LiveMblks(), 8);
  EXPECT_EQ(LiveDblks(), 4);

  freemsg(mp);  // the duplicate keeps the data alive
  EXPECT_EQ(LiveDblks(), 4);
  EXPECT_EQ(MsgBytes(dp), "protoalphabetagamma");
  EXPECT_EQ(DB_TYPE(dp), M_PROTO);
  freemsg(dp);
}

TEST_F(MblkTest, DupmsgAndCopymsgOfNullReturnNull) {
  EXPECT_EQ(dupmsg(nullptr), nullptr);
  EXPECT_EQ(copymsg(nullptr), nullptr);
}

// ---------------------------------------------------------------------------------------------
// copyb(9F): "copyb() creates a new message block, and copies into it the data from the block
// pointed to by bp. The new block will be at least as large as the block being copied. copyb()
// uses the b_rptr and b_wptr members of bp to determine how many bytes to copy."

TEST_F(MblkTest, CopybCopiesDataKeepingHeadroomAndType) {
  mblk_t* mp = Block("payload", M_PCPROTO, /*headroom=*/13, /*tailroom=*/5);
  mp->b_band = 4;
  mp->b_flag = MSGDELIM;
  mblk_t* cp = copyb(mp);
  ASSERT_NE(cp, nullptr);
  EXPECT_NE(cp->b_datap, mp->b_datap);
  EXPECT_EQ(DB_REF(cp), 1u);
  EXPECT_EQ(DB_REF(mp), 1u);
  EXPECT_EQ(DB_TYPE(cp), M_PCPROTO);
  EXPECT_GE(MBLKSIZE(cp), MBLKSIZE(mp));
  EXPECT_EQ(MBLKHEAD(cp), 13u) << "b_rptr keeps its offset from db_base";
  EXPECT_EQ(BlockBytes(cp), "payload");
  EXPECT_EQ(cp->b_band, 4);
  EXPECT_EQ(cp->b_flag, MSGDELIM);
  EXPECT_EQ(cp->b_cont, nullptr);

  // The copy is independent.
  cp->b_rptr[0] = 'P';
  EXPECT_EQ(BlockBytes(mp), "payload");
  freeb(mp);
  EXPECT_EQ(BlockBytes(cp), "Payload");
  freeb(cp);
}

TEST_F(MblkTest, CopybDoesNotCopyTheContinuation) {
  mblk_t* mp = Chain({"x", "y"});
  mblk_t* cp = copyb(mp);
  ASSERT_NE(cp, nullptr);
  EXPECT_EQ(cp->b_cont, nullptr);
  EXPECT_EQ(BlockBytes(cp), "x");
  freeb(cp);
  freemsg(mp);
}

TEST_F(MblkTest, CopybOfEmptyAndLargeBlocks) {
  mblk_t* empty = allocb(0);
  mblk_t* cp = copyb(empty);
  ASSERT_NE(cp, nullptr);
  EXPECT_EQ(MBLKL(cp), 0u);
  freeb(cp);
  freeb(empty);

  mblk_t* big = Block(Pattern(69000), M_DATA, 1000);
  cp = copyb(big);
  ASSERT_NE(cp, nullptr);
  EXPECT_EQ(MBLKHEAD(cp), 1000u);
  EXPECT_EQ(BlockBytes(cp), Pattern(69000));
  freeb(cp);
  freeb(big);
}

TEST_F(MblkTest, CopybOfASharedBlockGivesAWritableBlock) {
  // The copy-before-write idiom: a module holding a shared block copies it, then writes.
  mblk_t* mp = Block("shared");
  mblk_t* dp = dupb(mp);
  mblk_t* cp = copyb(dp);
  ASSERT_NE(cp, nullptr);
  EXPECT_EQ(DB_REF(cp), 1u);
  EXPECT_EQ(DB_REF(mp), 2u);
  cp->b_rptr[0] = 'S';
  EXPECT_EQ(BlockBytes(cp), "Shared");
  EXPECT_EQ(BlockBytes(mp), "shared");
  freeb(dp);
  freeb(mp);
  freeb(cp);
}

// copymsg(9F): "copymsg() forms a new message by allocating new message blocks, and copying the
// contents of the message referred to by mp (using the copyb(9F) function)."
TEST_F(MblkTest, CopymsgIsADeepIndependentCopy) {
  mblk_t* mp = Block("hdr", M_PROTO, 2);
  linkb(mp, Chain({"first", "second"}));
  linkb(mp, Block("ctl", M_CTL));
  mblk_t* cp = copymsg(mp);
  ASSERT_NE(cp, nullptr);
  ASSERT_EQ(CountBlocks(cp), 4u);
  for (size_t i = 0; i < 4; i++) {
    mblk_t* o = Nth(mp, i);
    mblk_t* c = Nth(cp, i);
    EXPECT_NE(c->b_datap, o->b_datap) << "block " << i;
    EXPECT_EQ(DB_REF(c), 1u);
    EXPECT_EQ(DB_REF(o), 1u);
    EXPECT_EQ(DB_TYPE(c), DB_TYPE(o)) << "block " << i;
    EXPECT_EQ(BlockBytes(c), BlockBytes(o)) << "block " << i;
    EXPECT_EQ(MBLKHEAD(c), MBLKHEAD(o)) << "block " << i;
  }
  EXPECT_EQ(LiveDblks(), 8);

  // Change the copy everywhere; the original does not see it.
  for (mblk_t* c = cp; c != nullptr; c = c->b_cont) {
    std::memset(c->b_rptr, '#', MBLKL(c));
  }
  EXPECT_EQ(MsgBytes(mp), "hdrfirstsecondctl");
  freemsg(mp);
  EXPECT_EQ(MsgBytes(cp), std::string(17, '#'));
  freemsg(cp);
}

// ---------------------------------------------------------------------------------------------
// esballoc(9F): "esballoc() creates a STREAMS message and attaches a user-supplied data buffer
// in place of a STREAMS data buffer ... When freeb(9F) is called to free the message, the
// driver's message-freeing routine (referenced through the free_rtn structure) is called, with
// arguments, to free the data buffer." It fails (NULL) without a free routine.

struct FreeLog {
  int calls = 0;
};

void RecordFree(char* arg) { reinterpret_cast<FreeLog*>(arg)->calls++; }

TEST_F(MblkTest, EsballocWrapsTheCallersBuffer) {
  unsigned char buf[100];
  FreeLog log;
  frtn_t fr{RecordFree, reinterpret_cast<char*>(&log)};
  mblk_t* mp = esballoc(buf, sizeof buf, BPRI_MED, &fr);
  ASSERT_NE(mp, nullptr);
  EXPECT_EQ(mp->b_datap->db_base, buf);
  EXPECT_EQ(mp->b_datap->db_lim, buf + sizeof buf);
  EXPECT_EQ(mp->b_rptr, buf);
  EXPECT_EQ(mp->b_wptr, buf);
  EXPECT_EQ(DB_TYPE(mp), M_DATA);
  EXPECT_EQ(DB_REF(mp), 1u);
  EXPECT_EQ(mp->b_datap->db_frtnp, &fr);
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(LiveDblks(), 1);

  std::memcpy(mp->b_wptr, "abc", 3);
  mp->b_wptr += 3;
  EXPECT_EQ(MsgBytes(mp), "abc");
  EXPECT_EQ(log.calls, 0);
  freeb(mp);
  EXPECT_EQ(log.calls, 1);
}

TEST_F(MblkTest, DesballocBehavesLikeEsballoc) {
  unsigned char buf[16];
  FreeLog log;
  frtn_t fr{RecordFree, reinterpret_cast<char*>(&log)};
  mblk_t* mp = desballoc(buf, sizeof buf, BPRI_LO, &fr);
  ASSERT_NE(mp, nullptr);
  EXPECT_EQ(mp->b_datap->db_base, buf);
  freemsg(mp);
  EXPECT_EQ(log.calls, 1);
}

TEST_F(MblkTest, EsballocWithoutFreeRoutineFails) {
  unsigned char buf[16];
  EXPECT_EQ(esballoc(buf, sizeof buf, BPRI_MED, nullptr), nullptr);
  EXPECT_EQ(desballoc(buf, sizeof buf, BPRI_MED, nullptr), nullptr);
  EXPECT_EQ(LiveMblks(), 0);
}

class EsballocFreeOrderTest : public MblkTest, public ::testing::WithParamInterface<bool> {};

TEST_P(EsballocFreeOrderTest, FreeRoutineRunsOnceAtTheLastReference) {
  const bool original_first = GetParam();
  unsigned char buf[32] = "external";
  FreeLog log;
  frtn_t fr{RecordFree, reinterpret_cast<char*>(&log)};
  mblk_t* mp = esballoc(buf, sizeof buf, BPRI_MED, &fr);
  ASSERT_NE(mp, nullptr);
  mp->b_wptr += 8;
  mblk_t* d1 = dupb(mp);
  mblk_t* d2 = dupb(mp);
  ASSERT_NE(d1, nullptr);
  ASSERT_NE(d2, nullptr);
  EXPECT_EQ(DB_REF(mp), 3u);

  std::vector<mblk_t*> order = original_first ? std::vector<mblk_t*>{mp, d1, d2}
                                              : std::vector<mblk_t*>{d2, d1, mp};
  freeb(order[0]);
  EXPECT_EQ(log.calls, 0);
  freeb(order[1]);
  EXPECT_EQ(log.calls, 0) << "free routine ran while a reference remained";
  EXPECT_EQ(BlockBytes(order[2]), "external");
  freeb(order[2]);
  EXPECT_EQ(log.calls, 1);
}

INSTANTIATE_TEST_SUITE_P(Order, EsballocFreeOrderTest, ::testing::Bool(),
                         [](const auto& info) {
                           return info.param ? "OriginalFirst" : "DuplicatesFirst";
                         });

TEST_F(MblkTest, CopyOfEsballocBlockIsAnOrdinaryBlock) {
  unsigned char buf[8] = {'e', 's', 'b'};
  FreeLog log;
  frtn_t fr{RecordFree, reinterpret_cast<char*>(&log)};
  mblk_t* mp = esballoc(buf, sizeof buf, BPRI_MED, &fr);
  mp->b_wptr += 3;
  mblk_t* cp = copyb(mp);
  ASSERT_NE(cp, nullptr);
  EXPECT_EQ(cp->b_datap->db_frtnp, nullptr);
  EXPECT_NE(cp->b_datap->db_base, buf);
  EXPECT_EQ(BlockBytes(cp), "esb");
  freeb(cp);
  EXPECT_EQ(log.calls, 0);
  freeb(mp);
  EXPECT_EQ(log.calls, 1);
}

TEST_F(MblkTest, DupmsgOfEsballocChainRunsEachRoutineOnce) {
  unsigned char b1[4] = {'1'}, b2[4] = {'2'};
  FreeLog l1, l2;
  frtn_t f1{RecordFree, reinterpret_cast<char*>(&l1)};
  frtn_t f2{RecordFree, reinterpret_cast<char*>(&l2)};
  mblk_t* mp = esballoc(b1, sizeof b1, BPRI_MED, &f1);
  linkb(mp, esballoc(b2, sizeof b2, BPRI_MED, &f2));
  mp->b_wptr++;
  mp->b_cont->b_wptr++;
  mblk_t* dp = dupmsg(mp);
  ASSERT_NE(dp, nullptr);
  freemsg(dp);
  EXPECT_EQ(l1.calls + l2.calls, 0);
  EXPECT_EQ(MsgBytes(mp), "12");
  freemsg(mp);
  EXPECT_EQ(l1.calls, 1);
  EXPECT_EQ(l2.calls, 1);
}

// ---------------------------------------------------------------------------------------------
// Allocation fault injection (alloc.h), and testb(9F).

TEST_F(MblkTest, FailEveryAllocation) {
  mblk_t* held = Block("held");  // allocated before the faults start
  const uint64_t before = AllocFaults::InjectedFailures();
  AllocFaults::FailEveryNth(1);
  EXPECT_EQ(allocb(0), nullptr);
  EXPECT_EQ(allocb(64), nullptr);
  EXPECT_EQ(allocb(70000), nullptr);
  EXPECT_EQ(dupb(held), nullptr);
  EXPECT_EQ(copyb(held), nullptr);
  EXPECT_EQ(dupmsg(held), nullptr);
  EXPECT_EQ(copymsg(held), nullptr);
  unsigned char buf[8];
  FreeLog log;
  frtn_t fr{RecordFree, reinterpret_cast<char*>(&log)};
  EXPECT_EQ(esballoc(buf, sizeof buf, BPRI_MED, &fr), nullptr);
  EXPECT_EQ(AllocFaults::InjectedFailures() - before, 8u);
  EXPECT_EQ(testb(1), 0);
  EXPECT_FALSE(MsgPtr::Data("x"));

  // The failures changed nothing.
  EXPECT_EQ(DB_REF(held), 1u);
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(log.calls, 0);

  AllocFaults::Clear();
  EXPECT_EQ(testb(1), 1);
  mblk_t* mp = allocb(64);
  EXPECT_NE(mp, nullptr);
  EXPECT_EQ(AllocFaults::InjectedFailures() - before, 9u);  // MsgPtr::Data's allocb counted too
  freeb(mp);
  freeb(held);
}

TEST_F(MblkTest, FailEveryThirdAllocation) {
  AllocFaults::FailEveryNth(3);
  std::vector<bool> ok;
  for (int i = 0; i < 9; i++) {
    mblk_t* mp = allocb(16);
    ok.push_back(mp != nullptr);
    if (mp != nullptr) freeb(mp);
  }
  EXPECT_EQ(ok, (std::vector<bool>{true, true, false, true, true, false, true, true, false}));
  AllocFaults::FailEveryNth(0);  // off again
  mblk_t* mp = allocb(16);
  EXPECT_NE(mp, nullptr);
  freeb(mp);
}

TEST_F(MblkTest, FailAllocationsAtLeastASize) {
  const uint64_t before = AllocFaults::InjectedFailures();
  AllocFaults::FailAtLeast(1000);
  mblk_t* small = allocb(999);
  EXPECT_NE(small, nullptr);
  EXPECT_EQ(allocb(1000), nullptr);
  EXPECT_EQ(allocb(70000), nullptr);
  EXPECT_EQ(AllocFaults::InjectedFailures() - before, 2u);
  EXPECT_EQ(testb(999), 1);
  EXPECT_EQ(testb(1000), 0);

  // dupb allocates no buffer, so a size rule does not stop it.
  mblk_t* dp = dupb(small);
  EXPECT_NE(dp, nullptr);
  freeb(dp);

  AllocFaults::Clear();
  mblk_t* big = allocb(1000);
  EXPECT_NE(big, nullptr);
  EXPECT_EQ(AllocFaults::InjectedFailures() - before, 2u);
  freeb(big);
  freeb(small);
}

TEST_F(MblkTest, DupmsgFailingHalfwayFreesWhatItBuilt) {
  mblk_t* mp = Chain({"a", "b", "c", "d", "e"});
  AllocFaults::FailEveryNth(3);  // the third dupb fails
  EXPECT_EQ(dupmsg(mp), nullptr);
  AllocFaults::Clear();
  EXPECT_EQ(LiveMblks(), 5);
  for (mblk_t* bp = mp; bp != nullptr; bp = bp->b_cont) EXPECT_EQ(DB_REF(bp), 1u);
  freemsg(mp);
}

TEST_F(MblkTest, CopymsgFailingHalfwayFreesWhatItBuilt) {
  mblk_t* mp = Chain({"a", "b", "c", "d", "e"});
  AllocFaults::FailEveryNth(4);
  EXPECT_EQ(copymsg(mp), nullptr);
  AllocFaults::Clear();
  EXPECT_EQ(LiveMblks(), 5);
  EXPECT_EQ(LiveDblks(), 5);
  EXPECT_EQ(MsgBytes(mp), "abcde");
  freemsg(mp);
}

// ---------------------------------------------------------------------------------------------
// bufcall(9F): "bufcall() serves as a timeout(9F) call of indeterminate length. When a buffer
// allocation request fails, bufcall() can be used to schedule the routine func, to be called
// with the argument arg when a buffer becomes available." It returns 0 on failure.
// unbufcall(9F) cancels a pending bufcall.
//
// The counters are static: if a test fails early, the fixture's TearDown still runs whatever
// it left pending, and the callback must not reach into a dead stack frame.

void CountRun(void* arg) { static_cast<std::atomic<int>*>(arg)->fetch_add(1); }

TEST_F(MblkTest, BufcallRunsOnceWhenFaultsAreCleared) {
  static std::atomic<int> runs;
  runs = 0;
  AllocFaults::FailEveryNth(1);
  ASSERT_EQ(allocb(64), nullptr);
  bufcall_id_t id = bufcall(64, BPRI_MED, CountRun, &runs);
  ASSERT_NE(id, 0u);
  EXPECT_EQ(PendingBufcalls(), 1);
  EXPECT_EQ(runs, 0);

  AllocFaults::Clear();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(PendingBufcalls(), 0);

  // Exactly once: later releases of memory do not run it again.
  freeb(allocb(8));
  AllocFaults::Clear();
  EXPECT_EQ(runs, 1);
  unbufcall(id);  // cancelling one that already ran is harmless
}

TEST_F(MblkTest, BufcallRunsWhenAMessageIsFreed) {
  static std::atomic<int> runs;
  runs = 0;
  mblk_t* held = Chain({"one", "two"});
  AllocFaults::FailEveryNth(1);
  bufcall_id_t id = bufcall(128, BPRI_HI, CountRun, &runs);
  ASSERT_NE(id, 0u);
  EXPECT_EQ(runs, 0);
  freemsg(held);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(PendingBufcalls(), 0);
}

TEST_F(MblkTest, BufcallRunsWhenADuplicateIsFreed) {
  static std::atomic<int> runs;
  runs = 0;
  mblk_t* mp = Block("x");
  mblk_t* dp = dupb(mp);
  AllocFaults::FailEveryNth(1);
  bufcall(16, BPRI_MED, CountRun, &runs);
  freeb(dp);  // gives back a bare mblk_t
  EXPECT_EQ(runs, 1);
  freeb(mp);
  EXPECT_EQ(runs, 1);
}

mblk_t* g_retried;  // what the retry callback got

void RetryAllocb(void* arg) { g_retried = allocb(*static_cast<size_t*>(arg)); }

TEST_F(MblkTest, BufcallRetryGetsTheBuffer) {
  // The usual pattern: allocb fails, bufcall schedules a retry, the retry succeeds.
  static size_t size = 2000;
  g_retried = nullptr;
  AllocFaults::FailAtLeast(1000);
  ASSERT_EQ(allocb(size), nullptr);
  ASSERT_NE(bufcall(size, BPRI_MED, RetryAllocb, &size), 0u);
  AllocFaults::Clear();
  ASSERT_NE(g_retried, nullptr);
  EXPECT_EQ(MBLKSIZE(g_retried), size);
  freeb(g_retried);
  g_retried = nullptr;
}

std::atomic<int> g_reregister_runs;

void Reregister(void*) {
  // Still no memory: the callback schedules itself again, as drivers do.
  if (g_reregister_runs.fetch_add(1) == 0) bufcall(64, BPRI_MED, Reregister, nullptr);
}

TEST_F(MblkTest, BufcallRegisteredByItsCallbackWaitsForTheNextRelease) {
  g_reregister_runs = 0;
  AllocFaults::FailEveryNth(1);
  bufcall(64, BPRI_MED, Reregister, nullptr);
  AllocFaults::Clear();
  EXPECT_EQ(g_reregister_runs, 1);  // not 2: no busy loop within one release
  EXPECT_EQ(PendingBufcalls(), 1);
  freeb(allocb(1));
  EXPECT_EQ(g_reregister_runs, 2);
  EXPECT_EQ(PendingBufcalls(), 0);
}

std::atomic<bool> g_slow_started;
std::atomic<bool> g_slow_may_finish;

void SlowCallback(void*) {
  g_slow_started = true;
  while (!g_slow_may_finish) std::this_thread::yield();
}

TEST_F(MblkTest, BufcallRegisteredWhileAnotherRunsIsNotLost) {
  // Thread t is inside one bufcall callback when this thread registers another and then
  // releases memory. That release came after the registration, so the new callback must run;
  // it must not wait for a release that may never come (a hung stream).
  static std::atomic<int> runs;
  runs = 0;
  g_slow_started = false;
  g_slow_may_finish = false;
  AllocFaults::FailEveryNth(1);
  ASSERT_NE(bufcall(64, BPRI_MED, SlowCallback, nullptr), 0u);
  std::thread t([] { AllocFaults::Clear(); });  // runs SlowCallback in t
  while (!g_slow_started) std::this_thread::yield();

  ASSERT_NE(bufcall(64, BPRI_MED, CountRun, &runs), 0u);
  freeb(allocb(8));  // memory released while SlowCallback is still running
  g_slow_may_finish = true;
  t.join();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(PendingBufcalls(), 0);

  // The last inline callback ran in another thread; unbufcall of "no id" must still return at
  // once rather than wait for a callback 0 to finish.
  unbufcall(0);
}

TEST_F(MblkTest, UnbufcallPreventsTheCallback) {
  static std::atomic<int> runs;
  runs = 0;
  AllocFaults::FailEveryNth(1);
  bufcall_id_t id = bufcall(64, BPRI_MED, CountRun, &runs);
  ASSERT_NE(id, 0u);
  unbufcall(id);
  EXPECT_EQ(PendingBufcalls(), 0);
  AllocFaults::Clear();
  freeb(allocb(8));
  EXPECT_EQ(runs, 0);
}

TEST_F(MblkTest, UnbufcallCancelsOnlyItsOwnEntry) {
  static std::atomic<int> a, b;
  a = b = 0;
  AllocFaults::FailEveryNth(1);
  bufcall_id_t ida = bufcall(64, BPRI_MED, CountRun, &a);
  bufcall_id_t idb = esbbcall(BPRI_MED, CountRun, &b);
  ASSERT_NE(ida, 0u);
  ASSERT_NE(idb, 0u);
  EXPECT_NE(ida, idb);
  unbufcall(ida);
  AllocFaults::Clear();
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
}

TEST_F(MblkTest, BufcallWithoutFunctionFails) {
  EXPECT_EQ(bufcall(64, BPRI_MED, nullptr, nullptr), 0u);
  EXPECT_EQ(esbbcall(BPRI_MED, nullptr, nullptr), 0u);
  EXPECT_EQ(PendingBufcalls(), 0);
  unbufcall(0);  // cancelling "no id" is harmless
}

// ---------------------------------------------------------------------------------------------
// MsgPtr (msg.h): the owning handle.

TEST_F(MblkTest, MsgPtrFreesOnScopeExit) {
  {
    MsgPtr mp(Chain({"a", "b", "c"}));
    EXPECT_EQ(LiveMblks(), 3);
  }
  EXPECT_EQ(LiveMblks(), 0);
  MsgPtr empty;  // and an empty one frees nothing
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.get(), nullptr);
}

TEST_F(MblkTest, MsgPtrReleaseTransfersOwnership) {
  mblk_t* raw;
  {
    MsgPtr mp = MsgPtr::Data("keep");
    ASSERT_TRUE(mp);
    raw = mp.release();
    EXPECT_FALSE(mp);
    EXPECT_EQ(mp.release(), nullptr);
  }
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(MsgBytes(raw), "keep");
  freemsg(raw);
}

TEST_F(MblkTest, MsgPtrMoveAssignmentFreesTheOldChain) {
  MsgPtr a(Chain({"old", "chain"}));
  MsgPtr b = MsgPtr::Data("new");
  EXPECT_EQ(LiveMblks(), 3);
  a = std::move(b);
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(a.Bytes(), "new");
  EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move): the moved-from state is specified

  MsgPtr c(std::move(a));
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.Bytes(), "new");

  c.reset(Block("reset"));
  EXPECT_EQ(LiveMblks(), 1);
  EXPECT_EQ(c.Bytes(), "reset");
  c.reset();
  EXPECT_FALSE(c);
  EXPECT_EQ(LiveMblks(), 0);
}

TEST_F(MblkTest, MsgPtrMakeAndBytesRoundTrip) {
  MsgPtr p = MsgPtr::Make(M_PROTO, "hello");
  ASSERT_TRUE(p);
  EXPECT_EQ(DB_TYPE(p.get()), M_PROTO);
  EXPECT_EQ(MBLKL(p.get()), 5u);
  EXPECT_EQ(p->b_cont, nullptr);
  EXPECT_EQ(p.Bytes(), "hello");

  std::string binary("a\0b\xff", 4);
  MsgPtr d = MsgPtr::Data(binary);
  EXPECT_EQ(DB_TYPE(d.get()), M_DATA);
  EXPECT_EQ(d.Bytes(), binary);

  MsgPtr e = MsgPtr::Data("");
  ASSERT_TRUE(e);
  EXPECT_EQ(e.Bytes(), "");

  linkb(p.get(), MsgPtr::Data(" world").release());
  EXPECT_EQ(p.Bytes(), "hello world");
  EXPECT_EQ(MsgBytes(nullptr), "");
  EXPECT_EQ(MsgPtr().Bytes(), "");
}

// ---------------------------------------------------------------------------------------------
// Debug-build misuse checks (debug.h). They abort with a message naming the rule.

#ifndef NDEBUG
using MblkDeathTest = MblkTest;

TEST_F(MblkDeathTest, DoubleFreebAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        mblk_t* mp = allocb(16);
        freeb(mp);
        freeb(mp);
      },
      "freed once");
}

TEST_F(MblkDeathTest, DoubleFreeOfADuplicateAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        mblk_t* mp = allocb(16);
        mblk_t* dp = dupb(mp);
        freeb(dp);
        freeb(dp);
      },
      "freed once");
}

TEST_F(MblkDeathTest, WritingASharedBlockAbortsAtFree) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        mblk_t* mp = Block("hello");
        mblk_t* dp = dupb(mp);
        mp->b_rptr[0] = 'J';  // wrong: db_ref is 2, copyb first
        freeb(dp);
      },
      "shared data block");
}

TEST_F(MblkDeathTest, AssertWritableOnASharedBlockAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        mblk_t* mp = Block("hello");
        mblk_t* dp = dupb(mp);
        STREAMS_ASSERT_WRITABLE(dp);
      },
      "shared data block");
}

#endif  // NDEBUG

// The shared-block checks must not fire (in any build) for the legal cases: reading, moving
// one's own pointers, and writing once the block is no longer shared.
TEST_F(MblkTest, ReadingASharedBlockIsFine) {
  mblk_t* mp = Block("hello");
  STREAMS_ASSERT_WRITABLE(mp);
  mblk_t* dp = dupb(mp);
  dp->b_rptr += 2;
  EXPECT_EQ(BlockBytes(dp), "llo");
  freeb(dp);
  STREAMS_ASSERT_WRITABLE(mp);
  mp->b_rptr[0] = 'J';
  mblk_t* again = dupb(mp);
  freeb(mp);
  EXPECT_EQ(BlockBytes(again), "Jello");
  freeb(again);
}

}  // namespace
}  // namespace ustreams
