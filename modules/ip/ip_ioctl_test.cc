// The ioctls of the "ip" device (ip_ioctl.h) as an application issues them: us_open("/dev/ip"),
// I_PLINK a loop link under it, I_STR. Each ioctl's success and each errno ip_ioctl.h lists, what
// the answers carry, and what the configuration does to traffic: interface routes follow the
// interface up and down, static ARP entries are used without a request on the wire, an unlinked
// interface is gone.
#include <arpa/inet.h>
#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "modules/ip/ip_driver.h"
#include "modules/ip/ip_test_util.h"
#include "streams/testing/leak_check.h"

namespace ustreams::ip::testing {
namespace {

constexpr uint8_t kTestProto = 253;  // RFC 3692 experimentation

template <size_t N>
void SetName(char (&dst)[N], const char* name) {
  std::memset(dst, 0, N);
  std::strncpy(dst, name, N);  // a 16-character name is left without its NUL on purpose
}

uint32_t Net(const char* a) { return htonl(Addr(a)); }

// Stack A, configured here through the C API, and stack B (plumbed by Stack's helper) on a wire;
// a spare wire for a second interface of A.
class IpIoctlTest : public ustreams::testing::LeakCheckedTest {
 protected:
  void SetUp() override {
    LeakCheckedTest::SetUp();
    w = std::make_unique<World>();
    std::tie(pa, pb) = w->net.AddWire();
    std::tie(pc, pd) = w->net.AddWire();
    a = &w->Add();
    b = &w->Add();
    w->Start();
    ASSERT_TRUE(b->AddLoopInterface("net0", pb, "10.0.0.2/24").ok());
    ctl = std::make_unique<IpControl>(*a);
  }
  void TearDown() override {
    ctl.reset();
    w.reset();
    LeakCheckedTest::TearDown();
  }

  // A new loop stream I_PLINKed under A's ip stream: its mux id.
  int Link(int cmd = I_PLINK, int ipfd = -1) {
    DomainScope scope(&a->domain());
    int l = us_open("/dev/loop", O_RDWR);
    EXPECT_GE(l, 0);
    int mux = us_ioctl(ipfd >= 0 ? ipfd : ctl->fd(), cmd, l);
    EXPECT_GT(mux, 0) << errno;
    us_close(l);
    return mux;
  }
  int Plumb(const char* name, int muxid, int ppa, uint32_t* ifindex = nullptr) {
    ip_plumb p{};
    SetName(p.ifname, name);
    p.muxid = muxid;
    p.ppa = ppa;
    int e = ctl->Ioctl(IPIOC_PLUMB, &p);
    if (e == 0 && ifindex != nullptr) *ifindex = p.ifindex;
    return e;
  }
  int Address(int cmd, const char* name, const char* addr, int prefixlen) {
    ip_addrreq r{};
    SetName(r.ifname, name);
    r.addr = Net(addr);
    r.prefixlen = prefixlen;
    return ctl->Ioctl(cmd, &r);
  }
  int SetFlags(const char* name, uint32_t flags) {
    ip_ifreq r{};
    SetName(r.ifname, name);
    r.flags = flags;
    return ctl->Ioctl(IPIOC_SETFLAGS, &r);
  }
  int GetIf(const char* name, ip_ifreq* r, uint32_t ifindex = 0) {
    *r = ip_ifreq{};
    SetName(r->ifname, name);
    r->ifindex = ifindex;
    return ctl->Ioctl(IPIOC_GETIF, r);
  }
  int Arp(int cmd, const char* name, const char* addr, const MacAddr& mac, ip_arpreq* out = nullptr) {
    ip_arpreq r{};
    SetName(r.ifname, name);
    r.addr = Net(addr);
    std::memcpy(r.mac, mac.octets.data(), 6);
    int e = ctl->Ioctl(cmd, &r);
    if (out != nullptr) *out = r;
    return e;
  }
  // net0 on port pa with 10.0.0.1/24, up.
  void PlumbNet0() {
    mux0 = Link();
    ASSERT_EQ(Plumb("net0", mux0, pa), 0);
    ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.0.1", 24), 0);
    ASSERT_EQ(SetFlags("net0", IPIF_UP), 0);
    w->Run();
  }
  // A datagram from A to dst: Send's result, and whether B received it.
  int SendToB(const char* dst, Recorder& rb, bool* arrived) {
    int e = a->ip().Send(To(dst, kTestProto), Payload(32));
    w->Run();
    *arrived = !rb.Take().empty();
    return e;
  }

