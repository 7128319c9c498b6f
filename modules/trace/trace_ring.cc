#include "modules/trace/trace_ring.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace ustreams {

TraceRing::TraceRing(size_t capacity) : slots_(std::max<size_t>(capacity, 1)) {}

void TraceRing::Push(const trace_rec& r) {
  if (size_ == slots_.size()) {
    // Full: the new record takes the oldest one's slot.
    slots_[first_] = r;
    first_ = SlotOf(1);
    dropped_++;
    return;
  }
  slots_[SlotOf(size_)] = r;
  size_++;
}

size_t TraceRing::Pop(size_t max, unsigned char* out) {
  size_t n = std::min(max, size_);
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(out + i * sizeof(trace_rec), &slots_[SlotOf(i)], sizeof(trace_rec));
  }
  first_ = n == size_ ? 0 : SlotOf(n);
  size_ -= n;
  return n;
}

void TraceRing::Clear() {
  first_ = 0;
  size_ = 0;
  dropped_ = 0;
}

void TraceRing::Resize(size_t capacity) {
  capacity = std::max<size_t>(capacity, 1);
  size_t keep = std::min(size_, capacity);
  std::vector<trace_rec> slots(capacity);
  // The newest `keep` records, oldest of them first, go to the front of the new buffer.
  for (size_t i = 0; i < keep; ++i) slots[i] = slots_[SlotOf(size_ - keep + i)];
  dropped_ += size_ - keep;
  slots_ = std::move(slots);
  first_ = 0;
  size_ = keep;
}

}  // namespace ustreams
