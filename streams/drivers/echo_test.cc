// The echo driver through the C API: what is written comes back, with bands, order, high
// priority and flow control as conformance tests (LfS test-streams §3, §8) count on them.
#include <poll.h>

#include <string>
#include <thread>
#include <vector>

#include "streams/drivers/testing/driver_test.h"

namespace ustreams::testing {
namespace {

using EchoTest = DriverTest;

short PollNow(int fd, short events) {
  pollfd p{fd, events, 0};
  int n = us_poll(&p, 1, 0);
  EXPECT_GE(n, 0) << strerror(errno);
  return n > 0 ? p.revents : 0;
}

TEST_P(EchoTest, CloneOpensGiveDifferentStreams) {
  int a = Open("/dev/echo");
  int b = Open("echo");
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_EQ(us_isastream(a), 1);
  WriteAll(a, "for a");
  Settle();
  EXPECT_EQ(ReadSome(b), ErrnoString(EAGAIN));
  EXPECT_EQ(ReadSome(a), "for a");
  WriteAll(b, "for b");
  Settle();
  EXPECT_EQ(ReadSome(a), ErrnoString(EAGAIN));
  EXPECT_EQ(ReadSome(b), "for b");
  EXPECT_EQ(Close(a), 0);
  EXPECT_EQ(Close(b), 0);
}

TEST_P(EchoTest, WritesComeBackInOrderAndByteStreamReadJoinsThem) {
  int fd = Open("/dev/echo");
  WriteAll(fd, "hello, ");
  WriteAll(fd, "world");
  Settle();
  EXPECT_EQ(ReadSome(fd, 3), "hel");
  EXPECT_EQ(ReadSome(fd), "lo, world");
  EXPECT_EQ(ReadSome(fd), ErrnoString(EAGAIN));
  Close(fd);
}

TEST_P(EchoTest, BlockingReadWaitsForTheReflection) {
  int fd = Open("/dev/echo");
  SetBlocking(fd, true);
  WriteAll(fd, "wait for me");
  EXPECT_EQ(ReadSome(fd), "wait for me");
  Close(fd);
}

TEST_P(EchoTest, WritesSplitAtTheMaximumPacketSize) {
  // LfS 3.3.15/3.3.16: echo's mi_maxpsz is 4096.
  int fd = Open("/dev/echo");
  std::string big(4096 + 128, 'x');
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<char>(i);
  WriteAll(fd, big);
  WriteAll(fd, std::string(4096, 'y'));
  Settle();
  Msg m1 = GetP(fd), m2 = GetP(fd), m3 = GetP(fd), m4 = GetP(fd);
  EXPECT_EQ(m1.data, big.substr(0, 4096));
  EXPECT_EQ(m2.data, big.substr(4096));
  EXPECT_EQ(m3.data, std::string(4096, 'y'));
  EXPECT_EQ(m4.rc, -1);
  EXPECT_EQ(m4.err, EAGAIN);
  Close(fd);
}

TEST_P(EchoTest, ZeroLengthWriteReadsAsEndOfFileOnce) {
  // LfS 3.3.12: a zero-length message is sent on a non-pipe stream and read as 0 once.
  int fd = Open("/dev/echo");
  EXPECT_EQ(us_write(fd, "", 0), 0);
  Settle();
  EXPECT_EQ(ReadSome(fd), "");
  EXPECT_EQ(ReadSome(fd), ErrnoString(EAGAIN));
  Close(fd);
}

TEST_P(EchoTest, ControlAndDataPartsComeBackWithTheirBands) {
  int fd = Open("/dev/echo");
  const std::string c0 = "ctl0", d0 = "data0", c1 = "ctl1", d2 = "data2";
  ASSERT_EQ(PutP(fd, &c0, &d0, 0, MSG_BAND), 0);
  ASSERT_EQ(PutP(fd, &c1, nullptr, 1, MSG_BAND), 0);  // control only
  ASSERT_EQ(PutP(fd, nullptr, &d2, 2, MSG_BAND), 0);  // data only
  Settle();
  // Higher bands first at the head.
  Msg m = GetP(fd);
  EXPECT_EQ(m.rc, 0);
  EXPECT_EQ(m.band, 2);
  EXPECT_EQ(m.flags, MSG_BAND);
  EXPECT_EQ(m.ctl_len, -1);
  EXPECT_EQ(m.data, d2);
  m = GetP(fd);
  EXPECT_EQ(m.band, 1);
  EXPECT_EQ(m.ctl, c1);
  EXPECT_EQ(m.data_len, -1);
  m = GetP(fd);
  EXPECT_EQ(m.band, 0);
  EXPECT_EQ(m.ctl, c0);
  EXPECT_EQ(m.data, d0);
  EXPECT_EQ(GetP(fd).err, EAGAIN);
  Close(fd);
}

TEST_P(EchoTest, MessagesOfOneBandKeepTheirOrder) {
  int fd = Open("/dev/echo");
  for (int i = 0; i < 5; i++) {
    std::string c = "c" + std::to_string(i), d = "d" + std::to_string(i);
    ASSERT_EQ(PutP(fd, &c, &d, 3, MSG_BAND), 0);
  }
  Settle();
  for (int i = 0; i < 5; i++) {
    Msg m = GetP(fd);
    EXPECT_EQ(m.band, 3);
    EXPECT_EQ(m.ctl, "c" + std::to_string(i));
    EXPECT_EQ(m.data, "d" + std::to_string(i));
  }
  Close(fd);
}

TEST_P(EchoTest, HighPriorityComesBackAheadOfNormalMessages) {
  int fd = Open("/dev/echo");
  const std::string c = "normal", hc = "urgent", hd = "payload";
  ASSERT_EQ(PutP(fd, &c, nullptr, 0, MSG_BAND), 0);
  Settle();
  ASSERT_EQ(PutP(fd, &hc, &hd, 0, MSG_HIPRI), 0);
  EXPECT_EQ(PollNow(fd, POLLPRI), POLLPRI);
  strbuf ctl{64, 0, nullptr}, data{64, 0, nullptr};
  char cb[64], db[64];
  ctl.buf = cb;
  data.buf = db;
  int flags = 0;
  ASSERT_EQ(us_getmsg(fd, &ctl, &data, &flags), 0);
  EXPECT_EQ(flags, RS_HIPRI);
  EXPECT_EQ(std::string(cb, static_cast<size_t>(ctl.len)), hc);
  EXPECT_EQ(std::string(db, static_cast<size_t>(data.len)), hd);
  Msg m = GetP(fd);
  EXPECT_EQ(m.flags, MSG_BAND);
  EXPECT_EQ(m.ctl, c);
  Close(fd);
}

TEST_P(EchoTest, OnlyOneHighPriorityMessageWaitsAtTheHead) {
  // illumos strrput: an M_PCPROTO arriving while one is queued is dropped.
  int fd = Open("/dev/echo");
  const std::string first = "first", second = "second";
  ASSERT_EQ(PutP(fd, &first, nullptr, 0, MSG_HIPRI), 0);
  ASSERT_EQ(PutP(fd, &second, nullptr, 0, MSG_HIPRI), 0);
  Msg m = GetP(fd, MSG_HIPRI);
  EXPECT_EQ(m.ctl, first);
  EXPECT_EQ(GetP(fd).err, EAGAIN);
  Close(fd);
}

TEST_P(EchoTest, FlowControlFillsTheHeadThenEchoThenDrainsAsTheReaderReads) {
  int fd = Open("/dev/echo");
  EXPECT_EQ(PollNow(fd, POLLOUT), POLLOUT);
  // 2 KiB messages: three fill the head's read queue (hiwat 5120), three more echo's write queue.
  EXPECT_EQ(FillBand(fd, 0), 6);
  EXPECT_EQ(us_ioctl(fd, I_CANPUT, 0), 0);
  EXPECT_EQ(PollNow(fd, POLLOUT), 0);
  // High priority is never held up.
  const std::string hc = "hipri";
  EXPECT_EQ(PutP(fd, &hc, nullptr, 0, MSG_HIPRI), 0);
  EXPECT_EQ(GetP(fd).ctl, hc);
  // Reading the head empty back-enables echo, which sends up what waited; that in turn
  // back-enables the writer.
  int got = 0;
  for (int i = 0; i < 3; i++) got += GetP(fd).rc == 0;
  Settle();
  EXPECT_EQ(PollNow(fd, POLLOUT), POLLOUT);
  EXPECT_EQ(us_ioctl(fd, I_CANPUT, 0), 1);
  for (Msg m = GetP(fd); m.rc == 0; m = GetP(fd)) {
    EXPECT_EQ(m.ctl, std::string(1024, 'c'));
    EXPECT_EQ(m.data, std::string(1024, 'd'));
    got++;
  }
  EXPECT_EQ(got, 6);
  const std::string c = "again";
  EXPECT_EQ(PutP(fd, &c, nullptr, 0, MSG_BAND), 0);
  Close(fd);
}

TEST_P(EchoTest, ThreeBandsFillEighteenMessagesAndDrainHighestBandFirst) {
  // LfS 3.5.21/3.6.26: round-robin over bands 0/1/2 until EAGAIN accepts 18 (6 per band), one
  // high-priority message still goes, and they come back hipri first, then by band.
  int fd = Open("/dev/echo");
  const std::string ctl(1024, 'c'), data(1024, 'd');
  int sent = 0;
  for (bool retried = false;;) {
    int band = sent % 3;
    if (PutP(fd, &ctl, &data, band, MSG_BAND) == 0) {
      sent++;
      retried = false;
      continue;
    }
    ASSERT_EQ(errno, EAGAIN);
    if (retried) break;
    Settle();
    retried = true;
  }
  EXPECT_EQ(sent, 18);
  ASSERT_EQ(PutP(fd, &ctl, &data, 0, MSG_HIPRI), 0);
  Msg m = GetP(fd);
  EXPECT_EQ(m.flags, MSG_HIPRI);
  std::vector<int> bands;
  for (;;) {
    Settle();
    m = GetP(fd);
    if (m.rc != 0) break;
    bands.push_back(m.band);
  }
  std::vector<int> want;
  for (int b : {2, 1, 0}) want.insert(want.end(), 6, b);
  EXPECT_EQ(bands, want);
  Close(fd);
}

TEST_P(EchoTest, IFlushReadWriteEmptiesBothSidesAndReleasesTheWriter) {
  int fd = Open("/dev/echo");
  EXPECT_EQ(FillBand(fd, 0), 6);
  EXPECT_EQ(us_ioctl(fd, I_FLUSH, FLUSHRW), 0);
  Settle();
  EXPECT_EQ(GetP(fd).err, EAGAIN);
  EXPECT_EQ(PollNow(fd, POLLOUT), POLLOUT);
  EXPECT_EQ(us_ioctl(fd, I_CANPUT, 0), 1);
  Close(fd);
}

TEST_P(EchoTest, IFlushReadOnlyLetsEchoSendUpWhatWaited) {
  int fd = Open("/dev/echo");
  EXPECT_EQ(FillBand(fd, 0), 6);
  EXPECT_EQ(us_ioctl(fd, I_FLUSH, FLUSHR), 0);
  Settle();
  // The three at the head went; the three echo held came up once the head had room.
  int got = 0;
  while (GetP(fd).rc == 0) got++;
  EXPECT_EQ(got, 3);
  EXPECT_EQ(PollNow(fd, POLLOUT), POLLOUT);
  Close(fd);
}

TEST_P(EchoTest, IFlushBandRemovesOnlyThatBandOnBothSides) {
  // LfS 2.24.15.
  int fd = Open("/dev/echo");
  const std::string c(32, 'c'), d(32, 'd');
  for (int band : {0, 0, 1, 1, 2, 2}) ASSERT_EQ(PutP(fd, &c, &d, band, MSG_BAND), 0);
  Settle();
  bandinfo bi{1, FLUSHRW};
  EXPECT_EQ(us_ioctl(fd, I_FLUSHBAND, &bi), 0);
  Settle();
  std::vector<int> bands;
  for (Msg m = GetP(fd); m.rc == 0; m = GetP(fd)) bands.push_back(m.band);
  EXPECT_EQ(bands, (std::vector<int>{2, 2, 0, 0}));
  Close(fd);
}

TEST_P(EchoTest, UnknownIoctlsAreRefusedWithEinval) {
  // LfS 2.8.5: the driver's NAK reaches the caller.
  int fd = Open("/dev/echo");
  strioctl sio{-5, 0, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd, I_STR, &sio), EINVAL);
  char buf[16] = "data";
  strioctl with_data{0x1234, 0, sizeof(buf), buf};
  EXPECT_ERRNO(us_ioctl(fd, I_STR, &with_data), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd, 0x7701, 42), EINVAL);  // transparent
  // The stream is fine afterwards.
  WriteAll(fd, "still here");
  Settle();
  EXPECT_EQ(ReadSome(fd), "still here");
  Close(fd);
}

