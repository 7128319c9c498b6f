// close(2) of streams through the C API: the last close lets data held below drain, for up to
// the close time per module (I_SETCLTIME), unless the descriptor is non-blocking or the close
// time is 0; then it dismantles the stream and frees everything (the fixture's leak checks).
// Closing one end of a pipe hangs up the other: its reads drain, then see end of file, and
// poll reports POLLHUP.
//
// Data is held below with "holdmod" (streams/testing/test_modules.h), which keeps what is
// written on its write queue until told to let it go. Expected values: illumos-head-spec §7
// (strclose), close(2) and pipe(2) in illumos-manpages §1. Elapsed times are only ever bounded
// from below, or by the close time itself (the wait a call must not make).
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "streams/api_test_util.h"

namespace ustreams::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kLongCloseTimeMs = 600000;  // a close that waited this long would time out the test

class CloseTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_EQ(us_pipe(p_), 0);
  }
  void TearDown() override {
    if (p_[0] >= 0) us_close(p_[0]);
    if (p_[1] >= 0) us_close(p_[1]);
    ApiTest::TearDown();
  }
  // Pushes holdmod on fd and writes s, which it keeps.
  void Hold(int fd, const std::string& s) {
    ASSERT_EQ(us_ioctl(fd, I_PUSH, "holdmod"), 0);
    WriteAll(fd, s);
  }
  static void SetCloseTime(int fd, int ms) { ASSERT_EQ(us_ioctl(fd, I_SETCLTIME, &ms), 0); }
  // Closes p_[i], returning how long it took.
  Clock::duration CloseEnd(int i) {
    auto t0 = Clock::now();
    EXPECT_EQ(us_close(p_[i]), 0);
    p_[i] = -1;
    return Clock::now() - t0;
  }
  // What the other end reads now, without waiting.
  std::string ReadNow(int fd) {
    SetNonBlocking(fd, true);
    return ReadSome(fd);
  }
  int p_[2] = {-1, -1};
};

TEST_F(CloseTest, CloseWaitsForDataHeldBelowToDrain) {
  Hold(p_[0], "held");
  EXPECT_EQ(ReadNow(p_[1]), "<errno " + std::to_string(EAGAIN) + ">");
  ASSERT_EQ(IntIoctl(p_[0], HOLD_RELEASE, 200), 0);  // lets it go in 200 ms
  CloseEnd(0);  // default close time: 15 s
  // Had the close not waited, the data would have gone with the module.
  EXPECT_EQ(ReadNow(p_[1]), "held");
  EXPECT_EQ(ReadNow(p_[1]), "");  // then end of file: the other end is gone
}

TEST_F(CloseTest, TheCloseTimeBoundsTheWaitAndWhatIsLeftIsFreed) {
  Hold(p_[0], "never released");
  SetCloseTime(p_[0], 50);
  EXPECT_GE(CloseEnd(0), milliseconds(50));
  EXPECT_EQ(ReadNow(p_[1]), "");  // discarded: end of file only
}

TEST_F(CloseTest, EachModuleWaitsItsOwnCloseTime) {
  Hold(p_[0], "lower");  // held by the first holdmod
  Hold(p_[0], "upper");  // held by the second, above it
  SetCloseTime(p_[0], 50);
  EXPECT_GE(CloseEnd(0), milliseconds(100));
  EXPECT_EQ(ReadNow(p_[1]), "");
}

TEST_F(CloseTest, DataHeldByTheDriverIsWaitedForToo) {
  ASSERT_TRUE(RegisterTestDriver(domain().registry()).ok());
  int fd = us_open("/dev/clone/testdrv", O_RDWR);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(IntIoctl(fd, TDRV_HOLD, 1), 0);
  WriteAll(fd, "held by the driver");
  SetCloseTime(fd, 50);
  auto t0 = Clock::now();
  EXPECT_EQ(us_close(fd), 0);
  EXPECT_GE(Clock::now() - t0, milliseconds(50));
}

