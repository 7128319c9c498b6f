// Flow control and scheduling as the illumos manual pages describe them: QFULL and the water
// marks (putq(9F), getq(9F)), canput(9F)/canputnext, bcanput(9F)/bcanputnext, back-enabling,
// qenable(9F), noenable(9F)/enableok, and high-priority messages, which flow control never holds.
//
// Test modules:
//   holdq  queues everything; its service procedures only count their runs (the tests work on
//          its queues directly).
//   pumpq  put procedure is putq(); the service procedure is the canonical getq/bcanputnext/
//          putnext/putbq loop.
#include <cerrno>
#include <cstdint>
#include <cstdio>
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

// ---- test modules ----

struct ModState {
  int wsrv_runs = 0;
  int rsrv_runs = 0;
};

ModState* StateOf(queue_t* q) { return static_cast<ModState*>(q->q_ptr); }

int StateOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;
  auto* st = new ModState;
  q->q_ptr = st;
  WR(q)->q_ptr = st;
  qprocson(q);
  return 0;
}

int StateClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  delete StateOf(q);
  q->q_ptr = nullptr;
  WR(q)->q_ptr = nullptr;
  return 0;
}

void CountRun(queue_t* q) {
  if (q->q_flag & QREADR) {
    StateOf(q)->rsrv_runs++;
  } else {
    StateOf(q)->wsrv_runs++;
  }
}

int QueueItPut(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);
    return 0;
  }
  putq(q, mp);
  return 0;
}

int HoldSrv(queue_t* q) {
  CountRun(q);
  return 0;
}

int PumpSrv(queue_t* q) {
  CountRun(q);
  while (mblk_t* mp = getq(q)) {
    if (!queclass_is_hipri(mp) && !bcanputnext(q, mp->b_band)) {
      putbq(q, mp);
      return 0;
    }
    putnext(q, mp);
  }
  return 0;
}

module_info hold_info{2001, "holdq", 0, INFPSZ, 100, 50};
qinit hold_rinit{QueueItPut, HoldSrv, StateOpen, StateClose, nullptr, &hold_info, nullptr};
qinit hold_winit{QueueItPut, HoldSrv, nullptr, nullptr, nullptr, &hold_info, nullptr};
streamtab hold_tab{&hold_rinit, &hold_winit, nullptr, nullptr};

module_info pump_info{2002, "pumpq", 0, INFPSZ, 100, 50};
qinit pump_rinit{QueueItPut, PumpSrv, StateOpen, StateClose, nullptr, &pump_info, nullptr};
qinit pump_winit{QueueItPut, PumpSrv, nullptr, nullptr, nullptr, &pump_info, nullptr};
streamtab pump_tab{&pump_rinit, &pump_winit, nullptr, nullptr};

// ---- helpers ----

mblk_t* Msg(unsigned char type, std::string_view data, unsigned char band = 0) {
  mblk_t* mp = MsgPtr::Make(type, data).release();
  mp->b_band = band;
  return mp;
}
mblk_t* Data(std::string_view data, unsigned char band = 0) { return Msg(M_DATA, data, band); }
mblk_t* Bytes(size_t n, unsigned char band = 0) { return Data(std::string(n, 'x'), band); }
// A 100-byte message starting "mNN".
mblk_t* Numbered(int n) {
  char tag[8];
  std::snprintf(tag, sizeof tag, "m%02d", n);
  std::string s(100, '.');
  s.replace(0, 3, tag);
  return Data(s);
}

uint32_t Flags(queue_t* q) {
  std::lock_guard<Mutex> l(q->q_lock);
  return q->q_flag;
}
bool Has(queue_t* q, uint32_t flag) { return (Flags(q) & flag) != 0; }

intptr_t Get(queue_t* q, qfields_t what, unsigned char pri = 0) {
  intptr_t v = -12345;
  EXPECT_EQ(strqget(q, what, pri, &v), 0) << "field " << what << " band " << int{pri};
  return v;
}
bool BandHas(queue_t* q, unsigned char pri, unsigned int flag) {
  return (static_cast<unsigned int>(Get(q, QFLAG, pri)) & flag) != 0;
}

