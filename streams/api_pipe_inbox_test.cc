// A pipe's write copies small data straight into the other end's inbox (head.h, "The inbox"),
// where it stays as bytes until a read copies it out or something else at that head needs it as
// a message. What an application sees must not change: message boundaries in every read mode,
// order against messages that came the other ways (putmsg, large writes), what I_NREAD,
// FIONREAD, I_PEEK and poll report, and behaviour when memory runs out.
#include <poll.h>
#include <sys/ioctl.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "streams/alloc.h"
#include "streams/api_test_util.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

class PipeInboxTest : public ApiTest {
 protected:
  // A pipe; with `module`, a pass-through module (ctlmod) pushed on the writing end fd[1], so
  // writes reach fd[0]'s inbox as messages, not copied bytes (a read copies those out where they
  // are too, when they are one block of data).
  void MakePipe(int fd[2], bool module) {
    ASSERT_EQ(us_pipe(fd), 0);
    if (!module) return;
    if (!registered_) RegisterTestMods();
    registered_ = true;
    ASSERT_EQ(us_ioctl(fd[1], I_PUSH, "ctlmod"), 0) << errno;
  }

 private:
  bool registered_ = false;
};

// A message whose bytes say which message and which size it is.
std::string Pattern(uint32_t n, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; i++) s[i] = static_cast<char>('a' + (n * 7 + i) % 26);
  return s;
}

// Thousands of messages of every size the inbox copies (1 to kInboxInlineMax bytes), read a few
// at a time in message-nondiscard mode so the ring wraps over and over: each read returns exactly
// one message, whole and unchanged. Again with a module pushed: the messages then reach the
// inbox as messages, and the small ones are copied in as bytes there.
TEST_F(PipeInboxTest, BoundariesHoldWhileTheRingWraps) {
  for (bool module : {false, true}) {
    SCOPED_TRACE(module ? "as messages" : "as bytes");
    int fd[2];
    MakePipe(fd, module);
    ASSERT_EQ(us_ioctl(fd[0], I_SRDOPT, RMSGN), 0);
    // Through a module, messages larger than the inbox copies come too: they sit in the ring as
    // messages, between the ones copied in as bytes.
    const size_t span = module ? 2 * kInboxInlineMax : kInboxInlineMax;
    uint32_t written = 0, read = 0;
    for (int round = 0; round < 1500; round++) {
      for (int k = 0; k < 3; k++, written++) {
        WriteAll(fd[1], Pattern(written, 1 + (written * 37) % span));
      }
      for (int k = 0; k < 3; k++, read++) {
        ASSERT_EQ(ReadSome(fd[0], 4 * kInboxInlineMax), Pattern(read, 1 + (read * 37) % span))
            << "message " << read;
      }
    }
    EXPECT_EQ(us_close(fd[0]), 0);
    EXPECT_EQ(us_close(fd[1]), 0);
  }
}

// Copied bytes, a putmsg (an M_PROTO handed over as a message) and a write too large to copy
// come out in the order they were sent, with their parts.
TEST_F(PipeInboxTest, OrderHoldsWithMessagesThatCameAsMessages) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  WriteAll(fd[1], "small-1");
  char ctl[] = "proto";
  char dat[] = "its-data";
  strbuf c{0, 5, ctl}, d{0, 8, dat};
  ASSERT_EQ(us_putmsg(fd[1], &c, &d, 0), 0);
  WriteAll(fd[1], "small-2");
  const std::string big(kInboxInlineMax + 1, 'B');
  WriteAll(fd[1], big);
  WriteAll(fd[1], "small-3");

  char cbuf[64], dbuf[2048];
  auto next = [&](std::string* control, std::string* data) {
    strbuf cs{sizeof(cbuf), 0, cbuf}, ds{sizeof(dbuf), 0, dbuf};
    int flags = 0;
    ASSERT_EQ(us_getmsg(fd[0], &cs, &ds, &flags), 0) << "errno " << errno;
    *control = cs.len > 0 ? std::string(cbuf, static_cast<size_t>(cs.len)) : "";
    *data = ds.len > 0 ? std::string(dbuf, static_cast<size_t>(ds.len)) : "";
  };
  std::string control, data;
  next(&control, &data);
  EXPECT_EQ(control, "");
  EXPECT_EQ(data, "small-1");
  next(&control, &data);
  EXPECT_EQ(control, "proto");
  EXPECT_EQ(data, "its-data");
  next(&control, &data);
  EXPECT_EQ(data, "small-2");
  next(&control, &data);
  EXPECT_EQ(data, big);
  next(&control, &data);
  EXPECT_EQ(data, "small-3");
  EXPECT_EQ(us_close(fd[0]), 0);
  EXPECT_EQ(us_close(fd[1]), 0);
}

