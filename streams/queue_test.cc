// Queue operations of the DDI/DKI as the illumos manual pages describe them: putq(9F), getq(9F),
// putbq(9F), insq(9F), rmvq(9F), flushq(9F), flushband(9F), qsize(9F), strqget(9F)/strqset(9F),
// putctl(9F) and friends, qreply(9F), the queue navigation macros, the M_FLUSH rules, and the
// misuse a debug build catches. Flow control (QFULL, canput, back-enabling, enabling) is in
// flow_control_test.cc.
//
// Most tests push "holdq", a module that queues everything it is given and whose service
// procedures only count their runs, and then work on its queues directly.
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "streams/mblk.h"
#include "streams/msg.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/testing/harness.h"
#include "streams/testing/leak_check.h"
#include "streams/testing/sample_modules.h"

namespace ustreams {
namespace {

using ::testing::ElementsAre;
using testing::Harness;
using testing::LeakCheckedTest;

// ---- holdq: queues every message on both sides; M_FLUSH per the rules ----

struct HoldState {
  int wsrv_runs = 0;
  int rsrv_runs = 0;
  int wflushes = 0;  // M_FLUSH seen by the write put procedure
  int rflushes = 0;  // ... and by the read put procedure
  unsigned char last_wflush = 0;
  unsigned char last_rflush = 0;
};

HoldState* StateOf(queue_t* q) { return static_cast<HoldState*>(q->q_ptr); }

int HoldOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;
  auto* st = new HoldState;
  q->q_ptr = st;
  WR(q)->q_ptr = st;
  qprocson(q);
  return 0;
}

int HoldClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  delete StateOf(q);
  q->q_ptr = nullptr;
  WR(q)->q_ptr = nullptr;
  return 0;
}

int HoldPut(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    HoldState* st = StateOf(q);
    if (q->q_flag & QREADR) {
      st->rflushes++;
      st->last_rflush = *mp->b_rptr;
    } else {
      st->wflushes++;
      st->last_wflush = *mp->b_rptr;
    }
    FlushAsModule(q, mp);
    return 0;
  }
  putq(q, mp);
  return 0;
}

int HoldSrv(queue_t* q) {
  HoldState* st = StateOf(q);
  if (q->q_flag & QREADR) {
    st->rsrv_runs++;
  } else {
    st->wsrv_runs++;
  }
  return 0;
}

module_info hold_info{2001, "holdq", 1, 512, 100, 50};
qinit hold_rinit{HoldPut, HoldSrv, HoldOpen, HoldClose, nullptr, &hold_info, nullptr};
qinit hold_winit{HoldPut, HoldSrv, nullptr, nullptr, nullptr, &hold_info, nullptr};
streamtab hold_tab{&hold_rinit, &hold_winit, nullptr, nullptr};

// ---- helpers ----

// A one-block message of `type` holding `data`, in band `band`.
mblk_t* Msg(unsigned char type, std::string_view data, unsigned char band = 0) {
  mblk_t* mp = MsgPtr::Make(type, data).release();
  mp->b_band = band;
  return mp;
}
mblk_t* Data(std::string_view data, unsigned char band = 0) { return Msg(M_DATA, data, band); }

// The bytes of each message on q, first to last.
std::vector<std::string> Contents(queue_t* q) {
  std::lock_guard<Mutex> l(q->q_lock);
  std::vector<std::string> out;
  for (mblk_t* mp = q->q_first; mp != nullptr; mp = mp->b_next) out.push_back(MsgBytes(mp));
  return out;
}

// Takes everything off q with getq().
std::vector<MsgPtr> Drain(queue_t* q) {
  std::vector<MsgPtr> out;
  while (mblk_t* mp = getq(q)) out.emplace_back(mp);
  return out;
}

std::vector<std::string> Bytes(const std::vector<MsgPtr>& msgs) {
  std::vector<std::string> out;
  for (const MsgPtr& m : msgs) out.push_back(m.Bytes());
  return out;
}

intptr_t Get(queue_t* q, qfields_t what, unsigned char pri = 0) {
  intptr_t v = -12345;
  EXPECT_EQ(strqget(q, what, pri, &v), 0) << "field " << what << " band " << int{pri};
  return v;
}

uint32_t Flags(queue_t* q) {
  std::lock_guard<Mutex> l(q->q_lock);
  return q->q_flag;
}

class QueueTest : public LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    ASSERT_TRUE(testing::RegisterSampleModules(reg_).ok());
    ASSERT_TRUE(reg_.RegisterModule("holdq", &hold_tab, D_MP).ok());
  }
  void TearDown() override {
    h_.reset();  // frees what is still queued before the leak check
    LeakCheckedTest::TearDown();
  }

  // A harness with `modules` pushed in order (so the last named is the top).
  Harness& Make(std::vector<std::string> modules, Harness::Options o = Harness::Options()) {
    h_ = std::make_unique<Harness>(&reg_, o);
    for (const std::string& m : modules) EXPECT_TRUE(h_->Push(m).ok()) << m;
    return *h_;
  }
  // The write queue of a lone holdq.
  queue_t* HoldWq() {
    Make({"holdq"});
    return h_->module_wq(0);
  }

  Registry reg_;
  std::unique_ptr<Harness> h_;
};

// ---- putq / getq ----

