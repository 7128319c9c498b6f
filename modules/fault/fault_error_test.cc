// The stream head's error paths, provoked with the fault module over echo: hangup, read and
// write errors (persistent and not), signals, and faults that arrive while a call is blocked.
// What the head must answer follows illumos (notes/illumos-head-spec.md §1-§5, §11); where
// LfS's conformance suite expects otherwise (notes/lfs-test-cases.md §9) illumos wins.
#include <poll.h>

#include <string>
#include <vector>

#include "modules/fault/fault_test.h"

namespace ustreams::testing {
namespace {

short PollNow(int fd, short events) {
  pollfd p{fd, events, 0};
  int n = us_poll(&p, 1, 0);
  EXPECT_GE(n, 0) << strerror(errno);
  return n > 0 ? p.revents : 0;
}

// The result of a call as a string: "ok", "ok(N)", or the errno's name number.
std::string Result(int rc) {
  if (rc >= 0) return rc == 0 ? "ok" : "ok(" + std::to_string(rc) + ")";
  return "errno " + std::to_string(errno);
}

// ---- hangup ----

using HangupTest = FaultTest;

TEST_P(HangupTest, TheFaultIoctlItselfSucceeds) {
  EXPECT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0) << strerror(errno);
  EXPECT_EQ(PollNow(fd_, POLLIN | POLLOUT), POLLHUP);
}

TEST_P(HangupTest, QueuedDataIsReadFirstThenEndOfFile) {
  // LfS P2_6 / 3.1.1 and 3.5.1.
  for (int i = 0; i < 4; i++) WriteAll(fd_, std::string(16, static_cast<char>('a' + i)));
  Settle();
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  EXPECT_EQ(PollNow(fd_, POLLIN | POLLOUT), POLLHUP | POLLIN);
  EXPECT_EQ(ReadSome(fd_, 16), std::string(16, 'a'));
  Msg m = GetP(fd_);
  EXPECT_EQ(m.data, std::string(16, 'b'));
  EXPECT_EQ(ReadSome(fd_, 32), std::string(16, 'c') + std::string(16, 'd'));
  EXPECT_EQ(ReadSome(fd_), "");
  m = GetP(fd_);
  EXPECT_EQ(m.rc, 0);
  EXPECT_EQ(m.ctl_len, 0);
  EXPECT_EQ(m.data_len, 0);
  EXPECT_EQ(m.flags, 0);
}

TEST_P(HangupTest, CallsAnswerAsIllumosDoes) {
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  EXPECT_ERRNO(us_write(fd_, "x", 1), EIO);  // POSIX: write to a hung-up device
  EXPECT_ERRNO(us_write(fd_, "", 0), EIO);
  const std::string c = "c";
  EXPECT_ERRNO(PutP(fd_, &c, &c, 0, MSG_BAND), ENXIO);  // putmsg has no EIO rule
  strioctl sio{-5, 0, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_, I_STR, &sio), ENXIO);
  EXPECT_ERRNO(us_ioctl(fd_, I_PUSH, FAULT_MODULE_NAME), ENXIO);
  EXPECT_ERRNO(us_ioctl(fd_, I_POP, 0), ENXIO);
  EXPECT_ERRNO(us_ioctl(fd_, I_FLUSH, FLUSHRW), ENXIO);
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_RDERR, EPROTO), ENXIO);  // transparent ioctls too
  // Queries keep working.
  char top[FMNAMESZ + 1];
  EXPECT_EQ(us_ioctl(fd_, I_LOOK, top), 0);
  EXPECT_STREQ(top, FAULT_MODULE_NAME);
  EXPECT_EQ(us_ioctl(fd_, I_LIST, nullptr), 2);
  EXPECT_EQ(us_ioctl(fd_, I_FIND, FAULT_MODULE_NAME), 1);
  int n = -1;
  EXPECT_EQ(us_ioctl(fd_, I_NREAD, &n), 0);
  EXPECT_EQ(us_ioctl(fd_, I_SWROPT, 0), 0);
  EXPECT_EQ(us_ioctl(fd_, I_CANPUT, 0), 1);  // illumos: no hangup check (LfS: ENXIO)
}

