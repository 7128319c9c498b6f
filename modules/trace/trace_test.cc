#include "modules/trace/trace.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "modules/trace/trace_module.h"
#include "modules/trace/trace_ring.h"
#include "streams/alloc.h"
#include "streams/ddi.h"
#include "streams/domain.h"
#include "streams/msg.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/stropts.h"
#include "streams/testing/harness.h"
#include "streams/testing/leak_check.h"

namespace ustreams {
namespace {

using testing::Harness;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// ---- TraceRing alone ----

trace_rec Rec(uint64_t seq) {
  trace_rec r{};
  r.tr_seq = seq;
  return r;
}

std::vector<uint64_t> PopSeqs(TraceRing& ring, size_t max) {
  std::vector<unsigned char> buf(max * sizeof(trace_rec) + 1);
  // Off by one byte: Pop must not need an aligned destination.
  size_t n = ring.Pop(max, buf.data() + 1);
  std::vector<uint64_t> seqs;
  for (size_t i = 0; i < n; ++i) {
    trace_rec r;
    std::memcpy(&r, buf.data() + 1 + i * sizeof(r), sizeof(r));
    seqs.push_back(r.tr_seq);
  }
  return seqs;
}

TEST(TraceRingTest, PopsOldestFirstAcrossTheWrap) {
  TraceRing ring(3);
  ring.Push(Rec(1));
  ring.Push(Rec(2));
  EXPECT_EQ(PopSeqs(ring, 1), std::vector<uint64_t>({1}));
  ring.Push(Rec(3));
  ring.Push(Rec(4));  // wraps into slot 0
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.dropped(), 0u);
  EXPECT_EQ(PopSeqs(ring, 10), std::vector<uint64_t>({2, 3, 4}));
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_TRUE(PopSeqs(ring, 10).empty());
}

TEST(TraceRingTest, AFullRingDropsTheOldest) {
  TraceRing ring(3);
  for (uint64_t s = 1; s <= 7; ++s) ring.Push(Rec(s));
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.dropped(), 4u);
  EXPECT_EQ(PopSeqs(ring, 2), std::vector<uint64_t>({5, 6}));
  ring.Push(Rec(8));
  EXPECT_EQ(PopSeqs(ring, 5), std::vector<uint64_t>({7, 8}));
}

TEST(TraceRingTest, ShrinkingKeepsTheNewestAndCountsTheRest) {
  TraceRing ring(4);
  for (uint64_t s = 1; s <= 6; ++s) ring.Push(Rec(s));  // holds 3..6, first_ mid-buffer
  ring.Resize(2);
  EXPECT_EQ(ring.capacity(), 2u);
  EXPECT_EQ(ring.dropped(), 2u + 2u);
  ring.Push(Rec(7));
  EXPECT_EQ(PopSeqs(ring, 5), std::vector<uint64_t>({6, 7}));
}

TEST(TraceRingTest, GrowingKeepsEverything) {
  TraceRing ring(2);
  for (uint64_t s = 1; s <= 3; ++s) ring.Push(Rec(s));
  ring.Resize(5);
  for (uint64_t s = 4; s <= 6; ++s) ring.Push(Rec(s));
  EXPECT_EQ(ring.dropped(), 1u);
  EXPECT_EQ(PopSeqs(ring, 9), std::vector<uint64_t>({2, 3, 4, 5, 6}));
}

TEST(TraceRingTest, ClearEmptiesAndZeroesTheDropCounter) {
  TraceRing ring(1);
  ring.Push(Rec(1));
  ring.Push(Rec(2));
  ring.Clear();
  EXPECT_EQ(ring.size(), 0u);
  EXPECT_EQ(ring.dropped(), 0u);
  EXPECT_EQ(ring.capacity(), 1u);
  ring.Resize(0);  // taken as 1
  EXPECT_EQ(ring.capacity(), 1u);
}

// ---- the module in the harness ----

MsgPtr Make(unsigned char type, std::string_view data, unsigned char band = 0,
            unsigned short flag = 0) {
  MsgPtr mp = MsgPtr::Make(type, data);
  mp->b_band = band;
  mp->b_flag = flag;
  return mp;
}

