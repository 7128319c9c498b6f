// Multiplexing through the C API: I_LINK/I_UNLINK and I_PLINK/I_PUNLINK (streamio(4I)) with the
// sample driver muxdrv (streams/testing/muxdrv.h) over STREAMS pipes as lower streams.
#include <poll.h>
#include <unistd.h>

#include <string>

#include "streams/api_test_util.h"
#include "streams/testing/muxdrv.h"

namespace ustreams::testing {
namespace {

class MuxTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_TRUE(RegisterMuxDriver(domain().registry()).ok());
    mux_ = us_open("/dev/muxdrv", O_RDWR);
    ASSERT_GE(mux_, 0) << errno;
    ASSERT_EQ(us_pipe(p_), 0);
  }
  void TearDown() override {
    us_close(mux_);
    us_close(p_[0]);
    us_close(p_[1]);
    ApiTest::TearDown();
  }
  int mux_ = -1;
  int p_[2];
};

TEST_F(MuxTest, LinkedStreamCarriesDataBothWays) {
  int muxid = us_ioctl(mux_, I_LINK, p_[0]);
  ASSERT_GT(muxid, 0) << errno;
  // Down: the mux sends it down the lower stream (p_[0]'s write side), which the pipe carries
  // to p_[1].
  WriteAll(mux_, "down");
  EXPECT_EQ(ReadSome(p_[1]), "down");
  // Up: written at the pipe's far end, it comes up p_[0]'s read side into the mux and up.
  WriteAll(p_[1], "up");
  EXPECT_EQ(ReadSome(mux_), "up");
  EXPECT_EQ(us_ioctl(mux_, I_UNLINK, muxid), 0);
}

TEST_F(MuxTest, ALinkedStreamRefusesEveryCall) {
  ASSERT_GT(us_ioctl(mux_, I_LINK, p_[0]), 0);
  char buf[4];
  EXPECT_ERRNO(us_read(p_[0], buf, 4), EINVAL);
  EXPECT_ERRNO(us_write(p_[0], "x", 1), EINVAL);
  int n;
  EXPECT_ERRNO(us_ioctl(p_[0], I_NREAD, &n), EINVAL);
  EXPECT_ERRNO(us_ioctl(p_[0], I_PUSH, "ctlmod"), EINVAL);
  strbuf c{4, 0, buf};
  int flags = 0;
  EXPECT_ERRNO(us_getmsg(p_[0], &c, nullptr, &flags), EINVAL);
  struct pollfd pf{p_[0], POLLIN, 0};
  EXPECT_EQ(us_poll(&pf, 1, 0), 1);
  EXPECT_EQ(pf.revents, POLLNVAL);
  // Unlinked, it works again.
  EXPECT_EQ(us_ioctl(mux_, I_UNLINK, MUXID_ALL), 0);
  WriteAll(p_[0], "back");
  EXPECT_EQ(ReadSome(p_[1]), "back");
}

TEST_F(MuxTest, LinkErrors) {
  EXPECT_ERRNO(us_ioctl(p_[1], I_LINK, p_[0]), EINVAL);  // a pipe does not multiplex
  EXPECT_ERRNO(us_ioctl(mux_, I_LINK, -1), EBADF);
  EXPECT_ERRNO(us_ioctl(mux_, I_LINK, 0x7ffff), EBADF);
  int k[2];
  ASSERT_EQ(pipe(k), 0);
  EXPECT_ERRNO(us_ioctl(mux_, I_LINK, k[0]), EINVAL);  // not a stream
  close(k[0]);
  close(k[1]);
  EXPECT_ERRNO(us_ioctl(mux_, I_LINK, mux_), EINVAL);  // itself
  int mux2 = us_open("/dev/muxdrv", O_RDWR);
  ASSERT_GE(mux2, 0);
  EXPECT_ERRNO(us_ioctl(mux_, I_LINK, mux2), EINVAL);  // a cycle: muxdrv under muxdrv
  us_close(mux2);
  ASSERT_GT(us_ioctl(mux_, I_LINK, p_[0]), 0);
  EXPECT_ERRNO(us_ioctl(mux_, I_LINK, p_[0]), EINVAL);  // already linked
  EXPECT_ERRNO(us_ioctl(mux_, I_UNLINK, 0), EINVAL);
  EXPECT_ERRNO(us_ioctl(mux_, I_UNLINK, 12345), EINVAL);
  EXPECT_ERRNO(us_ioctl(mux_, I_PUNLINK, 12345), EINVAL);
  EXPECT_ERRNO(us_ioctl(p_[1], I_UNLINK, MUXID_ALL), EINVAL);  // pipes never link
}

