// Micro-benchmarks of the STREAMS core (DESIGN §8). Run:
//   bazel run -c opt //streams:core_bench
// Targets: allocb+freeb (64 B, warm) <= 25 ns; putnext per hop <= 3x the plain indirect-call
// baseline per hop (BM_IndirectCallChain vs BM_PutnextChain at the same depth).
#include <memory>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "streams/alloc.h"
#include "streams/mblk.h"
#include "streams/perimeter.h"
#include "streams/queue.h"
#include "streams/registry.h"
#include "streams/scheduler.h"
#include "streams/stream.h"
#include "streams/testing/sample_modules.h"

namespace ustreams {
namespace {

// ---- message blocks ----

void BM_AllocbFreeb(benchmark::State& state) {
  size_t size = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    mblk_t* mp = allocb(size);
    benchmark::DoNotOptimize(mp);
    freeb(mp);
  }
}
BENCHMARK(BM_AllocbFreeb)->Arg(64)->Arg(2048)->Arg(65536);

void BM_DupbFreeb(benchmark::State& state) {
  mblk_t* mp = allocb(64);
  for (auto _ : state) {
    mblk_t* dp = dupb(mp);
    benchmark::DoNotOptimize(dp);
    freeb(dp);
  }
  freeb(mp);
}
BENCHMARK(BM_DupbFreeb);

// ---- the indirect-call baseline ----

struct CallNode {
  int (*fn)(CallNode*, void*);
  CallNode* next;
};

// A call that returns (as a put procedure's putnext does), not a tail jump: DoNotOptimize keeps
// the compiler from turning the chain into jumps, which no putnext chain could match.
int CallHop(CallNode* n, void* arg) {
  int r = n->next->fn(n->next, arg);
  benchmark::DoNotOptimize(r);
  return r;
}
int CallEnd(CallNode*, void* arg) {
  benchmark::DoNotOptimize(arg);
  return 0;
}

// depth hops: a chain of depth+1 nodes, the last one a sink (like modules + driver).
void BM_IndirectCallChain(benchmark::State& state) {
  int hops = static_cast<int>(state.range(0)) + 1;
  std::vector<CallNode> nodes(static_cast<size_t>(hops) + 1);
  for (size_t i = 0; i + 1 < nodes.size(); i++) nodes[i] = CallNode{CallHop, &nodes[i + 1]};
  nodes.back() = CallNode{CallEnd, nullptr};
  CallNode* volatile head = &nodes[0];  // keep the compiler from resolving the chain
  int x = 0;
  for (auto _ : state) {
    CallNode* h = head;
    benchmark::DoNotOptimize(h->fn(h, &x));
  }
  state.counters["per_hop_ns"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * hops,
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_IndirectCallChain)->Arg(1)->Arg(4)->Arg(16);

// ---- putnext through D_MP pass-through modules ----

mblk_t* volatile g_sunk;
int SinkPut(queue_t*, mblk_t* mp) {
  g_sunk = mp;  // the benchmark reuses one message: nothing is freed per iteration
  return 0;
}
int HeadPut(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}
module_info bench_info{9000, "bench", 0, INFPSZ, 1 << 20, 1 << 16};
qinit head_init{HeadPut, nullptr, nullptr, nullptr, nullptr, &bench_info, nullptr};
streamtab head_tab{&head_init, &head_init, nullptr, nullptr};
qinit sink_init{SinkPut, nullptr, nullptr, nullptr, nullptr, &bench_info, nullptr};
streamtab sink_tab{&sink_init, &sink_init, nullptr, nullptr};

struct BenchStream {
  std::unique_ptr<Scheduler> sched;
  Registry reg;
  std::unique_ptr<Stream> stream;

  explicit BenchStream(int modules, const char* module = "passthru", bool threaded = false)
      : sched(threaded ? Scheduler::Threaded(1) : Scheduler::Deterministic()) {
    (void)testing::RegisterSampleModules(reg);
    (void)reg.RegisterDriver("sink", &sink_tab, D_MP);
    (void)reg.RegisterModule("pairnull", &sink_tab, D_MTQPAIR);
    stream = std::make_unique<Stream>(sched.get(), &head_tab, nullptr);
    dev_t dev = 0;
    cred_t cr{0, 0};
    stream->OpenDriver(reg.FindDriver("sink"), &dev, 0, 0, &cr);
    for (int i = 0; i < modules; i++) stream->Push(reg.FindModule(module), 0, &cr);
  }
};

// depth modules between the head and the sink driver: depth+1 putnext calls per message.
void BM_PutnextChain(benchmark::State& state) {
  int depth = static_cast<int>(state.range(0));
  BenchStream bs(depth);
  mblk_t* mp = allocb(64);
  queue_t* top = bs.stream->head_wq();
  StreamClaim claim(bs.stream.get());  // inside the stream, as a head's write or a service is
  for (auto _ : state) putnext(top, mp);
  freeb(mp);
  state.counters["per_hop_ns"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * (depth + 1),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_PutnextChain)->Arg(1)->Arg(4)->Arg(16);

// ---- queues and scheduling ----

void BM_PutqGetq(benchmark::State& state) {
  BenchStream bs(1, "svcpass");
  queue_t* q = WR(bs.stream->head_wq()->q_next);
  noenable(q);  // measure the queue, not the scheduler
  mblk_t* mp = allocb(64);
  mp->b_wptr += 64;
  for (auto _ : state) {
    putq(q, mp);
    benchmark::DoNotOptimize(mp = getq(q));
  }
  freeb(mp);
}
BENCHMARK(BM_PutqGetq);

int g_services = 0;
int CountSrv(queue_t*) {
  g_services++;
  return 0;
}
qinit srv_init{SinkPut, CountSrv, nullptr, nullptr, nullptr, &bench_info, nullptr};
streamtab srv_tab{&srv_init, &srv_init, nullptr, nullptr};

void BM_QenableServiceRoundTrip(benchmark::State& state) {
  BenchStream bs(0);
  (void)bs.reg.RegisterModule("srv", &srv_tab, D_MP);
  cred_t cr{0, 0};
  bs.stream->Push(bs.reg.FindModule("srv"), 0, &cr);
  queue_t* q = bs.stream->head_wq()->q_next;
  for (auto _ : state) {
    qenable(q);
    bs.sched->RunUntilIdle();
  }
  benchmark::DoNotOptimize(g_services);
}
BENCHMARK(BM_QenableServiceRoundTrip);

// ---- perimeters ----

void BM_PerimeterUncontended(benchmark::State& state) {
  BenchStream bs(1, "pairnull");
  mblk_t* mp = allocb(64);
  queue_t* top = bs.stream->head_wq();
  StreamClaim claim(bs.stream.get());
  for (auto _ : state) putnext(top, mp);  // one hop into a D_MTQPAIR put procedure
  freeb(mp);
}
BENCHMARK(BM_PerimeterUncontended);

BenchStream* g_shared = nullptr;
void BM_PerimeterContended(benchmark::State& state) {
  // Threaded: a drainer that runs out of budget hands the perimeter to a scheduler worker.
  if (state.thread_index() == 0) g_shared = new BenchStream(1, "pairnull", true);
  // Google Benchmark starts every thread's loop together after setup.
  mblk_t* mp = allocb(64);
  {
    StreamClaim claim(g_shared->stream.get());
    for (auto _ : state) putnext(g_shared->stream->head_wq(), mp);
  }
  freeb(mp);
  if (state.thread_index() == 0) {
    delete g_shared;
    g_shared = nullptr;
  }
}
BENCHMARK(BM_PerimeterContended)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace ustreams

BENCHMARK_MAIN();
