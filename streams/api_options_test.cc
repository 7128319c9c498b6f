// Packet sizes and M_SETOPTS through the C API, each option observed where it shows: from below
// (a packet module records every message the head builds: streams/testing/test_modules.h), by
// the reader of the stream, or by a writer at the other end of a pipe.
//
// Expected values: illumos-head-spec §0.3 (cached packet sizes), §1 (strread: STRDELIM, M_READ,
// OLDNDELAY), §2 (strwrite: ERANGE, splitting, strmakedata), §4 (strputmsg), §5.10 (M_SETOPTS),
// and write(2)/putmsg(2) in illumos-manpages §1.
#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "streams/api_test_util.h"
#include "streams/ddi.h"
#include "streams/drivers/drivers.h"
#include "streams/head.h"

namespace ustreams::testing {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i++) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

class OptionsTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    RegisterTestMods();
    ASSERT_TRUE(RegisterEcho(domain().registry()).ok());
  }
  void TearDown() override {
    for (int fd : fds_) us_close(fd);
    ApiTest::TearDown();
  }
  int Track(int fd) {
    EXPECT_GE(fd, 0) << strerror(errno);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  // /dev/echo (what is written comes back up) with `mods` pushed in order.
  int EchoWith(std::initializer_list<const char*> mods) {
    int fd = Track(us_open("/dev/echo", O_RDWR));
    for (const char* m : mods) EXPECT_EQ(us_ioctl(fd, I_PUSH, m), 0) << m << ": " << errno;
    return fd;
  }
  // A pipe; `mods` are pushed on end 0.
  void PipeWith(std::initializer_list<const char*> mods, int p[2]) {
    ASSERT_EQ(us_pipe(p), 0);
    Track(p[0]);
    Track(p[1]);
    for (const char* m : mods) ASSERT_EQ(us_ioctl(p[0], I_PUSH, m), 0) << m;
  }
  // What the packet module on top of fd recorded since the last call.
  static std::vector<PktRecord> Records(int fd) {
    std::vector<PktRecord> recs(64);
    strioctl sio{PKT_GET, 0, static_cast<int>(recs.size() * sizeof(PktRecord)),
                 reinterpret_cast<char*>(recs.data())};
    int n = us_ioctl(fd, I_STR, &sio);
    EXPECT_GE(n, 0) << strerror(errno);
    recs.resize(n < 0 ? 0 : static_cast<size_t>(n));
    return recs;
  }
  static std::vector<int> Sizes(const std::vector<PktRecord>& recs) {
    std::vector<int> out;
    for (const PktRecord& r : recs) out.push_back(r.bytes);
    return out;
  }
  // The counts of the M_READs the packet module on top of fd saw.
  static std::vector<ssize_t> MReads(int fd) {
    std::vector<ssize_t> counts(64);
    strioctl sio{PKT_MREADS, 0, static_cast<int>(counts.size() * sizeof(ssize_t)),
                 reinterpret_cast<char*>(counts.data())};
    int n = us_ioctl(fd, I_STR, &sio);
    EXPECT_GE(n, 0) << strerror(errno);
    counts.resize(n < 0 ? 0 : std::min<size_t>(static_cast<size_t>(n), counts.size()));
    return counts;
  }
  // With ctlmod somewhere below the top of fd: an M_SETOPTS up to fd's head.
  static void SetOpts(int fd, const stroptions& so) {
    SendUp(fd, M_SETOPTS, std::string(reinterpret_cast<const char*>(&so), sizeof(so)));
  }
  static stroptions Opts(unsigned int flags) {
    stroptions so{};
    so.so_flags = flags;
    return so;
  }
  // Blocking reads until n bytes came (the echo driver reflects from its service procedure).
  static std::string ReadN(int fd, size_t n) {
    std::string out;
    while (out.size() < n) {
      std::string s = ReadSome(fd, n - out.size());
      if (s.empty() || s[0] == '<') return out + s;
      out += s;
    }
    return out;
  }
  static int PutData(int fd, const std::string& data, const char* ctl = nullptr) {
    strbuf c{0, ctl ? static_cast<int>(strlen(ctl)) : -1, const_cast<char*>(ctl)};
    strbuf d{0, static_cast<int>(data.size()), const_cast<char*>(data.data())};
    return us_putmsg(fd, ctl ? &c : nullptr, &d, 0);
  }

  // Non-blocking writes (band < 0) or putpmsg()s of `chunk` bytes until EAGAIN: how many went.
  static int FillNonBlocking(int fd, size_t chunk, int band = -1) {
    SetNonBlocking(fd, true);
    std::string data(chunk, 'w');
    for (int n = 0; n < 100000; n++) {
      int rc;
      if (band < 0) {
        rc = static_cast<int>(us_write(fd, data.data(), data.size()));
      } else {
        strbuf d{0, static_cast<int>(chunk), data.data()};
        rc = us_putpmsg(fd, nullptr, &d, band, MSG_BAND);
      }
      if (rc < 0) return errno == EAGAIN ? n : -errno;
    }
    return -1;
  }

  std::vector<int> fds_;
};

