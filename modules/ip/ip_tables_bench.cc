// Benchmarks of IP's lookup tables, each against a baseline in the same run. Run:
//   bazel run -c opt //modules/ip:tables_bench
// Route lookup: the RCU multibit trie against a std::map per prefix length probed from /32 down
// (the obvious LPM), and against a linear scan for the small table. Classifier lookup against
// a std::unordered_map of five-tuples (no lock, and under a std::shared_mutex).
#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "benchmark/benchmark.h"
#include "modules/ip/classifier.h"
#include "modules/ip/rcu.h"
#include "modules/ip/route.h"

namespace ustreams::ip {
namespace {

constexpr size_t kProbes = 1 << 16;  // addresses per run, cycled through

Endpoint EndpointNo(size_t i) { return reinterpret_cast<Endpoint>(uintptr_t{16} * (i + 1)); }

// Routes shaped like a real table: most /24, many /16../23, a spread elsewhere.
std::vector<Route> MakeRoutes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::discrete_distribution<int> len_dist({1, 1, 1, 1, 1, 1, 1, 1,  2, 2, 2, 2, 2, 2, 2, 2, 8,
                                            4, 4, 4, 6, 6, 8, 8, 40, 4, 4, 4, 4, 4, 4, 2, 6});
  std::map<uint64_t, bool> seen;
  std::vector<Route> routes;
  while (routes.size() < n) {
    int len = len_dist(rng);
    uint32_t dst = static_cast<uint32_t>(rng()) & PrefixMask(len);
    if (!seen.emplace((uint64_t{dst} << 8) | len, true).second) continue;
    Route r;
    r.dst = dst;
    r.prefix_len = static_cast<uint8_t>(len);
    r.ifindex = static_cast<uint32_t>(routes.size());
    routes.push_back(r);
  }
  return routes;
}

// Half the probes fall inside a random route, half anywhere.
std::vector<uint32_t> MakeProbes(const std::vector<Route>& routes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> probes(kProbes);
  for (size_t i = 0; i < kProbes; ++i) {
    if (i % 2 == 0) {
      const Route& r = routes[rng() % routes.size()];
      probes[i] = r.dst | (static_cast<uint32_t>(rng()) & ~PrefixMask(r.prefix_len));
    } else {
      probes[i] = static_cast<uint32_t>(rng());
    }
  }
  return probes;
}

struct RouteFixture {
  std::vector<Route> routes;
  std::vector<uint32_t> probes;
  RouteTable table;
  explicit RouteFixture(size_t n) : routes(MakeRoutes(n, 1)), probes(MakeProbes(routes, 2)) {
    for (const Route& r : routes) {
      if (!table.Add(r).ok()) std::abort();
    }
  }
};

RouteFixture& Fixture(size_t n) {
  static auto* small = new RouteFixture(1000);
  static auto* large = new RouteFixture(100000);
  return n == 1000 ? *small : *large;
}

void BM_RouteLookup(benchmark::State& state) {
  RouteFixture& f = Fixture(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    std::optional<Route> r = f.table.Lookup(f.probes[i++ & (kProbes - 1)]);
    benchmark::DoNotOptimize(r);
  }
  if (state.thread_index() == 0) {
    RouteTable::Stats st = f.table.GetStats();
    state.counters["trie_KiB"] = static_cast<double>(st.trie_bytes) / 1024;
    state.counters["nodes"] = static_cast<double>(st.trie_nodes);
  }
}
BENCHMARK(BM_RouteLookup)->Arg(1000)->Arg(100000);
BENCHMARK(BM_RouteLookup)->Arg(100000)->Threads(2)->UseRealTime();

// The fixed cost inside every lookup: entering and leaving an RCU read section.
void BM_RcuReadSection(benchmark::State& state) {
  for (auto _ : state) {
    RcuReadGuard guard;
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_RcuReadSection);

// Baseline: one ordered map per prefix length, probed from the longest.
void BM_StdMapLpm(benchmark::State& state) {
  RouteFixture& f = Fixture(static_cast<size_t>(state.range(0)));
  std::array<std::map<uint32_t, Route>, 33> by_len;
  for (const Route& r : f.routes) by_len[r.prefix_len].emplace(r.dst, r);
  std::vector<int> lengths;  // only the lengths in use, longest first
  for (int len = 32; len >= 0; --len) {
    if (!by_len[len].empty()) lengths.push_back(len);
  }
  size_t i = 0;
  for (auto _ : state) {
    uint32_t addr = f.probes[i++ & (kProbes - 1)];
    std::optional<Route> found;
    for (int len : lengths) {
      auto it = by_len[len].find(addr & PrefixMask(len));
      if (it != by_len[len].end()) {
        found = it->second;
        break;
      }
    }
    benchmark::DoNotOptimize(found);
  }
}
BENCHMARK(BM_StdMapLpm)->Arg(1000)->Arg(100000);

// Baseline for small tables: a linear scan keeping the longest match.
void BM_LinearScanLpm(benchmark::State& state) {
  RouteFixture& f = Fixture(static_cast<size_t>(state.range(0)));
  size_t i = 0;
  for (auto _ : state) {
    uint32_t addr = f.probes[i++ & (kProbes - 1)];
    const Route* best = nullptr;
    for (const Route& r : f.routes) {
      if ((addr & PrefixMask(r.prefix_len)) == r.dst &&
          (!best || r.prefix_len > best->prefix_len)) {
        best = &r;
      }
    }
    std::optional<Route> found;
    if (best) found = *best;
    benchmark::DoNotOptimize(found);
  }
}
BENCHMARK(BM_LinearScanLpm)->Arg(1000);

// An add and a delete of a /24 in a table of 100k routes (path copy, publish, reclaim).
void BM_RouteAddDelete(benchmark::State& state) {
  RouteFixture& f = Fixture(100000);
  Route r;
  r.prefix_len = 24;
  uint32_t next = 0;
  for (auto _ : state) {
    r.dst = (0xc6120000u + (next++ % 256) * 256);  // 198.18.x.0/24, a benchmarking range
    if (!f.table.Add(r).ok() || !f.table.Delete(r.dst, 24).ok()) std::abort();
  }
}
BENCHMARK(BM_RouteAddDelete);

// ---- classifier ----

struct ConnFixture {
  std::vector<FiveTuple> conns;
  std::vector<FiveTuple> probes;  // existing connections, shuffled
  Classifier classifier;
  ConnFixture() {
    std::mt19937 rng(3);
    constexpr uint32_t kLocal = 0x0a000001;
    if (!classifier.Bind(kProtoTcp, 0, 80, BindOptions{true}, this).ok()) std::abort();
    if (!classifier.Listen(kProtoTcp, 0, 80, this).ok()) std::abort();
    while (conns.size() < 100000) {
      FiveTuple t{kProtoTcp, kLocal, static_cast<uint16_t>(conns.size() % 4 ? 80 : 443),
                  static_cast<uint32_t>(rng()) | 1, static_cast<uint16_t>(1024 + rng() % 60000)};
      if (!classifier.Connect(t, BindOptions{true}, EndpointNo(conns.size())).ok()) continue;
      conns.push_back(t);
    }
    probes.resize(kProbes);
    for (size_t i = 0; i < kProbes; ++i) probes[i] = conns[rng() % conns.size()];
  }
};

ConnFixture& Conns() {
  static auto* f = new ConnFixture;
  return *f;
}

void BM_ClassifierLookupConnected(benchmark::State& state) {
  ConnFixture& f = Conns();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f.classifier.Lookup(f.probes[i++ & (kProbes - 1)]));
}
BENCHMARK(BM_ClassifierLookupConnected);
BENCHMARK(BM_ClassifierLookupConnected)->Threads(2)->UseRealTime();

// A SYN: misses the 100k connections, finds the wildcard listener.
void BM_ClassifierLookupListener(benchmark::State& state) {
  ConnFixture& f = Conns();
  size_t i = 0;
  for (auto _ : state) {
    FiveTuple p = f.probes[i++ & (kProbes - 1)];
    p.lport = 80;
    p.fport ^= 0x8000;  // a new source port
    benchmark::DoNotOptimize(f.classifier.Lookup(p));
  }
}
BENCHMARK(BM_ClassifierLookupListener);

struct TupleHash {
  size_t operator()(const FiveTuple& t) const {
    uint64_t a = (uint64_t{t.laddr} << 32) | t.faddr;
    uint64_t b = (uint64_t{t.protocol} << 32) | (uint64_t{t.lport} << 16) | t.fport;
    return std::hash<uint64_t>()(a * 0x9e3779b97f4a7c15ull ^ b);
  }
};

struct MapFixture {
  std::unordered_map<FiveTuple, Endpoint, TupleHash> map;
  std::shared_mutex mu;
  MapFixture() {
    ConnFixture& f = Conns();
    for (size_t i = 0; i < f.conns.size(); ++i) map.emplace(f.conns[i], EndpointNo(i));
  }
};

MapFixture& Map() {
  static auto* m = new MapFixture;
  return *m;
}

// Baseline: a std::unordered_map of five-tuples, no lock.
void BM_UnorderedMapLookup(benchmark::State& state) {
  MapFixture& m = Map();
  ConnFixture& f = Conns();
  size_t i = 0;
  for (auto _ : state) {
    auto it = m.map.find(f.probes[i++ & (kProbes - 1)]);
    benchmark::DoNotOptimize(it->second);
  }
}
BENCHMARK(BM_UnorderedMapLookup);

// Baseline with the reader lock a concurrent table needs.
void BM_UnorderedMapSharedLockLookup(benchmark::State& state) {
  MapFixture& m = Map();
  ConnFixture& f = Conns();
  size_t i = 0;
  for (auto _ : state) {
    std::shared_lock l(m.mu);
    auto it = m.map.find(f.probes[i++ & (kProbes - 1)]);
    benchmark::DoNotOptimize(it->second);
  }
}
BENCHMARK(BM_UnorderedMapSharedLockLookup);

// connect() with an ephemeral port and close(), among 100k connections.
void BM_ClassifierConnectEphemeralUnbind(benchmark::State& state) {
  ConnFixture& f = Conns();
  FiveTuple t{kProtoTcp, 0x0a000002, 0, 0xc6120001, 443};
  for (auto _ : state) {
    absl::StatusOr<uint16_t> p = f.classifier.Connect(t, BindOptions{}, &t);
    if (!p.ok()) std::abort();
    FiveTuple c = t;
    c.lport = *p;
    if (!f.classifier.Unbind(c, &t).ok()) std::abort();
  }
}
BENCHMARK(BM_ClassifierConnectEphemeralUnbind);

}  // namespace
}  // namespace ustreams::ip

BENCHMARK_MAIN();
