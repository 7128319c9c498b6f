// The stream head's hooks for an embedder (head.h, "embedders"), on streams an application made
// through the C API: a HeadWatcher hears readiness (what would wake a poller) and the signals
// the head would raise — I_SETSIG's SIGPOLL/SIGURG and the signals of M_SIG/M_PCSIG — instead
// of a real signal; CancelWaits() ends the calls blocked on the stream with EINTR.
//
// When signals are due: illumos-head-spec §5.2 (M_SIG: queued behind data and delivered when a
// read or getmsg reaches it, at once on an empty queue), §5.3 (M_PCSIG: never queued; SIGPOLL
// goes to S_MSG registrations, another signal only to a controlling terminal's process group),
// §9 (the S_* events).
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "streams/api_test_util.h"
#include "streams/ddi.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

using std::chrono::milliseconds;

// What a watcher heard. Callbacks come from any thread.
class Heard {
 public:
  static void OnReady(void* arg, short events) {
    auto* h = static_cast<Heard*>(arg);
    std::lock_guard<std::mutex> l(h->mu_);
    h->ready_ |= events;
  }
  static void OnSignal(void* arg, int sig, int events) {
    auto* h = static_cast<Heard*>(arg);
    std::lock_guard<std::mutex> l(h->mu_);
    h->signals_.emplace_back(sig, events);
  }
  HeadWatcher Watcher(bool readiness, bool signals) {
    HeadWatcher w;
    if (readiness) w.readiness = &Heard::OnReady;
    if (signals) w.signal = &Heard::OnSignal;
    w.arg = this;
    return w;
  }
  short TakeReady() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(ready_, 0);
  }
  std::vector<std::pair<int, int>> TakeSignals() {
    std::lock_guard<std::mutex> l(mu_);
    return std::exchange(signals_, {});
  }
  // Waits up to 5 s for the first signal (for deliveries from another thread).
  std::vector<std::pair<int, int>> AwaitSignals() {
    for (int i = 0; i < 5000; i++) {
      {
        std::lock_guard<std::mutex> l(mu_);
        if (!signals_.empty()) break;
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
    return TakeSignals();
  }

 private:
  std::mutex mu_;
  short ready_ = 0;
  std::vector<std::pair<int, int>> signals_;
};

using Sigs = std::vector<std::pair<int, int>>;

std::atomic<int> g_real_sigpoll{0};
std::atomic<int> g_real_sigusr1{0};

class EmbedTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_EQ(us_pipe(p_), 0);
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = [](int) { g_real_sigpoll++; };
    ASSERT_EQ(sigaction(SIGPOLL, &sa, &old_poll_), 0);
    sa.sa_handler = [](int) { g_real_sigusr1++; };
    ASSERT_EQ(sigaction(SIGUSR1, &sa, &old_usr1_), 0);
    g_real_sigpoll = g_real_sigusr1 = 0;
  }
  void TearDown() override {
    for (int fd : p_) {
      if (fd >= 0) Head(fd)->SetWatcher(HeadWatcher{});  // before heard_ goes
    }
    for (int fd : p_) {
      if (fd >= 0) us_close(fd);
    }
    sigaction(SIGPOLL, &old_poll_, nullptr);
    sigaction(SIGUSR1, &old_usr1_, nullptr);
    ApiTest::TearDown();
  }
  static StreamHead* Head(int fd) { return fdtable::Lookup(fd)->head(); }
  void Watch(int fd, bool readiness = true, bool signals = true) {
    Head(fd)->SetWatcher(heard_.Watcher(readiness, signals));
  }
  static void SendSig(int fd, unsigned char type, int sig) {
    SendUp(fd, type, std::string(1, static_cast<char>(sig)));
  }

  int p_[2] = {-1, -1};
  Heard heard_;
  struct sigaction old_poll_ {}, old_usr1_ {};
};

// ---- readiness ----

