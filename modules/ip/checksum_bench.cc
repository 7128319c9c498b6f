// Micro-benchmarks of the Internet checksum: bazel run -c opt //modules/ip:checksum_bench
// The reference is the textbook one-word-at-a-time loop (RFC 1071 §4.1).
#include <cstdint>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "modules/ip/checksum.h"
#include "modules/ip/wire_test_util.h"
#include "streams/msg.h"

namespace ustreams::ip {
namespace {

uint16_t ReferenceSum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (; n > 1; n -= 2, p += 2) sum += static_cast<uint32_t>(p[0] << 8 | p[1]);
  if (n == 1) sum += static_cast<uint32_t>(p[0] << 8);
  return ChecksumFold(sum);
}

std::string Data(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}

void BM_Reference(benchmark::State& state) {
  std::string s = Data(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(ReferenceSum(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Reference)->Arg(20)->Arg(1500)->Arg(65535);

void BM_ChecksumAdd(benchmark::State& state) {
  std::string s = Data(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(ChecksumAdd(s.data(), s.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ChecksumAdd)->Arg(20)->Arg(1500)->Arg(65535);

// A 1500-byte packet in blocks of odd sizes (header, odd payload pieces).
void BM_ChainSumOddBlocks(benchmark::State& state) {
  std::string s = Data(1500);
  MsgPtr mp = testing::Chain(s, {14, 21, 333, 777, 0});
  for (auto _ : state) benchmark::DoNotOptimize(ChainSum(mp.get(), 0, 1500));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 1500);
}
BENCHMARK(BM_ChainSumOddBlocks);

}  // namespace
}  // namespace ustreams::ip

BENCHMARK_MAIN();
