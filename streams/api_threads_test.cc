// Descriptors and streams used by several threads at once: a close while another thread's call
// uses the descriptor (the stream's last close waits for that call, as Linux's does), closes
// racing calls on descriptor numbers being reused, and modules pushed and popped while another
// thread writes (claims against plumbing).
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "streams/api_test_util.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

using std::chrono::milliseconds;

// Waits until thread tid sleeps in a futex (a blocked stream call's wait).
bool WaitUntilAsleep(pid_t tid) {
  const std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
  for (int i = 0; i < 10000; i++) {
    std::ifstream f(path);
    long nr = -1;
    if (f >> nr && nr == SYS_futex) return true;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return false;
}

// A write to a pipe whose reader is gone raises SIGPIPE (illumos); the tests look at EPIPE.
class ThreadsTest : public ApiTest {
 protected:
  // The other end of fd's pipe has closed: fd polls hung up, a write fails with EPIPE. Closes fd.
  static void ExpectOtherEndGoneThenClose(int fd) {
    pollfd pf{fd, POLLOUT, 0};
    ASSERT_EQ(us_poll(&pf, 1, 1000), 1);
    EXPECT_TRUE(pf.revents & POLLHUP) << pf.revents;
    EXPECT_ERRNO(us_write(fd, "x", 1), EPIPE);
    ASSERT_EQ(us_close(fd), 0);
  }
  void SetUp() override {
    ApiTest::SetUp();
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    ASSERT_EQ(sigaction(SIGPIPE, &ign, &old_pipe_), 0);
  }
  void TearDown() override {
    sigaction(SIGPIPE, &old_pipe_, nullptr);
    ApiTest::TearDown();
  }

 private:
  struct sigaction old_pipe_ {};
};

// The mechanism itself: while a FileRef names the open file, closing its last descriptor does
// not close the stream; the FileRef's end does.
TEST_F(ThreadsTest, TheLastCloseOfAFileInUseWaitsForTheFileRef) {
  int p[2];
  ASSERT_EQ(us_pipe(p), 0);
  WriteAll(p[1], "unread");
  {
    FileRef in_use(p[0]);
    ASSERT_TRUE(in_use);
    ASSERT_EQ(us_close(p[0]), 0);
    EXPECT_FALSE(FileRef(p[0])) << "the descriptor is gone at once";
    pollfd pf{p[1], POLLOUT, 0};
    ASSERT_EQ(us_poll(&pf, 1, 0), 1);
    EXPECT_EQ(pf.revents, POLLOUT) << "the stream closed while a call still used it";
    EXPECT_EQ(in_use->head()->closed(), false);
    EXPECT_EQ(fdtable::Retired(), 1);
  }
  EXPECT_EQ(fdtable::Retired(), 0);
  ExpectOtherEndGoneThenClose(p[1]);
}

// Closing a stream's last descriptor ends a call blocked on it with EBADF (head.h, orphaned_).
// The call still uses the open file as it returns: the stream's last close waits for it, and
// then the other end of the pipe sees the hangup.
TEST_F(ThreadsTest, ClosingTheDescriptorAnotherThreadReadsEndsTheReadThenClosesTheStream) {
  int p[2];
  ASSERT_EQ(us_pipe(p), 0);
  std::atomic<pid_t> reader_tid{0};
  std::string got;
  std::thread reader([&] {
    reader_tid = static_cast<pid_t>(syscall(SYS_gettid));
    got = ReadSome(p[0], 16);
  });
  while (reader_tid == 0) std::this_thread::yield();
  ASSERT_TRUE(WaitUntilAsleep(reader_tid));
  ASSERT_EQ(us_close(p[0]), 0);
  EXPECT_EQ(us_isastream(p[0]), -1);
  EXPECT_EQ(errno, EBADF);
  reader.join();
  EXPECT_EQ(got, "<errno " + std::to_string(EBADF) + ">");
  ExpectOtherEndGoneThenClose(p[1]);
}

// An epoll loop on a stream descriptor: readiness comes for every message, though the reader
// clears it (a read that finds nothing) while the writer raises it. A lost raise leaves the loop
// waiting with data queued.
TEST_F(ThreadsTest, AnEpollReaderNeverMissesReadiness) {
  int p[2];
  ASSERT_EQ(us_pipe(p), 0);
  SetNonBlocking(p[0], true);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  ASSERT_GE(ep, 0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = p[0];
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), 0);
  constexpr int kMessages = 20000;
  std::thread writer([&] {
    for (int i = 0; i < kMessages; i++) {
      ASSERT_EQ(us_write(p[1], "m", 1), 1);
      if (i % 64 == 0) std::this_thread::yield();
    }
  });
  int got = 0;
  while (got < kMessages) {
    epoll_event out{};
    ASSERT_EQ(epoll_wait(ep, &out, 1, 10000), 1) << "no readiness with " << got << " read";
    for (;;) {
      char buf[256];
      ssize_t r = us_read(p[0], buf, sizeof(buf));
      if (r < 0) {
        ASSERT_EQ(errno, EAGAIN);
        break;
      }
      got += static_cast<int>(r);
    }
  }
  writer.join();
  EXPECT_EQ(got, kMessages);
  close(ep);
  ASSERT_EQ(us_close(p[0]), 0);
  ASSERT_EQ(us_close(p[1]), 0);
}