TEST_F(QueueTest, PutqAppendsInOrderAndCountsBytesAndBlocks) {
  queue_t* q = HoldWq();
  mblk_t* chain = Data("ab");
  linkb(chain, Data("cde"));
  linkb(chain, Data(""));
  ASSERT_EQ(putq(q, Data("first")), 1);
  ASSERT_EQ(putq(q, chain), 1);
  ASSERT_EQ(putq(q, Data("last")), 1);

  EXPECT_THAT(Contents(q), ElementsAre("first", "abcde", "last"));
  EXPECT_EQ(qsize(q), 3);
  EXPECT_EQ(q->q_count, 5u + 5u + 4u);
  EXPECT_EQ(q->q_mblkcnt, 1u + 3u + 1u);
  EXPECT_EQ(q->q_first->b_queue, q);
  EXPECT_EQ(q->q_first->b_prev, nullptr);
  EXPECT_EQ(q->q_last->b_next, nullptr);

  MsgPtr m(getq(q));
  EXPECT_EQ(m.Bytes(), "first");
  EXPECT_EQ(m->b_next, nullptr);
  EXPECT_EQ(m->b_prev, nullptr);
  EXPECT_EQ(m->b_queue, nullptr);
  EXPECT_EQ(q->q_count, 9u);
  EXPECT_EQ(q->q_mblkcnt, 4u);
  EXPECT_THAT(Bytes(Drain(q)), ElementsAre("abcde", "last"));
  EXPECT_EQ(q->q_count, 0u);
  EXPECT_EQ(q->q_mblkcnt, 0u);
  EXPECT_EQ(q->q_first, nullptr);
  EXPECT_EQ(q->q_last, nullptr);
}

TEST_F(QueueTest, GetqOnEmptyQueueReturnsNullAndSetsQWantR) {
  queue_t* q = HoldWq();
  ASSERT_EQ(putq(q, Data("x")), 1);
  MsgPtr m(getq(q));  // a successful getq clears QWANTR
  ASSERT_TRUE(m);
  EXPECT_EQ(Flags(q) & QWANTR, 0u);
  EXPECT_EQ(getq(q), nullptr);
  EXPECT_NE(Flags(q) & QWANTR, 0u);
}

TEST_F(QueueTest, HighPriorityGoesAheadOfNormalAndBandedAndKeepsFifo) {
  queue_t* q = HoldWq();
  putq(q, Data("n1"));
  putq(q, Data("b1", 1));
  putq(q, Msg(M_PCPROTO, "pc1"));
  putq(q, Data("n2"));
  putq(q, Msg(M_FLUSH, "fl"));
  mblk_t* pcsig = Msg(M_PCSIG, "pc3", 7);  // a band on a high-priority message is ignored
  putq(q, pcsig);

  EXPECT_THAT(Contents(q), ElementsAre("pc1", "fl", "pc3", "b1", "n1", "n2"));
  EXPECT_EQ(pcsig->b_band, 0);
  EXPECT_EQ(q->q_nband, 1);  // band 7 was never created
  // q_count holds band 0 and high priority; band 1 has its own count.
  EXPECT_EQ(q->q_count, 3u + 2u + 3u + 2u + 2u);
  EXPECT_EQ(Get(q, QCOUNT, 1), 2);
}

TEST_F(QueueTest, PriorityBandsAreOrderedHighestFirstAndFifoWithinABand) {
  queue_t* q = HoldWq();
  mblk_t* b3 = Data("b3", 3);
  mblk_t* b1 = Data("b1", 1);
  mblk_t* b2 = Data("b2", 2);
  putq(q, b3);
  putq(q, b1);
  putq(q, b2);
  putq(q, Data("b0"));
  mblk_t* b2x = Data("b2x", 2);
  putq(q, b2x);
  putq(q, Msg(M_PCPROTO, "hp"));

  EXPECT_THAT(Contents(q), ElementsAre("hp", "b3", "b2", "b2x", "b1", "b0"));
  EXPECT_EQ(q->q_nband, 3);
  EXPECT_EQ(Get(q, QCOUNT, 3), 2);
  EXPECT_EQ(Get(q, QCOUNT, 2), 5);
  EXPECT_EQ(Get(q, QCOUNT, 1), 2);
  EXPECT_EQ(Get(q, QCOUNT), 4);  // "b0" and "hp"
  EXPECT_EQ(Get(q, QFIRST, 2), reinterpret_cast<intptr_t>(b2));
  EXPECT_EQ(Get(q, QLAST, 2), reinterpret_cast<intptr_t>(b2x));
  EXPECT_EQ(Get(q, QFIRST, 1), reinterpret_cast<intptr_t>(b1));
  EXPECT_EQ(Get(q, QLAST, 3), reinterpret_cast<intptr_t>(b3));

  // getq takes them in queue order and keeps the band accounting.
  EXPECT_THAT(Bytes(Drain(q)), ElementsAre("hp", "b3", "b2", "b2x", "b1", "b0"));
  for (unsigned char b = 1; b <= 3; b++) {
    EXPECT_EQ(Get(q, QCOUNT, b), 0) << int{b};
    EXPECT_EQ(Get(q, QFIRST, b), 0) << int{b};
    EXPECT_EQ(Get(q, QLAST, b), 0) << int{b};
  }
}

// ---- putbq ----

