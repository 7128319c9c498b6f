#include "modules/echo/echo.h"

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "streams/ddi.h"
#include "streams/msg.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/testing/harness.h"
#include "streams/testing/leak_check.h"

namespace ustreams {
namespace {

using testing::Harness;

MsgPtr Make(unsigned char type, std::string_view data, unsigned char band = 0,
            unsigned short flag = 0) {
  MsgPtr mp = MsgPtr::Make(type, data);
  mp->b_band = band;
  mp->b_flag = flag;
  return mp;
}

MsgPtr Flush(unsigned char flags, int band = -1) {
  std::string body(1, static_cast<char>(flags | (band >= 0 ? FLUSHBAND : 0)));
  if (band >= 0) body += static_cast<char>(band);
  return MsgPtr::Make(M_FLUSH, body);
}

class EchoTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    ASSERT_TRUE(RegisterEchoModule(reg_).ok());
  }
  void TearDown() override {
    h_.reset();
    LeakCheckedTest::TearDown();
  }
  Harness& Start(Harness::Options o = Harness::Options()) {
    h_ = std::make_unique<Harness>(&reg_, o);
    EXPECT_TRUE(h_->Push(kEchoModuleName).ok());
    return *h_;
  }
  // Takes what reached the head until `n` messages came, draining (and so back-enabling) as a
  // reader would; gives up when a round brings nothing.
  std::vector<MsgPtr> ReadUp(size_t n) {
    std::vector<MsgPtr> all;
    while (all.size() < n) {
      h_->RunUntilIdle();
      std::vector<MsgPtr> got = h_->TakeUp();
      if (got.empty()) break;
      for (MsgPtr& m : got) all.push_back(std::move(m));
    }
    return all;
  }

  Registry reg_;
  std::unique_ptr<Harness> h_;
};

TEST_F(EchoTest, RegistersAsDmpModuleBesideADriverOfTheSameName) {
  const fmodsw* sw = reg_.FindModule("echo");
  ASSERT_NE(sw, nullptr);
  EXPECT_EQ(sw->flags, D_MP);
  EXPECT_TRUE(absl::IsAlreadyExists(RegisterEchoModule(reg_)));
  EXPECT_EQ(Harness(&reg_).PushErrno("echo"), 0);
}

TEST_F(EchoTest, WrittenDataComesBackUpIntactWithItsBandAndFlags) {
  Harness& h = Start();
  MsgPtr mp = Make(M_DATA, "hello", 3, MSGDELIM);
  mblk_t* cont = allocb(8);
  std::memcpy(cont->b_wptr, ", you", 5);
  cont->b_wptr += 5;
  linkb(mp.get(), cont);
  mblk_t* sent = mp.get();
  h.SendDown(std::move(mp));
  h.RunUntilIdle();
  EXPECT_EQ(h.down_count(), 0);
  MsgPtr got = h.TakeOneUp();
  ASSERT_TRUE(got);
  EXPECT_EQ(got.get(), sent);  // the same message, not a copy
  EXPECT_EQ(DB_TYPE(got.get()), M_DATA);
  EXPECT_EQ(got.Bytes(), "hello, you");
  EXPECT_EQ(got->b_band, 3);
  EXPECT_EQ(got->b_flag, MSGDELIM);
  EXPECT_EQ(h.up_count(), 0);
}

TEST_F(EchoTest, ProtoAndPcprotoAreTurnedAroundWithTheirDataPart) {
  Harness& h = Start();
  MsgPtr proto = Make(M_PROTO, "ctl", 1);
  linkb(proto.get(), MsgPtr::Data("data").release());
  h.SendDown(std::move(proto));
  h.SendDown(Make(M_PCPROTO, "pc"));
  // M_PCPROTO does not wait for the service procedure.
  ASSERT_EQ(h.up_count(), 1);
  h.RunUntilIdle();
  std::vector<MsgPtr> got = h.TakeUp();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(DB_TYPE(got[0].get()), M_PCPROTO);
  EXPECT_EQ(DB_TYPE(got[1].get()), M_PROTO);
  EXPECT_EQ(got[1]->b_band, 1);
  ASSERT_NE(got[1]->b_cont, nullptr);
  EXPECT_EQ(DB_TYPE(got[1]->b_cont), M_DATA);
  EXPECT_EQ(got[1].Bytes(), "ctldata");
  EXPECT_EQ(h.down_count(), 0);
}

