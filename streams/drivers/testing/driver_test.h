// A fixture for tests that use the standard drivers through the C API, the way an application
// does: a fresh domain with the standard drivers (echo, nuls, fifo, sad) registered, current for
// the test's thread, and leak checks (message blocks, stream descriptors, open streams) at the
// end.
//
// Parameterised on the scheduler: deterministic (service procedures run when the test calls
// Settle() or a blocking call waits) or threaded (workers run them at once; Settle() waits
// until they are idle). The same test body must pass on both.
#pragma once

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "streams/alloc.h"
#include "streams/domain.h"
#include "streams/drivers/drivers.h"
#include "streams/file.h"
#include "streams/stropts.h"

namespace ustreams::testing {

enum class Sched { kDeterministic, kThreaded };

inline std::string SchedName(const ::testing::TestParamInfo<Sched>& info) {
  return info.param == Sched::kDeterministic ? "Deterministic" : "Threaded";
}

class DriverTest : public ::testing::TestWithParam<Sched> {
 protected:
  void SetUp() override {
    before_ = GetAllocStats();
    fds_before_ = fdtable::Count();
    Domain::Options o;
    o.deterministic = GetParam() == Sched::kDeterministic;
    domain_ = std::make_unique<Domain>(o);
    scope_ = std::make_unique<DomainScope>(domain_.get());
    ASSERT_TRUE(RegisterStandardDrivers(*domain_).ok());
  }
  void TearDown() override {
    EXPECT_EQ(fdtable::Count(), fds_before_) << "stream descriptors left open";
    EXPECT_EQ(domain_->open_streams(), 0u) << "streams left open";
    scope_.reset();
    domain_.reset();
    AllocStats after = GetAllocStats();
    EXPECT_EQ(after.live_mblks, before_.live_mblks) << "message blocks leaked";
    EXPECT_EQ(after.live_dblks, before_.live_dblks) << "data blocks leaked";
  }


 public:
  Domain& domain() { return *domain_; }
  bool deterministic() const { return GetParam() == Sched::kDeterministic; }

  // Lets service procedures and callbacks run until nothing is left to do.
  void Settle() {
    if (deterministic()) {
      domain_->scheduler().RunUntilIdle();
    } else {
      domain_->scheduler().WaitIdle();
    }
  }

  int Close(int fd) { return us_close(fd); }

  // Opens path O_RDWR|O_NONBLOCK (tests never block by accident), failing the test otherwise.
  static int Open(const char* path, int extra = 0) {
    int fd = us_open(path, O_RDWR | O_NONBLOCK | extra);
    EXPECT_GE(fd, 0) << path << ": " << strerror(errno);
    return fd;
  }
  static void SetBlocking(int fd, bool blocking) {
    int fl = us_fcntl(fd, F_GETFL);
    ASSERT_GE(fl, 0);
    ASSERT_EQ(us_fcntl(fd, F_SETFL, blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK)), 0);
  }
  static void WriteAll(int fd, const std::string& s) {
    ASSERT_EQ(us_write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()))
        << strerror(errno);
  }
  // One read of up to n bytes, or "<errno N>".
  static std::string ReadSome(int fd, size_t n = 8192) {
    std::string buf(n, '\0');
    ssize_t r = us_read(fd, buf.data(), n);
    if (r < 0) return "<errno " + std::to_string(errno) + ">";
    buf.resize(static_cast<size_t>(r));
    return buf;
  }
  static std::string ErrnoString(int e) { return "<errno " + std::to_string(e) + ">"; }
  // putpmsg with a control and a data part (nullptr / -1 for none).
  static int PutP(int fd, const std::string* ctl, const std::string* data, int band, int flags) {
    strbuf c{0, ctl != nullptr ? static_cast<int>(ctl->size()) : -1,
             ctl != nullptr ? const_cast<char*>(ctl->data()) : nullptr};
    strbuf d{0, data != nullptr ? static_cast<int>(data->size()) : -1,
             data != nullptr ? const_cast<char*>(data->data()) : nullptr};
    return us_putpmsg(fd, ctl != nullptr ? &c : nullptr, data != nullptr ? &d : nullptr, band,
                      flags);
  }
  // putpmsg(ctl 1024, data 1024) into band until the write side is flow-controlled; service
  // procedures get a chance to run (Settle) before an EAGAIN is believed. Returns how many went.
  int FillBand(int fd, int band) {
    const std::string ctl(1024, 'c'), data(1024, 'd');
    int sent = 0;
    for (bool retried = false;;) {
      if (PutP(fd, &ctl, &data, band, MSG_BAND) == 0) {
        sent++;
        retried = false;
        continue;
      }
      EXPECT_EQ(errno, EAGAIN) << strerror(errno);
      if (errno != EAGAIN || retried) return sent;
      Settle();
      retried = true;
    }
  }
  // One getpmsg(MSG_ANY) into 8 KiB buffers.
  struct Msg {
    int rc = -1;
    int err = 0;
    int band = 0;
    int flags = 0;
    int ctl_len = -1;
    int data_len = -1;
    std::string ctl, data;
  };
  static Msg GetP(int fd, int flags = MSG_ANY, int band = 0) {
    Msg m;
    char cbuf[8192], dbuf[8192];
    strbuf c{sizeof(cbuf), -1, cbuf};
    strbuf d{sizeof(dbuf), -1, dbuf};
    m.band = band;
    m.flags = flags;
    errno = 0;
    m.rc = us_getpmsg(fd, &c, &d, &m.band, &m.flags);
    m.err = errno;
    m.ctl_len = c.len;
    m.data_len = d.len;
    if (m.rc >= 0 && c.len > 0) m.ctl.assign(cbuf, static_cast<size_t>(c.len));
    if (m.rc >= 0 && d.len > 0) m.data.assign(dbuf, static_cast<size_t>(d.len));
    return m;
  }

 private:
  AllocStats before_{};
  int fds_before_ = 0;
  std::unique_ptr<Domain> domain_;
  std::unique_ptr<DomainScope> scope_;
};

// Expects a C API call to fail with -1 and errno err.
#define EXPECT_ERRNO(call, err)                                     \
  do {                                                              \
    errno = 0;                                                      \
    EXPECT_EQ((call), -1) << #call;                                 \
    EXPECT_EQ(errno, (err)) << #call << ": " << strerror(errno);    \
  } while (0)

}  // namespace ustreams::testing
