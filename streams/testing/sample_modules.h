// Sample modules that come with the harness: small, correct examples of the DDI patterns a
// module author needs (put/service with flow control and bands, M_FLUSH, private state under a
// perimeter), used by the core's own tests, benchmarks and demo.
//
//   passthru  D_MP       putnext both ways, no service procedures (the cheapest hop)
//   svcpass   D_MP       queues normal messages and drains them in its service procedure
//   qpair     D_MTQPAIR  like svcpass, counting messages in per-instance state the perimeter guards
//   perq      D_MTPERQ   like qpair, one perimeter per queue
//   permod    D_MTPERMOD like qpair, counting in state shared by all instances
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams::testing {

absl::Status RegisterSampleModules(Registry& registry);

// Per-instance counters of qpair/perq/permod (q_ptr of both queues; svcpass keeps none).
struct SampleCounters {
  uint64_t down = 0;  // messages passed downstream
  uint64_t up = 0;    // messages passed upstream
  // Messages that had to wait on the instance's queues, per side: perq's two perimeters each
  // guard only their own side's count.
  uint64_t queued_down = 0;
  uint64_t queued_up = 0;
  uint64_t queued() const { return queued_down + queued_up; }
};
SampleCounters* CountersOf(queue_t* q);
// Messages all permod instances passed, in both directions (guarded by its perimeter).
uint64_t PermodTotal();

}  // namespace ustreams::testing