TEST_F(QueueTest, PutbqPutsAMessageBackAtTheFrontOfItsClass) {
  queue_t* q = HoldWq();
  putq(q, Msg(M_PCPROTO, "hp"));
  putq(q, Data("b1", 1));
  putq(q, Data("n1"));
  putq(q, Data("n2"));

  ASSERT_EQ(putbq(q, Data("n0")), 1);  // before n1, after band 1
  EXPECT_THAT(Contents(q), ElementsAre("hp", "b1", "n0", "n1", "n2"));
  ASSERT_EQ(putbq(q, Data("b1a", 1)), 1);  // before the first of band 1
  EXPECT_THAT(Contents(q), ElementsAre("hp", "b1a", "b1", "n0", "n1", "n2"));
  ASSERT_EQ(putbq(q, Data("b2", 2)), 1);  // a new band: after high priority, before band 1
  EXPECT_THAT(Contents(q), ElementsAre("hp", "b2", "b1a", "b1", "n0", "n1", "n2"));
  ASSERT_EQ(putbq(q, Msg(M_PCPROTO, "hp0")), 1);  // high priority: the very front
  EXPECT_THAT(Contents(q), ElementsAre("hp0", "hp", "b2", "b1a", "b1", "n0", "n1", "n2"));

  EXPECT_EQ(q->q_nband, 2);
  EXPECT_EQ(Get(q, QCOUNT, 1), 5);
  EXPECT_EQ(Get(q, QCOUNT, 2), 2);
  EXPECT_EQ(q->q_count, 3u + 2u + 2u + 2u + 2u);
  EXPECT_EQ(MsgBytes(reinterpret_cast<mblk_t*>(Get(q, QFIRST, 1))), "b1a");
  EXPECT_EQ(MsgBytes(reinterpret_cast<mblk_t*>(Get(q, QLAST, 1))), "b1");
}

TEST_F(QueueTest, GetqThenPutbqRestoresTheQueue) {
  queue_t* q = HoldWq();
  putq(q, Data("a"));
  putq(q, Data("bb"));
  mblk_t* mp = getq(q);
  ASSERT_NE(mp, nullptr);
  ASSERT_EQ(putbq(q, mp), 1);
  EXPECT_THAT(Contents(q), ElementsAre("a", "bb"));
  EXPECT_EQ(q->q_count, 3u);
  EXPECT_EQ(q->q_mblkcnt, 2u);
  EXPECT_EQ(qsize(q), 2);
}

TEST_F(QueueTest, PutbqOnEmptyQueue) {
  queue_t* q = HoldWq();
  ASSERT_EQ(putbq(q, Data("x", 4)), 1);
  EXPECT_THAT(Contents(q), ElementsAre("x"));
  EXPECT_EQ(q->q_nband, 4);
  EXPECT_EQ(Get(q, QCOUNT, 4), 1);
  EXPECT_EQ(Get(q, QFIRST, 4), Get(q, QLAST, 4));
}

// ---- insq ----

TEST_F(QueueTest, InsqInsertsBeforeTheGivenMessageOrAtTheEnd) {
  queue_t* q = HoldWq();
  putq(q, Msg(M_PCPROTO, "hp"));
  mblk_t* b2 = Data("b2", 2);
  putq(q, b2);
  mblk_t* b1 = Data("b1", 1);
  putq(q, b1);
  mblk_t* n0a = Data("n0a");
  putq(q, n0a);
  mblk_t* n0b = Data("n0b");
  putq(q, n0b);

  ASSERT_EQ(insq(q, n0b, Data("x")), 1);  // band 0 between band-0 messages
  EXPECT_THAT(Contents(q), ElementsAre("hp", "b2", "b1", "n0a", "x", "n0b"));
  mblk_t* v = Data("v", 2);
  ASSERT_EQ(insq(q, b1, v), 1);  // band 2 after band 2, before band 1: the band's new last
  EXPECT_THAT(Contents(q), ElementsAre("hp", "b2", "v", "b1", "n0a", "x", "n0b"));
  mblk_t* w = Data("w", 2);
  ASSERT_EQ(insq(q, b2, w), 1);  // the band's new first
  EXPECT_THAT(Contents(q), ElementsAre("hp", "w", "b2", "v", "b1", "n0a", "x", "n0b"));
  ASSERT_EQ(insq(q, w, Msg(M_PCPROTO, "hp2")), 1);  // after the last high-priority message
  ASSERT_EQ(insq(q, nullptr, Data("end")), 1);  // emp == nullptr: at the end
  EXPECT_THAT(Contents(q),
              ElementsAre("hp", "hp2", "w", "b2", "v", "b1", "n0a", "x", "n0b", "end"));

  EXPECT_EQ(Get(q, QFIRST, 2), reinterpret_cast<intptr_t>(w));
  EXPECT_EQ(Get(q, QLAST, 2), reinterpret_cast<intptr_t>(v));
  EXPECT_EQ(Get(q, QCOUNT, 2), 4);
  EXPECT_EQ(Get(q, QCOUNT, 1), 2);
  EXPECT_EQ(q->q_count, 2u + 3u + 3u + 1u + 3u + 3u);
  EXPECT_EQ(qsize(q), 10);
}

TEST_F(QueueTest, InsqRefusesAnOutOfOrderPlace) {
  queue_t* q = HoldWq();
  mblk_t* hp = Msg(M_PCPROTO, "hp");
  putq(q, hp);
  mblk_t* b2 = Data("b2", 2);
  putq(q, b2);
  mblk_t* n0 = Data("n0");
  putq(q, n0);
  const std::vector<std::string> before = Contents(q);

  struct Case {
    const char* what;
    mblk_t* emp;
    mblk_t* mp;
  };
  for (const Case& c : {
           Case{"band 0 before band 2", b2, Data("x")},
           Case{"normal before high priority", hp, Data("x")},
           Case{"banded before high priority", hp, Data("x", 3)},
           Case{"high priority after normal", n0, Msg(M_PCPROTO, "x")},
           Case{"high priority at the end", nullptr, Msg(M_PCPROTO, "x")},
           Case{"band 2 after band 0 (at the end)", nullptr, Data("x", 2)},
           Case{"band 1 before band 2", b2, Data("x", 1)},
       }) {
    MsgPtr mp(c.mp);
    EXPECT_EQ(insq(q, c.emp, mp.get()), 0) << c.what;
    // Refused: not queued, still the caller's.
    EXPECT_EQ(mp->b_queue, nullptr) << c.what;
    EXPECT_EQ(mp->b_next, nullptr) << c.what;
    EXPECT_EQ(mp->b_prev, nullptr) << c.what;
    EXPECT_EQ(Contents(q), before) << c.what;
  }
  EXPECT_EQ(q->q_count, 4u);
  EXPECT_EQ(Get(q, QCOUNT, 2), 2);
}

