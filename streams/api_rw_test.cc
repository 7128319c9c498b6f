// read(2)/write(2)/readv/writev on streams through the C API, and the M_SETOPTS options that
// change them: read modes (RNORM, RMSGD, RMSGN), control parts (RPROTNORM, RPROTDAT, RPROTDIS),
// zero-length messages, delimiters, packet sizes, write offset, errors and hangup. Messages
// arrive from below through ctlmod (streams/testing/test_modules.h) on a pipe end.
#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "streams/api_test_util.h"
#include "streams/drivers/drivers.h"
#include "streams/ddi.h"

namespace ustreams::testing {
namespace {

class RwTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_EQ(us_pipe(fd_), 0);
    ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
    fd = fd_[0];
  }
  void TearDown() override {
    us_close(fd_[0]);
    us_close(fd_[1]);
    ApiTest::TearDown();
  }
  void SetOpts(const stroptions& so) {
    SendUp(fd, M_SETOPTS, std::string(reinterpret_cast<const char*>(&so), sizeof(so)));
  }
  void ReadMode(int mode) { ASSERT_EQ(us_ioctl(fd, I_SRDOPT, mode), 0); }
  int fd_[2];
  int fd = -1;
};

TEST_F(RwTest, DefaultReadOptionIsByteStreamWithProtocolNormal) {
  int opt = -1;
  ASSERT_EQ(us_ioctl(fd, I_GRDOPT, &opt), 0);
  EXPECT_EQ(opt, RNORM | RPROTNORM);
}

TEST_F(RwTest, MessageModesReadOneMessageAtATime) {
  SendUp(fd, M_DATA, "hello");
  SendUp(fd, M_DATA, "world");
  ReadMode(RMSGN);
  EXPECT_EQ(ReadSome(fd, 3), "hel");  // the rest stays
  EXPECT_EQ(ReadSome(fd, 100), "lo");
  ReadMode(RMSGD);
  EXPECT_EQ(ReadSome(fd, 3), "wor");  // the rest is discarded
  int n = -1;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 0);
}

TEST_F(RwTest, ByteStreamReadSpansMessagesAndKeepsTheRest) {
  SendUp(fd, M_DATA, "12345");
  SendUp(fd, M_DATA, "67890");
  EXPECT_EQ(ReadSome(fd, 7), "1234567");
  EXPECT_EQ(ReadSome(fd, 100), "890");
}

TEST_F(RwTest, ZeroLengthMessageAtTheFrontReadsAsEndOfFileInEveryMode) {
  for (int mode : {RNORM, RMSGD, RMSGN}) {
    ReadMode(mode);
    SendUp(fd, M_DATA, "");
    SendUp(fd, M_DATA, "after");
    EXPECT_EQ(ReadSome(fd), "") << mode;
    EXPECT_EQ(ReadSome(fd), "after") << mode;
  }
}

TEST_F(RwTest, ByteStreamReadStopsBeforeAZeroLengthMessage) {
  SendUp(fd, M_DATA, "abc");
  SendUp(fd, M_DATA, "");
  SendUp(fd, M_DATA, "def");
  EXPECT_EQ(ReadSome(fd), "abc");
  EXPECT_EQ(ReadSome(fd), "");
  EXPECT_EQ(ReadSome(fd), "def");
}

TEST_F(RwTest, ProtocolMessagesFailReadWithEbadmsgByDefault) {
  SendUp(fd, M_PROTO, "ctl");
  char buf[16];
  EXPECT_ERRNO(us_read(fd, buf, sizeof(buf)), EBADMSG);
  int n = -1;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 1);  // it stays queued
}

TEST_F(RwTest, DataReadBeforeAProtocolMessageIsReturned) {
  SendUp(fd, M_DATA, "data");
  SendUp(fd, M_PROTO, "ctl");
  EXPECT_EQ(ReadSome(fd), "data");
  char buf[16];
  EXPECT_ERRNO(us_read(fd, buf, sizeof(buf)), EBADMSG);
}

TEST_F(RwTest, RprotdatReadsTheControlPartAsData) {
  ReadMode(RNORM | RPROTDAT);
  SendUp(fd, M_PCPROTO, "pc");
  EXPECT_EQ(ReadSome(fd), "pc");
}

TEST_F(RwTest, RprotdisDiscardsTheControlPart) {
  ReadMode(RNORM | RPROTDIS);
  SendUp(fd, M_PROTO, "ctl-only");
  SendUp(fd, M_DATA, "data");
  EXPECT_EQ(ReadSome(fd), "data");
}

TEST_F(RwTest, OnlyOneHighPriorityMessageWaitsAtTheHead) {
  SendUp(fd, M_PCPROTO, "first");
  SendUp(fd, M_PCPROTO, "second");  // dropped: one is already there
  int n = -1;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 1);
  EXPECT_EQ(n, 0);  // I_NREAD counts data bytes only
}

