// Routing sockets through the C API: each request's answer from write() itself (SO_REPLY) and its
// echo to every routing socket, per illumos (ip_rts_request_common) and the list.
#include <unistd.h>

#include <thread>

#include "modules/rts/rts_test_util.h"
#include "modules/ip/ip_ioctl.h"
#include "modules/stack/stack.h"
#include "streams/alloc.h"
#include "streams/tihdr.h"

namespace ustreams::rts::testing {
namespace {

using RtsTest = RtsFixture;

RtMsg AddVia(const char* dst, const char* mask, const char* gw, int seq = 1) {
  RtMsg m(RTM_ADD, seq);
  m.Dst(dst).Gateway(gw).Mask(mask);
  return m;
}

TEST_F(RtsTest, AddIsAnsweredByWriteAndEchoedWithPidAndSeq) {
  int fd = Open();
  ASSERT_EQ(Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254", 42)), 0);
  std::optional<ip::Route> r = stack_.ip().routes().Get(A("192.168.0.0"), 16).value();
  EXPECT_EQ(r->gateway, A("10.0.0.254"));
  EXPECT_TRUE(r->flags & ip::RTF_GATEWAY);
  std::vector<Read> got = Drain(fd);
  ASSERT_EQ(got.size(), 1u);
  rt_msghdr h = got[0].rt();
  EXPECT_EQ(h.rtm_type, RTM_ADD);
  EXPECT_EQ(h.rtm_pid, getpid());
  EXPECT_EQ(h.rtm_seq, 42);
  EXPECT_EQ(h.rtm_errno, 0);
  EXPECT_TRUE(h.rtm_flags & ip::RTF_DONE);
  EXPECT_EQ(got[0].Inet(RTAX_DST), A("192.168.0.0"));
}

TEST_F(RtsTest, DuplicateAddIsEexistAndTheEchoCarriesIt) {
  int fd = Open();
  ASSERT_EQ(Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254")), 0);
  Drain(fd);
  EXPECT_EQ(Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.253", 2)), EEXIST);
  std::vector<Read> got = Drain(fd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].rt().rtm_errno, EEXIST);
  EXPECT_FALSE(got[0].rt().rtm_flags & ip::RTF_DONE);
  EXPECT_EQ(stack_.ip().routes().Get(A("192.168.0.0"), 16)->gateway, A("10.0.0.254"));
}

TEST_F(RtsTest, MissingRoutesAreEsrch) {
  int fd = Open();
  RtMsg del(RTM_DELETE);
  del.Dst("172.16.0.0").Gateway("10.0.0.254").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, del), ESRCH);
  RtMsg get(RTM_GET);
  get.Dst("172.16.0.0").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, get), ESRCH);
  RtMsg chg(RTM_CHANGE);
  chg.Dst("172.16.0.0").Gateway("10.0.0.254").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, chg), ESRCH);
  EXPECT_EQ(Drain(fd).size(), 3u) << "failed requests are echoed too";
  // A delete naming another gateway than the route's.
  ASSERT_EQ(Write(fd, AddVia("172.16.0.0", "255.255.0.0", "10.0.0.254")), 0);
  RtMsg del2(RTM_DELETE);
  del2.Dst("172.16.0.0").Gateway("10.0.0.253").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, del2), ESRCH);
  EXPECT_EQ(Write(fd, del), 0);
  EXPECT_FALSE(stack_.ip().routes().Get(A("172.16.0.0"), 16).ok());
}

