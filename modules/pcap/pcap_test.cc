#include "modules/pcap/pcap.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "modules/pcap/pcap_module.h"
#include "streams/alloc.h"
#include "streams/ddi.h"
#include "streams/domain.h"
#include "streams/msg.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/stropts.h"
#include "streams/testing/harness.h"
#include "streams/testing/leak_check.h"

namespace ustreams {
namespace {

using testing::Harness;

// ---- reading a capture back, byte by byte ----

struct PcapRecord {
  uint32_t ts_sec, ts_usec, incl_len, orig_len;
  std::string data;
};

struct Capture {
  uint32_t magic = 0;
  uint16_t version_major = 0, version_minor = 0;
  int32_t thiszone = -1;
  uint32_t sigfigs = 1, snaplen = 0, linktype = 0;
  std::vector<PcapRecord> records;
  bool truncated = false;  // the file ended inside a header or a packet
};

// Host byte order: the writer uses it and says so with the magic number, as libpcap does.
uint32_t U32(const std::string& s, size_t at) {
  uint32_t v;
  std::memcpy(&v, s.data() + at, sizeof(v));
  return v;
}
uint16_t U16(const std::string& s, size_t at) {
  uint16_t v;
  std::memcpy(&v, s.data() + at, sizeof(v));
  return v;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Capture Parse(const std::string& path) {
  std::string f = ReadFile(path);
  Capture c;
  if (f.size() < 24) {
    c.truncated = true;
    return c;
  }
  c.magic = U32(f, 0);
  c.version_major = U16(f, 4);
  c.version_minor = U16(f, 6);
  c.thiszone = static_cast<int32_t>(U32(f, 8));
  c.sigfigs = U32(f, 12);
  c.snaplen = U32(f, 16);
  c.linktype = U32(f, 20);
  size_t at = 24;
  while (at < f.size()) {
    if (f.size() - at < 16) {
      c.truncated = true;
      break;
    }
    PcapRecord r{U32(f, at), U32(f, at + 4), U32(f, at + 8), U32(f, at + 12), ""};
    at += 16;
    if (f.size() - at < r.incl_len) {
      c.truncated = true;
      break;
    }
    r.data = f.substr(at, r.incl_len);
    at += r.incl_len;
    c.records.push_back(std::move(r));
  }
  return c;
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// ---- the module in the harness ----

MsgPtr Make(unsigned char type, std::string_view data, unsigned char band = 0) {
  MsgPtr mp = MsgPtr::Make(type, data);
  mp->b_band = band;
  return mp;
}

std::string IntBytes(int v) { return std::string(reinterpret_cast<const char*>(&v), sizeof(v)); }
std::string CString(const std::string& s) { return s + std::string(1, '\0'); }

// An I_STR-style M_IOCTL: ioc_count is the caller's buffer size, b_cont its bytes.
MsgPtr Ioctl(int cmd, const std::string& payload, size_t count) {
  MsgPtr mp(mkiocb(static_cast<unsigned int>(cmd)));
  reinterpret_cast<iocblk*>(mp->b_rptr)->ioc_count = count;
  if (!payload.empty()) linkb(mp.get(), MsgPtr::Data(payload).release());
  return mp;
}
MsgPtr Ioctl(int cmd, const std::string& payload = "") {
  return Ioctl(cmd, payload, payload.size());
}

struct Answer {
  unsigned char type = 0;  // M_IOCACK or M_IOCNAK (0: none came)
  int error = 0;
  size_t count = 0;
  std::string data;
};

class PcapTest : public testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    ASSERT_TRUE(RegisterPcapModule(reg_).ok());
    path_ = TempPath(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                     ".pcap");
    Start();
  }
  void TearDown() override {
    h_.reset();
    std::remove(path_.c_str());
    LeakCheckedTest::TearDown();
  }
  void Start(Harness::Options o = Harness::Options()) {
    h_.reset();
    h_ = std::make_unique<Harness>(&reg_, o);
    ASSERT_TRUE(h_->Push(kPcapModuleName).ok());
  }

  Answer Call(MsgPtr ioctl) {
    EXPECT_EQ(h_->up_count(), 0) << "take what came up first: the answer must be next";
    int downs = h_->down_count();
    h_->SendDown(std::move(ioctl));
    h_->RunUntilIdle();
    EXPECT_EQ(h_->down_count(), downs) << "pcap's own ioctl went down";
    MsgPtr up = h_->TakeOneUp();
    Answer a;
    if (!up) return a;
    a.type = DB_TYPE(up.get());
    auto* ioc = reinterpret_cast<iocblk*>(up->b_rptr);
    a.error = ioc->ioc_error;
    a.count = ioc->ioc_count;
    if (up->b_cont != nullptr) a.data = MsgBytes(up->b_cont);
    return a;
  }
  // 0 for an ack without data, the errno of a NAK.
  int Errno(MsgPtr ioctl) {
    Answer a = Call(std::move(ioctl));
    if (a.type == M_IOCACK) {
      EXPECT_EQ(a.count, 0u);
      EXPECT_TRUE(a.data.empty()) << "the request's payload came back";
      return 0;
    }
    EXPECT_EQ(a.type, M_IOCNAK);
    return a.type == M_IOCNAK ? a.error : -1;
  }
  int Open(const std::string& path) { return Errno(Ioctl(PCAP_IOC_OPEN, CString(path))); }
  int Close() { return Errno(Ioctl(PCAP_IOC_CLOSE)); }
  int LinkType(int lt) { return Errno(Ioctl(PCAP_IOC_LINKTYPE, IntBytes(lt))); }
  pcap_ioc_stats Stats() {
    pcap_ioc_stats s{};
    Answer a = Call(Ioctl(PCAP_IOC_STATS, std::string(sizeof(s), '\xee')));
    EXPECT_EQ(a.type, M_IOCACK);
    EXPECT_EQ(a.count, sizeof(s));
    EXPECT_EQ(a.data.size(), sizeof(s));
    if (a.data.size() == sizeof(s)) std::memcpy(&s, a.data.data(), sizeof(s));
    return s;
  }

  Registry reg_;
  std::unique_ptr<Harness> h_;
  std::string path_;
};

void ExpectGlobalHeader(const Capture& c, uint32_t linktype) {
  EXPECT_EQ(c.magic, 0xa1b2c3d4u);
  EXPECT_EQ(c.version_major, 2);
  EXPECT_EQ(c.version_minor, 4);
  EXPECT_EQ(c.thiszone, 0);
  EXPECT_EQ(c.sigfigs, 0u);
  EXPECT_EQ(c.snaplen, 65535u);
  EXPECT_EQ(c.linktype, linktype);
  EXPECT_FALSE(c.truncated);
}

TEST_F(PcapTest, CapturesBothDirectionsByteForByte) {
  ASSERT_EQ(Open(path_), 0);
  h_->Advance(absl::Milliseconds(1500));
  // Down: an M_DATA message over two blocks.
  MsgPtr two = Make(M_DATA, "hel", 1);
  linkb(two.get(), MsgPtr::Data("lo").release());
  mblk_t* two_raw = two.get();
  h_->SendDown(std::move(two));
  h_->Advance(absl::Microseconds(500001));  // t = 2.000001
  h_->SendUp(Make(M_DATA, std::string("\x45\x00\x00\x14", 4)));
  // M_PROTO: only its M_DATA part; without one, nothing.
  MsgPtr proto = Make(M_PROTO, "PRIMITIVE");
  linkb(proto.get(), MsgPtr::Data("payload").release());
  h_->SendDown(std::move(proto));
  h_->SendDown(Make(M_PROTO, "no data part"));
  MsgPtr pc = Make(M_PCPROTO, "PC");
  linkb(pc.get(), MsgPtr::Data("urgent").release());
  h_->SendUp(std::move(pc));
  // Not data: not captured.
  h_->SendDown(Make(M_CTL, "control"));
  h_->SendUp(Make(M_SETOPTS, "opts"));
  // An empty M_DATA message is still a message the stream carried.
  h_->SendDown(Make(M_DATA, ""));

  // Everything passed on unchanged.
  std::vector<MsgPtr> down = h_->TakeDown();
  ASSERT_EQ(down.size(), 5u);
  EXPECT_EQ(down[0].get(), two_raw);  // band 1 sorts first at the driver
  EXPECT_EQ(down[0].Bytes(), "hello");
  EXPECT_EQ(down[0]->b_band, 1);
  EXPECT_EQ(down[1].Bytes(), "PRIMITIVEpayload");
  std::vector<MsgPtr> up = h_->TakeUp();
  ASSERT_EQ(up.size(), 3u);
  EXPECT_EQ(up[0].Bytes(), "PCurgent");

  EXPECT_EQ(Close(), 0);
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_ETHERNET);
  ASSERT_EQ(c.records.size(), 5u);
  const struct {
    uint32_t sec, usec;
    std::string data;
  } want[] = {{1, 500000, "hello"},
              {2, 1, std::string("\x45\x00\x00\x14", 4)},
              {2, 1, "payload"},
              {2, 1, "urgent"},
              {2, 1, ""}};
  for (size_t i = 0; i < c.records.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(c.records[i].ts_sec, want[i].sec);
    EXPECT_EQ(c.records[i].ts_usec, want[i].usec);
    EXPECT_EQ(c.records[i].incl_len, want[i].data.size());
    EXPECT_EQ(c.records[i].orig_len, want[i].data.size());
    EXPECT_EQ(c.records[i].data, want[i].data);
  }
}

TEST_F(PcapTest, LongPacketsAreCutAtTheSnaplen) {
  ASSERT_EQ(Open(path_), 0);
  std::string big(70000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  // Three blocks; the cut falls inside the last one.
  MsgPtr mp = MsgPtr::Data(big.substr(0, 30000));
  linkb(mp.get(), MsgPtr::Data(big.substr(30000, 30000)).release());
  linkb(mp.get(), MsgPtr::Data(big.substr(60000)).release());
  h_->SendUp(std::move(mp));
  EXPECT_EQ(h_->TakeUp().size(), 1u);
  pcap_ioc_stats s = Stats();
  EXPECT_EQ(s.ps_packets, 1u);
  EXPECT_EQ(s.ps_bytes, 65535u);
  EXPECT_EQ(Close(), 0);
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_ETHERNET);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].incl_len, 65535u);
  EXPECT_EQ(c.records[0].orig_len, 70000u);
  EXPECT_EQ(c.records[0].data, big.substr(0, 65535));
}