  std::unique_ptr<World> w;
  Stack* a = nullptr;
  Stack* b = nullptr;
  int pa = -1, pb = -1, pc = -1, pd = -1;
  std::unique_ptr<IpControl> ctl;
  int mux0 = -1;
};

TEST_F(IpIoctlTest, PlumbAddressUpAndGetIf) {
  Recorder rb(b->ip(), kTestProto);
  mux0 = Link();
  uint32_t index = 0;
  ASSERT_EQ(Plumb("net0", mux0, pa, &index), 0);
  EXPECT_EQ(index, 1u);

  ip_ifreq r;
  ASSERT_EQ(GetIf("net0", &r), 0);
  EXPECT_STREQ(r.ifname, "net0");
  EXPECT_EQ(r.ifindex, 1u);
  EXPECT_EQ(r.flags, static_cast<uint32_t>(IPIF_BROADCAST | IPIF_RUNNING)) << "not up yet";
  EXPECT_EQ(r.mtu, 1500u);
  EXPECT_EQ(std::memcmp(r.mac, w->net.Mac(pa).octets.data(), 6), 0);
  EXPECT_EQ(r.naddrs, 0);

  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.0.1", 24), 0);
  bool arrived;
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), ENETUNREACH) << "down: no interface route";
  ASSERT_EQ(SetFlags("net0", IPIF_UP), 0);
  ASSERT_EQ(SetFlags("net0", IPIF_UP), 0) << "already up";
  ASSERT_EQ(GetIf("", &r, 1), 0) << "by index";
  EXPECT_STREQ(r.ifname, "net0");
  EXPECT_EQ(r.flags, static_cast<uint32_t>(IPIF_UP | IPIF_BROADCAST | IPIF_RUNNING));
  ASSERT_EQ(r.naddrs, 1);
  EXPECT_EQ(r.addrs[0], Net("10.0.0.1"));
  EXPECT_EQ(r.prefixlens[0], 24);
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  EXPECT_TRUE(arrived);

  // More addresses: one on the same subnet, one on another (which gets its route).
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.0.3", 24), 0);
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "192.168.5.1", 24), 0);
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.9.0", 31), 0) << "RFC 3021: /31 has no network";
  ASSERT_EQ(GetIf("net0", &r), 0);
  ASSERT_EQ(r.naddrs, 4);
  EXPECT_EQ(r.addrs[2], Net("192.168.5.1"));
  EXPECT_EQ(r.prefixlens[3], 31);
  std::optional<Route> rt = a->ip().routes().Lookup(Addr("192.168.5.77"));
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(rt->ifindex, 1u);
  EXPECT_TRUE(rt->interface_route);
  EXPECT_TRUE(a->ip().IsLocalAddress(Addr("10.0.0.3")));

  // Deleting an address takes its subnet's route, unless another address is on that subnet.
  ASSERT_EQ(Address(IPIOC_DELADDR, "net0", "192.168.5.1", 24), 0);
  EXPECT_FALSE(a->ip().routes().Lookup(Addr("192.168.5.77")).has_value());
  ASSERT_EQ(Address(IPIOC_DELADDR, "net0", "10.0.0.3", 24), 0);
  EXPECT_FALSE(a->ip().IsLocalAddress(Addr("10.0.0.3")));
  EXPECT_TRUE(a->ip().routes().Lookup(Addr("10.0.0.2")).has_value()) << "10.0.0.1 is still there";
  // A subnet inside another address's larger one loses its route all the same.
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "172.20.0.1", 16), 0);
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "172.20.5.1", 24), 0);
  ASSERT_EQ(Address(IPIOC_DELADDR, "net0", "172.20.5.1", 24), 0);
  rt = a->ip().routes().Lookup(Addr("172.20.5.9"));
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(rt->prefix_len, 16) << "the /24 route outlived its address";
  ASSERT_EQ(Address(IPIOC_DELADDR, "net0", "172.20.0.1", 16), 0);
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  EXPECT_TRUE(arrived);
  ASSERT_EQ(GetIf("net0", &r), 0);
  EXPECT_EQ(r.naddrs, 2);
}

