// Bad primitives on /dev/udp, each with the answer illumos gives (tpi_dgram.h lists them), and a
// stream of random control parts that must never crash the driver or go unanswered wrongly.
#include <netinet/in.h>

#include <random>
#include <string>

#include "modules/udp/testing/tpi_test_util.h"

namespace ustreams::tpi_testing {
namespace {

class UdpTpiErrorsTest : public TwoStacks {
 protected:
  void SetUp() override {
    TwoStacks::SetUp();
    fd_ = Open(a());
  }
  // Sends ctl and expects a T_ERROR_ACK for prim with (tli, unix).
  void ExpectErrorAck(const std::string& ctl, t_scalar_t prim, t_scalar_t tli, int unix_err = 0) {
    Msg m = Ask(fd_, ctl);
    ASSERT_EQ(m.prim(), T_ERROR_ACK) << "prim " << m.prim();
    T_error_ack e = m.As<T_error_ack>();
    EXPECT_EQ(e.ERROR_prim, prim);
    EXPECT_EQ(e.TLI_error, tli);
    EXPECT_EQ(e.UNIX_error, unix_err);
  }
  // Sends ctl (and data) and expects a T_UDERROR_IND with err.
  void ExpectUderror(const std::string& ctl, const std::string* data, int err) {
    Msg m = Ask(fd_, ctl, data);
    ASSERT_EQ(m.prim(), T_UDERROR_IND) << "prim " << m.prim();
    EXPECT_EQ(m.As<T_uderror_ind>().ERROR_type, err);
  }
  // The stream still answers.
  void ExpectAlive() { EXPECT_EQ(Ask(fd_, InfoReq()).prim(), T_INFO_ACK); }
  int fd_ = -1;
};

TEST_F(UdpTpiErrorsTest, UnknownPrimitiveIsNotSupported) {
  ExpectErrorAck(Bytes(t_scalar_t{99}), 99, TNOTSUPPORT);
  ExpectErrorAck(Bytes(t_scalar_t{-5}), -5, TNOTSUPPORT);
  ExpectErrorAck(Bytes(t_scalar_t{T_INFO_ACK}), T_INFO_ACK, TNOTSUPPORT);  // a provider's prim
}

TEST_F(UdpTpiErrorsTest, ConnectionPrimitivesAreNotSupported) {
  for (t_scalar_t p : {T_CONN_REQ, T_CONN_RES, O_T_CONN_RES, T_DISCON_REQ, T_DATA_REQ, T_EXDATA_REQ,
                       T_ORDREL_REQ}) {
    ExpectErrorAck(Bytes(T_conn_req{p, 0, 0, 0, 0}), p, TNOTSUPPORT);
  }
}

TEST_F(UdpTpiErrorsTest, MessagesWithoutAPrimitiveAreDropped) {
  ASSERT_EQ(Put(fd_, std::string("\x05\x00", 2)), 0);
  Run();
  EXPECT_EQ(Get(fd_).err, ETIME);
  ASSERT_EQ(Put(fd_, std::string()), 0);
  Run();
  EXPECT_EQ(Get(fd_).err, ETIME);
  ExpectAlive();
}

TEST_F(UdpTpiErrorsTest, ShortBindIsTproto) {
  ExpectErrorAck(BindReq(std::nullopt).substr(0, 8), T_BIND_REQ, TPROTO);
}

TEST_F(UdpTpiErrorsTest, BindWithAnAddressOfTheWrongLengthIsTbadaddr) {
  T_bind_req r{T_BIND_REQ, 8, sizeof(T_bind_req), 0};
  ExpectErrorAck(Bytes(r) + std::string(8, '\0'), T_BIND_REQ, TBADADDR);
  r.ADDR_length = -16;
  ExpectErrorAck(Bytes(r), T_BIND_REQ, TBADADDR);
}

TEST_F(UdpTpiErrorsTest, BindWithTheAddressOutsideTheBlockIsEinval) {
  T_bind_req r{T_BIND_REQ, sizeof(sockaddr_in), sizeof(T_bind_req), 0};
  ExpectErrorAck(Bytes(r) + std::string(8, '\0'), T_BIND_REQ, TSYSERR, EINVAL);  // truncated
  r.ADDR_offset = 1 << 30;
  ExpectErrorAck(Bytes(r) + Bytes(Sin("0.0.0.0", 1)), T_BIND_REQ, TSYSERR, EINVAL);
  r.ADDR_offset = -4;
  ExpectErrorAck(Bytes(r) + Bytes(Sin("0.0.0.0", 1)), T_BIND_REQ, TSYSERR, EINVAL);
}

TEST_F(UdpTpiErrorsTest, BindWithAnotherFamilyIsEafnosupport) {
  sockaddr_in s = Sin("0.0.0.0", 5000);
  s.sin_family = AF_INET6;
  T_bind_req r{T_BIND_REQ, sizeof(sockaddr_in), sizeof(T_bind_req), 0};
  ExpectErrorAck(Bytes(r) + Bytes(s), T_BIND_REQ, TSYSERR, EAFNOSUPPORT);
  ExpectAlive();
}

TEST_F(UdpTpiErrorsTest, ShortUnitdataIsEaddrnotavail) {
  const std::string data = "x";
  ExpectUderror(UnitdataReq(Sin("10.0.0.2", 5000)).substr(0, 12), &data, EADDRNOTAVAIL);
}

TEST_F(UdpTpiErrorsTest, UnitdataWithoutDataIsEproto) {
  ExpectUderror(UnitdataReq(Sin("10.0.0.2", 5000)), nullptr, EPROTO);
}

TEST_F(UdpTpiErrorsTest, UnitdataWithABadDestinationIsEaddrnotavail) {
  Bind(fd_, Sin("0.0.0.0", 0));  // unbound, any T_UNITDATA_REQ is EPROTO first
  const std::string data = "x";
  T_unitdata_req r{T_UNITDATA_REQ, sizeof(sockaddr_in), 1000, 0, 0};  // outside the block
  ExpectUderror(Bytes(r) + Bytes(Sin("10.0.0.2", 5000)), &data, EADDRNOTAVAIL);
  r = T_unitdata_req{T_UNITDATA_REQ, 4, sizeof(T_unitdata_req), 0, 0};  // wrong length
  ExpectUderror(Bytes(r) + Bytes(Sin("10.0.0.2", 5000)), &data, EADDRNOTAVAIL);
  sockaddr_in s = Sin("10.0.0.2", 5000);
  s.sin_family = AF_UNIX;
  ExpectUderror(UnitdataReq(s), &data, EADDRNOTAVAIL);
  // The destination comes back in the T_UDERROR_IND as it was given.
  Msg m = Ask(fd_, UnitdataReq(s), &data);
  T_uderror_ind u = m.As<T_uderror_ind>();
  EXPECT_EQ(m.At(u.DEST_offset, u.DEST_length), Bytes(s));
  EXPECT_EQ(udp(a()).stats().out_datagrams, 0u);
}

TEST_F(UdpTpiErrorsTest, ShortOptmgmtIsTbadopt) {
  ExpectErrorAck(Svr4OptReq(T_CURRENT, {}).substr(0, 8), T_SVR4_OPTMGMT_REQ, TBADOPT);
  ExpectErrorAck(XtiOptReq(T_CURRENT, {}).substr(0, 8), T_OPTMGMT_REQ, TBADOPT);
}

TEST_F(UdpTpiErrorsTest, OptmgmtWithBadFlagsIsTbadflag) {
  ExpectErrorAck(Svr4OptReq(T_SUCCESS, {}), T_SVR4_OPTMGMT_REQ, TBADFLAG);
  ExpectErrorAck(XtiOptReq(T_NEGOTIATE | T_CHECK, {}), T_OPTMGMT_REQ, TBADFLAG);
}

TEST_F(UdpTpiErrorsTest, OptionBufferOutsideTheBlockIsTbadopt) {
  std::string req = Svr4OptReq(T_CURRENT, {{SOL_SOCKET, SO_TYPE, 0}});
  T_optmgmt_req r;
  std::memcpy(&r, req.data(), sizeof(r));
  r.OPT_length += 4;  // one past the end
  std::memcpy(req.data(), &r, sizeof(r));
  ExpectErrorAck(req, T_SVR4_OPTMGMT_REQ, TBADOPT);
  r.OPT_length -= 4;
  r.OPT_offset += 2;  // misaligned
  std::memcpy(req.data(), &r, sizeof(r));
  ExpectErrorAck(req, T_SVR4_OPTMGMT_REQ, TBADOPT);
}

TEST_F(UdpTpiErrorsTest, OptionWhoseValueOverrunsTheBufferIsTbadopt) {
  std::string req = Svr4OptReq(T_NEGOTIATE, {{IPPROTO_IP, IP_TTL, 9}});
  req.resize(req.size() - 2);  // the value cut short
  T_optmgmt_req r;
  std::memcpy(&r, req.data(), sizeof(r));
  r.OPT_length -= 2;
  std::memcpy(req.data(), &r, sizeof(r));
  ExpectErrorAck(req, T_SVR4_OPTMGMT_REQ, TBADOPT);
  // A T_opthdr whose len is below its own size.
  std::string x = XtiOptReq(T_CURRENT, {{IPPROTO_IP, IP_TTL, 0}});
  T_opthdr h;
  std::memcpy(&h, x.data() + sizeof(T_optmgmt_req), sizeof(h));
  h.len = 3;
  std::memcpy(x.data() + sizeof(T_optmgmt_req), &h, sizeof(h));
  ExpectErrorAck(x, T_OPTMGMT_REQ, TBADOPT);
  ExpectAlive();
}

TEST_F(UdpTpiErrorsTest, DataWithoutADestinationIsDropped) {
  ASSERT_EQ(us_write(fd_, "lonely", 6), 6);
  Run();
  EXPECT_EQ(Get(fd_).err, ETIME);
  EXPECT_EQ(udp(a()).stats().out_datagrams, 0u);
}

TEST_F(UdpTpiErrorsTest, IoctlsAreRefused) {
  strioctl s{12345, 0, 0, nullptr};
  errno = 0;
  EXPECT_EQ(us_ioctl(fd_, I_STR, &s), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST_F(UdpTpiErrorsTest, FlushIsTurnedAround) {
  SendTo(fd_, Sin("192.168.1.1", 1), "x");  // a T_UDERROR_IND waits on the read side
  Run();
  ASSERT_EQ(us_ioctl(fd_, I_FLUSH, FLUSHRW), 0);
  EXPECT_EQ(Get(fd_).err, ETIME);
  ExpectAlive();
}

// Random control parts: every one is answered with a well-formed primitive or dropped; the
// stream keeps working and nothing leaks (the fixture checks).
TEST_F(UdpTpiErrorsTest, RandomControlPartsNeverBreakTheStream) {
  std::mt19937 rng(20240611);
  const t_scalar_t prims[] = {T_BIND_REQ,
                              O_T_BIND_REQ,
                              T_UNBIND_REQ,
                              T_UNITDATA_REQ,
                              T_SVR4_OPTMGMT_REQ,
                              T_OPTMGMT_REQ,
                              T_INFO_REQ,
                              T_ADDR_REQ,
                              T_CAPABILITY_REQ,
                              T_CONN_REQ,
                              77};
  for (int i = 0; i < 2000; i++) {
    std::string ctl(rng() % 64, '\0');
    for (char& c : ctl) c = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 40);
    if (ctl.size() >= 4) {
      t_scalar_t p = prims[rng() % std::size(prims)];
      std::memcpy(ctl.data(), &p, sizeof(p));
    }
    std::string data(rng() % 8, 'd');
    ASSERT_EQ(Put(fd_, ctl, rng() % 2 ? &data : nullptr), 0) << i;
    Run();
    for (Msg m = Get(fd_); m.rc >= 0; m = Get(fd_)) {
      const t_scalar_t p = m.prim();
      EXPECT_TRUE(p == T_ERROR_ACK || p == T_OK_ACK || p == T_BIND_ACK || p == T_INFO_ACK ||
                  p == T_ADDR_ACK || p == T_OPTMGMT_ACK || p == T_UDERROR_IND ||
                  p == T_CAPABILITY_ACK || p == T_UNITDATA_IND)
          << "prim " << p << " after request " << i;
    }
  }
  ExpectAlive();
}

}  // namespace
}  // namespace ustreams::tpi_testing
