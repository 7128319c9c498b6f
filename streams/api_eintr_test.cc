// Signals and the blocking calls of the C API. A caught signal whose handler was installed
// without SA_RESTART ends every blocking call with EINTR (read, getmsg, write and putmsg under
// flow control, an I_STR awaiting its ack, I_RECVFD on an empty pipe); with SA_RESTART the call
// goes on waiting and completes when its condition comes (sigaction(2) of illumos: ioctl,
// getmsg, putmsg, read and write on slow devices are restarted). A call that already moved data
// returns the partial count instead of EINTR. close(2) never fails: a signal only cuts its wait
// for data below short (illumos strclose waits with cv_reltimedwait_sig and goes on closing).
//
// The blocked thread is signalled with pthread_kill from another thread, repeatedly until the
// call returns (a signal that comes before the call sleeps only runs the handler).
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "streams/api_test_util.h"
#include "streams/ddi.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::atomic<int> g_caught{0};

class EintrTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_EQ(us_pipe(p_), 0);
    g_caught = 0;
  }
  void TearDown() override {
    if (p_[0] >= 0) us_close(p_[0]);
    if (p_[1] >= 0) us_close(p_[1]);
    if (installed_) sigaction(SIGUSR1, &old_, nullptr);
    ApiTest::TearDown();
  }
  void Handler(bool restart) {
    struct sigaction sa {};
    sa.sa_handler = [](int) { g_caught++; };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    ASSERT_EQ(sigaction(SIGUSR1, &sa, installed_ ? nullptr : &old_), 0);
    installed_ = true;
  }

  // Runs call() on this thread while another thread signals it every 10 ms until it returns.
  // Returns the call's result; *err gets its errno.
  static long Interrupted(const std::function<long()>& call, int* err) {
    pthread_t self = pthread_self();
    std::atomic<bool> done{false};
    std::thread sig([&] {
      while (!done) {
        std::this_thread::sleep_for(milliseconds(10));
        if (!done) pthread_kill(self, SIGUSR1);
      }
    });
    errno = 0;
    long rc = call();
    *err = errno;
    done = true;
    sig.join();
    return rc;
  }

  // Runs call() on this thread; another thread signals it three times, notes whether it has
  // returned, then runs release() (which makes the call's condition come). Returns the call's
  // result; *early tells whether it returned before release().
  static long Restarted(const std::function<long()>& call, const std::function<void()>& release,
                        bool* early, int* err) {
    pthread_t self = pthread_self();
    std::atomic<bool> returned{false};
    std::atomic<bool> was_early{false};
    std::thread sig([&] {
      for (int i = 0; i < 3; i++) {
        std::this_thread::sleep_for(milliseconds(15));
        pthread_kill(self, SIGUSR1);
      }
      std::this_thread::sleep_for(milliseconds(15));
      was_early = returned.load();
      release();
    });
    errno = 0;
    long rc = call();
    *err = errno;
    returned = true;
    sig.join();
    *early = was_early;
    return rc;
  }

  // Fills the pipe from p_[1] toward p_[0] until flow control stops it; p_[1] stays blocking.
  void FillPipe() {
    SetNonBlocking(p_[1], true);
    std::string chunk(4096, 'f');
    while (us_write(p_[1], chunk.data(), chunk.size()) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);
    SetNonBlocking(p_[1], false);
  }
  // Reads everything queued at p_[0] (from another thread: a release).
  void DrainPipe() {
    SetNonBlocking(p_[0], true);
    std::string buf(65536, '\0');
    while (us_read(p_[0], buf.data(), buf.size()) > 0) {
    }
  }

  // The handler ran while the call waited (at least once: TSan runs it once for signals that
  // came together).
  static void ExpectCaught() { EXPECT_GE(g_caught.load(), 1); }

  int p_[2] = {-1, -1};
  bool installed_ = false;
  struct sigaction old_ {};
};

// ---- without SA_RESTART: EINTR ----

