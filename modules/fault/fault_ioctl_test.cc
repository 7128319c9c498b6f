// The fault module's ioctls over echo: the transparent copyin/copyout exchanges (LfS 2.48),
// I_STR data round trips (LfS 2.8.11), the argument forms, and pass-through of everything else.
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "modules/fault/fault_test.h"

namespace ustreams::testing {
namespace {

using CopyTest = FaultTest;

TEST_P(CopyTest, CopyinAcksWhenEveryByteIsThePattern) {
  std::vector<char> buf(300, static_cast<char>(FAULT_PATTERN));
  fault_copy fc{static_cast<int>(buf.size()), buf.data()};
  EXPECT_EQ(us_ioctl(fd_, FAULT_IOC_COPYIN, &fc), 0) << strerror(errno);
  buf[299] = 0;
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYIN, &fc), EINVAL);
  fc.fc_size = 299;  // the odd byte is past what is copied
  EXPECT_EQ(us_ioctl(fd_, FAULT_IOC_COPYIN, &fc), 0);
  fc = fault_copy{0, nullptr};  // nothing to copy
  EXPECT_EQ(us_ioctl(fd_, FAULT_IOC_COPYIN, &fc), 0);
}

TEST_P(CopyTest, CopyoutWritesThePatternAndNothingBeyond) {
  std::vector<char> buf(128, 0);
  fault_copy fc{64, buf.data()};
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_COPYOUT, &fc), 0) << strerror(errno);
  EXPECT_EQ(std::string(buf.data(), 64), std::string(64, static_cast<char>(FAULT_PATTERN)));
  EXPECT_EQ(std::string(buf.data() + 64, 64), std::string(64, '\0'));
}

TEST_P(CopyTest, CopyinoutRoundTripsTheBuffer) {
  std::vector<char> buf(FAULT_COPY_MAX);
  for (size_t i = 0; i < buf.size(); i++) buf[i] = static_cast<char>(i * 7);
  fault_copy fc{static_cast<int>(buf.size()), buf.data()};
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_COPYINOUT, &fc), 0) << strerror(errno);
  size_t wrong = 0;
  for (size_t i = 0; i < buf.size(); i++) {
    wrong += buf[i] != static_cast<char>((i * 7) ^ FAULT_PATTERN);
  }
  EXPECT_EQ(wrong, 0u);
}

TEST_P(CopyTest, BadAddressesFailWithEfaultAndLeaveTheModuleReady) {
  // The head fails the copy, answers the caller, and the module frees the M_IOCDATA.
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYIN, nullptr), EFAULT);
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYOUT, nullptr), EFAULT);
  fault_copy fc{16, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYIN, &fc), EFAULT);
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYOUT, &fc), EFAULT);
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYINOUT, &fc), EFAULT);
  std::vector<char> buf(16, 0);
  fc.fc_buf = buf.data();
  EXPECT_EQ(us_ioctl(fd_, FAULT_IOC_COPYOUT, &fc), 0);
  EXPECT_EQ(us_ioctl(fd_, FAULT_IOC_COPYIN, &fc), 0);
}

TEST_P(CopyTest, BadSizesAreEinval) {
  std::vector<char> buf(16, 0);
  fault_copy fc{-1, buf.data()};
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYOUT, &fc), EINVAL);
  fc.fc_size = FAULT_COPY_MAX + 1;
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_COPYIN, &fc), EINVAL);
}

TEST_P(CopyTest, CopyIoctlsThroughIStrAreEinval) {
  std::vector<char> buf(16, 0);
  fault_copy fc{16, buf.data()};
  for (int cmd : {FAULT_IOC_COPYIN, FAULT_IOC_COPYOUT, FAULT_IOC_COPYINOUT}) {
    strioctl sio{cmd, 0, sizeof(fc), reinterpret_cast<char*>(&fc)};
    EXPECT_ERRNO(us_ioctl(fd_, I_STR, &sio), EINVAL);
  }
}

TEST_P(CopyTest, ManyExchangesInARow) {
  std::vector<char> buf(64, 0);
  fault_copy fc{64, buf.data()};
  for (int i = 0; i < 200; i++) {
    ASSERT_EQ(us_ioctl(fd_, i % 2 ? FAULT_IOC_COPYIN : FAULT_IOC_COPYOUT, &fc), 0) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Schedulers, CopyTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// ---- I_STR and argument forms ----

using IoctlTest = FaultTest;

TEST_P(IoctlTest, FillReturnsTheDataAsThePattern) {
  // LfS 2.8.11.
  std::vector<char> buf(1024, 0);
  strioctl sio{FAULT_IOC_FILL, 0, static_cast<int>(buf.size()), buf.data()};
  ASSERT_EQ(us_ioctl(fd_, I_STR, &sio), 0) << strerror(errno);
  EXPECT_EQ(sio.ic_len, 1024);
  EXPECT_EQ(std::string(buf.begin(), buf.end()),
            std::string(1024, static_cast<char>(FAULT_PATTERN)));
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC_FILL, buf.data()), EINVAL);  // transparent
}

TEST_P(IoctlTest, ValueIoctlsAlsoComeThroughIStr) {
  int arg = EPROTO;
  strioctl sio{FAULT_IOC_RDERR, 0, sizeof(arg), reinterpret_cast<char*>(&arg)};
  ASSERT_EQ(us_ioctl(fd_, I_STR, &sio), 0) << strerror(errno);
  EXPECT_EQ(ReadSome(fd_), ErrnoString(EPROTO));
}