// getq() n times, freeing what comes off.
void Take(queue_t* q, int n) {
  for (int i = 0; i < n; i++) {
    MsgPtr m(getq(q));
    ASSERT_TRUE(m) << "message " << i;
  }
}

class FlowControlTest : public LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    ASSERT_TRUE(testing::RegisterSampleModules(reg_).ok());
    ASSERT_TRUE(reg_.RegisterModule("holdq", &hold_tab, D_MP).ok());
    ASSERT_TRUE(reg_.RegisterModule("pumpq", &pump_tab, D_MP).ok());
  }
  void TearDown() override {
    h_.reset();
    LeakCheckedTest::TearDown();
  }

  // A harness with `modules` pushed in order (so the last named is the top, index 0).
  Harness& Make(std::vector<std::string> modules, Harness::Options o = Harness::Options()) {
    h_ = std::make_unique<Harness>(&reg_, o);
    for (const std::string& m : modules) EXPECT_TRUE(h_->Push(m).ok()) << m;
    return *h_;
  }
  queue_t* HoldWq() {
    Make({"holdq"});
    return h_->module_wq(0);
  }

  Registry reg_;
  std::unique_ptr<Harness> h_;
};

// ---- QFULL and the high water mark ----

TEST_F(FlowControlTest, QFullIsSetExactlyWhenTheCountReachesHiwat) {
  queue_t* q = HoldWq();  // hiwat 100, lowat 50
  putq(q, Bytes(99));
  EXPECT_EQ(q->q_count, 99u);
  EXPECT_FALSE(Has(q, QFULL));
  EXPECT_EQ(canput(q), 1);
  putq(q, Bytes(1));
  EXPECT_EQ(q->q_count, 100u);
  EXPECT_TRUE(Has(q, QFULL));
  EXPECT_EQ(canput(q), 0);
  Take(q, 1);  // 1 byte left
  EXPECT_FALSE(Has(q, QFULL));
  EXPECT_EQ(canput(q), 1);
}

TEST_F(FlowControlTest, HighPriorityBytesCountTowardsQFull) {
  queue_t* q = HoldWq();
  putq(q, Msg(M_PCPROTO, std::string(100, 'p')));
  EXPECT_EQ(q->q_count, 100u);
  EXPECT_TRUE(Has(q, QFULL));
}

TEST_F(FlowControlTest, QFullIsSetWhenTheBlockCountReachesHiwat) {
  queue_t* q = HoldWq();
  ASSERT_EQ(strqset(q, QHIWAT, 0, 4), 0);
  for (int i = 0; i < 3; i++) putq(q, Data(""));
  EXPECT_EQ(q->q_count, 0u);
  EXPECT_EQ(q->q_mblkcnt, 3u);
  EXPECT_FALSE(Has(q, QFULL));
  putq(q, Data(""));
  EXPECT_TRUE(Has(q, QFULL));  // four empty messages fill a queue with hiwat 4
  EXPECT_EQ(canput(q), 0);
  Take(q, 1);
  EXPECT_FALSE(Has(q, QFULL));

  // Blocks of one message count too.
  flushq(q, FLUSHALL);
  mblk_t* chain = Data("");
  for (int i = 0; i < 3; i++) linkb(chain, Data(""));
  putq(q, chain);
  EXPECT_EQ(q->q_mblkcnt, 4u);
  EXPECT_TRUE(Has(q, QFULL));
}