TEST_F(PcapTest, NothingIsCapturedWithoutAnOpenFile) {
  h_->SendDown(Make(M_DATA, "before"));
  EXPECT_EQ(h_->TakeDown().size(), 1u);
  pcap_ioc_stats s = Stats();
  EXPECT_EQ(s.ps_packets, 0u);
  EXPECT_EQ(s.ps_open, 0u);
  EXPECT_EQ(s.ps_linktype, static_cast<uint32_t>(PCAP_LINKTYPE_ETHERNET));
  ASSERT_EQ(Open(path_), 0);
  h_->SendDown(Make(M_DATA, "during"));
  ASSERT_EQ(Close(), 0);
  h_->SendDown(Make(M_DATA, "after"));
  EXPECT_EQ(h_->TakeDown().size(), 2u);
  Capture c = Parse(path_);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].data, "during");
}

TEST_F(PcapTest, LinkTypeBeforeOpen) {
  ASSERT_EQ(LinkType(PCAP_LINKTYPE_RAW), 0);
  EXPECT_EQ(Stats().ps_linktype, static_cast<uint32_t>(PCAP_LINKTYPE_RAW));
  ASSERT_EQ(Open(path_), 0);
  h_->SendDown(Make(M_DATA, "ip packet"));
  ASSERT_EQ(Close(), 0);
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_RAW);
  ASSERT_EQ(c.records.size(), 1u);
  h_->TakeDown();
}