// ---- rmvq ----

TEST_F(QueueTest, RmvqOfAMiddleMessageFixesLinksAndCounts) {
  queue_t* q = HoldWq();
  putq(q, Data("aaaaaaaaaa"));
  mblk_t* mid = Data("bbbbbbbbbbbbbbbbbbbb");
  linkb(mid, Data("cc"));
  putq(q, mid);
  putq(q, Data("ddd"));
  ASSERT_EQ(q->q_count, 35u);
  ASSERT_EQ(q->q_mblkcnt, 4u);

  rmvq(q, mid);
  MsgPtr removed(mid);
  EXPECT_EQ(mid->b_next, nullptr);
  EXPECT_EQ(mid->b_prev, nullptr);
  EXPECT_EQ(mid->b_queue, nullptr);
  EXPECT_THAT(Contents(q), ElementsAre("aaaaaaaaaa", "ddd"));
  EXPECT_EQ(q->q_first->b_next, q->q_last);
  EXPECT_EQ(q->q_last->b_prev, q->q_first);
  EXPECT_EQ(q->q_count, 13u);
  EXPECT_EQ(q->q_mblkcnt, 2u);
  EXPECT_EQ(qsize(q), 2);
}

TEST_F(QueueTest, RmvqOfBandedMessagesFixesTheBand) {
  queue_t* q = HoldWq();
  mblk_t* a = Data("a", 1);
  mblk_t* b = Data("bb", 1);
  mblk_t* c = Data("ccc", 1);
  putq(q, a);
  putq(q, b);
  putq(q, c);
  putq(q, Data("n"));

  rmvq(q, b);
  MsgPtr mb(b);
  EXPECT_EQ(Get(q, QCOUNT, 1), 4);
  EXPECT_EQ(Get(q, QFIRST, 1), reinterpret_cast<intptr_t>(a));
  EXPECT_EQ(Get(q, QLAST, 1), reinterpret_cast<intptr_t>(c));
  rmvq(q, c);  // the band's last
  MsgPtr mc(c);
  EXPECT_EQ(Get(q, QLAST, 1), reinterpret_cast<intptr_t>(a));
  rmvq(q, a);  // the band's only message
  MsgPtr ma(a);
  EXPECT_EQ(Get(q, QFIRST, 1), 0);
  EXPECT_EQ(Get(q, QLAST, 1), 0);
  EXPECT_EQ(Get(q, QCOUNT, 1), 0);
  EXPECT_THAT(Contents(q), ElementsAre("n"));
  EXPECT_EQ(q->q_count, 1u);
}

// ---- flushq / flushband ----

// A queue with a bit of everything: high priority (data and not), banded, band 0 data and not.
void Fill(queue_t* q) {
  putq(q, Msg(M_PCPROTO, "pcproto"));
  putq(q, Msg(M_PCSIG, "pcsig"));
  putq(q, Data("b2data", 2));
  putq(q, Msg(M_CTL, "b2ctl", 2));
  putq(q, Msg(M_PROTO, "b1proto", 1));
  putq(q, Data("data"));
  putq(q, Msg(M_PROTO, "proto"));
  putq(q, Msg(M_DELAY, "delay"));
  putq(q, Msg(M_CTL, "ctl"));
  putq(q, Msg(M_IOCTL, "ioctl"));
}

TEST_F(QueueTest, FlushqDataKeepsNonDataMessagesInOrder) {
  queue_t* q = HoldWq();
  Fill(q);
  flushq(q, FLUSHDATA);
  EXPECT_THAT(Contents(q), ElementsAre("pcsig", "b2ctl", "ctl", "ioctl"));
  EXPECT_EQ(q->q_count, 5u + 3u + 5u);
  EXPECT_EQ(q->q_mblkcnt, 3u);
  EXPECT_EQ(Get(q, QCOUNT, 2), 5);
  EXPECT_EQ(Get(q, QCOUNT, 1), 0);
  EXPECT_EQ(Get(q, QFIRST, 1), 0);
}

TEST_F(QueueTest, FlushqAllRemovesEverything) {
  queue_t* q = HoldWq();
  Fill(q);
  ASSERT_EQ(strqset(q, QHIWAT, 0, 10), 0);
  putq(q, Data("0123456789"));
  ASSERT_NE(Flags(q) & QFULL, 0u);
  flushq(q, FLUSHALL);
  EXPECT_EQ(q->q_first, nullptr);
  EXPECT_EQ(q->q_last, nullptr);
  EXPECT_EQ(qsize(q), 0);
  EXPECT_EQ(q->q_count, 0u);
  EXPECT_EQ(q->q_mblkcnt, 0u);
  EXPECT_EQ(Flags(q) & QFULL, 0u);
  for (unsigned char b = 1; b <= 2; b++) {
    EXPECT_EQ(Get(q, QCOUNT, b), 0);
    EXPECT_EQ(Get(q, QFIRST, b), 0);
    EXPECT_EQ(Get(q, QLAST, b), 0);
  }
  flushq(q, FLUSHALL);  // an empty queue is fine
}

