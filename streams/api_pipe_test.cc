// STREAMS pipes through the C API (pipe(2), read(2), write(2) of the illumos manual pages): each
// end's write side feeds the other end's read side; closing an end hangs the other up.
#include <poll.h>
#include <signal.h>

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

}  // namespace
}  // namespace ustreams::testing