TEST_F(FlowControlTest, QFullIsClearedOnlyWhenBytesAndBlocksAreBothBelowHiwat) {
  queue_t* q = HoldWq();
  ASSERT_EQ(strqset(q, QHIWAT, 0, 4), 0);
  // Bytes go below first; blocks still hold it full.
  putq(q, Data("ab"));
  for (int i = 0; i < 4; i++) putq(q, Data(""));
  ASSERT_TRUE(Has(q, QFULL));
  Take(q, 1);  // 0 bytes, 4 blocks
  EXPECT_TRUE(Has(q, QFULL));
  Take(q, 1);  // 0 bytes, 3 blocks
  EXPECT_FALSE(Has(q, QFULL));
  flushq(q, FLUSHALL);

  // Blocks go below first; bytes still hold it full.
  for (int i = 0; i < 3; i++) putq(q, Data(""));
  putq(q, Data("abcdef"));
  ASSERT_TRUE(Has(q, QFULL));
  Take(q, 3);  // 6 bytes, 1 block
  EXPECT_TRUE(Has(q, QFULL));
  Take(q, 1);
  EXPECT_FALSE(Has(q, QFULL));
}

// ---- canput and back-enabling ----

TEST_F(FlowControlTest, CanputOnAFullQueueFailsAndSetsQWantW) {
  queue_t* q = HoldWq();
  putq(q, Bytes(100));
  EXPECT_FALSE(Has(q, QWANTW));
  EXPECT_EQ(canput(q), 0);
  EXPECT_TRUE(Has(q, QWANTW));
  EXPECT_EQ(canputnext(h_->head_wq()), 0);  // the same queue, seen from the head
  EXPECT_EQ(bcanput(q, 0), 0);
  EXPECT_EQ(canput(nullptr), 0);
}

TEST_F(FlowControlTest, CanputLooksAtTheNearestQueueAheadWithAServiceProcedure) {
  Make({"holdq", "passthru"});  // head -> passthru -> holdq -> driver
  queue_t* pw = h_->module_wq(0);
  queue_t* hw = h_->module_wq(1);
  putq(hw, Bytes(100));
  EXPECT_EQ(canputnext(h_->head_wq()), 0);  // passthru has no service procedure: holdq decides
  EXPECT_EQ(canput(pw), 0);
  EXPECT_TRUE(Has(hw, QWANTW));
  EXPECT_FALSE(Has(pw, QWANTW));
  EXPECT_EQ(canputnext(hw), 1);  // the driver is not full
}

TEST_F(FlowControlTest, GetqBelowLowatBackEnablesTheQueueBehind) {
  queue_t* q = HoldWq();  // hiwat 100, lowat 50; the head's write side is behind it
  for (int i = 0; i < 10; i++) putq(q, Bytes(10));
  ASSERT_EQ(canput(q), 0);
  Take(q, 1);  // 90: no longer full, but a writer still waits
  EXPECT_FALSE(Has(q, QFULL));
  EXPECT_TRUE(Has(q, QWANTW));
  Take(q, 4);  // 50: at lowat, not below it
  EXPECT_TRUE(Has(q, QWANTW));
  EXPECT_FALSE(Has(h_->head_wq(), QENAB));
  EXPECT_FALSE(Has(h_->head_wq(), QBACK));
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 0);

  Take(q, 1);  // 40: below lowat
  EXPECT_FALSE(Has(q, QWANTW));
  EXPECT_TRUE(Has(h_->head_wq(), QBACK));
  EXPECT_TRUE(Has(h_->head_wq(), QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 1);

  Take(q, 4);  // no writer waits any more: no more back-enables
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 1);
}

TEST_F(FlowControlTest, WithoutAWaitingWriterNothingIsBackEnabled) {
  queue_t* q = HoldWq();
  for (int i = 0; i < 10; i++) putq(q, Bytes(10));
  ASSERT_TRUE(Has(q, QFULL));
  Take(q, 10);  // nobody called canput: QWANTW was never set
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 0);
  EXPECT_FALSE(Has(h_->head_wq(), QBACK));
}