// A call made as a thread exits, from the destructor of a thread_local made before the thread's
// first call, still has its thread's record (its claims and hazard pointers are seen).
TEST_F(ThreadsTest, ACallFromAThreadLocalDestructorAtThreadExitWorks) {
  int p[2];
  ASSERT_EQ(us_pipe(p), 0);
  static int write_fd;
  static ssize_t last_words;
  write_fd = p[1];
  last_words = 0;
  struct AtExit {
    ~AtExit() { last_words = us_write(write_fd, "bye", 3); }
    bool armed = false;
  };
  std::thread t([] {
    thread_local AtExit at_exit;  // made first, so destroyed after what the calls below make
    at_exit.armed = true;
    (void)us_write(write_fd, "hi", 2);
  });
  t.join();
  EXPECT_EQ(last_words, 3);
  EXPECT_EQ(ReadSome(p[0], 2), "hi");
  EXPECT_EQ(ReadSome(p[0]), "bye");
  ASSERT_EQ(us_close(p[0]), 0);
  ASSERT_EQ(us_close(p[1]), 0);
}

// One thread makes, uses and closes pipes as fast as it can; others make calls on whatever
// descriptor numbers it may be using, so their lookups race its closes and the numbers' reuse.
TEST_F(ThreadsTest, CallsRacingClosesOfReusedDescriptorsNeitherCrashNorLeak) {
  constexpr int kRounds = 3000;
  std::atomic<bool> done{false};
  std::atomic<int> lowest{-1};
  std::thread maker([&] {
    for (int i = 0; i < kRounds; i++) {
      int p[2];
      ASSERT_EQ(us_pipe(p), 0);
      if (lowest < 0) lowest = std::min(p[0], p[1]);
      SetNonBlocking(p[0], true);
      SetNonBlocking(p[1], true);
      (void)us_write(p[1], "ab", 2);
      (void)us_write(p[0], "cd", 2);
      char buf[4];
      (void)us_read(p[0], buf, sizeof(buf));
      ASSERT_EQ(us_close(p[0]), 0);
      ASSERT_EQ(us_close(p[1]), 0);
    }
    done = true;
  });
  auto poker = [&] {
    while (lowest < 0 && !done) std::this_thread::yield();
    int base = lowest;
    char buf[4];
    strbuf data{sizeof(buf), 0, buf};
    while (!done) {
      for (int fd = base; fd < base + 8; fd++) {
        // Only calls that pass no number on to the system unless it looks like a stream's (the
        // maker's eventfds come and go under these numbers too), and getmsg only on what was
        // non-blocking a moment ago (a stream end made since waits at most for its hangup).
        (void)us_isastream(fd);
        int fl = us_fcntl(fd, F_GETFL);
        if (fl >= 0 && (fl & O_NONBLOCK)) {
          int flags = 0;
          (void)us_getmsg(fd, nullptr, &data, &flags);
          strbuf one{0, 1, const_cast<char*>("z")};
          (void)us_putmsg(fd, nullptr, &one, 0);
        }
      }
    }
  };
  std::thread a(poker), b(poker);
  maker.join();
  a.join();
  b.join();
  EXPECT_EQ(fdtable::Count(), 0);
  EXPECT_EQ(fdtable::Retired(), 0) << "a closed file was left waiting for a call long gone";
}

// A writer sends numbered messages through a pipe while this thread pushes and pops a module on
// both ends: each push or pop waits for the writer to be out of the stream, and nothing is lost,
// duplicated or reordered.
TEST_F(ThreadsTest, PushAndPopWhileAnotherThreadWritesLoseNothing) {
  RegisterTestMods();
  int p[2];
  ASSERT_EQ(us_pipe(p), 0);
  constexpr int kMessages = 20000;
  std::thread writer([&] {
    for (int i = 0; i < kMessages; i++) {
      std::string m = std::to_string(i);
      m.resize(8, ' ');
      ASSERT_EQ(us_write(p[1], m.data(), m.size()), 8);
    }
  });
  std::atomic<bool> stop{false};
  std::thread plumber([&] {
    while (!stop) {
      for (int end : {p[0], p[1]}) {
        ASSERT_EQ(us_ioctl(end, I_PUSH, "ctlmod"), 0) << errno;
      }
      for (int end : {p[0], p[1]}) {
        ASSERT_EQ(us_ioctl(end, I_POP, 0), 0) << errno;
      }
    }
  });
  ASSERT_EQ(us_ioctl(p[0], I_SRDOPT, RMSGN), 0);
  for (int i = 0; i < kMessages; i++) {
    std::string m = std::to_string(i);
    m.resize(8, ' ');
    ASSERT_EQ(ReadSome(p[0], 8), m);
  }
  stop = true;
  writer.join();
  plumber.join();
  ASSERT_EQ(us_close(p[0]), 0);
  ASSERT_EQ(us_close(p[1]), 0);
}

}  // namespace
}  // namespace ustreams::testing
