// The runner: the README's main command. Brings up a network of stacks from a config and shows
// what it can do.
//
//   runner                 the embedded default network (two hosts and a router): the module
//                          graph, the routing tables, a ping across the router, a UDP echo
//                          exchange, a route added and deleted through a routing socket (its
//                          echo, and an intentional EEXIST), the counters; exits 0
//   runner FILE            builds FILE instead and shows its graph and tables
//   runner [FILE] --serve  stays up until SIGINT or SIGTERM
//   runner --dot           the module graph as Graphviz DOT, and nothing else
//
// Exit status: 0, 1 when a step of the demonstration failed, 2 for a config that does not load
// or build (its error names the file, line and field).
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "modules/ip/route.h"
#include "modules/rts/rtmsg.h"
#include "modules/stack/stack.h"
#include "streams/domain.h"
#include "streams/stropts.h"
#include "streams/tihdr.h"
#include "tools/config/config.h"
#include "tools/config/graph.h"
#include "tools/config/network.h"
#include "tools/config/routing_socket.h"
#include "tools/config/stats.h"
#include "tools/ping/ping.h"

namespace ustreams {
namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

void Heading(const std::string& s) { std::cout << "\n== " << s << " ==\n"; }

sockaddr_in Sin(uint32_t addr, uint16_t port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  s.sin_addr.s_addr = htonl(addr);
  return s;
}

// A TPI UDP endpoint bound to port in the calling thread's current domain; -1 on failure.
int UdpBound(uint16_t port) {
  int fd = us_open("/dev/udp", O_RDWR);
  if (fd < 0) return -1;
  struct {
    T_bind_req req;
    sockaddr_in sin;
  } b{{T_BIND_REQ, sizeof(sockaddr_in), sizeof(T_bind_req), 0}, Sin(0, port)};
  strbuf ctl{0, sizeof(b), reinterpret_cast<char*>(&b)};
  char ack[128];
  strbuf actl{sizeof(ack), 0, ack};
  int flags = 0;
  t_scalar_t prim = -1;
  if (us_putmsg(fd, &ctl, nullptr, 0) == 0 && us_getmsg(fd, &actl, nullptr, &flags) >= 0) {
    std::memcpy(&prim, ack, sizeof(prim));
  }
  if (prim != T_BIND_ACK) {
    us_close(fd);
    return -1;
  }
  return fd;
}

int SendTo(int fd, uint32_t addr, uint16_t port, const std::string& data) {
  struct {
    T_unitdata_req req;
    sockaddr_in sin;
  } u{{T_UNITDATA_REQ, sizeof(sockaddr_in), sizeof(T_unitdata_req), 0, 0}, Sin(addr, port)};
  strbuf ctl{0, sizeof(u), reinterpret_cast<char*>(&u)};
  strbuf d{0, static_cast<int>(data.size()), const_cast<char*>(data.data())};
  return us_putmsg(fd, &ctl, &d, 0);
}

// One datagram within timeout_ms: its data and source, or false.
bool RecvFrom(int fd, int timeout_ms, std::string* data, sockaddr_in* from) {
  pollfd p{fd, POLLIN, 0};
  if (us_poll(&p, 1, timeout_ms) <= 0) return false;
  char cbuf[256], dbuf[2048];
  strbuf c{sizeof(cbuf), 0, cbuf}, d{sizeof(dbuf), 0, dbuf};
  int flags = 0;
  if (us_getmsg(fd, &c, &d, &flags) < 0) return false;
  T_unitdata_ind ind{};
  std::memcpy(&ind, cbuf, std::min<size_t>(sizeof(ind), static_cast<size_t>(c.len)));
  if (ind.PRIM_type != T_UNITDATA_IND) return false;
  if (ind.SRC_offset >= 0 && ind.SRC_offset + sizeof(sockaddr_in) <= static_cast<size_t>(c.len)) {
    std::memcpy(from, cbuf + ind.SRC_offset, sizeof(*from));
  }
  data->assign(dbuf, static_cast<size_t>(std::max(d.len, 0)));
  return true;
}

std::string Addr(uint32_t a) { return config::FormatAddress(a); }

// The first address of a stack's first interface.
uint32_t FirstAddress(Stack& s) {
  for (const ip::InterfaceInfo& i : s.ip().Interfaces()) {
    if (!i.addrs.empty()) return i.addrs.front().addr;
  }
  return 0;
}

bool Ping(Stack& from, const std::string& from_name, uint32_t to) {
  Heading("ping " + Addr(to) + " from " + from_name);
  DomainScope scope(&from.domain());
  ping::PingOptions o;
  o.dst = Addr(to);
  o.count = 3;
  o.interval = absl::Milliseconds(200);
  ping::PingReport r = ping::Ping(o, std::cout);
  return r.setup_error == 0 && r.received == r.transmitted;
}

// b serves UDP echo on port 7; a sends three lines and reads the echoes.
bool UdpEcho(Stack& a, const std::string& a_name, Stack& b, const std::string& b_name) {
  const uint32_t b_addr = FirstAddress(b);
  Heading("UDP echo: " + a_name + " -> " + b_name + " " + Addr(b_addr) + ":7");
  int server;
  {
    DomainScope scope(&b.domain());
    server = UdpBound(7);
  }
  if (server < 0) {
    std::cout << "cannot bind UDP port 7 on " << b_name << "\n";
    return false;
  }
  std::atomic<bool> done{false};
  std::thread echo([&] {
    DomainScope scope(&b.domain());
    std::string data;
    sockaddr_in from{};
    while (!done.load()) {
      if (RecvFrom(server, 50, &data, &from)) {
        SendTo(server, ntohl(from.sin_addr.s_addr), ntohs(from.sin_port), data);
      }
    }
  });
  bool ok = true;
  {
    DomainScope scope(&a.domain());
    int client = UdpBound(0);
    for (const char* line : {"hello, stack", "STREAMS all the way down", "bye"}) {
      std::string got;
      sockaddr_in from{};
      if (client < 0 || SendTo(client, b_addr, 7, line) != 0 ||
          !RecvFrom(client, 2000, &got, &from)) {
        std::cout << "  \"" << line << "\": no echo\n";
        ok = false;
        continue;
      }
      std::cout << "  sent \"" << line << "\", echo from " << Addr(ntohl(from.sin_addr.s_addr))
                << ":" << ntohs(from.sin_port) << " \"" << got << "\""
                << (got == line ? "" : "  (DIFFERENT)") << "\n";
      ok = ok && got == line;
    }
    if (client >= 0) us_close(client);
  }
  done.store(true);
  echo.join();
  {
    DomainScope scope(&b.domain());
    us_close(server);
  }
  return ok;
}

// What a routing socket reader sees of an rt_msghdr message, in one line.
std::string DescribeRtm(const std::string& m) {
  rt_msghdr h{};
  if (m.size() < sizeof(h)) return "(short message)";
  std::memcpy(&h, m.data(), sizeof(h));
  const char* types[] = {"?", "RTM_ADD", "RTM_DELETE", "RTM_CHANGE", "RTM_GET"};
  std::string s = h.rtm_type <= 4 ? types[h.rtm_type] : "RTM_" + std::to_string(h.rtm_type);
  sockaddr_in dst{};
  if ((h.rtm_addrs & RTA_DST) && m.size() >= sizeof(h) + sizeof(dst)) {
    std::memcpy(&dst, m.data() + sizeof(h), sizeof(dst));
    s += " " + Addr(ntohl(dst.sin_addr.s_addr));
  }
  s += " pid=" + std::to_string(h.rtm_pid) + " seq=" + std::to_string(h.rtm_seq);
  if (h.rtm_errno != 0) {
    s += " rtm_errno=" + std::string(strerrorname_np(h.rtm_errno));
  } else if (h.rtm_flags & ip::RTF_DONE) {
    s += " RTF_DONE";
  }
  return s;
}

// Adds a route through a routing socket, adds it again (EEXIST), deletes it; shows each write's
// answer and the echo a second routing socket reads.
bool RoutingSocketDemo(Stack& s, const std::string& name) {
  Heading("routing socket on " + name);
  DomainScope scope(&s.domain());
  int writer = us_open("/dev/rts", O_RDWR);
  int reader = us_open("/dev/rts", O_RDWR | O_NONBLOCK);
  if (writer < 0 || reader < 0) {
    std::cout << "cannot open /dev/rts\n";
    return false;
  }
  std::optional<ip::Route> def = s.ip().routes().Lookup(0);
  const uint32_t gw = def && def->gateway != 0 ? def->gateway : FirstAddress(s);
  config::Cidr dst{0xc6336400, 24};  // 198.51.100.0/24 (TEST-NET-2)
  std::string add = config::RouteAddMessage(dst, gw, 1);
  bool ok = true;
  auto write_and_show = [&](const std::string& what, std::string msg, int want) {
    ssize_t n = us_write(writer, msg.data(), msg.size());
    const int err = n < 0 ? errno : 0;
    std::cout << "  " << what << ": write() "
              << (err == 0 ? "returned " + std::to_string(n)
                           : "failed: " + std::string(strerrorname_np(err)) + " (" +
                                 std::strerror(err) + ")")
              << (want == err ? "" : "  (UNEXPECTED)") << "\n";
    ok = ok && want == err;
    char buf[1024];
    ssize_t r = us_read(reader, buf, sizeof(buf));
    if (r > 0) std::cout << "    another routing socket reads: " << DescribeRtm(std::string(buf, r)) << "\n";
  };
  write_and_show("add 198.51.100.0/24 via " + Addr(gw), add, 0);
  std::string again = config::RouteAddMessage(dst, gw, 2);
  write_and_show("add it again", again, EEXIST);
  std::string del = config::RouteAddMessage(dst, gw, 3);
  rt_msghdr h;
  std::memcpy(&h, del.data(), sizeof(h));
  h.rtm_type = RTM_DELETE;
  std::memcpy(del.data(), &h, sizeof(h));
  write_and_show("delete it", del, 0);
  us_close(writer);
  us_close(reader);
  return ok;
}

// One line per stack of the counters a reader looks at first (stackctl stats prints them all).
void CountersSummary(const config::pb::NetworkStats& st) {
  for (const config::pb::StackStats& s : st.stacks()) {
    uint64_t drops = 0;
    for (const auto& d : s.ip().drops()) drops += d.count();
    for (const auto& d : s.ip().wire_errors()) drops += d.count();
    std::printf(
        "  %-4s ip in %llu, delivered %llu, forwarded %llu, sent %llu, dropped %llu | icmp in "
        "%llu out %llu | arp req %llu/%llu rep %llu/%llu | udp in %llu out %llu | rts %llu "
        "(%llu refused)\n",
        s.name().c_str(), static_cast<unsigned long long>(s.ip().in_receives()),
        static_cast<unsigned long long>(s.ip().in_delivers()),
        static_cast<unsigned long long>(s.ip().forw_datagrams()),
        static_cast<unsigned long long>(s.ip().out_requests()),
        static_cast<unsigned long long>(drops), static_cast<unsigned long long>(s.icmp().in_msgs()),
        static_cast<unsigned long long>(s.icmp().out_msgs()),
        static_cast<unsigned long long>(s.arp().requests_in()),
        static_cast<unsigned long long>(s.arp().requests_out()),
        static_cast<unsigned long long>(s.arp().replies_in()),
        static_cast<unsigned long long>(s.arp().replies_out()),
        static_cast<unsigned long long>(s.udp().in_datagrams()),
        static_cast<unsigned long long>(s.udp().out_datagrams()),
        static_cast<unsigned long long>(s.rts().requests()),
        static_cast<unsigned long long>(s.rts().request_errors()));
  }
  std::printf("  (every counter: bazel run //tools/config:stackctl -- stats [--json] FILE)\n");
}

int Main(int argc, char** argv) {
  std::string file;
  bool serve = false, dot = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--serve") {
      serve = true;
    } else if (a == "--dot") {
      dot = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << "usage: runner [CONFIG.textproto] [--serve] [--dot]\n";
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "runner: unknown option " << a << "\n";
      return 2;
    } else {
      file = a;
      // Under `bazel run` the working directory is the runfiles tree: paths are the user's.
      const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
      if (wd != nullptr && !file.empty() && file[0] != '/') file = std::string(wd) + "/" + file;
    }
  }
  absl::StatusOr<config::Config> cfg =
      file.empty() ? config::LoadDefault() : config::LoadFile(file);
  if (!cfg.ok()) {
    std::cerr << cfg.status().message() << "\n";
    return 2;
  }
  config::BuildOptions bo;
  bo.deterministic = false;  // real threads and real time: ping shows real round trips
  absl::StatusOr<std::unique_ptr<config::Network>> net = config::Build(*cfg, bo);
  if (!net.ok()) {
    std::cerr << net.status().message() << "\n";
    return 2;
  }
  config::Network& n = **net;
  if (dot) {
    std::cout << config::GraphDot(n);
    return 0;
  }
  std::cout << "ustreams: " << n.stacks().size() << " stacks built from "
            << (file.empty() ? "the default config (tools/config/default.textproto)" : file)
            << "\n";
  Heading("module graph");
  std::cout << config::GraphText(n);
  config::pb::NetworkStats before = config::CollectStats(n);
  Heading("routing tables");
  std::cout << config::RoutesText(before);

  bool ok = true;
  if (file.empty()) {
    Stack* a = n.stack("a");
    Stack* b = n.stack("b");
    if (a == nullptr || b == nullptr) return 1;
    ok = Ping(*a, "a", FirstAddress(*b)) && ok;
    ok = UdpEcho(*a, "a", *b, "b") && ok;
    ok = RoutingSocketDemo(*a, "a") && ok;
    Heading("ARP caches");
    std::cout << config::ArpText(config::CollectStats(n));
    Heading("counters");
    std::cout << std::flush;
    CountersSummary(config::CollectStats(n));
    std::fflush(stdout);
  }
  if (serve) {
    std::signal(SIGINT, OnSignal);
    std::signal(SIGTERM, OnSignal);
    std::cout << "\nserving; interrupt (Ctrl-C) to stop\n" << std::flush;
    while (!g_stop.load()) usleep(100 * 1000);
  }
  std::cout << "\n" << (ok ? "all steps succeeded" : "SOME STEPS FAILED") << "\n";
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace ustreams

int main(int argc, char** argv) { return ustreams::Main(argc, argv); }
