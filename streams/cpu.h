// Two processor hints the library's hot paths use (private to streams/).
#pragma once

namespace ustreams {

// A spin-wait's pause between looks: lets the other hyperthread run and eases the memory bus.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Asks for p's cache line for writing (PREFETCHW where the processor has it, every x86-64 of the
// last decade): a line another core holds comes exclusive, not shared, so the store to come
// does not wait for it.
inline void PrefetchForWrite(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1);
#endif
}

}  // namespace ustreams