TEST_F(QueueTest, FlushbandRemovesOnlyTheDataOfThatBand) {
  queue_t* q = HoldWq();
  Fill(q);
  putq(q, Data("b2more", 2));
  putq(q, Data("b3", 3));
  flushband(q, 2, FLUSHDATA);
  EXPECT_THAT(Contents(q), ElementsAre("pcproto", "pcsig", "b3", "b2ctl", "b1proto", "data",
                                       "proto", "delay", "ctl", "ioctl"));
  EXPECT_EQ(Get(q, QCOUNT, 2), 5);
  EXPECT_EQ(MsgBytes(reinterpret_cast<mblk_t*>(Get(q, QFIRST, 2))), "b2ctl");
  EXPECT_EQ(MsgBytes(reinterpret_cast<mblk_t*>(Get(q, QLAST, 2))), "b2ctl");

  flushband(q, 2, FLUSHALL);
  EXPECT_THAT(Contents(q), ElementsAre("pcproto", "pcsig", "b3", "b1proto", "data", "proto",
                                       "delay", "ctl", "ioctl"));
  EXPECT_EQ(Get(q, QCOUNT, 2), 0);
  EXPECT_EQ(Get(q, QFIRST, 2), 0);
  EXPECT_EQ(Get(q, QCOUNT, 3), 2);
  EXPECT_EQ(Get(q, QCOUNT, 1), 7);

  flushband(q, 9, FLUSHALL);  // a band that does not exist: nothing happens
  EXPECT_EQ(qsize(q), 9);
  EXPECT_EQ(q->q_nband, 3);
}

// flushband(9F) with pri 0 flushes band 0 only: banded messages stay, and so do high-priority
// ones. (SVR4 keeps every high-priority message; illumos' code also frees high-priority *data*
// such as M_PCPROTO. This library follows SVR4: see flushband() in queue.cc.)
TEST_F(QueueTest, FlushbandZeroLeavesHighPriorityAndBandedMessages) {
  queue_t* q = HoldWq();
  Fill(q);
  flushband(q, 0, FLUSHDATA);
  EXPECT_THAT(Contents(q),
              ElementsAre("pcproto", "pcsig", "b2data", "b2ctl", "b1proto", "ctl", "ioctl"));
  EXPECT_EQ(Get(q, QCOUNT, 2), 11);
  EXPECT_EQ(Get(q, QCOUNT, 1), 7);
  EXPECT_EQ(q->q_count, 7u + 5u + 3u + 5u);

  flushband(q, 0, FLUSHALL);
  EXPECT_THAT(Contents(q), ElementsAre("pcproto", "pcsig", "b2data", "b2ctl", "b1proto"));
  EXPECT_EQ(q->q_count, 7u + 5u);
  EXPECT_EQ(Get(q, QCOUNT, 2), 11);
}

// ---- strqget / strqset ----

TEST_F(QueueTest, StrqgetReadsTheQueueFields) {
  queue_t* q = HoldWq();
  EXPECT_EQ(Get(q, QHIWAT), 100);
  EXPECT_EQ(Get(q, QLOWAT), 50);
  EXPECT_EQ(Get(q, QMINPSZ), 1);
  EXPECT_EQ(Get(q, QMAXPSZ), 512);
  EXPECT_EQ(Get(q, QCOUNT), 0);
  EXPECT_EQ(Get(q, QFIRST), 0);
  EXPECT_EQ(Get(q, QLAST), 0);
  EXPECT_EQ(static_cast<uint32_t>(Get(q, QFLAG)), Flags(q));

  mblk_t* a = Data("abc");
  mblk_t* b = Data("de");
  putq(q, a);
  putq(q, b);
  EXPECT_EQ(Get(q, QCOUNT), 5);
  EXPECT_EQ(Get(q, QFIRST), reinterpret_cast<intptr_t>(a));
  EXPECT_EQ(Get(q, QLAST), reinterpret_cast<intptr_t>(b));
  EXPECT_EQ(static_cast<uint32_t>(Get(q, QFLAG)), Flags(q));
}

TEST_F(QueueTest, StrqsetWritesTheMarksAndPacketSizes) {
  queue_t* q = HoldWq();
  EXPECT_EQ(strqset(q, QHIWAT, 0, 4096), 0);
  EXPECT_EQ(strqset(q, QLOWAT, 0, 1024), 0);
  EXPECT_EQ(strqset(q, QMAXPSZ, 0, 2048), 0);
  EXPECT_EQ(strqset(q, QMINPSZ, 0, 8), 0);
  EXPECT_EQ(Get(q, QHIWAT), 4096);
  EXPECT_EQ(Get(q, QLOWAT), 1024);
  EXPECT_EQ(Get(q, QMAXPSZ), 2048);
  EXPECT_EQ(Get(q, QMINPSZ), 8);
  EXPECT_EQ(q->q_hiwat, 4096u);
  EXPECT_EQ(q->q_lowat, 1024u);
  EXPECT_EQ(q->q_maxpsz, 2048);
  EXPECT_EQ(q->q_minpsz, 8);
  EXPECT_EQ(strqset(q, QMAXPSZ, 0, INFPSZ), 0);
  EXPECT_EQ(Get(q, QMAXPSZ), INFPSZ);
}

