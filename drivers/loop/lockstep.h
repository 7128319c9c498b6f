// Steps the deterministic schedulers of several domains together, as one virtual clock: what a
// test of two or three stacks over loop links uses instead of each scheduler's RunUntilIdle() and
// AdvanceBy(). A frame one stack sends at virtual time t with a delay d is put into the other
// stack at t + d of the other's clock; stepping the clocks apart would deliver it at the wrong
// time, or never.
//
//   Lockstep world({&a.domain(), &b.domain()});
//   ... us_putmsg on a's stream ...
//   world.RunUntilIdle();                  // everything runnable now, on every scheduler
//   world.AdvanceBy(absl::Milliseconds(5));  // timers of all of them, in deadline order
//
// Every scheduler must be deterministic. The constructor brings the clocks to the latest of them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "absl/time/time.h"
#include "streams/domain.h"
#include "streams/scheduler.h"

namespace ustreams {

class Lockstep {
 public:
  explicit Lockstep(std::vector<Scheduler*> schedulers);
  Lockstep(std::initializer_list<Domain*> domains);

  // Runs service procedures, deferred work and due timers on every scheduler until none has
  // anything runnable at the current time. False if it gave up after max_steps (a livelock).
  bool RunUntilIdle(uint64_t max_steps = 10'000'000);
  // Moves all clocks to t, stopping at every timer deadline on the way (the earliest across all
  // schedulers first) and running everything runnable there.
  void AdvanceTo(absl::Time t);
  void AdvanceBy(absl::Duration d) { AdvanceTo(Now() + d); }
  // Advances to each next deadline until no timer is pending anywhere, or until `limit` of
  // virtual time has passed. True if everything went quiet.
  bool RunUntilQuiet(absl::Duration limit = absl::Hours(1));

  absl::Time Now() const;
  // The earliest timer deadline of any scheduler (InfiniteFuture if none).
  absl::Time NextDeadline() const;

 private:
  std::vector<Scheduler*> s_;
};

}  // namespace ustreams
