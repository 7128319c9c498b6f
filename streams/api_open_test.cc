// open(2) of STREAMS devices through the C API, and the anchor that protects modules from
// unprivileged I_POP.
//
// Opens: a driver that is not a clone has one stream per minor, shared by every open of it
// ("/dev/NAME" is minor 0, "/dev/NAME/MINOR" another); "/dev/clone/NAME" always makes a new
// stream. Each open of an existing stream runs the open routines again (illumos stropen on a
// stream that exists: every module's and the driver's open with the same device), which may
// refuse it; a reopen fails with EIO while the stream has an error and heals a hangup
// (illumos-head-spec §0.2). A name no driver has is an ordinary file. The test driver
// "testdrv" (streams/testing/test_modules.h) counts its opens.
//
// Anchors (streamio(4I) I_ANCHOR/I_POP, illumos-head-spec §6.3): an unprivileged I_POP of the
// module at the anchor is EPERM; a privileged one is allowed, and popping below the anchor
// removes it. The tests drop privilege with seteuid(2) (they run as root).
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "streams/api_test_util.h"
#include "streams/ddi.h"
#include "streams/drivers/drivers.h"

namespace ustreams::testing {
namespace {

class OpenTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_TRUE(RegisterTestDriver(domain().registry()).ok());
    ASSERT_TRUE(RegisterEcho(domain().registry()).ok());
  }
  void TearDown() override {
    for (int fd : fds_) us_close(fd);
    ApiTest::TearDown();
  }
  int Open(const char* path, int oflag = O_RDWR, mode_t mode = 0) {
    int fd = us_open(path, oflag, mode);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  static std::vector<std::string> List(int fd) {
    str_mlist names[16];
    str_list sl{16, names};
    EXPECT_EQ(us_ioctl(fd, I_LIST, &sl), 0) << strerror(errno);
    std::vector<std::string> out;
    for (int i = 0; i < sl.sl_nmods; i++) out.emplace_back(names[i].l_name);
    return out;
  }
  static int Cmd(int fd, int cmd) {
    strioctl sio{cmd, 0, 0, nullptr};
    return us_ioctl(fd, I_STR, &sio);
  }
  static std::string Look(int fd) {
    char name[FMNAMESZ + 1] = {};
    if (us_ioctl(fd, I_LOOK, name) != 0) return "<errno " + std::to_string(errno) + ">";
    return name;
  }

  std::vector<int> fds_;
};

using Names = std::vector<std::string>;

// ---- opens ----

TEST_F(OpenTest, OpensOfANonCloneDeviceShareOneStream) {
  int a = Open("/dev/testdrv");
  int b = Open("/dev/testdrv");
  ASSERT_GE(a, 0) << strerror(errno);
  ASSERT_GE(b, 0) << strerror(errno);
  EXPECT_NE(a, b);
  ASSERT_EQ(us_ioctl(a, I_PUSH, "ctlmod"), 0);
  EXPECT_EQ(List(b), (Names{"ctlmod", "testdrv"}));
  // One read queue: what the driver reflects for a write on a is read on b.
  WriteAll(a, "ping");
  EXPECT_EQ(ReadSome(b), "ping");
  EXPECT_EQ(Cmd(b, TDRV_SFLAG), 0);  // the first open was not a clone open
  EXPECT_EQ(Cmd(b, TDRV_OPENS), 2);  // the driver's open ran for each open
  int c = Open("testdrv");  // the name without /dev/, and minor 0 by number
  int d = Open("/dev/testdrv/0");
  ASSERT_GE(c, 0);
  ASSERT_GE(d, 0);
  EXPECT_EQ(List(c), (Names{"ctlmod", "testdrv"}));
  EXPECT_EQ(List(d), (Names{"ctlmod", "testdrv"}));
  EXPECT_EQ(Cmd(a, TDRV_OPENS), 4);
}

TEST_F(OpenTest, AMinorNamesAStreamOfItsOwn) {
  int a = Open("/dev/testdrv");
  int m3 = Open("/dev/testdrv/3");
  int m3b = Open("/dev/testdrv/3");
  ASSERT_GE(a, 0);
  ASSERT_GE(m3, 0);
  ASSERT_GE(m3b, 0);
  ASSERT_EQ(us_ioctl(a, I_PUSH, "ctlmod"), 0);
  EXPECT_EQ(List(m3), (Names{"testdrv"}));
  ASSERT_EQ(us_ioctl(m3, I_PUSH, "recmod"), 0);
  EXPECT_EQ(List(m3b), (Names{"recmod", "testdrv"}));
  EXPECT_EQ(List(a), (Names{"ctlmod", "testdrv"}));
  WriteAll(m3, "three");
  EXPECT_EQ(ReadSome(m3b), "three");
  SetNonBlocking(a, true);
  EXPECT_EQ(ReadSome(a), "<errno " + std::to_string(EAGAIN) + ">");
  EXPECT_EQ(Cmd(m3, TDRV_OPENS), 2);
  EXPECT_EQ(Cmd(a, TDRV_OPENS), 1);
}

TEST_F(OpenTest, CloneOpensAlwaysMakeANewStream) {
  int a = Open("/dev/testdrv");
  int k1 = Open("/dev/clone/testdrv");
  int k2 = Open("/dev/clone/testdrv");
  ASSERT_GE(a, 0);
  ASSERT_GE(k1, 0) << strerror(errno);
  ASSERT_GE(k2, 0) << strerror(errno);
  ASSERT_EQ(us_ioctl(k1, I_PUSH, "ctlmod"), 0);
  EXPECT_EQ(List(k2), (Names{"testdrv"}));
  EXPECT_EQ(List(a), (Names{"testdrv"}));
  EXPECT_EQ(Cmd(k1, TDRV_SFLAG), CLONEOPEN);
  EXPECT_EQ(Cmd(k1, TDRV_OPENS), 1);
  EXPECT_EQ(Cmd(k2, TDRV_OPENS), 1);
  WriteAll(k2, "two");
  EXPECT_EQ(ReadSome(k2), "two");
  SetNonBlocking(k1, true);
  EXPECT_EQ(ReadSome(k1), "<errno " + std::to_string(EAGAIN) + ">");
}

TEST_F(OpenTest, TheDriversOpenErrorIsTheOpensError) {
  EXPECT_ERRNO(Open("/dev/testdrv/100"), ENXIO);  // the driver has no such unit
  int a = Open("/dev/testdrv");
  ASSERT_GE(a, 0);
  ASSERT_EQ(IntIoctl(a, TDRV_FAIL_REOPEN, EBUSY), 0);
  EXPECT_ERRNO(Open("/dev/testdrv"), EBUSY);  // a reopen the driver refuses
  // The stream is untouched, and the next reopen goes through.
  WriteAll(a, "still here");
  EXPECT_EQ(ReadSome(a), "still here");
  int b = Open("/dev/testdrv");
  ASSERT_GE(b, 0) << strerror(errno);
  EXPECT_EQ(Cmd(b, TDRV_OPENS), 3);
}

TEST_F(OpenTest, AReopenFailsWithEioWhileTheStreamHasAnError) {
  int a = Open("/dev/testdrv");
  ASSERT_GE(a, 0);
  ASSERT_EQ(us_ioctl(a, I_PUSH, "ctlmod"), 0);
  SendUp(a, M_ERROR, std::string{static_cast<char>(NOERROR), static_cast<char>(EPROTO)});
  EXPECT_ERRNO(Open("/dev/testdrv"), EIO);
}

TEST_F(OpenTest, AReopenHealsAHangup) {
  int a = Open("/dev/testdrv");
  ASSERT_GE(a, 0);
  ASSERT_EQ(us_ioctl(a, I_PUSH, "ctlmod"), 0);
  SendUp(a, M_HANGUP, "");
  EXPECT_ERRNO(us_write(a, "x", 1), EIO);
  int b = Open("/dev/testdrv");
  ASSERT_GE(b, 0) << strerror(errno);
  EXPECT_EQ(us_write(a, "x", 1), 1);
  EXPECT_EQ(ReadSome(b), "x");
}

TEST_F(OpenTest, ANameNoDriverHasIsAnOrdinaryFile) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = std::string(tmp != nullptr ? tmp : "/tmp") + "/api_open_test.plain";
  unlink(path.c_str());
  EXPECT_ERRNO(us_open(path.c_str(), O_RDWR), ENOENT);
  int fd = us_open(path.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0) << strerror(errno);
  EXPECT_EQ(us_isastream(fd), 0);
  EXPECT_EQ(us_write(fd, "file", 4), 4);
  ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
  char buf[8] = {};
  EXPECT_EQ(us_read(fd, buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "file");
  EXPECT_EQ(us_close(fd), 0);
  unlink(path.c_str());
  EXPECT_ERRNO(us_open("/dev/nosuchdriver", O_RDWR), ENOENT);
}

// ---- anchors ----

// Drops the effective uid for its scope (the C API's privilege check is geteuid() == 0).
class Unprivileged {
 public:
  Unprivileged() { ok_ = seteuid(65534) == 0; }
  ~Unprivileged() {
    if (ok_) {
      EXPECT_EQ(seteuid(0), 0);
    }
  }
  bool ok() const { return ok_; }