TEST_F(EintrTest, GetmsgOnAnEmptyStream) {
  Handler(false);
  char buf[16];
  strbuf d{sizeof(buf), 0, buf};
  int flags = 0, err;
  EXPECT_EQ(Interrupted([&] { return us_getmsg(p_[0], nullptr, &d, &flags); }, &err), -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_GT(g_caught.load(), 0);
  WriteAll(p_[1], "after");  // the stream is as it was
  EXPECT_EQ(ReadSome(p_[0]), "after");
}

TEST_F(EintrTest, WriteBlockedByFlowControl) {
  Handler(false);
  FillPipe();
  int err;
  EXPECT_EQ(Interrupted([&] { return us_write(p_[1], "x", 1); }, &err), -1);
  EXPECT_EQ(err, EINTR);
}

TEST_F(EintrTest, PutmsgBlockedByFlowControl) {
  Handler(false);
  FillPipe();
  strbuf c{0, 1, const_cast<char*>("c")};
  int err;
  EXPECT_EQ(Interrupted([&] { return us_putmsg(p_[1], &c, nullptr, 0); }, &err), -1);
  EXPECT_EQ(err, EINTR);
  // A high-priority message never waits for flow control.
  EXPECT_EQ(us_putmsg(p_[1], &c, nullptr, RS_HIPRI), 0);
}

TEST_F(EintrTest, StrAwaitingAnAckThatNeverComes) {
  Handler(false);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  strioctl sio{CTL_IGNORE, INFTIM, 0, nullptr};
  int err;
  EXPECT_EQ(Interrupted([&] { return us_ioctl(p_[0], I_STR, &sio); }, &err), -1);
  EXPECT_EQ(err, EINTR);
  // The ioctl slot was given back: the next I_STR goes through.
  char data[4] = "abc";
  sio = strioctl{CTL_ECHO, 0, 3, data};
  EXPECT_EQ(us_ioctl(p_[0], I_STR, &sio), 3);
}

TEST_F(EintrTest, StrWaitingForTheIoctlBeforeIt) {
  // One ioctl at a time: a second I_STR waits (up to STRTIMOUT) for the first to finish.
  Handler(false);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  std::atomic<int> first_errno{0};
  (void)TakeCtlIgnored();
  std::thread first([&] {
    strioctl never{CTL_IGNORE, INFTIM, 0, nullptr};
    if (us_ioctl(p_[0], I_STR, &never) < 0) first_errno = errno;
  });
  while (TakeCtlIgnored() == 0) std::this_thread::sleep_for(milliseconds(1));  // in flight
  char data[4] = "abc";
  strioctl sio{CTL_ECHO, 0, 3, data};
  int err;
  long rc = Interrupted([&] { return us_ioctl(p_[0], I_STR, &sio); }, &err);
  // The first never ends by itself: cancel it.
  for (int i = 0; i < 5000 && first_errno == 0; i++) {
    fdtable::Lookup(p_[0])->head()->CancelWaits();
    std::this_thread::sleep_for(milliseconds(1));
  }
  first.join();
  EXPECT_EQ(first_errno.load(), EINTR);
  EXPECT_EQ(rc, -1);
  EXPECT_EQ(err, EINTR);
}

TEST_F(EintrTest, StrWithATimeout) {
  Handler(false);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  strioctl sio{CTL_IGNORE, 0, 0, nullptr};  // the default timeout, 15 s
  int err;
  auto t0 = Clock::now();
  EXPECT_EQ(Interrupted([&] { return us_ioctl(p_[0], I_STR, &sio); }, &err), -1);
  EXPECT_EQ(err, EINTR);  // not ETIME
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(STRTIMOUT));
}

TEST_F(EintrTest, RecvfdOnAnEmptyPipe) {
  Handler(false);
  strrecvfd rf{};
  int err;
  EXPECT_EQ(Interrupted([&] { return us_ioctl(p_[0], I_RECVFD, &rf); }, &err), -1);
  EXPECT_EQ(err, EINTR);
}

TEST_F(EintrTest, ReadThatCopiedDataReturnsItsCount) {
  // With STRDELIM a read that copied part of a record waits for the rest; a signal then ends
  // it with what it has (read(2): EINTR only before any data was transferred).
  Handler(false);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  stroptions so{};
  so.so_flags = SO_DELIM;
  SendUp(p_[0], M_SETOPTS, std::string(reinterpret_cast<const char*>(&so), sizeof(so)));
  SendUp(p_[0], M_DATA, "abc");
  char buf[16];
  int err;
  EXPECT_EQ(Interrupted([&] { return us_read(p_[0], buf, sizeof(buf)); }, &err), 3);
  EXPECT_EQ(std::string(buf, 3), "abc");
}

TEST_F(EintrTest, WriteThatSentAPacketReturnsItsCount) {
  // 100000 bytes go in packets of strmsgsz (65536). The first fills the pipe; the write then
  // waits to send the second, and a signal ends it with the first one's count.
  Handler(false);
  std::string big(100000, 'b');
  int err;
  EXPECT_EQ(Interrupted([&] { return us_write(p_[1], big.data(), big.size()); }, &err),
            kStrMsgSz);
  int n = -1;
  EXPECT_EQ(us_ioctl(p_[0], I_NREAD, &n), 1);
  EXPECT_EQ(n, kStrMsgSz);
}

TEST_F(EintrTest, CloseDrainingIsCutShortButSucceeds) {
  Handler(false);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "holdmod"), 0);
  WriteAll(p_[0], "held");
  int ms = 600000;
  ASSERT_EQ(us_ioctl(p_[0], I_SETCLTIME, &ms), 0);
  int err;
  auto t0 = Clock::now();
  EXPECT_EQ(Interrupted([&] { return us_close(p_[0]); }, &err), 0);
  EXPECT_LT(Clock::now() - t0, milliseconds(ms));
  p_[0] = -1;
  EXPECT_EQ(ReadSome(p_[1]), "");  // closed, the held data discarded
}

// ---- with SA_RESTART: the call waits on ----

