// One direction of a loop port's cable, as a model free of I/O: given a frame's size and the
// time it enters, it says whether the frame passes, when it arrives, which bit to flip and whether
// a duplicate follows. The network core (net_core.cc) applies the verdicts to real messages.
//
// The order of the stages, and the draws they take from the direction's random stream:
//   1. MTU: payload over Impairments::mtu is dropped (no draw).
//   2. Loss: one draw when 0 < loss < 1.
//   3. Rate limit: the frame is serialised after those before it: it leaves at
//      max(now, busy_until) + bytes*8/rate. A kOut direction is asked first (ReadyAt) and never
//      drops; a kIn direction drops a frame that finds more than queue_bytes waiting.
//   4. Delay and jitter: arrival = departure + delay + U[0, jitter] (one draw when jitter > 0),
//      never before the arrival of the frame that entered before it: a cable with variable delay
//      still keeps order. (Without jitter nothing here can reorder; frames that enter out of
//      order, because a reordering upstream held one back, stay out of order.)
//   5. Reordering: one draw; a chosen frame arrives reorder_gap after its in-order time and does
//      not hold back the frames behind it, which overtake it.
//   6. Corruption: one draw, and one more for the bit (uniform over the payload bits; a frame
//      without payload is left alone). Headers are never hit: a real FCS would drop such a
//      frame, and a corrupted address or type only turns into a drop somewhere else.
//   7. Duplication: one draw; the copy arrives at the same time, right behind the original.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "drivers/loop/loop.h"
#include "drivers/loop/prng.h"

namespace ustreams::loop_internal {

struct Verdict {
  enum Drop { kNone, kMtu, kLoss, kQueue };
  Drop drop = kNone;
  absl::Time arrival;
  bool corrupt = false;
  uint64_t corrupt_bit = 0;  // index into the payload's bits (byte i, bit 7 - j: i*8 + j)
  bool duplicate = false;
};

class DirectionModel {
 public:
  explicit DirectionModel(uint64_t seed = 0) : rng_(seed) {}

  static absl::Status Validate(const Impairments& imp);
  void Configure(const Impairments& imp) { imp_ = imp; }
  const Impairments& impairments() const { return imp_; }

  // kOut: the earliest time a frame of `frame_bytes` may be handed in without overrunning
  // queue_bytes (now, if it may go now). A frame larger than queue_bytes goes when the backlog is
  // empty.
  absl::Time ReadyAt(absl::Time now, size_t frame_bytes) const;

  // A frame enters at `now`. tail_drop: a rate-limited backlog over queue_bytes drops it (kIn);
  // otherwise the caller asked ReadyAt first (kOut). Counts in stats().
  Verdict Offer(absl::Time now, size_t frame_bytes, size_t payload_bytes, bool tail_drop);

  DirStats& stats() { return stats_; }
  const DirStats& stats() const { return stats_; }

 private:
  absl::Duration TxTime(size_t bytes) const;
  // Bytes still to serialise at `now`.
  uint64_t BacklogBytes(absl::Time now) const;

  Impairments imp_;
  Prng rng_;
  absl::Time busy_until_ = absl::InfinitePast();
  absl::Time last_arrival_ = absl::InfinitePast();
  absl::Time last_entry_ = absl::InfinitePast();
  DirStats stats_;
};

}  // namespace ustreams::loop_internal
