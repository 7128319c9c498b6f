// STREAMS pipes through the C API (pipe(2), read(2), write(2) of the illumos manual pages): each
// end's write side feeds the other end's read side; closing an end hangs the other up.
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "streams/api_test_util.h"

namespace ustreams::testing {
namespace {

using PipeTest = ApiTest;

TEST_F(PipeTest, EachEndReadsWhatTheOtherWrote) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  EXPECT_EQ(us_isastream(fd[0]), 1);
  EXPECT_EQ(us_isastream(fd[1]), 1);
  WriteAll(fd[1], "to zero");
  WriteAll(fd[0], "to one");
  EXPECT_EQ(ReadSome(fd[0]), "to zero");
  EXPECT_EQ(ReadSome(fd[1]), "to one");
  EXPECT_EQ(us_close(fd[0]), 0);
  EXPECT_EQ(us_close(fd[1]), 0);
}

TEST_F(PipeTest, ByteStreamReadJoinsMessagesInOrder) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  WriteAll(fd[1], "abc");
  WriteAll(fd[1], "def");
  WriteAll(fd[1], "ghi");
  EXPECT_EQ(ReadSome(fd[0], 5), "abcde");
  EXPECT_EQ(ReadSome(fd[0]), "fghi");
  us_close(fd[0]);
  us_close(fd[1]);
}

TEST_F(PipeTest, EmptyPipeNonBlockingReadGivesEagainAndBlockingReadWaits) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  SetNonBlocking(fd[0], true);
  char c;
  EXPECT_ERRNO(us_read(fd[0], &c, 1), EAGAIN);
  SetNonBlocking(fd[0], false);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    WriteAll(fd[1], "late");
  });
  EXPECT_EQ(ReadSome(fd[0]), "late");
  writer.join();
  us_close(fd[0]);
  us_close(fd[1]);
}

TEST_F(PipeTest, ClosingOneEndGivesEofThenEpipeWithSigpipe) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  WriteAll(fd[1], "last words");
  ASSERT_EQ(us_close(fd[1]), 0);
  // Queued data is still read, then end of file.
  EXPECT_EQ(ReadSome(fd[0]), "last words");
  EXPECT_EQ(ReadSome(fd[0]), "");
  // Writing to a pipe whose reader is gone: EPIPE and SIGPIPE.
  struct sigaction sa {}, old{};
  static volatile sig_atomic_t got = 0;
  got = 0;
  sa.sa_handler = [](int) { got = 1; };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGPIPE, &sa, &old);
  EXPECT_ERRNO(us_write(fd[0], "x", 1), EPIPE);
  EXPECT_EQ(got, 1);
  sigaction(SIGPIPE, &old, nullptr);
  struct pollfd p{fd[0], POLLIN | POLLOUT, 0};
  EXPECT_EQ(us_poll(&p, 1, 0), 1);
  EXPECT_TRUE(p.revents & POLLHUP);
  EXPECT_FALSE(p.revents & POLLOUT);
  us_close(fd[0]);
}

TEST_F(PipeTest, ZeroByteWriteSendsNothingUnlessSndzero) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  EXPECT_EQ(us_write(fd[1], "", 0), 0);
  int n = -1;
  EXPECT_EQ(us_ioctl(fd[0], I_NREAD, &n), 0);  // nothing queued
  ASSERT_EQ(us_ioctl(fd[1], I_SWROPT, SNDZERO), 0);
  EXPECT_EQ(us_write(fd[1], "", 0), 0);
  EXPECT_EQ(us_ioctl(fd[0], I_NREAD, &n), 1);  // one zero-length message
  EXPECT_EQ(n, 0);
  us_close(fd[0]);
  us_close(fd[1]);
}

namespace {
volatile sig_atomic_t g_sigpipes = 0;
// Counts SIGPIPEs while in scope.
class SigpipeCounter {
 public:
  SigpipeCounter() {
    g_sigpipes = 0;
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_sigpipes = g_sigpipes + 1; };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, &old_);
  }
  ~SigpipeCounter() { sigaction(SIGPIPE, &old_, nullptr); }
  int count() const { return g_sigpipes; }

 private:
  struct sigaction old_ {};
};
}  // namespace