TEST_F(IpIoctlTest, EveryIoctlRefusesAStructureOfTheWrongSize) {
  PlumbNet0();
  struct {
    int cmd;
    size_t size;
  } const kCmds[] = {
      {IPIOC_PLUMB, sizeof(ip_plumb)},     {IPIOC_ADDADDR, sizeof(ip_addrreq)},
      {IPIOC_DELADDR, sizeof(ip_addrreq)}, {IPIOC_SETFLAGS, sizeof(ip_ifreq)},
      {IPIOC_GETIF, sizeof(ip_ifreq)},     {IPIOC_SETMTU, sizeof(ip_ifreq)},
      {IPIOC_ARPSET, sizeof(ip_arpreq)},   {IPIOC_ARPDEL, sizeof(ip_arpreq)},
      {IPIOC_ARPGET, sizeof(ip_arpreq)},   {IPIOC_SETFORWARD, sizeof(int32_t)},
      {IPIOC_GETFORWARD, sizeof(int32_t)},
  };
  for (const auto& c : kCmds) {
    // A structure that would be valid at the right size.
    alignas(8) unsigned char buf[128] = {};
    std::strcpy(reinterpret_cast<char*>(buf), "net0");
    EXPECT_EQ(ctl->Ioctl(c.cmd, buf, static_cast<int>(c.size) - 1), EINVAL) << c.cmd;
    EXPECT_EQ(ctl->Ioctl(c.cmd, buf, static_cast<int>(c.size) + 4), EINVAL) << c.cmd;
    EXPECT_EQ(ctl->Ioctl(c.cmd, buf, 0), EINVAL) << c.cmd;
  }
  EXPECT_EQ(ctl->Ioctl(IPIOC | 99, nullptr, 0), EINVAL) << "an unknown command";
}

TEST_F(IpIoctlTest, PlumbErrors) {
  const int mux = Link();
  EXPECT_EQ(Plumb("", mux, pa), EINVAL) << "empty name";
  EXPECT_EQ(Plumb("abcdefghijklmnop", mux, pa), EINVAL) << "no NUL within IPIF_NAMESZ";
  EXPECT_EQ(Plumb("net0", 9999, pa), ENXIO) << "no link with that mux id";

  // A port the network does not have: the link answers DL_BADPPA. The link can still be used.
  EXPECT_EQ(Plumb("net0", mux, 999), ENXIO);
  ip_ifreq r;
  EXPECT_EQ(GetIf("net0", &r), ENXIO) << "the failed interface is not left behind";
  // A port another stack's domain holds: DL_BUSY.
  EXPECT_EQ(Plumb("net0", mux, pb), EBUSY);

  uint32_t index = 0;
  ASSERT_EQ(Plumb("net0", mux, pa, &index), 0);
  EXPECT_NE(index, 0u);
  EXPECT_EQ(Plumb("net1", mux, pa), EBUSY) << "the link is already an interface";
  const int mux2 = Link();
  EXPECT_EQ(Plumb("net0", mux2, pc), EEXIST) << "the name is taken";
  ASSERT_EQ(Plumb("net1", mux2, pc), 0);
  EXPECT_EQ(GetIf("net1", &r), 0);
}