// The head's read queue sorts by band (putq), so order is checked within each band.
TEST_F(EchoTest, OrderWithinEachBandIsKept) {
  Harness& h = Start();
  const std::vector<std::pair<int, std::string>> sent = {{0, "a0"}, {2, "b2"}, {0, "c0"}, {1, "d1"},
                                                         {2, "e2"}, {0, "f0"}, {1, "g1"}};
  for (const auto& [band, data] : sent) h.SendDown(Make(M_DATA, data, band));
  h.RunUntilIdle();
  std::vector<MsgPtr> got = h.TakeUp();
  const std::vector<std::string> expected = {"b2", "e2", "d1", "g1", "a0", "c0", "f0"};
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].Bytes(), expected[i]);
    EXPECT_EQ(got[i]->b_band, expected[i][1] - '0');
  }
}

TEST_F(EchoTest, AnIoctlPassesDownAndItsAnswerComesUp) {
  Harness& h = Start();
  mblk_t* ioc = mkiocb(0x1234);
  ASSERT_NE(ioc, nullptr);
  unsigned int id = reinterpret_cast<iocblk*>(ioc->b_rptr)->ioc_id;
  h.SendDown(ioc);
  h.RunUntilIdle();
  EXPECT_EQ(h.up_count(), 0);
  MsgPtr down = h.TakeOneDown();
  ASSERT_TRUE(down);
  ASSERT_EQ(DB_TYPE(down.get()), M_IOCTL);
  EXPECT_EQ(reinterpret_cast<iocblk*>(down->b_rptr)->ioc_cmd, 0x1234);
  // The driver NAKs what nobody understood; the answer passes up through the module.
  mblk_t* raw = down.release();
  DB_TYPE(raw) = M_IOCNAK;
  h.SendUp(raw);
  MsgPtr up = h.TakeOneUp();
  ASSERT_TRUE(up);
  EXPECT_EQ(DB_TYPE(up.get()), M_IOCNAK);
  EXPECT_EQ(reinterpret_cast<iocblk*>(up->b_rptr)->ioc_id, id);
}

TEST_F(EchoTest, OtherWriteSideMessagesPassDown) {
  Harness& h = Start();
  for (unsigned char type : {M_CTL, M_DELAY, M_SIG, M_BREAK}) h.SendDown(Make(type, "x"));
  h.RunUntilIdle();
  std::vector<MsgPtr> got = h.TakeDown();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(DB_TYPE(got[0].get()), M_CTL);
  EXPECT_EQ(DB_TYPE(got[3].get()), M_BREAK);
  EXPECT_EQ(h.up_count(), 0);
}

TEST_F(EchoTest, ReadSidePassesEverythingUp) {
  Harness& h = Start();
  h.SendUp(Make(M_DATA, "r0"));
  h.SendUp(Make(M_PROTO, "r1", 1));
  h.SendUp(Make(M_CTL, "ctl"));
  h.SendUp(Make(M_PCPROTO, "pc"));
  h.SendUp(Make(M_SETOPTS, "opts"));
  h.RunUntilIdle();
  std::vector<MsgPtr> got = h.TakeUp();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(DB_TYPE(got[0].get()), M_PCPROTO);  // high priority first at the head
  EXPECT_EQ(got[1].Bytes(), "r1");              // then band 1
  EXPECT_EQ(got[1]->b_band, 1);
  EXPECT_EQ(got[2].Bytes(), "r0");
  EXPECT_EQ(got[3].Bytes(), "ctl");
  EXPECT_EQ(got[4].Bytes(), "opts");
  EXPECT_EQ(h.down_count(), 0);
}

