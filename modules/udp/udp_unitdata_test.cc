// Datagrams both ways between two stacks over a loop wire, in virtual time: T_UNITDATA_REQ out,
// T_UNITDATA_IND in, and the T_UDERROR_INDs of what cannot go or is refused.
#include <netinet/in.h>

#include <string>

#include "modules/udp/testing/tpi_test_util.h"

namespace ustreams::tpi_testing {
namespace {

class UdpUnitdataTest : public TwoStacks {
 protected:
  // The next T_UNITDATA_IND on fd: its source and data.
  struct Datagram {
    sockaddr_in from{};
    std::string data;
    bool ok = false;
  };
  Datagram Recv(int fd) {
    Datagram d;
    Msg m = Get(fd);
    EXPECT_EQ(m.prim(), T_UNITDATA_IND) << "rc " << m.rc << " err " << m.err;
    if (m.prim() != T_UNITDATA_IND) return d;
    T_unitdata_ind ind = m.As<T_unitdata_ind>();
    EXPECT_EQ(ind.OPT_length, 0);
    std::optional<sockaddr_in> s = m.Addr(ind.SRC_offset, ind.SRC_length);
    EXPECT_TRUE(s);
    d.from = s.value_or(sockaddr_in{});
    d.data = m.data;
    d.ok = m.has_data;
    return d;
  }
  // The next message on fd must be a T_UDERROR_IND; returns its ERROR_type and destination.
  int Uderror(int fd, std::string* dest = nullptr) {
    Msg m = Get(fd);
    EXPECT_EQ(m.prim(), T_UDERROR_IND) << "prim " << m.prim() << " err " << m.err;
    T_uderror_ind u = m.As<T_uderror_ind>();
    if (dest != nullptr) {
      std::optional<sockaddr_in> s = m.Addr(u.DEST_offset, u.DEST_length);
      *dest = s ? AddrString(*s) : "";
    }
    return u.ERROR_type;
  }
  static std::string Pattern(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i++) s[i] = static_cast<char>(i * 31 + (i >> 8));
    return s;
  }
};

TEST_F(UdpUnitdataTest, DatagramsGoBothWays) {
  int fa = Open(a()), fb = Open(b());
  Bind(fa, Sin("0.0.0.0", 4000));
  Bind(fb, Sin("0.0.0.0", 5000));
  SendTo(fa, Sin("10.0.0.2", 5000), "hello");
  Run();
  Datagram d = Recv(fb);
  EXPECT_EQ(AddrString(d.from), "10.0.0.1:4000");
  EXPECT_EQ(d.data, "hello");
  SendTo(fb, d.from, "world");
  Run();
  d = Recv(fa);
  EXPECT_EQ(AddrString(d.from), "10.0.0.2:5000");
  EXPECT_EQ(d.data, "world");
  EXPECT_EQ(Get(fa).err, ETIME);  // nothing else: no T_UDERROR_IND for a datagram that went
  EXPECT_EQ(udp(a()).stats().out_datagrams, 1u);
  EXPECT_EQ(udp(a()).stats().in_datagrams, 1u);
  EXPECT_EQ(udp(b()).stats().in_datagrams, 1u);
}

// As illumos' UDP: a T_UNITDATA_REQ before T_BIND_REQ is answered with T_UDERROR_IND EPROTO,
// nothing is sent, and the stream stays unbound (a socket layer binds first).
TEST_F(UdpUnitdataTest, AnUnboundSenderGetsEproto) {
  int fa = Open(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  SendTo(fa, Sin("10.0.0.2", 5000), "x");
  Run();
  Msg m = Get(fa);
  ASSERT_EQ(m.prim(), T_UDERROR_IND);
  EXPECT_EQ(m.As<T_uderror_ind>().ERROR_type, EPROTO);
  EXPECT_EQ(Get(fb).err, ETIME) << "nothing was sent";
  Msg info = Ask(fa, InfoReq());
  EXPECT_EQ(info.As<T_info_ack>().CURRENT_state, TS_UNBND);
}

TEST_F(UdpUnitdataTest, BoundAddressIsTheSource) {
  ASSERT_TRUE(a().AddAddress("net0", "10.0.0.11/24").ok());
  int fa = Open(a()), fb = Open(b());
  Bind(fa, Sin("10.0.0.11", 4000));
  Bind(fb, Sin("0.0.0.0", 5000));
  SendTo(fa, Sin("10.0.0.2", 5000), "from .11");
  Run();
  EXPECT_EQ(AddrString(Recv(fb).from), "10.0.0.11:4000");
}

TEST_F(UdpUnitdataTest, LargeDatagramsAreFragmentedAndReassembled) {
  int fa = OpenSender(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  const std::string big = Pattern(20000);
  SendTo(fa, Sin("10.0.0.2", 5000), big);
  Run();
  Datagram d = Recv(fb);
  EXPECT_EQ(d.data.size(), big.size());
  EXPECT_TRUE(d.data == big);
}

// To this stack itself: a 65507-byte datagram is 45 fragments, more than a loop link's transmit
// queue (64 KiB) takes at once, and IP drops what does not fit, as a full NIC ring would.
TEST_F(UdpUnitdataTest, TheLargestDatagramGoesAndOneMoreByteDoesNot) {
  int f1 = OpenSender(a()), f2 = Open(a());
  Bind(f2, Sin("0.0.0.0", 5000));
  const std::string max = Pattern(65507);
  SendTo(f1, Sin("10.0.0.1", 5000), max);
  Run();
  Datagram d = Recv(f2);
  EXPECT_TRUE(d.data == max);
  SendTo(f1, Sin("10.0.0.2", 5000), Pattern(65508));
  Run();
  std::string dest;
  EXPECT_EQ(Uderror(f1, &dest), EMSGSIZE);
  EXPECT_EQ(dest, "10.0.0.2:5000");
}

TEST_F(UdpUnitdataTest, ZeroLengthDatagram) {
  int fa = OpenSender(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  SendTo(fa, Sin("10.0.0.2", 5000), "");
  Run();
  Msg m = Get(fb);
  ASSERT_EQ(m.prim(), T_UNITDATA_IND);
  EXPECT_TRUE(m.data.empty());
}

TEST_F(UdpUnitdataTest, ToOurOwnAddressAndToLoopback) {
  int f1 = OpenSender(a()), f2 = Open(a());
  Bind(f2, Sin("0.0.0.0", 5000));
  SendTo(f1, Sin("10.0.0.1", 5000), "self");
  SendTo(f1, Sin("127.0.0.1", 5000), "loop");
  SendTo(f1, Sin("0.0.0.0", 5000), "any");  // the unspecified destination is this host
  Run();
  EXPECT_EQ(Recv(f2).data, "self");
  Datagram d = Recv(f2);
  EXPECT_EQ(d.data, "loop");
  EXPECT_EQ(AddrString(d.from).rfind("127.0.0.1:", 0), 0u);
  EXPECT_EQ(Recv(f2).data, "any");
}

TEST_F(UdpUnitdataTest, NoRouteIsEnetunreach) {
  int fa = OpenSender(a());
  SendTo(fa, Sin("192.168.7.7", 53), "lost");
  Run();
  std::string dest;
  EXPECT_EQ(Uderror(fa, &dest), ENETUNREACH);
  EXPECT_EQ(dest, "192.168.7.7:53");
  EXPECT_EQ(udp(a()).stats().out_errors, 1u);
}

TEST_F(UdpUnitdataTest, PortZeroIsRefused) {
  int fa = OpenSender(a());
  SendTo(fa, Sin("10.0.0.2", 0), "x");
  Run();
  EXPECT_EQ(Uderror(fa), EADDRNOTAVAIL);
}

TEST_F(UdpUnitdataTest, PortUnreachableComesBackAsEconnrefused) {
  int fa = Open(a());
  Bind(fa, Sin("0.0.0.0", 4000));
  SendTo(fa, Sin("10.0.0.2", 9999), "anyone?");
  Run();
  std::string dest;
  EXPECT_EQ(Uderror(fa, &dest), ECONNREFUSED);
  EXPECT_EQ(dest, "10.0.0.2:9999");
  EXPECT_EQ(udp(b()).stats().no_ports, 1u);
  // The endpoint goes on working.
  int fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 9999));
  SendTo(fa, Sin("10.0.0.2", 9999), "now");
  Run();
  EXPECT_EQ(Recv(fb).data, "now");
}

TEST_F(UdpUnitdataTest, PortUnreachableReachesAWildcardSenderOnly) {
  int sender = Open(a()), bystander = Open(a());
  Bind(sender, std::nullopt);
  Bind(bystander, std::nullopt);
  SendTo(sender, Sin("10.0.0.2", 9999), "x");
  Run();
  EXPECT_EQ(Uderror(sender), ECONNREFUSED);
  EXPECT_EQ(Get(bystander).err, ETIME);
}

TEST_F(UdpUnitdataTest, BroadcastNeedsSoBroadcast) {
  int fa = OpenSender(a());
  SendTo(fa, Sin("10.0.0.255", 5000), "all?");
  Run();
  EXPECT_EQ(Uderror(fa), EACCES);
}

TEST_F(UdpUnitdataTest, BroadcastReachesEveryEndpointOfThePort) {
  int fa = OpenSender(a());
  int b1 = Open(b()), b2 = Open(b()), b_specific = Open(b()), b_other = Open(b());
  SetOpt(b1, SOL_SOCKET, SO_REUSEADDR, 1);
  SetOpt(b2, SOL_SOCKET, SO_REUSEADDR, 1);
  SetOpt(b_specific, SOL_SOCKET, SO_REUSEADDR, 1);
  Bind(b1, Sin("0.0.0.0", 5000));
  Bind(b2, Sin("0.0.0.0", 5000));
  Bind(b_specific, Sin("10.0.0.2", 5000));  // a unicast binding does not hear broadcasts
  Bind(b_other, Sin("0.0.0.0", 5001));
  SetOpt(fa, SOL_SOCKET, SO_BROADCAST, 1);
  SendTo(fa, Sin("10.0.0.255", 5000), "to all");
  Run();
  EXPECT_EQ(Recv(b1).data, "to all");
  EXPECT_EQ(Recv(b2).data, "to all");
  EXPECT_EQ(Get(b_specific).err, ETIME);
  EXPECT_EQ(Get(b_other).err, ETIME);
  EXPECT_EQ(Get(fa).err, ETIME);  // no error for a broadcast nobody else wanted
  EXPECT_EQ(udp(b()).stats().in_datagrams, 2u);
  EXPECT_EQ(udp(b()).stats().no_ports, 0u);
}

// 255.255.255.255 leaves by the first interface up (no route covers it), from that interface's
// address: the source UDP's checksum needs comes from Ip::SourceFor, which must agree with Send.
TEST_F(UdpUnitdataTest, LimitedBroadcastReachesTheLink) {
  int fa = OpenSender(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  SetOpt(fa, SOL_SOCKET, SO_BROADCAST, 1);
  SendTo(fa, Sin("255.255.255.255", 5000), "everyone");
  Run();
  Datagram d = Recv(fb);
  EXPECT_EQ(d.data, "everyone");
  EXPECT_EQ(AddrString(d.from).rfind("10.0.0.1:", 0), 0u);
}

TEST_F(UdpUnitdataTest, UnicastToASharedPortReachesOneEndpoint) {
  int fa = OpenSender(a());
  int b1 = Open(b()), b2 = Open(b());
  SetOpt(b1, SOL_SOCKET, SO_REUSEADDR, 1);
  SetOpt(b2, SOL_SOCKET, SO_REUSEADDR, 1);
  Bind(b1, Sin("0.0.0.0", 5000));
  Bind(b2, Sin("0.0.0.0", 5000));
  SendTo(fa, Sin("10.0.0.2", 5000), "one");
  Run();
  // The most recently bound, as BSD and Linux.
  EXPECT_EQ(Recv(b2).data, "one");
  EXPECT_EQ(Get(b1).err, ETIME);
}

TEST_F(UdpUnitdataTest, AFullReceiveBufferDropsAndCounts) {
  int fa = OpenSender(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  SetOpt(fb, SOL_SOCKET, SO_RCVBUF, 2000);
  for (int i = 0; i < 10; i++) SendTo(fa, Sin("10.0.0.2", 5000), std::string(500, 'a' + i));
  Run();
  int got = 0;
  while (Get(fb).prim() == T_UNITDATA_IND) got++;
  EXPECT_GT(got, 0);
  EXPECT_LT(got, 10);
  EXPECT_EQ(udp(b()).stats().buffer_drops, static_cast<uint64_t>(10 - got));
  EXPECT_EQ(udp(b()).stats().in_datagrams, static_cast<uint64_t>(got));
  // Once read, there is room again.
  SendTo(fa, Sin("10.0.0.2", 5000), "room");
  Run();
  EXPECT_EQ(Recv(fb).data, "room");
}

TEST_F(UdpUnitdataTest, CorruptDatagramsFailTheChecksumAndAreCounted) {
  int fa = OpenSender(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  SendTo(fa, Sin("10.0.0.2", 5000), "warm up ARP");
  Run();
  EXPECT_EQ(Recv(fb).data, "warm up ARP");
  Impairments imp;
  imp.corrupt = 1.0;  // one bit of every frame's payload flipped
  ASSERT_TRUE(net().SetImpairments(port_a(), LinkDir::kOut, imp).ok());
  const std::string data = Pattern(1400);
  for (int i = 0; i < 20; i++) SendTo(fa, Sin("10.0.0.2", 5000), data);
  Run();
  // A flip in the IP header fails IP's checksum; anywhere else, UDP's. Nothing bad gets through.
  while (true) {
    Msg m = Get(fb);
    if (m.rc < 0) break;
    EXPECT_TRUE(m.data == data);
  }
  EXPECT_GT(udp(b()).stats().checksum_errors, 10u);
  EXPECT_EQ(udp(b()).stats().in_datagrams, 1u);
}

TEST_F(UdpUnitdataTest, UnbindFlushesWhatWasNotRead) {
  int fa = OpenSender(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  SendTo(fa, Sin("10.0.0.2", 5000), "stale");
  Run();
  Msg m = Ask(fb, UnbindReq());
  EXPECT_EQ(m.prim(), T_OK_ACK);
  EXPECT_EQ(Get(fb).err, ETIME);
}

TEST_F(UdpUnitdataTest, ClosingWithDatagramsInFlightIsClean) {
  int fa = OpenSender(a()), fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 5000));
  for (int i = 0; i < 5; i++) SendTo(fa, Sin("10.0.0.2", 5000), "bye");
  Close(fb);
  Run();
  EXPECT_EQ(udp(b()).stats().in_datagrams, 0u);
}

}  // namespace
}  // namespace ustreams::tpi_testing
