// Which message getmsg/getpmsg take and what I_PEEK and I_NREAD see, through the C API on
// STREAMS pipes: MSG_BAND with a high-priority message waiting, RS_HIPRI peeks, I_NREAD over
// every message type, and messages whose control or data part is present but empty.
//
// Expected values: illumos-head-spec §3 (strgetmsg: selection, maxlen rules), §4 (strputmsg:
// "ctl.len == 0 gives a zero-length control block", "data.len == 0 gives a zero-length M_DATA
// block"), §6.3 (I_PEEK, I_NREAD); getmsg(2) and streamio(4I) in illumos-manpages.
#include <poll.h>

#include <cstring>
#include <string>

#include "streams/api_test_util.h"
#include "streams/ddi.h"

namespace ustreams::testing {
namespace {

class SelectTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_EQ(us_pipe(p_), 0);
  }
  void TearDown() override {
    us_close(p_[0]);
    us_close(p_[1]);
    ApiTest::TearDown();
  }
  // putpmsg/putmsg on the writing end; nullptr leaves a part out.
  int Put(const char* ctl, const char* data, int band = -1, int flags = 0) {
    strbuf c{0, ctl ? static_cast<int>(strlen(ctl)) : -1, const_cast<char*>(ctl)};
    strbuf d{0, data ? static_cast<int>(strlen(data)) : -1, const_cast<char*>(data)};
    if (band < 0) return us_putmsg(p_[1], ctl ? &c : nullptr, data ? &d : nullptr, flags);
    return us_putpmsg(p_[1], ctl ? &c : nullptr, data ? &d : nullptr, band, flags);
  }
  struct Got {
    int rc = 0;
    int err = 0;
    int band = 0;
    int flags = 0;
    int ctl_len = 0, data_len = 0;
    std::string ctl, data;
  };
  // getpmsg on the reading end.
  Got GetP(int band, int flags, int ctl_max = 64, int data_max = 64) {
    char cb[64], db[64];
    strbuf c{ctl_max, 0, cb}, d{data_max, 0, db};
    Got g;
    g.band = band;
    g.flags = flags;
    errno = 0;
    g.rc = us_getpmsg(p_[0], &c, &d, &g.band, &g.flags);
    g.err = errno;
    g.ctl_len = c.len;
    g.data_len = d.len;
    if (c.len > 0) g.ctl.assign(cb, static_cast<size_t>(c.len));
    if (d.len > 0) g.data.assign(db, static_cast<size_t>(d.len));
    return g;
  }
  Got Get(int flags = 0, int ctl_max = 64, int data_max = 64) {
    char cb[64], db[64];
    strbuf c{ctl_max, 0, cb}, d{data_max, 0, db};
    Got g;
    g.flags = flags;
    errno = 0;
    g.rc = us_getmsg(p_[0], &c, &d, &g.flags);
    g.err = errno;
    g.ctl_len = c.len;
    g.data_len = d.len;
    if (c.len > 0) g.ctl.assign(cb, static_cast<size_t>(c.len));
    if (d.len > 0) g.data.assign(db, static_cast<size_t>(d.len));
    return g;
  }
  int Nread(int* first_bytes) { return us_ioctl(p_[0], I_NREAD, first_bytes); }

  int p_[2];
};

TEST_F(SelectTest, MsgBandTakesAHighPriorityMessageWhateverTheBand) {
  ASSERT_EQ(Put(nullptr, "b1", 1, MSG_BAND), 0);
  ASSERT_EQ(Put("hp", "x", -1, RS_HIPRI), 0);
  // "a message in band >= b, or a high-priority message": the M_PCPROTO is first.
  SetNonBlocking(p_[0], true);
  Got g = GetP(2, MSG_BAND);
  ASSERT_EQ(g.rc, 0) << strerror(g.err);
  EXPECT_EQ(g.flags, MSG_HIPRI);
  EXPECT_EQ(g.band, 0);  // a high-priority message reports band 0
  EXPECT_EQ(g.ctl, "hp");
  EXPECT_EQ(g.data, "x");
  // What is left is in band 1, below the band asked for.
  g = GetP(2, MSG_BAND);
  EXPECT_EQ(g.rc, -1);
  EXPECT_EQ(g.err, EAGAIN);
  g = GetP(1, MSG_BAND);
  ASSERT_EQ(g.rc, 0);
  EXPECT_EQ(g.flags, MSG_BAND);
  EXPECT_EQ(g.band, 1);
  EXPECT_EQ(g.ctl_len, -1);
  EXPECT_EQ(g.data, "b1");
}

TEST_F(SelectTest, MsgHipriTakesOnlyAHighPriorityMessage) {
  ASSERT_EQ(Put("hp", nullptr, -1, RS_HIPRI), 0);
  ASSERT_EQ(Put(nullptr, "n"), 0);
  SetNonBlocking(p_[0], true);
  Got g = GetP(0, MSG_HIPRI);
  ASSERT_EQ(g.rc, 0);
  EXPECT_EQ(g.flags, MSG_HIPRI);
  EXPECT_EQ(g.ctl, "hp");
  EXPECT_EQ(g.data_len, -1);  // no data part
  g = GetP(0, MSG_HIPRI);
  EXPECT_EQ(g.rc, -1);
  EXPECT_EQ(g.err, EAGAIN);
}