TEST_F(QueueTest, StrqgetAndStrqsetOfABand) {
  queue_t* q = HoldWq();
  ASSERT_EQ(q->q_nband, 0);
  // Asking about a band creates it (and those below it), with the queue's marks.
  EXPECT_EQ(Get(q, QHIWAT, 2), 100);
  EXPECT_EQ(q->q_nband, 2);
  EXPECT_EQ(Get(q, QLOWAT, 1), 50);
  EXPECT_EQ(Get(q, QCOUNT, 2), 0);
  EXPECT_EQ(Get(q, QFLAG, 2), 0);

  EXPECT_EQ(strqset(q, QHIWAT, 2, 30), 0);
  EXPECT_EQ(strqset(q, QLOWAT, 2, 10), 0);
  EXPECT_EQ(Get(q, QHIWAT, 2), 30);
  EXPECT_EQ(Get(q, QLOWAT, 2), 10);
  EXPECT_EQ(Get(q, QHIWAT, 1), 100);  // other bands and the queue keep theirs
  EXPECT_EQ(Get(q, QHIWAT), 100);
  EXPECT_EQ(strqset(q, QHIWAT, 5, 7), 0);
  EXPECT_EQ(q->q_nband, 5);
  EXPECT_EQ(Get(q, QHIWAT, 5), 7);

  mblk_t* a = Data("xyz", 2);
  putq(q, a);
  EXPECT_EQ(Get(q, QCOUNT, 2), 3);
  EXPECT_EQ(Get(q, QFIRST, 2), reinterpret_cast<intptr_t>(a));
  EXPECT_EQ(Get(q, QLAST, 2), reinterpret_cast<intptr_t>(a));
  EXPECT_EQ(Get(q, QCOUNT), 0);
}

TEST_F(QueueTest, StrqgetAndStrqsetErrors) {
  queue_t* q = HoldWq();
  intptr_t v = 0;
  for (qfields_t f : {QCOUNT, QFIRST, QLAST, QFLAG}) {
    EXPECT_EQ(strqset(q, f, 0, 1), EPERM) << f;
    EXPECT_EQ(strqset(q, f, 3, 1), EPERM) << f;
  }
  EXPECT_EQ(strqget(q, QBAD, 0, &v), EINVAL);
  EXPECT_EQ(strqset(q, QBAD, 0, 1), EINVAL);
  EXPECT_EQ(strqget(q, QBAD, 1, &v), EINVAL);
  EXPECT_EQ(strqset(q, QBAD, 1, 1), EINVAL);
  EXPECT_EQ(strqget(q, QMAXPSZ, 1, &v), EINVAL);
  EXPECT_EQ(strqset(q, QMAXPSZ, 1, 64), EINVAL);
  EXPECT_EQ(strqget(q, QMINPSZ, 1, &v), EINVAL);
  EXPECT_EQ(strqset(q, QMINPSZ, 1, 64), EINVAL);
  EXPECT_EQ(strqget(q, QHIWAT, 0, nullptr), EINVAL);
  // Nothing was changed by the refused calls.
  EXPECT_EQ(Get(q, QMAXPSZ), 512);
  EXPECT_EQ(Get(q, QMINPSZ), 1);
  EXPECT_EQ(Get(q, QCOUNT), 0);
}

// ---- putctl family ----

TEST_F(QueueTest, PutctlRefusesDataTypesAndSendsControlMessages) {
  queue_t* q = HoldWq();
  for (int type : {M_DATA, M_PROTO, M_PCPROTO}) {
    EXPECT_EQ(putctl(q, type), 0) << type;
    EXPECT_EQ(putctl1(q, type, 5), 0) << type;
    EXPECT_EQ(putnextctl(h_->head_wq(), type), 0) << type;
    EXPECT_EQ(putnextctl1(h_->head_wq(), type, 5), 0) << type;
  }
  EXPECT_EQ(qsize(q), 0);

  EXPECT_EQ(putctl(q, M_DELAY), 1);  // a data type putctl(9F) accepts
  EXPECT_EQ(putctl(q, M_CTL), 1);
  EXPECT_EQ(putctl1(q, M_ERROR, EIO), 1);  // high priority: goes first
  std::vector<MsgPtr> got = Drain(q);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(DB_TYPE(got[0].get()), M_ERROR);
  ASSERT_EQ(MBLKL(got[0].get()), 1u);
  EXPECT_EQ(got[0]->b_rptr[0], EIO);
  EXPECT_EQ(DB_TYPE(got[1].get()), M_DELAY);
  EXPECT_EQ(MBLKL(got[1].get()), 0u);
  EXPECT_EQ(DB_TYPE(got[2].get()), M_CTL);
  EXPECT_EQ(MBLKL(got[2].get()), 0u);
}

TEST_F(QueueTest, PutnextctlSendsToTheNextQueue) {
  Make({"holdq"});
  queue_t* wq = h_->module_wq(0);
  queue_t* rq = h_->module_rq(0);
  EXPECT_EQ(putnextctl(h_->head_wq(), M_CTL), 1);        // head -> holdq's write side
  EXPECT_EQ(putnextctl1(h_->driver_rq(), M_CTL, 0xab), 1);  // driver -> holdq's read side
  EXPECT_EQ(putnextctl1(wq, M_PCSIG, 9), 1);               // holdq -> driver
  std::vector<MsgPtr> w = Drain(wq);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(DB_TYPE(w[0].get()), M_CTL);
  std::vector<MsgPtr> r = Drain(rq);
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(MBLKL(r[0].get()), 1u);
  EXPECT_EQ(r[0]->b_rptr[0], 0xab);
  std::vector<MsgPtr> down = h_->TakeDown();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(DB_TYPE(down[0].get()), M_PCSIG);
  EXPECT_EQ(down[0]->b_rptr[0], 9);
}

// ---- navigation and qreply ----

