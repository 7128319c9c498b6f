// fork(2) and the library: the child goes on using its copy of every stream, with new scheduler
// threads where its service procedures need them (threads do not survive a fork).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "streams/api_test_util.h"
#include "streams/testing/sample_modules.h"

// ThreadSanitizer refuses threads in the child of a multi-threaded fork unless told otherwise;
// this test is about exactly that.
extern "C" const char* __tsan_default_options() { return "die_after_fork=0"; }

namespace ustreams::testing {
namespace {

class ForkTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    ASSERT_TRUE(RegisterSampleModules(domain().registry()).ok());
  }
};

// In the child: a failed check exits with its line number.
#define CHILD_CHECK(cond) \
  do {                    \
    if (!(cond)) _exit(__LINE__ % 250 + 1); \
  } while (0)

// Waits for the child; one that hangs is killed (and the test fails) rather than hang the test.
int WaitChild(pid_t pid) {
  for (int i = 0; i < 3000; i++) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;  // hung
}

std::string ChildRead(int fd) {
  char buf[64];
  ssize_t n = us_read(fd, buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

TEST_F(ForkTest, TheChildKeepsUsingItsStreamsWithNewWorkerThreads) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  // A module with a service procedure: every message goes through a scheduler thread.
  ASSERT_EQ(us_ioctl(fd[0], I_PUSH, "svcpass"), 0);
  WriteAll(fd[1], "before");
  EXPECT_EQ(ReadSome(fd[0]), "before");  // the workers have started in the parent
  WriteAll(fd[1], "queued at fork");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    CHILD_CHECK(ChildRead(fd[0]) == "queued at fork");
    for (int i = 0; i < 100; i++) {
      std::string m = "child " + std::to_string(i);
      CHILD_CHECK(us_write(fd[1], m.data(), m.size()) == static_cast<ssize_t>(m.size()));
      CHILD_CHECK(ChildRead(fd[0]) == m);
    }
    // New streams, and threads of the child's own.
    int p[2];
    CHILD_CHECK(us_pipe(p) == 0);
    CHILD_CHECK(us_ioctl(p[0], I_PUSH, "svcpass") == 0);
    std::thread t([&] { CHILD_CHECK(us_write(p[1], "thread", 6) == 6); });
    t.join();
    CHILD_CHECK(ChildRead(p[0]) == "thread");
    CHILD_CHECK(us_close(p[0]) == 0 && us_close(p[1]) == 0);
    _exit(0);
  }
  int rc = WaitChild(pid);
  EXPECT_EQ(rc, 0) << (rc < 0 ? "the child hung" : "the child failed near line (or by signal) ")
                   << rc;
  // The parent's copy is its own: the message the child read is still here.
  EXPECT_EQ(ReadSome(fd[0]), "queued at fork");
  WriteAll(fd[1], "after");
  EXPECT_EQ(ReadSome(fd[0]), "after");
  us_close(fd[0]);
  us_close(fd[1]);
}

TEST_F(ForkTest, ForkWhileWorkersAreBusyDoesNotDeadlock) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  ASSERT_EQ(us_ioctl(fd[0], I_PUSH, "svcpass"), 0);
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    std::string m(100, 'x');
    SetNonBlocking(fd[1], true);
    while (!stop) {
      (void)us_write(fd[1], m.data(), m.size());
      char buf[256];
      SetNonBlocking(fd[0], true);
      (void)us_read(fd[0], buf, sizeof(buf));
    }
  });
  for (int i = 0; i < 20; i++) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int p[2];
      CHILD_CHECK(us_pipe(p) == 0);
      CHILD_CHECK(us_ioctl(p[0], I_PUSH, "svcpass") == 0);
      CHILD_CHECK(us_write(p[1], "ok", 2) == 2);
      CHILD_CHECK(ChildRead(p[0]) == "ok");
      _exit(0);
    }
    int rc = WaitChild(pid);
    EXPECT_EQ(rc, 0) << "fork " << i << (rc < 0 ? ": the child hung" : "");
  }
  stop = true;
  traffic.join();
  us_close(fd[0]);
  us_close(fd[1]);
}

}  // namespace
}  // namespace ustreams::testing
