// A hierarchical timing wheel over integer ticks: four levels of 256 slots (ticks up to 2^32
// ahead; further deadlines wait in an overflow list). Add and Remove are O(1); advancing skips
// empty slots through per-level occupancy bitmaps, so a jump of an hour of virtual time costs a
// few hundred steps, not millions. Expired timers come out in (deadline, insertion) order.
// Not thread-safe: the scheduler guards it.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace ustreams {

class TimerWheel {
 public:
  struct Node {
    Node* next = nullptr;
    Node* prev = nullptr;
    int64_t deadline = 0;  // tick
    uint64_t seq = 0;      // insertion order, to break ties
    uint64_t id = 0;
    int16_t level = -1;    // -1: not in the wheel; 4: overflow list
    uint8_t slot = 0;
    std::function<void()> fn;
  };

  explicit TimerWheel(int64_t now = 0) : now_(now) {}
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  int64_t now() const { return now_; }
  size_t size() const { return size_; }

  // Takes ownership of n (allocated with new). A deadline at or before now() is due at once.
  void Add(Node* n);
  // Unlinks n (still owned by the caller afterwards).
  void Remove(Node* n);
  // Moves now() to `to` (never backwards) and appends every node whose deadline is <= to, in
  // order, to `expired`; the caller owns them.
  void Advance(int64_t to, std::vector<Node*>* expired);
  // The earliest pending deadline, or INT64_MAX when empty.
  int64_t NextDeadline() const;

 private:
  static constexpr int kLevels = 4;
  static constexpr int kSlots = 256;
  struct Slot {
    Node* head = nullptr;
    Node* tail = nullptr;
  };

  void Place(Node* n);
  void LinkInto(Slot& s, Node* n);
  void Unlink(Slot& s, Node* n);
  // First occupied slot of `level` at or after `from`, or -1.
  int FirstOccupied(int level, int from) const;
  void SetBit(int level, int slot, bool on);

  int64_t now_;
  size_t size_ = 0;
  Slot slots_[kLevels][kSlots];
  uint64_t bits_[kLevels][kSlots / 64] = {};
  Slot overflow_;
};

}  // namespace ustreams
