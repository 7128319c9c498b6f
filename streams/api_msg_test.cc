// getmsg(2)/getpmsg(2)/putmsg(2)/putpmsg(2) through the C API over STREAMS pipes: control and
// data parts, bands, high priority, MORECTL/MOREDATA, and every errno of the manual pages.
#include <unistd.h>

#include <cstring>
#include <string>

#include "streams/api_test_util.h"

namespace ustreams::testing {
namespace {

class MsgTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_EQ(us_pipe(fd_), 0);
  }
  void TearDown() override {
    us_close(fd_[0]);
    us_close(fd_[1]);
    ApiTest::TearDown();
  }
  // putmsg on the writing end.
  int Put(const char* ctl, const char* data, int flags = 0) {
    strbuf c{0, ctl ? static_cast<int>(strlen(ctl)) : -1, const_cast<char*>(ctl)};
    strbuf d{0, data ? static_cast<int>(strlen(data)) : -1, const_cast<char*>(data)};
    return us_putmsg(fd_[1], ctl ? &c : nullptr, data ? &d : nullptr, flags);
  }
  int PutBand(const char* ctl, const char* data, int band) {
    strbuf c{0, ctl ? static_cast<int>(strlen(ctl)) : -1, const_cast<char*>(ctl)};
    strbuf d{0, data ? static_cast<int>(strlen(data)) : -1, const_cast<char*>(data)};
    return us_putpmsg(fd_[1], ctl ? &c : nullptr, data ? &d : nullptr, band, MSG_BAND);
  }
  struct Got {
    int rc;
    int flags;
    std::string ctl, data;
    int ctl_len, data_len;
  };
  Got Get(int flags = 0, int ctl_max = 256, int data_max = 256) {
    char cb[256], db[256];
    strbuf c{ctl_max, 0, cb}, d{data_max, 0, db};
    Got g{};
    g.flags = flags;
    g.rc = us_getmsg(fd_[0], &c, &d, &g.flags);
    g.ctl_len = c.len;
    g.data_len = d.len;
    if (c.len > 0) g.ctl.assign(cb, static_cast<size_t>(c.len));
    if (d.len > 0) g.data.assign(db, static_cast<size_t>(d.len));
    return g;
  }
  int fd_[2];
};

TEST_F(MsgTest, ControlAndDataPartsArriveTogether) {
  ASSERT_EQ(Put("CTL", "data"), 0);
  Got g = Get();
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.flags, 0);
  EXPECT_EQ(g.ctl, "CTL");
  EXPECT_EQ(g.data, "data");
}

TEST_F(MsgTest, DataOnlyMessageHasNoControlPart) {
  ASSERT_EQ(Put(nullptr, "just data"), 0);
  Got g = Get();
  EXPECT_EQ(g.ctl_len, -1);
  EXPECT_EQ(g.data, "just data");
}

TEST_F(MsgTest, ControlOnlyMessageHasNoDataPart) {
  ASSERT_EQ(Put("only", nullptr), 0);
  Got g = Get();
  EXPECT_EQ(g.ctl, "only");
  EXPECT_EQ(g.data_len, -1);
}

TEST_F(MsgTest, HighPriorityOvertakesAndIsFlagged) {
  ASSERT_EQ(Put("normal", "n"), 0);
  ASSERT_EQ(Put("urgent", "u", RS_HIPRI), 0);
  Got g = Get(RS_HIPRI);
  EXPECT_EQ(g.flags, RS_HIPRI);
  EXPECT_EQ(g.ctl, "urgent");
  g = Get();
  EXPECT_EQ(g.flags, 0);
  EXPECT_EQ(g.ctl, "normal");
}

TEST_F(MsgTest, AskingForHighPriorityWhenOnlyNormalWaitsGivesEagain) {
  ASSERT_EQ(Put("normal", "n"), 0);
  SetNonBlocking(fd_[0], true);
  Got g = Get(RS_HIPRI);
  EXPECT_EQ(g.rc, -1);
  EXPECT_EQ(errno, EAGAIN);
}

TEST_F(MsgTest, ShortBuffersLeaveTheRestQueued) {
  ASSERT_EQ(Put("control", "datapart"), 0);
  Got g = Get(0, 3, 4);
  EXPECT_EQ(g.rc, MORECTL | MOREDATA);
  EXPECT_EQ(g.ctl, "con");
  EXPECT_EQ(g.data, "data");
  g = Get();
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.ctl, "trol");
  EXPECT_EQ(g.data, "part");
}

