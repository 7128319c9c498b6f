// Option management on /dev/udp: T_SVR4_OPTMGMT_REQ (struct opthdr) and T_OPTMGMT_REQ
// (struct T_opthdr) with T_DEFAULT, T_CURRENT, T_CHECK and T_NEGOTIATE (tpi_optmgmt.h), with
// Linux's option numbers, and the options' effects on the wire.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>

#include "modules/udp/testing/tpi_test_util.h"

namespace ustreams::tpi_testing {
namespace {

class UdpOptionsTest : public TwoStacks {
 protected:
  void SetUp() override {
    TwoStacks::SetUp();
    fd_ = Open(a());
  }
  int Current(int level, int name) {
    Msg m = Ask(fd_, Svr4OptReq(T_CURRENT, {{level, name, 0}}));
    EXPECT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
    std::vector<Opt> o = Svr4Opts(m);
    EXPECT_EQ(o.size(), 1u);
    return o.empty() ? -12345 : o[0].value;
  }
  T_error_ack Negotiate(int level, int name, int value) {
    Msg m = Ask(fd_, Svr4OptReq(T_NEGOTIATE, {{level, name, value}}));
    if (m.prim() == T_OPTMGMT_ACK) return T_error_ack{T_OPTMGMT_ACK, 0, 0, 0};
    EXPECT_EQ(m.prim(), T_ERROR_ACK);
    return m.As<T_error_ack>();
  }
  int fd_ = -1;
};

TEST_F(UdpOptionsTest, DefaultsAreLinuxs) {
  EXPECT_EQ(Current(SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
  EXPECT_EQ(Current(SOL_SOCKET, SO_RCVBUF), 212992);
  EXPECT_EQ(Current(SOL_SOCKET, SO_SNDBUF), 212992);
  EXPECT_EQ(Current(SOL_SOCKET, SO_BROADCAST), 0);
  EXPECT_EQ(Current(SOL_SOCKET, SO_REUSEADDR), 0);
  EXPECT_EQ(Current(SOL_SOCKET, SO_DONTROUTE), 0);
  EXPECT_EQ(Current(IPPROTO_IP, IP_TTL), 64);
  EXPECT_EQ(Current(IPPROTO_IP, IP_TOS), 0);
}

TEST_F(UdpOptionsTest, NegotiateSetsAndTheAckShowsTheNewValues) {
  Msg m = Ask(fd_, Svr4OptReq(T_NEGOTIATE, {{IPPROTO_IP, IP_TTL, 5},
                                            {SOL_SOCKET, SO_BROADCAST, 7},
                                            {SOL_SOCKET, SO_RCVBUF, 4096}}));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  EXPECT_EQ(m.flags, RS_HIPRI);
  EXPECT_EQ(m.As<T_optmgmt_ack>().MGMT_flags, T_SUCCESS);
  std::vector<Opt> o = Svr4Opts(m);
  ASSERT_EQ(o.size(), 3u);
  EXPECT_EQ(o[0].value, 5);
  EXPECT_EQ(o[1].value, 1);  // booleans read back as 0 or 1
  EXPECT_EQ(o[2].value, 4096);
  EXPECT_EQ(Current(IPPROTO_IP, IP_TTL), 5);
  EXPECT_EQ(Current(SOL_SOCKET, SO_BROADCAST), 1);
  EXPECT_EQ(Current(SOL_SOCKET, SO_RCVBUF), 4096);
  // -1 restores the default TTL (Linux).
  EXPECT_EQ(Negotiate(IPPROTO_IP, IP_TTL, -1).PRIM_type, T_OPTMGMT_ACK);
  EXPECT_EQ(Current(IPPROTO_IP, IP_TTL), 64);
}

TEST_F(UdpOptionsTest, InvalidValuesAreTsyserr) {
  T_error_ack e = Negotiate(IPPROTO_IP, IP_TTL, 256);
  EXPECT_EQ(e.TLI_error, TSYSERR);
  EXPECT_EQ(e.UNIX_error, EINVAL);
  EXPECT_EQ(Negotiate(IPPROTO_IP, IP_TTL, 0).UNIX_error, EINVAL);
  EXPECT_EQ(Negotiate(IPPROTO_IP, IP_TOS, 300).UNIX_error, EINVAL);
  EXPECT_EQ(Negotiate(SOL_SOCKET, SO_RCVBUF, 0).UNIX_error, EINVAL);
  EXPECT_EQ(Negotiate(SOL_SOCKET, SO_RCVBUF, 64 << 20).UNIX_error, ENOBUFS);
  e = Negotiate(SOL_SOCKET, SO_TYPE, SOCK_STREAM);
  EXPECT_EQ(e.TLI_error, TSYSERR);
  EXPECT_EQ(e.UNIX_error, EACCES);
  EXPECT_EQ(Current(IPPROTO_IP, IP_TTL), 64);
  EXPECT_EQ(Current(SOL_SOCKET, SO_TYPE), SOCK_DGRAM);
}

TEST_F(UdpOptionsTest, UnknownOptionsAreTbadopt) {
  EXPECT_EQ(Negotiate(SOL_SOCKET, SO_KEEPALIVE, 1).TLI_error, TBADOPT);
  EXPECT_EQ(Negotiate(IPPROTO_TCP, 1, 1).TLI_error, TBADOPT);
  Msg m = Ask(fd_, Svr4OptReq(T_CURRENT, {{IPPROTO_UDP, 1, 0}}));
  ASSERT_EQ(m.prim(), T_ERROR_ACK);
  EXPECT_EQ(m.As<T_error_ack>().TLI_error, TBADOPT);
  EXPECT_EQ(m.As<T_error_ack>().ERROR_prim, T_SVR4_OPTMGMT_REQ);
}

TEST_F(UdpOptionsTest, Svr4DefaultListsEveryOption) {
  Negotiate(IPPROTO_IP, IP_TTL, 9);
  Msg m = Ask(fd_, Svr4OptReq(T_DEFAULT, {}));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  EXPECT_EQ(m.As<T_optmgmt_ack>().MGMT_flags, T_DEFAULT);
  std::vector<Opt> o = Svr4Opts(m);
  EXPECT_EQ(o.size(), 8u);
  auto ttl = std::find_if(o.begin(), o.end(),
                          [](const Opt& x) { return x.level == IPPROTO_IP && x.name == IP_TTL; });
  ASSERT_NE(ttl, o.end());
  EXPECT_EQ(ttl->value, 64);  // the default, not the current 9
  // The whole list fits in the OPT_size T_INFO_ACK announces.
  Msg info = Ask(fd_, InfoReq());
  EXPECT_LE(m.As<T_optmgmt_ack>().OPT_length, info.As<T_info_ack>().OPT_size);
}

TEST_F(UdpOptionsTest, XtiCurrentAndNegotiateReportAStatusPerOption) {
  Msg m = Ask(fd_, XtiOptReq(T_NEGOTIATE, {{IPPROTO_IP, IP_TTL, 7},
                                           {IPPROTO_IP, IP_TTL, 999},
                                           {SOL_SOCKET, SO_TYPE, 1},
                                           {SOL_SOCKET, SO_KEEPALIVE, 1}}));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  std::vector<XtiOpt> o = XtiOpts(m);
  ASSERT_EQ(o.size(), 4u);
  EXPECT_EQ(o[0].h.status, static_cast<t_uscalar_t>(T_SUCCESS));
  EXPECT_EQ(o[0].value, 7);
  EXPECT_EQ(o[1].h.status, static_cast<t_uscalar_t>(T_FAILURE));
  EXPECT_EQ(o[2].h.status, static_cast<t_uscalar_t>(T_READONLY));
  EXPECT_EQ(o[3].h.status, static_cast<t_uscalar_t>(T_NOTSUPPORT));
  // The ack carries the request's flag and the worst status.
  EXPECT_EQ(m.As<T_optmgmt_ack>().MGMT_flags, T_NEGOTIATE | T_NOTSUPPORT);
  EXPECT_EQ(Current(IPPROTO_IP, IP_TTL), 7);

  m = Ask(fd_, XtiOptReq(T_CURRENT, {{IPPROTO_IP, IP_TTL, 0}}, /*with_value=*/false));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  o = XtiOpts(m);
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0].h.len, sizeof(T_opthdr) + sizeof(int));
  EXPECT_EQ(o[0].value, 7);
  EXPECT_EQ(m.As<T_optmgmt_ack>().MGMT_flags, T_CURRENT | T_SUCCESS);
}

TEST_F(UdpOptionsTest, XtiCheckDoesNotChangeAnything) {
  Msg m = Ask(fd_, XtiOptReq(T_CHECK, {{IPPROTO_IP, IP_TTL, 3}, {IPPROTO_IP, IP_TTL, 0}}));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  std::vector<XtiOpt> o = XtiOpts(m);
  ASSERT_EQ(o.size(), 2u);
  EXPECT_EQ(o[0].h.status, static_cast<t_uscalar_t>(T_SUCCESS));
  EXPECT_EQ(o[1].h.status, static_cast<t_uscalar_t>(T_FAILURE));
  EXPECT_EQ(Current(IPPROTO_IP, IP_TTL), 64);
}

TEST_F(UdpOptionsTest, XtiAllOptOfALevel) {
  Msg m = Ask(fd_, XtiOptReq(T_CURRENT, {{IPPROTO_IP, T_ALLOPT, 0}}, false));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  std::vector<XtiOpt> o = XtiOpts(m);
  ASSERT_EQ(o.size(), 2u);  // IP_TTL, IP_TOS
  for (const XtiOpt& x : o) EXPECT_EQ(x.h.level, static_cast<t_uscalar_t>(IPPROTO_IP));
  // A level with no options: T_FAILURE.
  m = Ask(fd_, XtiOptReq(T_CURRENT, {{IPPROTO_UDP, T_ALLOPT, 0}}, false));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  ASSERT_EQ(XtiOpts(m).size(), 1u);
  EXPECT_EQ(XtiOpts(m)[0].h.status, static_cast<t_uscalar_t>(T_FAILURE));
  // T_NEGOTIATE of T_ALLOPT restores the defaults.
  Negotiate(IPPROTO_IP, IP_TTL, 3);
  m = Ask(fd_, XtiOptReq(T_NEGOTIATE, {{IPPROTO_IP, T_ALLOPT, 0}}, false));
  ASSERT_EQ(m.prim(), T_OPTMGMT_ACK) << ErrorText(m);
  EXPECT_EQ(Current(IPPROTO_IP, IP_TTL), 64);
}

TEST_F(UdpOptionsTest, XtiUnknownLevelIsTbadopt) {
  Msg m = Ask(fd_, XtiOptReq(T_CURRENT, {{IPPROTO_TCP, 1, 0}}));
  ASSERT_EQ(m.prim(), T_ERROR_ACK);
  EXPECT_EQ(m.As<T_error_ack>().TLI_error, TBADOPT);
  EXPECT_EQ(m.As<T_error_ack>().ERROR_prim, T_OPTMGMT_REQ);
}

TEST_F(UdpOptionsTest, DontRouteKeepsDatagramsOnLink) {
  Bind(fd_, Sin("0.0.0.0", 0));
  ASSERT_TRUE(a().AddRoute("192.168.0.0/16", "10.0.0.2").ok());
  Negotiate(SOL_SOCKET, SO_DONTROUTE, 1);
  SendTo(fd_, Sin("192.168.1.1", 7), "off-link");
  Run();
  Msg m = Get(fd_);
  ASSERT_EQ(m.prim(), T_UDERROR_IND);
  EXPECT_EQ(m.As<T_uderror_ind>().ERROR_type, ENETUNREACH);
  int fb = Open(b());
  Bind(fb, Sin("0.0.0.0", 7));
  SendTo(fd_, Sin("10.0.0.2", 7), "on-link");
  Run();
  EXPECT_EQ(Get(fb).data, "on-link");
}

}  // namespace
}  // namespace ustreams::tpi_testing
