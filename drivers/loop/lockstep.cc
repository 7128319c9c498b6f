#include "drivers/loop/lockstep.h"

#include <algorithm>

#include "streams/debug.h"

namespace ustreams {

Lockstep::Lockstep(std::vector<Scheduler*> schedulers) : s_(std::move(schedulers)) {
  absl::Time latest = absl::InfinitePast();
  for (Scheduler* s : s_) {
    STREAMS_RULE(s->deterministic(), "Lockstep steps deterministic schedulers",
                 "a threaded scheduler runs by itself");
    latest = std::max(latest, s->Now());
  }
  for (Scheduler* s : s_) s->AdvanceTo(latest);
}

Lockstep::Lockstep(std::initializer_list<Domain*> domains)
    : Lockstep([&] {
        std::vector<Scheduler*> v;
        for (Domain* d : domains) v.push_back(&d->scheduler());
        return v;
      }()) {}

bool Lockstep::RunUntilIdle(uint64_t max_steps) {
  uint64_t steps = 0;
  for (;;) {
    bool ran = false;
    for (Scheduler* s : s_) {
      while (s->RunOne()) {
        ran = true;
        if (++steps >= max_steps) return false;
      }
    }
    if (!ran) return true;
  }
}

absl::Time Lockstep::Now() const { return s_.empty() ? absl::UnixEpoch() : s_.front()->Now(); }

absl::Time Lockstep::NextDeadline() const {
  absl::Time next = absl::InfiniteFuture();
  for (Scheduler* s : s_) next = std::min(next, s->NextDeadline());
  return next;
}

void Lockstep::AdvanceTo(absl::Time t) {
  RunUntilIdle();
  for (;;) {
    const absl::Time next = NextDeadline();
    if (next > t) break;
    // Every clock to `next`: each scheduler fires what is due there. Then what one of them sent
    // the others for that same instant.
    for (Scheduler* s : s_) s->AdvanceTo(next);
    RunUntilIdle();
  }
  for (Scheduler* s : s_) s->AdvanceTo(t);
  RunUntilIdle();
}

bool Lockstep::RunUntilQuiet(absl::Duration limit) {
  const absl::Time end = Now() + limit;
  RunUntilIdle();
  for (;;) {
    const absl::Time next = NextDeadline();
    if (next == absl::InfiniteFuture()) return true;
    if (next > end) {
      AdvanceTo(end);
      return false;
    }
    AdvanceTo(next);
  }
}

}  // namespace ustreams