TEST_F(EmbedTest, ReadinessIsHeardWhenDataArrives) {
  Watch(p_[0]);
  EXPECT_EQ(heard_.TakeReady(), 0);
  WriteAll(p_[1], "data");
  EXPECT_EQ(heard_.TakeReady() & (POLLIN | POLLRDNORM), POLLIN | POLLRDNORM);
  strbuf d{0, 1, const_cast<char*>("b")};
  ASSERT_EQ(us_putpmsg(p_[1], nullptr, &d, 3, MSG_BAND), 0);
  EXPECT_EQ(heard_.TakeReady() & (POLLIN | POLLRDBAND), POLLIN | POLLRDBAND);
  strbuf c{0, 1, const_cast<char*>("c")};
  ASSERT_EQ(us_putmsg(p_[1], &c, nullptr, RS_HIPRI), 0);
  EXPECT_EQ(heard_.TakeReady() & POLLPRI, POLLPRI);
}

TEST_F(EmbedTest, ReadinessIsHeardWhenFlowControlLifts) {
  SetNonBlocking(p_[1], true);
  std::string chunk(4096, 'f');
  while (us_write(p_[1], chunk.data(), chunk.size()) > 0) {
  }
  ASSERT_EQ(errno, EAGAIN);
  Watch(p_[1]);
  SetNonBlocking(p_[0], true);
  while (ReadSome(p_[0], 65536)[0] != '<') {
  }
  EXPECT_EQ(heard_.TakeReady() & POLLOUT, POLLOUT);
}

TEST_F(EmbedTest, ReadinessIsHeardOnErrorAndHangup) {
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  Watch(p_[0]);
  SendUp(p_[0], M_ERROR, std::string{static_cast<char>(EIO), static_cast<char>(NOERROR)});
  EXPECT_EQ(heard_.TakeReady() & POLLERR, POLLERR);
  Watch(p_[1]);
  ASSERT_EQ(us_close(p_[0]), 0);
  p_[0] = -1;
  EXPECT_EQ(heard_.TakeReady() & POLLHUP, POLLHUP);
}

// ---- signals ----

TEST_F(EmbedTest, SetsigSignalsGoToTheWatcherInsteadOfTheProcess) {
  Watch(p_[0], false, true);
  ASSERT_EQ(us_ioctl(p_[0], I_SETSIG, S_RDNORM | S_HIPRI | S_RDBAND | S_BANDURG), 0);
  WriteAll(p_[1], "data");
  EXPECT_EQ(heard_.AwaitSignals(), (Sigs{{SIGPOLL, S_RDNORM}}));
  ASSERT_EQ(us_ioctl(p_[0], I_FLUSH, FLUSHR), 0);
  strbuf c{0, 1, const_cast<char*>("c")};
  ASSERT_EQ(us_putmsg(p_[1], &c, nullptr, RS_HIPRI), 0);
  EXPECT_EQ(heard_.AwaitSignals(), (Sigs{{SIGPOLL, S_HIPRI}}));
  ASSERT_EQ(us_ioctl(p_[0], I_FLUSH, FLUSHR), 0);
  strbuf d{0, 1, const_cast<char*>("b")};
  ASSERT_EQ(us_putpmsg(p_[1], nullptr, &d, 1, MSG_BAND), 0);
  EXPECT_EQ(heard_.AwaitSignals(), (Sigs{{SIGURG, S_RDBAND}}));  // S_BANDURG: SIGURG
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(g_real_sigpoll.load(), 0) << "a real SIGPOLL was raised too";
}

// getmsg that takes the control part of a high-priority message and leaves its data (now an
// ordinary message at the front) raises S_INPUT for it, as illumos strgetmsg's tail does.
TEST_F(EmbedTest, DataLeftByAHighPriorityGetmsgRaisesInput) {
  Watch(p_[0], false, true);
  ASSERT_EQ(us_ioctl(p_[0], I_SETSIG, S_INPUT | S_RDNORM), 0);
  strbuf c{0, 1, const_cast<char*>("c")}, d{0, 4, const_cast<char*>("dddd")};
  ASSERT_EQ(us_putmsg(p_[1], &c, &d, RS_HIPRI), 0);
  EXPECT_EQ(heard_.TakeSignals(), Sigs{});  // a high-priority message is no S_INPUT
  char cb[8];
  strbuf ctl{8, 0, cb};
  int flags = RS_HIPRI;
  ASSERT_EQ(us_getmsg(p_[0], &ctl, nullptr, &flags), MOREDATA);
  EXPECT_EQ(heard_.AwaitSignals(), (Sigs{{SIGPOLL, S_INPUT | S_RDNORM}}));
  EXPECT_EQ(ReadSome(p_[0]), "dddd");
}