// Hears the write-side wake-ups of a head (HeadWatcher.readiness): the back-enables that let a
// blocked writer go. They come in the thread whose read drained the queue, before its read
// returns.
class WakeupLog {
 public:
  explicit WakeupLog(int fd) : head_(fdtable::Lookup(fd)->head()) {
    HeadWatcher w;
    w.readiness = [](void* arg, short events) {
      static_cast<WakeupLog*>(arg)->events_.fetch_or(events & (POLLOUT | POLLWRBAND));
    };
    w.arg = this;
    head_->SetWatcher(w);
  }
  ~WakeupLog() { head_->SetWatcher(HeadWatcher{}); }
  short Take() { return static_cast<short>(events_.exchange(0)); }

 private:
  StreamHead* head_;
  std::atomic<int> events_{0};
};

// ---- packet sizes (write(2): "the top module's min/max packet size") ----

TEST_F(OptionsTest, WriteOutsideTheModulesPacketSizesIsErangeWhenMinpszIsSet) {
  int fd = EchoWith({"pktmod"});  // minpsz 10, maxpsz 100
  std::string buf = Pattern(200);
  EXPECT_ERRNO(us_write(fd, buf.data(), 0), ERANGE);  // rmin > 0: even a 0-byte write
  EXPECT_ERRNO(us_write(fd, buf.data(), 9), ERANGE);
  EXPECT_ERRNO(us_write(fd, buf.data(), 101), ERANGE);  // no splitting when rmin > 0
  iovec short_v[2] = {{buf.data(), 4}, {buf.data() + 4, 5}};
  EXPECT_ERRNO(us_writev(fd, short_v, 2), ERANGE);
  EXPECT_TRUE(Records(fd).empty()) << "nothing may go down on ERANGE";
  EXPECT_EQ(us_write(fd, buf.data(), 10), 10);
  EXPECT_EQ(us_write(fd, buf.data(), 100), 100);
  std::vector<PktRecord> recs = Records(fd);
  EXPECT_EQ(Sizes(recs), (std::vector<int>{10, 100}));  // each write one message
  for (const PktRecord& r : recs) EXPECT_EQ(r.blocks, 1);
  EXPECT_EQ(ReadN(fd, 110), buf.substr(0, 10) + buf.substr(0, 100));
}

TEST_F(OptionsTest, WriteBeyondMaxpszIsSplitWhenMinpszIsZero) {
  int fd = EchoWith({"pkt100"});  // minpsz 0, maxpsz 100
  std::string buf = Pattern(250);
  iovec v[3] = {{buf.data(), 30}, {buf.data() + 30, 150}, {buf.data() + 180, 70}};
  EXPECT_EQ(us_writev(fd, v, 3), 250);
  EXPECT_EQ(Sizes(Records(fd)), (std::vector<int>{100, 100, 50}));
  // The reader sees the same three messages, in order, with the bytes written.
  ASSERT_EQ(us_ioctl(fd, I_SRDOPT, RMSGN), 0);
  EXPECT_EQ(ReadSome(fd, 1000), buf.substr(0, 100));
  EXPECT_EQ(ReadSome(fd, 1000), buf.substr(100, 100));
  EXPECT_EQ(ReadSome(fd, 1000), buf.substr(200, 50));
}

