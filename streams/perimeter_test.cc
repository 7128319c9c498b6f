// Inner perimeters through the harness (deterministic): a message that re-enters the perimeter
// its sender holds is deferred until the sender leaves, never deadlocks, and every queue sees
// its messages in order; D_MTPERQ gives each queue its own perimeter; D_MTPERMOD instances on
// different streams share one.
#include "streams/perimeter.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "streams/msg.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/testing/harness.h"
#include "streams/testing/leak_check.h"

namespace ustreams {
namespace {

using testing::Harness;

// Events of the recording modules, in the order they happened (single-threaded tests).
std::vector<std::string> g_events;
// Write queues of open "rec*" instances, by instance number (q_ptr).
std::vector<queue_t*> g_instances;

std::string Tag(queue_t* q) { return std::to_string(reinterpret_cast<intptr_t>(q->q_ptr)); }

MsgPtr Data(const std::string& s) {
  MsgPtr m = MsgPtr::Data(s);
  EXPECT_TRUE(m);
  return m;
}

// rec: records what its put procedures see. On the write side, M_PROTO commands:
//   "reply X"  qreply()s "re:X" (up, to the head)
//   "self X"   put()s "self:X" into its own read queue (the same pair)
//   "burst N"  sends N messages "b0".."bN-1" down (a mirror below reflects them into our read
//              queue while we are still inside the write put procedure)
//   "poke I"   put()s "poked" into the write queue of instance I (maybe on another stream)
int RecWput(queue_t* q, mblk_t* mp) {
  std::string body = MsgBytes(mp);
  std::string tag = Tag(q);
  g_events.push_back(tag + " w:" + body);
  if (DB_TYPE(mp) != M_PROTO) {
    putnext(q, mp);
    g_events.push_back(tag + " w-end:" + body);
    return 0;
  }
  freemsg(mp);
  if (body.rfind("reply ", 0) == 0) {
    qreply(q, Data("re:" + body.substr(6)).release());
  } else if (body.rfind("self ", 0) == 0) {
    put(RD(q), Data("self:" + body.substr(5)).release());
  } else if (body.rfind("burst ", 0) == 0) {
    int n = std::atoi(body.c_str() + 6);
    for (int i = 0; i < n; i++) putnext(q, Data("b" + std::to_string(i)).release());
  } else if (body.rfind("poke ", 0) == 0) {
    put(g_instances.at(std::atoi(body.c_str() + 5)), Data("poked").release());
  }
  g_events.push_back(tag + " w-end:" + body);
  return 0;
}

int RecRput(queue_t* q, mblk_t* mp) {
  g_events.push_back(Tag(q) + " r:" + MsgBytes(mp));
  putnext(q, mp);
  return 0;
}

int RecOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;
  void* tag = reinterpret_cast<void*>(static_cast<intptr_t>(g_instances.size()));
  q->q_ptr = WR(q)->q_ptr = tag;
  g_instances.push_back(WR(q));
  qprocson(q);
  return 0;
}

int RecClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  g_instances.at(reinterpret_cast<intptr_t>(q->q_ptr)) = nullptr;
  return 0;
}

module_info rec_info{4300, "rec", 0, INFPSZ, 1 << 20, 1 << 10};
qinit rec_rinit{RecRput, nullptr, RecOpen, RecClose, nullptr, &rec_info, nullptr};
qinit rec_winit{RecWput, nullptr, nullptr, nullptr, nullptr, &rec_info, nullptr};
streamtab rec_tab{&rec_rinit, &rec_winit, nullptr, nullptr};

// mirror (D_MP): reflects M_DATA coming down back up; passes everything else.
int MirrorWput(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_DATA) {
    qreply(q, mp);
  } else {
    putnext(q, mp);
  }
  return 0;
}
int MirrorRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}
module_info mirror_info{4301, "mirror", 0, INFPSZ, 1 << 20, 1 << 10};
qinit mirror_rinit{MirrorRput, nullptr, nullptr, nullptr, nullptr, &mirror_info, nullptr};
qinit mirror_winit{MirrorWput, nullptr, nullptr, nullptr, nullptr, &mirror_info, nullptr};
streamtab mirror_tab{&mirror_rinit, &mirror_winit, nullptr, nullptr};

class PerimeterTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    g_events.clear();
    g_instances.clear();
    ASSERT_TRUE(reg_.RegisterModule("recqp", &rec_tab, D_MTQPAIR).ok());
    ASSERT_TRUE(reg_.RegisterModule("recpq", &rec_tab, D_MTPERQ).ok());
    ASSERT_TRUE(reg_.RegisterModule("recpm", &rec_tab, D_MTPERMOD).ok());
    ASSERT_TRUE(reg_.RegisterModule("recmp", &rec_tab, D_MP).ok());
    ASSERT_TRUE(reg_.RegisterModule("mirror", &mirror_tab, D_MP).ok());
  }

  static void Proto(Harness& h, const std::string& cmd) { h.SendDown(MsgPtr::Make(M_PROTO, cmd)); }
  static std::vector<std::string> Bodies(std::vector<MsgPtr> msgs) {
    std::vector<std::string> out;
    for (const MsgPtr& m : msgs) out.push_back(m.Bytes());
    return out;
  }

  Registry reg_;
};

TEST_F(PerimeterTest, QreplyFromWritePutGoesUpWithoutDeadlock) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("recqp").ok());
  Proto(h, "reply x");
  h.RunUntilIdle();
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:reply x", "0 w-end:reply x"}));
  EXPECT_EQ(Bodies(h.TakeUp()), (std::vector<std::string>{"re:x"}));
}

TEST_F(PerimeterTest, PutIntoOwnReadQueueIsDeferredUntilThePutReturns) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("recqp").ok());
  Proto(h, "self a");
  // Delivered before SendDown returned (the put's caller drains), but after the write put.
  EXPECT_EQ(g_events,
            (std::vector<std::string>{"0 w:self a", "0 w-end:self a", "0 r:self:a"}));
  EXPECT_EQ(Bodies(h.TakeUp()), (std::vector<std::string>{"self:a"}));
}

TEST_F(PerimeterTest, ReplyReflectedFromBelowIsDeferredAndInOrder) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("mirror").ok());
  ASSERT_TRUE(h.Push("recqp").ok());  // head -> recqp -> mirror -> driver
  Proto(h, "burst 3");
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:burst 3", "0 w-end:burst 3", "0 r:b0",
                                                "0 r:b1", "0 r:b2"}));
  EXPECT_EQ(Bodies(h.TakeUp()), (std::vector<std::string>{"b0", "b1", "b2"}));
  // A plain M_DATA down: reflected up through the perimeter while the write put runs.
  g_events.clear();
  h.SendDown(Data("d"));
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:d", "0 w-end:d", "0 r:d"}));
  EXPECT_EQ(Bodies(h.TakeUp()), (std::vector<std::string>{"d"}));
}

TEST_F(PerimeterTest, PerQueuePerimeterLetsTheReplyInAtOnce) {
  // D_MTPERQ: the read queue has its own perimeter, so the reflected message goes straight in.
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("mirror").ok());
  ASSERT_TRUE(h.Push("recpq").ok());
  h.SendDown(Data("d"));
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:d", "0 r:d", "0 w-end:d"}));
  EXPECT_EQ(Bodies(h.TakeUp()), (std::vector<std::string>{"d"}));
  // ... but a put into the write queue from inside the write put waits.
  g_events.clear();
  Proto(h, "poke 0");
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:poke 0", "0 w-end:poke 0", "0 w:poked",
                                                "0 r:poked", "0 w-end:poked"}));
  EXPECT_EQ(Bodies(h.TakeUp()), (std::vector<std::string>{"poked"}));
}