// A read smaller than the message: byte-stream mode goes on into the next message, message
// non-discard keeps the rest as the next read, message discard drops it (read(2), streamio(4I)).
TEST_F(PipeInboxTest, PartialReadsFollowTheReadMode) {
  struct Case {
    int mode;
    const char* second;
    const char* third;
  };
  for (bool module : {false, true})
  for (const Case& c : {Case{RNORM, "defghijkl", ""}, Case{RMSGN, "defgh", "ijkl"},
                        Case{RMSGD, "ijkl", ""}}) {
    SCOPED_TRACE(std::to_string(c.mode) + (module ? " as messages" : " as bytes"));
    int fd[2];
    MakePipe(fd, module);
    ASSERT_EQ(us_ioctl(fd[0], I_SRDOPT, c.mode), 0);
    WriteAll(fd[1], "abcdefgh");
    WriteAll(fd[1], "ijkl");
    EXPECT_EQ(ReadSome(fd[0], 3), "abc");
    EXPECT_EQ(ReadSome(fd[0], 100), c.second);
    SetNonBlocking(fd[0], true);
    if (c.third[0] != '\0') {
      EXPECT_EQ(ReadSome(fd[0], 100), c.third);
    }
    EXPECT_EQ(ReadSome(fd[0], 100), "<errno " + std::to_string(EAGAIN) + ">");
    EXPECT_EQ(us_close(fd[0]), 0);
    EXPECT_EQ(us_close(fd[1]), 0);
  }
}

// A zero-length message (SNDZERO) between two others, read in message non-discard mode: the
// read of it returns 0 and takes it; the messages around it keep their boundaries.
TEST_F(PipeInboxTest, AZeroLengthMessageIsReadAsOne) {
  for (bool module : {false, true}) {
    SCOPED_TRACE(module ? "as messages" : "as bytes");
    int fd[2];
    MakePipe(fd, module);
    ASSERT_EQ(us_ioctl(fd[0], I_SRDOPT, RMSGN), 0);
    ASSERT_EQ(us_ioctl(fd[1], I_SWROPT, SNDZERO), 0);
    WriteAll(fd[1], "before");
    ASSERT_EQ(us_write(fd[1], "", 0), 0);
    WriteAll(fd[1], "after");
    EXPECT_EQ(ReadSome(fd[0], 100), "before");
    EXPECT_EQ(ReadSome(fd[0], 100), "");
    EXPECT_EQ(ReadSome(fd[0], 100), "after");
    EXPECT_EQ(us_close(fd[0]), 0);
    EXPECT_EQ(us_close(fd[1]), 0);
  }
}

// What is queued is reported whether or not it is still bytes in the inbox.
TEST_F(PipeInboxTest, QueriesSeeCopiedBytes) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  pollfd p{fd[0], POLLIN | POLLRDNORM, 0};
  EXPECT_EQ(us_poll(&p, 1, 0), 0);
  WriteAll(fd[1], std::string(10, 'x'));
  WriteAll(fd[1], std::string(20, 'y'));
  p.revents = 0;
  EXPECT_EQ(us_poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLIN | POLLRDNORM);
  int first = -1;
  EXPECT_EQ(us_ioctl(fd[0], I_NREAD, &first), 2);  // messages queued
  EXPECT_EQ(first, 10);                            // bytes in the first
  int all = -1;
  EXPECT_EQ(us_ioctl(fd[0], FIONREAD, &all), 0);
  EXPECT_EQ(all, 30);
  char buf[64];
  strpeek pk{{0, 0, nullptr}, {sizeof(buf), 0, buf}, 0};
  EXPECT_EQ(us_ioctl(fd[0], I_PEEK, &pk), 1);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(pk.databuf.len)), std::string(10, 'x'));
  EXPECT_EQ(ReadSome(fd[0], 100), std::string(10, 'x') + std::string(20, 'y'));
  EXPECT_EQ(us_close(fd[0]), 0);
  EXPECT_EQ(us_close(fd[1]), 0);
}

// Without memory, copied bytes cannot become a message: read(2) still takes them as they are, and
// a getmsg waits until memory comes back (bufcall), then gets them.
TEST_F(PipeInboxTest, CopiedBytesOutliveAnAllocationFailure) {
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  WriteAll(fd[1], "first");
  WriteAll(fd[1], "second");
  AllocFaults::FailEveryNth(1);
  EXPECT_EQ(ReadSome(fd[0], 5), "first");
  std::atomic<bool> done{false};
  std::string got;
  std::thread reader([&] {
    char dbuf[64];
    strbuf ds{sizeof(dbuf), 0, dbuf};
    int flags = 0;
    if (us_getmsg(fd[0], nullptr, &ds, &flags) == 0 && ds.len > 0) {
      got.assign(dbuf, static_cast<size_t>(ds.len));
    }
    done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(done.load()) << "getmsg returned without memory for the message";
  AllocFaults::Clear();
  reader.join();
  EXPECT_EQ(got, "second");
  EXPECT_EQ(us_close(fd[0]), 0);
  EXPECT_EQ(us_close(fd[1]), 0);
}

// A module pushed on the reading end sees nothing of what was already at its head, and what is
// written after the push passes through it; the reader gets both, in order. Closing with copied
// bytes still unread frees them (the fixture checks for leaks; the sanitizers for the ring).
TEST_F(PipeInboxTest, PushAndCloseWithBytesUnread) {
  RegisterTestMods();
  int fd[2];
  ASSERT_EQ(us_pipe(fd), 0);
  WriteAll(fd[1], "before");
  ASSERT_EQ(us_ioctl(fd[0], I_PUSH, "ctlmod"), 0);
  WriteAll(fd[1], "after");
  EXPECT_EQ(ReadSome(fd[0], 6), "before");
  EXPECT_EQ(ReadSome(fd[0], 100), "after");
  WriteAll(fd[1], "left behind");
  WriteAll(fd[0], "left behind too");
  EXPECT_EQ(us_close(fd[0]), 0);
  EXPECT_EQ(us_close(fd[1]), 0);
}

}  // namespace
}  // namespace ustreams::testing
