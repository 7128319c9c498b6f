// T_INFO_REQ, T_BIND_REQ, T_UNBIND_REQ and T_ADDR_REQ on /dev/udp: the binding rules (ephemeral
// ports, specific addresses, ports in use, SO_REUSEADDR) as an application sees them.
#include <netinet/in.h>

#include "modules/udp/testing/tpi_test_util.h"

namespace ustreams::tpi_testing {
namespace {

class UdpBindTest : public TwoStacks {
 protected:
  t_scalar_t BindError(int fd, std::optional<sockaddr_in> addr, int* unix_error = nullptr) {
    Msg m = Ask(fd, BindReq(addr));
    EXPECT_EQ(m.prim(), T_ERROR_ACK);
    T_error_ack e = m.As<T_error_ack>();
    EXPECT_EQ(e.ERROR_prim, T_BIND_REQ);
    if (unix_error != nullptr) *unix_error = e.UNIX_error;
    return e.TLI_error;
  }
  t_scalar_t State(int fd) {
    Msg m = Ask(fd, InfoReq());
    EXPECT_EQ(m.prim(), T_INFO_ACK);
    return m.As<T_info_ack>().CURRENT_state;
  }
};

TEST_F(UdpBindTest, InfoAckDescribesAConnectionlessProvider) {
  int fd = Open(a());
  Msg m = Ask(fd, InfoReq());
  ASSERT_EQ(m.prim(), T_INFO_ACK);
  EXPECT_EQ(m.flags, RS_HIPRI);  // M_PCPROTO
  T_info_ack i = m.As<T_info_ack>();
  EXPECT_EQ(i.SERV_type, T_CLTS);
  EXPECT_EQ(i.TSDU_size, 65507);
  EXPECT_EQ(i.TIDU_size, 65507);
  EXPECT_EQ(i.ETSDU_size, T_INVALID);
  EXPECT_EQ(i.CDATA_size, T_INVALID);
  EXPECT_EQ(i.DDATA_size, T_INVALID);
  EXPECT_EQ(i.ADDR_size, static_cast<t_scalar_t>(sizeof(sockaddr_in)));
  EXPECT_GT(i.OPT_size, 0);
  EXPECT_EQ(i.CURRENT_state, TS_UNBND);
  EXPECT_EQ(i.PROVIDER_flag, XPG4_1 | SENDZERO);
  Bind(fd, std::nullopt);
  EXPECT_EQ(State(fd), TS_IDLE);
}

TEST_F(UdpBindTest, CapabilityAckCarriesTheInfo) {
  int fd = Open(a());
  Msg m = Ask(fd, Bytes(T_capability_req{T_CAPABILITY_REQ, TC1_INFO}));
  ASSERT_EQ(m.prim(), T_CAPABILITY_ACK);
  T_capability_ack c = m.As<T_capability_ack>();
  EXPECT_EQ(c.CAP_bits1, TC1_INFO);
  EXPECT_EQ(c.INFO_ack.PRIM_type, T_INFO_ACK);
  EXPECT_EQ(c.INFO_ack.SERV_type, T_CLTS);
}

TEST_F(UdpBindTest, NoAddressBindsAnyAddressAndAnEphemeralPort) {
  int fd = Open(a());
  sockaddr_in s = Bind(fd, std::nullopt);
  EXPECT_EQ(s.sin_family, AF_INET);
  EXPECT_EQ(s.sin_addr.s_addr, htonl(INADDR_ANY));
  EXPECT_GE(ntohs(s.sin_port), 32768);
  EXPECT_LE(ntohs(s.sin_port), 60999);
}

TEST_F(UdpBindTest, PortZeroIsEphemeralAndSpecificAddressIsKept) {
  int fd = Open(a());
  sockaddr_in s = Bind(fd, Sin("10.0.0.1", 0));
  EXPECT_EQ(AddrString(s).rfind("10.0.0.1:", 0), 0u) << AddrString(s);
  EXPECT_GE(ntohs(s.sin_port), 32768);
}

TEST_F(UdpBindTest, EphemeralPortsDiffer) {
  int a1 = Open(a()), a2 = Open(a());
  EXPECT_NE(Bind(a1, std::nullopt).sin_port, Bind(a2, std::nullopt).sin_port);
}

TEST_F(UdpBindTest, SpecificPortOnAnyAddress) {
  int fd = Open(a());
  EXPECT_EQ(AddrString(Bind(fd, Sin("0.0.0.0", 5000))), "0.0.0.0:5000");
}

TEST_F(UdpBindTest, LoopbackIsLocal) {
  int fd = Open(a());
  EXPECT_EQ(AddrString(Bind(fd, Sin("127.0.0.1", 5000))), "127.0.0.1:5000");
}

TEST_F(UdpBindTest, ForeignAddressIsEaddrnotavail) {
  int fd = Open(a());
  int err = 0;
  EXPECT_EQ(BindError(fd, Sin("10.0.0.2", 5000), &err), TSYSERR);
  EXPECT_EQ(err, EADDRNOTAVAIL);
  EXPECT_EQ(State(fd), TS_UNBND);
}

TEST_F(UdpBindTest, PortInUseIsTaddrbusy) {
  int a1 = Open(a()), a2 = Open(a());
  Bind(a1, Sin("0.0.0.0", 5000));
  EXPECT_EQ(BindError(a2, Sin("0.0.0.0", 5000)), TADDRBUSY);
  EXPECT_EQ(BindError(a2, Sin("10.0.0.1", 5000)), TADDRBUSY);  // overlaps the wildcard
  EXPECT_EQ(State(a2), TS_UNBND);
  // Another stack's ports are its own.
  int b1 = Open(b());
  Bind(b1, Sin("0.0.0.0", 5000));
}

TEST_F(UdpBindTest, DifferentSpecificAddressesShareAPort) {
  ASSERT_TRUE(a().AddAddress("net0", "10.0.0.11/24").ok());
  int a1 = Open(a()), a2 = Open(a());
  Bind(a1, Sin("10.0.0.1", 5000));
  Bind(a2, Sin("10.0.0.11", 5000));
}

TEST_F(UdpBindTest, ReuseAddrOnBothSharesAPort) {
  int a1 = Open(a()), a2 = Open(a()), a3 = Open(a());
  SetOpt(a1, SOL_SOCKET, SO_REUSEADDR, 1);
  SetOpt(a2, SOL_SOCKET, SO_REUSEADDR, 1);
  Bind(a1, Sin("0.0.0.0", 6000));
  Bind(a2, Sin("0.0.0.0", 6000));
  // Without SO_REUSEADDR the third may not join (Linux: every socket of the port needs it).
  EXPECT_EQ(BindError(a3, Sin("0.0.0.0", 6000)), TADDRBUSY);
}

TEST_F(UdpBindTest, ReuseAddrOnOneSideOnlyIsNotEnough) {
  int a1 = Open(a()), a2 = Open(a());
  Bind(a1, Sin("0.0.0.0", 6001));
  SetOpt(a2, SOL_SOCKET, SO_REUSEADDR, 1);
  EXPECT_EQ(BindError(a2, Sin("0.0.0.0", 6001)), TADDRBUSY);
}

TEST_F(UdpBindTest, OldBindTakesAnotherPortWhenTheOneAskedForIsTaken) {
  int a1 = Open(a()), a2 = Open(a());
  Bind(a1, Sin("0.0.0.0", 5000));
  Msg m = Ask(a2, BindReq(Sin("0.0.0.0", 5000), O_T_BIND_REQ));
  ASSERT_EQ(m.prim(), T_BIND_ACK) << ErrorText(m);
  T_bind_ack ack = m.As<T_bind_ack>();
  std::optional<sockaddr_in> s = m.Addr(ack.ADDR_offset, ack.ADDR_length);
  ASSERT_TRUE(s);
  EXPECT_NE(ntohs(s->sin_port), 5000);
  EXPECT_NE(ntohs(s->sin_port), 0);
}

TEST_F(UdpBindTest, BindTwiceIsOutOfState) {
  int fd = Open(a());
  Bind(fd, std::nullopt);
  EXPECT_EQ(BindError(fd, std::nullopt), TOUTSTATE);
}

TEST_F(UdpBindTest, UnbindAcksAndFreesThePort) {
  int a1 = Open(a()), a2 = Open(a());
  Bind(a1, Sin("0.0.0.0", 5000));
  Msg m = Ask(a1, UnbindReq());
  ASSERT_EQ(m.prim(), T_OK_ACK) << ErrorText(m);
  EXPECT_EQ(m.As<T_ok_ack>().CORRECT_prim, T_UNBIND_REQ);
  EXPECT_EQ(State(a1), TS_UNBND);
  Bind(a2, Sin("0.0.0.0", 5000));
  // And the first may bind again, elsewhere.
  Bind(a1, Sin("0.0.0.0", 5001));
}

TEST_F(UdpBindTest, UnbindWhileUnboundIsOutOfState) {
  int fd = Open(a());
  Msg m = Ask(fd, UnbindReq());
  ASSERT_EQ(m.prim(), T_ERROR_ACK);
  EXPECT_EQ(m.As<T_error_ack>().ERROR_prim, T_UNBIND_REQ);
  EXPECT_EQ(m.As<T_error_ack>().TLI_error, TOUTSTATE);
}

TEST_F(UdpBindTest, CloseFreesThePort) {
  int a1 = Open(a());
  Bind(a1, Sin("0.0.0.0", 5000));
  Close(a1);
  int a2 = Open(a());
  Bind(a2, Sin("0.0.0.0", 5000));
  EXPECT_EQ(udp(a()).endpoints(), 1u);
}

TEST_F(UdpBindTest, AddrAckShowsTheLocalAddressOnceBound) {
  int fd = Open(a());
  Msg m = Ask(fd, AddrReq());
  ASSERT_EQ(m.prim(), T_ADDR_ACK);
  EXPECT_EQ(m.As<T_addr_ack>().LOCADDR_length, 0);
  EXPECT_EQ(m.As<T_addr_ack>().REMADDR_length, 0);
  Bind(fd, Sin("10.0.0.1", 7777));
  m = Ask(fd, AddrReq());
  ASSERT_EQ(m.prim(), T_ADDR_ACK);
  T_addr_ack ack = m.As<T_addr_ack>();
  std::optional<sockaddr_in> s = m.Addr(ack.LOCADDR_offset, ack.LOCADDR_length);
  ASSERT_TRUE(s);
  EXPECT_EQ(AddrString(*s), "10.0.0.1:7777");
  EXPECT_EQ(ack.REMADDR_length, 0);
}

}  // namespace
}  // namespace ustreams::tpi_testing
