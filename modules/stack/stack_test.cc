// Stacks as instances: several in one process share nothing; threaded stacks exchange datagrams
// over a loop wire with real threads; a stack destroyed with traffic in flight (frames on the
// wire, datagrams waiting for ARP, fragments in reassembly, timers armed) frees everything and
// leaves no thread behind.
#include "modules/stack/stack.h"

#include <dirent.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "drivers/loop/loop.h"
#include "gtest/gtest.h"
#include "modules/ip/ip_test_util.h"
#include "streams/testing/leak_check.h"

namespace ustreams {
namespace {

using ip::IpConfig;
using ip::IpDrop;
using ip::testing::Addr;
using ip::testing::IpControl;
using ip::testing::Payload;
using ip::testing::PayloadBytes;
using ip::testing::Received;
using ip::testing::Recorder;
using ip::testing::To;
using ip::testing::World;

constexpr uint8_t kTestProto = 253;  // RFC 3692 experimentation

// Threads of this process (entries of /proc/self/task).
int ThreadCount() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') n++;
  }
  closedir(d);
  return n;
}

// The threads of the process before a test makes any. One thread is started and joined first,
// so that a runtime that starts a helper thread with the first thread (ThreadSanitizer does) has
// it already; the least of a few samples, since a thread just joined (by an earlier test) may
// linger in /proc for a moment.
int BaselineThreadCount() {
  std::thread([] {}).join();
  int n = ThreadCount();
  for (int i = 0; i < 50; i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    n = std::min(n, ThreadCount());
  }
  return n;
}

