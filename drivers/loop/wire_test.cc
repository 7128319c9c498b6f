// Two stacks (domains) over a wire: frames both ways as DL_UNITDATA_REQ/IND, SAP demultiplexing,
// the fast path (M_DATA with the header, DL_IOC_HDR_INFO, DLIOCRAW), the port MTU, and flow
// control from a rate-limited port up to the writer. Deterministic and threaded.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "drivers/loop/loop_test_util.h"

namespace ustreams::loop_testing {
namespace {

using WireTest = LoopTest;

struct Ind {
  MacAddr dst, src;
  uint16_t dst_sap = 0, src_sap = 0;
  bool group = false;
  std::string data;
};

// Parses a DL_UNITDATA_IND (failing the test if m is something else).
Ind ParseInd(const Msg& m) {
  Ind ind;
  EXPECT_EQ(m.rc, 0) << "errno " << m.err;
  EXPECT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_UNITDATA_IND)) << "prim " << m.prim();
  EXPECT_EQ(m.flags, 0);
  if (m.prim() != DL_UNITDATA_IND) return ind;
  auto u = m.As<dl_unitdata_ind_t>();
  EXPECT_EQ(u.dl_dest_addr_length, 8u);
  EXPECT_EQ(u.dl_src_addr_length, 8u);
  const std::string d = m.At(u.dl_dest_addr_offset, 8), s = m.At(u.dl_src_addr_offset, 8);
  if (d.size() == 8 && s.size() == 8) {
    ind.dst = MacAddr::FromBytes(reinterpret_cast<const uint8_t*>(d.data()));
    ind.src = MacAddr::FromBytes(reinterpret_cast<const uint8_t*>(s.data()));
    std::memcpy(&ind.dst_sap, d.data() + 6, 2);
    std::memcpy(&ind.src_sap, s.data() + 6, 2);
  }
  ind.group = u.dl_group_address != 0;
  ind.data = m.data;
  return ind;
}

int IoctlStr(int fd, int cmd, std::string* io) {
  std::string buf = *io;
  buf.resize(256);
  strioctl sio{cmd, 0, static_cast<int>(io->size()), buf.data()};
  if (us_ioctl(fd, I_STR, &sio) < 0) return errno;
  io->assign(buf.data(), static_cast<size_t>(sio.ic_len));
  return 0;
}

TEST_P(WireTest, FramesCrossBothWaysInOrder) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  const MacAddr ma = w.net().Mac(a), mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  constexpr int kN = 40;
  for (int i = 0; i < kN; i++) {
    ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, absl::StrCat("a to b ", i)), 0);
    ASSERT_EQ(SendUnitdata(fb, ma, 0x0800, absl::StrCat("b to a ", i)), 0);
  }
  for (int i = 0; i < kN; i++) {
    Ind at_b = ParseInd(w.Await(fb));
    EXPECT_EQ(at_b.data, absl::StrCat("a to b ", i));
    EXPECT_EQ(at_b.dst, mb);
    EXPECT_EQ(at_b.src, ma);
    EXPECT_EQ(at_b.dst_sap, 0x0800);
    EXPECT_EQ(at_b.src_sap, 0x0800);
    EXPECT_FALSE(at_b.group);
    Ind at_a = ParseInd(w.Await(fa));
    EXPECT_EQ(at_a.data, absl::StrCat("b to a ", i));
    EXPECT_EQ(at_a.src, mb);
  }
  w.Settle();
  EXPECT_EQ(Get(fa).err, EAGAIN);
  EXPECT_EQ(Get(fb).err, EAGAIN);
  const PortStats sa = w.net().Stats(a), sb = w.net().Stats(b);
  EXPECT_EQ(sa.tx_frames, static_cast<uint64_t>(kN));
  EXPECT_EQ(sa.rx_frames, static_cast<uint64_t>(kN));
  EXPECT_EQ(sb.rx_frames, static_cast<uint64_t>(kN));
  EXPECT_EQ(sa.out.passed_frames, static_cast<uint64_t>(kN));
  EXPECT_EQ(sb.in.passed_frames, static_cast<uint64_t>(kN));
  EXPECT_EQ(sa.tx_bytes, sb.rx_bytes);
  EXPECT_EQ(w.net().in_flight_frames(), 0u);
}