TEST_F(FlowControlTest, LowatZeroBackEnablesOnTheFirstGetq) {
  queue_t* q = HoldWq();
  ASSERT_EQ(strqset(q, QLOWAT, 0, 0), 0);
  for (int i = 0; i < 10; i++) putq(q, Bytes(10));
  ASSERT_EQ(canput(q), 0);
  Take(q, 1);  // 90 bytes left, but with lowat 0 any getq back-enables a waiting writer
  EXPECT_FALSE(Has(q, QWANTW));
  EXPECT_TRUE(Has(h_->head_wq(), QBACK));
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 1);
}

TEST_F(FlowControlTest, RmvqAndFlushqBackEnableToo) {
  queue_t* q = HoldWq();
  for (int i = 0; i < 10; i++) putq(q, Bytes(10));
  ASSERT_EQ(canput(q), 0);
  for (int i = 0; i < 6; i++) {
    mblk_t* mp = q->q_last;
    rmvq(q, mp);
    freemsg(mp);
  }
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 1);

  for (int i = 0; i < 6; i++) putq(q, Bytes(10));
  ASSERT_EQ(canput(q), 0);
  flushq(q, FLUSHDATA);
  EXPECT_FALSE(Has(q, QWANTW));
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 2);
}

// Back-enabling goes to the nearest queue behind with a service procedure, skipping those
// without, and travels up the stream one queue at a time as each drains.
TEST_F(FlowControlTest, BackEnableChainsAcrossModules) {
  Harness::Options o;
  o.driver_hiwat = 300;
  o.driver_lowat = 100;
  // head -> svcpass (top) -> passthru -> svcpass (bottom) -> driver
  Make({"svcpass", "passthru", "svcpass"}, o);
  queue_t* top = h_->module_wq(0);
  queue_t* pass = h_->module_wq(1);
  queue_t* bottom = h_->module_wq(2);
  queue_t* drv = h_->driver_wq();
  for (queue_t* q : {top, bottom}) {
    ASSERT_EQ(strqset(q, QHIWAT, 0, 300), 0);
    ASSERT_EQ(strqset(q, QLOWAT, 0, 100), 0);
  }
  EXPECT_EQ(top->q_nbsrv, h_->head_wq());
  EXPECT_EQ(bottom->q_nbsrv, top);  // passthru has no service procedure
  EXPECT_EQ(drv->q_nbsrv, bottom);

  for (int i = 0; i < 12; i++) h_->SendDown(Numbered(i));
  h_->RunUntilIdle();
  EXPECT_EQ(canputnext(h_->head_wq()), 0);  // the writer at the top is held up

  // Three messages in each queue that keeps them; every one full, with a writer waiting.
  EXPECT_EQ(qsize(drv), 3);
  EXPECT_EQ(qsize(bottom), 3);
  EXPECT_EQ(qsize(pass), 0);
  EXPECT_EQ(qsize(top), 6);
  for (queue_t* q : {drv, bottom, top}) {
    EXPECT_TRUE(Has(q, QFULL));
    EXPECT_TRUE(Has(q, QWANTW));
  }
  EXPECT_FALSE(Has(pass, QWANTW));

  std::vector<std::string> got;
  auto take_down = [&] {
    for (MsgPtr& m : h_->TakeDown()) got.push_back(m.Bytes().substr(0, 3));
  };
  take_down();  // the driver drains below its lowat: the bottom svcpass is back-enabled
  EXPECT_TRUE(Has(bottom, QBACK));
  EXPECT_TRUE(Has(bottom, QENAB));
  EXPECT_FALSE(Has(pass, QBACK));
  EXPECT_FALSE(Has(top, QENAB));
  // One step: the bottom's service refills the driver and drains below its own lowat, which
  // back-enables the top svcpass, skipping passthru.
  ASSERT_TRUE(h_->scheduler().RunOne());
  EXPECT_EQ(qsize(bottom), 0);
  EXPECT_EQ(h_->down_count(), 3);
  EXPECT_TRUE(Has(top, QENAB));
  EXPECT_TRUE(Has(top, QBACK));
  EXPECT_FALSE(Has(pass, QENAB));
  EXPECT_FALSE(Has(pass, QBACK));
  h_->RunUntilIdle();
  EXPECT_EQ(qsize(top), 3);
  EXPECT_EQ(h_->head_backenables(), 0);  // the top never got below its lowat yet

  for (int round = 0; round < 10 && got.size() < 12; round++) {
    take_down();
    h_->RunUntilIdle();
  }
  EXPECT_THAT(got, ElementsAre("m00", "m01", "m02", "m03", "m04", "m05", "m06", "m07", "m08",
                               "m09", "m10", "m11"));
  // The top drained below its lowat with the head waiting: flow control reached the head.
  EXPECT_EQ(h_->head_backenables(), 1);
  EXPECT_TRUE(Has(h_->head_wq(), QBACK));
  for (queue_t* q : {drv, bottom, top}) {
    EXPECT_EQ(qsize(q), 0);
    EXPECT_FALSE(Has(q, QFULL));
  }
}