TEST_P(EchoTest, PollReportsReadEventsByKind) {
  int fd = Open("/dev/echo");
  EXPECT_EQ(PollNow(fd, POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI), 0);
  WriteAll(fd, "band zero");
  Settle();
  EXPECT_EQ(PollNow(fd, POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI), POLLIN | POLLRDNORM);
  EXPECT_EQ(us_ioctl(fd, I_FLUSH, FLUSHR), 0);
  const std::string c = "b1";
  ASSERT_EQ(PutP(fd, &c, nullptr, 1, MSG_BAND), 0);
  Settle();
  EXPECT_EQ(PollNow(fd, POLLIN | POLLRDNORM | POLLRDBAND), POLLIN | POLLRDBAND);
  Close(fd);
}

TEST_P(EchoTest, IListAndILookSeeTheDriver) {
  int fd = Open("/dev/echo");
  EXPECT_EQ(us_ioctl(fd, I_LIST, nullptr), 1);
  str_mlist names[2];
  str_list sl{2, names};
  EXPECT_EQ(us_ioctl(fd, I_LIST, &sl), 0);
  EXPECT_EQ(sl.sl_nmods, 1);
  EXPECT_STREQ(names[0].l_name, "echo");
  char look[FMNAMESZ + 1];
  EXPECT_ERRNO(us_ioctl(fd, I_LOOK, look), EINVAL);  // illumos: no module pushed
  Close(fd);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, EchoTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// A writer blocked by flow control goes on when a reader in another thread drains the stream.
using EchoThreadedTest = DriverTest;

TEST_P(EchoThreadedTest, BlockedWriterIsReleasedByAReader) {
  int fd = Open("/dev/echo");
  EXPECT_EQ(FillBand(fd, 0), 6);
  SetBlocking(fd, true);
  std::thread writer([fd] {
    const std::string c(1024, 'c'), d(1024, 'd');
    EXPECT_EQ(DriverTest::PutP(fd, &c, &d, 0, MSG_BAND), 0) << strerror(errno);
  });
  int got = 0;
  while (got < 7) {
    Msg m = GetP(fd);  // blocking
    ASSERT_EQ(m.rc, 0) << strerror(m.err);
    got++;
  }
  writer.join();
  SetBlocking(fd, false);
  EXPECT_EQ(GetP(fd).err, EAGAIN);
  Close(fd);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, EchoThreadedTest, ::testing::Values(Sched::kThreaded),
                         SchedName);

}  // namespace
}  // namespace ustreams::testing
