// SO_REPLY / M_REPLY / mreply() (the PSARC SO_REPLY case, streams-inventory §5.3): once a module
// enables SO_REPLY, each write() waits for the module's M_REPLY and returns its errno.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <string>
#include <thread>

#include "streams/api_test_util.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

class ReplyTest : public ApiTest {
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
  StreamHead* Head(int fd) { return fdtable::Lookup(fd)->head(); }
  int fd_[2];
};

TEST_F(ReplyTest, WriteReturnsTheRepliedErrno) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  EXPECT_EQ(us_write(fd_[0], "ok", 2), 2);  // reply 0: the write succeeds
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_ERRNO, EEXIST), 0);
  EXPECT_ERRNO(us_write(fd_[0], "dup", 3), EEXIST);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_ERRNO, ESRCH), 0);
  EXPECT_ERRNO(us_write(fd_[0], "gone", 4), ESRCH);
  // The replies were consumed by the head: nothing to read on the writing end, and the data
  // never went past the module.
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_[0], I_NREAD, &n), 0);
  EXPECT_EQ(us_ioctl(fd_[1], I_NREAD, &n), 0);
}

TEST_F(ReplyTest, TheErrnoDoesNotDependOnNonBlocking) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  SetNonBlocking(fd_[0], true);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_ERRNO, ENETUNREACH), 0);
  EXPECT_ERRNO(us_write(fd_[0], "x", 1), ENETUNREACH);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_ERRNO, 0), 0);
  EXPECT_EQ(us_write(fd_[0], "x", 1), 1);
}

TEST_F(ReplyTest, AReplyFromAServiceTimeoutLaterEndsTheWait) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_ERRNO, EPERM), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DELAY, 30), 0);
  EXPECT_ERRNO(us_write(fd_[0], "slow", 4), EPERM);
}

TEST_F(ReplyTest, NoReplyTimesOutWithEtime) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  Head(fd_[0])->SetReplyTimeout(absl::Milliseconds(30));
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DROP, 1), 0);
  EXPECT_ERRNO(us_write(fd_[0], "lost", 4), ETIME);
  // The stream stays usable.
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DROP, 0), 0);
  EXPECT_EQ(us_write(fd_[0], "ok", 2), 2);
}

TEST_F(ReplyTest, ConcurrentWritersEachGetTheirOwnReply) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_ERRNO, -1), 0);  // errno = the first byte written
  constexpr int kPerThread = 200;
  std::atomic<int> wrong{0};
  auto writer = [&](unsigned char err) {
    for (int i = 0; i < kPerThread; i++) {
      char b = static_cast<char>(err);
      errno = 0;
      if (us_write(fd_[0], &b, 1) != -1 || errno != err) wrong++;
    }
  };
  std::thread a(writer, EIO), b(writer, EAGAIN), c(writer, ENOENT);
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(ReplyTest, CancelEndsTheWaitWithEintr) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DROP, 1), 0);
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    Head(fd_[0])->CancelWaits();
  });
  EXPECT_ERRNO(us_write(fd_[0], "x", 1), EINTR);
  canceller.join();
}

TEST_F(ReplyTest, ASignalWithoutSaRestartEndsTheWaitWithEintr) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DROP, 1), 0);
  struct sigaction sa {}, old{};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  pthread_t self = pthread_self();
  std::thread signaller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    pthread_kill(self, SIGUSR1);
  });
  EXPECT_ERRNO(us_write(fd_[0], "x", 1), EINTR);
  signaller.join();
  sigaction(SIGUSR1, &old, nullptr);
}

TEST_F(ReplyTest, AnErrorFromBelowEndsTheWaitWithTheStreamsError) {
  // ctlmod below replymod sends the M_ERROR up through it.
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DROP, 1), 0);
  std::thread errorer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    SendUp(fd_[0], M_ERROR, std::string(1, static_cast<char>(EPROTO)));
  });
  EXPECT_ERRNO(us_write(fd_[0], "x", 1), EPROTO);
  errorer.join();
}

TEST_F(ReplyTest, HangupEndsTheWait) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DROP, 1), 0);
  ASSERT_EQ(us_ioctl(fd_[0], I_SWROPT, 0), 0);  // no SIGPIPE for this one
  std::thread hanger([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    SendUp(fd_[0], M_HANGUP, "");
  });
  EXPECT_ERRNO(us_write(fd_[0], "x", 1), ENXIO);
  hanger.join();
}

TEST_F(ReplyTest, TheReplySurvivesAFlushWhileTheWriterWaits) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "replymod"), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_ERRNO, EEXIST), 0);
  ASSERT_EQ(IntIoctl(fd_[0], REPLY_SET_DELAY, 60), 0);
  std::thread flusher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(us_ioctl(fd_[1], I_FLUSH, FLUSHRW), 0);
  });
  EXPECT_ERRNO(us_write(fd_[0], "x", 1), EEXIST);
  flusher.join();
}

TEST_F(ReplyTest, WithoutSoReplyWritesDoNotWait) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  EXPECT_EQ(us_write(fd_[0], "plain", 5), 5);
  EXPECT_EQ(ReadSome(fd_[1]), "plain");
}

}  // namespace
}  // namespace ustreams::testing
