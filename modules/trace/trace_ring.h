// TraceRing: the bounded record store behind the trace module. A circular buffer of trace_rec
// with a fixed capacity: pushing into a full ring overwrites the oldest record and counts it as
// dropped. Not synchronised: the module guards each instance's ring with its own mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "modules/trace/trace.h"

namespace ustreams {

class TraceRing {
 public:
  // A capacity of 0 is taken as 1 (here and in Resize); callers validate what users ask for.
  explicit TraceRing(size_t capacity);

  // Appends r as the newest record, dropping the oldest if the ring is full.
  void Push(const trace_rec& r);
  // Moves up to `max` of the oldest records, oldest first, to out as consecutive trace_rec
  // images (out needs no alignment: a message buffer); returns how many.
  size_t Pop(size_t max, unsigned char* out);
  // Empties the ring and zeroes the drop counter.
  void Clear();
  // Changes the capacity, keeping the newest records that fit; the others count as
  // dropped.
  void Resize(size_t capacity);

  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }
  uint64_t dropped() const { return dropped_; }

 private:
  size_t SlotOf(size_t i) const { return (first_ + i) % slots_.size(); }

  std::vector<trace_rec> slots_;
  size_t first_ = 0;  // slot of the oldest record
  size_t size_ = 0;   // records held
  uint64_t dropped_ = 0;
};

}  // namespace ustreams
