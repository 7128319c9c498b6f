// UDP input as IP hands it over (UdpModule::Receive / ReceiveIcmpError called directly with
// crafted datagrams in chains of odd block sizes): what is delivered, what is counted, what is
// refused, and which errno each ICMP error becomes.
#include <netinet/in.h>

#include <random>
#include <string>

#include "modules/ip/wire.h"
#include "modules/ip/wire_test_util.h"
#include "modules/udp/testing/tpi_test_util.h"

namespace ustreams::tpi_testing {
namespace {

using ip::testing::Chain;
using ip::testing::Ipv4Packet;
using ip::testing::TestIpv4;
using ip::testing::UdpDatagram;

constexpr uint32_t kA = 0x0a000001, kB = 0x0a000002;

class UdpInputTest : public TwoStacks {
 protected:
  void SetUp() override {
    TwoStacks::SetUp();
    fd_ = Open(b());
    Bind(fd_, Sin("0.0.0.0", 5000));
  }
  // Hands `packet` (an IPv4 datagram) to b's UDP as IP would, in blocks of the given sizes.
  void Input(const std::string& packet, const std::vector<size_t>& blocks = {},
             bool broadcast = false) {
    MsgPtr mp = Chain(packet, blocks, ip::kIpHeadroom);
    ip::Parsed<ip::Ipv4Header> h = ip::ParseIpv4(ip::PacketView::OfChain(mp.get()));
    ASSERT_TRUE(h.ok()) << ip::WireErrorName(h.error());
    udp(b()).Receive(*h, std::move(mp), 1, broadcast);
    Run();
  }
  static std::string Datagram(const std::string& payload, uint16_t dport = 5000,
                              bool with_checksum = true) {
    ip::Ipv4Header h = TestIpv4(ip::kProtoUdp);
    return Ipv4Packet(h, UdpDatagram(4000, dport, kA, kB, payload, with_checksum));
  }
  std::string Read() {
    Msg m = Get(fd_);
    EXPECT_EQ(m.prim(), T_UNITDATA_IND) << "err " << m.err;
    return m.data;
  }
  int fd_ = -1;
};

TEST_F(UdpInputTest, PayloadArrivesWhateverTheBlocks) {
  std::mt19937 rng(7);
  const std::string payload(700, 'p');
  const std::string packet = Datagram(payload);
  for (int i = 0; i < 50; i++) {
    Input(packet, {rng() % 40, rng() % 40, rng() % 400, 0, rng() % 400});
    ASSERT_EQ(Read(), payload) << i;
  }
  EXPECT_EQ(udp(b()).stats().in_datagrams, 50u);
}

TEST_F(UdpInputTest, BytesAfterTheUdpLengthAreNotPartOfTheDatagram) {
  // IP's payload is longer than UDP says (Linux trims; so does the parser).
  std::string d = UdpDatagram(4000, 5000, kA, kB, "short");
  d += "TRAILER";
  Input(Ipv4Packet(TestIpv4(ip::kProtoUdp), d), {25, 3});
  EXPECT_EQ(Read(), "short");
}

TEST_F(UdpInputTest, NoChecksumIsAccepted) {
  Input(Datagram("unchecked", 5000, /*with_checksum=*/false));
  EXPECT_EQ(Read(), "unchecked");
}

TEST_F(UdpInputTest, BadChecksumIsCountedAndDropped) {
  std::string packet = Datagram("payload");
  packet.back() ^= 0x01;
  Input(packet);
  EXPECT_EQ(Get(fd_).err, ETIME);
  EXPECT_EQ(udp(b()).stats().checksum_errors, 1u);
  EXPECT_EQ(udp(b()).stats().in_datagrams, 0u);
}

TEST_F(UdpInputTest, BadHeadersAreCountedAndDropped) {
  std::string d = UdpDatagram(4000, 5000, kA, kB, "abc", false);
  d[4] = 0;  // UDP length 40 > the 11 bytes there are
  d[5] = 40;
  Input(Ipv4Packet(TestIpv4(ip::kProtoUdp), d));
  Input(Ipv4Packet(TestIpv4(ip::kProtoUdp), "tiny"));  // shorter than a UDP header
  EXPECT_EQ(Get(fd_).err, ETIME);
  EXPECT_EQ(udp(b()).stats().header_errors, 2u);
}

TEST_F(UdpInputTest, AnUnboundPortIsAnsweredWithPortUnreachable) {
  int raw = Open(a(), "/dev/icmp");
  Input(Datagram("x", 5999));
  EXPECT_EQ(udp(b()).stats().no_ports, 1u);
  Msg m = Get(raw);
  ASSERT_EQ(m.prim(), T_UNITDATA_IND);
  ip::Parsed<ip::Ipv4Header> h = ip::ParseIpv4(ip::PacketView(m.data.data(), m.data.size()));
  ASSERT_TRUE(h.ok());
  ip::Parsed<ip::IcmpMessage> icmp = ip::ParseIcmp(h->payload);
  ASSERT_TRUE(icmp.ok());
  EXPECT_EQ(icmp->type, ip::kIcmpUnreachable);
  EXPECT_EQ(icmp->code, ip::kIcmpPortUnreachable);
}

TEST_F(UdpInputTest, ABroadcastToAnUnboundPortIsIgnoredQuietly) {
  int raw = Open(a(), "/dev/icmp");
  Input(Datagram("x", 5999), {}, /*broadcast=*/true);
  EXPECT_EQ(udp(b()).stats().ignored_broadcast, 1u);
  EXPECT_EQ(udp(b()).stats().no_ports, 0u);
  EXPECT_EQ(Get(raw).err, ETIME);  // RFC 1122 §3.2.2: no ICMP error about a broadcast
}

TEST_F(UdpInputTest, IcmpErrorsReachTheSenderAsUderror) {
  int fa = Open(a());
  Bind(fa, Sin("0.0.0.0", 4000));
  // The datagram a sent (4000 -> 10.0.0.2:9), quoted by an error from b.
  ip::Ipv4Header sent = TestIpv4(ip::kProtoUdp);
  const std::string offending = Ipv4Packet(sent, UdpDatagram(4000, 9, kA, kB, "q"));
  struct Case {
    uint8_t type, code;
    int err;
  } cases[] = {
      {ip::kIcmpUnreachable, ip::kIcmpPortUnreachable, ECONNREFUSED},
      {ip::kIcmpUnreachable, ip::kIcmpHostUnreachable, EHOSTUNREACH},
      {ip::kIcmpUnreachable, ip::kIcmpNetUnreachable, ENETUNREACH},
      {ip::kIcmpUnreachable, ip::kIcmpFragmentationNeeded, EMSGSIZE},
      {ip::kIcmpTimeExceeded, ip::kIcmpTtlExceeded, EHOSTUNREACH},
  };
  for (const Case& c : cases) {
    const std::string error = ip::testing::IcmpError(c.type, c.code, offending, 1400);
    ip::Parsed<ip::IcmpMessage> m = ip::ParseIcmp(ip::PacketView(error.data(), error.size()));
    ASSERT_TRUE(m.ok()) << ip::WireErrorName(m.error());
    udp(a()).ReceiveIcmpError(*m, kB);
    Run();
    Msg u = Get(fa);
    ASSERT_EQ(u.prim(), T_UDERROR_IND);
    T_uderror_ind ind = u.As<T_uderror_ind>();
    EXPECT_EQ(ind.ERROR_type, c.err) << int{c.type} << "/" << int{c.code};
    EXPECT_EQ(AddrString(u.Addr(ind.DEST_offset, ind.DEST_length).value_or(sockaddr_in{})),
              "10.0.0.2:9");
  }
}

TEST_F(UdpInputTest, IcmpErrnoTable) {
  EXPECT_EQ(udp::IcmpErrno(ip::kIcmpUnreachable, ip::kIcmpProtocolUnreachable), ECONNREFUSED);
  EXPECT_EQ(udp::IcmpErrno(ip::kIcmpUnreachable, 6), ENETUNREACH);
  EXPECT_EQ(udp::IcmpErrno(ip::kIcmpUnreachable, 13), EHOSTUNREACH);
  EXPECT_EQ(udp::IcmpErrno(ip::kIcmpParameterProblem, 0), EPROTO);
  EXPECT_EQ(udp::IcmpErrno(ip::kIcmpSourceQuench, 0), 0);
  EXPECT_EQ(udp::IcmpErrno(ip::kIcmpRedirect, 0), 0);
}

}  // namespace
}  // namespace ustreams::tpi_testing
