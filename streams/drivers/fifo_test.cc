// The fifo driver through the C API: named FIFOs with the rules of open(2), read(2), write(2),
// close(2) and poll(2) for FIFOs (illumos), plus I_SENDFD looping back to the FIFO itself (LfS
// test-streams fixture P6_3). Tests that need a second thread (blocking opens, a writer blocked
// by flow control) run on the threaded scheduler only: a deterministic one has nobody else to
// wait for.
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "streams/drivers/testing/driver_test.h"
#include "streams/head.h"
#include "streams/scheduler.h"

namespace ustreams::testing {
namespace {

using FifoTest = DriverTest;

// us_open without the fixture's O_RDWR|O_NONBLOCK: -1 and errno on failure.
int OpenFifo(const char* path, int oflag) { return us_open(path, oflag); }

// Non-blocking writes of 4 KiB until the FIFO takes no more (service procedures get a chance
// to run before an EAGAIN is believed). Returns the bytes written.
size_t Fill(DriverTest* t, int fd) {
  const std::string chunk(4096, 'f');
  size_t written = 0;
  for (bool retried = false;;) {
    ssize_t n = us_write(fd, chunk.data(), chunk.size());
    if (n > 0) {
      written += static_cast<size_t>(n);
      retried = false;
      continue;
    }
    EXPECT_EQ(errno, EAGAIN) << strerror(errno);
    if (errno != EAGAIN || retried) return written;
    t->Settle();
    retried = true;
  }
}

short PollNow(int fd, short events) {
  pollfd p{fd, events, 0};
  int n = us_poll(&p, 1, 0);
  EXPECT_GE(n, 0) << strerror(errno);
  return n > 0 ? p.revents : 0;
}

// Catches SIGPIPE (or another signal) for a scope, counting deliveries; no SA_RESTART, so a
// blocking call it interrupts fails with EINTR.
class CatchSignal {
 public:
  explicit CatchSignal(int sig) : sig_(sig) {
    count().store(0);
    struct sigaction sa {};
    sa.sa_handler = [](int) { count().fetch_add(1); };
    sigemptyset(&sa.sa_mask);
    sigaction(sig_, &sa, &old_);
  }
  ~CatchSignal() { sigaction(sig_, &old_, nullptr); }
  int caught() const { return count().load(); }