 private:
  bool ok_;
};

TEST_F(OpenTest, AnAnchorStopsUnprivilegedPops) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to drop and regain privilege";
  }
  int fd = Open("/dev/echo");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "ctlmod"), 0);
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "recmod"), 0);
  ASSERT_EQ(us_ioctl(fd, I_ANCHOR, 0), 0);  // at recmod: two modules
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "pkt100"), 0);
  {
    Unprivileged user;
    ASSERT_TRUE(user.ok());
    EXPECT_EQ(us_ioctl(fd, I_POP, 0), 0);  // above the anchor
    EXPECT_EQ(Look(fd), "recmod");
    EXPECT_ERRNO(us_ioctl(fd, I_POP, 0), EPERM);  // at it
    EXPECT_EQ(Look(fd), "recmod");
    EXPECT_EQ(us_ioctl(fd, I_PUSH, "pkt100"), 0);  // pushing above it is anyone's
    EXPECT_EQ(us_ioctl(fd, I_POP, 0), 0);
    EXPECT_ERRNO(us_ioctl(fd, I_POP, 0), EPERM);
  }
  // A privileged process pops through the anchor, and the anchor goes with the module.
  EXPECT_EQ(us_ioctl(fd, I_POP, 0), 0);
  EXPECT_EQ(Look(fd), "ctlmod");
  {
    Unprivileged user;
    ASSERT_TRUE(user.ok());
    // Back to two modules: the old anchor position, but no anchor any more.
    EXPECT_EQ(us_ioctl(fd, I_PUSH, "recmod"), 0);
    EXPECT_EQ(us_ioctl(fd, I_POP, 0), 0);
    EXPECT_EQ(us_ioctl(fd, I_POP, 0), 0);
    EXPECT_ERRNO(us_ioctl(fd, I_POP, 0), EINVAL);  // only the driver is left
  }
}