TEST_F(EintrTest, RestartedReadCompletesWhenDataComes) {
  Handler(true);
  char buf[16];
  bool early;
  int err;
  long rc = Restarted([&] { return us_read(p_[0], buf, sizeof(buf)); },
                      [&] { WriteAll(p_[1], "data"); }, &early, &err);
  EXPECT_FALSE(early);
  EXPECT_EQ(rc, 4) << strerror(err);
  ExpectCaught();
}

TEST_F(EintrTest, RestartedGetmsgCompletesWhenAMessageComes) {
  Handler(true);
  char cb[16], db[16];
  strbuf c{sizeof(cb), 0, cb}, d{sizeof(db), 0, db};
  int flags = 0;
  bool early;
  int err;
  long rc = Restarted([&] { return us_getmsg(p_[0], &c, &d, &flags); },
                      [&] {
                        strbuf pc{0, 3, const_cast<char*>("ctl")};
                        EXPECT_EQ(us_putmsg(p_[1], &pc, nullptr, 0), 0);
                      },
                      &early, &err);
  EXPECT_FALSE(early);
  EXPECT_EQ(rc, 0) << strerror(err);
  EXPECT_EQ(std::string(cb, static_cast<size_t>(c.len)), "ctl");
  ExpectCaught();
}

TEST_F(EintrTest, RestartedWriteCompletesWhenTheReaderDrains) {
  Handler(true);
  FillPipe();
  bool early;
  int err;
  long rc = Restarted([&] { return us_write(p_[1], "x", 1); }, [&] { DrainPipe(); }, &early,
                      &err);
  EXPECT_FALSE(early);
  EXPECT_EQ(rc, 1) << strerror(err);
  ExpectCaught();
}

TEST_F(EintrTest, RestartedPutmsgCompletesWhenTheReaderDrains) {
  Handler(true);
  FillPipe();
  strbuf c{0, 1, const_cast<char*>("c")};
  bool early;
  int err;
  long rc = Restarted([&] { return us_putmsg(p_[1], &c, nullptr, 0); }, [&] { DrainPipe(); },
                      &early, &err);
  EXPECT_FALSE(early);
  EXPECT_EQ(rc, 0) << strerror(err);
  ExpectCaught();
}

TEST_F(EintrTest, RestartedStrCompletesWhenTheAckComes) {
  Handler(true);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  int delay = 300;  // the ack comes after the signals
  strioctl sio{CTL_DELAY_ACK, INFTIM, sizeof(delay), reinterpret_cast<char*>(&delay)};
  bool early;
  int err;
  long rc = Restarted([&] { return us_ioctl(p_[0], I_STR, &sio); }, [] {}, &early, &err);
  EXPECT_FALSE(early);
  EXPECT_EQ(rc, delay) << strerror(err);
  ExpectCaught();
}

// illumos restarts an interrupted ioctl(2) when the handler has SA_RESTART, whatever the
// I_STR's timeout (sigaction(2)); the restarted I_STR waits afresh for an ack. (A futex wait
// with a timeout is never restarted by Linux, so the head's deadlines are scheduler timers.)
TEST_F(EintrTest, RestartedStrWithATimeoutCompletesWhenTheAckComes) {
  Handler(true);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "ctlmod"), 0);
  int delay = 300;
  strioctl sio{CTL_DELAY_ACK, 0, sizeof(delay), reinterpret_cast<char*>(&delay)};
  bool early;
  int err;
  long rc = Restarted([&] { return us_ioctl(p_[0], I_STR, &sio); }, [] {}, &early, &err);
  EXPECT_FALSE(early);
  EXPECT_EQ(rc, delay) << strerror(err);
}

TEST_F(EintrTest, RestartedRecvfdCompletesWhenADescriptorComes) {
  Handler(true);
  strrecvfd rf{};
  bool early;
  int err;
  long rc = Restarted([&] { return us_ioctl(p_[0], I_RECVFD, &rf); },
                      [&] { EXPECT_EQ(us_ioctl(p_[1], I_SENDFD, p_[1]), 0); }, &early, &err);
  EXPECT_FALSE(early);
  ASSERT_EQ(rc, 0) << strerror(err);
  EXPECT_EQ(us_isastream(rf.fd), 1);
  EXPECT_EQ(us_close(rf.fd), 0);
  ExpectCaught();
}

TEST_F(EintrTest, RestartedCloseStillEndsItsWaitEarly) {
  // SA_RESTART restarts system calls that fail with EINTR; close(2) does not fail, it ends
  // its wait for the data below and goes on (illumos strclose), whatever the handler's flags.
  Handler(true);
  ASSERT_EQ(us_ioctl(p_[0], I_PUSH, "holdmod"), 0);
  WriteAll(p_[0], "held");
  int ms = 600000;
  ASSERT_EQ(us_ioctl(p_[0], I_SETCLTIME, &ms), 0);
  int err;
  auto t0 = Clock::now();
  EXPECT_EQ(Interrupted([&] { return us_close(p_[0]); }, &err), 0);
  EXPECT_LT(Clock::now() - t0, milliseconds(ms));
  p_[0] = -1;
}

}  // namespace
}  // namespace ustreams::testing