TEST_F(QueueTest, QueuePairNavigation) {
  Make({"passthru", "holdq"});  // head -> holdq -> passthru -> driver
  queue_t* hw = h_->module_wq(0);
  queue_t* hr = h_->module_rq(0);
  queue_t* pw = h_->module_wq(1);
  queue_t* pr = h_->module_rq(1);
  ASSERT_NE(hw, nullptr);
  ASSERT_NE(pw, nullptr);

  EXPECT_EQ(RD(hw), hr);
  EXPECT_EQ(RD(hr), hr);
  EXPECT_EQ(WR(hr), hw);
  EXPECT_EQ(WR(hw), hw);
  EXPECT_EQ(OTHERQ(hw), hr);
  EXPECT_EQ(OTHERQ(hr), hw);
  EXPECT_NE(hr->q_flag & QREADR, 0u);
  EXPECT_EQ(hw->q_flag & QREADR, 0u);

  EXPECT_EQ(h_->head_wq()->q_next, hw);
  EXPECT_EQ(hw->q_next, pw);
  EXPECT_EQ(pw->q_next, h_->driver_wq());
  EXPECT_EQ(h_->driver_wq()->q_next, nullptr);
  EXPECT_EQ(h_->driver_rq()->q_next, pr);
  EXPECT_EQ(pr->q_next, hr);
  EXPECT_EQ(hr->q_next, h_->head_rq());
  EXPECT_EQ(h_->head_rq()->q_next, nullptr);

  EXPECT_EQ(SAMESTR(h_->head_wq()), 1);
  EXPECT_EQ(SAMESTR(hw), 1);
  EXPECT_EQ(SAMESTR(hr), 1);
  EXPECT_EQ(SAMESTR(h_->driver_rq()), 1);
  EXPECT_EQ(SAMESTR(h_->driver_wq()), 0);
  EXPECT_EQ(SAMESTR(h_->head_rq()), 0);

  // backq: the queue whose q_next is q.
  EXPECT_EQ(backq(hw), h_->head_wq());
  EXPECT_EQ(backq(pw), hw);
  EXPECT_EQ(backq(h_->driver_wq()), pw);
  EXPECT_EQ(backq(h_->head_wq()), nullptr);
  EXPECT_EQ(backq(h_->driver_rq()), nullptr);
  EXPECT_EQ(backq(pr), h_->driver_rq());
  EXPECT_EQ(backq(hr), pr);
  EXPECT_EQ(backq(h_->head_rq()), hr);
}

TEST_F(QueueTest, QreplySendsBackTheOtherWay) {
  Make({"holdq", "passthru"});  // head -> passthru -> holdq -> driver
  queue_t* pw = h_->module_wq(0);
  queue_t* hr = h_->module_rq(1);
  qreply(pw, Data("from passthru"));  // up from passthru's write side to the head
  EXPECT_THAT(Bytes(h_->TakeUp()), ElementsAre("from passthru"));
  qreply(h_->driver_wq(), Data("from driver"));  // up from the driver: holdq holds it
  EXPECT_THAT(Contents(hr), ElementsAre("from driver"));
  qreply(hr, Data("turned"));  // down from holdq's read side to the driver
  EXPECT_THAT(Bytes(h_->TakeDown()), ElementsAre("turned"));
}

// ---- M_FLUSH ----

mblk_t* Flush(unsigned char flags) { return Msg(M_FLUSH, std::string(1, static_cast<char>(flags))); }

class FlushTest : public QueueTest {
 protected:
  // head -> holdq -> passthru -> driver, with data waiting on every queue that keeps it.
  void SetUpStream(bool turn_around) {
    Make({"passthru", "holdq"});
    h_->TurnFlushAround(turn_around);
    hw_ = h_->module_wq(0);
    hr_ = h_->module_rq(0);
    putq(hw_, Data("w1"));
    putq(hw_, Msg(M_CTL, "wctl"));
    putq(hw_, Data("w2"));
    putq(hr_, Data("r1"));
    putq(hr_, Data("r2"));
    putq(h_->driver_wq(), Data("dw"));
    putq(h_->driver_rq(), Data("dr"));  // never read: the fake driver's read side is a putnext
    putq(h_->head_rq(), Data("hr"));
  }
  queue_t* hw_ = nullptr;
  queue_t* hr_ = nullptr;
};

TEST_F(FlushTest, FlushWDownFlushesWriteQueuesAndDoesNotComeBack) {
  SetUpStream(true);
  h_->SendDown(Flush(FLUSHW));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(hw_)->wflushes, 1);
  EXPECT_EQ(StateOf(hw_)->last_wflush, FLUSHW);
  EXPECT_THAT(Contents(hw_), ElementsAre("wctl"));          // FLUSHDATA keeps M_CTL
  EXPECT_EQ(h_->down_count(), 0);                            // the driver flushed too
  EXPECT_EQ(StateOf(hw_)->rflushes, 0);                      // no FLUSHR: nothing came up
  EXPECT_THAT(Contents(hr_), ElementsAre("r1", "r2"));
  EXPECT_THAT(Contents(h_->head_rq()), ElementsAre("hr"));
  EXPECT_THAT(Contents(h_->driver_rq()), ElementsAre("dr"));
}

TEST_F(FlushTest, FlushRWDownComesBackUpAsFlushR) {
  SetUpStream(true);
  h_->SendDown(Flush(FLUSHRW));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(hw_)->wflushes, 1);
  EXPECT_THAT(Contents(hw_), ElementsAre("wctl"));
  EXPECT_EQ(h_->down_count(), 0);
  EXPECT_EQ(qsize(h_->driver_rq()), 0);  // the driver flushed its read side before replying
  // The driver cleared FLUSHW and turned FLUSHR around; it flushed holdq's read side again on
  // the way up and the head flushed its own.
  EXPECT_EQ(StateOf(hw_)->rflushes, 1);
  EXPECT_EQ(StateOf(hw_)->last_rflush, FLUSHR);
  EXPECT_EQ(qsize(hr_), 0);
  EXPECT_EQ(qsize(h_->head_rq()), 0);
  EXPECT_EQ(h_->up_count(), 0);  // the head consumed the M_FLUSH
}