TEST_F(SelectTest, RsHipriPeekSeesTheHighPriorityMessageAndLeavesIt) {
  ASSERT_EQ(Put(nullptr, "normal"), 0);
  char cb[16], db[16];
  strpeek pk{{16, 0, cb}, {16, 0, db}, RS_HIPRI};
  EXPECT_EQ(us_ioctl(p_[0], I_PEEK, &pk), 0);  // only a normal message: nothing to see
  ASSERT_EQ(Put("urgent", "u", -1, RS_HIPRI), 0);
  pk = strpeek{{16, 0, cb}, {16, 0, db}, RS_HIPRI};
  ASSERT_EQ(us_ioctl(p_[0], I_PEEK, &pk), 1);
  EXPECT_EQ(pk.flags, static_cast<uint32_t>(RS_HIPRI));
  EXPECT_EQ(std::string(cb, static_cast<size_t>(pk.ctlbuf.len)), "urgent");
  EXPECT_EQ(std::string(db, static_cast<size_t>(pk.databuf.len)), "u");
  // A plain peek sees it too (it is first), flagged.
  pk = strpeek{{16, 0, cb}, {16, 0, db}, 0};
  ASSERT_EQ(us_ioctl(p_[0], I_PEEK, &pk), 1);
  EXPECT_EQ(pk.flags, static_cast<uint32_t>(RS_HIPRI));
  // Both parts unwanted (maxlen -1): nothing returned, and 0.
  pk = strpeek{{-1, 0, cb}, {-1, 0, db}, RS_HIPRI};
  EXPECT_EQ(us_ioctl(p_[0], I_PEEK, &pk), 0);
  EXPECT_EQ(pk.ctlbuf.len, -1);
  EXPECT_EQ(pk.databuf.len, -1);
  // maxlen 0: the part is there but nothing fits.
  pk = strpeek{{0, 0, cb}, {0, 0, db}, RS_HIPRI};
  EXPECT_EQ(us_ioctl(p_[0], I_PEEK, &pk), 1);
  EXPECT_EQ(pk.ctlbuf.len, 0);
  EXPECT_EQ(pk.databuf.len, 0);
  int n = -1;
  EXPECT_EQ(Nread(&n), 2);  // peeking took nothing
  Got g = Get(RS_HIPRI);
  EXPECT_EQ(g.ctl, "urgent");
  EXPECT_EQ(g.flags, RS_HIPRI);
}

TEST_F(SelectTest, NreadCountsMessagesOfEveryType) {
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  SendUp(p_[0], M_PROTO, "ctl");
  SendUp(p_[0], M_DATA, "data");
  SendUp(p_[0], M_DATA, "");
  SendUp(p_[0], M_SIG, std::string(1, static_cast<char>(SIGWINCH)));  // queued behind data
  ASSERT_EQ(us_ioctl(p_[1], I_SENDFD, p_[1]), 0);                     // M_PASSFP
  SendUp(p_[0], M_PCPROTO, "hp");                                      // goes first
  int n = -1;
  EXPECT_EQ(Nread(&n), 6);
  EXPECT_EQ(n, 0);  // data bytes of the first message: the M_PCPROTO has none
  ASSERT_EQ(Get(RS_HIPRI).ctl, "hp");
  SendUp(p_[0], M_FLUSH, std::string(1, static_cast<char>(FLUSHR)));
  EXPECT_EQ(Nread(&n), 0);
  // The first message's data bytes count only M_DATA blocks.
  ASSERT_EQ(Put("ctl", "xyz"), 0);
  EXPECT_EQ(Nread(&n), 1);
  EXPECT_EQ(n, 3);
}

TEST_F(SelectTest, EmptyControlAndDataPartsAreSentAndReceivedAsParts) {
  // Both present, both empty: an M_PROTO with a zero-length control block and a zero-length
  // M_DATA block.
  ASSERT_EQ(Put("", ""), 0);
  int n = -1;
  EXPECT_EQ(Nread(&n), 1);
  EXPECT_EQ(n, 0);
  pollfd p{p_[0], POLLIN, 0};
  EXPECT_EQ(us_poll(&p, 1, 0), 1);
  Got g = Get();
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.flags, 0);
  EXPECT_EQ(g.ctl_len, 0);
  EXPECT_EQ(g.data_len, 0);
  EXPECT_EQ(Nread(&n), 0);
  // No control part, an empty data part: len -1 says "no such part".
  ASSERT_EQ(Put(nullptr, ""), 0);
  g = Get();
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.ctl_len, -1);
  EXPECT_EQ(g.data_len, 0);
  // An empty control part alone, high priority.
  ASSERT_EQ(Put("", nullptr, -1, RS_HIPRI), 0);
  g = Get();
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.flags, RS_HIPRI);
  EXPECT_EQ(g.ctl_len, 0);
  EXPECT_EQ(g.data_len, -1);
  EXPECT_EQ(Nread(&n), 0);
}

TEST_F(SelectTest, MaxlenZeroConsumesEmptyPartsAndKeepsOthers) {
  ASSERT_EQ(Put("ctl", "data"), 0);
  Got g = Get(0, 0, 0);
  EXPECT_EQ(g.rc, MORECTL | MOREDATA);
  EXPECT_EQ(g.ctl_len, 0);
  EXPECT_EQ(g.data_len, 0);
  g = Get();
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.ctl, "ctl");
  EXPECT_EQ(g.data, "data");
  ASSERT_EQ(Put("", ""), 0);
  g = Get(0, 0, 0);
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.ctl_len, 0);
  EXPECT_EQ(g.data_len, 0);
  int n = -1;
  EXPECT_EQ(Nread(&n), 0);  // both parts were empty: the message is gone
}

}  // namespace
}  // namespace ustreams::testing
