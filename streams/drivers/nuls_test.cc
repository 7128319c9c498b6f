// The nuls driver through the C API: writes vanish, reads see end of file, every time.
#include <poll.h>

#include <string>

#include "streams/drivers/testing/driver_test.h"

namespace ustreams::testing {
namespace {

using NulsTest = DriverTest;

TEST_P(NulsTest, WritesSucceedAndVanish) {
  int fd = Open("/dev/nuls");
  WriteAll(fd, "into the void");
  WriteAll(fd, std::string(100000, 'x'));  // several packets, no flow control to hit
  const std::string c = "ctl", d = "data";
  EXPECT_EQ(PutP(fd, &c, &d, 0, MSG_BAND), 0);
  EXPECT_EQ(PutP(fd, &c, nullptr, 0, MSG_HIPRI), 0);
  Settle();
  int bytes = -1;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &bytes), 0);  // no messages at the head
  EXPECT_EQ(bytes, 0);
  Close(fd);
}

TEST_P(NulsTest, EveryReadSeesEndOfFile) {
  int fd = Open("/dev/nuls");
  char buf[16];
  EXPECT_EQ(us_read(fd, buf, sizeof(buf)), 0);  // non-blocking: 0, not EAGAIN
  EXPECT_EQ(us_read(fd, buf, sizeof(buf)), 0);  // and again: end of file for good
  WriteAll(fd, "written between reads");
  EXPECT_EQ(us_read(fd, buf, sizeof(buf)), 0);
  SetBlocking(fd, true);
  EXPECT_EQ(us_read(fd, buf, sizeof(buf)), 0);  // blocking reads do not wait
  // Nothing piles up at the head between reads.
  int bytes = -1;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &bytes), 0);
  EXPECT_EQ(bytes, 0);
  Close(fd);
}

TEST_P(NulsTest, WritesStillSucceedAfterEndOfFile) {
  // The reason nuls does not hang up: a hung-up stream fails writes.
  int fd = Open("/dev/nuls");
  char c;
  EXPECT_EQ(us_read(fd, &c, 1), 0);
  WriteAll(fd, "more");
  const std::string d = "x";
  EXPECT_EQ(PutP(fd, nullptr, &d, 0, MSG_BAND), 0);
  pollfd p{fd, POLLOUT | POLLIN, 0};
  EXPECT_EQ(us_poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLOUT);  // writable, nothing to read, no hangup
  Close(fd);
}

TEST_P(NulsTest, GetmsgFindsNoMessage) {
  int fd = Open("/dev/nuls");
  Msg m = GetP(fd);
  EXPECT_EQ(m.rc, -1);
  EXPECT_EQ(m.err, EAGAIN);
  Close(fd);
}

TEST_P(NulsTest, IoctlsAreRefusedAndFlushWorks) {
  int fd = Open("/dev/nuls");
  strioctl sio{1, 0, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd, I_STR, &sio), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd, 0x7702, 0), EINVAL);
  EXPECT_EQ(us_ioctl(fd, I_FLUSH, FLUSHRW), 0);
  char c;
  EXPECT_EQ(us_read(fd, &c, 1), 0);
  Close(fd);
}

TEST_P(NulsTest, CloneOpensAreIndependent) {
  int a = Open("/dev/nuls");
  int b = Open("nuls");
  EXPECT_NE(a, b);
  EXPECT_EQ(us_ioctl(a, I_LIST, nullptr), 1);
  Close(a);
  char c;
  EXPECT_EQ(us_read(b, &c, 1), 0);
  Close(b);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, NulsTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

}  // namespace
}  // namespace ustreams::testing