TEST_F(PcapTest, LinkTypeWhileOpenUntilTheFirstPacket) {
  ASSERT_EQ(Open(path_), 0);
  ASSERT_EQ(LinkType(PCAP_LINKTYPE_RAW), 0);  // the header is rewritten
  ASSERT_EQ(LinkType(PCAP_LINKTYPE_ETHERNET), 0);
  ASSERT_EQ(LinkType(PCAP_LINKTYPE_RAW), 0);
  h_->SendDown(Make(M_DATA, "first"));
  EXPECT_EQ(LinkType(PCAP_LINKTYPE_ETHERNET), EBUSY);
  EXPECT_EQ(LinkType(PCAP_LINKTYPE_RAW), EBUSY);
  h_->SendDown(Make(M_DATA, "second"));
  ASSERT_EQ(Close(), 0);
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_RAW);  // one header, then the records
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].data, "first");
  // After CLOSE the next file may have another link type.
  EXPECT_EQ(LinkType(PCAP_LINKTYPE_ETHERNET), 0);
  h_->TakeDown();
}

// A FIFO cannot be rewound to rewrite the global header: the ioctl fails with that errno and
// nothing changes (a live capture read by "wireshark -k -i FIFO" works this way).
TEST_F(PcapTest, LinkTypeOnAFileThatCannotBeRewound) {
  std::string fifo = path_ + ".fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << errno;
  int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);  // lets the writer's open go through
  ASSERT_GE(reader, 0) << errno;
  ASSERT_EQ(Open(fifo), 0);
  EXPECT_EQ(LinkType(PCAP_LINKTYPE_RAW), ESPIPE);
  EXPECT_EQ(Stats().ps_linktype, static_cast<uint32_t>(PCAP_LINKTYPE_ETHERNET));
  h_->SendDown(Make(M_DATA, "live"));
  ASSERT_EQ(Close(), 0);
  char buf[256];
  ssize_t n = read(reader, buf, sizeof(buf));
  close(reader);
  unlink(fifo.c_str());
  ASSERT_EQ(n, 24 + 16 + 4);
  std::string got(buf, static_cast<size_t>(n));
  EXPECT_EQ(U32(got, 0), PCAP_MAGIC);
  EXPECT_EQ(U32(got, 20), static_cast<uint32_t>(PCAP_LINKTYPE_ETHERNET));
  EXPECT_EQ(got.substr(40), "live");
  EXPECT_EQ(Stats().ps_write_errors, 0u);
  h_->TakeDown();
}