TEST_P(IoctlTest, IStrWithTooShortAnArgumentIsEinval) {
  short arg = EPROTO;
  strioctl sio{FAULT_IOC_RDERR, 0, sizeof(arg), reinterpret_cast<char*>(&arg)};
  EXPECT_ERRNO(us_ioctl(fd_, I_STR, &sio), EINVAL);
  strioctl none{FAULT_IOC_DELAY, 0, 0, nullptr};  // no data: the argument is 0
  EXPECT_EQ(us_ioctl(fd_, I_STR, &none), 0);
}

// illumos strdoioctl: an I_STR's ic_len becomes the ack's ioc_count, and only that many bytes
// of the ack's data are copied back. The fault module acks value ioctls with miocack(q, mp, 0,
// 0), leaving the request's data in b_cont as many modules do, so ic_len must come back 0 and
// the caller's buffer must not be written.
TEST_P(IoctlTest, AnAckWithCountZeroReturnsNoData) {
  int arg = 0;
  strioctl sio{FAULT_IOC_DELAY, 0, sizeof(arg), reinterpret_cast<char*>(&arg)};
  ASSERT_EQ(us_ioctl(fd_, I_STR, &sio), 0);
  EXPECT_EQ(sio.ic_len, 0);
}

TEST_P(IoctlTest, OtherIoctlsPassDownToTheDriver) {
  EXPECT_ERRNO(us_ioctl(fd_, FAULT_IOC | 0x7f, 0), EINVAL);  // unknown FAULT number: echo's NAK
  EXPECT_ERRNO(us_ioctl(fd_, 0x1234, 0), EINVAL);
  strioctl sio{-5, 0, 0, nullptr};
  EXPECT_ERRNO(us_ioctl(fd_, I_STR, &sio), EINVAL);
}

TEST_P(IoctlTest, DataAndFlushesPassThroughBothWays) {
  WriteAll(fd_, "through fault");
  Settle();
  EXPECT_EQ(ReadSome(fd_), "through fault");
  const std::string c = "ctl", d = "data";
  ASSERT_EQ(PutP(fd_, &c, &d, 2, MSG_BAND), 0);
  Settle();
  Msg m = GetP(fd_);
  EXPECT_EQ(m.band, 2);
  EXPECT_EQ(m.ctl, c);
  EXPECT_EQ(m.data, d);
  EXPECT_EQ(FillBand(fd_, 0), 6);  // fault has no queues of its own: echo's flow control
  EXPECT_EQ(us_ioctl(fd_, I_FLUSH, FLUSHRW), 0);
  Settle();
  EXPECT_EQ(GetP(fd_).err, EAGAIN);
  EXPECT_EQ(us_ioctl(fd_, I_CANPUT, 0), 1);
}

TEST_P(IoctlTest, WritesSplitAsTheyWouldWithoutTheModule) {
  // fault takes echo's packet sizes at open, so the head still splits at 4096.
  WriteAll(fd_, std::string(5000, 'w'));
  Settle();
  EXPECT_EQ(GetP(fd_).data_len, 4096);
  EXPECT_EQ(GetP(fd_).data_len, 5000 - 4096);
}

TEST_P(IoctlTest, PushAndPopLeaveTheStreamWorking) {
  EXPECT_EQ(us_ioctl(fd_, I_PUSH, FAULT_MODULE_NAME), 0);
  EXPECT_EQ(us_ioctl(fd_, I_LIST, nullptr), 3);
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_DELAY, 3600 * 1000), 0);  // pending in the top instance
  ASSERT_EQ(us_ioctl(fd_, FAULT_IOC_HANGUP, 0), 0);
  EXPECT_EQ(us_ioctl(fd_, I_POP, 0), 0);  // its pending hangup goes with it
  EXPECT_EQ(us_ioctl(fd_, I_POP, 0), 0);
  WriteAll(fd_, "plain echo");
  Settle();
  EXPECT_EQ(ReadSome(fd_), "plain echo");
}

INSTANTIATE_TEST_SUITE_P(Schedulers, IoctlTest,
                         ::testing::Values(Sched::kDeterministic, Sched::kThreaded), SchedName);

// LfS 4.2: several threads open, push, run a copyout, pop and close, over and over.
using FaultStressTest = FaultTest;

TEST_P(FaultStressTest, OpenPushCopyoutPopCloseInParallel) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; t++) {
    threads.emplace_back([&domain = domain()] {
      DomainScope scope(&domain);
      for (int i = 0; i < 100; i++) {
        int fd = us_open("/dev/echo", O_RDWR | O_NONBLOCK);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(us_ioctl(fd, I_PUSH, FAULT_MODULE_NAME), 0);
        char buf[64] = {};
        fault_copy fc{sizeof(buf), buf};
        ASSERT_EQ(us_ioctl(fd, FAULT_IOC_COPYOUT, &fc), 0) << strerror(errno);
        ASSERT_EQ(buf[63], static_cast<char>(FAULT_PATTERN));
        ASSERT_EQ(us_ioctl(fd, I_POP, 0), 0);
        ASSERT_EQ(us_close(fd), 0);
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

INSTANTIATE_TEST_SUITE_P(Schedulers, FaultStressTest, ::testing::Values(Sched::kThreaded),
                         SchedName);

}  // namespace
}  // namespace ustreams::testing
