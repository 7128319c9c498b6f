// Shared fixture for the C API tests: a fresh domain (threaded scheduler) made current for the
// test's thread, with leak checks of message blocks and descriptors at the end.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "streams/alloc.h"
#include "streams/domain.h"
#include "streams/file.h"
#include "streams/stropts.h"
#include "streams/testing/test_modules.h"

namespace ustreams::testing {

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    before_ = GetAllocStats();
    fds_before_ = fdtable::Count();
    domain_ = std::make_unique<Domain>();
    scope_ = std::make_unique<DomainScope>(domain_.get());
  }
  void TearDown() override {
    scope_.reset();
    domain_.reset();  // closes what a test left open
    EXPECT_EQ(fdtable::Count(), fds_before_) << "stream descriptors left open";
    AllocStats after = GetAllocStats();
    EXPECT_EQ(after.live_mblks, before_.live_mblks) << "message blocks leaked";
    EXPECT_EQ(after.live_dblks, before_.live_dblks) << "data blocks leaked";
  }

  Domain& domain() { return *domain_; }

  // Writes s, expecting all of it to go.
  static void WriteAll(int fd, const std::string& s) {
    ASSERT_EQ(us_write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()))
        << "errno " << errno;
  }
  // One read of up to n bytes ("" and errno set on failure).
  static std::string ReadSome(int fd, size_t n = 4096) {
    std::string buf(n, '\0');
    ssize_t r = us_read(fd, buf.data(), n);
    if (r < 0) return "<errno " + std::to_string(errno) + ">";
    buf.resize(static_cast<size_t>(r));
    return buf;
  }
  // Registers the test modules (ctlmod, replymod) in the test's domain.
  void RegisterTestMods() { ASSERT_TRUE(RegisterTestModules(domain().registry()).ok()); }
  // With ctlmod pushed on fd: makes it send one message up to fd's head.
  static void SendUp(int fd, unsigned char type, const std::string& data, unsigned char band = 0,
                     unsigned short flag = 0) {
    CtlSend cs{type, band, flag};
    std::string payload(reinterpret_cast<const char*>(&cs), sizeof(cs));
    payload += data;
    strioctl sio{CTL_SEND_UP, 0, static_cast<int>(payload.size()), payload.data()};
    ASSERT_EQ(us_ioctl(fd, I_STR, &sio), 0) << "errno " << errno;
  }
  static int IntIoctl(int fd, int cmd, int v) {
    strioctl sio{cmd, 0, sizeof(v), reinterpret_cast<char*>(&v)};
    return us_ioctl(fd, I_STR, &sio);
  }
  static void SetNonBlocking(int fd, bool on) {
    int fl = us_fcntl(fd, F_GETFL);
    ASSERT_GE(fl, 0);
    ASSERT_EQ(us_fcntl(fd, F_SETFL, on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK)), 0);
  }

 private:
  AllocStats before_{};
  int fds_before_ = 0;
  std::unique_ptr<Domain> domain_;
  std::unique_ptr<DomainScope> scope_;
};

// Expects a call to fail with -1 and the given errno.
#define EXPECT_ERRNO(call, err)                  \
  do {                                           \
    errno = 0;                                   \
    EXPECT_EQ((call), -1) << #call;              \
    EXPECT_EQ(errno, (err)) << #call << ": " << strerror(errno); \
  } while (0)

}  // namespace ustreams::testing