TEST_F(RwTest, ReadvScattersAndWritevGathers) {
  const char a[] = "ab", b[] = "cdef";
  struct iovec out[2] = {{const_cast<char*>(a), 2}, {const_cast<char*>(b), 4}};
  EXPECT_EQ(us_writev(fd_[1], out, 2), 6);
  char x[3] = {}, y[10] = {};
  struct iovec in[2] = {{x, 3}, {y, 10}};
  EXPECT_EQ(us_readv(fd, in, 2), 6);
  EXPECT_EQ(std::string(x, 3), "abc");
  EXPECT_EQ(std::string(y, 3), "def");
}

TEST_F(RwTest, ReadvAndWritevCheckTheirArgumentsFirst) {
  struct iovec v{nullptr, 0};
  EXPECT_ERRNO(us_readv(fd, &v, 0), EINVAL);
  EXPECT_ERRNO(us_writev(fd, &v, 1025), EINVAL);
  EXPECT_ERRNO(us_readv(-1, &v, 0), EINVAL);  // before the descriptor
  EXPECT_ERRNO(us_readv(-1, &v, 1), EBADF);
}

TEST_F(RwTest, ReadErrorFailsReadsButNotWrites) {
  SendUp(fd, M_DATA, "queued");
  SendUp(fd, M_ERROR, std::string{static_cast<char>(EPROTO), static_cast<char>(NOERROR)});
  char buf[8];
  EXPECT_ERRNO(us_read(fd, buf, sizeof(buf)), EPROTO);
  EXPECT_ERRNO(us_read(fd, buf, sizeof(buf)), EPROTO);  // persistent
  EXPECT_EQ(us_write(fd, "w", 1), 1);
  int n;
  EXPECT_ERRNO(us_ioctl(fd, I_NREAD, &n), EPROTO);
  EXPECT_ERRNO(us_ioctl(fd, I_LOOK, buf), EPROTO);
}

TEST_F(RwTest, WriteErrorFailsWritesButNotReads) {
  ASSERT_EQ(us_ioctl(fd, I_SWROPT, 0), 0);
  SendUp(fd, M_ERROR, std::string{static_cast<char>(NOERROR), static_cast<char>(EIO)});
  EXPECT_ERRNO(us_write(fd, "w", 1), EIO);
  strbuf data{0, 1, const_cast<char*>("w")};
  EXPECT_ERRNO(us_putmsg(fd, nullptr, &data, 0), EIO);
  // Reads go on: what the other end writes arrives.
  WriteAll(fd_[1], "r");
  EXPECT_EQ(ReadSome(fd), "r");
  // Ioctls stop on a write error too (all but the read-only ones).
  int n = -1;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 0);
  EXPECT_ERRNO(us_ioctl(fd, I_PUSH, "ctlmod"), EIO);
}

TEST_F(RwTest, NonPersistentErrorIsClearedOnceReturned) {
  stroptions so{};
  so.so_flags = SO_ERROPT;
  so.so_erropt = RERRNONPERSIST | WERRNORM;
  SetOpts(so);
  SendUp(fd, M_ERROR, std::string{static_cast<char>(ENXIO), static_cast<char>(NOERROR)});
  char buf[8];
  EXPECT_ERRNO(us_read(fd, buf, sizeof(buf)), ENXIO);
  SetNonBlocking(fd, true);
  EXPECT_ERRNO(us_read(fd, buf, sizeof(buf)), EAGAIN);  // the error went with the first read
  int opt = -1;
  EXPECT_EQ(us_ioctl(fd, I_GERROPT, &opt), 0);
  EXPECT_EQ(opt, RERRNONPERSIST | WERRNORM);
}

TEST_F(RwTest, OneByteErrorSetsBothSidesAndZeroDoesNothing) {
  ASSERT_EQ(us_ioctl(fd, I_SWROPT, 0), 0);
  SendUp(fd, M_ERROR, std::string(1, '\0'));
  EXPECT_EQ(us_write(fd, "ok", 2), 2);  // a zero error byte is ignored
  int n;
  EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 0);
  SendUp(fd, M_ERROR, std::string(1, static_cast<char>(EPROTO)));
  char buf[4];
  EXPECT_ERRNO(us_read(fd, buf, 4), EPROTO);
  EXPECT_ERRNO(us_write(fd, "x", 1), EPROTO);
}