std::string IntBytes(int v) { return std::string(reinterpret_cast<const char*>(&v), sizeof(v)); }

// An I_STR-style M_IOCTL: ioc_count is the caller's buffer size, b_cont its bytes.
MsgPtr Ioctl(int cmd, const std::string& payload, size_t count) {
  MsgPtr mp(mkiocb(static_cast<unsigned int>(cmd)));
  reinterpret_cast<iocblk*>(mp->b_rptr)->ioc_count = count;
  if (!payload.empty()) linkb(mp.get(), MsgPtr::Data(payload).release());
  return mp;
}
MsgPtr Ioctl(int cmd, const std::string& payload = "") {
  return Ioctl(cmd, payload, payload.size());
}

struct Answer {
  unsigned char type = 0;  // M_IOCACK or M_IOCNAK (0: none came)
  int error = 0;
  int rval = 0;
  size_t count = 0;
  std::string data;  // all of b_cont
};

struct Got {
  trace_get_hdr hdr{};
  std::vector<trace_rec> recs;
};

class TraceTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    ASSERT_TRUE(RegisterTraceModule(reg_).ok());
    Start();
  }
  void TearDown() override {
    h_.reset();
    LeakCheckedTest::TearDown();
  }
  void Start(Harness::Options o = Harness::Options()) {
    h_.reset();
    h_ = std::make_unique<Harness>(&reg_, o);
    ASSERT_TRUE(h_->Push(kTraceModuleName).ok());
  }

  Answer Call(MsgPtr ioctl) {
    EXPECT_EQ(h_->up_count(), 0) << "take what came up first: the answer must be next";
    int downs = h_->down_count();
    h_->SendDown(std::move(ioctl));
    h_->RunUntilIdle();
    EXPECT_EQ(h_->down_count(), downs) << "trace's own ioctl went down";
    MsgPtr up = h_->TakeOneUp();
    Answer a;
    if (!up) return a;
    a.type = DB_TYPE(up.get());
    auto* ioc = reinterpret_cast<iocblk*>(up->b_rptr);
    a.error = ioc->ioc_error;
    a.rval = ioc->ioc_rval;
    a.count = ioc->ioc_count;
    if (up->b_cont != nullptr) a.data = MsgBytes(up->b_cont);
    return a;
  }
  Answer Call(int cmd, const std::string& payload = "") { return Call(Ioctl(cmd, payload)); }

  // TRACE_IOC_GET with a buffer of `room` bytes.
  Got Get(size_t room = 64 * 1024) {
    Got g;
    Answer a = Call(Ioctl(TRACE_IOC_GET, "", room));
    EXPECT_EQ(a.type, M_IOCACK);
    EXPECT_GE(a.data.size(), sizeof(g.hdr));
    if (a.data.size() < sizeof(g.hdr)) return g;
    EXPECT_EQ(a.count, a.data.size());
    EXPECT_LE(a.data.size(), room);
    std::memcpy(&g.hdr, a.data.data(), sizeof(g.hdr));
    EXPECT_EQ(a.data.size(), sizeof(g.hdr) + g.hdr.tg_nrecs * sizeof(trace_rec));
    EXPECT_EQ(a.rval, static_cast<int>(g.hdr.tg_nrecs));
    g.recs.resize(g.hdr.tg_nrecs);
    if (!g.recs.empty()) {
      std::memcpy(g.recs.data(), a.data.data() + sizeof(g.hdr), g.recs.size() * sizeof(trace_rec));
    }
    return g;
  }

  void ExpectNak(MsgPtr ioctl, int error) {
    Answer a = Call(std::move(ioctl));
    EXPECT_EQ(a.type, M_IOCNAK);
    EXPECT_EQ(a.error, error);
  }

  Registry reg_;
  std::unique_ptr<Harness> h_;
};

std::string DataOf(const trace_rec& r) {
  return std::string(reinterpret_cast<const char*>(r.tr_data), r.tr_datalen);
}

