// The fixture of the fault module's tests: the driver fixture (a fresh domain, leak checks,
// both schedulers) with "fault" registered and a stream open on /dev/echo with fault pushed.
#pragma once

#include <signal.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/time/time.h"
#include "modules/fault/fault.h"
#include "modules/fault/fault_module.h"
#include "streams/drivers/testing/driver_test.h"

namespace ustreams::testing {

class FaultTest : public DriverTest {
 protected:
  void SetUp() override {
    DriverTest::SetUp();
    ASSERT_TRUE(RegisterFault(domain().registry()).ok());
    fd_ = OpenFaulty();
  }
  void TearDown() override {
    if (fd_ >= 0) Close(fd_);
    DriverTest::TearDown();
  }

 public:
  // A new echo stream with fault pushed.
  static int OpenFaulty() {
    int fd = Open("/dev/echo");
    EXPECT_EQ(us_ioctl(fd, I_PUSH, FAULT_MODULE_NAME), 0) << strerror(errno);
    return fd;
  }
  // Lets d of the stream's time pass: virtual time, or a real sleep.
  void Advance(absl::Duration d) {
    if (deterministic()) {
      domain().scheduler().AdvanceBy(d);
    } else {
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(d));
      domain().scheduler().WaitIdle();
    }
  }

 protected:
  int fd_ = -1;
};

// Counts SIGPOLL while installed (the signal I_SETSIG raises).
class SigpollCounter {
 public:
  SigpollCounter() {
    count_ = 0;
    struct sigaction sa {};
    sa.sa_handler = [](int) { count_.fetch_add(1); };
    sa.sa_flags = SA_RESTART;  // a blocked call in another test thread is not cut short
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPOLL, &sa, &old_);
  }
  ~SigpollCounter() { sigaction(SIGPOLL, &old_, nullptr); }
  // Waits up to ms for the count to reach n (a signal may land on another thread).
  static int WaitFor(int n, int ms = 1000) {
    for (int i = 0; i < ms && count_.load() < n; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return count_.load();
  }
  static int count() { return count_.load(); }

 private:
  static inline std::atomic<int> count_{0};
  struct sigaction old_ {};
};

}  // namespace ustreams::testing
