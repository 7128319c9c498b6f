// STREAMS pipes through the C API against the Linux kernel's pipe(2), measured in one run with
// the same patterns (BENCHMARKS.md):
//   Burst:    a writer thread writes messages in bursts of 64, a reader thread drains them.
//   PingPong: two threads bounce one message back and forth (a round trip per iteration).
// Arguments: message size, and modules pushed on each end ("null", pass-through). The streams
// come from the C API's default domain, as an application's would.
//   bazel run -c opt //streams:pipe_bench
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "streams/domain.h"
#include "streams/head.h"
#include "streams/stropts.h"

namespace ustreams {
namespace {

// The calls under test, as a program ported to STREAMS or left on the kernel would make them.
struct Calls {
  ssize_t (*write)(int, const void*, size_t);
  ssize_t (*read)(int, void*, size_t);
};
constexpr Calls kKernel{::write, ::read};
constexpr Calls kStreams{us_write, us_read};

struct Pipe {
  int fd[2];
  bool streams;
  Pipe(bool use_streams, int modules) : streams(use_streams) {
    if (streams) {
      if (us_pipe(fd) != 0) std::abort();
      for (int i = 0; i < modules; i++) {
        if (us_ioctl(fd[0], I_PUSH, "null") != 0) std::abort();
        if (us_ioctl(fd[1], I_PUSH, "null") != 0) std::abort();
      }
    } else if (pipe(fd) != 0) {
      std::abort();
    }
  }
  ~Pipe() {
    if (streams) {
      us_close(fd[0]);
      us_close(fd[1]);
    } else {
      close(fd[0]);
      close(fd[1]);
    }
  }
};

// Reads exactly n bytes (a message may arrive in pieces on a kernel pipe).
void ReadFull(const Calls& c, int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = c.read(fd, buf + got, n - got);
    if (r <= 0) std::abort();
    got += static_cast<size_t>(r);
  }
}

void Burst(benchmark::State& state, bool streams) {
  size_t size = static_cast<size_t>(state.range(0));
  Pipe p(streams, static_cast<int>(state.range(1)));
  const Calls& c = streams ? kStreams : kKernel;
  constexpr int kBurst = 64;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> bursts_read{0};
  std::thread reader([&] {
    std::vector<char> buf(size);
    while (!stop.load(std::memory_order_relaxed)) {
      for (int i = 0; i < kBurst; i++) ReadFull(c, p.fd[0], buf.data(), size);
      bursts_read.fetch_add(1, std::memory_order_release);
    }
  });
  std::vector<char> msg(size, 'm');
  int64_t bursts = 0;
  const uint64_t syscalls_before = ReadinessSyscalls();
  for (auto _ : state) {
    for (int i = 0; i < kBurst; i++) {
      if (c.write(p.fd[1], msg.data(), size) != static_cast<ssize_t>(size)) std::abort();
    }
    bursts++;
  }
  // Wait until the reader has everything, so the time covers both sides.
  while (bursts_read.load(std::memory_order_acquire) < bursts) std::this_thread::yield();
  stop = true;
  for (int i = 0; i < kBurst; i++) c.write(p.fd[1], msg.data(), size);  // release the reader
  reader.join();
  state.SetItemsProcessed(bursts * kBurst);
  state.SetBytesProcessed(bursts * kBurst * static_cast<int64_t>(size));
  state.counters["readiness_syscalls_per_msg"] =
      static_cast<double>(ReadinessSyscalls() - syscalls_before) /
      static_cast<double>(std::max<int64_t>(1, bursts * kBurst));
}

// The pattern taken literally: the writer writes a burst of 64, then the reader (another
// thread) drains it, then the next burst. The two hand the turn over by spinning on an atomic, the
// same for both pipes, so what is measured is the calls and the messages crossing between cores.
void Alternate(benchmark::State& state, bool streams) {
  size_t size = static_cast<size_t>(state.range(0));
  Pipe p(streams, static_cast<int>(state.range(1)));
  const Calls& c = streams ? kStreams : kKernel;
  constexpr int kBurst = 64;
  std::atomic<int64_t> written{0};  // bursts written
  std::atomic<int64_t> drained{0};  // bursts drained
  std::atomic<bool> stop{false};
  double read_ns = 0;  // the reader's, read after join
  std::thread reader([&] {
    std::vector<char> buf(size);
    for (int64_t n = 1;; n++) {
      while (written.load(std::memory_order_acquire) < n) {
        if (stop.load(std::memory_order_relaxed)) return;
        __builtin_ia32_pause();
      }
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kBurst; i++) ReadFull(c, p.fd[0], buf.data(), size);
      read_ns += std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0)
                     .count();
      drained.store(n, std::memory_order_release);
    }
  });
  std::vector<char> msg(size, 'a');
  int64_t bursts = 0;
  double write_ns = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBurst; i++) {
      if (c.write(p.fd[1], msg.data(), size) != static_cast<ssize_t>(size)) std::abort();
    }
    write_ns +=
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    written.store(++bursts, std::memory_order_release);
    while (drained.load(std::memory_order_acquire) < bursts) __builtin_ia32_pause();
  }
  stop = true;
  reader.join();
  state.SetItemsProcessed(bursts * kBurst);
  state.SetBytesProcessed(bursts * kBurst * static_cast<int64_t>(size));
  // Where the time goes: each side's calls per message, apart from the hand-over.
  const double msgs = static_cast<double>(std::max<int64_t>(1, bursts * kBurst));
  state.counters["write_ns"] = write_ns / msgs;
  state.counters["read_ns"] = read_ns / msgs;
}