TEST_F(OptionsTest, ZeroByteWriteOnADeviceSendsAZeroLengthMessage) {
  // write(2): on a STREAMS device (not a pipe) a 0-byte write sends a zero-length message.
  int fd = EchoWith({"pkt100"});
  EXPECT_EQ(us_write(fd, "", 0), 0);
  std::vector<PktRecord> recs = Records(fd);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].type, M_DATA);
  EXPECT_EQ(recs[0].bytes, 0);
  EXPECT_EQ(recs[0].blocks, 1);
}

TEST_F(OptionsTest, PutmsgDataOutsideThePacketSizesIsErange) {
  int fd = EchoWith({"pktmod"});  // minpsz 10, maxpsz 100
  EXPECT_ERRNO(PutData(fd, Pattern(9)), ERANGE);
  EXPECT_ERRNO(PutData(fd, Pattern(101)), ERANGE);
  EXPECT_ERRNO(PutData(fd, ""), ERANGE);  // a zero-length data part is checked too
  EXPECT_ERRNO(PutData(fd, Pattern(5), "ctl"), ERANGE);
  EXPECT_TRUE(Records(fd).empty());
  // No data part: the minimum is not enforced.
  strbuf c{0, 3, const_cast<char*>("ctl")};
  EXPECT_EQ(us_putmsg(fd, &c, nullptr, 0), 0);
  EXPECT_EQ(PutData(fd, Pattern(50), "ctl"), 0);
  std::vector<PktRecord> recs = Records(fd);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].type, M_PROTO);
  EXPECT_EQ(recs[0].bytes, 0);
  EXPECT_EQ(recs[1].type, M_PROTO);
  EXPECT_EQ(recs[1].bytes, 50);
}

TEST_F(OptionsTest, PutmsgNeverSplits) {
  int fd = EchoWith({"pkt100"});  // minpsz 0: write would split, putmsg may not
  EXPECT_ERRNO(PutData(fd, Pattern(250)), ERANGE);
  EXPECT_EQ(PutData(fd, Pattern(100)), 0);
  EXPECT_EQ(Sizes(Records(fd)), (std::vector<int>{100}));
}

TEST_F(OptionsTest, MaxpszZeroWritesNothingAndPutmsgIsErange) {
  int fd = EchoWith({"pktzero"});  // maxpsz 0
  std::string buf = Pattern(20);
  EXPECT_EQ(us_write(fd, buf.data(), 20), 0);  // returns 0, nothing sent
  EXPECT_EQ(us_write(fd, buf.data(), 0), 0);
  EXPECT_ERRNO(PutData(fd, buf), ERANGE);
  strbuf c{0, 3, const_cast<char*>("ctl")};
  EXPECT_ERRNO(us_putmsg(fd, &c, nullptr, 0), ERANGE);  // rmax == 0 comes before the data check
  EXPECT_TRUE(Records(fd).empty());
}

// ---- SO_WROFF, SO_TAIL, SO_MAXBLK: how the head builds what it sends ----