TEST_F(EmbedTest, PcsigIsDeliveredAtOnceEvenBehindData) {
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  Watch(p_[0], false, true);
  ASSERT_EQ(us_ioctl(p_[0], I_SETSIG, S_MSG), 0);
  SendUp(p_[0], M_DATA, "queued");
  SendSig(p_[0], M_PCSIG, SIGPOLL);  // SIGPOLL: the S_MSG event of the registrations
  EXPECT_EQ(heard_.AwaitSignals(), (Sigs{{SIGPOLL, S_MSG}}));
  SendSig(p_[0], M_PCSIG, SIGUSR1);  // any other: the embedder hears it as it is
  EXPECT_EQ(heard_.AwaitSignals(), (Sigs{{SIGUSR1, 0}}));
  int n = -1;
  EXPECT_EQ(us_ioctl(p_[0], I_NREAD, &n), 1);  // never queued
  EXPECT_EQ(g_real_sigpoll.load(), 0);
  EXPECT_EQ(g_real_sigusr1.load(), 0);
}

TEST_F(EmbedTest, AnMsigBehindDataIsDeliveredWhenAReadReachesIt) {
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  Watch(p_[0], false, true);
  ASSERT_EQ(us_ioctl(p_[0], I_SRDOPT, RMSGN), 0);
  SendUp(p_[0], M_DATA, "abc");
  SendSig(p_[0], M_SIG, SIGUSR1);
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(heard_.TakeSignals(), Sigs{}) << "delivered before a read reached it";
  int n = -1;
  EXPECT_EQ(us_ioctl(p_[0], I_NREAD, &n), 2);  // it waits on the queue
  EXPECT_EQ(ReadSome(p_[0], 2), "ab");  // "c" is still ahead of it
  EXPECT_EQ(heard_.TakeSignals(), Sigs{});
  EXPECT_EQ(ReadSome(p_[0], 2), "c");  // the read that takes the last byte delivers it
  EXPECT_EQ(heard_.TakeSignals(), (Sigs{{SIGUSR1, 0}}));
  EXPECT_EQ(us_ioctl(p_[0], I_NREAD, &n), 0);
}

TEST_F(EmbedTest, AnMsigReachedByGetmsgIsDeliveredAndAnMsigOnAnEmptyQueueAtOnce) {
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  Watch(p_[0], false, true);
  ASSERT_EQ(us_ioctl(p_[0], I_SETSIG, S_MSG), 0);
  SendSig(p_[0], M_SIG, SIGUSR1);  // nothing queued: at once
  EXPECT_EQ(heard_.AwaitSignals(), (Sigs{{SIGUSR1, 0}}));
  SendUp(p_[0], M_PROTO, "ctl");
  SendSig(p_[0], M_SIG, SIGPOLL);
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(heard_.TakeSignals(), Sigs{});
  char cb[8];
  strbuf c{sizeof(cb), 0, cb};
  int flags = 0;
  ASSERT_EQ(us_getmsg(p_[0], &c, nullptr, &flags), 0);
  EXPECT_EQ(heard_.TakeSignals(), (Sigs{{SIGPOLL, S_MSG}}));
}

TEST_F(EmbedTest, WithoutAWatcherOnlyATerminalRaisesOtherSignals) {
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  SendSig(p_[0], M_PCSIG, SIGUSR1);
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(g_real_sigusr1.load(), 0) << "not a controlling terminal: nobody to signal";
  stroptions so{};
  so.so_flags = SO_ISTTY;
  SendUp(p_[0], M_SETOPTS, std::string(reinterpret_cast<const char*>(&so), sizeof(so)));
  SendSig(p_[0], M_PCSIG, SIGUSR1);
  for (int i = 0; i < 5000 && g_real_sigusr1 == 0; i++) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(g_real_sigusr1.load(), 1);
}