void PingPong(benchmark::State& state, bool streams) {
  size_t size = static_cast<size_t>(state.range(0));
  // A STREAMS pipe carries both directions; the kernel's needs a second pipe back.
  Pipe p(streams, static_cast<int>(state.range(1)));
  Pipe back(streams, 0);
  const Calls& c = streams ? kStreams : kKernel;
  const int a_out = streams ? p.fd[0] : p.fd[1], b_in = streams ? p.fd[1] : p.fd[0];
  const int b_out = streams ? p.fd[1] : back.fd[1], a_in = streams ? p.fd[0] : back.fd[0];
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    std::vector<char> buf(size);
    for (;;) {
      ReadFull(c, b_in, buf.data(), size);
      if (stop.load(std::memory_order_relaxed)) break;
      if (c.write(b_out, buf.data(), size) != static_cast<ssize_t>(size)) std::abort();
    }
  });
  std::vector<char> msg(size, 'p');
  for (auto _ : state) {
    if (c.write(a_out, msg.data(), size) != static_cast<ssize_t>(size)) std::abort();
    ReadFull(c, a_in, msg.data(), size);
  }
  stop = true;
  c.write(a_out, msg.data(), size);
  echo.join();
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(size));
}

// The burst pattern in one thread: 64 writes, then 64 reads. What each call costs with no
// other core involved (Alternate's counters include the lines crossing between cores).
void BurstOneThread(benchmark::State& state, bool streams) {
  size_t size = static_cast<size_t>(state.range(0));
  Pipe p(streams, static_cast<int>(state.range(1)));
  const Calls& c = streams ? kStreams : kKernel;
  constexpr int kBurst = 64;
  std::vector<char> msg(size, 'o'), buf(size);
  double write_ns = 0, read_ns = 0;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBurst; i++) {
      if (c.write(p.fd[1], msg.data(), size) != static_cast<ssize_t>(size)) std::abort();
    }
    auto t1 = std::chrono::steady_clock::now();
    for (int i = 0; i < kBurst; i++) ReadFull(c, p.fd[0], buf.data(), size);
    auto t2 = std::chrono::steady_clock::now();
    write_ns += std::chrono::duration<double, std::nano>(t1 - t0).count();
    read_ns += std::chrono::duration<double, std::nano>(t2 - t1).count();
  }
  const double msgs = static_cast<double>(std::max<int64_t>(1, state.iterations() * kBurst));
  state.SetItemsProcessed(state.iterations() * kBurst);
  state.counters["write_ns"] = write_ns / msgs;
  state.counters["read_ns"] = read_ns / msgs;
}
void BM_LinuxPipeBurstOneThread(benchmark::State& s) { BurstOneThread(s, false); }
void BM_StreamsPipeBurstOneThread(benchmark::State& s) { BurstOneThread(s, true); }
BENCHMARK(BM_LinuxPipeBurstOneThread)->Args({64, 0});
BENCHMARK(BM_StreamsPipeBurstOneThread)->Args({64, 0})->Args({64, 2});

