// UDP throughput: datagrams per second received, 64 B and 1400 B payloads, for
//   kernel  - the Linux kernel's UDP over loopback (the baseline, same pattern),
//   stacks  - two ustreams stacks over a loop wire (TPI endpoints through the C API),
//   router  - two stacks with a third forwarding between them (A—R—B).
// One sender thread sends as fast as it can for --seconds; one receiver thread counts what
// arrives. Datagrams are not flow controlled end to end (UDP), so the figure is the goodput: what
// the receiver got per second; "sent" shows what the sender managed.
//
//   bazel run -c opt //tools/bench:udp_bench -- [--seconds=2] [--only=kernel|stacks|router]
//                                                [--workers=N]  (scheduler threads per stack, 2)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "drivers/loop/loop.h"
#include "modules/ip/ip_stats.h"
#include "modules/stack/stack.h"
#include "streams/domain.h"
#include "streams/stropts.h"
#include "streams/tihdr.h"

namespace ustreams {
namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  uint64_t sent = 0;
  uint64_t received = 0;
  double seconds = 0;
};

sockaddr_in Sin(const char* ip, uint16_t port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  inet_pton(AF_INET, ip, &s.sin_addr);
  return s;
}

// Runs send_one in one thread and recv_one in another for `seconds`.
template <typename Send, typename Recv>
Result Measure(double seconds, Send send_one, Recv recv_one) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> received{0};
  std::thread rx([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      if (recv_one()) received.fetch_add(1, std::memory_order_relaxed);
    }
  });
  Result r;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  uint64_t sent = 0;
  while (Clock::now() < end) {
    for (int i = 0; i < 64; i++) sent += send_one() ? 1 : 0;
  }
  const uint64_t got = received.load();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop.store(true);
  rx.join();
  r.sent = sent;
  r.received = got;
  return r;
}

Result Kernel(size_t size, double seconds) {
  int rx = socket(AF_INET, SOCK_DGRAM, 0);
  int tx = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 4 << 20;
  setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  sockaddr_in a = Sin("127.0.0.1", 0);
  bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len);
  timeval tv{0, 100000};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::vector<char> buf(size, 'x'), in(65536);
  Result r = Measure(
      seconds,
      [&] {
        return sendto(tx, buf.data(), size, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) ==
               static_cast<ssize_t>(size);
      },
      [&] { return recv(rx, in.data(), in.size(), 0) > 0; });
  close(rx);
  close(tx);
  return r;
}

// A TPI UDP endpoint bound to addr:port in the calling thread's current domain.
int UdpOpen(const char* addr, uint16_t port) {
  int fd = us_open("/dev/udp", O_RDWR);
  if (fd < 0) return -1;
  struct {
    T_bind_req req;
    sockaddr_in sin;
  } b{};
  b.req.PRIM_type = T_BIND_REQ;
  b.req.ADDR_length = sizeof(sockaddr_in);
  b.req.ADDR_offset = sizeof(T_bind_req);
  b.sin = Sin(addr, port);
  strbuf ctl{0, static_cast<int>(sizeof(b)), reinterpret_cast<char*>(&b)};
  if (us_putmsg(fd, &ctl, nullptr, 0) < 0) return -1;
  char ack[256];
  strbuf actl{static_cast<int>(sizeof(ack)), 0, ack};
  int flags = 0;
  if (us_getmsg(fd, &actl, nullptr, &flags) < 0) return -1;
  t_scalar_t prim;
  std::memcpy(&prim, ack, sizeof(prim));
  return prim == T_BIND_ACK ? fd : -1;
}