TEST_F(RtsTest, ValidationErrorsInIllumosOrder) {
  int fd = Open();
  const size_t before = Routes();
  RtMsg good = AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254");
  // rtm_msglen disagreeing with the length written.
  EXPECT_EQ(Write(fd, good.Bytes(static_cast<int>(good.Bytes().size()) + 1)), EINVAL);
  EXPECT_EQ(Write(fd, good.Bytes(static_cast<int>(good.Bytes().size()) - 1)), EINVAL);
  // Wrong version.
  RtMsg v = good;
  v.h.rtm_version = 2;
  EXPECT_EQ(Write(fd, v), EPROTONOSUPPORT);
  // No RTA_DST.
  RtMsg nodst(RTM_ADD);
  nodst.Gateway("10.0.0.254").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, nodst), EINVAL);
  // ADD and DELETE without RTA_GATEWAY.
  RtMsg nogw(RTM_ADD);
  nogw.Dst("192.168.0.0").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, nogw), EINVAL);
  nogw.h.rtm_type = RTM_DELETE;
  EXPECT_EQ(Write(fd, nogw), EINVAL);
  // A gateway no interface reaches.
  EXPECT_EQ(Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.9.9.9")), ENETUNREACH);
  // A netmask with holes; host bits set under the mask.
  EXPECT_EQ(Write(fd, AddVia("192.168.0.0", "255.0.255.0", "10.0.0.254")), EINVAL);
  EXPECT_EQ(Write(fd, AddVia("192.168.1.0", "255.255.0.0", "10.0.0.254")), EINVAL);
  // The destination's family: ESRCH for ADD/DELETE, EAFNOSUPPORT for GET/CHANGE.
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  std::string six(reinterpret_cast<char*>(&sin6), sizeof(sin6));
  six.resize(RT_ROUNDUP(sizeof(sin6)), '\0');
  RtMsg v6(RTM_ADD);
  v6.Raw(RTAX_DST, six).Gateway("10.0.0.254");
  EXPECT_EQ(Write(fd, v6), ESRCH);
  v6.h.rtm_type = RTM_GET;
  EXPECT_EQ(Write(fd, v6), EAFNOSUPPORT);
  v6.h.rtm_type = RTM_LOCK;
  EXPECT_EQ(Write(fd, v6), EOPNOTSUPP);
  // An unknown address family anywhere: EINVAL.
  std::string junk(16, '\0');
  junk[0] = 99;
  RtMsg bad = good;
  bad.Raw(RTAX_GATEWAY, junk);
  EXPECT_EQ(Write(fd, bad), EINVAL);
  // An address cut short by the end of the message.
  std::string cut = good.Bytes();
  cut.resize(cut.size() - 4);
  rt_msghdr h;
  std::memcpy(&h, cut.data(), sizeof(h));
  h.rtm_msglen = static_cast<uint16_t>(cut.size());
  std::memcpy(cut.data(), &h, sizeof(h));
  EXPECT_EQ(Write(fd, cut), EINVAL);
  // Message types a writer cannot ask for.
  RtMsg miss(RTM_MISS);
  miss.Dst("192.168.0.0");
  EXPECT_EQ(Write(fd, miss), EOPNOTSUPP);
  // RTA_SRC on a GET, before the netmask is looked at.
  RtMsg src(RTM_GET);
  src.Dst("10.0.0.5").Inet(RTAX_SRC, A("10.0.0.1"));
  EXPECT_EQ(Write(fd, src), EOPNOTSUPP);
  src.Mask("255.0.255.0");
  EXPECT_EQ(Write(fd, src), EOPNOTSUPP);
  // An MTU below IPv4's minimum.
  RtMsg small = AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254");
  small.h.rtm_inits = RTV_MTU;
  small.h.rtm_rmx.rmx_mtu = 67;
  EXPECT_EQ(Write(fd, small), EINVAL);
  small.h.rtm_rmx.rmx_mtu = 68;
  EXPECT_EQ(Write(fd, small), 0);
  EXPECT_EQ(stack_.ip().routes().Get(A("192.168.0.0"), 16)->mtu, 68u);
  RtMsg undo(RTM_DELETE);
  undo.Dst("192.168.0.0").Gateway("10.0.0.254").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, undo), 0);
  EXPECT_EQ(Routes(), before) << "no failed request changed the table";
}

TEST_F(RtsTest, ShortMessagesAreEinvalAndNotEchoed) {
  int fd = Open();
  std::string hdr = AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254").Bytes();
  for (size_t n = 1; n < sizeof(rt_msghdr); n++) {
    EXPECT_EQ(Write(fd, hdr.substr(0, n)), EINVAL) << n;
  }
  EXPECT_TRUE(Drain(fd).empty());
  // sizeof(rt_msghdr) with rtm_msglen saying more; sizeof + 1.
  EXPECT_EQ(Write(fd, hdr.substr(0, sizeof(rt_msghdr))), EINVAL);
  EXPECT_EQ(Write(fd, hdr.substr(0, sizeof(rt_msghdr) + 1)), EINVAL);
  EXPECT_EQ(Drain(fd).size(), 2u);
}