TEST_P(WireTest, BroadcastIsAGroupAddress) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  int fa = w.Plumb(0, a, 0x0806), fb = w.Plumb(1, b, 0x0806);
  ASSERT_EQ(SendUnitdata(fa, MacAddr::Broadcast(), 0x0806, "who has"), 0);
  Ind ind = ParseInd(w.Await(fb));
  EXPECT_TRUE(ind.group);
  EXPECT_EQ(ind.dst, MacAddr::Broadcast());
  EXPECT_EQ(ind.data, "who has");
}

TEST_P(WireTest, StreamsOfAPortTakeTheirOwnSap) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  const MacAddr mb = w.net().Mac(b);
  int ip_a = w.Plumb(0, a, 0x0800), arp_a = w.Plumb(0, a, 0x0806);
  int ip_b = w.Plumb(1, b, 0x0800), arp_b = w.Plumb(1, b, 0x0806);
  ASSERT_EQ(SendUnitdata(ip_a, mb, 0x0800, "ip"), 0);
  ASSERT_EQ(SendUnitdata(arp_a, mb, 0x0806, "arp"), 0);
  ASSERT_EQ(SendUnitdata(ip_a, mb, 0x86dd, "ipv6: nobody"), 0);  // the SAP of the address counts
  EXPECT_EQ(ParseInd(w.Await(ip_b)).data, "ip");
  Ind arp = ParseInd(w.Await(arp_b));
  EXPECT_EQ(arp.data, "arp");
  EXPECT_EQ(arp.dst_sap, 0x0806);
  w.Settle();
  EXPECT_EQ(Get(ip_b).err, EAGAIN);
  EXPECT_EQ(Get(arp_b).err, EAGAIN);
  EXPECT_EQ(w.net().Stats(b).rx_filtered, 1u);
  EXPECT_EQ(w.net().Stats(b).rx_frames, 2u);
}

TEST_P(WireTest, FramesForAnotherAddressAreFiltered) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  const MacAddr other{{0x02, 0x99, 0x99, 0x99, 0x99, 0x99}};
  ASSERT_EQ(SendUnitdata(fa, other, 0x0800, "not for b"), 0);
  w.Settle();
  EXPECT_EQ(Get(fb).err, EAGAIN);
  EXPECT_EQ(w.net().Stats(b).rx_filtered, 1u);
}