 private:
  static std::atomic<int>& count() {
    static std::atomic<int> n{0};
    return n;
  }
  int sig_;
  struct sigaction old_ {};
};

// ---- names ----

TEST_P(FifoTest, EveryOpenOfOneNumberSharesOneFifo) {
  int a = OpenFifo("/dev/fifo/3", O_RDWR | O_NONBLOCK);
  int b = OpenFifo("/dev/streams/fifo/3", O_RDWR | O_NONBLOCK);  // the LfS name
  int other = OpenFifo("/dev/fifo/4", O_RDWR | O_NONBLOCK);
  ASSERT_GE(a, 0) << strerror(errno);
  ASSERT_GE(b, 0) << strerror(errno);
  ASSERT_GE(other, 0) << strerror(errno);
  EXPECT_EQ(domain().open_streams(), 2u);
  WriteAll(a, "through fifo 3");
  Settle();
  EXPECT_EQ(ReadSome(other), ErrnoString(EAGAIN));
  EXPECT_EQ(ReadSome(b), "through fifo 3");
  Close(a);
  Close(b);
  Close(other);
}

TEST_P(FifoTest, BareNameIsFifoZeroAndCloneOpensAreRefused) {
  int a = OpenFifo("/dev/fifo", O_RDWR | O_NONBLOCK);
  int b = OpenFifo("/dev/streams/fifo/0", O_RDWR | O_NONBLOCK);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  WriteAll(b, "zero");
  Settle();
  EXPECT_EQ(ReadSome(a), "zero");
  // A FIFO is found by its name; a clone open would make one nobody else could find.
  EXPECT_ERRNO(us_open("/dev/clone/fifo", O_RDWR | O_NONBLOCK), ENXIO);
  Close(a);
  Close(b);
}

// ---- data ----

TEST_P(FifoTest, ReadWriteOpenLoopsBackWithBandsOrderAndHighPriority) {
  int fd = Open("/dev/fifo/0");  // LfS fixture P6
  const std::string c1 = "ctl-1", d1 = "data-1", d2 = "band-2", hi = "urgent";
  ASSERT_EQ(PutP(fd, &c1, &d1, 0, MSG_BAND), 0);
  ASSERT_EQ(PutP(fd, nullptr, &d2, 2, MSG_BAND), 0);
  ASSERT_EQ(PutP(fd, &hi, nullptr, 0, MSG_HIPRI), 0);
  Settle();
  Msg m = GetP(fd);
  EXPECT_EQ(m.flags, MSG_HIPRI);
  EXPECT_EQ(m.ctl, hi);
  m = GetP(fd);
  EXPECT_EQ(m.band, 2);
  EXPECT_EQ(m.data, d2);
  m = GetP(fd);
  EXPECT_EQ(m.band, 0);
  EXPECT_EQ(m.ctl, c1);
  EXPECT_EQ(m.data, d1);
  EXPECT_EQ(GetP(fd).err, EAGAIN);
  Close(fd);
}

TEST_P(FifoTest, ReaderReadsWhatWritersWrite) {
  int r = OpenFifo("/dev/fifo/1", O_RDONLY | O_NONBLOCK);  // returns at once, no writer needed
  ASSERT_GE(r, 0) << strerror(errno);
  int w1 = OpenFifo("/dev/fifo/1", O_WRONLY | O_NONBLOCK);
  int w2 = OpenFifo("/dev/fifo/1", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(w1, 0) << strerror(errno);
  ASSERT_GE(w2, 0) << strerror(errno);
  WriteAll(w1, "one ");
  WriteAll(w2, "two");
  Settle();
  EXPECT_EQ(ReadSome(r), "one two");
  // Each descriptor only does what it was opened for.
  char c;
  EXPECT_ERRNO(us_read(w1, &c, 1), EBADF);
  EXPECT_ERRNO(us_write(r, "x", 1), EBADF);
  Close(w1);
  Close(w2);
  Close(r);
}

TEST_P(FifoTest, ZeroByteWriteSendsNothingUnlessSndzero) {
  int fd = Open("/dev/fifo/0");
  int opt = -1;
  ASSERT_EQ(us_ioctl(fd, I_GWROPT, &opt), 0);
  EXPECT_EQ(opt, SNDPIPE);  // a FIFO raises SIGPIPE from birth, as a pipe does
  EXPECT_EQ(us_write(fd, "", 0), 0);
  Settle();
  EXPECT_EQ(ReadSome(fd), ErrnoString(EAGAIN));  // LfS test-fifo 3.3.13
  ASSERT_EQ(us_ioctl(fd, I_SWROPT, SNDZERO | SNDPIPE), 0);
  EXPECT_EQ(us_write(fd, "", 0), 0);
  Settle();
  EXPECT_EQ(ReadSome(fd), "");  // the zero-length message
  EXPECT_EQ(ReadSome(fd), ErrnoString(EAGAIN));
  Close(fd);
}

TEST_P(FifoTest, FlowControlHoldsWritersUntilTheReaderDrains) {
  int r = OpenFifo("/dev/fifo/2", O_RDONLY | O_NONBLOCK);
  int w = OpenFifo("/dev/fifo/2", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_GE(w, 0);
  const size_t written = Fill(this, w);
  // The head's read queue holds a pipe's worth, the write queue a little more.
  EXPECT_GE(written, kPipeHiwat);
  EXPECT_LT(written, kPipeHiwat + 4 * kPipeBuf);
  EXPECT_FALSE(PollNow(w, POLLOUT) & POLLOUT);
  size_t got_bytes = 0;
  while (got_bytes < written) {
    std::string got = ReadSome(r, 65536);
    if (got == ErrnoString(EAGAIN)) {
      Settle();
      continue;
    }
    ASSERT_FALSE(got.empty());
    got_bytes += got.size();
  }
  Settle();
  EXPECT_EQ(got_bytes, written);
  EXPECT_TRUE(PollNow(w, POLLOUT) & POLLOUT);
  Close(w);
  Close(r);
}

TEST_P(FifoTest, FlushEitherWayEmptiesTheWholeFifo) {
  for (int how : {FLUSHR, FLUSHW}) {
    int fd = Open("/dev/fifo/5");
    // Full: some of it waits on the driver's write queue behind a full head.
    ASSERT_GT(Fill(this, fd), kPipeHiwat);
    int n = -1;
    ASSERT_GT(us_ioctl(fd, I_NREAD, &n), 0);
    ASSERT_EQ(us_ioctl(fd, I_FLUSH, how), 0);
    Settle();
    EXPECT_EQ(us_ioctl(fd, I_NREAD, &n), 0) << "flush " << how;
    EXPECT_EQ(ReadSome(fd), ErrnoString(EAGAIN)) << "flush " << how;
    EXPECT_TRUE(PollNow(fd, POLLOUT) & POLLOUT);
    Close(fd);
  }
}

// ---- opening without the other side ----

TEST_P(FifoTest, NonBlockingWriteOnlyOpenWithoutReaderIsEnxio) {
  EXPECT_ERRNO(OpenFifo("/dev/fifo/6", O_WRONLY | O_NONBLOCK), ENXIO);
  EXPECT_EQ(domain().open_streams(), 0u);  // the failed first open took its stream with it
  // Any reader will do: one that only reads, or one that reads and writes.
  int rw = OpenFifo("/dev/fifo/6", O_RDWR | O_NONBLOCK);
  ASSERT_GE(rw, 0);
  int w = OpenFifo("/dev/fifo/6", O_WRONLY | O_NONBLOCK);
  EXPECT_GE(w, 0) << strerror(errno);
  Close(rw);
  Close(w);
}

TEST_P(FifoTest, FifoThatNeverHadAWriterReadsEagainAndPollsQuiet) {
  int r = OpenFifo("/dev/fifo/7", O_RDONLY | O_NONBLOCK);
  ASSERT_GE(r, 0);
  EXPECT_EQ(ReadSome(r), ErrnoString(EAGAIN));
  EXPECT_EQ(PollNow(r, POLLIN), 0);  // no POLLHUP before any writer came and went
  Close(r);
}

// ---- the last writer goes: end of file ----

TEST_P(FifoTest, LastWriterClosingGivesEndOfFileAfterTheData) {
  int r = OpenFifo("/dev/fifo/8", O_RDONLY | O_NONBLOCK);
  int w = OpenFifo("/dev/fifo/8", O_WRONLY | O_NONBLOCK);
  int w2 = us_fcntl(w, F_DUPFD, 0);  // a second descriptor of the same open file
  ASSERT_GE(r, 0);
  ASSERT_GE(w, 0);
  ASSERT_GE(w2, 0);
  // Full, so part of the data still waits on the write side when the writer goes.
  const size_t written = Fill(this, w);
  Close(w);
  Settle();
  EXPECT_EQ(PollNow(r, POLLIN) & POLLHUP, 0);  // the open file lives on in w2
  Close(w2);
  Settle();
  size_t got_bytes = 0;
  for (;;) {
    std::string got = ReadSome(r, 65536);
    ASSERT_NE(got, ErrnoString(EAGAIN)) << "after " << got_bytes << " of " << written;
    if (got.empty()) break;  // end of file, never before the data
    got_bytes += got.size();
    Settle();
  }
  EXPECT_EQ(got_bytes, written);
  EXPECT_EQ(ReadSome(r), "");  // and again
  EXPECT_EQ(PollNow(r, POLLIN), POLLHUP);
  Msg m = GetP(r);
  EXPECT_EQ(m.rc, 0);  // getmsg at end of file: nothing, lengths 0
  EXPECT_EQ(m.ctl_len, 0);
  EXPECT_EQ(m.data_len, 0);
  // A reader that opens now sees the end of file too (once the driver has told the head again:
  // the reopen healed it).
  int r2 = OpenFifo("/dev/fifo/8", O_RDONLY | O_NONBLOCK);
  ASSERT_GE(r2, 0);
  Settle();
  EXPECT_EQ(ReadSome(r2), "");
  EXPECT_EQ(ReadSome(r), "");
  // A writer coming back ends it.
  int w3 = OpenFifo("/dev/fifo/8", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(w3, 0);
  Settle();
  EXPECT_EQ(ReadSome(r), ErrnoString(EAGAIN));
  EXPECT_EQ(PollNow(r, POLLIN), 0);
  WriteAll(w3, "again");
  Settle();
  EXPECT_EQ(ReadSome(r2), "again");
  Close(w3);
  Close(r2);
  Close(r);
}

// ---- the last reader goes: EPIPE ----

TEST_P(FifoTest, WriteWithoutReaderIsEpipeAndSigpipe) {
  int r = OpenFifo("/dev/fifo/9", O_RDONLY | O_NONBLOCK);
  int w = OpenFifo("/dev/fifo/9", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_GE(w, 0);
  WriteAll(w, "unread");
  Close(r);
  Settle();
  {
    CatchSignal pipe(SIGPIPE);
    EXPECT_ERRNO(us_write(w, "x", 1), EPIPE);
    EXPECT_EQ(pipe.caught(), 1);
    // putmsg(2) reports the hangup itself, as for a pipe (EPIPE only for XPG4 callers).
    strbuf data{0, 1, const_cast<char*>("x")};
    EXPECT_ERRNO(us_putmsg(w, nullptr, &data, 0), ENXIO);
    EXPECT_EQ(pipe.caught(), 1);
  }
  EXPECT_EQ(PollNow(w, POLLOUT), POLLHUP);
  // A reader coming back finds what was written before, and writes go again.
  int r2 = OpenFifo("/dev/fifo/9", O_RDONLY | O_NONBLOCK);
  ASSERT_GE(r2, 0);
  Settle();
  EXPECT_TRUE(PollNow(w, POLLOUT) & POLLOUT);
  WriteAll(w, "+more");
  Settle();
  EXPECT_EQ(ReadSome(r2), "unread+more");
  Close(w);
  Close(r2);
}

// A FIFO without a reader fails a write with EPIPE and SIGPIPE even with SNDPIPE turned off:
// illumos fifo_write looks for a reader before the stream head's write options (POSIX write(2)
// says the same of a FIFO nobody has open for reading).
TEST_P(FifoTest, NoReaderIsEpipeEvenWithSndpipeOff) {
  int r = OpenFifo("/dev/fifo/9", O_RDONLY | O_NONBLOCK);
  int w = OpenFifo("/dev/fifo/9", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_GE(w, 0);
  ASSERT_EQ(us_ioctl(w, I_SWROPT, 0), 0);
  Close(r);
  Settle();
  CatchSignal pipe(SIGPIPE);
  EXPECT_ERRNO(us_write(w, "x", 1), EPIPE);
  EXPECT_EQ(pipe.caught(), 1);
  Close(w);
}

// ---- the last close ----

TEST_P(FifoTest, LastCloseDiscardsTheDataAndDoesNotLinger) {
  int fd = OpenFifo("/dev/fifo/10", O_RDWR);  // blocking: its close would drain
  ASSERT_GE(fd, 0);
  SetBlocking(fd, false);
  ASSERT_GT(Fill(this, fd), kPipeHiwat);
  SetBlocking(fd, true);
  const absl::Time before = domain().scheduler().Now();
  const auto wall = std::chrono::steady_clock::now();
  Close(fd);
  EXPECT_LT(domain().scheduler().Now() - before, absl::Seconds(1));
  EXPECT_LT(std::chrono::steady_clock::now() - wall, std::chrono::seconds(5));
  EXPECT_EQ(domain().open_streams(), 0u);
  int again = Open("/dev/fifo/10");
  EXPECT_EQ(ReadSome(again), ErrnoString(EAGAIN));
  Close(again);
}

// ---- passing descriptors (LfS P6_3: the FIFO is its own receiver) ----

TEST_P(FifoTest, SendfdComesBackOnTheFifosOwnReadSide) {
  int fd = Open("/dev/streams/fifo/0");
  int echo = Open("/dev/echo");
  ASSERT_EQ(us_ioctl(fd, I_SENDFD, echo), 0);
  char buf[8];
  EXPECT_ERRNO(us_read(fd, buf, sizeof(buf)), EBADMSG);  // LfS 3.5.16
  strrecvfd rf{};
  ASSERT_EQ(us_ioctl(fd, I_RECVFD, &rf), 0);
  EXPECT_EQ(rf.uid, getuid());
  // The new descriptor is the echo stream.
  WriteAll(rf.fd, "via the fifo");
  Settle();
  EXPECT_EQ(ReadSome(echo), "via the fifo");
  EXPECT_ERRNO(us_ioctl(fd, I_RECVFD, &rf), EAGAIN);
  Close(rf.fd);
  Close(echo);
  Close(fd);
}

TEST_P(FifoTest, UnreceivedPassedFileGoesWithTheFifo) {
  int fd = Open("/dev/fifo/11");
  int echo = Open("/dev/echo");
  ASSERT_EQ(us_ioctl(fd, I_SENDFD, echo), 0);
  Close(echo);  // the message still holds the echo stream open
  EXPECT_EQ(domain().open_streams(), 2u);
  Close(fd);
  EXPECT_EQ(domain().open_streams(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, FifoTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// ---- blocking opens and blocked calls: another thread must act ----

class FifoThreadedTest : public DriverTest {
 protected:
  // Runs fn in a thread whose current domain is the test's.
  std::thread InDomain(std::function<void()> fn) {
    return std::thread([this, fn = std::move(fn)] {
      DomainScope scope(&domain());
      fn();
    });
  }
  // Waits (bounded) until flag is set.
  static bool WaitFor(const std::atomic<bool>& flag) {
    for (int i = 0; i < 5000 && !flag.load(); i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return flag.load();
  }
  // Signals t until done is set: a signal that lands before the thread sleeps is not lost.
  static void InterruptUntil(std::thread& t, const std::atomic<bool>& done) {
    for (int i = 0; i < 5000 && !done.load(); i++) {
      pthread_kill(t.native_handle(), SIGUSR1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
};

TEST_P(FifoThreadedTest, BlockingReaderOpenWaitsForAWriter) {
  std::atomic<bool> opened{false};
  int r = -1;
  std::thread reader = InDomain([&] {
    r = OpenFifo("/dev/fifo/20", O_RDONLY);
    opened = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(opened.load()) << "a blocking O_RDONLY open returned without a writer";
  // The waiting reader counts: a non-blocking writer may open.
  int w = OpenFifo("/dev/fifo/20", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(w, 0) << strerror(errno);
  reader.join();
  ASSERT_GE(r, 0) << strerror(errno);
  WriteAll(w, "hello reader");
  EXPECT_EQ(ReadSome(r), "hello reader");  // r blocks until it arrives
  Close(w);
  EXPECT_EQ(ReadSome(r), "");
  Close(r);
}

TEST_P(FifoThreadedTest, BlockingWriterOpenWaitsForAReader) {
  std::atomic<bool> opened{false};
  int w = -1;
  std::thread writer = InDomain([&] {
    w = OpenFifo("/dev/fifo/21", O_WRONLY);
    opened = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(opened.load()) << "a blocking O_WRONLY open returned without a reader";
  int r = OpenFifo("/dev/fifo/21", O_RDONLY | O_NONBLOCK);
  ASSERT_GE(r, 0) << strerror(errno);
  writer.join();
  ASSERT_GE(w, 0) << strerror(errno);
  WriteAll(w, "hello writer");
  Close(w);
  SetBlocking(r, true);
  EXPECT_EQ(ReadSome(r), "hello writer");
  EXPECT_EQ(ReadSome(r), "");
  Close(r);
}

TEST_P(FifoThreadedTest, BlockingReaderAndWriterOpenTogether) {
  for (int round = 0; round < 20; round++) {
    int r = -1, w = -1;
    std::thread reader = InDomain([&] { r = OpenFifo("/dev/fifo/22", O_RDONLY); });
    std::thread writer = InDomain([&] { w = OpenFifo("/dev/fifo/22", O_WRONLY); });
    reader.join();
    writer.join();
    ASSERT_GE(r, 0) << strerror(errno);
    ASSERT_GE(w, 0) << strerror(errno);
    WriteAll(w, "together");
    EXPECT_EQ(ReadSome(r), "together");
    Close(w);
    Close(r);
    EXPECT_EQ(domain().open_streams(), 0u);
  }
}

TEST_P(FifoThreadedTest, SignalEndsAWaitingReaderOpenWithEintr) {
  CatchSignal usr1(SIGUSR1);
  std::atomic<bool> done{false};
  int r = 0, err = 0;
  std::thread reader = InDomain([&] {
    r = OpenFifo("/dev/fifo/23", O_RDONLY);
    err = errno;
    done = true;
  });
  InterruptUntil(reader, done);
  reader.join();
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_GE(usr1.caught(), 1);
  // The reader that gave up is gone: a writer finds none.
  EXPECT_EQ(domain().open_streams(), 0u);
  EXPECT_ERRNO(OpenFifo("/dev/fifo/23", O_WRONLY | O_NONBLOCK), ENXIO);
}

// Writer A's open makes the stream and waits for a reader; writer B's joins and waits too; B
// gives up (a failed reopen) and A is still waiting, until a reader comes.
TEST_P(FifoThreadedTest, SignalEndsAWaitingWriterOpenWithEintr) {
  CatchSignal usr1(SIGUSR1);
  std::atomic<bool> a_done{false}, b_done{false};
  int a = -1, b = 0, b_err = 0;
  std::thread ta = InDomain([&] {
    a = OpenFifo("/dev/fifo/24", O_WRONLY);
    a_done = true;
  });
  for (int i = 0; i < 5000 && domain().open_streams() == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::thread tb = InDomain([&] {
    b = OpenFifo("/dev/fifo/24", O_WRONLY);
    b_err = errno;
    b_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  InterruptUntil(tb, b_done);
  tb.join();
  EXPECT_EQ(b, -1);
  EXPECT_EQ(b_err, EINTR);
  EXPECT_GE(usr1.caught(), 1);
  EXPECT_FALSE(a_done.load());
  int r = OpenFifo("/dev/fifo/24", O_RDONLY | O_NONBLOCK);
  ASSERT_GE(r, 0) << strerror(errno);
  ASSERT_TRUE(WaitFor(a_done));
  ta.join();
  ASSERT_GE(a, 0) << strerror(errno);
  WriteAll(a, "from a");
  Close(a);  // the only writer: B never counted
  SetBlocking(r, true);
  EXPECT_EQ(ReadSome(r), "from a");
  EXPECT_EQ(ReadSome(r), "");
  Close(r);
}

// Reader A's open makes the stream and waits; reader B's open joins and waits too; A gives up.
// The stream, and the FIFO, stay for B, whom a writer then releases.
TEST_P(FifoThreadedTest, FirstOpenGivingUpLeavesTheFifoToAJoinedOpen) {
  CatchSignal usr1(SIGUSR1);
  std::atomic<bool> a_done{false}, b_done{false};
  int a = 0, a_err = 0, b = -1;
  std::thread ta = InDomain([&] {
    a = OpenFifo("/dev/fifo/25", O_RDONLY);
    a_err = errno;
    a_done = true;
  });
  // B may only start once A's open has made the stream.
  for (int i = 0; i < 5000 && domain().open_streams() == 0; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(domain().open_streams(), 1u);
  std::thread tb = InDomain([&] {
    b = OpenFifo("/dev/fifo/25", O_RDONLY);
    b_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let B join and wait
  InterruptUntil(ta, a_done);
  ta.join();
  EXPECT_EQ(a, -1);
  EXPECT_EQ(a_err, EINTR);
  EXPECT_FALSE(b_done.load());
  EXPECT_EQ(domain().open_streams(), 1u);
  int w = OpenFifo("/dev/fifo/25", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(w, 0) << strerror(errno);
  ASSERT_TRUE(WaitFor(b_done));
  tb.join();
  ASSERT_GE(b, 0) << strerror(errno);
  WriteAll(w, "for b");
  EXPECT_EQ(ReadSome(b), "for b");
  Close(w);
  Close(b);
}

TEST_P(FifoThreadedTest, BlockedReaderSeesEndOfFileWhenTheLastWriterGoes) {
  int r = OpenFifo("/dev/fifo/26", O_RDONLY | O_NONBLOCK);
  int w = OpenFifo("/dev/fifo/26", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_GE(w, 0);
  SetBlocking(r, true);
  std::atomic<bool> done{false};
  std::string got = "unset";
  std::thread reader = InDomain([&] {
    got = ReadSome(r);
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(done.load());
  Close(w);
  ASSERT_TRUE(WaitFor(done));
  reader.join();
  EXPECT_EQ(got, "");
  Close(r);
}

TEST_P(FifoThreadedTest, WriterBlockedByFlowControlGetsEpipeWhenTheReaderGoes) {
  CatchSignal pipe(SIGPIPE);
  int r = OpenFifo("/dev/fifo/27", O_RDONLY | O_NONBLOCK);
  int w = OpenFifo("/dev/fifo/27", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_GE(w, 0);
  ASSERT_GT(Fill(this, w), kPipeHiwat);
  const std::string chunk(4096, 'b');
  SetBlocking(w, true);
  std::atomic<bool> done{false};
  ssize_t n = 0;
  int err = 0;
  std::thread writer = InDomain([&] {
    n = us_write(w, chunk.data(), chunk.size());
    err = errno;
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(done.load()) << "the write did not block";
  Close(r);
  ASSERT_TRUE(WaitFor(done));
  writer.join();
  EXPECT_EQ(n, -1);
  EXPECT_EQ(err, EPIPE);
  EXPECT_EQ(pipe.caught(), 1);  // raised in the writing thread
  Close(w);
}

// Writes of PIPE_BUF bytes or less are never split or mixed with another writer's.
TEST_P(FifoThreadedTest, SmallWritesAreAtomicAmongWriters) {
  int r = OpenFifo("/dev/fifo/28", O_RDONLY | O_NONBLOCK);
  // A writer of our own, so the FIFO is not at end of file between the threads' writers.
  int keep = OpenFifo("/dev/fifo/28", O_WRONLY | O_NONBLOCK);
  ASSERT_GE(r, 0);
  ASSERT_GE(keep, 0);
  constexpr int kWriters = 4, kWrites = 50;
  constexpr size_t kSize = 4096;
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; i++) {
    writers.push_back(InDomain([i] {
      int w = OpenFifo("/dev/fifo/28", O_WRONLY);
      ASSERT_GE(w, 0) << strerror(errno);
      const std::string block(kSize, static_cast<char>('a' + i));
      for (int k = 0; k < kWrites; k++) {
        ASSERT_EQ(us_write(w, block.data(), block.size()), static_cast<ssize_t>(kSize));
      }
      us_close(w);
    }));
  }
  SetBlocking(r, true);
  std::string all;
  while (all.size() < kWriters * kWrites * kSize) {
    std::string got = ReadSome(r, 3 * kSize);
    ASSERT_FALSE(got.empty()) << "end of file after " << all.size();
    all += got;
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(all.size(), kWriters * kWrites * kSize);
  for (size_t off = 0; off < all.size(); off += kSize) {
    EXPECT_GE(all.find_first_not_of(all[off], off), off + kSize) << "block at " << off;
  }
  Close(keep);
  EXPECT_EQ(ReadSome(r), "");  // every writer has gone
  Close(r);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, FifoThreadedTest, ::testing::Values(Sched::kThreaded),
                         SchedName);

}  // namespace
}  // namespace ustreams::testing