TEST_F(OpenTest, AnyoneMayPlaceAnAnchorAndOneWithNoModulesIsNone) {
  if (geteuid() != 0) {
    GTEST_SKIP() << "needs root to drop and regain privilege";
  }
  int fd = Open("/dev/echo");
  ASSERT_GE(fd, 0);
  ASSERT_EQ(us_ioctl(fd, I_ANCHOR, 0), 0);  // no modules: no anchor
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "ctlmod"), 0);
  Unprivileged user;
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(us_ioctl(fd, I_POP, 0), 0);
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "ctlmod"), 0);
  EXPECT_EQ(us_ioctl(fd, I_ANCHOR, 0), 0);  // no privilege needed to place one
  EXPECT_ERRNO(us_ioctl(fd, I_POP, 0), EPERM);
}

// open(2) flags on a device: O_CLOEXEC marks the descriptor, the status flags stay with the
// open file (F_GETFL), an access mode that is neither read nor write is EINVAL, and O_CREAT with
// O_EXCL is EEXIST (the device exists), both before any driver runs.
TEST_F(OpenTest, OpenFlagsOnADevice) {
  int fd = Open("/dev/echo", O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_NE(us_fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  int plain = Open("/dev/echo", O_RDWR);
  ASSERT_GE(plain, 0);
  EXPECT_EQ(us_fcntl(plain, F_GETFD) & FD_CLOEXEC, 0);
  int app = Open("/dev/echo", O_WRONLY | O_APPEND);
  ASSERT_GE(app, 0);
  EXPECT_EQ(us_fcntl(app, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
  EXPECT_ERRNO(us_open("/dev/echo", O_ACCMODE), EINVAL);
  EXPECT_ERRNO(us_open("/dev/echo", O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
  EXPECT_GE(Open("/dev/echo", O_RDWR | O_CREAT, 0600), 0);  // O_CREAT alone opens it
}

}  // namespace
}  // namespace ustreams::testing