// ---- CancelWaits ----

class CancelTest : public EmbedTest {
 protected:
  // Runs call() while another thread cancels the waits on fd's stream every 10 ms until it
  // returns (a cancel before the call started waiting does not touch it).
  long Cancelled(int fd, const std::function<long()>& call, int* err) {
    std::atomic<bool> done{false};
    StreamHead* h = Head(fd);
    std::thread canceller([&] {
      while (!done) {
        std::this_thread::sleep_for(milliseconds(10));
        if (!done) h->CancelWaits();
      }
    });
    errno = 0;
    long rc = call();
    *err = errno;
    done = true;
    canceller.join();
    return rc;
  }
};

TEST_F(CancelTest, ABlockedReadEndsWithEintr) {
  char buf[8];
  int err;
  EXPECT_EQ(Cancelled(p_[0], [&] { return us_read(p_[0], buf, sizeof(buf)); }, &err), -1);
  EXPECT_EQ(err, EINTR);
  // Only the calls in flight: a new read waits, or with O_NONBLOCK says EAGAIN.
  SetNonBlocking(p_[0], true);
  EXPECT_ERRNO(us_read(p_[0], buf, sizeof(buf)), EAGAIN);
  WriteAll(p_[1], "ok");
  EXPECT_EQ(ReadSome(p_[0]), "ok");
}

TEST_F(CancelTest, BlockedGetmsgWriteAndStrEndWithEintr) {
  char buf[8];
  strbuf d{sizeof(buf), 0, buf};
  int flags = 0, err;
  EXPECT_EQ(Cancelled(p_[0], [&] { return us_getmsg(p_[0], nullptr, &d, &flags); }, &err), -1);
  EXPECT_EQ(err, EINTR);

  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  strioctl sio{CTL_IGNORE, INFTIM, 0, nullptr};
  EXPECT_EQ(Cancelled(p_[0], [&] { return us_ioctl(p_[0], I_STR, &sio); }, &err), -1);
  EXPECT_EQ(err, EINTR);

  SetNonBlocking(p_[1], true);
  std::string chunk(4096, 'f');
  while (us_write(p_[1], chunk.data(), chunk.size()) > 0) {
  }
  SetNonBlocking(p_[1], false);
  EXPECT_EQ(Cancelled(p_[1], [&] { return us_write(p_[1], "x", 1); }, &err), -1);
  EXPECT_EQ(err, EINTR);
}

// ---- timeouts ----

TEST_F(EmbedTest, ReadAndGetmsgTimeOutWithEtime) {
  Head(p_[0])->SetTimeouts(absl::Milliseconds(20), absl::InfiniteDuration());
  char buf[8];
  EXPECT_ERRNO(us_read(p_[0], buf, sizeof(buf)), ETIME);
  strbuf d{sizeof(buf), 0, buf};
  int flags = 0;
  EXPECT_ERRNO(us_getmsg(p_[0], nullptr, &d, &flags), ETIME);
  // Data that is there is read at once, timeout or not.
  WriteAll(p_[1], "here");
  EXPECT_EQ(ReadSome(p_[0]), "here");
}

TEST_F(EmbedTest, AWriteHeldByFlowControlTimesOutWithEtime) {
  Head(p_[1])->SetTimeouts(absl::InfiniteDuration(), absl::Milliseconds(20));
  SetNonBlocking(p_[1], true);
  std::string chunk(4096, 'f');
  while (us_write(p_[1], chunk.data(), chunk.size()) > 0) {
  }
  SetNonBlocking(p_[1], false);
  EXPECT_ERRNO(us_write(p_[1], "x", 1), ETIME);
  strbuf d{0, 1, const_cast<char*>("x")};
  EXPECT_ERRNO(us_putmsg(p_[1], nullptr, &d, 0), ETIME);
}

}  // namespace
}  // namespace ustreams::testing
