// poll(2) and SIGPOLL on streams through the C API: every event bit, ordinary descriptors mixed
// with stream descriptors, the descriptor's own readiness in an application's poll loop, and
// I_SETSIG signals (SIGPOLL, SIGURG for S_BANDURG), EINTR.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "streams/api_test_util.h"
#include "streams/ddi.h"

namespace ustreams::testing {
namespace {

class PollTest : public ApiTest {
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
  short Revents(int fd, short events) {
    struct pollfd p{fd, events, 0};
    int n = us_poll(&p, 1, 0);
    EXPECT_GE(n, 0);
    return p.revents;
  }
  int fd_[2];
};

TEST_F(PollTest, ReadEventsFollowTheFirstMessage) {
  const short kAll = POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI | POLLOUT | POLLWRBAND;
  EXPECT_EQ(Revents(fd_[0], kAll), POLLOUT | POLLWRBAND);
  strbuf d{0, 1, const_cast<char*>("b")};
  ASSERT_EQ(us_putpmsg(fd_[1], nullptr, &d, 5, MSG_BAND), 0);
  EXPECT_EQ(Revents(fd_[0], POLLIN | POLLRDNORM | POLLRDBAND), POLLIN | POLLRDBAND);
  ASSERT_EQ(us_ioctl(fd_[0], I_FLUSH, FLUSHR), 0);
  WriteAll(fd_[1], "n");
  EXPECT_EQ(Revents(fd_[0], POLLIN | POLLRDNORM | POLLRDBAND), POLLIN | POLLRDNORM);
  strbuf c{0, 1, const_cast<char*>("c")};
  ASSERT_EQ(us_putmsg(fd_[1], &c, nullptr, RS_HIPRI), 0);
  // A high-priority message at the head hides the rest: POLLPRI only.
  EXPECT_EQ(Revents(fd_[0], POLLIN | POLLRDNORM | POLLPRI), POLLPRI);
}

TEST_F(PollTest, ZeroLengthMessagesAreReadable) {
  ASSERT_EQ(us_ioctl(fd_[1], I_SWROPT, SNDZERO), 0);
  ASSERT_EQ(us_write(fd_[1], "", 0), 0);
  EXPECT_EQ(Revents(fd_[0], POLLIN), POLLIN);
}

TEST_F(PollTest, FlowControlTurnsPolloutOffAndDrainingTurnsItBackOn) {
  SetNonBlocking(fd_[1], true);
  std::string chunk(1024, 'x');
  while (us_write(fd_[1], chunk.data(), chunk.size()) > 0) {
  }
  EXPECT_EQ(Revents(fd_[1], POLLOUT), 0);
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    SetNonBlocking(fd_[0], true);
    while (ReadSome(fd_[0], 65536).rfind("<errno", 0) != 0) {
    }
  });
  struct pollfd p{fd_[1], POLLOUT, 0};
  EXPECT_EQ(us_poll(&p, 1, 5000), 1);
  EXPECT_EQ(p.revents, POLLOUT);
  reader.join();
}

TEST_F(PollTest, ErrorsAndHangups) {
  ASSERT_EQ(us_ioctl(fd_[0], I_PUSH, "ctlmod"), 0);
  SendUp(fd_[0], M_ERROR, std::string{static_cast<char>(EIO), static_cast<char>(NOERROR)});
  EXPECT_EQ(Revents(fd_[0], POLLIN), POLLERR);  // a read error, read events asked
  EXPECT_EQ(Revents(fd_[0], POLLOUT), POLLOUT);  // not asked about the read side
  us_close(fd_[0]);
  us_close(fd_[1]);
  ASSERT_EQ(us_pipe(fd_), 0);
  ASSERT_EQ(us_close(fd_[1]), 0);
  EXPECT_EQ(Revents(fd_[0], POLLIN | POLLOUT), POLLHUP);  // never POLLOUT with POLLHUP
  fd_[1] = us_open("/dev/null", O_RDONLY);
}

TEST_F(PollTest, MixesStreamAndOrdinaryDescriptors) {
  int k[2];
  ASSERT_EQ(pipe(k), 0);
  struct pollfd p[3] = {{fd_[0], POLLIN, 0}, {k[0], POLLIN, 0}, {-1, POLLIN, 0}};
  EXPECT_EQ(us_poll(p, 3, 0), 0);
  ASSERT_EQ(write(k[1], "k", 1), 1);
  EXPECT_EQ(us_poll(p, 3, 1000), 1);
  EXPECT_EQ(p[0].revents, 0);
  EXPECT_EQ(p[1].revents, POLLIN);
  EXPECT_EQ(p[2].revents, 0);  // negative descriptors are ignored
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    WriteAll(fd_[1], "s");
  });
  char c;
  ASSERT_EQ(read(k[0], &c, 1), 1);
  EXPECT_EQ(us_poll(p, 3, 5000), 1);
  EXPECT_EQ(p[0].revents, POLLIN);
  writer.join();
  close(k[0]);
  EXPECT_EQ(us_poll(p, 2, 0), 2);
  EXPECT_EQ(p[0].revents, POLLIN);    // "s" is still there
  EXPECT_EQ(p[1].revents, POLLNVAL);  // a closed number
  close(k[1]);
}

