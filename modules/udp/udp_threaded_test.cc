// UDP between two threaded stacks in real time: an echo server on its own thread, several
// senders at once, and streams closed while datagrams arrive (run under TSan and ASan too).
#include <netinet/in.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "modules/udp/testing/tpi_test_util.h"

namespace ustreams::tpi_testing {
namespace {

constexpr int kWaitMs = 5000;

class UdpThreadedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    before_ = GetAllocStats();
    fds_before_ = fdtable::Count();
    auto [pa, pb] = net_.AddWire();
    a_ = std::make_unique<Stack>();
    b_ = std::make_unique<Stack>();
    ASSERT_TRUE(a_->AttachLoopNetwork(net_).ok());
    ASSERT_TRUE(b_->AttachLoopNetwork(net_).ok());
    ASSERT_TRUE(a_->AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
    ASSERT_TRUE(b_->AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
  }
  void TearDown() override {
    // Traffic settles before the transports this test registered go (tpi_test_util.h).
    for (int i = 0; i < 200 && net_.in_flight_frames() != 0; i++) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    a_->scheduler().WaitIdle();
    b_->scheduler().WaitIdle();
    a_.reset();
    b_.reset();
    EXPECT_EQ(fdtable::Count(), fds_before_) << "stream descriptors left open";
    AllocStats after = GetAllocStats();
    EXPECT_EQ(after.live_mblks, before_.live_mblks) << "message blocks leaked";
    EXPECT_EQ(after.live_dblks, before_.live_dblks) << "data blocks leaked";
  }

  // A bound /dev/udp stream of stack s (the caller closes it).
  static int OpenBound(Stack& s, const sockaddr_in& addr) {
    DomainScope scope(&s.domain());
    int fd = us_open("/dev/udp", O_RDWR);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(Put(fd, BindReq(addr)), 0);
    EXPECT_EQ(Get(fd, kWaitMs).prim(), T_BIND_ACK);
    return fd;
  }
  static void Close(Stack& s, int fd) {
    DomainScope scope(&s.domain());
    EXPECT_EQ(us_close(fd), 0);
  }
  static void SetRcvbuf(int fd, int bytes) {
    EXPECT_EQ(Put(fd, Svr4OptReq(T_NEGOTIATE, {{SOL_SOCKET, SO_RCVBUF, bytes}})), 0);
    EXPECT_EQ(Get(fd, kWaitMs).prim(), T_OPTMGMT_ACK);
  }

  AllocStats before_{};
  int fds_before_ = 0;
  LoopNetwork net_;
  std::unique_ptr<Stack> a_, b_;
};

TEST_F(UdpThreadedTest, EchoServerOnItsOwnThread) {
  const int server = OpenBound(*b_, Sin("0.0.0.0", 7));
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    DomainScope scope(&b_->domain());
    while (!stop.load()) {
      Msg m = Get(server, 50);
      if (m.prim() != T_UNITDATA_IND) continue;
      T_unitdata_ind ind = m.As<T_unitdata_ind>();
      std::optional<sockaddr_in> from = m.Addr(ind.SRC_offset, ind.SRC_length);
      ASSERT_TRUE(from);
      ASSERT_EQ(Put(server, UnitdataReq(*from), &m.data), 0);
    }
  });
  const int client = OpenBound(*a_, Sin("0.0.0.0", 0));
  {
    DomainScope scope(&a_->domain());
    for (int i = 0; i < 50; i++) {
      const std::string data = "datagram " + std::to_string(i) + std::string(i * 20, 'x');
      ASSERT_EQ(Put(client, UnitdataReq(Sin("10.0.0.2", 7)), &data), 0);
      Msg m = Get(client, kWaitMs);
      ASSERT_EQ(m.prim(), T_UNITDATA_IND) << "i " << i << " err " << m.err;
      EXPECT_EQ(m.data, data);
      T_unitdata_ind ind = m.As<T_unitdata_ind>();
      EXPECT_EQ(AddrString(m.Addr(ind.SRC_offset, ind.SRC_length).value_or(sockaddr_in{})),
                "10.0.0.2:7");
    }
  }
  stop = true;
  echo.join();
  Close(*a_, client);
  Close(*b_, server);
}

TEST_F(UdpThreadedTest, SeveralSendersAtOnce) {
  const int server = OpenBound(*b_, Sin("0.0.0.0", 5000));
  SetRcvbuf(server, 2 << 20);
  constexpr int kSenders = 4, kEach = 100;
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; t++) {
    senders.emplace_back([&, t] {
      const int fd = OpenBound(*a_, Sin("0.0.0.0", 0));
      DomainScope scope(&a_->domain());
      for (int i = 0; i < kEach; i++) {
        const std::string data = std::to_string(t) + ":" + std::to_string(i);
        EXPECT_EQ(Put(fd, UnitdataReq(Sin("10.0.0.2", 5000)), &data), 0);
        if (i % 10 == 9) absl::SleepFor(absl::Milliseconds(1));  // stay within the link queue
      }
      EXPECT_EQ(us_close(fd), 0);
    });
  }
  std::vector<int> next(kSenders, 0);
  int got = 0;
  {
    DomainScope scope(&b_->domain());
    while (got < kSenders * kEach) {
      Msg m = Get(server, 1000);
      if (m.rc < 0) break;  // the rest was lost on the way (a full link queue drops)
      ASSERT_EQ(m.prim(), T_UNITDATA_IND);
      const size_t colon = m.data.find(':');
      ASSERT_NE(colon, std::string::npos) << m.data;
      const int t = std::stoi(m.data.substr(0, colon)), i = std::stoi(m.data.substr(colon + 1));
      ASSERT_TRUE(t >= 0 && t < kSenders) << m.data;
      EXPECT_GE(i, next[t]) << "sender " << t << " reordered";  // one sender's order is kept
      next[t] = i + 1;
      got++;
    }
  }
  for (std::thread& s : senders) s.join();
  EXPECT_GT(got, 0);
  EXPECT_EQ(Transports::Udp(*b_)->stats().in_datagrams, static_cast<uint64_t>(got));
  Close(*b_, server);
}

TEST_F(UdpThreadedTest, StreamsClosedWhileDatagramsArrive) {
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    const int fd = OpenBound(*a_, Sin("0.0.0.0", 0));
    DomainScope scope(&a_->domain());
    const std::string data(200, 'z');
    while (!stop.load()) {
      Put(fd, UnitdataReq(Sin("10.0.0.2", 5000)), &data);
      // Port unreachables come back while nobody listens: read them away.
      while (Get(fd).rc >= 0) {
      }
      absl::SleepFor(absl::Microseconds(200));
    }
    EXPECT_EQ(us_close(fd), 0);
  });
  for (int round = 0; round < 30; round++) {
    const int fd = OpenBound(*b_, Sin("0.0.0.0", 5000));
    absl::SleepFor(absl::Milliseconds(2));
    Close(*b_, fd);  // datagrams in the head, and arriving, go with it
  }
  stop = true;
  sender.join();
  EXPECT_EQ(Transports::Udp(*b_)->endpoints(), 0u);
}

}  // namespace
}  // namespace ustreams::tpi_testing