TEST_F(OptionsTest, WroffAndTailLeaveRoomInEveryDataBlock) {
  int fd = EchoWith({"ctlmod", "recmod"});
  std::string buf = Pattern(250);
  WriteAll(fd, buf);
  std::vector<PktRecord> recs = Records(fd);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].blocks, 1);  // sd_maxblk INFPSZ: one block
  EXPECT_EQ(recs[0].min_headroom, 0);  // sd_wroff 0 by default
  EXPECT_EQ(ReadN(fd, 250), buf);

  stroptions so = Opts(SO_WROFF | SO_TAIL | SO_MAXBLK);
  so.so_wroff = 40;
  so.so_tail = 1000;
  so.so_maxblk = 100;
  SetOpts(fd, so);
  WriteAll(fd, buf);
  ASSERT_EQ(PutData(fd, Pattern(150), "ctl"), 0);
  recs = Records(fd);
  ASSERT_EQ(recs.size(), 2u);
  for (const PktRecord& r : recs) {
    EXPECT_GE(r.min_headroom, 40) << "type " << r.type;
    EXPECT_GE(r.min_tailroom, 1000) << "type " << r.type;
    EXPECT_LE(r.max_block, 100) << "type " << r.type;
  }
  EXPECT_EQ(recs[0].bytes, 250);
  EXPECT_EQ(recs[0].blocks, 3);
  EXPECT_EQ(recs[1].type, M_PROTO);  // the data part of putmsg is built the same way
  EXPECT_EQ(recs[1].bytes, 150);
  EXPECT_EQ(recs[1].blocks, 2);
  EXPECT_EQ(ReadN(fd, 250), buf);  // the reserved room is not data
}

TEST_F(OptionsTest, MaxblkCutsAWriteIntoBlocksOfOneMessage) {
  int fd = EchoWith({"ctlmod", "recmod"});
  stroptions so = Opts(SO_MAXBLK);
  so.so_maxblk = 64;
  SetOpts(fd, so);
  for (size_t n : {200u, 64u, 65u, 1u}) WriteAll(fd, Pattern(n));
  std::vector<PktRecord> recs = Records(fd);
  ASSERT_EQ(recs.size(), 4u);  // one message per write
  EXPECT_EQ(recs[0].bytes, 200);
  EXPECT_EQ(recs[0].blocks, 4);  // ceil(200 / 64)
  EXPECT_EQ(recs[1].blocks, 1);
  EXPECT_EQ(recs[2].blocks, 2);
  EXPECT_EQ(recs[3].blocks, 1);
  for (const PktRecord& r : recs) EXPECT_LE(r.max_block, 64);
}

TEST_F(OptionsTest, MaxblkRaisesThePutmsgLimitOfASmallerMaxpsz) {
  // strputmsg: when sd_maxblk and rmax are finite and rmax < sd_maxblk, rmax becomes sd_maxblk.
  int fd = EchoWith({"ctlmod", "pkt100"});
  EXPECT_ERRNO(PutData(fd, Pattern(150)), ERANGE);
  stroptions so = Opts(SO_MAXBLK);
  so.so_maxblk = 200;
  SetOpts(fd, so);
  EXPECT_EQ(PutData(fd, Pattern(150)), 0);
  EXPECT_ERRNO(PutData(fd, Pattern(201)), ERANGE);
  WriteAll(fd, Pattern(150));  // write still splits at maxpsz
  EXPECT_EQ(Sizes(Records(fd)), (std::vector<int>{150, 100, 50}));
}

// ---- SO_DELIM ----

TEST_F(OptionsTest, DelimMarksOnlyTheLastPacketOfEachWrite) {
  int fd = EchoWith({"ctlmod", "pkt100"});
  WriteAll(fd, Pattern(250));
  for (const PktRecord& r : Records(fd)) EXPECT_FALSE(r.flag & MSGDELIM);
  SetOpts(fd, Opts(SO_DELIM));
  WriteAll(fd, Pattern(250));
  WriteAll(fd, Pattern(30));
  std::vector<PktRecord> recs = Records(fd);
  ASSERT_EQ(Sizes(recs), (std::vector<int>{100, 100, 50, 30}));
  EXPECT_FALSE(recs[0].flag & MSGDELIM);
  EXPECT_FALSE(recs[1].flag & MSGDELIM);
  EXPECT_TRUE(recs[2].flag & MSGDELIM);
  EXPECT_TRUE(recs[3].flag & MSGDELIM);
  // The echo brings them back to this head, which has STRDELIM too: a byte-stream read takes
  // the undelimited first write and the second one up to its delimiter (waiting for the rest
  // of the record if it has to), and stops there.
  std::string buf(1000, '\0');
  EXPECT_EQ(us_read(fd, buf.data(), buf.size()), 500);
  EXPECT_EQ(us_read(fd, buf.data(), buf.size()), 30);
}