// FLUSHW going down discards echoes still waiting on the write side (here held back by a full
// reader) and reaches the driver.
TEST_F(EchoTest, FlushWDiscardsEchoesNotYetTurnedAround) {
  Harness::Options o;
  o.head_hiwat = 1;
  o.head_lowat = 0;
  Harness& h = Start(o);
  h.SendDown(Make(M_DATA, "first"));
  h.SendDown(Make(M_DATA, "second"));
  h.SendDown(Make(M_DATA, "third"));
  h.RunUntilIdle();
  ASSERT_EQ(h.up_count(), 1);
  ASSERT_EQ(qsize(h.module_wq(0)), 2);
  h.SendDown(Flush(FLUSHW));
  EXPECT_EQ(qsize(h.module_wq(0)), 0);
  MsgPtr f = h.TakeOneDown();
  ASSERT_TRUE(f);
  EXPECT_EQ(DB_TYPE(f.get()), M_FLUSH);
  EXPECT_EQ(f.Bytes(), std::string(1, FLUSHW));
  EXPECT_EQ(h.TakeUp().size(), 1u);  // what was already up stays
  h.RunUntilIdle();
  EXPECT_EQ(h.up_count(), 0);
}

TEST_F(EchoTest, FlushBandDiscardsOnlyThatBand) {
  Harness::Options o;
  o.head_hiwat = 1;
  o.head_lowat = 0;
  Harness& h = Start(o);
  h.SendDown(Make(M_DATA, "blocker"));
  h.SendDown(Make(M_DATA, "band0"));
  h.SendDown(Make(M_DATA, "band1", 1));
  h.RunUntilIdle();
  // band 1 has its own (empty) marks at the head, so it went up; hold a second one back
  // behind the first by filling band 1 too.
  h.SendDown(Make(M_DATA, "band1 again", 1));
  h.RunUntilIdle();
  ASSERT_EQ(qsize(h.module_wq(0)), 2);
  h.SendDown(Flush(FLUSHW, 1));
  ASSERT_EQ(qsize(h.module_wq(0)), 1);
  std::vector<MsgPtr> got = ReadUp(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].Bytes(), "band1");
  EXPECT_EQ(got[1].Bytes(), "blocker");
  EXPECT_EQ(got[2].Bytes(), "band0");
  h.TakeDown();
}

// FLUSHRW down: the driver turns FLUSHR around; on its way up it flushes the module's read queue
// and then the head's.
TEST_F(EchoTest, FlushTurnedAroundByTheDriverFlushesTheReadSide) {
  Harness::Options o;
  o.head_hiwat = 1;
  o.head_lowat = 0;
  Harness& h = Start(o);
  h.TurnFlushAround(true);
  h.SendUp(Make(M_DATA, "up 1"));
  h.SendUp(Make(M_DATA, "up 2"));
  h.RunUntilIdle();
  ASSERT_EQ(h.up_count(), 1);
  ASSERT_EQ(qsize(h.module_rq(0)), 1);
  h.SendDown(Make(M_DELAY, "at the driver"));  // a data message that passes down
  h.SendDown(Flush(FLUSHRW));
  EXPECT_EQ(h.down_count(), 0);
  EXPECT_EQ(qsize(h.module_rq(0)), 0);
  EXPECT_EQ(h.up_count(), 0);
}