TEST_F(IpIoctlTest, AddressErrors) {
  PlumbNet0();
  EXPECT_EQ(Address(IPIOC_ADDADDR, "", "10.0.0.5", 24), EINVAL);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "abcdefghijklmnop", "10.0.0.5", 24), EINVAL);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "nope0", "10.0.0.5", 24), ENXIO);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "0.0.0.0", 24), EINVAL);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "224.0.0.1", 24), EINVAL) << "multicast";
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "240.0.0.1", 24), EINVAL) << "class E";
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "255.255.255.255", 24), EINVAL);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "127.0.0.2", 8), EINVAL) << "loopback";
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.1.0", 24), EINVAL) << "the subnet's own address";
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.1.255", 24), EINVAL) << "the subnet's broadcast";
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.1.5", 33), EINVAL);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.1.5", -1), EINVAL);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.0.1", 24), EEXIST);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.0.1", 16), EEXIST) << "whatever the prefix";

  // 64 addresses an interface (it has one).
  for (int i = 0; i < 63; i++) {
    const std::string addr = "10.2." + std::to_string(i) + ".1";
    ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", addr.c_str(), 24), 0) << addr;
  }
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net0", "10.3.0.1", 24), ENOSPC);
  ip_ifreq r;
  ASSERT_EQ(GetIf("net0", &r), 0);
  EXPECT_EQ(r.naddrs, 64);
  EXPECT_EQ(r.addrs[7], Net("10.2.6.1")) << "the first eight are listed";

  // The same address on another interface of the stack is a duplicate too.
  const int mux = Link();
  ASSERT_EQ(Plumb("net1", mux, pc), 0);
  EXPECT_EQ(Address(IPIOC_ADDADDR, "net1", "10.0.0.1", 24), EEXIST);

  EXPECT_EQ(Address(IPIOC_DELADDR, "net0", "10.0.0.99", 24), EADDRNOTAVAIL);
  EXPECT_EQ(Address(IPIOC_DELADDR, "net1", "10.0.0.1", 24), EADDRNOTAVAIL) << "on another one";
  EXPECT_EQ(Address(IPIOC_DELADDR, "nope0", "10.0.0.1", 24), ENXIO);
  EXPECT_EQ(Address(IPIOC_DELADDR, "", "10.0.0.1", 24), EINVAL);
  ASSERT_EQ(Address(IPIOC_DELADDR, "net0", "10.0.0.1", 24), 0);
  EXPECT_EQ(Address(IPIOC_DELADDR, "net0", "10.0.0.1", 24), EADDRNOTAVAIL) << "deleted twice";
  EXPECT_FALSE(a->ip().routes().Lookup(Addr("10.0.0.2")).has_value());
  EXPECT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(8)), ENETUNREACH);
}

TEST_F(IpIoctlTest, FlagsGetIfAndMtuErrors) {
  PlumbNet0();
  EXPECT_EQ(SetFlags("nope0", IPIF_UP), ENXIO);
  EXPECT_EQ(SetFlags("", IPIF_UP), EINVAL);
  EXPECT_EQ(SetFlags("net0", IPIF_UP | 0x100), EINVAL) << "an unknown flag";
  ip_ifreq r;
  EXPECT_EQ(GetIf("nope0", &r), ENXIO);
  EXPECT_EQ(GetIf("", &r, 77), ENXIO) << "no such index";
  EXPECT_EQ(GetIf("", &r, 0), ENXIO) << "index 0 is no interface";
  EXPECT_EQ(GetIf("abcdefghijklmnop", &r), EINVAL);

  EXPECT_EQ(ctl->SetMtu("nope0", 1000), ENXIO);
  EXPECT_EQ(ctl->SetMtu("", 1000), EINVAL);
  EXPECT_EQ(ctl->SetMtu("net0", 67), EINVAL);
  EXPECT_EQ(ctl->SetMtu("net0", 1501), EINVAL) << "above the link's MTU";
  EXPECT_EQ(ctl->SetMtu("net0", 68), 0);
  ASSERT_EQ(GetIf("net0", &r), 0);
  EXPECT_EQ(r.mtu, 68u);
  EXPECT_EQ(ctl->SetMtu("net0", 576), 0);
  SendArgs s = To("10.0.0.2", kTestProto);
  s.df = true;
  EXPECT_EQ(a->ip().Send(s, Payload(557)), EMSGSIZE);
  EXPECT_EQ(a->ip().Send(s, Payload(556)), 0);
  EXPECT_EQ(ctl->SetMtu("net0", 1500), 0);
  EXPECT_EQ(a->ip().Send(s, Payload(1480)), 0);
  w->Run();

  // The link's MTU as the link reports it when plumbed.
  ASSERT_TRUE(w->net.SetMtu(pc, 9000).ok());
  ASSERT_EQ(Plumb("net1", Link(), pc), 0);
  ASSERT_EQ(GetIf("net1", &r), 0);
  EXPECT_EQ(r.mtu, 9000u);
  EXPECT_EQ(ctl->SetMtu("net1", 9000), 0);
  EXPECT_EQ(ctl->SetMtu("net1", 9001), EINVAL);
}