TEST_F(MsgTest, MaxlenMinusOneLeavesThatPartAlone) {
  ASSERT_EQ(Put("ctl", "data"), 0);
  Got g = Get(0, -1, 256);
  EXPECT_EQ(g.rc, MORECTL);
  EXPECT_EQ(g.ctl_len, -1);
  EXPECT_EQ(g.data, "data");
  g = Get();
  EXPECT_EQ(g.ctl, "ctl");
  EXPECT_EQ(g.data_len, -1);
}

TEST_F(MsgTest, MaxlenZeroWithBothPartsReturnsAtOnce) {
  Got g = Get(0, 0, 0);  // nothing queued, and nothing wanted
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.ctl_len, 0);
  EXPECT_EQ(g.data_len, 0);
}

TEST_F(MsgTest, GetpmsgSelectsByBand) {
  ASSERT_EQ(PutBand("b1", "one", 1), 0);
  ASSERT_EQ(PutBand("b3", "three", 3), 0);
  ASSERT_EQ(PutBand("b0", "zero", 0), 0);
  char cb[64], db[64];
  strbuf c{64, 0, cb}, d{64, 0, db};
  int band = 2, flags = MSG_BAND;
  ASSERT_EQ(us_getpmsg(fd_[0], &c, &d, &band, &flags), 0);
  EXPECT_EQ(flags, MSG_BAND);
  EXPECT_EQ(band, 3);
  EXPECT_EQ(std::string(db, static_cast<size_t>(d.len)), "three");
  band = 0;
  flags = MSG_ANY;
  ASSERT_EQ(us_getpmsg(fd_[0], &c, &d, &band, &flags), 0);
  EXPECT_EQ(band, 1);
  band = 2;
  flags = MSG_BAND;
  SetNonBlocking(fd_[0], true);
  EXPECT_ERRNO(us_getpmsg(fd_[0], &c, &d, &band, &flags), EAGAIN);  // only band 0 is left
}

TEST_F(MsgTest, BadFlagsAndBandsAreEinvalEvenBeforeTheDescriptor) {
  char cb[8];
  strbuf c{8, 0, cb};
  int flags = 2;
  EXPECT_ERRNO(us_getmsg(fd_[0], &c, nullptr, &flags), EINVAL);
  EXPECT_ERRNO(us_getmsg(-1, &c, nullptr, &flags), EINVAL);
  int band = 256;
  flags = MSG_ANY;
  EXPECT_ERRNO(us_getpmsg(-1, &c, nullptr, &band, &flags), EINVAL);
  band = 1;
  flags = MSG_HIPRI;
  EXPECT_ERRNO(us_getpmsg(fd_[0], &c, nullptr, &band, &flags), EINVAL);
  band = 0;
  flags = MSG_HIPRI | MSG_ANY;
  EXPECT_ERRNO(us_getpmsg(fd_[0], &c, nullptr, &band, &flags), EINVAL);
  EXPECT_ERRNO(us_putmsg(-1, &c, nullptr, 7), EINVAL);
  EXPECT_ERRNO(us_putpmsg(-1, &c, nullptr, -1, MSG_BAND), EINVAL);
}

TEST_F(MsgTest, PutmsgErrors) {
  EXPECT_ERRNO(Put(nullptr, "d", RS_HIPRI), EINVAL);  // high priority needs a control part
  strbuf c{0, 1, const_cast<char*>("c")};
  EXPECT_ERRNO(us_putpmsg(fd_[1], &c, nullptr, 1, MSG_HIPRI), EINVAL);
  EXPECT_ERRNO(us_putpmsg(fd_[1], &c, nullptr, 0, 0), EINVAL);
  EXPECT_ERRNO(us_putpmsg(fd_[1], &c, nullptr, 0, MSG_ANY), EINVAL);
  std::string big(2000, 'c');
  strbuf bc{0, 2000, big.data()};
  EXPECT_ERRNO(us_putmsg(fd_[1], &bc, nullptr, 0), ERANGE);
  EXPECT_EQ(Put(nullptr, nullptr), 0);  // neither part: nothing sent
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_[0], I_NREAD, &n), 0);
}