Result OverStacks(Stack& sa, Stack& sb, const char* dst, size_t size, double seconds) {
  int rx, tx;
  {
    DomainScope s(&sb.domain());
    rx = UdpOpen("0.0.0.0", 9000);
  }
  {
    DomainScope s(&sa.domain());
    tx = UdpOpen("0.0.0.0", 0);
  }
  if (rx < 0 || tx < 0) {
    std::fprintf(stderr, "udp_bench: cannot open UDP endpoints\n");
    return {};
  }
  struct {
    T_unitdata_req req;
    sockaddr_in sin;
  } u{};
  u.req.PRIM_type = T_UNITDATA_REQ;
  u.req.DEST_length = sizeof(sockaddr_in);
  u.req.DEST_offset = sizeof(T_unitdata_req);
  u.sin = Sin(dst, 9000);
  std::vector<char> buf(size, 'x'), in(65536), inctl(256);
  strbuf ctl{0, static_cast<int>(sizeof(u)), reinterpret_cast<char*>(&u)};
  strbuf data{0, static_cast<int>(size), buf.data()};
  Result r = Measure(
      seconds, [&] { return us_putmsg(tx, &ctl, &data, 0) == 0; },
      [&] {
        pollfd p{rx, POLLIN, 0};
        if (us_poll(&p, 1, 100) <= 0) return false;
        strbuf c{static_cast<int>(inctl.size()), 0, inctl.data()};
        strbuf d{static_cast<int>(in.size()), 0, in.data()};
        int flags = 0;
        return us_getmsg(rx, &c, &d, &flags) >= 0 && d.len == static_cast<int>(size);
      });
  us_close(rx);
  us_close(tx);
  return r;
}

void Print(const char* what, size_t size, const Result& r, double baseline) {
  const double rate = r.received / r.seconds;
  std::printf("%-8s %5zu B  %10.0f datagrams/s received  (%10.0f sent/s)", what, size, rate,
              r.sent / r.seconds);
  if (baseline > 0) std::printf("  %.2f x kernel", rate / baseline);
  std::printf("\n");
}

Stack::Options StackOptions(int workers, bool forwarding) {
  Stack::Options o;
  o.workers = workers;
  o.ip.forwarding = forwarding;
  return o;
}

int Main(int argc, char** argv) {
  double seconds = 2;
  int workers = 2;
  std::string only;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a.rfind("--seconds=", 0) == 0) seconds = std::stod(a.substr(10));
    if (a.rfind("--only=", 0) == 0) only = a.substr(7);
    if (a.rfind("--workers=", 0) == 0) workers = std::stoi(a.substr(10));
  }
  for (size_t size : {size_t{64}, size_t{1400}}) {
    Result k = Kernel(size, seconds);
    const double base = k.received / k.seconds;
    if (only.empty() || only == "kernel") Print("kernel", size, k, 0);
    if (only.empty() || only == "stacks") {
      LoopNetwork net;
      auto [pa, pb] = net.AddWire();
      Stack a(StackOptions(workers, false)), b(StackOptions(workers, false));
      (void)a.AttachLoopNetwork(net);
      (void)b.AttachLoopNetwork(net);
      (void)a.AddLoopInterface("net0", pa, "10.0.0.1/24");
      (void)b.AddLoopInterface("net0", pb, "10.0.0.2/24");
      Print("stacks", size, OverStacks(a, b, "10.0.0.2", size, seconds), base);
    }
    if (only.empty() || only == "router") {
      LoopNetwork net;
      auto [pa, pr1] = net.AddWire();
      auto [pr2, pb] = net.AddWire();
      Stack a(StackOptions(workers, false)), b(StackOptions(workers, false));
      Stack r(StackOptions(workers, true));
      for (Stack* s : {&a, &b, &r}) (void)s->AttachLoopNetwork(net);
      (void)a.AddLoopInterface("net0", pa, "10.0.1.1/24");
      (void)r.AddLoopInterface("net0", pr1, "10.0.1.254/24");
      (void)r.AddLoopInterface("net1", pr2, "10.0.2.254/24");
      (void)b.AddLoopInterface("net0", pb, "10.0.2.1/24");
      (void)a.AddRoute("0.0.0.0/0", "10.0.1.254");
      (void)b.AddRoute("0.0.0.0/0", "10.0.2.254");
      Result res = OverStacks(a, b, "10.0.2.1", size, seconds);
      Print("router", size, res, base);
      std::printf("         router forwarded %.0f packets/s\n",
                  r.ip().stats().forw_datagrams.load() / res.seconds);
    }
  }
  return 0;
}

}  // namespace
}  // namespace ustreams

int main(int argc, char** argv) { return ustreams::Main(argc, argv); }
