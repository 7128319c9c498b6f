#include "streams/timer_wheel.h"

#include <algorithm>
#include <climits>
#include <cstddef>

namespace ustreams {

TimerWheel::~TimerWheel() {
  auto drop = [](Slot& s) {
    for (Node* n = s.head; n != nullptr;) {
      Node* next = n->next;
      delete n;
      n = next;
    }
  };
  for (auto& level : slots_) {
    for (Slot& s : level) drop(s);
  }
  drop(overflow_);
}

void TimerWheel::LinkInto(Slot& s, Node* n) {
  n->next = nullptr;
  n->prev = s.tail;
  if (s.tail != nullptr) {
    s.tail->next = n;
  } else {
    s.head = n;
  }
  s.tail = n;
}

void TimerWheel::Unlink(Slot& s, Node* n) {
  if (n->prev != nullptr) {
    n->prev->next = n->next;
  } else {
    s.head = n->next;
  }
  if (n->next != nullptr) {
    n->next->prev = n->prev;
  } else {
    s.tail = n->prev;
  }
  n->next = n->prev = nullptr;
}

void TimerWheel::SetBit(int level, int slot, bool on) {
  uint64_t mask = uint64_t{1} << (slot & 63);
  if (on) {
    bits_[level][slot >> 6] |= mask;
  } else {
    bits_[level][slot >> 6] &= ~mask;
  }
}

int TimerWheel::FirstOccupied(int level, int from) const {
  for (int w = from >> 6; w < kSlots / 64; w++) {
    uint64_t word = bits_[level][w];
    if (w == from >> 6) word &= ~uint64_t{0} << (from & 63);
    if (word != 0) return w * 64 + __builtin_ctzll(word);
  }
  return -1;
}

// Level L holds deadlines that agree with now_ above byte L and differ in byte L; level 0 also
// holds what is due.
void TimerWheel::Place(Node* n) {
  int64_t d = n->deadline < now_ ? now_ : n->deadline;
  uint64_t diff = static_cast<uint64_t>(d) ^ static_cast<uint64_t>(now_);
  int level = 0;
  while (level < kLevels && (diff >> (8 * (level + 1))) != 0) level++;
  if (level == kLevels) {
    n->level = kLevels;
    LinkInto(overflow_, n);
    return;
  }
  int slot = static_cast<int>((static_cast<uint64_t>(d) >> (8 * level)) & 0xff);
  n->level = static_cast<int16_t>(level);
  n->slot = static_cast<uint8_t>(slot);
  LinkInto(slots_[level][slot], n);
  SetBit(level, slot, true);
}

void TimerWheel::Add(Node* n) {
  Place(n);
  size_++;
}

void TimerWheel::Remove(Node* n) {
  if (n->level < 0) return;
  if (n->level == kLevels) {
    Unlink(overflow_, n);
  } else {
    Slot& s = slots_[n->level][n->slot];
    Unlink(s, n);
    if (s.head == nullptr) SetBit(n->level, n->slot, false);
  }
  n->level = -1;
  size_--;
}

int64_t TimerWheel::NextDeadline() const {
  for (int level = 0; level < kLevels; level++) {
    int cur = static_cast<int>((static_cast<uint64_t>(now_) >> (8 * level)) & 0xff);
    int from = level == 0 ? cur : cur + 1;
    int s = from < kSlots ? FirstOccupied(level, from) : -1;
    if (s < 0) continue;
    // Lower levels are empty, so the earliest deadline in this slot is the earliest of all.
    int64_t best = INT64_MAX;
    for (Node* n = slots_[level][s].head; n != nullptr; n = n->next) {
      best = std::min(best, std::max(n->deadline, now_));
    }
    return best;
  }
  int64_t best = INT64_MAX;
  for (Node* n = overflow_.head; n != nullptr; n = n->next) best = std::min(best, n->deadline);
  return best;
}

void TimerWheel::Advance(int64_t to, std::vector<Node*>* expired) {
  if (to < now_) return;
  for (;;) {
    // Earliest event: a level-0 slot (a deadline) or the start of a higher slot (a cascade).
    int64_t event = INT64_MAX;
    int event_level = -1;
    int event_slot = -1;
    for (int level = 0; level < kLevels && event_level < 0; level++) {
      int cur = static_cast<int>((static_cast<uint64_t>(now_) >> (8 * level)) & 0xff);
      int from = level == 0 ? cur : cur + 1;
      int s = from < kSlots ? FirstOccupied(level, from) : -1;
      if (s < 0) continue;
      uint64_t high_mask = ~((uint64_t{1} << (8 * (level + 1))) - 1);
      event = static_cast<int64_t>((static_cast<uint64_t>(now_) & high_mask) |
                                   (static_cast<uint64_t>(s) << (8 * level)));
      event_level = level;
      event_slot = s;
    }
    if (event_level < 0) {
      // Only the overflow list may remain: re-place what has come within range.
      int64_t next = NextDeadline();
      if (next == INT64_MAX || next > to) {
        // Moving into another 2^32 window: overflow timers that share it with now_ belong on the
        // wheel, or a timer added there later would overtake them.
        bool new_window = ((static_cast<uint64_t>(to) ^ static_cast<uint64_t>(now_)) >> 32) != 0;
        now_ = to;
        if (!new_window) return;
      } else {
        // Jump to the 2^32 window holding `next` and redistribute.
        now_ = std::max(now_, next & ~int64_t{0xffffffff});
      }
      Node* n = overflow_.head;
      overflow_ = Slot{};
      while (n != nullptr) {
        Node* after = n->next;
        Place(n);
        n = after;
      }
      continue;
    }
    if (event > to) {
      now_ = to;
      return;
    }
    now_ = event;
    Slot s = slots_[event_level][event_slot];
    slots_[event_level][event_slot] = Slot{};
    SetBit(event_level, event_slot, false);
    if (event_level == 0) {
      size_t first = expired->size();
      for (Node* n = s.head; n != nullptr;) {
        Node* after = n->next;
        n->next = n->prev = nullptr;
        n->level = -1;
        size_--;
        expired->push_back(n);
        n = after;
      }
      std::sort(expired->begin() + static_cast<std::ptrdiff_t>(first), expired->end(),
                [](const Node* a, const Node* b) {
                  return a->deadline != b->deadline ? a->deadline < b->deadline : a->seq < b->seq;
                });
    } else {
      for (Node* n = s.head; n != nullptr;) {
        Node* after = n->next;
        Place(n);
        n = after;
      }
    }
  }
}

}  // namespace ustreams