TEST_P(WireTest, FastPathSendsWholeFramesAsTheyAre) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  const MacAddr ma = w.net().Mac(a), mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  const std::string frame = Frame(mb, ma, 0x0800, "prepended by ip");
  ASSERT_EQ(us_write(fa, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  Ind ind = ParseInd(w.Await(fb));
  EXPECT_EQ(ind.data, "prepended by ip");
  EXPECT_EQ(ind.src, ma);
  // As they are: the source address too, and whatever type the header says.
  const MacAddr spoof{{0x02, 0x01, 0x02, 0x03, 0x04, 0x05}};
  const std::string spoofed = Frame(mb, spoof, 0x0800, "spoofed");
  ASSERT_EQ(Put(fa, nullptr, &spoofed), 0);
  EXPECT_EQ(ParseInd(w.Await(fb)).src, spoof);
  // Split across blocks: header in pieces.
  const std::string split = Frame(mb, ma, 0x0800, "split");
  iovec v[3] = {{const_cast<char*>(split.data()), 5},
                {const_cast<char*>(split.data()) + 5, 10},
                {const_cast<char*>(split.data()) + 15, split.size() - 15}};
  ASSERT_EQ(us_writev(fa, v, 3), static_cast<ssize_t>(split.size()));
  EXPECT_EQ(ParseInd(w.Await(fb)).data, "split");
}

TEST_P(WireTest, FastPathRefusesWhatIsNotAFrame) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  const MacAddr ma = w.net().Mac(a), mb = w.net().Mac(b);
  int fa = w.Open(0);
  int fb = w.Plumb(1, b, 0x0800);
  const std::string frame = Frame(mb, ma, 0x0800, "too early");
  ASSERT_EQ(us_write(fa, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  w.Attach(fa, a);
  ASSERT_EQ(us_write(fa, frame.data(), frame.size()), static_cast<ssize_t>(frame.size()));
  w.Bind(fa, 0x0800);
  ASSERT_EQ(us_write(fa, "short", 5), 5);
  const std::string big = Frame(mb, ma, 0x0800, std::string(1501, 'x'));
  ASSERT_EQ(us_write(fa, big.data(), big.size()), static_cast<ssize_t>(big.size()));
  const std::string mtu = Frame(mb, ma, 0x0800, std::string(1500, 'y'));
  ASSERT_EQ(us_write(fa, mtu.data(), mtu.size()), static_cast<ssize_t>(mtu.size()));
  Ind ind = ParseInd(w.Await(fb));
  EXPECT_EQ(ind.data, std::string(1500, 'y'));
  w.Settle();
  EXPECT_EQ(Get(fb).err, EAGAIN);
  const PortStats s = w.net().Stats(a);
  EXPECT_EQ(s.tx_malformed, 2u);  // unbound (attached), and short; unattached has no port
  EXPECT_EQ(s.tx_oversize, 1u);
  EXPECT_EQ(s.tx_frames, 1u);
}

TEST_P(WireTest, HeaderInfoSwitchesToFastPathReceive) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  const MacAddr ma = w.net().Mac(a), mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  dl_unitdata_req_t r{};
  r.dl_primitive = DL_UNITDATA_REQ;
  r.dl_dest_addr_length = 8;
  r.dl_dest_addr_offset = sizeof(r);
  std::string io = Bytes(r) + Dlsap(ma, 0x0800);
  ASSERT_EQ(IoctlStr(fb, DL_IOC_HDR_INFO, &io), 0);
  const std::string header = io.substr(sizeof(r) + 8);
  EXPECT_EQ(header, Frame(ma, mb, 0x0800, ""));
  // B now gets M_DATA without the header...
  ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, "payload only"), 0);
  Msg m = w.Await(fb);
  EXPECT_EQ(m.rc, 0);
  EXPECT_FALSE(m.has_ctl);
  EXPECT_EQ(m.data, "payload only");
  // ... and sends by prepending the header it was given.
  const std::string back = header + "reply";
  ASSERT_EQ(us_write(fb, back.data(), back.size()), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(ParseInd(w.Await(fa)).data, "reply");
  // Unbinding ends the fast path.
  w.ExpectOk(fb, w.Request(fb, dl_unbind_req_t{DL_UNBIND_REQ}), DL_UNBIND_REQ);
  w.Bind(fb, 0x0800);
  ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, "unitdata again"), 0);
  EXPECT_EQ(ParseInd(w.Await(fb)).data, "unitdata again");
}

TEST_P(WireTest, RawModeDeliversTheWholeFrame) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  const MacAddr ma = w.net().Mac(a), mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800);
  int fb = w.Open(1);
  std::string none;
  ASSERT_EQ(IoctlStr(fb, DLIOCRAW, &none), 0);  // before attach: kept through the bind
  w.Attach(fb, b);
  w.Bind(fb, 0x0800);
  ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, "raw"), 0);
  Msg m = w.Await(fb);
  EXPECT_FALSE(m.has_ctl);
  EXPECT_EQ(m.data, Frame(mb, ma, 0x0800, "raw"));
}

TEST_P(WireTest, PortMtuIsTheMaximumSdu) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(w.net().SetMtu(a, 1000).ok());
  EXPECT_FALSE(w.net().SetMtu(a, 10).ok());
  EXPECT_FALSE(w.net().SetMtu(99, 1000).ok());
  const MacAddr mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  Msg info = w.Request(fa, dl_info_req_t{DL_INFO_REQ}, RS_HIPRI);
  EXPECT_EQ(info.As<dl_info_ack_t>().dl_max_sdu, 1000u);
  ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, std::string(1001, 'x')), 0);
  Msg m = w.Await(fa);
  ASSERT_EQ(m.prim(), static_cast<t_uscalar_t>(DL_UDERROR_IND));
  EXPECT_EQ(m.As<dl_uderror_ind_t>().dl_errno, static_cast<t_uscalar_t>(DL_BADDATA));
  ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, std::string(1000, 'y')), 0);
  EXPECT_EQ(ParseInd(w.Await(fb)).data.size(), 1000u);
}