// pipe(2)/write(2) on illumos (fifo_write): a zero-byte write returns 0 before the reader is
// looked for, so even a broken pipe gives 0 and no SIGPIPE.
TEST_F(PipeTest, ZeroByteWriteToABrokenPipeReturnsZeroWithoutSigpipe) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  ASSERT_EQ(us_close(fd[1]), 0);
  SigpipeCounter sigpipes;
  EXPECT_EQ(us_write(fd[0], "", 0), 0);
  EXPECT_EQ(sigpipes.count(), 0);
  EXPECT_ERRNO(us_write(fd[0], "x", 1), EPIPE);  // a real write still breaks
  EXPECT_EQ(sigpipes.count(), 1);
  us_close(fd[0]);
}

// The reader of a pipe gone: EPIPE and SIGPIPE even after I_SWROPT took SNDPIPE away (illumos
// fifo_write checks the reader before the head's write options).
TEST_F(PipeTest, BrokenPipeIsEpipeWithSigpipeWhateverSwropt) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  int opt = -1;
  ASSERT_EQ(us_ioctl(fd[0], I_GWROPT, &opt), 0);
  EXPECT_EQ(opt, SNDPIPE);  // set at birth
  ASSERT_EQ(us_ioctl(fd[0], I_SWROPT, 0), 0);
  ASSERT_EQ(us_close(fd[1]), 0);
  SigpipeCounter sigpipes;
  EXPECT_ERRNO(us_write(fd[0], "x", 1), EPIPE);
  EXPECT_EQ(sigpipes.count(), 1);
  us_close(fd[0]);
}

// read(2) of zero bytes from a pipe returns 0 at once (illumos fifo_read): the zero-length
// message at the front stays, a protocol message at the front is no EBADMSG, an error waiting
// is not reported.
TEST_F(PipeTest, ZeroByteReadTakesNothingAndReportsNothing) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  char b[4];
  ASSERT_EQ(us_ioctl(fd[1], I_SWROPT, SNDZERO), 0);
  ASSERT_EQ(us_write(fd[1], "", 0), 0);  // a zero-length message
  EXPECT_EQ(us_read(fd[0], b, 0), 0);
  int n = -1;
  EXPECT_EQ(us_ioctl(fd[0], I_NREAD, &n), 1);  // still there
  EXPECT_EQ(us_read(fd[0], b, sizeof(b)), 0);  // now read as end of file
  strbuf ctl{0, 3, const_cast<char*>("ctl")};
  ASSERT_EQ(us_putmsg(fd[1], &ctl, nullptr, 0), 0);
  EXPECT_EQ(us_read(fd[0], b, 0), 0);
  EXPECT_ERRNO(us_read(fd[0], b, sizeof(b)), EBADMSG);
  us_close(fd[0]);
  us_close(fd[1]);
}

TEST_F(PipeTest, PollSeesDataArriveFromAnotherThread) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  struct pollfd p{fd[0], POLLIN, 0};
  EXPECT_EQ(us_poll(&p, 1, 0), 0);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    WriteAll(fd[1], "wake");
  });
  EXPECT_EQ(us_poll(&p, 1, 5000), 1);
  EXPECT_EQ(p.revents, POLLIN);
  writer.join();
  EXPECT_EQ(ReadSome(fd[0]), "wake");
  us_close(fd[0]);
  us_close(fd[1]);
}

// The reader closing while a write waits between packets: that write fails with EPIPE and
// SIGPIPE, although its first packet went (illumos fifo_write).
TEST_F(PipeTest, ReaderClosingWhileAWriteWaitsBetweenPacketsIsEpipe) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  SigpipeCounter sigpipes;
  std::atomic<bool> done{false};
  ssize_t rc = 0;
  int err = 0;
  std::thread writer([&] {
    std::string big(100000, 'b');
    rc = us_write(fd[1], big.data(), big.size());
    err = errno;
    done = true;
  });
  int n = -1;
  for (int i = 0; i < 5000 && us_ioctl(fd[0], I_NREAD, &n) < 1; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_FALSE(done.load()) << "the write should be waiting for room";
  ASSERT_EQ(us_close(fd[0]), 0);
  writer.join();
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, EPIPE);
  EXPECT_EQ(sigpipes.count(), 1);
  us_close(fd[1]);
}

TEST_F(PipeTest, InvalidAddressForTheDescriptorsIsEfault) {
  EXPECT_ERRNO(us_pipe(nullptr), EFAULT);
  EXPECT_ERRNO(us_pipe(reinterpret_cast<int*>(-1)), EFAULT);
}

}  // namespace
}  // namespace ustreams::testing