TEST_F(IpIoctlTest, ForwardingGetAndSet) {
  int32_t v = -1;
  ASSERT_EQ(ctl->Ioctl(IPIOC_GETFORWARD, &v), 0);
  EXPECT_EQ(v, 0);
  EXPECT_EQ(ctl->SetForwarding(true), 0);
  ASSERT_EQ(ctl->Ioctl(IPIOC_GETFORWARD, &v), 0);
  EXPECT_EQ(v, 1);
  v = 2;
  EXPECT_EQ(ctl->Ioctl(IPIOC_SETFORWARD, &v), EINVAL);
  v = -1;
  EXPECT_EQ(ctl->Ioctl(IPIOC_SETFORWARD, &v), EINVAL);
  ASSERT_EQ(ctl->Ioctl(IPIOC_GETFORWARD, &v), 0);
  EXPECT_EQ(v, 1) << "a refused value changes nothing";
  EXPECT_EQ(ctl->SetForwarding(false), 0);
  ASSERT_EQ(ctl->Ioctl(IPIOC_GETFORWARD, &v), 0);
  EXPECT_EQ(v, 0);
}

TEST_F(IpIoctlTest, StaticArpEntryIsUsedWithoutARequest) {
  PlumbNet0();
  Recorder rb(b->ip(), kTestProto);
  const MacAddr bmac = w->net.Mac(pb);
  ASSERT_EQ(Arp(IPIOC_ARPSET, "net0", "10.0.0.2", bmac), 0);
  ip_arpreq got;
  ASSERT_EQ(Arp(IPIOC_ARPGET, "", "10.0.0.2", MacAddr{}, &got), 0) << "any interface";
  EXPECT_EQ(got.flags, static_cast<uint32_t>(IPARP_STATIC | IPARP_COMPLETE));
  EXPECT_EQ(std::memcmp(got.mac, bmac.octets.data(), 6), 0);
  EXPECT_STREQ(got.ifname, "net0");

  const uint64_t requests = a->ip().stats().arp_requests_out.load();
  const uint64_t b_requests_in = b->ip().stats().arp_requests_in.load();
  bool arrived;
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  EXPECT_TRUE(arrived);
  // A static entry never ages.
  w->Advance(absl::Seconds(200));
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  EXPECT_TRUE(arrived);
  EXPECT_EQ(a->ip().stats().arp_requests_out.load(), requests) << "an ARP request went out";
  EXPECT_EQ(b->ip().stats().arp_requests_in.load(), b_requests_in);
  ASSERT_EQ(Arp(IPIOC_ARPGET, "net0", "10.0.0.2", MacAddr{}, &got), 0);
  EXPECT_EQ(got.flags, static_cast<uint32_t>(IPARP_STATIC | IPARP_COMPLETE));

  // Deleted, the next datagram resolves on the wire, into a dynamic entry.
  ASSERT_EQ(Arp(IPIOC_ARPDEL, "net0", "10.0.0.2", MacAddr{}), 0);
  EXPECT_EQ(Arp(IPIOC_ARPGET, "net0", "10.0.0.2", MacAddr{}), ENXIO);
  EXPECT_EQ(Arp(IPIOC_ARPDEL, "net0", "10.0.0.2", MacAddr{}), ENXIO);
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  EXPECT_TRUE(arrived);
  EXPECT_EQ(a->ip().stats().arp_requests_out.load(), requests + 1);
  ASSERT_EQ(Arp(IPIOC_ARPGET, "", "10.0.0.2", MacAddr{}, &got), 0);
  EXPECT_EQ(got.flags, static_cast<uint32_t>(IPARP_COMPLETE));
  EXPECT_EQ(std::memcmp(got.mac, bmac.octets.data(), 6), 0);
}