TEST_F(FlowControlTest, ChainWithoutServiceProceduresBackEnablesTheHead) {
  Harness::Options o;
  o.driver_hiwat = 300;
  o.driver_lowat = 100;
  Make({"passthru", "passthru"}, o);
  queue_t* drv = h_->driver_wq();
  EXPECT_EQ(drv->q_nbsrv, h_->head_wq());
  EXPECT_EQ(h_->module_wq(0)->q_nfsrv, drv);
  for (int i = 0; i < 3; i++) h_->SendDown(Numbered(i));
  EXPECT_EQ(canputnext(h_->head_wq()), 0);
  EXPECT_EQ(canputnext(h_->module_wq(0)), 0);
  EXPECT_EQ(bcanputnext(h_->head_wq(), 0), 0);
  EXPECT_TRUE(Has(drv, QWANTW));
  EXPECT_FALSE(Has(h_->module_wq(0), QWANTW));
  EXPECT_FALSE(Has(h_->module_wq(1), QWANTW));

  MsgPtr m0 = h_->TakeOneDown();  // 200
  MsgPtr m1 = h_->TakeOneDown();  // 100: not below lowat
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 0);
  MsgPtr m2 = h_->TakeOneDown();  // 0
  EXPECT_TRUE(Has(h_->head_wq(), QBACK));
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 1);
  EXPECT_EQ(canputnext(h_->head_wq()), 1);
}

// ---- priority bands ----

TEST_F(FlowControlTest, BandsHaveTheirOwnMarksAndFlags) {
  queue_t* q = HoldWq();
  ASSERT_EQ(strqset(q, QHIWAT, 2, 10), 0);
  ASSERT_EQ(strqset(q, QLOWAT, 2, 5), 0);
  ASSERT_EQ(q->q_nband, 2);
  EXPECT_EQ(bcanput(q, 7), 1);  // a band not yet allocated is not full
  EXPECT_EQ(bcanputnext(h_->head_wq(), 200), 1);
  EXPECT_EQ(q->q_nband, 2);  // ... and asking does not allocate it

  putq(q, Bytes(9, 2));
  EXPECT_FALSE(BandHas(q, 2, QB_FULL));
  EXPECT_EQ(bcanput(q, 2), 1);
  putq(q, Bytes(1, 2));
  EXPECT_EQ(Get(q, QCOUNT, 2), 10);
  EXPECT_TRUE(BandHas(q, 2, QB_FULL));
  EXPECT_EQ(bcanputnext(h_->head_wq(), 2), 0);
  EXPECT_TRUE(BandHas(q, 2, QB_WANTW));
  // Other bands and band 0 are not affected.
  EXPECT_EQ(bcanput(q, 1), 1);
  EXPECT_EQ(canput(q), 1);
  EXPECT_FALSE(Has(q, QFULL));
  EXPECT_FALSE(Has(q, QWANTW));
  EXPECT_EQ(q->q_count, 0u);

  Take(q, 1);  // the 9-byte message: 1 byte left in band 2, below its lowat of 5
  EXPECT_FALSE(BandHas(q, 2, QB_FULL));
  EXPECT_FALSE(BandHas(q, 2, QB_WANTW));
  EXPECT_TRUE(BandHas(h_->head_wq(), 2, QB_BACK));
  EXPECT_FALSE(Has(h_->head_wq(), QBACK));  // band 0 of the head was not back-enabled
  h_->RunUntilIdle();
  EXPECT_EQ(h_->head_backenables(), 1);
}