TEST_F(PcapTest, LinkTypeErrors) {
  EXPECT_EQ(LinkType(0), EINVAL);
  EXPECT_EQ(LinkType(2), EINVAL);
  EXPECT_EQ(LinkType(-1), EINVAL);
  EXPECT_EQ(LinkType(105), EINVAL);                               // IEEE 802.11: not supported
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_LINKTYPE, "\x65")), EINVAL);     // shorter than an int
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_LINKTYPE)), EINVAL);             // no payload
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_LINKTYPE, "\x65", 4)), EINVAL);  // claims 4, holds 1
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_LINKTYPE, "", TRANSPARENT)), EINVAL);
  EXPECT_EQ(Stats().ps_linktype, static_cast<uint32_t>(PCAP_LINKTYPE_ETHERNET));
}

TEST_F(PcapTest, OpenErrors) {
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_OPEN)), EINVAL);                                // no payload
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_OPEN, path_)), EINVAL);                         // no NUL
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_OPEN, CString(path_), path_.size())), EINVAL);  // NUL past count
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_OPEN, CString(path_), TRANSPARENT)), EINVAL);
  EXPECT_EQ(Open(TempPath("no/such/dir/x.pcap")), ENOENT);
  EXPECT_EQ(Open(std::string(getenv("TEST_TMPDIR") != nullptr ? getenv("TEST_TMPDIR") : "/tmp")),
            EISDIR);
  EXPECT_EQ(Open(""), ENOENT);
  EXPECT_EQ(Stats().ps_open, 0u);
  ASSERT_EQ(Open(path_), 0);
  EXPECT_EQ(Open(path_), EINVAL);  // already open
  EXPECT_EQ(Open(TempPath("other.pcap")), EINVAL);
  EXPECT_EQ(Stats().ps_open, 1u);
  EXPECT_EQ(Close(), 0);
}

// Bytes after the NUL (the rest of the caller's buffer) are ignored.
TEST_F(PcapTest, OpenTakesAPathFromALargerBufferOverSeveralBlocks) {
  std::string buf = CString(path_) + std::string(100, 'z');
  MsgPtr ioc = Ioctl(PCAP_IOC_OPEN, buf.substr(0, 5), buf.size());
  linkb(ioc.get(), MsgPtr::Data(buf.substr(5)).release());
  ASSERT_EQ(Errno(std::move(ioc)), 0);
  EXPECT_EQ(Close(), 0);
  ExpectGlobalHeader(Parse(path_), PCAP_LINKTYPE_ETHERNET);
}

TEST_F(PcapTest, CloseErrorsAndReopening) {
  EXPECT_EQ(Close(), EINVAL);
  EXPECT_EQ(Errno(Ioctl(PCAP_IOC_CLOSE, "", TRANSPARENT)), EINVAL);
  ASSERT_EQ(Open(path_), 0);
  h_->SendDown(Make(M_DATA, "first file"));
  EXPECT_EQ(Close(), 0);
  EXPECT_EQ(Close(), EINVAL);
  // Opening again truncates and starts the statistics afresh.
  ASSERT_EQ(Open(path_), 0);
  EXPECT_EQ(Stats().ps_packets, 0u);
  h_->SendDown(Make(M_DATA, "second"));
  EXPECT_EQ(Close(), 0);
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_ETHERNET);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].data, "second");
  h_->TakeDown();
}