TEST_F(IpIoctlTest, StaticArpEntryReleasesDatagramsWaitingForResolution) {
  PlumbNet0();
  ASSERT_EQ(a->ip().Send(To("10.0.0.5", kTestProto), Payload(32)), 0);  // nobody answers
  w->Run();
  ip_arpreq got;
  ASSERT_EQ(Arp(IPIOC_ARPGET, "net0", "10.0.0.5", MacAddr{}, &got), 0);
  EXPECT_EQ(got.flags, 0u) << "incomplete";
  // Pointed at B's card: B receives a datagram that is not for it.
  ASSERT_EQ(Arp(IPIOC_ARPSET, "net0", "10.0.0.5", w->net.Mac(pb)), 0);
  w->Run();
  EXPECT_EQ(b->ip().stats().drop(IpDrop::kNotForUs), 1u);
  w->Advance(absl::Seconds(5));
  EXPECT_EQ(a->ip().stats().arp_failed.load(), 0u);
}

TEST_F(IpIoctlTest, ArpErrors) {
  PlumbNet0();
  const MacAddr mac{{0x02, 0, 0, 0, 0, 0x42}};
  EXPECT_EQ(Arp(IPIOC_ARPSET, "", "10.0.0.7", mac), EINVAL) << "ARPSET needs an interface";
  EXPECT_EQ(Arp(IPIOC_ARPSET, "abcdefghijklmnop", "10.0.0.7", mac), EINVAL);
  EXPECT_EQ(Arp(IPIOC_ARPSET, "nope0", "10.0.0.7", mac), ENXIO);
  EXPECT_EQ(Arp(IPIOC_ARPSET, "net0", "0.0.0.0", mac), EINVAL);
  EXPECT_EQ(Arp(IPIOC_ARPSET, "net0", "224.0.0.9", mac), EINVAL);
  EXPECT_EQ(Arp(IPIOC_ARPSET, "net0", "10.0.0.7", MacAddr::Broadcast()), EINVAL);
  EXPECT_EQ(Arp(IPIOC_ARPSET, "net0", "10.0.0.7", MacAddr{{0x01, 0, 0x5e, 0, 0, 1}}), EINVAL)
      << "a group address";
  EXPECT_EQ(Arp(IPIOC_ARPSET, "net0", "10.0.0.1", mac), EEXIST) << "an address of the stack";
  EXPECT_EQ(Arp(IPIOC_ARPSET, "net0", "192.168.1.7", mac), ENETUNREACH) << "not on the link";
  EXPECT_EQ(Arp(IPIOC_ARPGET, "net0", "10.0.0.7", mac), ENXIO);
  EXPECT_EQ(Arp(IPIOC_ARPGET, "", "10.0.0.7", mac), ENXIO);
  EXPECT_EQ(Arp(IPIOC_ARPGET, "nope0", "10.0.0.7", mac), ENXIO);
  EXPECT_EQ(Arp(IPIOC_ARPDEL, "net0", "10.0.0.7", mac), ENXIO);
  EXPECT_EQ(Arp(IPIOC_ARPDEL, "abcdefghijklmnop", "10.0.0.7", mac), EINVAL);
  ASSERT_EQ(Arp(IPIOC_ARPSET, "net0", "10.0.0.7", mac), 0);
  ASSERT_EQ(Arp(IPIOC_ARPSET, "net0", "10.0.0.7", mac), 0) << "replacing is allowed";
  EXPECT_EQ(Arp(IPIOC_ARPDEL, "", "10.0.0.7", mac), 0) << "any interface";
}

