#include "drivers/loop/impair.h"

#include <algorithm>

namespace ustreams::loop_internal {

absl::Status DirectionModel::Validate(const Impairments& imp) {
  auto prob = [](double p) { return p >= 0 && p <= 1; };
  if (!prob(imp.loss) || !prob(imp.reorder) || !prob(imp.duplicate) || !prob(imp.corrupt)) {
    return absl::InvalidArgumentError("probabilities must lie in [0, 1]");
  }
  if (imp.delay < absl::ZeroDuration() || imp.jitter < absl::ZeroDuration() ||
      imp.reorder_gap < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("durations must not be negative");
  }
  if (imp.delay == absl::InfiniteDuration() || imp.jitter == absl::InfiniteDuration() ||
      imp.reorder_gap == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError("durations must be finite");
  }
  if (imp.rate_bps > 0 && imp.queue_bytes == 0) {
    return absl::InvalidArgumentError("a rate limit needs queue_bytes > 0");
  }
  return absl::OkStatus();
}

absl::Duration DirectionModel::TxTime(size_t bytes) const {
  // bytes * 8 s / rate, in nanoseconds; bytes is at most a frame, so no overflow.
  const unsigned __int128 ns = static_cast<unsigned __int128>(bytes) * 8 * 1'000'000'000;
  return absl::Nanoseconds(static_cast<int64_t>(ns / imp_.rate_bps));
}

uint64_t DirectionModel::BacklogBytes(absl::Time now) const {
  if (imp_.rate_bps == 0 || busy_until_ <= now) return 0;
  const int64_t ns = absl::ToInt64Nanoseconds(busy_until_ - now);
  return static_cast<uint64_t>(static_cast<unsigned __int128>(ns) * imp_.rate_bps /
                               (8ull * 1'000'000'000));
}

absl::Time DirectionModel::ReadyAt(absl::Time now, size_t frame_bytes) const {
  if (imp_.rate_bps == 0 || busy_until_ <= now) return now;
  // May go once the backlog has shrunk to queue_bytes - frame_bytes.
  const size_t room = imp_.queue_bytes > frame_bytes ? imp_.queue_bytes - frame_bytes : 0;
  return std::max(now, busy_until_ - TxTime(room));
}

Verdict DirectionModel::Offer(absl::Time now, size_t frame_bytes, size_t payload_bytes,
                              bool tail_drop) {
  Verdict v;
  stats_.offered_frames++;
  stats_.offered_bytes += frame_bytes;
  if (imp_.mtu != 0 && payload_bytes > imp_.mtu) {
    stats_.dropped_mtu++;
    v.drop = Verdict::kMtu;
    return v;
  }
  if (rng_.Chance(imp_.loss)) {
    stats_.dropped_loss++;
    v.drop = Verdict::kLoss;
    return v;
  }
  absl::Time depart = now;
  if (imp_.rate_bps > 0) {
    if (tail_drop && BacklogBytes(now) > 0 &&
        BacklogBytes(now) + frame_bytes > imp_.queue_bytes) {
      stats_.dropped_queue++;
      v.drop = Verdict::kQueue;
      return v;
    }
    depart = std::max(now, busy_until_) + TxTime(frame_bytes);
    busy_until_ = depart;
  }
  absl::Time at = depart + imp_.delay;
  if (imp_.jitter > absl::ZeroDuration()) {
    at += absl::Nanoseconds(static_cast<int64_t>(
        rng_.Below(static_cast<uint64_t>(absl::ToInt64Nanoseconds(imp_.jitter)) + 1)));
  }
  // Jitter must not reorder: a frame arrives no earlier than the one that entered before it.
  // (Frames entering out of order — held back by a reordering upstream — are left so.)
  const bool entered_in_order = now >= last_entry_;
  last_entry_ = std::max(last_entry_, now);
  if (imp_.jitter > absl::ZeroDuration() && entered_in_order) at = std::max(at, last_arrival_);
  if (rng_.Chance(imp_.reorder)) {
    at += imp_.reorder_gap;  // held back; the next frames keep the in-order times
    stats_.reordered++;
  } else {
    last_arrival_ = std::max(last_arrival_, at);
  }
  v.arrival = at;
  if (rng_.Chance(imp_.corrupt) && payload_bytes > 0) {
    v.corrupt = true;
    v.corrupt_bit = rng_.Below(static_cast<uint64_t>(payload_bytes) * 8);
    stats_.corrupted++;
  }
  stats_.passed_frames++;
  stats_.passed_bytes += frame_bytes;
  if (rng_.Chance(imp_.duplicate)) {
    v.duplicate = true;
    stats_.duplicated++;
    stats_.passed_frames++;
    stats_.passed_bytes += frame_bytes;
  }
  return v;
}

}  // namespace ustreams::loop_internal