TEST_F(MsgTest, DescriptorErrors) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);  // a kernel pipe: not a stream
  char cb[8];
  strbuf c{8, 0, cb};
  int flags = 0;
  EXPECT_ERRNO(us_getmsg(p[0], &c, nullptr, &flags), ENOSTR);
  EXPECT_ERRNO(us_putmsg(p[1], &c, nullptr, 0), ENOSTR);
  close(p[0]);
  close(p[1]);
  EXPECT_ERRNO(us_getmsg(p[0], &c, nullptr, &flags), EBADF);
  EXPECT_ERRNO(us_getmsg(fd_[0], &c, nullptr, nullptr), EFAULT);
}

TEST_F(MsgTest, HangupEmptiesThenGetmsgReturnsZeroLengths) {
  ASSERT_EQ(Put("c", "d"), 0);
  ASSERT_EQ(us_close(fd_[1]), 0);
  Got g = Get();
  EXPECT_EQ(g.ctl, "c");
  g = Get();
  EXPECT_EQ(g.rc, 0);
  EXPECT_EQ(g.ctl_len, 0);
  EXPECT_EQ(g.data_len, 0);
  fd_[1] = us_open("/dev/null", O_RDONLY);  // for TearDown's close
}

TEST_F(MsgTest, PassedDescriptorAtTheFrontIsEbadmsg) {
  ASSERT_EQ(us_ioctl(fd_[1], I_SENDFD, fd_[1]), 0);
  Got g = Get();
  EXPECT_EQ(g.rc, -1);
  EXPECT_EQ(errno, EBADMSG);
  char buf[4];
  EXPECT_ERRNO(us_read(fd_[0], buf, 4), EBADMSG);
  strrecvfd rf{};
  ASSERT_EQ(us_ioctl(fd_[0], I_RECVFD, &rf), 0);
  EXPECT_EQ(us_isastream(rf.fd), 1);
  EXPECT_EQ(rf.uid, getuid());
  // The received descriptor is the same stream: writes through it reach fd_[0].
  EXPECT_EQ(us_write(rf.fd, "via copy", 8), 8);
  EXPECT_EQ(ReadSome(fd_[0]), "via copy");
  EXPECT_EQ(us_close(rf.fd), 0);
}

// getmsg/putmsg on a descriptor that is not a stream: one not open for reading (getmsg) or
// writing (putmsg) is EBADF before it is ENOSTR, as illumos msgio() checks the mode first.
TEST_F(MsgTest, NonStreamWithoutTheAccessModeIsEbadf) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);  // a kernel pipe: p[0] reads only, p[1] writes only
  char cb[8];
  strbuf c{8, 1, cb};
  int flags = 0;
  EXPECT_ERRNO(us_getmsg(p[1], &c, nullptr, &flags), EBADF);
  EXPECT_ERRNO(us_putmsg(p[0], &c, nullptr, 0), EBADF);
  EXPECT_ERRNO(us_getmsg(p[0], &c, nullptr, &flags), ENOSTR);
  EXPECT_ERRNO(us_putmsg(p[1], &c, nullptr, 0), ENOSTR);
  close(p[0]);
  close(p[1]);
}

