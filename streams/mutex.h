// Mutex: the lock of a stream head (and of the waits on it). A pthread mutex, so sanitizers see
// it as they see std::mutex; one type for every head lock, so the kind of lock is chosen in one
// place. (An adaptive, spinning mutex was measured slower on the two-core machines here: the
// pipe burst benchmark fell from ~900k to ~600k messages/s.)
#pragma once

#include <pthread.h>

namespace ustreams {

class Mutex {
 public:
  Mutex() { pthread_mutex_init(&m_, nullptr); }
  ~Mutex() { pthread_mutex_destroy(&m_); }
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() { pthread_mutex_lock(&m_); }
  void unlock() { pthread_mutex_unlock(&m_); }
  bool try_lock() { return pthread_mutex_trylock(&m_) == 0; }

 private:
  pthread_mutex_t m_;
};

}  // namespace ustreams