TEST_F(TraceTest, RecordsWhatPassesAndPassesItUnchanged) {
  h_->Advance(absl::Milliseconds(1500));
  MsgPtr down = Make(M_DATA, "hello", 2, MSGDELIM);
  mblk_t* down_raw = down.get();
  h_->SendDown(std::move(down));
  h_->Advance(absl::Microseconds(250));
  // 4 + 20 bytes over two blocks: the record keeps the first 16, across the block boundary.
  MsgPtr up = Make(M_PROTO, "PRIM", 1, MSGMARK);
  linkb(up.get(), MsgPtr::Data("abcdefghijklmnopqrst").release());
  mblk_t* up_raw = up.get();
  h_->SendUp(std::move(up));

  MsgPtr at_driver = h_->TakeOneDown();
  EXPECT_EQ(at_driver.get(), down_raw);
  EXPECT_EQ(at_driver.Bytes(), "hello");
  EXPECT_EQ(at_driver->b_band, 2);
  EXPECT_EQ(at_driver->b_flag, MSGDELIM);
  MsgPtr at_head = h_->TakeOneUp();
  EXPECT_EQ(at_head.get(), up_raw);
  EXPECT_EQ(at_head.Bytes(), "PRIMabcdefghijklmnopqrst");

  Got g = Get();
  ASSERT_EQ(g.recs.size(), 2u);
  EXPECT_EQ(g.hdr.tg_left, 0u);
  EXPECT_EQ(g.hdr.tg_dropped, 0u);
  const trace_rec& d = g.recs[0];
  EXPECT_EQ(d.tr_seq, 1u);
  EXPECT_EQ(d.tr_time_ns, 1'500'000'000);
  EXPECT_EQ(d.tr_dir, TRACE_DOWN);
  EXPECT_EQ(d.tr_type, M_DATA);
  EXPECT_EQ(d.tr_size, 5u);
  EXPECT_EQ(d.tr_band, 2);
  EXPECT_EQ(d.tr_flag, MSGDELIM);
  EXPECT_EQ(d.tr_datalen, 5);
  EXPECT_EQ(DataOf(d), "hello");
  const trace_rec& u = g.recs[1];
  EXPECT_EQ(u.tr_seq, 2u);
  EXPECT_EQ(u.tr_time_ns, 1'500'250'000);
  EXPECT_EQ(u.tr_dir, TRACE_UP);
  EXPECT_EQ(u.tr_type, M_PROTO);
  EXPECT_EQ(u.tr_size, 24u);
  EXPECT_EQ(u.tr_band, 1);
  EXPECT_EQ(u.tr_flag, MSGMARK);
  EXPECT_EQ(u.tr_datalen, TRACE_DATA_BYTES);
  EXPECT_EQ(DataOf(u), "PRIMabcdefghijkl");
  EXPECT_EQ(u.tr_pad[0] | u.tr_pad[1], 0);
}

TEST_F(TraceTest, EveryKindOfMessageIsRecordedAndPassed) {
  h_->SendDown(Make(M_PCPROTO, "pc"));
  h_->SendDown(Ioctl(0x4242, "x"));  // not trace's: passes down for the driver to NAK
  h_->SendUp(Make(M_SETOPTS, ""));
  h_->SendUp(Make(M_ERROR, std::string(1, '\5')));
  h_->SendDown(Make(M_FLUSH, std::string(1, FLUSHW)));
  std::vector<MsgPtr> down = h_->TakeDown();
  ASSERT_EQ(down.size(), 3u);
  EXPECT_EQ(DB_TYPE(down[0].get()), M_PCPROTO);
  EXPECT_EQ(DB_TYPE(down[1].get()), M_FLUSH);  // high priority, queued ahead at the driver
  EXPECT_EQ(DB_TYPE(down[2].get()), M_IOCTL);
  EXPECT_EQ(reinterpret_cast<iocblk*>(down[2]->b_rptr)->ioc_cmd, 0x4242);
  EXPECT_EQ(h_->TakeUp().size(), 2u);

  Got g = Get();
  ASSERT_EQ(g.recs.size(), 5u);
  const unsigned char types[] = {M_PCPROTO, M_IOCTL, M_SETOPTS, M_ERROR, M_FLUSH};
  const unsigned char dirs[] = {TRACE_DOWN, TRACE_DOWN, TRACE_UP, TRACE_UP, TRACE_DOWN};
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(g.recs[i].tr_seq, i + 1);
    EXPECT_EQ(g.recs[i].tr_type, types[i]);
    EXPECT_EQ(g.recs[i].tr_dir, dirs[i]);
  }
  // The ioctl's record: iocblk plus its one data byte.
  EXPECT_EQ(g.recs[1].tr_size, sizeof(iocblk) + 1);
  EXPECT_EQ(g.recs[2].tr_size, 0u);
  EXPECT_EQ(g.recs[2].tr_datalen, 0);
}

// M_FLUSH up: recorded, passed, and the head's reflection of FLUSHW is recorded going down.
TEST_F(TraceTest, FlushIsRecordedBothWays) {
  h_->SendUp(Make(M_DATA, "stale"));
  h_->SendUp(Make(M_FLUSH, std::string(1, FLUSHRW)));
  EXPECT_EQ(h_->up_count(), 0);
  MsgPtr reflected = h_->TakeOneDown();
  ASSERT_TRUE(reflected);
  EXPECT_EQ(reflected.Bytes(), std::string(1, FLUSHW));
  Got g = Get();
  ASSERT_EQ(g.recs.size(), 3u);
  EXPECT_EQ(g.recs[1].tr_type, M_FLUSH);
  EXPECT_EQ(g.recs[1].tr_dir, TRACE_UP);
  EXPECT_EQ(DataOf(g.recs[1]), std::string(1, FLUSHRW));
  EXPECT_EQ(g.recs[2].tr_type, M_FLUSH);
  EXPECT_EQ(g.recs[2].tr_dir, TRACE_DOWN);
  EXPECT_EQ(DataOf(g.recs[2]), std::string(1, FLUSHW));
}

TEST_F(TraceTest, OwnIoctlsAreNotRecorded) {
  h_->SendDown(Make(M_DATA, "one"));
  EXPECT_EQ(Call(TRACE_IOC_LOG, IntBytes(0)).type, M_IOCACK);
  EXPECT_EQ(Call(TRACE_IOC_SETSIZE, IntBytes(100)).type, M_IOCACK);
  EXPECT_EQ(Get().recs.size(), 1u);
  EXPECT_EQ(Get().recs.size(), 0u);
  h_->TakeDown();
}

TEST_F(TraceTest, GetReturnsWholeRecordsThatFitOldestFirstAndRemovesThem) {
  for (int i = 0; i < 5; ++i) h_->SendDown(Make(M_DATA, std::to_string(i)));
  // Room for two records and half of a third.
  Got g = Get(sizeof(trace_get_hdr) + 2 * sizeof(trace_rec) + sizeof(trace_rec) / 2);
  ASSERT_EQ(g.recs.size(), 2u);
  EXPECT_EQ(g.hdr.tg_left, 3u);
  EXPECT_EQ(DataOf(g.recs[0]), "0");
  EXPECT_EQ(DataOf(g.recs[1]), "1");
  // Room for the header only: nothing is taken.
  g = Get(sizeof(trace_get_hdr));
  EXPECT_EQ(g.recs.size(), 0u);
  EXPECT_EQ(g.hdr.tg_left, 3u);
  g = Get();
  ASSERT_EQ(g.recs.size(), 3u);
  EXPECT_EQ(g.recs[0].tr_seq, 3u);
  EXPECT_EQ(g.recs[2].tr_seq, 5u);
  EXPECT_EQ(g.hdr.tg_left, 0u);
  h_->TakeDown();
}

TEST_F(TraceTest, GetErrors) {
  ExpectNak(Ioctl(TRACE_IOC_GET, "", sizeof(trace_get_hdr) - 1), EINVAL);
  ExpectNak(Ioctl(TRACE_IOC_GET, "", 0), EINVAL);
  ExpectNak(Ioctl(TRACE_IOC_GET, "", TRANSPARENT), EINVAL);
}

TEST_F(TraceTest, GetWithoutMemoryFailsAndKeepsTheRecords) {
  for (int i = 0; i < 5; ++i) h_->SendDown(Make(M_DATA, "x"));
  MsgPtr get = Ioctl(TRACE_IOC_GET, "", 1024);
  AllocFaults::FailAtLeast(sizeof(trace_get_hdr) + sizeof(trace_rec));
  Answer a = Call(std::move(get));
  AllocFaults::Clear();
  EXPECT_EQ(a.type, M_IOCNAK);
  EXPECT_EQ(a.error, ENOMEM);
  EXPECT_EQ(Get().recs.size(), 5u);
  h_->TakeDown();
}

TEST_F(TraceTest, TheDefaultRingHolds256AndCountsWhatItDrops) {
  for (int i = 1; i <= 300; ++i) h_->SendUp(Make(M_DATA, std::to_string(i)));
  EXPECT_EQ(h_->TakeUp().size(), 300u);
  Got g = Get();
  ASSERT_EQ(g.recs.size(), static_cast<size_t>(TRACE_DEFAULT_RECORDS));
  EXPECT_EQ(g.hdr.tg_dropped, 300u - TRACE_DEFAULT_RECORDS);
  EXPECT_EQ(g.recs.front().tr_seq, 300u - TRACE_DEFAULT_RECORDS + 1);
  EXPECT_EQ(DataOf(g.recs.front()), "45");
  EXPECT_EQ(g.recs.back().tr_seq, 300u);
  // The drop counter stays until CLEAR.
  EXPECT_EQ(Get().hdr.tg_dropped, 44u);
}

TEST_F(TraceTest, SetSizeBoundsTheRing) {
  ASSERT_EQ(Call(TRACE_IOC_SETSIZE, IntBytes(4)).type, M_IOCACK);
  for (int i = 1; i <= 10; ++i) h_->SendDown(Make(M_DATA, std::to_string(i)));
  Got g = Get();
  ASSERT_EQ(g.recs.size(), 4u);
  EXPECT_EQ(g.recs[0].tr_seq, 7u);
  EXPECT_EQ(g.hdr.tg_dropped, 6u);
  // Shrinking a full ring keeps the newest.
  for (int i = 11; i <= 14; ++i) h_->SendDown(Make(M_DATA, std::to_string(i)));
  Answer a = Call(TRACE_IOC_SETSIZE, IntBytes(1));
  EXPECT_EQ(a.type, M_IOCACK);
  EXPECT_EQ(a.count, 0u);
  EXPECT_TRUE(a.data.empty());  // the request's int does not come back as an answer
  g = Get();
  ASSERT_EQ(g.recs.size(), 1u);
  EXPECT_EQ(g.recs[0].tr_seq, 14u);
  EXPECT_EQ(g.hdr.tg_dropped, 6u + 3u);
  EXPECT_EQ(Call(TRACE_IOC_SETSIZE, IntBytes(TRACE_MAX_RECORDS)).type, M_IOCACK);
  h_->TakeDown();
}

TEST_F(TraceTest, SetSizeErrors) {
  ExpectNak(Ioctl(TRACE_IOC_SETSIZE, IntBytes(0)), EINVAL);
  ExpectNak(Ioctl(TRACE_IOC_SETSIZE, IntBytes(-1)), EINVAL);
  ExpectNak(Ioctl(TRACE_IOC_SETSIZE, IntBytes(TRACE_MAX_RECORDS + 1)), EINVAL);
  ExpectNak(Ioctl(TRACE_IOC_SETSIZE, "\x10\x00"), EINVAL);  // too short
  ExpectNak(Ioctl(TRACE_IOC_SETSIZE), EINVAL);              // no payload
  // ioc_count claims an int but b_cont holds less.
  ExpectNak(Ioctl(TRACE_IOC_SETSIZE, "\x10", sizeof(int)), EINVAL);
  ExpectNak(Ioctl(TRACE_IOC_SETSIZE, "", TRANSPARENT), EINVAL);
  // The ring is as it was.
  for (int i = 0; i < TRACE_DEFAULT_RECORDS + 1; ++i) h_->SendDown(Make(M_DATA, "x"));
  EXPECT_EQ(Get().hdr.tg_dropped, 1u);
  h_->TakeDown();
}

TEST_F(TraceTest, SetSizeTakesAPayloadSplitOverBlocks) {
  std::string v = IntBytes(2);
  MsgPtr ioc = Ioctl(TRACE_IOC_SETSIZE, v.substr(0, 1), sizeof(int));
  linkb(ioc.get(), MsgPtr::Data(v.substr(1)).release());
  ASSERT_EQ(Call(std::move(ioc)).type, M_IOCACK);
  for (int i = 0; i < 3; ++i) h_->SendDown(Make(M_DATA, "x"));
  EXPECT_EQ(Get().recs.size(), 2u);
  h_->TakeDown();
}

TEST_F(TraceTest, ClearEmptiesTheRingAndTheDropCounterButNotTheSequence) {
  ASSERT_EQ(Call(TRACE_IOC_SETSIZE, IntBytes(2)).type, M_IOCACK);
  for (int i = 0; i < 5; ++i) h_->SendDown(Make(M_DATA, "x"));
  Answer a = Call(TRACE_IOC_CLEAR);
  EXPECT_EQ(a.type, M_IOCACK);
  EXPECT_EQ(a.rval, 0);
  Got g = Get();
  EXPECT_EQ(g.recs.size(), 0u);
  EXPECT_EQ(g.hdr.tg_dropped, 0u);
  h_->SendDown(Make(M_DATA, "after"));
  g = Get();
  ASSERT_EQ(g.recs.size(), 1u);
  EXPECT_EQ(g.recs[0].tr_seq, 6u);
  ExpectNak(Ioctl(TRACE_IOC_CLEAR, "", TRANSPARENT), EINVAL);
  h_->TakeDown();
}

TEST_F(TraceTest, LogWritesOneLinePerMessageToStderr) {
  h_->Advance(absl::Milliseconds(1250));
  Answer a = Call(TRACE_IOC_LOG, IntBytes(1));
  EXPECT_EQ(a.type, M_IOCACK);
  EXPECT_EQ(a.rval, 0);  // it was off
  ::testing::internal::CaptureStderr();
  h_->SendDown(Make(M_DATA, "hello", 2, MSGDELIM));
  h_->SendUp(Make(M_PCPROTO, std::string("\x00\x01", 2)));
  std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(h_->TakeUp().size(), 1u);
  EXPECT_THAT(log, MatchesRegex("trace#[0-9]+ seq=1 t=1\\.250000 down M_DATA size=5 band=2 "
                                "flag=0x4 data=68656c6c6f\n"
                                "trace#[0-9]+ seq=2 t=1\\.250000 up M_PCPROTO size=2 band=0 "
                                "flag=0x0 data=0001\n"));
  a = Call(TRACE_IOC_LOG, IntBytes(0));
  EXPECT_EQ(a.rval, 1);  // it was on
  ::testing::internal::CaptureStderr();
  h_->SendDown(Make(M_DATA, "quiet"));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  // Logging does not replace recording.
  EXPECT_EQ(Get().recs.size(), 3u);
  ExpectNak(Ioctl(TRACE_IOC_LOG, "\x01"), EINVAL);
  ExpectNak(Ioctl(TRACE_IOC_LOG), EINVAL);
  h_->TakeDown();
}

TEST_F(TraceTest, EachInstanceHasItsOwnRing) {
  ASSERT_TRUE(h_->Push(kTraceModuleName).ok());  // a second one above the first
  h_->SendDown(Make(M_DATA, "both see this"));
  Got top = Get();  // answered by the top instance; the lower one never sees it
  ASSERT_EQ(top.recs.size(), 1u);
  ASSERT_TRUE(h_->Pop().ok());
  h_->SendDown(Make(M_DATA, "only the lower one"));
  Got lower = Get();
  ASSERT_EQ(lower.recs.size(), 2u);
  EXPECT_EQ(DataOf(lower.recs[0]), "both see this");
  EXPECT_EQ(lower.recs[1].tr_seq, 2u);
  h_->TakeDown();
}

// Real worker threads, both directions at once (for ThreadSanitizer): every message is recorded
// exactly once and sequence numbers are unique.
TEST_F(TraceTest, ThreadedTrafficBothWays) {
  Harness::Options o;
  o.threaded = true;
  Start(o);
  ASSERT_EQ(Call(TRACE_IOC_SETSIZE, IntBytes(TRACE_MAX_RECORDS)).type, M_IOCACK);
  constexpr int kEach = 2000;
  std::thread below([&] {
    for (int i = 0; i < kEach; ++i) h_->SendUp(Make(M_DATA, "u"));
  });
  for (int i = 0; i < kEach; ++i) h_->SendDown(Make(M_DATA, "d"));
  below.join();
  h_->RunUntilIdle();
  EXPECT_EQ(h_->TakeUp().size(), static_cast<size_t>(kEach));
  Got g = Get(sizeof(trace_get_hdr) + 2 * kEach * sizeof(trace_rec));
  ASSERT_EQ(g.recs.size(), 2u * kEach);
  std::vector<bool> seen(2 * kEach + 1);
  int ups = 0;
  for (const trace_rec& r : g.recs) {
    ASSERT_GE(r.tr_seq, 1u);
    ASSERT_LE(r.tr_seq, 2u * kEach);
    EXPECT_FALSE(seen[r.tr_seq]);
    seen[r.tr_seq] = true;
    ups += r.tr_dir == TRACE_UP;
  }
  EXPECT_EQ(ups, kEach);
  EXPECT_EQ(h_->TakeDown().size(), static_cast<size_t>(kEach));
}

// Through a real stream head: a STREAMS pipe with trace pushed on one end, driven with the
// application interface (I_PUSH, write, read, I_STR).
TEST_F(TraceTest, WorksThroughTheStreamHead) {
  Domain domain;
  ASSERT_TRUE(RegisterTraceModule(domain.registry()).ok());
  DomainScope scope(&domain);
  int fds[2];
  ASSERT_EQ(us_pipe(fds), 0) << errno;
  ASSERT_EQ(us_ioctl(fds[0], I_PUSH, "trace"), 0) << errno;
  ASSERT_EQ(us_write(fds[0], "ping", 4), 4);
  char buf[16];
  ASSERT_EQ(us_read(fds[1], buf, sizeof(buf)), 4);

  std::vector<unsigned char> out(1024);
  strioctl sio{TRACE_IOC_GET, 0, static_cast<int>(out.size()), reinterpret_cast<char*>(out.data())};
  int rval = us_ioctl(fds[0], I_STR, &sio);
  ASSERT_GE(rval, 1) << errno;
  ASSERT_EQ(sio.ic_len, static_cast<int>(sizeof(trace_get_hdr) + rval * sizeof(trace_rec)));
  trace_get_hdr hdr;
  std::memcpy(&hdr, out.data(), sizeof(hdr));
  EXPECT_EQ(hdr.tg_nrecs, static_cast<uint32_t>(rval));
  bool saw_ping = false;
  for (int i = 0; i < rval; ++i) {
    trace_rec r;
    std::memcpy(&r, out.data() + sizeof(hdr) + i * sizeof(r), sizeof(r));
    if (r.tr_type == M_DATA && DataOf(r) == "ping" && r.tr_dir == TRACE_DOWN) saw_ping = true;
  }
  EXPECT_TRUE(saw_ping);

  int zero = 0;
  strioctl bad{TRACE_IOC_SETSIZE, 0, sizeof(zero), reinterpret_cast<char*>(&zero)};
  EXPECT_EQ(us_ioctl(fds[0], I_STR, &bad), -1);
  EXPECT_EQ(errno, EINVAL);
  strioctl clear{TRACE_IOC_CLEAR, 0, 0, nullptr};
  EXPECT_EQ(us_ioctl(fds[0], I_STR, &clear), 0) << errno;
  EXPECT_EQ(us_close(fds[0]), 0);
  EXPECT_EQ(us_close(fds[1]), 0);
}

}  // namespace
}  // namespace ustreams