TEST_F(PollTest, TimeoutAndEintr) {
  struct pollfd p{fd_[0], POLLIN, 0};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(us_poll(&p, 1, 30), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(25));
  struct sigaction sa {}, old{};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  pthread_t self = pthread_self();
  std::thread sig([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pthread_kill(self, SIGUSR1);
  });
  EXPECT_ERRNO(us_poll(&p, 1, 5000), EINTR);
  sig.join();
  sigaction(SIGUSR1, &old, nullptr);
}

TEST_F(PollTest, TheDescriptorItselfWorksInAnEpollLoop) {
  int ep = epoll_create1(0);
  ASSERT_GE(ep, 0);
  struct epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd_[0];
  ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, fd_[0], &ev), 0);
  SetNonBlocking(fd_[0], true);
  struct epoll_event out;
  EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    WriteAll(fd_[1], "e1");
  });
  ASSERT_EQ(epoll_wait(ep, &out, 1, 5000), 1);
  EXPECT_EQ(out.data.fd, fd_[0]);
  writer.join();
  // Drain until EAGAIN; the descriptor then stops being readable.
  EXPECT_EQ(ReadSome(fd_[0]), "e1");
  char c;
  EXPECT_ERRNO(us_read(fd_[0], &c, 1), EAGAIN);
  EXPECT_EQ(epoll_wait(ep, &out, 1, 0), 0);
  close(ep);
}

std::atomic<int> g_sigpoll{0};
std::atomic<int> g_sigurg{0};

TEST_F(PollTest, SetsigRaisesSigpollAndSigurg) {
  struct sigaction sa {}, old_poll{}, old_urg{};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = [](int) { g_sigpoll++; };
  ASSERT_EQ(sigaction(SIGPOLL, &sa, &old_poll), 0);
  sa.sa_handler = [](int) { g_sigurg++; };
  ASSERT_EQ(sigaction(SIGURG, &sa, &old_urg), 0);
  g_sigpoll = g_sigurg = 0;
  ASSERT_EQ(us_ioctl(fd_[0], I_SETSIG, S_RDNORM), 0);
  WriteAll(fd_[1], "x");
  for (int i = 0; i < 1000 && g_sigpoll == 0; i++) usleep(1000);
  EXPECT_EQ(g_sigpoll.load(), 1);
  // Banded data with S_BANDURG: SIGURG instead of SIGPOLL.
  ASSERT_EQ(us_ioctl(fd_[0], I_FLUSH, FLUSHR), 0);
  ASSERT_EQ(us_ioctl(fd_[0], I_SETSIG, S_RDBAND | S_BANDURG), 0);
  strbuf d{0, 1, const_cast<char*>("u")};
  ASSERT_EQ(us_putpmsg(fd_[1], nullptr, &d, 1, MSG_BAND), 0);
  for (int i = 0; i < 1000 && g_sigurg == 0; i++) usleep(1000);
  EXPECT_EQ(g_sigurg.load(), 1);
  EXPECT_EQ(g_sigpoll.load(), 1);
  // Closing the descriptor drops the registration.
  ASSERT_EQ(us_ioctl(fd_[0], I_SETSIG, 0), 0);
  sigaction(SIGPOLL, &old_poll, nullptr);
  sigaction(SIGURG, &old_urg, nullptr);
}

TEST_F(PollTest, BlockingReadReturnsEintrOnASignalWithoutSaRestart) {
  struct sigaction sa {}, old{};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  pthread_t self = pthread_self();
  std::thread sig([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pthread_kill(self, SIGUSR2);
  });
  char c;
  EXPECT_ERRNO(us_read(fd_[0], &c, 1), EINTR);
  sig.join();
  // With SA_RESTART the read goes on until data comes.
  sa.sa_flags = SA_RESTART;
  ASSERT_EQ(sigaction(SIGUSR2, &sa, nullptr), 0);
  std::thread sig2([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    pthread_kill(self, SIGUSR2);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    WriteAll(fd_[1], "r");
  });
  EXPECT_EQ(us_read(fd_[0], &c, 1), 1);
  sig2.join();
  sigaction(SIGUSR2, &old, nullptr);
}

TEST_F(PollTest, InvalidAddressForTheArrayIsEfault) {
  EXPECT_ERRNO(us_poll(reinterpret_cast<pollfd*>(-1), 1, 0), EFAULT);
  EXPECT_ERRNO(us_poll(nullptr, 1, 0), EFAULT);
  EXPECT_EQ(us_poll(nullptr, 0, 0), 0);  // nothing to look at: no fault
}

}  // namespace
}  // namespace ustreams::testing