TEST_F(RwTest, HangupDrainsThenReadsEofAndWritesFail) {
  ASSERT_EQ(us_ioctl(fd, I_SWROPT, 0), 0);  // no SIGPIPE: see EIO itself
  SendUp(fd, M_DATA, "queued");
  SendUp(fd, M_HANGUP, "");
  EXPECT_EQ(ReadSome(fd), "queued");
  EXPECT_EQ(ReadSome(fd), "");
  EXPECT_ERRNO(us_write(fd, "x", 1), EIO);
  strbuf data{0, 1, const_cast<char*>("x")};
  EXPECT_ERRNO(us_putmsg(fd, nullptr, &data, 0), ENXIO);
  strioctl sio{1, 0, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd, I_STR, &sio), ENXIO);
  EXPECT_ERRNO(us_ioctl(fd, I_PUSH, "ctlmod"), ENXIO);
  char name[FMNAMESZ + 1];
  EXPECT_EQ(us_ioctl(fd, I_LOOK, name), 0);  // still answers
}

TEST_F(RwTest, SetoptsReadoptAndMarks) {
  stroptions so{};
  so.so_flags = SO_READOPT | SO_HIWAT | SO_LOWAT;
  so.so_readopt = RMSGD | RPROTDIS;
  so.so_hiwat = 100;
  so.so_lowat = 10;
  SetOpts(so);
  int opt = -1;
  ASSERT_EQ(us_ioctl(fd, I_GRDOPT, &opt), 0);
  EXPECT_EQ(opt, RMSGD | RPROTDIS);
}

TEST_F(RwTest, WritesAreSplitIntoPacketsOfAtMostStrmsgsz) {
  // Nothing below limits the packet size, so strmsgsz (64 KiB) does. The writer blocks on flow
  // control after the first packet until the reader takes it.
  std::string big(70000, 'z');
  std::thread writer([&] { WriteAll(fd_[1], big); });
  ReadMode(RMSGN);
  std::string first(100000, '\0');
  EXPECT_EQ(us_read(fd, first.data(), first.size()), 65536);
  EXPECT_EQ(us_read(fd, first.data(), first.size()), 70000 - 65536);
  writer.join();
}

TEST_F(RwTest, SoWroffLeavesHeadroomAndDelimMarksTheLastPacket) {
  // On fd_[1]'s head: options from a ctlmod pushed there.
  ASSERT_EQ(us_ioctl(fd_[1], I_PUSH, "ctlmod"), 0);
  stroptions so{};
  so.so_flags = SO_WROFF | SO_DELIM;
  so.so_wroff = 32;
  SendUp(fd_[1], M_SETOPTS, std::string(reinterpret_cast<const char*>(&so), sizeof(so)));
  ASSERT_EQ(us_ioctl(fd, I_SRDOPT, RNORM), 0);
  WriteAll(fd_[1], "one");
  WriteAll(fd_[1], "two");
  // fd has no SO_DELIM itself, so its byte-stream read joins the two.
  EXPECT_EQ(ReadSome(fd), "onetwo");
}