TEST_F(PerimeterTest, LongBurstKeepsOrderAndLaterArrivalsStayBehind) {
  // More reflected messages than one drain's budget: the rest is handed to the scheduler with
  // the perimeter still held, so a message arriving meanwhile queues behind them.
  constexpr int kN = 3 * internal::SyncQ::kDrainBudget + 17;
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("mirror").ok());
  ASSERT_TRUE(h.Push("recqp").ok());
  Proto(h, "burst " + std::to_string(kN));
  int early = h.up_count();
  EXPECT_LT(early, kN);  // the budget ran out
  h.SendUp(Data("late-up"));       // enters the read side from below
  h.SendDown(Data("late-down"));  // and the write side from above (reflected)
  h.RunUntilIdle();
  std::vector<std::string> up = Bodies(h.TakeUp());
  ASSERT_EQ(up.size(), static_cast<size_t>(kN + 2));
  for (int i = 0; i < kN; i++) ASSERT_EQ(up[i], "b" + std::to_string(i));
  EXPECT_EQ(up[kN], "late-up");
  EXPECT_EQ(up[kN + 1], "late-down");
  // The write put of "late-down" ran only after every deferred read-side put.
  std::vector<std::string> tail(g_events.end() - 4, g_events.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"0 r:late-up", "0 w:late-down", "0 w-end:late-down",
                                            "0 r:late-down"}));
}

TEST_F(PerimeterTest, PopWhileTheDrainIsHandedToTheScheduler) {
  // close() must enter the perimeter exclusively while its deferred drain still holds it: with a
  // deterministic scheduler, entering runs that drain until the holder leaves.
  constexpr int kN = 2 * internal::SyncQ::kDrainBudget + 5;
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("mirror").ok());
  ASSERT_TRUE(h.Push("recqp").ok());
  Proto(h, "burst " + std::to_string(kN));
  ASSERT_LT(h.up_count(), kN);
  ASSERT_TRUE(h.Pop().ok());
  h.RunUntilIdle();
  std::vector<std::string> up = Bodies(h.TakeUp());
  ASSERT_EQ(up.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; i++) ASSERT_EQ(up[i], "b" + std::to_string(i));
}

TEST_F(PerimeterTest, NoPerimeterForDmp) {
  Harness h(&reg_);
  ASSERT_TRUE(h.Push("mirror").ok());
  ASSERT_TRUE(h.Push("recmp").ok());
  EXPECT_EQ(h.module_wq(0)->q_syncq, nullptr);
  h.SendDown(Data("d"));
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:d", "0 r:d", "0 w-end:d"}));
  h.TakeUp();
}

TEST_F(PerimeterTest, PermodInstancesOnTwoStreamsShareOnePerimeter) {
  Harness h1(&reg_);
  Harness h2(&reg_);
  ASSERT_TRUE(h1.Push("recpm").ok());  // instance 0
  ASSERT_TRUE(h2.Push("recpm").ok());  // instance 1
  ASSERT_NE(h1.module_wq(0)->q_syncq, nullptr);
  EXPECT_EQ(h1.module_wq(0)->q_syncq, h2.module_wq(0)->q_syncq);
  EXPECT_EQ(h1.module_rq(0)->q_syncq, h2.module_wq(0)->q_syncq);
  EXPECT_EQ(h1.module_wq(0)->q_syncq, reg_.FindModule("recpm")->permod.get());
  // Instance 0 puts into instance 1 on the other stream: it waits until instance 0 has left.
  Proto(h1, "poke 1");
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:poke 1", "0 w-end:poke 1", "1 w:poked",
                                                "1 w-end:poked"}));
  h1.RunUntilIdle();
  h2.RunUntilIdle();
  EXPECT_EQ(Bodies(h2.TakeDown()), (std::vector<std::string>{"poked"}));
  EXPECT_TRUE(h1.TakeDown().empty());
}

TEST_F(PerimeterTest, QpairInstancesOnTwoStreamsDoNotShare) {
  Harness h1(&reg_);
  Harness h2(&reg_);
  ASSERT_TRUE(h1.Push("recqp").ok());
  ASSERT_TRUE(h2.Push("recqp").ok());
  EXPECT_NE(h1.module_wq(0)->q_syncq, h2.module_wq(0)->q_syncq);
  Proto(h1, "poke 1");
  EXPECT_EQ(g_events, (std::vector<std::string>{"0 w:poke 1", "1 w:poked", "1 w-end:poked",
                                                "0 w-end:poke 1"}));
  EXPECT_EQ(Bodies(h2.TakeDown()), (std::vector<std::string>{"poked"}));
}

}  // namespace
}  // namespace ustreams