TEST_P(HangupTest, ISetsigRaisesSigpollOnHangup) {
  SigpollCounter sigs;
  ASSERT_EQ(us_ioctl(fd_, I_SETSIG, S_HANGUP), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  EXPECT_EQ(SigpollCounter::WaitFor(1), 1);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, HangupTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// ---- M_ERROR: each form against each call ----

using ErrorTest = FaultTest;

struct ErrorCase {
  int cmd;
  const char* name;
  // Expected results, in the order the test makes the calls.
  std::vector<std::string> want;
};

TEST_P(ErrorTest, EachFormFailsTheSidesItNames) {
  const std::string e = "errno " + std::to_string(EPROTO);
  const std::vector<ErrorCase> cases = {
      // read, getmsg, write, write(0), putmsg, I_NREAD, I_LOOK, I_STR, I_PUSH, I_CANPUT,
      // poll(IN), poll(OUT)
      {FAULT_IOC_RDERR, "RDERR",
       {e, e, "ok(4)", "ok", "ok", e, e, e, e, e, "POLLERR", "POLLOUT"}},
      {FAULT_IOC_WRERR, "WRERR",
       {"errno " + std::to_string(EAGAIN), "errno " + std::to_string(EAGAIN), e, e, e, "ok", e,
        e, e, e, "-", "POLLERR"}},
      {FAULT_IOC_RWERR, "RWERR", {e, e, e, e, e, e, e, e, e, e, "POLLERR", "POLLERR"}},
  };
  auto poll_name = [](short ev) -> std::string {
    if (ev == POLLERR) return "POLLERR";
    if (ev == POLLOUT) return "POLLOUT";
    if (ev == 0) return "-";
    return "revents " + std::to_string(ev);
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    int fd = OpenFaulty();
    ASSERT_EQ(us_ioctl(fd, c.cmd, EPROTO), 0) << strerror(errno);
    std::vector<std::string> got;
    char buf[16];
    got.push_back(Result(static_cast<int>(us_read(fd, buf, sizeof(buf)))));
    Msg m = GetP(fd);
    errno = m.err;
    got.push_back(Result(m.rc));
    got.push_back(Result(static_cast<int>(us_write(fd, "abcd", 4))));
    got.push_back(Result(static_cast<int>(us_write(fd, "", 0))));
    const std::string ctl = "ctl";
    got.push_back(Result(PutP(fd, &ctl, nullptr, 0, MSG_BAND)));
    int n;
    got.push_back(Result(us_ioctl(fd, I_NREAD, &n) >= 0 ? 0 : -1));
    char top[FMNAMESZ + 1];
    got.push_back(Result(us_ioctl(fd, I_LOOK, top)));
    strioctl sio{-5, 0, 0, nullptr};
    got.push_back(Result(us_ioctl(fd, I_STR, &sio)));
    got.push_back(Result(us_ioctl(fd, I_PUSH, FAULT_MODULE_NAME)));
    got.push_back(Result(us_ioctl(fd, I_CANPUT, 0) >= 0 ? 0 : -1));
    got.push_back(poll_name(PollNow(fd, POLLIN)));
    got.push_back(poll_name(PollNow(fd, POLLOUT)));
    EXPECT_EQ(got, c.want);
    Close(fd);
  }
}

TEST_P(ErrorTest, AReadErrorFlushesTheReadSideAndAWriteErrorDoesNot) {
  // The head turns the first M_ERROR into an M_FLUSH of the sides it set; echo turns FLUSHR
  // around, which empties the head's read queue.
  WriteAll(fd_, "kept");
  Settle();
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_WRERR, EPROTO), 0);
  EXPECT_EQ(ReadSome(fd_), "kept");
  int fd = OpenFaulty();
  WriteAll(fd, "lost");
  Settle();
  ASSERT_EQ(us_ioctl(fd, FAULT_IOC_RDERR_NP, EIO), 0);
  EXPECT_EQ(ReadSome(fd), ErrnoString(EIO));
  EXPECT_EQ(ReadSome(fd), ErrnoString(EAGAIN));
  Close(fd);
}