TEST_F(MuxTest, ClosingTheControllingStreamUnlinks) {
  ASSERT_GT(us_ioctl(mux_, I_LINK, p_[0]), 0);
  ASSERT_EQ(us_close(mux_), 0);
  mux_ = us_open("/dev/muxdrv", O_RDWR);
  WriteAll(p_[0], "free again");
  EXPECT_EQ(ReadSome(p_[1]), "free again");
}

TEST_F(MuxTest, LowerStreamOutlivesItsDescriptorWhileLinked) {
  int muxid = us_ioctl(mux_, I_LINK, p_[0]);
  ASSERT_GT(muxid, 0);
  ASSERT_EQ(us_close(p_[0]), 0);  // the link holds the stream open
  WriteAll(mux_, "still there");
  EXPECT_EQ(ReadSome(p_[1]), "still there");
  EXPECT_EQ(us_ioctl(mux_, I_UNLINK, muxid), 0);  // now it closes: the pipe's end hangs up
  EXPECT_EQ(ReadSome(p_[1]), "");
  p_[0] = us_open("/dev/null", O_RDONLY);
}

TEST_F(MuxTest, PersistentLinkSurvivesCloseAndIsUndoneFromAnotherStream) {
  int muxid = us_ioctl(mux_, I_PLINK, p_[0]);
  ASSERT_GT(muxid, 0);
  ASSERT_EQ(us_close(mux_), 0);
  char buf[4];
  EXPECT_ERRNO(us_read(p_[0], buf, 4), EINVAL);  // still linked
  mux_ = us_open("/dev/muxdrv", O_RDWR);
  ASSERT_GE(mux_, 0);
  EXPECT_ERRNO(us_ioctl(mux_, I_UNLINK, muxid), EINVAL);  // not a normal link
  EXPECT_EQ(us_ioctl(mux_, I_PUNLINK, muxid), 0);
  WriteAll(p_[0], "unlinked");
  EXPECT_EQ(ReadSome(p_[1]), "unlinked");
}

TEST_F(MuxTest, UnlinkAllUndoesEveryLinkOfTheStream) {
  int q[2];
  ASSERT_EQ(us_pipe(q), 0);
  int a = us_ioctl(mux_, I_LINK, p_[0]);
  int b = us_ioctl(mux_, I_LINK, q[0]);
  ASSERT_GT(a, 0);
  ASSERT_GT(b, 0);
  EXPECT_NE(a, b);
  // Route to the second lower.
  EXPECT_EQ(IntIoctl(mux_, MUXDRV_ROUTE, b), 0);
  WriteAll(mux_, "to q");
  EXPECT_EQ(ReadSome(q[1]), "to q");
  EXPECT_EQ(us_ioctl(mux_, I_UNLINK, MUXID_ALL), 0);
  EXPECT_EQ(us_ioctl(mux_, I_UNLINK, MUXID_ALL), 0);  // none left: still 0
  WriteAll(q[0], "q free");
  EXPECT_EQ(ReadSome(q[1]), "q free");
  us_close(q[0]);
  us_close(q[1]);
}

}  // namespace
}  // namespace ustreams::testing