// A full reader holds echoes on the module's write queue; once that passes its high-water mark
// the writer above is flow controlled. Reading wakes everything up again, in order.
TEST_F(EchoTest, AFullReaderHoldsTheWriterBack) {
  Harness::Options o;
  o.head_hiwat = 100;
  o.head_lowat = 10;
  Harness& h = Start(o);
  const std::string chunk(kEchoHiwat / 2, 'x');
  const int kMessages = 5;
  for (int i = 0; i < kMessages; ++i) {
    h.SendDown(Make(M_DATA, std::to_string(i) + chunk));
    h.RunUntilIdle();
  }
  EXPECT_EQ(h.up_count(), 1);
  EXPECT_EQ(qsize(h.module_wq(0)), kMessages - 1);
  EXPECT_FALSE(canputnext(h.head_wq()));
  int backenables_before = h.head_backenables();
  std::vector<MsgPtr> got = ReadUp(kMessages);
  ASSERT_EQ(got.size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(got[i].Bytes()[0], '0' + i);
  EXPECT_TRUE(canputnext(h.head_wq()));
  EXPECT_GT(h.head_backenables(), backenables_before);  // the writer was woken
}

// With the module's read queue between them, the driver feels the head's flow control.
TEST_F(EchoTest, AFullReaderHoldsTheDriverBack) {
  Harness::Options o;
  o.head_hiwat = 100;
  o.head_lowat = 10;
  Harness& h = Start(o);
  const std::string chunk(kEchoHiwat / 2, 'y');
  const int kMessages = 4;
  for (int i = 0; i < kMessages; ++i) h.SendUp(Make(M_DATA, std::to_string(i) + chunk));
  h.RunUntilIdle();
  EXPECT_EQ(h.up_count(), 1);
  EXPECT_FALSE(canputnext(h.driver_rq()));
  std::vector<MsgPtr> got = ReadUp(kMessages);
  ASSERT_EQ(got.size(), static_cast<size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(got[i].Bytes()[0], '0' + i);
  EXPECT_TRUE(canputnext(h.driver_rq()));
}

TEST_F(EchoTest, HighPriorityIgnoresAFullReader) {
  Harness::Options o;
  o.head_hiwat = 1;
  o.head_lowat = 0;
  Harness& h = Start(o);
  h.SendDown(Make(M_DATA, "fills the head"));
  h.SendDown(Make(M_DATA, "waits"));
  h.RunUntilIdle();
  h.SendDown(Make(M_PCPROTO, "urgent"));
  h.SendUp(Make(M_PCPROTO, "urgent from below"));
  EXPECT_EQ(h.up_count(), 3);
  std::vector<MsgPtr> got = ReadUp(4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(DB_TYPE(got[0].get()), M_PCPROTO);
  EXPECT_EQ(DB_TYPE(got[1].get()), M_PCPROTO);
  EXPECT_EQ(got[3].Bytes(), "waits");
}

TEST_F(EchoTest, PopDiscardsWhatWaits) {
  Harness::Options o;
  o.head_hiwat = 1;
  o.head_lowat = 0;
  Harness& h = Start(o);
  h.SendDown(Make(M_DATA, "up"));
  h.SendDown(Make(M_DATA, "waits"));
  h.RunUntilIdle();
  ASSERT_TRUE(h.Pop().ok());
  h.SendDown(Make(M_DATA, "now goes down"));
  EXPECT_EQ(h.TakeDown().size(), 1u);
  EXPECT_EQ(h.TakeUp().size(), 1u);
}

// Real worker threads, both directions at once (for ThreadSanitizer).
TEST_F(EchoTest, ThreadedTrafficBothWays) {
  Harness::Options o;
  o.threaded = true;
  Harness& h = Start(o);
  constexpr int kEach = 2000;
  std::thread below([&] {
    for (int i = 0; i < kEach; ++i) h.SendUp(Make(M_DATA, "u" + std::to_string(i)));
  });
  for (int i = 0; i < kEach; ++i) h.SendDown(Make(M_DATA, "d" + std::to_string(i)));
  below.join();
  h.RunUntilIdle();
  std::vector<MsgPtr> got = h.TakeUp();
  ASSERT_EQ(got.size(), 2u * kEach);
  int next_up = 0, next_down = 0;
  for (const MsgPtr& m : got) {
    std::string s = m.Bytes();
    int& next = s[0] == 'u' ? next_up : next_down;
    EXPECT_EQ(std::stoi(s.substr(1)), next) << s;
    next++;
  }
  EXPECT_EQ(h.down_count(), 0);
}

}  // namespace
}  // namespace ustreams