TEST_P(ErrorTest, NonPersistentErrorsAreReportedOnce) {
  // LfS 2.31.9/2.31.10; illumos: any call that reports the error clears it.
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RDERR_NP, EIO), 0);
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EIO));
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EAGAIN));
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_WRERR_NP, EIO), 0);
  EXPECT_ERRNO(us_write(fd_, "x", 1), EIO);
  EXPECT_EQ(us_write(fd_, "x", 1), 1);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RWERR_NP, ENOSPC), 0);
  // The ioctl pre-check reports (and so clears) the read error, the next call the write error.
  int opt = -1;
  EXPECT_ERRNO(us_ioctl(fd_, I_GERROPT, &opt), ENOSPC);
  EXPECT_ERRNO(us_ioctl(fd_, I_GERROPT, &opt), ENOSPC);
  EXPECT_EQ(us_ioctl(fd_, I_GERROPT, &opt), 0);
  EXPECT_EQ(opt, RERRNONPERSIST | WERRNONPERSIST);
}

TEST_P(ErrorTest, PersistentErrorsStay) {
  // LfS 2.31.7/2.31.8.
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RDERR, EPROTO), 0);
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EPROTO));
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EPROTO));
  int opt = -1;
  EXPECT_ERRNO(us_ioctl(fd_, I_GERROPT, &opt), EPROTO);
}

TEST_P(ErrorTest, ISetsigRaisesSigpollOnError) {
  SigpollCounter sigs;
  ASSERT_EQ(us_ioctl(fd_, I_SETSIG, S_ERROR), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_WRERR, EPROTO), 0);
  EXPECT_EQ(SigpollCounter::WaitFor(1), 1);
}

TEST_P(ErrorTest, ErrnoArgumentsOutOfRangeAreEinval) {
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_RDERR, 255), EINVAL);  // NOERROR
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_WRERR, -1), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_RWERR_NP, 1000), EINVAL);
  WriteAll(fd_, "fine");  // nothing was sent
}

INSTANTIATE_TEST_SUITE_P(Schedulers, ErrorTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// ---- reopening an errored or hung-up stream (illumos-head-spec §0.2) ----

using ReopenTest = FaultTest;

TEST_P(ReopenTest, AnotherOpenOfAnErroredStreamFailsWithEio) {
  int fd = Open("/dev/echo/7");  // a minor of its own, so a second open shares the stream
  ASSERT_EQ(us_ioctl(fd, I_PUSH, FAULT_MODULE_NAME), 0);
  ASSERT_EQ(us_ioctl(fd, FAULT_IOC_WRERR, EPROTO), 0);
  EXPECT_ERRNO(us_open("/dev/echo/7", O_RDWR | O_NONBLOCK), EIO);
  Close(fd);
}

TEST_P(ReopenTest, AnotherOpenHealsAHangup) {
  int fd = Open("/dev/echo/8");
  ASSERT_EQ(us_ioctl(fd, I_PUSH, FAULT_MODULE_NAME), 0);
  ASSERT_EQ(us_ioctl(fd, FAULT_IOC_HANGUP, 0), 0);
  EXPECT_ERRNO(us_write(fd, "x", 1), EIO);
  int again = Open("/dev/echo/8");
  EXPECT_EQ(us_ioctl(again, I_LIST, nullptr), 2);  // the same stream, fault still pushed
  WriteAll(fd, "healed");
  Settle();
  EXPECT_EQ(ReadSome(again), "healed");
  Close(again);
  Close(fd);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, ReopenTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// ---- M_SIG / M_PCSIG ----

using SignalTest = FaultTest;

TEST_P(SignalTest, PcsigSigpollReachesSMsgRegistrantsAtOnce) {
  SigpollCounter sigs;
  ASSERT_EQ(us_ioctl(fd_, I_SETSIG, S_MSG), 0);
  WriteAll(fd_, "queued");
  Settle();
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_PSIGNAL, SIGPOLL), 0);
  EXPECT_EQ(SigpollCounter::WaitFor(1), 1);
}