TEST_F(RwTest, FlowControlBlocksWritersAndEagainWhenNonBlocking) {
  SetNonBlocking(fd_[1], true);
  std::string chunk(1024, 'f');
  int written = 0;
  while (us_write(fd_[1], chunk.data(), chunk.size()) > 0) {
    written++;
    ASSERT_LT(written, 10000);
  }
  EXPECT_EQ(errno, EAGAIN);
  EXPECT_GT(written, 0);
  // A blocking writer waits until the reader drains.
  SetNonBlocking(fd_[1], false);
  std::thread writer([&] { WriteAll(fd_[1], "tail"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::string all;
  SetNonBlocking(fd, true);
  for (;;) {
    std::string s = ReadSome(fd, 65536);
    if (s.rfind("<errno", 0) == 0) {
      if (all.size() >= written * chunk.size() + 4) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    all += s;
  }
  writer.join();
  EXPECT_EQ(all.size(), written * chunk.size() + 4);
  EXPECT_EQ(all.substr(all.size() - 4), "tail");
}

// read(2) breaks only at the last marked message (illumos strread): data before it is returned
// without it, the marked message then reads on its own; an earlier mark does not stop a read.
TEST_F(RwTest, ByteStreamReadBreaksOnlyAtTheLastMark) {
  SendUp(fd, M_DATA, "abc");
  SendUp(fd, M_DATA, "def", 0, MSGMARK);
  SendUp(fd, M_DATA, "ghi");
  EXPECT_EQ(ReadSome(fd, 100), "abc");  // stops before the marked message
  EXPECT_EQ(ReadSome(fd, 100), "def");  // reads it, and stops after it
  EXPECT_EQ(ReadSome(fd, 100), "ghi");

  SendUp(fd, M_DATA, "m1", 0, MSGMARK);
  SendUp(fd, M_DATA, "x");
  SendUp(fd, M_DATA, "m2", 0, MSGMARK);
  SendUp(fd, M_DATA, "y");
  EXPECT_EQ(ReadSome(fd, 100), "m1x");  // the first mark is not the last: no break there
  EXPECT_EQ(ReadSome(fd, 100), "m2");
  EXPECT_EQ(ReadSome(fd, 100), "y");
}

// A null buffer is EFAULT only when data would be copied through it (illumos copyin/copyout):
// the descriptor's mode, flow control, an empty queue and end of file are answered first, and
// a message that cannot be copied out stays queued.
TEST_F(RwTest, NullBufferIsEfaultOnlyWhenACopyWouldHappen) {
  SetNonBlocking(fd, true);
  EXPECT_ERRNO(us_read(fd, nullptr, 5), EAGAIN);  // nothing to copy yet
  SendUp(fd, M_DATA, "kept");
  EXPECT_ERRNO(us_read(fd, nullptr, 5), EFAULT);
  iovec parts[2] = {{nullptr, 2}, {nullptr, 3}};
  EXPECT_ERRNO(us_readv(fd, parts, 2), EFAULT);
  EXPECT_EQ(ReadSome(fd), "kept");  // still there
  EXPECT_EQ(us_read(fd, nullptr, 0), 0);

  // The write side: flow control first.
  int other = fd_[1];
  SetNonBlocking(other, true);
  std::string chunk(4096, 'w');
  while (us_write(other, chunk.data(), chunk.size()) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  EXPECT_ERRNO(us_write(other, nullptr, 5), EAGAIN);
  ASSERT_EQ(us_ioctl(fd, I_FLUSH, FLUSHR), 0);
  EXPECT_ERRNO(us_write(other, nullptr, 5), EFAULT);
  EXPECT_ERRNO(us_writev(other, parts, 2), EFAULT);

  // A descriptor not open for writing is EBADF, whatever the buffer.
  ASSERT_TRUE(RegisterEcho(domain().registry()).ok());
  int ro = us_open("/dev/echo", O_RDONLY);
  ASSERT_GE(ro, 0);
  EXPECT_ERRNO(us_write(ro, nullptr, 5), EBADF);
  us_close(ro);
}

// End of file needs no copy: a hung-up, drained stream reads 0 even into a null buffer.
TEST_F(RwTest, NullBufferReadsEndOfFile) {
  SendUp(fd, M_HANGUP, "");
  EXPECT_EQ(us_read(fd, nullptr, 5), 0);
}

// A write that sent a packet and then waits under flow control fails (-1) if the stream then
// reports an error: a hangup's ENXIO, with no SIGPIPE on a stream whose reader is still there
// (illumos strwaitq; only EAGAIN, EINTR and ETIME end such a write with its partial count).
TEST_F(RwTest, ErrorWhileAWriteWaitsBetweenPacketsFailsIt) {
  std::atomic<bool> done{false};
  ssize_t rc = 0;
  int err = 0;
  std::thread writer([&] {
    std::string big(100000, 'b');  // two packets of strmsgsz: the first fills the pipe
    rc = us_write(fd, big.data(), big.size());
    err = errno;
    done = true;
  });
  int n = -1;
  for (int i = 0; i < 5000 && us_ioctl(fd_[1], I_NREAD, &n) < 1; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_FALSE(done.load()) << "the write should be waiting for room";
  SendUp(fd, M_HANGUP, "");  // the writer's own stream hangs up
  writer.join();
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, ENXIO);
}

// The invalid address of test suites, (void*)-1, is EFAULT where a copy would go through it,
// never a crash (user_addr.h): read/readv/write/writev buffers and iovec arrays.
TEST_F(RwTest, InvalidAddressIsEfault) {
  void* const bad = reinterpret_cast<void*>(-1);
  SendUp(fd, M_DATA, "0123456789abcdef");
  EXPECT_ERRNO(us_read(fd, bad, 16), EFAULT);
  EXPECT_ERRNO(us_readv(fd, static_cast<iovec*>(bad), 1), EFAULT);
  iovec v{bad, 16};
  EXPECT_ERRNO(us_readv(fd, &v, 1), EFAULT);
  EXPECT_EQ(ReadSome(fd), "0123456789abcdef");  // nothing was taken
  EXPECT_ERRNO(us_write(fd, bad, 16), EFAULT);
  EXPECT_ERRNO(us_writev(fd, static_cast<iovec*>(bad), 1), EFAULT);
  EXPECT_ERRNO(us_writev(fd, &v, 1), EFAULT);
  SendUp(fd, M_DATA, "more");
  EXPECT_ERRNO(us_read(fd, reinterpret_cast<void*>(16), 4), EFAULT);  // the first page
  EXPECT_EQ(ReadSome(fd), "more");
}

}  // namespace
}  // namespace ustreams::testing
