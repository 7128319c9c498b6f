// ping: pings across a small demo network of stacks in this process (there is no stack
// configuration tool yet to ping from a configured one).
//
//   host 10.0.0.1 ---- 10.0.0.254 router 10.0.1.254 ---- 10.0.1.2 far
//
//   bazel run //tools/ping -- [-c count] [-i interval_s] [-W timeout_s] [-s size] [-t ttl] [dst]
//
// The default destination is 10.0.1.2 (through the router: ttl=63); try 10.0.0.254, 10.0.1.99
// (nobody: 100% loss), 10.9.9.9 (the router has no route) or -t 1 (time exceeded).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "drivers/loop/loop.h"
#include "modules/icmp/icmp.h"
#include "modules/stack/stack.h"
#include "streams/domain.h"
#include "tools/ping/ping.h"

namespace {

using ustreams::LoopNetwork;
using ustreams::Stack;

int Usage() {
  std::cerr << "usage: ping [-c count] [-i interval_s] [-W timeout_s] [-s size] [-t ttl] [dst]\n";
  return 2;
}

bool Seconds(const char* s, absl::Duration* d) {
  double v;
  if (!absl::SimpleAtod(s, &v) || v < 0) return false;
  *d = absl::Seconds(v);
  return true;
}

// The demo network, torn down in order: traffic settles, the raw ICMP transports this binary
// registered go (a Stack without its own), then the stacks.
class DemoNet {
 public:
  DemoNet() {
    auto [h0, r0] = net_.AddWire();
    auto [r1, f1] = net_.AddWire();
    Stack::Options router;
    router.ip.forwarding = true;
    host_ = Make(Stack::Options{});
    router_ = Make(router);
    far_ = Make(Stack::Options{});
    ok_ = host_->AddLoopInterface("net0", h0, "10.0.0.1/24").ok() &&
          router_->AddLoopInterface("net0", r0, "10.0.0.254/24").ok() &&
          router_->AddLoopInterface("net1", r1, "10.0.1.254/24").ok() &&
          far_->AddLoopInterface("net0", f1, "10.0.1.2/24").ok() &&
          host_->AddRoute("0.0.0.0/0", "10.0.0.254").ok() &&
          far_->AddRoute("0.0.0.0/0", "10.0.1.254").ok();
  }
  ~DemoNet() {
    for (int i = 0; i < 100 && net_.in_flight_frames() != 0; i++) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    for (Stack* s : {host_.get(), router_.get(), far_.get()}) s->scheduler().WaitIdle();
    host_.reset();
    router_.reset();
    far_.reset();
  }
  bool ok() const { return ok_; }
  Stack& host() { return *host_; }

 private:
  std::unique_ptr<Stack> Make(const Stack::Options& o) {
    auto s = std::make_unique<Stack>(o);
    ok_ = ok_ && s->AttachLoopNetwork(net_).ok();
    return s;
  }

  bool ok_ = true;
  LoopNetwork net_;
  std::unique_ptr<Stack> host_, router_, far_;
};

}  // namespace

int main(int argc, char** argv) {
  ustreams::ping::PingOptions o;
  o.dst = "10.0.1.2";
  int c;
  while ((c = getopt(argc, argv, "c:i:W:s:t:")) != -1) {
    int n = 0;
    switch (c) {
      case 'c':
        if (!absl::SimpleAtoi(optarg, &o.count)) return Usage();
        break;
      case 'i':
        if (!Seconds(optarg, &o.interval)) return Usage();
        break;
      case 'W':
        if (!Seconds(optarg, &o.timeout)) return Usage();
        break;
      case 's':
        if (!absl::SimpleAtoi(optarg, &n) || n < 0) return Usage();
        o.payload = static_cast<size_t>(n);
        break;
      case 't':
        if (!absl::SimpleAtoi(optarg, &o.ttl)) return Usage();
        break;
      default:
        return Usage();
    }
  }
  if (optind + 1 == argc) o.dst = argv[optind];
  if (optind + 1 < argc) return Usage();

  DemoNet net;
  if (!net.ok()) {
    std::cerr << "ping: could not build the demo network\n";
    return 2;
  }
  ustreams::DomainScope scope(&net.host().domain());
  ustreams::ping::PingReport r = ustreams::ping::Ping(o, std::cout);
  if (r.setup_error != 0) return 2;
  return r.received > 0 ? 0 : 1;
}