TEST_F(RtsTest, OutOfMemoryIsEnobufsAndChangesNothing) {
  int fd = Open();
  const size_t before = Routes();
  const uint64_t injected = AllocFaults::InjectedFailures();
  // The head's block for the write is the first allocation; the driver's copy of the request
  // the second, which fails.
  AllocFaults::FailEveryNth(2);
  const int err = Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254"));
  AllocFaults::Clear();
  ASSERT_GT(AllocFaults::InjectedFailures(), injected);
  EXPECT_EQ(err, ENOBUFS);
  EXPECT_EQ(Routes(), before);
  // Memory is back: the same request succeeds.
  EXPECT_EQ(Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254")), 0);
}

TEST_F(RtsTest, ZeroLengthWriteIsEinval) {
  int fd = Open();
  // An empty write is a zero-length message: too short to be a request.
  EXPECT_EQ(Write(fd, std::string()), EINVAL);
  EXPECT_TRUE(Drain(fd).empty());
}

TEST_F(RtsTest, EachFieldWrongInTurnLeavesTheTableAlone) {
  int fd = Open();
  const std::string good = AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254").Bytes();
  const size_t before = Routes();
  // Flip every byte of the header and of the addresses' families in turn: each either fails or,
  // when the flipped byte does not matter (seq, pid, metrics...), succeeds and is undone.
  for (size_t i = 0; i < good.size(); i++) {
    std::string m = good;
    m[i] = static_cast<char>(m[i] ^ 0x5a);
    int err = Write(fd, m);
    if (err == 0) {
      ASSERT_EQ(Routes(), before + 1) << "byte " << i;
      RtMsg del(RTM_DELETE);
      del.Dst("192.168.0.0").Gateway("10.0.0.254").Mask("255.255.0.0");
      // The flip may have made a different (valid) route: remove whatever was added.
      stack_.ip().routes().FlushIf([](const ip::Route& r) { return !r.interface_route; });
    } else {
      EXPECT_EQ(Routes(), before) << "byte " << i << " err " << err;
    }
    Drain(fd);
  }
}

TEST_F(RtsTest, RandomBytesAreRefused) {
  int fd = Open();
  const size_t before = Routes();
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 2000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::string m(x % 300 + 1, '\0');
    for (char& c : m) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = static_cast<char>(x);
    }
    EXPECT_NE(Write(fd, m), 0);
    Drain(fd);
  }
  EXPECT_EQ(Routes(), before);
}

TEST_F(RtsTest, GetReturnsTheRouteThatCarriesTraffic) {
  int fd = Open();
  ASSERT_EQ(Write(fd, AddVia("0.0.0.0", "0.0.0.0", "10.0.0.254")), 0);
  ASSERT_EQ(Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.253")), 0);
  Drain(fd);
  RtMsg get(RTM_GET, 7);
  sockaddr_dl sdl{};  // empty: "tell me the interface", as route get sends it
  sdl.sdl_family = AF_LINK;
  std::string ifp(reinterpret_cast<char*>(&sdl), sizeof(sdl));
  ifp.resize(RT_ROUNDUP(sizeof(sdl)), '\0');
  get.Dst("192.168.3.4").Raw(RTAX_IFP, ifp);
  ASSERT_EQ(Write(fd, get), 0);
  std::vector<Read> got = Drain(fd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type(), RTM_GET);
  EXPECT_EQ(got[0].rt().rtm_seq, 7);
  EXPECT_EQ(got[0].Inet(RTAX_DST), A("192.168.0.0"));
  EXPECT_EQ(got[0].Inet(RTAX_GATEWAY), A("10.0.0.253"));
  EXPECT_EQ(got[0].Inet(RTAX_NETMASK), A("255.255.0.0"));
  EXPECT_TRUE(got[0].rt().rtm_flags & ip::RTF_DONE);
  EXPECT_TRUE(got[0].rt().rtm_addrs & RTA_IFP);
  EXPECT_EQ(got[0].Inet(RTAX_IFA), A("10.0.0.1"));
  EXPECT_EQ(got[0].rt().rtm_index, 1);
  // An RTA_IFP naming no interface.
  sdl.sdl_index = 77;
  std::string bad_ifp(reinterpret_cast<char*>(&sdl), sizeof(sdl));
  bad_ifp.resize(RT_ROUNDUP(sizeof(sdl)), '\0');
  RtMsg get_bad(RTM_GET);
  get_bad.Dst("192.168.3.4").Raw(RTAX_IFP, bad_ifp);
  EXPECT_EQ(Write(fd, get_bad), EINVAL);
  Drain(fd);
  // Anything else goes by the default route; with a netmask only the exact prefix matches.
  RtMsg get2(RTM_GET);
  get2.Dst("8.8.8.8");
  ASSERT_EQ(Write(fd, get2), 0);
  got = Drain(fd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].Inet(RTAX_GATEWAY), A("10.0.0.254"));
  RtMsg get3(RTM_GET);
  get3.Dst("192.168.3.0").Mask("255.255.255.0");
  EXPECT_EQ(Write(fd, get3), ESRCH);
}