TEST_F(PcapTest, StatsCountPacketsAndBytes) {
  ASSERT_EQ(Open(path_), 0);
  h_->SendDown(Make(M_DATA, "12345"));
  h_->SendUp(Make(M_DATA, "123"));
  h_->SendUp(Make(M_CTL, "not counted"));
  h_->TakeUp();
  pcap_ioc_stats s = Stats();
  EXPECT_EQ(s.ps_packets, 2u);
  EXPECT_EQ(s.ps_bytes, 8u);
  EXPECT_EQ(s.ps_write_errors, 0u);
  EXPECT_EQ(s.ps_open, 1u);
  EXPECT_EQ(Close(), 0);
  s = Stats();  // still there after CLOSE, until the next OPEN
  EXPECT_EQ(s.ps_packets, 2u);
  EXPECT_EQ(s.ps_open, 0u);
  // Errors: a buffer too small for the answer.
  Answer a = Call(Ioctl(PCAP_IOC_STATS, "", sizeof(pcap_ioc_stats) - 1));
  EXPECT_EQ(a.type, M_IOCNAK);
  EXPECT_EQ(a.error, EINVAL);
  a = Call(Ioctl(PCAP_IOC_STATS, "", TRANSPARENT));
  EXPECT_EQ(a.type, M_IOCNAK);
  EXPECT_EQ(a.error, EINVAL);
  h_->TakeDown();
}

TEST_F(PcapTest, StatsWithoutMemoryFails) {
  MsgPtr stats = Ioctl(PCAP_IOC_STATS, "", sizeof(pcap_ioc_stats));
  AllocFaults::FailAtLeast(sizeof(pcap_ioc_stats));
  Answer a = Call(std::move(stats));
  AllocFaults::Clear();
  EXPECT_EQ(a.type, M_IOCNAK);
  EXPECT_EQ(a.error, ENOMEM);
}

// /dev/full takes the open and fails every write: the traffic goes on and the failures are
// counted — when stdio flushes its buffer, and at the final flush of CLOSE.
TEST_F(PcapTest, WriteErrorsAreCountedNeverFatal) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full on this machine";
  ASSERT_EQ(Open("/dev/full"), 0);
  const std::string packet(1000, 'p');
  constexpr int kPackets = 100;  // well past any stdio buffer
  for (int i = 0; i < kPackets; ++i) h_->SendDown(Make(M_DATA, packet));
  EXPECT_EQ(h_->TakeDown().size(), static_cast<size_t>(kPackets));
  pcap_ioc_stats s = Stats();
  EXPECT_GT(s.ps_write_errors, 0u);
  EXPECT_EQ(s.ps_packets + s.ps_write_errors, static_cast<uint64_t>(kPackets));
  uint64_t before_close = s.ps_write_errors;
  h_->SendDown(Make(M_DATA, "tail"));  // small enough to sit in the buffer until CLOSE
  EXPECT_EQ(Close(), 0);
  EXPECT_GT(Stats().ps_write_errors, before_close);
  h_->TakeDown();
}

TEST_F(PcapTest, PoppingTheModuleCompletesTheFile) {
  ASSERT_EQ(Open(path_), 0);
  h_->SendDown(Make(M_DATA, "kept"));
  ASSERT_TRUE(h_->Pop().ok());
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_ETHERNET);
  ASSERT_EQ(c.records.size(), 1u);
  EXPECT_EQ(c.records[0].data, "kept");
  h_->TakeDown();
}

TEST_F(PcapTest, OtherIoctlsAndFlushPassOn) {
  h_->SendDown(Ioctl(0x4242, "x"));
  MsgPtr ioc = h_->TakeOneDown();
  ASSERT_TRUE(ioc);
  EXPECT_EQ(DB_TYPE(ioc.get()), M_IOCTL);
  EXPECT_EQ(reinterpret_cast<iocblk*>(ioc->b_rptr)->ioc_cmd, 0x4242);
  h_->SendDown(Make(M_FLUSH, std::string(1, FLUSHW)));
  MsgPtr f = h_->TakeOneDown();
  ASSERT_TRUE(f);
  EXPECT_EQ(DB_TYPE(f.get()), M_FLUSH);
  // Up: the head flushes and reflects FLUSHW down.
  h_->SendUp(Make(M_DATA, "stale"));
  h_->SendUp(Make(M_FLUSH, std::string(1, FLUSHRW)));
  EXPECT_EQ(h_->up_count(), 0);
  f = h_->TakeOneDown();
  ASSERT_TRUE(f);
  EXPECT_EQ(f.Bytes(), std::string(1, FLUSHW));
}

