// Mutex: the lock of a stream head (and of the waits on it). A pthread mutex, so sanitizers see
// it as they see std::mutex; one type for every head lock, so the kind of lock is chosen in one
// place. (Measured on the two-core machines here: an adaptive, spinning mutex took the pipe burst
// benchmark from ~900k to ~600k messages/s, and a futex lock spinning a hundred times before it
// sleeps cost the one-thread write/read pattern ~10 % with no gain across threads once writers
// stopped taking the reader's lock for each message; see the head's inbox.)
#pragma once

#include <pthread.h>

namespace ustreams {

// A spin-wait's pause between looks: lets the other hyperthread run and eases the memory bus.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

class Mutex {
 public:
  Mutex() { pthread_mutex_init(&m_, nullptr); }
  ~Mutex() { pthread_mutex_destroy(&m_); }
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    pthread_mutex_lock(&m_);
    if (hook_ != nullptr) hook_(hook_arg_);
  }
  // Takes the lock without running the hook: for a taker that runs it itself if it must (a
  // stream head's read, which may take the inbox's bytes as they are).
  void LockWithoutHook() { pthread_mutex_lock(&m_); }
  void unlock() { pthread_mutex_unlock(&m_); }
  bool try_lock() {
    if (pthread_mutex_trylock(&m_) != 0) return false;
    if (hook_ != nullptr) hook_(hook_arg_);
    return true;
  }

  // Runs fn(arg) each time the lock is taken, before the taker goes on (a stream head moves what
  // writers left in its inbox onto its read queue, so all that runs under its lock sees one
  // queue). Set before the lock is shared.
  void SetAcquireHook(void (*fn)(void*), void* arg) {
    hook_ = fn;
    hook_arg_ = arg;
  }

 private:
  pthread_mutex_t m_;
  void (*hook_)(void*) = nullptr;
  void* hook_arg_ = nullptr;
};

}  // namespace ustreams