TEST_F(RtsTest, ChangeReplacesTheGateway) {
  int fd = Open();
  ASSERT_EQ(Write(fd, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254")), 0);
  RtMsg chg(RTM_CHANGE);
  chg.Dst("192.168.0.0").Gateway("10.0.0.200").Mask("255.255.0.0");
  ASSERT_EQ(Write(fd, chg), 0);
  EXPECT_EQ(stack_.ip().routes().Get(A("192.168.0.0"), 16)->gateway, A("10.0.0.200"));
  RtMsg bad(RTM_CHANGE);
  bad.Dst("192.168.0.0").Gateway("10.7.7.7").Mask("255.255.0.0");
  EXPECT_EQ(Write(fd, bad), ENETUNREACH);
}

TEST_F(RtsTest, EveryRoutingSocketSeesEveryRequestUnlessLoopbackIsOff) {
  int writer = Open();
  int reader = Open();
  ASSERT_EQ(Write(writer, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254", 1)), 0);
  EXPECT_EQ(Write(writer, AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254", 2)), EEXIST);
  std::vector<Read> r = Drain(reader);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].rt().rtm_seq, 1);
  EXPECT_EQ(r[1].rt().rtm_seq, 2);
  EXPECT_EQ(r[1].rt().rtm_errno, EEXIST);
  EXPECT_EQ(Drain(writer).size(), 2u);
  // SO_USELOOPBACK off: the writer no longer reads its own echoes; the others still do.
  int32_t off = 0;
  strioctl s{RTS_IOC_USELOOPBACK, 0, sizeof(off), reinterpret_cast<char*>(&off)};
  {
    DomainScope d(&stack_.domain());
    ASSERT_EQ(us_ioctl(writer, I_STR, &s), 0);
  }
  ASSERT_EQ(Write(writer, AddVia("192.169.0.0", "255.255.0.0", "10.0.0.254", 3)), 0);
  EXPECT_TRUE(Drain(writer).empty());
  EXPECT_EQ(Drain(reader).size(), 1u);
}

TEST_F(RtsTest, NotificationsOfAddressesInterfacesAndMisses) {
  int fd = Open();
  ASSERT_TRUE(stack_.AddAddress("net0", "10.0.5.1/24").ok());
  std::vector<Read> got = Drain(fd);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type(), RTM_NEWADDR);
  EXPECT_EQ(got[1].type(), RTM_ADD) << "the interface route, from IP";
  EXPECT_EQ(got[1].rt().rtm_pid, 0);
  EXPECT_EQ(got[1].Inet(RTAX_DST), A("10.0.5.0"));
  // A datagram with no route: RTM_MISS.
  MsgPtr payload(allocb(ip::kIpHeadroom + 8));
  payload->b_rptr += ip::kIpHeadroom;
  payload->b_wptr = payload->b_rptr + 8;
  ip::SendArgs a;
  a.dst = A("203.0.113.9");
  a.protocol = 253;
  EXPECT_EQ(stack_.ip().Send(a, std::move(payload)), ENETUNREACH);
  got = Drain(fd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type(), RTM_MISS);
  EXPECT_EQ(got[0].Inet(RTAX_DST), A("203.0.113.9"));
}

TEST_F(RtsTest, InterfaceDownAndAddressDeletedAreAnnounced) {
  int fd = Open();
  DomainScope d(&stack_.domain());
  int ipfd = us_open("/dev/ip", O_RDWR);
  ASSERT_GE(ipfd, 0);
  ip_ifreq f{};
  std::strcpy(f.ifname, "net0");
  f.flags = 0;  // down
  strioctl s{IPIOC_SETFLAGS, 0, sizeof(f), reinterpret_cast<char*>(&f)};
  ASSERT_EQ(us_ioctl(ipfd, I_STR, &s), 0);
  std::vector<Read> got = Drain(fd);
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[0].type(), RTM_IFINFO);
  if_msghdr ifm;
  std::memcpy(&ifm, got[0].bytes.data(), sizeof(ifm));
  EXPECT_EQ(ifm.ifm_index, 1);
  EXPECT_EQ(ifm.ifm_flags & 0x1, 0) << "IFF_UP clear";
  EXPECT_TRUE(ifm.ifm_addrs & RTA_IFP);
  EXPECT_EQ(got[1].type(), RTM_DELETE) << "the interface route goes with it";
  EXPECT_EQ(got[1].Inet(RTAX_DST), A("10.0.0.0"));
  // Deleting the address: RTM_DELADDR with the address, its mask and broadcast.
  ip_addrreq a{};
  std::strcpy(a.ifname, "net0");
  a.addr = htonl(A("10.0.0.1"));
  a.prefixlen = 24;
  strioctl s2{IPIOC_DELADDR, 0, sizeof(a), reinterpret_cast<char*>(&a)};
  ASSERT_EQ(us_ioctl(ipfd, I_STR, &s2), 0);
  got = Drain(fd);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].type(), RTM_DELADDR);
  ifa_msghdr ifam;
  std::memcpy(&ifam, got[0].bytes.data(), sizeof(ifam));
  EXPECT_EQ(ifam.ifam_addrs, RTA_NETMASK | RTA_IFP | RTA_IFA | RTA_BRD);
  EXPECT_EQ(ifam.ifam_index, 1);
  us_close(ipfd);
}