// Polls cond until it holds or `limit` of wall time has passed.
template <typename F>
bool WaitFor(F cond, absl::Duration limit = absl::Seconds(60)) {
  const absl::Time end = absl::Now() + limit;
  while (!cond()) {
    if (absl::Now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

Stack::Options Deterministic() {
  Stack::Options o;
  o.deterministic = true;
  return o;
}

class StackTest : public testing::LeakCheckedTest {};

// ---- Several stacks, nothing shared ----

// Two pairs of stacks with the same addresses and interface names, each pair on its own loop
// network: what one pair does is invisible to the other.
TEST_F(StackTest, PairsWithTheSameAddressesDoNotInterfere) {
  World w1, w2;
  Stack* a[2];
  Stack* b[2];
  for (World* w : {&w1, &w2}) {
    auto [pa, pb] = w->net.AddWire();
    Stack& sa = w->Add();
    Stack& sb = w->Add();
    w->Start();
    ASSERT_TRUE(sa.AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
    ASSERT_TRUE(sb.AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
    w->Run();
    a[w == &w1 ? 0 : 1] = &sa;
    b[w == &w1 ? 0 : 1] = &sb;
  }
  EXPECT_NE(&a[0]->ip(), &a[1]->ip());
  EXPECT_NE(&a[0]->domain(), &a[1]->domain());
  EXPECT_EQ(ip::Ip::Of(a[0]->domain()), &a[0]->ip());
  {
    Recorder rb0(b[0]->ip(), kTestProto);
    Recorder rb1(b[1]->ip(), kTestProto);
    Recorder ra1(a[1]->ip(), kTestProto);
    ASSERT_EQ(a[0]->ip().Send(To("10.0.0.2", kTestProto), Payload(100, 1)), 0);
    w1.Run();
    w2.Run();
    std::vector<Received> got = rb0.Take();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, PayloadBytes(100, 1));
    EXPECT_TRUE(rb1.Take().empty());
    EXPECT_TRUE(ra1.Take().empty());
    // The other pair resolves for itself: nothing was learned on its behalf.
    EXPECT_EQ(a[1]->ip().stats().arp_requests_out.load(), 1u) << "only its gratuitous one";
    EXPECT_EQ(a[1]->ip().stats().out_requests.load(), 0u);

    ASSERT_EQ(a[1]->ip().Send(To("10.0.0.2", kTestProto), Payload(200, 2)), 0);
    w1.Run();
    w2.Run();
    got = rb1.Take();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, PayloadBytes(200, 2));
    EXPECT_TRUE(rb0.Take().empty());
    EXPECT_EQ(a[1]->ip().stats().arp_requests_out.load(), 2u);
  }
  // Configuration stays with its stack too.
  ASSERT_TRUE(a[0]->AddRoute("0.0.0.0/0", "10.0.0.2").ok());
  EXPECT_TRUE(a[0]->ip().routes().Lookup(Addr("8.8.8.8")).has_value());
  EXPECT_FALSE(a[1]->ip().routes().Lookup(Addr("8.8.8.8")).has_value());
  {
    IpControl c0(*a[0]);
    ASSERT_EQ(c0.SetForwarding(true), 0);
    IpControl c1(*a[1]);
    int32_t v = -1;
    ASSERT_EQ(c1.Ioctl(IPIOC_GETFORWARD, &v), 0);
    EXPECT_EQ(v, 0);
  }
  ASSERT_TRUE(a[1]->AddAddress("net0", "10.0.0.5/24").ok());
  EXPECT_TRUE(a[1]->ip().IsLocalAddress(Addr("10.0.0.5")));
  EXPECT_FALSE(a[0]->ip().IsLocalAddress(Addr("10.0.0.5")));
}

// ---- Real threads ----

// Counts the datagrams of each sender thread and checks their contents.
class Counter : public ip::Transport {
 public:
  static constexpr int kSenders = 4;
  explicit Counter(ip::Ip& ip) : ip_(ip) { ip_.RegisterTransport(kTestProto, this); }
  ~Counter() override { ip_.RegisterTransport(kTestProto, nullptr); }

  void Receive(const ip::Ipv4Header& h, MsgPtr, uint32_t, bool) override {
    const std::string p = h.payload.ToString();
    const int sender = p.empty() ? -1 : static_cast<uint8_t>(p[0]);
    uint32_t seq = 0;
    if (p.size() >= 5) std::memcpy(&seq, p.data() + 1, 4);
    if (sender < 0 || sender >= kSenders || p != Content(sender, seq, p.size())) {
      bad_.fetch_add(1);
      return;
    }
    got_[sender].fetch_add(1);
  }
  void ReceiveIcmpError(const ip::IcmpMessage&, uint32_t) override { errors_.fetch_add(1); }

  // What sender `s` puts in datagram `seq` of n bytes.
  static std::string Content(int s, uint32_t seq, size_t n) {
    std::string c(n, '\0');
    for (size_t i = 0; i < n; i++) c[i] = static_cast<char>(i * 13 + seq);
    c[0] = static_cast<char>(s);
    std::memcpy(c.data() + 1, &seq, 4);
    return c;
  }
  uint64_t got(int s) const { return got_[s].load(); }
  uint64_t bad() const { return bad_.load(); }
  uint64_t errors() const { return errors_.load(); }

 private:
  ip::Ip& ip_;
  std::array<std::atomic<uint64_t>, kSenders> got_{};
  std::atomic<uint64_t> bad_{0};
  std::atomic<uint64_t> errors_{0};
};

MsgPtr Message(const std::string& c) {
  mblk_t* mp = allocb(ip::kIpHeadroom + c.size());
  mp->b_rptr += ip::kIpHeadroom;
  std::memcpy(mp->b_rptr, c.data(), c.size());
  mp->b_wptr = mp->b_rptr + c.size();
  return MsgPtr(mp);
}

TEST_F(StackTest, ThreadedStacksExchangeDatagrams) {
  const int threads_before = BaselineThreadCount();
  {
    LoopNetwork net;
    auto [pa, pb] = net.AddWire();
    Stack a, b;  // threaded: each has its scheduler's worker threads
    ASSERT_TRUE(a.AttachLoopNetwork(net).ok());
    ASSERT_TRUE(b.AttachLoopNetwork(net).ok());
    ASSERT_TRUE(a.AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
    ASSERT_TRUE(b.AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
    EXPECT_GT(ThreadCount(), threads_before);
    Counter ca(a.ip()), cb(b.ip());

    // Senders 0 and 1 on A toward B, 2 and 3 on B toward A; each keeps at most kWindow of its
    // datagrams unreceived, so no queue overflows. Every third datagram is fragmented.
    constexpr uint32_t kPerSender = 150;
    constexpr uint32_t kWindow = 4;
    const size_t kSizes[] = {40, 1200, 4000};
    std::atomic<int> failures{0};
    std::vector<std::thread> senders;
    for (int s = 0; s < Counter::kSenders; s++) {
      senders.emplace_back([&, s] {
        Stack& from = s < 2 ? a : b;
        Counter& to = s < 2 ? cb : ca;
        const char* dst = s < 2 ? "10.0.0.2" : "10.0.0.1";
        for (uint32_t seq = 0; seq < kPerSender; seq++) {
          if (!WaitFor([&] { return to.got(s) + kWindow > seq; })) {
            failures.fetch_add(1);
            return;
          }
          const std::string c = Counter::Content(s, seq, kSizes[seq % 3]);
          if (from.ip().Send(To(dst, kTestProto), Message(c)) != 0) failures.fetch_add(1);
        }
      });
    }
    for (std::thread& t : senders) t.join();
    EXPECT_EQ(failures.load(), 0);
    for (int s = 0; s < Counter::kSenders; s++) {
      Counter& to = s < 2 ? cb : ca;
      EXPECT_TRUE(WaitFor([&] { return to.got(s) == kPerSender; }))
          << "sender " << s << ": " << to.got(s) << " of " << kPerSender;
    }
    EXPECT_EQ(ca.bad() + cb.bad(), 0u);
    EXPECT_EQ(ca.errors() + cb.errors(), 0u);
    EXPECT_EQ(a.ip().stats().reasm_oks.load(), 2 * kPerSender / 3);
    EXPECT_EQ(a.ip().reassembly_load().bytes, 0u);
    EXPECT_EQ(b.ip().reassembly_load().bytes, 0u);
  }
  EXPECT_TRUE(WaitFor([&] { return ThreadCount() <= threads_before; }, absl::Seconds(10)))
      << ThreadCount() << " threads, " << threads_before << " before";
}

// ---- Teardown with traffic in flight ----

// A and B on a wire, with everything a stack can hold mid-flight: frames on the wire (a delay),
// datagrams waiting for an ARP answer that will not come, a datagram half reassembled at B (the
// first fragments lost), and the timers of all three armed. `run` returns once the stacks have
// handled what was sent (it is not called after the delay is set).
void FillPipes(LoopNetwork& net, int pa, int pb, Stack& a, Stack& b,
               const std::function<void()>& run) {
  // Resolve A <-> B first.
  ASSERT_EQ(a.ip().Send(To("10.0.0.2", kTestProto), Payload(10)), 0);
  run();
  // B's card drops frames with more than 100 bytes of payload: only the last fragment of a
  // 3000-byte datagram gets in.
  Impairments small;
  small.mtu = 100;
  ASSERT_TRUE(net.SetImpairments(pb, LinkDir::kIn, small).ok());
  ASSERT_EQ(a.ip().Send(To("10.0.0.2", kTestProto), Payload(3000)), 0);
  run();
  ASSERT_TRUE(net.SetImpairments(pb, LinkDir::kIn, Impairments{}).ok());
  // Frames that stay on the wire for a while, both ways, fragmented or not.
  Impairments slow;
  slow.delay = absl::Seconds(5);
  ASSERT_TRUE(net.SetImpairments(pa, LinkDir::kOut, slow).ok());
  ASSERT_TRUE(net.SetImpairments(pb, LinkDir::kOut, slow).ok());
  for (int i = 0; i < 5; i++) {
    ASSERT_EQ(a.ip().Send(To("10.0.0.2", kTestProto), Payload(i == 0 ? 20000 : 300)), 0);
    ASSERT_EQ(b.ip().Send(To("10.0.0.1", kTestProto), Payload(i == 0 ? 20000 : 300)), 0);
  }
  // Nobody has 10.0.0.99: its datagrams wait in ARP.
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(a.ip().Send(To("10.0.0.99", kTestProto), Payload(2000)), 0);
  }
}

struct TeardownCase {
  const char* name;
  bool network_first;  // the LoopNetwork goes before the stacks
};

class StackTeardownTest : public StackTest, public ::testing::WithParamInterface<TeardownCase> {};

TEST_P(StackTeardownTest, DeterministicStacksWithTrafficInFlight) {
  auto net = std::make_unique<LoopNetwork>();
  auto [pa, pb] = net->AddWire();
  auto a = std::make_unique<Stack>(Deterministic());
  auto b = std::make_unique<Stack>(Deterministic());
  ASSERT_TRUE(a->AttachLoopNetwork(*net).ok());
  ASSERT_TRUE(b->AttachLoopNetwork(*net).ok());
  Lockstep clock({&a->domain(), &b->domain()});
  ASSERT_TRUE(a->AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
  ASSERT_TRUE(b->AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
  ASSERT_NO_FATAL_FAILURE(FillPipes(*net, pa, pb, *a, *b, [&] { clock.RunUntilIdle(); }));
  clock.RunUntilIdle();

  EXPECT_GT(net->in_flight_frames(), 0u);
  EXPECT_EQ(b->ip().reassembly_load().datagrams, 1u);
  {
    IpControl ctl(*a);
    ip_arpreq r{};
    r.addr = htonl(Addr("10.0.0.99"));
    ASSERT_EQ(ctl.Ioctl(IPIOC_ARPGET, &r), 0);
    EXPECT_EQ(r.flags & IPARP_COMPLETE, 0u) << "still resolving";
  }
  EXPECT_NE(clock.NextDeadline(), absl::InfiniteFuture());

  if (GetParam().network_first) net.reset();
  a.reset();
  b.reset();
  net.reset();
  // The leak check (TearDown) counts every message block.
}

TEST_P(StackTeardownTest, ThreadedStacksWithTrafficInFlight) {
  const int threads_before = BaselineThreadCount();
  {
    auto net = std::make_unique<LoopNetwork>();
    auto [pa, pb] = net->AddWire();
    auto a = std::make_unique<Stack>();
    auto b = std::make_unique<Stack>();
    ASSERT_TRUE(a->AttachLoopNetwork(*net).ok());
    ASSERT_TRUE(b->AttachLoopNetwork(*net).ok());
    ASSERT_TRUE(a->AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
    ASSERT_TRUE(b->AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
    // A ping round trip: the link delivers in order, so B has handled whatever A sent before.
    const auto& replies = a->ip().stats().icmp_in_type[ip::kIcmpEchoReply];
    auto run = [&] {
      const uint64_t n = replies.load();
      ASSERT_EQ(a->ip().Send(To("10.0.0.2", ip::kProtoIcmp), ip::testing::EchoRequest(1, 1, 8)),
                0);
      ASSERT_TRUE(WaitFor([&] { return replies.load() > n; }));
    };
    ASSERT_NO_FATAL_FAILURE(FillPipes(*net, pa, pb, *a, *b, run));
    EXPECT_TRUE(WaitFor([&] { return net->in_flight_frames() > 0; }));
    EXPECT_EQ(b->ip().reassembly_load().datagrams, 1u);
    if (GetParam().network_first) net.reset();
    a.reset();
    b.reset();
  }
  EXPECT_TRUE(WaitFor([&] { return ThreadCount() <= threads_before; }, absl::Seconds(10)))
      << ThreadCount() << " threads, " << threads_before << " before";
}

INSTANTIATE_TEST_SUITE_P(Order, StackTeardownTest,
                         ::testing::Values(TeardownCase{"StacksFirst", false},
                                           TeardownCase{"NetworkFirst", true}),
                         [](const ::testing::TestParamInfo<TeardownCase>& i) {
                           return std::string(i.param.name);
                         });

}  // namespace
}  // namespace ustreams