// strclose waits once for each queue below the head, the driver's last, and a caught signal
// ends a wait. The test driver counts the waits for its queue (each asks it for a back-enable);
// every time it sees one, the closing thread is signalled until the close moves on.
TEST_F(CloseTest, TheDriversQueueIsWaitedForOnce) {
  struct sigaction sa {}, old{};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  ASSERT_TRUE(RegisterTestDriver(domain().registry()).ok());
  int fd = us_open("/dev/clone/testdrv", O_RDWR);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(us_ioctl(fd, I_PUSH, "ctlmod"), 0);  // a module first: the loop over the queues
  ASSERT_EQ(IntIoctl(fd, TDRV_HOLD, 1), 0);
  WriteAll(fd, "held by the driver");
  SetCloseTime(fd, kLongCloseTimeMs);
  (void)TakeTestDriverDrainWaits();
  pthread_t self = pthread_self();
  std::atomic<bool> done{false};
  int waits = 0;
  std::thread signaller([&] {
    bool waiting = false;
    while (!done) {
      if (int w = TakeTestDriverDrainWaits(); w > 0) {
        waits += w;
        waiting = true;
      }
      // Until the close returns: a signal that came before it slept only ran the handler.
      if (waiting) pthread_kill(self, SIGUSR1);
      std::this_thread::sleep_for(milliseconds(waiting ? 10 : 1));
    }
    waits += TakeTestDriverDrainWaits();  // one the driver noticed as it closed
  });
  EXPECT_EQ(us_close(fd), 0);
  done = true;
  signaller.join();
  sigaction(SIGUSR1, &old, nullptr);
  EXPECT_EQ(waits, 1) << "the driver's queue was waited for " << waits << " times";
}

TEST_F(CloseTest, NonBlockingCloseDoesNotWait) {
  Hold(p_[0], "held");
  SetCloseTime(p_[0], kLongCloseTimeMs);
  SetNonBlocking(p_[0], true);
  EXPECT_LT(CloseEnd(0), milliseconds(kLongCloseTimeMs));
  EXPECT_EQ(ReadNow(p_[1]), "");
}

TEST_F(CloseTest, CloseTimeZeroNeverWaits) {
  Hold(p_[0], "held");
  SetCloseTime(p_[0], 0);
  EXPECT_LT(CloseEnd(0), milliseconds(STRTIMOUT * 1000));  // not the default 15 s either
  EXPECT_EQ(ReadNow(p_[1]), "");
}

TEST_F(CloseTest, NothingHeldNothingWaited) {
  SetCloseTime(p_[0], kLongCloseTimeMs);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "holdmod"), 0);  // a module, but with an empty queue
  EXPECT_LT(CloseEnd(0), milliseconds(kLongCloseTimeMs));
}

TEST_F(CloseTest, TheOtherEndOfAPipeDrainsThenSeesEndOfFileAndPollhup) {
  WriteAll(p_[1], "last words");
  CloseEnd(1);
  pollfd p{p_[0], POLLIN | POLLOUT, 0};
  ASSERT_EQ(us_poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLIN | POLLHUP);  // never POLLOUT with POLLHUP; data still readable
  EXPECT_EQ(ReadSome(p_[0]), "last words");
  EXPECT_EQ(ReadSome(p_[0]), "");  // end of file, without blocking
  EXPECT_EQ(ReadSome(p_[0]), "");
  ASSERT_EQ(us_poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLHUP);
  p.events = 0;  // POLLHUP is reported even when not asked for
  ASSERT_EQ(us_poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLHUP);
}

TEST_F(CloseTest, ABlockedReaderWakesWithEndOfFile) {
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(30));
    CloseEnd(1);
  });
  EXPECT_EQ(ReadSome(p_[0]), "");
  closer.join();
}

TEST_F(CloseTest, ABlockedPollerWakesWithPollhup) {
  std::thread closer([&] {
    std::this_thread::sleep_for(milliseconds(30));
    CloseEnd(1);
  });
  pollfd p{p_[0], POLLIN, 0};
  EXPECT_EQ(us_poll(&p, 1, -1), 1);
  EXPECT_EQ(p.revents, POLLHUP);
  closer.join();
}

TEST_F(CloseTest, ClosingADescriptorWhileAnotherStaysOpenIsNotTheLastClose) {
  Hold(p_[0], "held");
  SetCloseTime(p_[0], kLongCloseTimeMs);
  int dup = us_fcntl(p_[0], F_DUPFD, 0);
  ASSERT_GE(dup, 0);
  EXPECT_LT(CloseEnd(0), milliseconds(kLongCloseTimeMs));  // the stream stays open
  ASSERT_EQ(IntIoctl(dup, HOLD_RELEASE, 0), 0);
  SetNonBlocking(p_[1], false);
  EXPECT_EQ(ReadSome(p_[1]), "held");
  EXPECT_EQ(us_close(dup), 0);
}

}  // namespace
}  // namespace ustreams::testing
