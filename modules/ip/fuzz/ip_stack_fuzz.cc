// libFuzzer target: arbitrary frames into a real IP instance, as a link hands them up (IpImpl::
// LinkInput): Ethernet dispatch, ARP (cache updates, replies), IPv4 checks, reassembly, ICMP
// (echo replies, errors to transports, path MTU), forwarding between two interfaces, and the
// ICMP errors IP sends, with transports registered for UDP and ICMP that take what they get.
//
// Input: the format of ip_input_fuzz.cc (byte 0 then length-prefixed frames; the corpus is
// shared). Byte 0's low bit turns forwarding on. Frames are one virtual second apart, so ARP and
// reassembly timers fire within an input. The interfaces have no link below them: what IP sends
// is built in full and dropped at the last step (counted as not_bound).
//
// Traps on: crashes and sanitizer reports; a message block outliving the input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "modules/ip/ip.h"
#include "modules/ip/ip_impl.h"
#include "streams/alloc.h"
#include "streams/domain.h"
#include "streams/msg.h"

namespace ustreams::ip {
namespace {

#define FUZZ_CHECK(cond)                                                     \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "ip_stack_fuzz: property broken: %s\n", #cond); \
      __builtin_trap();                                                      \
    }                                                                        \
  } while (0)

class Sink : public Transport {
 public:
  void Receive(const Ipv4Header& h, MsgPtr mp, uint32_t, bool) override {
    FUZZ_CHECK(msgsize(mp.get()) == h.total_length);
  }
  void ReceiveIcmpError(const IcmpMessage&, uint32_t) override {}
};

InterfacePtr AddInterface(IpImpl& ip, const char* name, uint32_t addr, uint8_t last_mac) {
  auto ifp = std::make_shared<Interface>();
  ifp->index = static_cast<uint32_t>(ip.ifs_.size() + 1);
  ifp->name = name;
  ifp->mac = {0x02, 0, 0, 0, 0, last_mac};
  ifp->up = ifp->running = true;
  ifp->mtu = ifp->link_mtu = 1500;
  ifp->addrs.push_back(IfAddr{addr, 24});
  ip.ifs_.push_back(ifp);
  ip.InterfaceRoutes(ifp, true);
  return ifp;
}

}  // namespace
}  // namespace ustreams::ip

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ustreams;
  using namespace ustreams::ip;
  if (size == 0) return 0;
  const int64_t live_before = GetAllocStats().live_mblks;
  {
    auto dom = std::make_unique<Domain>(Domain::Options{.deterministic = true});
    Domain& d = *dom;
    IpConfig config;
    config.forwarding = (data[0] & 1) != 0;
    config.reassembly_timeout = absl::Seconds(3);
    config.reassembly_max_bytes = 64 * 1024;
    Ip ip(d, config);
    d.set_context(&ip);
    Sink udp, raw;
    ip.RegisterTransport(kProtoUdp, &udp);
    ip.RegisterTransport(kProtoIcmp, &raw);
    IpImpl& impl = ip.impl();
    InterfacePtr net0 = AddInterface(impl, "net0", 0x0a000002, 2);  // 10.0.0.2/24: the corpus'
    AddInterface(impl, "net1", 0x0a000101, 3);                      // 10.0.1.1/24
    size_t at = 1;
    while (at < size) {
      size_t len = size - at;
      if (len >= 2) {
        len = std::min<size_t>(static_cast<size_t>(data[at] << 8 | data[at + 1]), size - at - 2);
        at += 2;
      }
      mblk_t* mp = allocb(len);
      if (mp == nullptr) break;
      std::memcpy(mp->b_wptr, data + at, len);
      mp->b_wptr += len;
      impl.LinkInput(net0, MsgPtr(mp));
      at += len;
      d.scheduler().RunUntilIdle();
      d.scheduler().AdvanceBy(absl::Seconds(1));
    }
    d.scheduler().AdvanceBy(absl::Seconds(120));  // every timer, every pending datagram
    impl.Stop();
    ip.RegisterTransport(kProtoUdp, nullptr);
    ip.RegisterTransport(kProtoIcmp, nullptr);
    dom.reset();  // the domain first (its streams, its scheduler), then IP, as in a Stack
  }
  FUZZ_CHECK(GetAllocStats().live_mblks == live_before);
  return 0;
}