// A rate-limited port holds the sender back through flow control: the writer sees EAGAIN after
// a bounded amount, frames leave at the link rate, and the writer may go on once they drain.
TEST_P(WireTest, RateLimitFlowControlsTheWriter) {
  if (!deterministic()) GTEST_SKIP() << "counts virtual milliseconds";
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  ASSERT_TRUE(w.net()
                  .SetImpairments(a, LinkDir::kOut,
                                  {.rate_bps = 1'000'000, .queue_bytes = 3000})
                  .ok());
  const MacAddr mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  const std::string payload(1486, 'r');  // 1500-byte frames: 12 ms each at 1 Mbit/s
  int sent = 0;
  for (;;) {
    if (SendUnitdata(fa, mb, 0x0800, payload) != 0) {
      ASSERT_EQ(errno, EAGAIN);
      break;
    }
    sent++;
    w.Settle();
    ASSERT_LT(sent, 1000) << "the writer was never held back";
  }
  // The driver's write queue holds about its 64 KiB high-water mark; the port two frames.
  EXPECT_GT(sent, 40);
  EXPECT_LT(sent, 50);
  const absl::Time t0 = w.lockstep().Now();
  std::vector<absl::Duration> arrivals;
  int received = 0;
  while (received < sent) {
    w.Advance(absl::Milliseconds(1));
    for (Msg m = Get(fb); m.rc >= 0; m = Get(fb)) {
      EXPECT_EQ(ParseInd(m).data.size(), payload.size());
      arrivals.push_back(w.lockstep().Now() - t0);
      received++;
    }
    ASSERT_LT(w.lockstep().Now() - t0, absl::Seconds(5));
  }
  // Back to back at the link rate after the first.
  for (size_t i = 1; i < arrivals.size(); i++) {
    EXPECT_EQ(arrivals[i] - arrivals[i - 1], absl::Milliseconds(12))
        << "frame " << i << " at " << arrivals[i] << " previous " << arrivals[i - 1];
  }
  // The writer may go on.
  EXPECT_EQ(SendUnitdata(fa, mb, 0x0800, payload), 0);
  EXPECT_EQ(w.net().Stats(a).out.dropped_queue, 0u);  // held back, never dropped
}

// Real threads: two writers and two readers at once, each way in order.
TEST_P(WireTest, ConcurrentTrafficBothWays) {
  World& w = MakeWorld(2);
  auto [a, b] = w.net().AddWire();
  const MacAddr ma = w.net().Mac(a), mb = w.net().Mac(b);
  int fa = w.Plumb(0, a, 0x0800), fb = w.Plumb(1, b, 0x0800);
  constexpr int kN = 300;
  if (w.deterministic()) {
    for (int i = 0; i < kN; i++) {
      ASSERT_EQ(SendUnitdata(fa, mb, 0x0800, absl::StrCat(i)), 0);
      ASSERT_EQ(SendUnitdata(fb, ma, 0x0800, absl::StrCat(i)), 0);
      if (i % 50 == 0) w.Settle();
    }
  }
  auto writer = [&](int fd, const MacAddr& to) {
    for (int i = 0; i < kN;) {
      if (SendUnitdata(fd, to, 0x0800, absl::StrCat(i)) == 0) {
        i++;
      } else {
        std::this_thread::yield();
      }
    }
  };
  std::atomic<int> bad{0};
  auto reader = [&](int fd) {
    for (int i = 0; i < kN; i++) {
      Msg m = w.Await(fd);
      if (m.rc != 0 || m.data != absl::StrCat(i)) bad++;
    }
  };
  if (w.deterministic()) {
    reader(fa);
    reader(fb);
  } else {
    std::thread t1(writer, fa, mb), t2(writer, fb, ma), t3(reader, fa), t4(reader, fb);
    t1.join();
    t2.join();
    t3.join();
    t4.join();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(w.net().Stats(a).rx_overflow + w.net().Stats(b).rx_overflow, 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, WireTest,
                         ::testing::Values(Mode::kDeterministic, Mode::kThreaded), ModeName);

}  // namespace
}  // namespace ustreams::loop_testing