// putmsg with neither a control nor a data part sends nothing, but asks flow control first
// (illumos strput): a full stream gives EAGAIN when non-blocking.
TEST_F(MsgTest, PutmsgOfNothingStillWaitsForFlowControl) {
  EXPECT_EQ(us_putmsg(fd_[1], nullptr, nullptr, 0), 0);
  int fl = us_fcntl(fd_[1], F_GETFL);
  ASSERT_EQ(us_fcntl(fd_[1], F_SETFL, fl | O_NONBLOCK), 0);
  std::string chunk(4096, 'f');
  while (us_write(fd_[1], chunk.data(), chunk.size()) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  EXPECT_ERRNO(us_putmsg(fd_[1], nullptr, nullptr, 0), EAGAIN);
  EXPECT_ERRNO(us_putpmsg(fd_[1], nullptr, nullptr, 0, MSG_BAND), EAGAIN);
  strbuf empty{0, -1, nullptr};
  EXPECT_ERRNO(us_putmsg(fd_[1], &empty, &empty, 0), EAGAIN);
  int n = -1;
  EXPECT_GT(us_ioctl(fd_[0], I_NREAD, &n), 0);
  ASSERT_EQ(us_ioctl(fd_[0], I_FLUSH, FLUSHR), 0);
  EXPECT_EQ(us_putmsg(fd_[1], nullptr, nullptr, 0), 0);  // room again
}

// getmsg/putmsg with a null buffer: EFAULT comes when that part would be copied, after the
// flag and size checks, flow control and an empty queue (illumos); the message stays queued.
TEST_F(MsgTest, NullBuffersAreEfaultOnlyAtTheCopy) {
  strbuf big{0, 2000, nullptr};  // longer than strctlsz
  EXPECT_ERRNO(us_putmsg(fd_[1], &big, nullptr, 0), ERANGE);
  strbuf five{0, 5, nullptr};
  EXPECT_ERRNO(us_putpmsg(fd_[1], &five, nullptr, 0, MSG_ANY), EINVAL);
  EXPECT_ERRNO(us_putmsg(fd_[1], &five, nullptr, 0), EFAULT);
  EXPECT_ERRNO(us_putmsg(fd_[1], nullptr, &five, 0), EFAULT);

  int fl = us_fcntl(fd_[0], F_GETFL);
  ASSERT_EQ(us_fcntl(fd_[0], F_SETFL, fl | O_NONBLOCK), 0);
  strbuf in{8, 0, nullptr};
  int flags = 0;
  EXPECT_ERRNO(us_getmsg(fd_[0], nullptr, &in, &flags), EAGAIN);  // nothing queued
  ASSERT_EQ(Put("ctl", "data"), 0);
  EXPECT_ERRNO(us_getmsg(fd_[0], nullptr, &in, &flags), EFAULT);
  char cb[8];
  strbuf ctl{8, 0, cb};
  EXPECT_ERRNO(us_getmsg(fd_[0], &ctl, &in, &flags), EFAULT);
  strbuf skip{-1, 0, nullptr};  // not asked for: no copy, no fault
  EXPECT_EQ(us_getmsg(fd_[0], &ctl, &skip, &flags), MOREDATA);
  EXPECT_EQ(std::string(cb, static_cast<size_t>(ctl.len)), "ctl");
  Got g = Get();
  EXPECT_EQ(g.data, "data");
}

// (void*)-1 for a strbuf, its buffer, or the flags: EFAULT, never a crash; the message stays.
TEST_F(MsgTest, InvalidAddressIsEfault) {
  auto* bad = reinterpret_cast<strbuf*>(-1);
  char* badbuf = reinterpret_cast<char*>(-1);
  int flags = 0;
  ASSERT_EQ(Put("ctl", "data"), 0);
  EXPECT_ERRNO(us_getmsg(fd_[0], bad, nullptr, &flags), EFAULT);
  EXPECT_ERRNO(us_getmsg(fd_[0], nullptr, bad, &flags), EFAULT);
  EXPECT_ERRNO(us_getmsg(fd_[0], nullptr, nullptr, reinterpret_cast<int*>(-1)), EFAULT);
  strbuf c{5, 0, badbuf}, d{5, 0, badbuf};
  EXPECT_ERRNO(us_getmsg(fd_[0], &c, nullptr, &flags), EFAULT);
  EXPECT_ERRNO(us_getmsg(fd_[0], nullptr, &d, &flags), EFAULT);
  int band = 0;
  EXPECT_ERRNO(us_getpmsg(fd_[0], nullptr, nullptr, reinterpret_cast<int*>(-1), &flags), EFAULT);
  flags = MSG_ANY;
  EXPECT_ERRNO(us_getpmsg(fd_[0], &c, &d, &band, &flags), EFAULT);
  Got g = Get();
  EXPECT_EQ(g.ctl, "ctl");
  EXPECT_EQ(g.data, "data");
  EXPECT_ERRNO(us_putmsg(fd_[1], bad, nullptr, 0), EFAULT);
  EXPECT_ERRNO(us_putmsg(fd_[1], nullptr, bad, 0), EFAULT);
  strbuf out{0, 5, badbuf};
  EXPECT_ERRNO(us_putmsg(fd_[1], &out, nullptr, 0), EFAULT);
  EXPECT_ERRNO(us_putpmsg(fd_[1], nullptr, &out, 1, MSG_BAND), EFAULT);
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_[0], I_NREAD, &n), 0);  // nothing was sent
}

}  // namespace
}  // namespace ustreams::testing