TEST_F(RtsTest, ControlPartsAreRefused) {
  int fd = Open();
  std::string m = AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254").Bytes();
  DomainScope d(&stack_.domain());
  strbuf ctl{0, static_cast<int>(m.size()), m.data()};
  ASSERT_EQ(us_putmsg(fd, &ctl, nullptr, 0), 0);
  char buf[256];
  strbuf c{sizeof(buf), 0, buf};
  int flags = 0;
  ASSERT_GE(us_getmsg(fd, &c, nullptr, &flags), 0);
  T_error_ack e;
  std::memcpy(&e, buf, sizeof(e));
  EXPECT_EQ(e.PRIM_type, T_ERROR_ACK);
  EXPECT_EQ(e.TLI_error, TNOTSUPPORT);
  EXPECT_FALSE(stack_.ip().routes().Get(A("192.168.0.0"), 16).ok());
  // T_INFO_REQ is answered: TSDU size 0 (M_DATA only).
  T_info_req ir{T_INFO_REQ};
  strbuf ictl{0, sizeof(ir), reinterpret_cast<char*>(&ir)};
  ASSERT_EQ(us_putmsg(fd, &ictl, nullptr, 0), 0);
  c = strbuf{sizeof(buf), 0, buf};
  ASSERT_GE(us_getmsg(fd, &c, nullptr, &flags), 0);
  T_info_ack ia;
  std::memcpy(&ia, buf, sizeof(ia));
  EXPECT_EQ(ia.PRIM_type, T_INFO_ACK);
  EXPECT_EQ(ia.TSDU_size, 0);
}

TEST(RtsThreadedTest, ConcurrentWritersEachGetTheirOwnAnswer) {
  LoopNetwork net;
  auto [pa, pb] = net.AddWire();
  (void)pb;
  Stack stack;
  ASSERT_TRUE(stack.AttachLoopNetwork(net).ok());
  ASSERT_TRUE(stack.AddLoopInterface("net0", pa, "10.0.0.1/24").ok());
  constexpr int kThreads = 4, kRoutes = 50;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      DomainScope d(&stack.domain());
      int fd = us_open("/dev/rts", O_RDWR);
      int32_t off = 0;
      strioctl s{RTS_IOC_USELOOPBACK, 0, sizeof(off), reinterpret_cast<char*>(&off)};
      us_ioctl(fd, I_STR, &s);
      for (int i = 0; i < kRoutes; i++) {
        // Each thread adds its own routes, and one every thread adds: exactly one wins it.
        std::string dst = "172." + std::to_string(16 + t) + "." + std::to_string(i) + ".0";
        std::string m = AddVia(dst.c_str(), "255.255.255.0", "10.0.0.254").Bytes();
        if (us_write(fd, m.data(), m.size()) != static_cast<ssize_t>(m.size())) wrong++;
        std::string shared = AddVia("192.168.0.0", "255.255.0.0", "10.0.0.254").Bytes();
        ssize_t n = us_write(fd, shared.data(), shared.size());
        if (n < 0 && errno != EEXIST) wrong++;
      }
      us_close(fd);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_TRUE(stack.ip().routes().Get(A("192.168.0.0"), 16).ok());
  for (int t = 0; t < kThreads; t++) {
    for (int i = 0; i < kRoutes; i++) {
      EXPECT_TRUE(stack.ip().routes().Get((172u << 24) | ((16u + t) << 16) | (i << 8), 24).ok());
    }
  }
}

}  // namespace
}  // namespace ustreams::rts::testing
