#include "modules/null/null.h"

#include <cstring>
#include <memory>
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

class NullTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    ASSERT_TRUE(RegisterNullModule(reg_).ok());
    h_ = std::make_unique<Harness>(&reg_);
    ASSERT_TRUE(h_->Push(kNullModuleName).ok());
  }
  void TearDown() override {
    h_.reset();
    LeakCheckedTest::TearDown();
  }

  Registry reg_;
  std::unique_ptr<Harness> h_;
};

TEST_F(NullTest, RegistersAsDmpModule) {
  const fmodsw* sw = reg_.FindModule("null");
  ASSERT_NE(sw, nullptr);
  EXPECT_FALSE(sw->is_driver);
  EXPECT_EQ(sw->flags, D_MP);
  EXPECT_EQ(sw->str->st_rdinit->qi_srvp, nullptr);
  EXPECT_EQ(sw->str->st_wrinit->qi_srvp, nullptr);
  EXPECT_TRUE(absl::IsAlreadyExists(RegisterNullModule(reg_)));
}

// The very same message block arrives: null neither copies nor touches it.
TEST_F(NullTest, DataGoesDownUntouchedAndSynchronously) {
  MsgPtr mp = Make(M_DATA, "hello", 0, MSGDELIM);
  mblk_t* cont = allocb(8);
  std::memcpy(cont->b_wptr, " world", 6);
  cont->b_wptr += 6;
  linkb(mp.get(), cont);
  mblk_t* sent = mp.get();
  h_->SendDown(std::move(mp));
  // No service procedure: the message is at the driver before anything runs.
  ASSERT_EQ(h_->down_count(), 1);
  MsgPtr got = h_->TakeOneDown();
  EXPECT_EQ(got.get(), sent);
  EXPECT_EQ(got->b_cont, cont);
  EXPECT_EQ(got.Bytes(), "hello world");
  EXPECT_EQ(got->b_flag, MSGDELIM);
  EXPECT_EQ(h_->up_count(), 0);
}

TEST_F(NullTest, DataGoesUpUntouched) {
  MsgPtr mp = Make(M_DATA, "from below", 0, MSGMARK);
  mblk_t* sent = mp.get();
  h_->SendUp(std::move(mp));
  ASSERT_EQ(h_->up_count(), 1);
  MsgPtr got = h_->TakeOneUp();
  EXPECT_EQ(got.get(), sent);
  EXPECT_EQ(got.Bytes(), "from below");
  EXPECT_EQ(got->b_flag, MSGMARK);
  EXPECT_EQ(h_->down_count(), 0);
}

// The fake driver and head queue with putq, which sorts by band; within a band the order of
// arrival must be the order of sending, and every message keeps its band.
TEST_F(NullTest, BandsAndOrderAreKeptBothWays) {
  const std::vector<std::pair<int, std::string>> sent = {{0, "a0"}, {1, "b1"}, {0, "c0"}, {2, "d2"},
                                                         {1, "e1"}, {0, "f0"}, {2, "g2"}};
  for (const auto& [band, data] : sent) h_->SendDown(Make(M_DATA, data, band));
  for (const auto& [band, data] : sent) h_->SendUp(Make(M_PROTO, data, band));
  const std::vector<std::string> expected = {"d2", "g2", "b1", "e1", "a0", "c0", "f0"};
  std::vector<MsgPtr> sides[] = {h_->TakeDown(), h_->TakeUp()};
  for (const std::vector<MsgPtr>& got : sides) {
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].Bytes(), expected[i]);
      EXPECT_EQ(got[i]->b_band, expected[i][1] - '0');
    }
  }
}

TEST_F(NullTest, HighPriorityPassesAheadAtTheQueuesBeyond) {
  h_->SendDown(Make(M_DATA, "normal"));
  h_->SendDown(Make(M_PCPROTO, "urgent"));
  h_->SendUp(Make(M_DATA, "normal"));
  h_->SendUp(Make(M_PCPROTO, "urgent"));
  std::vector<MsgPtr> sides[] = {h_->TakeDown(), h_->TakeUp()};
  for (const std::vector<MsgPtr>& got : sides) {
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(DB_TYPE(got[0].get()), M_PCPROTO);
    EXPECT_EQ(got[0].Bytes(), "urgent");
    EXPECT_EQ(DB_TYPE(got[1].get()), M_DATA);
  }
}

TEST_F(NullTest, OtherMessageTypesPassBothWays) {
  for (unsigned char type : {M_IOCTL, M_CTL, M_SIG, M_DELAY}) {
    h_->SendDown(Make(type, "x"));
    MsgPtr got = h_->TakeOneDown();
    ASSERT_TRUE(got) << MessageTypeName(type);
    EXPECT_EQ(DB_TYPE(got.get()), type);
  }
  for (unsigned char type : {M_CTL, M_SETOPTS, M_ERROR, M_HANGUP, M_IOCACK}) {
    h_->SendUp(Make(type, "y"));
    MsgPtr got = h_->TakeOneUp();
    ASSERT_TRUE(got) << MessageTypeName(type);
    EXPECT_EQ(DB_TYPE(got.get()), type);
  }
}

TEST_F(NullTest, FlushGoesDownUnchanged) {
  h_->SendDown(Flush(FLUSHW));
  h_->SendDown(Flush(FLUSHRW, 3));
  std::vector<MsgPtr> got = h_->TakeDown();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].Bytes(), std::string(1, FLUSHW));
  EXPECT_EQ(got[1].Bytes(), std::string({FLUSHRW | FLUSHBAND, 3}));
}

// M_FLUSH(FLUSHRW) down: the driver flushes and turns FLUSHR around; coming back up through null
// it reaches the head, which flushes its read queue.
TEST_F(NullTest, FlushDownComesBackUpThroughTheModule) {
  h_->TurnFlushAround(true);
  h_->SendUp(Make(M_DATA, "stale"));
  ASSERT_EQ(h_->up_count(), 1);
  h_->SendDown(Make(M_DATA, "queued at the driver"));
  h_->SendDown(Flush(FLUSHRW));
  EXPECT_EQ(h_->down_count(), 0);
  EXPECT_EQ(h_->up_count(), 0);
}

// M_FLUSH(FLUSHRW) up: the head flushes its read side and sends FLUSHW back down through null.
TEST_F(NullTest, FlushUpIsReflectedDownThroughTheModule) {
  h_->SendUp(Make(M_DATA, "stale"));
  h_->SendUp(Flush(FLUSHRW));
  EXPECT_EQ(h_->up_count(), 0);
  MsgPtr back = h_->TakeOneDown();
  ASSERT_TRUE(back);
  EXPECT_EQ(DB_TYPE(back.get()), M_FLUSH);
  EXPECT_EQ(back.Bytes(), std::string(1, FLUSHW));
}

TEST_F(NullTest, PopsCleanly) {
  h_->SendDown(Make(M_DATA, "before"));
  ASSERT_TRUE(h_->Pop().ok());
  h_->SendDown(Make(M_DATA, "after"));
  EXPECT_EQ(h_->TakeDown().size(), 2u);
}

}  // namespace
}  // namespace ustreams
