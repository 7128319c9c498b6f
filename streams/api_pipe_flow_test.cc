// Flow control and ordering of STREAMS pipes as an application sees them (write(2), read(2),
// I_NREAD, poll(2)), where data written from one thread reaches the other end's head without its
// lock (the head's inbox, head.h): the high-water mark holds to the message, order holds across
// messages taken the locked way and the other, and a writer and a reader on two threads lose and
// reorder nothing.
#include <poll.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "streams/api_test_util.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

using PipeFlowTest = ApiTest;

std::string Numbered(uint32_t n, size_t size) {
  std::string s(size, '.');
  std::memcpy(s.data(), &n, sizeof(n));
  return s;
}
uint32_t NumberOf(const std::string& s) {
  uint32_t n = 0;
  std::memcpy(&n, s.data(), sizeof(n));
  return n;
}

// Non-blocking writes of `size` bytes until EAGAIN: how many went.
int FillNonBlocking(int fd, size_t size, uint32_t first) {
  int n = 0;
  for (;;) {
    std::string m = Numbered(first + static_cast<uint32_t>(n), size);
    ssize_t r = us_write(fd, m.data(), m.size());
    if (r < 0) {
      EXPECT_EQ(errno, EAGAIN);
      return n;
    }
    EXPECT_EQ(r, static_cast<ssize_t>(size));
    n++;
  }
}

// A pipe end's read queue is full once it holds its high-water mark (kPipeHiwat): the write that
// reaches it goes, the next one waits (here: EAGAIN). That holds to the message whatever the
// size, and again after a read makes room; then everything comes out once, in order.
TEST_F(PipeFlowTest, HighWaterMarkHoldsToTheMessage) {
  for (size_t size : {size_t{64}, size_t{100}, size_t{4096}, size_t{5000}}) {
    SCOPED_TRACE(size);
    int fd[2];
    ASSERT_EQ(us_pipe(fd), 0);
    SetNonBlocking(fd[1], true);
    const auto fits = static_cast<uint32_t>((kPipeHiwat + size - 1) / size);
    ASSERT_EQ(FillNonBlocking(fd[1], size, 0), static_cast<int>(fits));
    int first_bytes = 0;
    EXPECT_EQ(us_ioctl(fd[0], I_NREAD, &first_bytes), static_cast<int>(fits));
    EXPECT_EQ(first_bytes, static_cast<int>(size));
    // One message read leaves the queue below the mark: one write goes, the next does not.
    EXPECT_EQ(NumberOf(ReadSome(fd[0], size)), 0u);
    EXPECT_EQ(FillNonBlocking(fd[1], size, fits), 1);
    for (uint32_t i = 1; i <= fits; i++) {
      std::string got = ReadSome(fd[0], size);
      ASSERT_EQ(got.size(), size);
      ASSERT_EQ(NumberOf(got), i);
    }
    SetNonBlocking(fd[0], true);
    EXPECT_EQ(ReadSome(fd[0], size), "<errno " + std::to_string(EAGAIN) + ">");
    us_close(fd[0]);
    us_close(fd[1]);
  }
}

// Data that came before an I_SETSIG registration (which sends later data the locked way, so its
// signals are exact) is read before data that came with it and after it; a banded message still
// overtakes them all, as putq() orders it.
TEST_F(PipeFlowTest, OrderHoldsAcrossBothWaysIn) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  WriteAll(fd[1], "a");
  WriteAll(fd[1], "b");
  ASSERT_EQ(us_ioctl(fd[0], I_SETSIG, S_HIPRI), 0);  // no signal for band-0 data
  WriteAll(fd[1], "c");
  ASSERT_EQ(us_ioctl(fd[0], I_SETSIG, 0), 0);  // registration gone
  WriteAll(fd[1], "d");
  char banded[] = "B";
  strbuf out{0, 1, banded};
  ASSERT_EQ(us_putpmsg(fd[1], nullptr, &out, 1, MSG_BAND), 0);
  std::string order;
  for (int i = 0; i < 5; i++) {
    char c = 0;
    strbuf in{1, 0, &c};
    int band = 0, flags = MSG_ANY;
    ASSERT_GE(us_getpmsg(fd[0], nullptr, &in, &band, &flags), 0);
    ASSERT_EQ(in.len, 1);
    order += c;
    order += std::to_string(band);
  }
  EXPECT_EQ(order, "B1a0b0c0d0");
  us_close(fd[0]);
  us_close(fd[1]);
}

// A writer and a reader on two threads, the pipe filling and draining many times over (the
// writer blocks on flow control, the reader on an empty pipe), while a third thread asks
// I_NREAD and poll(2): every message arrives once, in order.
TEST_F(PipeFlowTest, WriterAndReaderThreadsLoseAndReorderNothing) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  constexpr uint32_t kMessages = 60000;
  constexpr size_t kSize = 16;
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (uint32_t i = 0; i < kMessages; i++) {
      std::string m = Numbered(i, kSize);
      ASSERT_EQ(us_write(fd[1], m.data(), m.size()), static_cast<ssize_t>(kSize));
    }
  });
  std::thread looker([&] {
    while (!done.load()) {
      int n = 0;
      (void)us_ioctl(fd[0], I_NREAD, &n);
      pollfd p{fd[0], POLLIN, 0};
      (void)us_poll(&p, 1, 0);
    }
  });
  uint32_t next = 0;
  std::string buf(kSize, '\0');
  while (next < kMessages) {
    if ((next % 10000) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ssize_t r = us_read(fd[0], buf.data(), kSize);
    ASSERT_EQ(r, static_cast<ssize_t>(kSize));
    ASSERT_EQ(NumberOf(buf), next);
    next++;
  }
  done = true;
  writer.join();
  looker.join();
  SetNonBlocking(fd[0], true);
  EXPECT_EQ(ReadSome(fd[0]), "<errno " + std::to_string(EAGAIN) + ">");
  us_close(fd[0]);
  us_close(fd[1]);
}

}  // namespace
}  // namespace ustreams::testing
