// Raw ICMP endpoints (/dev/icmp) between two stacks in virtual time: echo requests out, every ICMP
// message in as a T_UNITDATA_IND carrying the IP header and the message, binding by address.
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

#include "modules/ip/checksum.h"
#include "modules/ip/wire.h"
#include "modules/udp/testing/tpi_test_util.h"

namespace ustreams::tpi_testing {
namespace {

// An ICMP echo request with its checksum, as an application builds it.
std::string EchoRequest(uint16_t id, uint16_t seq, const std::string& body) {
  std::string m(ip::kIcmpHeaderLength, '\0');
  m[0] = static_cast<char>(ip::kIcmpEchoRequest);
  m[4] = static_cast<char>(id >> 8);
  m[5] = static_cast<char>(id);
  m[6] = static_cast<char>(seq >> 8);
  m[7] = static_cast<char>(seq);
  m += body;
  const uint16_t sum = ip::InternetChecksum(m.data(), m.size());
  m[2] = static_cast<char>(sum >> 8);
  m[3] = static_cast<char>(sum);
  return m;
}

// What a raw endpoint received: the source, the IP header and the ICMP message parsed.
struct Got {
  bool ok = false;
  sockaddr_in from{};
  ip::Ipv4Header h;
  ip::IcmpMessage m;
  std::string bytes;  // the whole datagram
  std::string icmp_body;
};

class IcmpTest : public TwoStacks {
 protected:
  Got Recv(int fd) {
    Got g;
    Msg msg = Get(fd);
    EXPECT_EQ(msg.prim(), T_UNITDATA_IND) << "err " << msg.err;
    if (msg.prim() != T_UNITDATA_IND) return g;
    T_unitdata_ind ind = msg.As<T_unitdata_ind>();
    g.from = msg.Addr(ind.SRC_offset, ind.SRC_length).value_or(sockaddr_in{});
    g.bytes = msg.data;
    ip::Parsed<ip::Ipv4Header> h = ip::ParseIpv4(ip::PacketView(g.bytes.data(), g.bytes.size()));
    EXPECT_TRUE(h.ok()) << ip::WireErrorName(h.error());
    if (!h.ok()) return g;
    g.h = *h;
    ip::Parsed<ip::IcmpMessage> m = ip::ParseIcmp(h->payload);
    EXPECT_TRUE(m.ok()) << ip::WireErrorName(m.error());
    if (!m.ok()) return g;
    g.m = *m;
    g.icmp_body = m->body.ToString();
    g.ok = true;
    return g;
  }
};

TEST_F(IcmpTest, InfoAckIsARawDatagramProvider) {
  int fd = Open(a(), "/dev/icmp");
  Msg m = Ask(fd, InfoReq());
  ASSERT_EQ(m.prim(), T_INFO_ACK);
  T_info_ack i = m.As<T_info_ack>();
  EXPECT_EQ(i.SERV_type, T_CLTS);
  EXPECT_EQ(i.TSDU_size, 65515);
  EXPECT_EQ(i.ADDR_size, static_cast<t_scalar_t>(sizeof(sockaddr_in)));
  EXPECT_EQ(i.CURRENT_state, TS_UNBND);
  Msg o = Ask(fd, Svr4OptReq(T_CURRENT, {{SOL_SOCKET, SO_TYPE, 0}}));
  ASSERT_EQ(o.prim(), T_OPTMGMT_ACK);
  EXPECT_EQ(Svr4Opts(o)[0].value, SOCK_RAW);
}

TEST_F(IcmpTest, EchoRequestBringsTheReplyWithItsIpHeader) {
  int fd = Open(a(), "/dev/icmp");
  SendTo(fd, Sin("10.0.0.2", 0), EchoRequest(0x1234, 7, "ping body"));
  Run();
  Got g = Recv(fd);
  ASSERT_TRUE(g.ok);
  EXPECT_EQ(AddrString(g.from), "10.0.0.2:0");
  EXPECT_EQ(g.h.src, 0x0a000002u);
  EXPECT_EQ(g.h.dst, 0x0a000001u);
  EXPECT_EQ(g.h.protocol, ip::kProtoIcmp);
  EXPECT_EQ(g.h.ttl, 64);
  EXPECT_EQ(g.bytes.size(), 20u + 8u + 9u);
  EXPECT_EQ(g.m.type, ip::kIcmpEchoReply);
  EXPECT_EQ(g.m.echo_id, 0x1234);
  EXPECT_EQ(g.m.echo_seq, 7);
  EXPECT_EQ(g.icmp_body, "ping body");
  EXPECT_EQ(Get(fd).err, ETIME);
  EXPECT_EQ(icmp(a()).stats().out_messages, 1u);
  EXPECT_EQ(icmp(a()).stats().in_messages, 1u);
}

TEST_F(IcmpTest, EveryEndpointSeesEveryMessage) {
  int a1 = Open(a(), "/dev/icmp"), a2 = Open(a(), "/dev/icmp");
  int b1 = Open(b(), "/dev/icmp");
  SendTo(a1, Sin("10.0.0.2", 0), EchoRequest(1, 1, "x"));
  Run();
  // B's endpoint sees the request (IP answered it as well) ...
  Got req = Recv(b1);
  ASSERT_TRUE(req.ok);
  EXPECT_EQ(req.m.type, ip::kIcmpEchoRequest);
  EXPECT_EQ(AddrString(req.from), "10.0.0.1:0");
  // ... and both of A's see the reply, whoever sent the request.
  EXPECT_EQ(Recv(a1).m.type, ip::kIcmpEchoReply);
  EXPECT_EQ(Recv(a2).m.type, ip::kIcmpEchoReply);
}

TEST_F(IcmpTest, ABoundEndpointSeesOnlyItsAddress) {
  ASSERT_TRUE(a().AddAddress("net0", "10.0.0.11/24").ok());
  int any = Open(a(), "/dev/icmp"), mine = Open(a(), "/dev/icmp"), other = Open(a(), "/dev/icmp");
  sockaddr_in s = Bind(mine, Sin("10.0.0.11", 999));
  EXPECT_EQ(AddrString(s), "10.0.0.11:0");  // the port means nothing to ICMP
  Bind(other, Sin("10.0.0.1", 0));
  SendTo(mine, Sin("10.0.0.2", 0), EchoRequest(2, 1, "from .11"));
  Run();
  Got g = Recv(mine);  // sent from the bound address, answered to it
  EXPECT_EQ(g.h.dst, 0x0a00000bu);
  EXPECT_EQ(Recv(any).m.type, ip::kIcmpEchoReply);
  EXPECT_EQ(Get(other).err, ETIME);
}

TEST_F(IcmpTest, BindRules) {
  int fd = Open(a(), "/dev/icmp");
  Msg m = Ask(fd, BindReq(Sin("10.0.0.2", 0)));
  ASSERT_EQ(m.prim(), T_ERROR_ACK);
  EXPECT_EQ(m.As<T_error_ack>().TLI_error, TSYSERR);
  EXPECT_EQ(m.As<T_error_ack>().UNIX_error, EADDRNOTAVAIL);
  Bind(fd, std::nullopt);
  m = Ask(fd, BindReq(std::nullopt));
  EXPECT_EQ(m.As<T_error_ack>().TLI_error, TOUTSTATE);
  EXPECT_EQ(Ask(fd, UnbindReq()).prim(), T_OK_ACK);
  // Two endpoints may bind the same address: raw ICMP has no ports to share.
  int f2 = Open(a(), "/dev/icmp");
  Bind(fd, Sin("10.0.0.1", 0));
  Bind(f2, Sin("10.0.0.1", 0));
}

TEST_F(IcmpTest, ErrorsAboutOtherProtocolsArriveToo) {
  int raw = Open(a(), "/dev/icmp"), u = OpenSender(a());
  SendTo(u, Sin("10.0.0.2", 9), "nobody");  // B answers port unreachable
  Run();
  Got g = Recv(raw);
  ASSERT_TRUE(g.ok);
  EXPECT_EQ(g.m.type, ip::kIcmpUnreachable);
  EXPECT_EQ(g.m.code, ip::kIcmpPortUnreachable);
  EXPECT_EQ(g.m.quote.protocol, ip::kProtoUdp);
}

TEST_F(IcmpTest, TtlAndTosGoOnTheWire) {
  int fa = Open(a(), "/dev/icmp"), fb = Open(b(), "/dev/icmp");
  SetOpt(fa, IPPROTO_IP, IP_TTL, 9);
  SetOpt(fa, IPPROTO_IP, IP_TOS, 0x10);
  SendTo(fa, Sin("10.0.0.2", 0), EchoRequest(3, 1, ""));
  Run();
  Got g = Recv(fb);
  EXPECT_EQ(g.h.ttl, 9);
  EXPECT_EQ(g.h.tos, 0x10);
}

TEST_F(IcmpTest, SendErrorsComeBackAsUderror) {
  int fd = Open(a(), "/dev/icmp");
  SendTo(fd, Sin("172.16.0.1", 0), EchoRequest(4, 1, ""));
  Run();
  Msg m = Get(fd);
  ASSERT_EQ(m.prim(), T_UDERROR_IND);
  EXPECT_EQ(m.As<T_uderror_ind>().ERROR_type, ENETUNREACH);
  SendTo(fd, Sin("10.0.0.255", 0), EchoRequest(4, 2, ""));
  Run();
  m = Get(fd);
  ASSERT_EQ(m.prim(), T_UDERROR_IND);
  EXPECT_EQ(m.As<T_uderror_ind>().ERROR_type, EACCES);  // a broadcast needs SO_BROADCAST
  SendTo(fd, Sin("10.0.0.2", 0), "");
  Run();
  m = Get(fd);
  ASSERT_EQ(m.prim(), T_UDERROR_IND);
  EXPECT_EQ(m.As<T_uderror_ind>().ERROR_type, EINVAL);  // nothing to send
  EXPECT_EQ(icmp(a()).stats().out_errors, 2u);
}

TEST_F(IcmpTest, AFullReceiveBufferDropsAndCounts) {
  int fa = Open(a(), "/dev/icmp"), fb = Open(b(), "/dev/icmp");
  SetOpt(fb, SOL_SOCKET, SO_RCVBUF, 1000);
  for (uint16_t i = 0; i < 10; i++)
    SendTo(fa, Sin("10.0.0.2", 0), EchoRequest(5, i, std::string(200, 'p')));
  Run();
  int got = 0;
  while (Get(fb).prim() == T_UNITDATA_IND) got++;
  EXPECT_GT(got, 0);
  EXPECT_LT(got, 10);
  EXPECT_EQ(icmp(b()).stats().buffer_drops, static_cast<uint64_t>(10 - got));
}

}  // namespace
}  // namespace ustreams::tpi_testing