TEST_P(SignalTest, SigWaitsBehindQueuedDataUntilAReadReachesIt) {
  SigpollCounter sigs;
  ASSERT_EQ(us_ioctl(fd_, I_SETSIG, S_MSG), 0);
  WriteAll(fd_, "first");
  Settle();
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_SIGNAL, SIGPOLL), 0);
  EXPECT_EQ(SigpollCounter::WaitFor(1, /*ms=*/50), 0);
  EXPECT_EQ(ReadSome(fd_), "first");
  EXPECT_EQ(SigpollCounter::WaitFor(1), 1);
  // With nothing queued it goes at once.
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_SIGNAL, SIGPOLL), 0);
  EXPECT_EQ(SigpollCounter::WaitFor(2), 2);
}

TEST_P(SignalTest, OtherSignalsOnANonTerminalStreamAreDropped) {
  // illumos sends them to the foreground process group of a controlling terminal only.
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_PSIGNAL, SIGHUP), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_SIGNAL, SIGHUP), 0);
  WriteAll(fd_, "alive");
  Settle();
  EXPECT_EQ(ReadSome(fd_), "alive");
}

TEST_P(SignalTest, BadSignalNumbersAreEinval) {
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_SIGNAL, 0), EINVAL);
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_PSIGNAL, NSIG), EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, SignalTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// ---- delayed faults: waking blocked calls ----

using DelayTest = FaultTest;

TEST_P(DelayTest, ABlockedReadIsWokenByAHangupAndSeesEndOfFile) {
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 50), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  SetBlocking(fd_, true);
  EXPECT_EQ(ReadSome(fd_), "");
}

TEST_P(DelayTest, ABlockedGetmsgIsWokenByAReadError) {
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 50), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RDERR, EPROTO), 0);
  SetBlocking(fd_, true);
  Msg m = GetP(fd_);
  EXPECT_EQ(m.rc, -1);
  EXPECT_EQ(m.err, EPROTO);
}

TEST_P(DelayTest, AWriterBlockedByFlowControlGetsEnxioFromAHangup) {
  // illumos strwrite: the hangup is noticed by the wait (sd_werror, ENXIO), not by the entry
  // check (EIO).
  EXPECT_EQ(FillBand(fd_, 0), 6);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 50), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  SetBlocking(fd_, true);
  EXPECT_ERRNO(us_write(fd_, "blocked", 7), ENXIO);
  SetBlocking(fd_, false);
}

TEST_P(DelayTest, AWriterBlockedByFlowControlGetsTheWriteError) {
  EXPECT_EQ(FillBand(fd_, 0), 6);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 50), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_WRERR, EPROTO), 0);
  SetBlocking(fd_, true);
  const std::string c(16, 'c');
  EXPECT_ERRNO(PutP(fd_, &c, &c, 0, MSG_BAND), EPROTO);
  SetBlocking(fd_, false);
}

TEST_P(DelayTest, ADelayedUnhangupHealsTheStream) {
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 100), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_UNHANGUP, 0), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  EXPECT_ERRNO(us_write(fd_, "x", 1), EIO);
  Advance(absl::Milliseconds(150));
  WriteAll(fd_, "back");
  Settle();
  EXPECT_EQ(ReadSome(fd_), "back");
  EXPECT_EQ(PollNow(fd_, POLLOUT), POLLOUT);
}

TEST_P(DelayTest, AZeroErrnoClearsAnErrorLater) {
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 100), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RDERR, 0), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RDERR, EPROTO), 0);
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EPROTO));
  Advance(absl::Milliseconds(150));
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EAGAIN));
}

TEST_P(DelayTest, OnlyTheNextFaultIsDelayed) {
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 100), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_WRERR, EPROTO), 0);
  WriteAll(fd_, "before");  // not yet
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RDERR, EIO), 0);  // at once
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EIO));
}

TEST_P(DelayTest, FaultsStillPendingAtCloseAreFreed) {
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 3600 * 1000), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_RWERR_NP, EIO), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 3600 * 1000), 0);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  EXPECT_EQ(Close(fd_), 0);  // the fixture's leak check counts the messages
  fd_ = -1;
}

TEST_P(DelayTest, NegativeDelayIsEinval) {
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_DELAY, -1), EINVAL);
}

INSTANTIATE_TEST_SUITE_P(Schedulers, DelayTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

}  // namespace
}  // namespace ustreams::testing