TEST_F(IpIoctlTest, DownRemovesInterfaceRoutesAndUpRestoresThem) {
  PlumbNet0();
  Recorder ra(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  ASSERT_TRUE(a->AddRoute("172.16.0.0/16", "10.0.0.2").ok());
  bool arrived;
  ASSERT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  ASSERT_TRUE(arrived);
  ip_arpreq got;
  ASSERT_EQ(Arp(IPIOC_ARPGET, "net0", "10.0.0.2", MacAddr{}, &got), 0);

  ASSERT_EQ(SetFlags("net0", 0), 0);
  ip_ifreq r;
  ASSERT_EQ(GetIf("net0", &r), 0);
  EXPECT_EQ(r.flags & IPIF_UP, 0u);
  EXPECT_EQ(r.naddrs, 1) << "addresses stay";
  EXPECT_FALSE(a->ip().routes().Lookup(Addr("10.0.0.2")).has_value());
  EXPECT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(8)), ENETUNREACH);
  EXPECT_EQ(a->ip().Send(To("172.16.1.1", kTestProto), Payload(8)), ENETUNREACH)
      << "a static route through a down interface";
  EXPECT_EQ(Arp(IPIOC_ARPGET, "net0", "10.0.0.2", MacAddr{}), ENXIO) << "ARP entries flushed";
  // An address added while down gets its route when the interface comes up.
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "192.168.7.1", 24), 0);
  EXPECT_FALSE(a->ip().routes().Lookup(Addr("192.168.7.2")).has_value());
  // Inbound traffic on a down interface is dropped.
  ASSERT_EQ(b->ip().Send(To("10.0.0.1", kTestProto), Payload(8)), 0);
  w->Run();
  w->Advance(absl::Seconds(1));
  EXPECT_TRUE(ra.Take().empty());

  ASSERT_EQ(SetFlags("net0", IPIF_UP), 0);
  w->Run();
  std::optional<Route> rt = a->ip().routes().Lookup(Addr("10.0.0.2"));
  ASSERT_TRUE(rt.has_value());
  EXPECT_TRUE(rt->interface_route);
  EXPECT_TRUE(a->ip().routes().Lookup(Addr("192.168.7.2")).has_value());
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  EXPECT_TRUE(arrived);
  EXPECT_EQ(a->ip().Send(To("172.16.1.1", kTestProto), Payload(8)), 0) << "via 10.0.0.2 again";
  w->Run();
  EXPECT_EQ(b->ip().stats().drop(IpDrop::kNotForUs), 1u);
}

// Two interfaces with addresses on one subnet share its route (one per prefix): whichever
// interface loses the route, the subnet stays reachable through the other.
TEST_F(IpIoctlTest, SubnetRouteMovesToTheOtherInterfaceOnIt) {
  PlumbNet0();
  ASSERT_EQ(Plumb("net1", Link(), pc), 0);
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net1", "10.0.0.9", 24), 0);
  ASSERT_EQ(SetFlags("net1", IPIF_UP), 0);
  w->Run();
  std::optional<Route> rt = a->ip().routes().Lookup(Addr("10.0.0.2"));
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(rt->ifindex, 1u);

  ASSERT_EQ(SetFlags("net0", 0), 0);
  rt = a->ip().routes().Lookup(Addr("10.0.0.2"));
  ASSERT_TRUE(rt.has_value()) << "net1 is up on the subnet";
  EXPECT_EQ(rt->ifindex, 2u);
  ASSERT_EQ(SetFlags("net0", IPIF_UP), 0);
  ASSERT_EQ(SetFlags("net1", 0), 0);
  rt = a->ip().routes().Lookup(Addr("10.0.0.2"));
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(rt->ifindex, 1u);

  ASSERT_EQ(SetFlags("net1", IPIF_UP), 0);
  ASSERT_EQ(Address(IPIOC_DELADDR, "net0", "10.0.0.1", 24), 0);
  rt = a->ip().routes().Lookup(Addr("10.0.0.2"));
  ASSERT_TRUE(rt.has_value()) << "10.0.0.9 is still on the subnet";
  EXPECT_EQ(rt->ifindex, 2u);

  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.0.1", 24), 0);
  ASSERT_EQ(Address(IPIOC_DELADDR, "net1", "10.0.0.9", 24), 0);
  rt = a->ip().routes().Lookup(Addr("10.0.0.2"));
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(rt->ifindex, 1u);
  {
    DomainScope scope(&a->domain());
    ASSERT_EQ(us_ioctl(ctl->fd(), I_PUNLINK, mux0), 0) << errno;
  }
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net1", "10.0.0.9", 24), 0);
  rt = a->ip().routes().Lookup(Addr("10.0.0.2"));
  ASSERT_TRUE(rt.has_value());
  EXPECT_EQ(rt->ifindex, 2u);
}

