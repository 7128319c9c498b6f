// Private to streams/: the allocation unit of a module or driver instance on a stream.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "streams/queue.h"

namespace ustreams {
struct fmodsw;
namespace internal {

struct QueuePair {
  queue_t rq;
  queue_t wq;
  const fmodsw* mod = nullptr;   // registration this instance came from
  int flags = 0;                 // D_* of the registration
  SyncQ* own_syncq[2] = {};      // perimeters owned by this pair (D_MTQPAIR: [0]; D_MTPERQ: both)
  bool procs_on = false;         // qprocson() has run and qprocsoff() has not
  // Bumped each time a service procedure or callback of this pair completes; qwait() waits for it.
  std::atomic<uint64_t> wait_gen{0};
  // Outstanding qtimeout/qbufcall ids, cancelled when the pair is freed.
  std::mutex cb_mu;
  std::vector<uint64_t> timeouts;
  std::vector<uint64_t> bufcalls;
};

}  // namespace internal
}  // namespace ustreams