TEST_F(FlowControlTest, BandQbFullCountsBlocks) {
  queue_t* q = HoldWq();
  ASSERT_EQ(strqset(q, QHIWAT, 1, 3), 0);
  putq(q, Data("", 1));
  putq(q, Data("", 1));
  EXPECT_FALSE(BandHas(q, 1, QB_FULL));
  putq(q, Data("", 1));
  EXPECT_TRUE(BandHas(q, 1, QB_FULL));
  EXPECT_EQ(bcanput(q, 1), 0);
  flushband(q, 1, FLUSHDATA);
  EXPECT_FALSE(BandHas(q, 1, QB_FULL));
  EXPECT_FALSE(BandHas(q, 1, QB_WANTW));
  EXPECT_TRUE(BandHas(h_->head_wq(), 1, QB_BACK));
}

// ---- high priority ----

TEST_F(FlowControlTest, HighPriorityIsNeverHeldByFlowControl) {
  Harness::Options o;
  o.driver_hiwat = 10;
  o.driver_lowat = 5;
  Make({"svcpass"}, o);
  queue_t* sw = h_->module_wq(0);
  h_->SendDown(Data("0123456789"));  // fills the driver
  h_->SendDown(Data("waits"));        // svcpass must queue it
  h_->RunUntilIdle();
  ASSERT_EQ(qsize(sw), 1);
  ASSERT_TRUE(Has(h_->driver_wq(), QFULL));
  h_->SendDown(Msg(M_PCPROTO, "pc"));  // passes the full driver and the waiting message
  h_->RunUntilIdle();
  EXPECT_EQ(qsize(sw), 1);
  std::vector<std::string> got;
  for (MsgPtr& m : h_->TakeDown()) got.push_back(m.Bytes());
  EXPECT_THAT(got, ElementsAre("pc", "0123456789"));  // high priority first at the driver too
  h_->RunUntilIdle();  // the drained driver back-enabled svcpass
  got.clear();
  for (MsgPtr& m : h_->TakeDown()) got.push_back(m.Bytes());
  EXPECT_THAT(got, ElementsAre("waits"));
}

TEST_F(FlowControlTest, PutqOfHighPriorityOnAFullQueueQueuesAndEnables) {
  queue_t* q = HoldWq();
  putq(q, Bytes(100));
  ASSERT_EQ(canput(q), 0);
  noenable(q);
  int runs = StateOf(q)->wsrv_runs;
  ASSERT_EQ(putq(q, Msg(M_PCPROTO, "pc")), 1);  // even noenable() does not hold it back
  EXPECT_TRUE(Has(q, QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs + 1);
  EXPECT_EQ(MsgBytes(q->q_first), "pc");
}

TEST_F(FlowControlTest, PumpPassesHighPriorityPastAFullNextQueue) {
  Harness::Options o;
  o.driver_hiwat = 10;
  o.driver_lowat = 5;
  Make({"pumpq"}, o);
  queue_t* pw = h_->module_wq(0);
  h_->SendDown(Data("0123456789"));
  h_->SendDown(Data("later"));
  h_->RunUntilIdle();
  EXPECT_EQ(qsize(pw), 1);
  h_->SendDown(Msg(M_PCSIG, "sig"));  // putq enables pumpq for it; the loop passes it on
  h_->RunUntilIdle();
  EXPECT_EQ(qsize(pw), 1);
  EXPECT_EQ(h_->down_count(), 2);
  MsgPtr first = h_->TakeOneDown();
  EXPECT_EQ(first.Bytes(), "sig");
}

// ---- enabling ----

TEST_F(FlowControlTest, AFreshQueueEnablesItsServiceOnTheFirstPutq) {
  // setq() in illumos (and qattach() in SVR4) starts both queues with QWANTR, so a module whose
  // put procedure is putq() gets its service procedure run for the first message.
  Make({"pumpq"});
  queue_t* pw = h_->module_wq(0);
  EXPECT_TRUE(Has(pw, QWANTR));
  EXPECT_TRUE(Has(h_->module_rq(0), QWANTR));
  h_->SendDown(Data("hello"));
  h_->SendUp(Data("world"));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(pw)->wsrv_runs, 1);
  EXPECT_EQ(StateOf(pw)->rsrv_runs, 1);
  std::vector<MsgPtr> down = h_->TakeDown();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].Bytes(), "hello");
  std::vector<MsgPtr> up = h_->TakeUp();
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].Bytes(), "world");

  // Its service procedure emptied the queue, so QWANTR is set again and the next one runs too.
  h_->SendDown(Data("again"));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(pw)->wsrv_runs, 2);
  EXPECT_EQ(h_->down_count(), 1);
}