// One thread writes a message and reads it back: the cost of the calls themselves, no waiting.
void WriteRead(benchmark::State& state, bool streams) {
  size_t size = static_cast<size_t>(state.range(0));
  Pipe p(streams, static_cast<int>(state.range(1)));
  const Calls& c = streams ? kStreams : kKernel;
  std::vector<char> msg(size, 'w');
  uint64_t before = ReadinessSyscalls();
  for (auto _ : state) {
    if (c.write(p.fd[1], msg.data(), size) != static_cast<ssize_t>(size)) std::abort();
    ReadFull(c, p.fd[0], msg.data(), size);
  }
  state.SetItemsProcessed(state.iterations());
  // The descriptors exist but nobody polls them: no eventfd write per message.
  state.counters["readiness_syscalls_per_msg"] =
      static_cast<double>(ReadinessSyscalls() - before) / static_cast<double>(state.iterations());
}
void BM_LinuxPipeWriteRead(benchmark::State& s) { WriteRead(s, false); }
void BM_StreamsPipeWriteRead(benchmark::State& s) { WriteRead(s, true); }
BENCHMARK(BM_LinuxPipeWriteRead)->Args({64, 0});
BENCHMARK(BM_StreamsPipeWriteRead)->Args({64, 0})->Args({64, 4});

void BM_LinuxPipeBurst(benchmark::State& s) { Burst(s, false); }
void BM_StreamsPipeBurst(benchmark::State& s) { Burst(s, true); }
void BM_LinuxPipeAlternate(benchmark::State& s) { Alternate(s, false); }
void BM_StreamsPipeAlternate(benchmark::State& s) { Alternate(s, true); }
void BM_LinuxPipePingPong(benchmark::State& s) { PingPong(s, false); }
void BM_StreamsPipePingPong(benchmark::State& s) { PingPong(s, true); }

// {size, modules on each end}; the kernel pipe has no modules.
BENCHMARK(BM_LinuxPipeBurst)->Args({64, 0})->Args({4096, 0})->Args({65536, 0})->UseRealTime();
BENCHMARK(BM_StreamsPipeBurst)
    ->Args({64, 0})->Args({64, 2})->Args({64, 4})
    ->Args({4096, 0})->Args({4096, 2})
    ->Args({65536, 0})->Args({65536, 4})
    ->UseRealTime();
// 64 bursts of 4 KiB would not fit in either pipe (64 KiB) while the reader waits its turn.
BENCHMARK(BM_LinuxPipeAlternate)->Args({64, 0})->UseRealTime();
BENCHMARK(BM_StreamsPipeAlternate)->Args({64, 0})->Args({64, 2})->UseRealTime();
BENCHMARK(BM_LinuxPipePingPong)->Args({64, 0})->Args({4096, 0})->Args({65536, 0})->UseRealTime();
BENCHMARK(BM_StreamsPipePingPong)
    ->Args({64, 0})->Args({64, 2})->Args({64, 4})
    ->Args({4096, 0})->Args({4096, 2})
    ->Args({65536, 0})->Args({65536, 4})
    ->UseRealTime();

}  // namespace
}  // namespace ustreams

BENCHMARK_MAIN();