TEST_F(FlushTest, FlushRDownOnlyFlushesReadQueuesOnTheWayBack) {
  SetUpStream(true);
  h_->SendDown(Flush(FLUSHR));
  h_->RunUntilIdle();
  EXPECT_THAT(Contents(hw_), ElementsAre("w1", "wctl", "w2"));
  EXPECT_EQ(h_->down_count(), 1);  // "dw" stays
  EXPECT_EQ(StateOf(hw_)->rflushes, 1);
  EXPECT_EQ(StateOf(hw_)->last_rflush, FLUSHR);
  EXPECT_EQ(qsize(hr_), 0);
  EXPECT_EQ(qsize(h_->head_rq()), 0);
}

TEST_F(FlushTest, HeadTurnsFlushWBackDown) {
  SetUpStream(false);  // the driver queues what reaches it, so the M_FLUSH can be looked at
  h_->SendUp(Flush(FLUSHRW));
  h_->RunUntilIdle();
  // Up: holdq's read side flushed both sides; the head flushed its read side, cleared FLUSHR
  // and sent FLUSHW back down, flushing holdq's write side once more on the way.
  EXPECT_EQ(StateOf(hw_)->rflushes, 1);
  EXPECT_EQ(StateOf(hw_)->last_rflush, FLUSHRW);
  EXPECT_EQ(StateOf(hw_)->wflushes, 1);
  EXPECT_EQ(StateOf(hw_)->last_wflush, FLUSHW);
  EXPECT_EQ(qsize(hr_), 0);
  EXPECT_EQ(qsize(h_->head_rq()), 0);
  EXPECT_THAT(Contents(hw_), ElementsAre("wctl"));
  std::vector<MsgPtr> down = h_->TakeDown();
  ASSERT_EQ(down.size(), 2u);
  EXPECT_EQ(DB_TYPE(down[0].get()), M_FLUSH);  // high priority: queued ahead of "dw"
  EXPECT_EQ(down[0]->b_rptr[0], FLUSHW);
  EXPECT_EQ(down[1].Bytes(), "dw");  // the fake driver does not flush unless told to

  // FLUSHR alone stops at the head.
  h_->SendUp(Flush(FLUSHR));
  h_->RunUntilIdle();
  EXPECT_EQ(h_->down_count(), 0);
  EXPECT_EQ(StateOf(hw_)->wflushes, 1);
}

TEST_F(FlushTest, FlushBandFlushesOnlyThatBand) {
  SetUpStream(true);
  flushq(hw_, FLUSHALL);
  putq(hw_, Data("b1", 1));
  putq(hw_, Data("b2a", 2));
  putq(hw_, Data("b2b", 2));
  putq(hw_, Data("b3", 3));
  putq(hw_, Data("n0"));
  mblk_t* mp = Msg(M_FLUSH, "xx");
  mp->b_rptr[0] = FLUSHW | FLUSHBAND;
  mp->b_rptr[1] = 2;
  h_->SendDown(mp);
  h_->RunUntilIdle();
  EXPECT_THAT(Contents(hw_), ElementsAre("b3", "b1", "n0"));
  EXPECT_EQ(Get(hw_, QCOUNT, 2), 0);
  EXPECT_EQ(h_->down_count(), 1);  // band 0 "dw" at the driver stays
  EXPECT_THAT(Contents(hr_), ElementsAre("r1", "r2"));
}

TEST_F(FlushTest, DriverTurnsASharedFlushAroundWithoutWritingIntoIt) {
  SetUpStream(true);
  mblk_t* mine = Flush(FLUSHRW);
  mblk_t* sent = dupb(mine);  // the driver must not clear FLUSHW in the block we still read
  ASSERT_NE(sent, nullptr);
  h_->SendDown(sent);
  h_->RunUntilIdle();
  EXPECT_EQ(mine->b_rptr[0], FLUSHRW);
  EXPECT_EQ(StateOf(hw_)->last_rflush, FLUSHR);  // the copy that came up had FLUSHW cleared
  EXPECT_EQ(qsize(h_->head_rq()), 0);
  freemsg(mine);
}

// ---- misuse caught in debug builds ----

#ifndef NDEBUG
using QueueDeathTest = QueueTest;

TEST_F(QueueDeathTest, PutqOfAQueuedMessageDies) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  queue_t* q = HoldWq();
  mblk_t* mp = Data("x");
  putq(q, mp);
  EXPECT_DEATH(putq(q, mp), "still on a queue");
  EXPECT_DEATH(putq(h_->driver_wq(), mp), "still on a queue");
  EXPECT_DEATH(putbq(q, mp), "still on a queue");
  EXPECT_DEATH(putnext(q, mp), "still on a queue");
}

TEST_F(QueueDeathTest, FreemsgOfAQueuedMessageDies) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  queue_t* q = HoldWq();
  mblk_t* mp = Data("x");
  putq(q, mp);
  EXPECT_DEATH(freemsg(mp), "on a queue is not freed");
}

TEST_F(QueueDeathTest, RmvqOfAMessageOnAnotherQueueDies) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  queue_t* q = HoldWq();
  mblk_t* mp = Data("x");
  putq(q, mp);
  EXPECT_DEATH(rmvq(h_->driver_wq(), mp), "removes a message from the queue it is on");
}
#endif

}  // namespace
}  // namespace ustreams