TEST_F(OptionsTest, DelimitedMessagesEndAByteStreamRead) {
  int p[2];
  PipeWith({"ctlmod"}, p);
  SendUp(p[0], M_DATA, "abc", 0, MSGDELIM);
  SendUp(p[0], M_DATA, "def");
  EXPECT_EQ(ReadSome(p[0]), "abcdef");  // without STRDELIM the flag means nothing
  SetOpts(p[0], Opts(SO_DELIM));
  SendUp(p[0], M_DATA, "abc", 0, MSGDELIM);
  SendUp(p[0], M_DATA, "de");
  SendUp(p[0], M_DATA, "f", 0, MSGDELIM);
  EXPECT_EQ(ReadSome(p[0]), "abc");
  EXPECT_EQ(ReadSome(p[0]), "def");  // two messages, one record
  SetOpts(p[0], Opts(SO_NODELIM));
  SendUp(p[0], M_DATA, "abc", 0, MSGDELIM);
  SendUp(p[0], M_DATA, "def");
  EXPECT_EQ(ReadSome(p[0]), "abcdef");
}

TEST_F(OptionsTest, DelimReadWaitsForTheRestOfARecord) {
  int p[2];
  PipeWith({"ctlmod", "recmod"}, p);
  stroptions so = Opts(SO_DELIM | SO_MREADON);
  SetOpts(p[0], so);
  SendUp(p[0], M_DATA, "abc");
  std::atomic<bool> returned{false};
  std::string got;
  std::thread reader([&] {
    got = ReadSome(p[0], 10);
    returned = true;
  });
  // The reader copied "abc" and now waits for the record's end, telling the module below it
  // wants the 7 bytes it has room for (each time it goes back to sleep: a wake-up for another
  // reason, such as the ack of the I_STR that asks the module, sends another).
  for (int i = 0; i < 5000 && MReads(p[0]).empty(); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::vector<ssize_t> counts = MReads(p[0]);
  ASSERT_FALSE(counts.empty());
  for (ssize_t c : counts) EXPECT_EQ(c, 7);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_FALSE(returned.load()) << "a partial record was returned: " << got;
  SendUp(p[0], M_DATA, "de", 0, MSGDELIM);
  reader.join();
  EXPECT_EQ(got, "abcde");
  // Non-blocking, the same read returns what it has.
  SetNonBlocking(p[0], true);
  SendUp(p[0], M_DATA, "xyz");
  EXPECT_EQ(ReadSome(p[0], 10), "xyz");
}

// ---- SO_MREADON / SO_MREADOFF ----

TEST_F(OptionsTest, MreadonSendsAnMReadWhenAReadWouldWait) {
  int p[2];
  PipeWith({"ctlmod", "recmod"}, p);
  SetNonBlocking(p[0], true);
  char buf[100];
  EXPECT_ERRNO(us_read(p[0], buf, 100), EAGAIN);
  EXPECT_TRUE(MReads(p[0]).empty());  // off by default
  SetOpts(p[0], Opts(SO_MREADON));
  // Sent before the non-blocking test, with the count still wanted.
  EXPECT_ERRNO(us_read(p[0], buf, 100), EAGAIN);
  EXPECT_EQ(MReads(p[0]), (std::vector<ssize_t>{100}));
  EXPECT_EQ(us_read(p[0], buf, 0), 0);  // a 0-byte read never waits, never asks
  strbuf d{sizeof(buf), 0, buf};
  int flags = 0;
  EXPECT_ERRNO(us_getmsg(p[0], nullptr, &d, &flags), EAGAIN);  // getmsg never sends one
  WriteAll(p[1], "xy");
  EXPECT_EQ(ReadSome(p[0], 100), "xy");  // data was there: no M_READ
  EXPECT_EQ(MReads(p[0]).size(), 1u);
  // A blocking read asks for what it wants, then waits.
  SetNonBlocking(p[0], false);
  std::string got;
  std::thread reader([&] { got = ReadSome(p[0], 77); });
  for (int i = 0; i < 5000 && MReads(p[0]).size() < 2; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  WriteAll(p[1], "late");
  reader.join();
  EXPECT_EQ(got, "late");
  std::vector<ssize_t> counts = MReads(p[0]);
  ASSERT_GE(counts.size(), 2u);
  for (size_t i = 1; i < counts.size(); i++) EXPECT_EQ(counts[i], 77);
  // Off again: none.
  SetOpts(p[0], Opts(SO_MREADOFF));
  SetNonBlocking(p[0], true);
  size_t before = MReads(p[0]).size();
  EXPECT_ERRNO(us_read(p[0], buf, 100), EAGAIN);
  EXPECT_EQ(MReads(p[0]).size(), before);
  // On and off in one message: off (each ON is applied before its OFF).
  SetOpts(p[0], Opts(SO_MREADON | SO_MREADOFF));
  EXPECT_ERRNO(us_read(p[0], buf, 100), EAGAIN);
  EXPECT_EQ(MReads(p[0]).size(), before);
}

// A reader sends an M_READ each time it goes to sleep for data (illumos strwaitq). illumos
// readers sleep on their own condition, so an ioctl finishing on the stream, or the write side
// being back-enabled, does not wake them; here every wait of a head shares one WaitPoint, and
// the reader sends another M_READ only after data came. A module that counts M_READs (a
// terminal line discipline timing VMIN/VTIME reads) must not see reads that were never made.
TEST_F(OptionsTest, UnrelatedWakeUpsDoNotSendMoreMReads) {
  int p[2];
  PipeWith({"ctlmod", "recmod"}, p);
  SetOpts(p[0], Opts(SO_MREADON));
  std::string got;
  std::thread reader([&] { got = ReadSome(p[0], 50); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  for (int i = 0; i < 3; i++) {
    char data[2] = "e";
    strioctl sio{CTL_ECHO, 0, 1, data};
    EXPECT_EQ(us_ioctl(p[0], I_STR, &sio), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // the reader goes round
  }
  WriteAll(p[1], "x");
  reader.join();
  EXPECT_EQ(got, "x");
  EXPECT_EQ(MReads(p[0]), (std::vector<ssize_t>{50}));
}

TEST_F(OptionsTest, DataSentUpInAnswerToAnMReadSatisfiesTheRead) {
  // strwaitq: if data reached the read queue while the M_READ went down, the read tries again
  // instead of failing or sleeping.
  int p[2];
  PipeWith({"ctlmod", "recmod"}, p);
  SetOpts(p[0], Opts(SO_MREADON));
  ASSERT_EQ(IntIoctl(p[0], PKT_ANSWER_MREAD, 3), 0);
  SetNonBlocking(p[0], true);
  EXPECT_EQ(ReadSome(p[0], 100), "mmm");
}

// ---- SO_NDELON / SO_NDELOFF ----

TEST_F(OptionsTest, NdelonReadsAnEmptyStreamAsZeroBytes) {
  int p[2];
  PipeWith({"ctlmod"}, p);
  SetNonBlocking(p[0], true);
  char buf[8];
  EXPECT_ERRNO(us_read(p[0], buf, 8), EAGAIN);
  SetOpts(p[0], Opts(SO_NDELON));
  EXPECT_EQ(us_read(p[0], buf, 8), 0);
  // getmsg has no such exception.
  strbuf d{8, 0, buf};
  int flags = 0;
  EXPECT_ERRNO(us_getmsg(p[0], nullptr, &d, &flags), EAGAIN);
  WriteAll(p[1], "data");
  EXPECT_EQ(ReadSome(p[0]), "data");
  SetOpts(p[0], Opts(SO_NDELOFF));
  EXPECT_ERRNO(us_read(p[0], buf, 8), EAGAIN);
}

// ---- SO_HIWAT / SO_LOWAT: flow control toward the head that got them ----

TEST_F(OptionsTest, HiwatSetsWhereWritersToThisHeadStop) {
  int p[2];
  PipeWith({"ctlmod"}, p);
  stroptions so = Opts(SO_HIWAT);
  so.so_hiwat = 1000;
  SetOpts(p[0], so);
  // putq marks the queue full once it holds hiwat bytes: ten 100-byte messages go, the
  // eleventh does not.
  EXPECT_EQ(FillNonBlocking(p[1], 100), 10);
  // A band made afterwards starts with the queue's marks (illumos allocband), and is
  // flow-controlled on its own.
  EXPECT_EQ(FillNonBlocking(p[1], 100, 1), 10);
}

TEST_F(OptionsTest, LowatSetsWhereABlockedWriterResumes) {
  int p[2];
  PipeWith({"ctlmod"}, p);
  stroptions so = Opts(SO_HIWAT | SO_LOWAT);
  so.so_hiwat = 1000;
  so.so_lowat = 300;
  SetOpts(p[0], so);
  ASSERT_EQ(FillNonBlocking(p[1], 100), 10);  // the failed write left a writer wanted
  WakeupLog wakeups(p[1]);
  std::atomic<bool> written{false};
  SetNonBlocking(p[1], false);
  std::thread writer([&] {
    EXPECT_EQ(us_write(p[1], "z", 1), 1);
    written = true;
  });
  ASSERT_EQ(us_ioctl(p[0], I_SRDOPT, RMSGN), 0);
  // Down to 300 bytes queued: below the high mark (a writer that tries now may go) but not
  // below the low mark, so nothing wakes the writers that wait.
  for (int i = 0; i < 7; i++) EXPECT_EQ(ReadSome(p[0], 1000).size(), 100u);
  EXPECT_EQ(wakeups.Take(), 0) << "back-enabled above the low-water mark";
  EXPECT_EQ(ReadSome(p[0], 1000).size(), 100u);  // 200 < 300
  EXPECT_EQ(wakeups.Take(), POLLOUT);
  writer.join();  // had it slept, the back-enable woke it
  EXPECT_TRUE(written.load());
}

TEST_F(OptionsTest, BandMarksLimitOnlyThatBand) {
  int p[2];
  PipeWith({"ctlmod"}, p);
  stroptions so = Opts(SO_HIWAT | SO_LOWAT | SO_BAND);
  so.so_band = 1;
  so.so_hiwat = 300;
  so.so_lowat = 150;
  SetOpts(p[0], so);
  EXPECT_EQ(FillNonBlocking(p[1], 100, 1), 3);
  // Band 0 and band 2 are not held back by a full band 1.
  EXPECT_EQ(us_write(p[1], "0", 1), 1);
  strbuf d{0, 1, const_cast<char*>("2")};
  EXPECT_EQ(us_putpmsg(p[1], nullptr, &d, 2, MSG_BAND), 0);
  WakeupLog wakeups(p[1]);
  SetNonBlocking(p[1], false);
  std::thread writer([&] {
    strbuf w{0, 1, const_cast<char*>("1")};
    EXPECT_EQ(us_putpmsg(p[1], nullptr, &w, 1, MSG_BAND), 0);
  });
  char buf[200];
  auto take = [&](int want_band) {
    strbuf data{sizeof(buf), 0, buf};
    int bnd = 1, flags = MSG_BAND;
    EXPECT_EQ(us_getpmsg(p[0], nullptr, &data, &bnd, &flags), 0);
    EXPECT_EQ(bnd, want_band);
  };
  take(2);  // the higher band is ahead
  take(1);  // band 1 holds 200: not below its low mark
  EXPECT_EQ(wakeups.Take() & POLLWRBAND, 0) << "band 1 back-enabled above its low mark";
  take(1);  // 100 < 150
  EXPECT_EQ(wakeups.Take() & POLLWRBAND, POLLWRBAND);
  writer.join();
}

// ---- SO_READOPT with RFLUSHPCPROT ----

TEST_F(OptionsTest, RflushpcprotKeepsTheHighPriorityMessageThroughFlushr) {
  int p[2];
  PipeWith({"ctlmod"}, p);
  const std::string flushr(1, static_cast<char>(FLUSHR));
  int n = -1;
  SendUp(p[0], M_PCPROTO, "pc");
  SendUp(p[0], M_DATA, "d");
  SendUp(p[0], M_FLUSH, flushr);
  EXPECT_EQ(us_ioctl(p[0], I_NREAD, &n), 0);  // by default a flush takes everything
  stroptions so = Opts(SO_READOPT);
  so.so_readopt = RNORM | RFLUSHPCPROT;
  SetOpts(p[0], so);
  int opt = -1;
  ASSERT_EQ(us_ioctl(p[0], I_GRDOPT, &opt), 0);
  EXPECT_EQ(opt, RNORM | RPROTNORM);  // the bit is private: I_GRDOPT does not show it
  SendUp(p[0], M_PCPROTO, "pc");
  SendUp(p[0], M_DATA, "d");
  SendUp(p[0], M_FLUSH, flushr);
  EXPECT_EQ(us_ioctl(p[0], I_NREAD, &n), 1);
  // Once set it stays: another SO_READOPT without the bit does not clear it, and I_FLUSH's
  // FLUSHR (which comes back around the pipe) keeps the message too.
  so.so_readopt = RMSGN;
  SetOpts(p[0], so);
  SendUp(p[0], M_DATA, "d");
  ASSERT_EQ(us_ioctl(p[0], I_FLUSH, FLUSHR), 0);
  EXPECT_EQ(us_ioctl(p[0], I_NREAD, &n), 1);
  char cb[8];
  strbuf c{8, 0, cb};
  int flags = RS_HIPRI;
  SetNonBlocking(p[0], true);
  ASSERT_EQ(us_getmsg(p[0], &c, nullptr, &flags), 0);
  EXPECT_EQ(std::string(cb, static_cast<size_t>(c.len)), "pc");
  EXPECT_EQ(us_ioctl(p[0], I_NREAD, &n), 0);
}

// ---- SO_ERROPT ----

TEST_F(OptionsTest, ErroptMakesTheWriteErrorNonPersistent) {
  int p[2];
  PipeWith({"ctlmod"}, p);
  ASSERT_EQ(us_ioctl(p[0], I_SWROPT, 0), 0);  // no SIGPIPE: see the error itself
  stroptions so = Opts(SO_ERROPT);
  so.so_erropt = RERRNORM | WERRNONPERSIST;
  SetOpts(p[0], so);
  int opt = -1;
  ASSERT_EQ(us_ioctl(p[0], I_GERROPT, &opt), 0);
  EXPECT_EQ(opt, RERRNORM | WERRNONPERSIST);
  SendUp(p[0], M_ERROR, std::string{static_cast<char>(NOERROR), static_cast<char>(EIO)});
  EXPECT_ERRNO(us_write(p[0], "x", 1), EIO);
  EXPECT_EQ(us_write(p[0], "x", 1), 1);  // returned once, then gone
  // A side given no single value stays as it was (RERRNORM|RERRNONPERSIST is neither).
  so.so_erropt = RERRNORM | RERRNONPERSIST | WERRNORM;
  SetOpts(p[0], so);
  ASSERT_EQ(us_ioctl(p[0], I_GERROPT, &opt), 0);
  EXPECT_EQ(opt, RERRNORM | WERRNORM);
  SendUp(p[0], M_ERROR, std::string{static_cast<char>(NOERROR), static_cast<char>(EIO)});
  EXPECT_ERRNO(us_write(p[0], "x", 1), EIO);
  EXPECT_ERRNO(us_write(p[0], "x", 1), EIO);  // persistent again
}

}  // namespace
}  // namespace ustreams::testing