TEST_F(IpIoctlTest, PunlinkRemovesTheInterface) {
  PlumbNet0();
  Recorder ra(a->ip(), kTestProto);
  Recorder rb(b->ip(), kTestProto);
  ASSERT_TRUE(a->AddRoute("172.16.0.0/16", "10.0.0.2").ok());
  bool arrived;
  ASSERT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  ASSERT_TRUE(arrived);
  {
    DomainScope scope(&a->domain());
    ASSERT_EQ(us_ioctl(ctl->fd(), I_PUNLINK, mux0), 0) << errno;
  }
  w->Run();
  ip_ifreq r;
  EXPECT_EQ(GetIf("net0", &r), ENXIO);
  EXPECT_EQ(GetIf("", &r, 1), ENXIO);
  EXPECT_FALSE(a->ip().routes().Lookup(Addr("10.0.0.2")).has_value());
  EXPECT_FALSE(a->ip().routes().Lookup(Addr("172.16.1.1")).has_value()) << "static routes too";
  EXPECT_EQ(a->ip().Send(To("10.0.0.2", kTestProto), Payload(8)), ENETUNREACH);
  EXPECT_FALSE(a->ip().IsLocalAddress(Addr("10.0.0.1")));
  EXPECT_EQ(Plumb("net0", mux0, pa), ENXIO) << "the mux id is gone";
  // B's datagrams for A find nobody: the port has no stream any more.
  ASSERT_EQ(b->ip().Send(To("10.0.0.1", kTestProto), Payload(8)), 0);
  w->Run();
  EXPECT_TRUE(ra.Take().empty());

  // The name and the port can be plumbed again.
  uint32_t index = 0;
  ASSERT_EQ(Plumb("net0", Link(), pa, &index), 0);
  EXPECT_NE(index, 0u);
  ASSERT_EQ(Address(IPIOC_ADDADDR, "net0", "10.0.0.1", 24), 0);
  ASSERT_EQ(SetFlags("net0", IPIF_UP), 0);
  w->Run();
  EXPECT_EQ(SendToB("10.0.0.2", rb, &arrived), 0);
  EXPECT_TRUE(arrived);
}

TEST_F(IpIoctlTest, ClosingTheStreamOfAnILinkRemovesTheInterface) {
  int fd;
  {
    DomainScope scope(&a->domain());
    fd = us_open("/dev/ip", O_RDWR);
    ASSERT_GE(fd, 0);
  }
  const int mux = Link(I_LINK, fd);
  ASSERT_EQ(Plumb("tmp0", mux, pa), 0) << "through another ip stream: the links are IP's";
  ip_ifreq r;
  ASSERT_EQ(GetIf("tmp0", &r), 0);
  {
    DomainScope scope(&a->domain());
    us_close(fd);
  }
  w->Run();
  EXPECT_EQ(GetIf("tmp0", &r), ENXIO);
  EXPECT_EQ(Plumb("tmp0", mux, pa), ENXIO);
}

TEST(IpIoctlDomainTest, OpeningIpOutsideAStackIsEnxio) {
  Domain d(Domain::Options{.deterministic = true});
  ASSERT_TRUE(RegisterIpDriver(d.registry()).ok());
  DomainScope scope(&d);
  errno = 0;
  EXPECT_EQ(us_open("/dev/ip", O_RDWR), -1);
  EXPECT_EQ(errno, ENXIO);
}

}  // namespace
}  // namespace ustreams::ip::testing
