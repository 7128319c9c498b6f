// libFuzzer target: arbitrary bytes written to a routing socket, as RtsModule::Request receives
// them (rt_msghdr parsing, address walking, every request type against a real routing table).
//
// Input: byte 0 chooses a preset table; then messages, each preceded by a big-endian 16-bit
// length (a short tail is one last message). Traps on crashes, sanitizer reports, a request
// answered 0 whose table change is not what it asked, and message blocks outliving the input.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>

#include "modules/ip/ip.h"
#include "modules/ip/ip_impl.h"
#include "modules/rts/rtmsg.h"
#include "modules/rts/rts.h"
#include "streams/alloc.h"
#include "streams/domain.h"

#define FUZZ_CHECK(cond)                                                 \
  do {                                                                   \
    if (!(cond)) {                                                       \
      std::fprintf(stderr, "rts_fuzz: property broken: %s\n", #cond); \
      __builtin_trap();                                                  \
    }                                                                    \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ustreams;
  if (size == 0) return 0;
  const int64_t live_before = GetAllocStats().live_mblks;
  {
    auto dom = std::make_unique<Domain>(Domain::Options{.deterministic = true});
    ip::Ip ip(*dom, ip::IpConfig{});
    dom->set_context(&ip);
    ip::IpImpl& impl = ip.impl();
    auto ifp = std::make_shared<ip::Interface>();
    ifp->index = 1;
    ifp->name = "net0";
    ifp->up = ifp->running = true;
    ifp->addrs.push_back(ip::IfAddr{0x0a000001, 24});  // 10.0.0.1/24
    impl.ifs_.push_back(ifp);
    impl.InterfaceRoutes(ifp, true);
    if (data[0] & 1) {
      ip::Route r;
      r.gateway = 0x0a0000fe;
      r.ifindex = 1;
      r.flags = ip::RTF_UP | ip::RTF_GATEWAY;
      (void)ip.routes().Add(r);  // a default route
    }
    {
      rts::RtsModule rts(ip);
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
        const size_t before = ip.routes().size();
        const uint8_t type = len >= 4 ? data[at + 3] : 0;
        const int err = rts.Request(nullptr, MsgPtr(mp));
        const size_t after = ip.routes().size();
        if (err != 0) FUZZ_CHECK(after == before);
        if (err == 0 && type == RTM_ADD) FUZZ_CHECK(after == before + 1);
        if (err == 0 && type == RTM_DELETE) FUZZ_CHECK(after + 1 == before);
        if (err == 0 && (type == RTM_GET || type == RTM_CHANGE)) FUZZ_CHECK(after == before);
        at += len;
      }
    }
    impl.Stop();
    dom.reset();
  }
  FUZZ_CHECK(GetAllocStats().live_mblks == live_before);
  return 0;
}