TEST_F(FlowControlTest, PutqEnablesANormalMessageOnlyWhenAReaderWaits) {
  queue_t* q = HoldWq();
  putq(q, Data("a"));
  Take(q, 1);  // a getq that finds a message clears QWANTR
  h_->RunUntilIdle();
  const int runs = StateOf(q)->wsrv_runs;
  ASSERT_FALSE(Has(q, QWANTR));

  putq(q, Data("b"));
  EXPECT_FALSE(Has(q, QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs);

  Take(q, 1);
  EXPECT_EQ(getq(q), nullptr);  // an empty getq: the reader now waits
  EXPECT_TRUE(Has(q, QWANTR));
  putq(q, Data("c"));
  EXPECT_TRUE(Has(q, QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs + 1);
}

TEST_F(FlowControlTest, PutqOfABandedMessageEnablesEvenWithoutAWaitingReader) {
  queue_t* q = HoldWq();
  putq(q, Data("a"));
  Take(q, 1);
  h_->RunUntilIdle();
  const int runs = StateOf(q)->wsrv_runs;
  ASSERT_FALSE(Has(q, QWANTR));
  putq(q, Data("b", 1));
  EXPECT_TRUE(Has(q, QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs + 1);
}

TEST_F(FlowControlTest, NoenableHoldsBackNormalMessagesButNotQenable) {
  queue_t* q = HoldWq();
  EXPECT_EQ(getq(q), nullptr);  // a reader waits
  h_->RunUntilIdle();
  const int runs = StateOf(q)->wsrv_runs;

  noenable(q);
  EXPECT_TRUE(Has(q, QNOENB));
  putq(q, Data("a"));
  putq(q, Data("b", 3));
  putbq(q, Data("c"));
  EXPECT_FALSE(Has(q, QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs);

  qenable(q);  // qenable(9F) ignores noenable
  EXPECT_TRUE(Has(q, QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs + 1);

  enableok(q);
  EXPECT_FALSE(Has(q, QNOENB));
  putq(q, Data("d"));
  EXPECT_TRUE(Has(q, QENAB));
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs + 2);
}

TEST_F(FlowControlTest, QenableRunsTheServiceOnceHoweverOftenItIsCalled) {
  queue_t* q = HoldWq();
  h_->RunUntilIdle();
  const int runs = StateOf(q)->wsrv_runs;
  qenable(q);
  qenable(q);
  qenable(q);
  h_->RunUntilIdle();
  EXPECT_EQ(StateOf(q)->wsrv_runs, runs + 1);
  EXPECT_FALSE(Has(q, QENAB));

  // A queue without a service procedure cannot be enabled.
  Make({"passthru"});
  qenable(h_->module_wq(0));
  EXPECT_FALSE(Has(h_->module_wq(0), QENAB));
}

}  // namespace
}  // namespace ustreams