// Real worker threads, both directions at once (for ThreadSanitizer): every packet is in the
// file once, whole, in time order.
TEST_F(PcapTest, ThreadedTrafficBothWays) {
  Harness::Options o;
  o.threaded = true;
  Start(o);
  ASSERT_EQ(Open(path_), 0);
  constexpr int kEach = 1000;
  std::thread below([&] {
    for (int i = 0; i < kEach; ++i) h_->SendUp(Make(M_DATA, "u" + std::to_string(i)));
  });
  for (int i = 0; i < kEach; ++i) h_->SendDown(Make(M_DATA, "d" + std::to_string(i)));
  below.join();
  h_->RunUntilIdle();
  EXPECT_EQ(h_->TakeUp().size(), static_cast<size_t>(kEach));
  EXPECT_EQ(h_->TakeDown().size(), static_cast<size_t>(kEach));
  ASSERT_EQ(Close(), 0);
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_ETHERNET);
  ASSERT_EQ(c.records.size(), 2u * kEach);
  int next_up = 0, next_down = 0;
  uint64_t last_us = 0;
  for (const PcapRecord& r : c.records) {
    int& next = r.data[0] == 'u' ? next_up : next_down;
    EXPECT_EQ(std::stoi(r.data.substr(1)), next) << r.data;
    next++;
    uint64_t us = uint64_t{r.ts_sec} * 1000000 + r.ts_usec;
    EXPECT_GE(us, last_us);
    last_us = us;
  }
}

// Through a real stream head: a STREAMS pipe with pcap pushed on one end, driven with the
// application interface (I_PUSH, write, read, I_STR).
TEST_F(PcapTest, WorksThroughTheStreamHead) {
  Domain domain;
  ASSERT_TRUE(RegisterPcapModule(domain.registry()).ok());
  DomainScope scope(&domain);
  int fds[2];
  ASSERT_EQ(us_pipe(fds), 0) << errno;
  ASSERT_EQ(us_ioctl(fds[0], I_PUSH, "pcap"), 0) << errno;
  std::string path = CString(path_);
  strioctl open{PCAP_IOC_OPEN, 0, static_cast<int>(path.size()), path.data()};
  ASSERT_EQ(us_ioctl(fds[0], I_STR, &open), 0) << errno;
  EXPECT_EQ(us_ioctl(fds[0], I_STR, &open), -1);
  EXPECT_EQ(errno, EINVAL);
  ASSERT_EQ(us_write(fds[0], "down", 4), 4);
  ASSERT_EQ(us_write(fds[1], "up!", 3), 3);
  char buf[16];
  ASSERT_EQ(us_read(fds[1], buf, sizeof(buf)), 4);
  ASSERT_EQ(us_read(fds[0], buf, sizeof(buf)), 3);
  pcap_ioc_stats s{};
  strioctl stats{PCAP_IOC_STATS, 0, sizeof(s), reinterpret_cast<char*>(&s)};
  ASSERT_EQ(us_ioctl(fds[0], I_STR, &stats), 0) << errno;
  EXPECT_EQ(stats.ic_len, static_cast<int>(sizeof(s)));
  EXPECT_EQ(s.ps_packets, 2u);
  EXPECT_EQ(s.ps_bytes, 7u);
  strioctl close{PCAP_IOC_CLOSE, 0, 0, nullptr};
  ASSERT_EQ(us_ioctl(fds[0], I_STR, &close), 0) << errno;
  EXPECT_EQ(us_close(fds[0]), 0);
  EXPECT_EQ(us_close(fds[1]), 0);
  Capture c = Parse(path_);
  ExpectGlobalHeader(c, PCAP_LINKTYPE_ETHERNET);
  ASSERT_EQ(c.records.size(), 2u);
  EXPECT_EQ(c.records[0].data, "down");
  EXPECT_EQ(c.records[1].data, "up!");
}

}  // namespace
}  // namespace ustreams
