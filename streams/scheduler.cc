#include "streams/scheduler.h"

#include <pthread.h>

#include <algorithm>
#include <new>
#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "streams/alloc_internal.h"
#include "streams/claim.h"
#include "streams/debug.h"
#include "streams/file.h"
#include "streams/perimeter.h"
#include "streams/queue_pair.h"
#include "streams/stream.h"

namespace ustreams {
namespace {

thread_local Scheduler* t_current = nullptr;

class CurrentScope {
 public:
  explicit CurrentScope(Scheduler* s) : saved_(t_current) { t_current = s; }
  ~CurrentScope() { t_current = saved_; }

 private:
  Scheduler* saved_;
};

const auto g_steady_base = std::chrono::steady_clock::now();

// Every threaded scheduler, for fork(): the parent quiesces their workers around the fork, and
// the child, where those threads do not exist, forgets them and starts new ones.
struct Live {
  std::mutex mu;
  std::vector<Scheduler*> all;
};
Live& LiveSchedulers() {
  static Live* l = new Live;  // never destroyed: schedulers may outlive static teardown
  return *l;
}

}  // namespace

void Scheduler::ForkPrepare() {
  LiveSchedulers().mu.lock();
  for (Scheduler* s : LiveSchedulers().all) {
    std::unique_lock<std::mutex> l(s->mu_);
    s->pausing_ = true;  // workers take no new work...
    s->idle_cv_.wait(l, [s] { return s->busy_ == 0; });  // ...and finish what they run
    l.release();  // held across fork(): nothing can change under the child's copy
  }
}

void Scheduler::ForkParent() {
  for (Scheduler* s : LiveSchedulers().all) {
    s->pausing_ = false;
    s->mu_.unlock();
    s->cv_.notify_all();
  }
  LiveSchedulers().mu.unlock();
}

void Scheduler::ForkChild() {
  new (&LiveSchedulers().mu) std::mutex();
  for (Scheduler* s : LiveSchedulers().all) {
    // The workers are gone: forget them without joining (their std::thread objects are left
    // behind, never destroyed), reset the synchronisation, and start afresh if work waits.
    new (&s->mu_) std::mutex();
    new (&s->cv_) std::condition_variable();
    new (&s->idle_cv_) std::condition_variable();
    new (&s->workers_) std::vector<std::thread>();
    s->busy_ = 0;
    s->firing_.clear();
    s->taken_.clear();
    s->pausing_ = false;
    if (!s->run_list_.empty() || !s->deferred_.empty() || s->wheel_.NextDeadline() != INT64_MAX) {
      s->StartWorkersLocked();
    }
  }
}

struct Scheduler::TimerRec {
  absl::flat_hash_map<TimerId, TimerWheel::Node*> by_id;
  std::deque<TimerWheel::Node*> due;  // expired, not yet run (deterministic mode)
};

Scheduler::Scheduler(bool deterministic, int workers, absl::Time start)
    : deterministic_(deterministic),
      workers_wanted_(workers < 1 ? 1 : workers),
      start_(start),
      timers_(new TimerRec),
      virtual_now_(start) {
  if (deterministic_) return;
  static const bool registered = [] {
    // Fork handlers prepare in the reverse order of registration: the global locks first here,
    // so the scheduler's (which waits for its workers, who may take those locks) runs before.
    internal::AllocForkInit();
    internal::ClaimForkInit();
    fdtable::ForkInit();
    pthread_atfork(&Scheduler::ForkPrepare, &Scheduler::ForkParent, &Scheduler::ForkChild);
    return true;
  }();
  (void)registered;
  std::lock_guard<std::mutex> l(LiveSchedulers().mu);
  LiveSchedulers().all.push_back(this);
}

std::unique_ptr<Scheduler> Scheduler::Threaded(int workers) {
  absl::Time start = absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now() -
                                                          g_steady_base);
  return std::unique_ptr<Scheduler>(new Scheduler(false, workers, start));
}

std::unique_ptr<Scheduler> Scheduler::Deterministic(absl::Time start) {
  return std::unique_ptr<Scheduler>(new Scheduler(true, 0, start));
}

Scheduler::~Scheduler() {
  if (!deterministic_) {
    std::lock_guard<std::mutex> l(LiveSchedulers().mu);
    std::erase(LiveSchedulers().all, this);
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  for (TimerWheel::Node* n : timers_->due) delete n;
  delete timers_;
}

Scheduler* Scheduler::Current() { return t_current; }

absl::Time Scheduler::RawNow() const {
  if (deterministic_) return virtual_now_;
  return absl::UnixEpoch() + absl::FromChrono(std::chrono::steady_clock::now() - g_steady_base);
}

absl::Time Scheduler::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return RawNow();
}

int64_t Scheduler::TickOf(absl::Time t) const {
  return absl::ToInt64Milliseconds(t - start_);
}

void Scheduler::StartWorkersLocked() {
  if (deterministic_ || !workers_.empty() || stopping_) return;
  for (int i = 0; i < workers_wanted_; i++) workers_.emplace_back([this] { WorkerLoop(); });
}

void Scheduler::EnqueueService(queue_t* q) {
  {
    std::lock_guard<std::mutex> l(mu_);
    run_list_.push_back(q);
    StartWorkersLocked();
  }
  cv_.notify_one();
}

void Scheduler::Defer(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    deferred_.push_back(std::move(fn));
    StartWorkersLocked();
  }
  cv_.notify_one();
}

Scheduler::TimerId Scheduler::AddTimer(absl::Time when, std::function<void()> fn) {
  auto* n = new TimerWheel::Node;
  n->fn = std::move(fn);
  TimerId id;
  {
    std::lock_guard<std::mutex> l(mu_);
    id = next_timer_id_++;
    // Round up: a timer never fires before its time.
    absl::Duration since = when - start_;
    int64_t tick = absl::ToInt64Milliseconds(since);
    if (since > absl::Milliseconds(tick)) tick++;
    n->deadline = tick;
    n->seq = id;
    n->id = id;
    wheel_.Add(n);
    timers_->by_id[id] = n;
    StartWorkersLocked();
  }
  cv_.notify_all();
  return id;
}

absl::Duration Scheduler::CancelTimer(TimerId id) {
  std::unique_lock<std::mutex> l(mu_);
  auto it = timers_->by_id.find(id);
  if (it != timers_->by_id.end()) {
    TimerWheel::Node* n = it->second;
    timers_->by_id.erase(it);
    absl::Duration left = absl::Milliseconds(n->deadline) - (RawNow() - start_);
    if (n->level >= 0) {
      wheel_.Remove(n);
    } else {
      std::erase(timers_->due, n);
    }
    l.unlock();
    delete n;  // destroys the callback outside the lock
    return left < absl::ZeroDuration() ? absl::ZeroDuration() : left;
  }
  // untimeout(9F): if the callback is running in another thread, wait for it to finish (from
  // inside the callback itself, return at once).
  auto firing_elsewhere = [&] {
    for (const auto& [fid, tid] : firing_) {
      if (fid == id && tid != std::this_thread::get_id()) return true;
    }
    return false;
  };
  idle_cv_.wait(l, [&] { return !firing_elsewhere(); });
  return absl::Milliseconds(-1);
}

size_t Scheduler::pending_timers() {
  std::lock_guard<std::mutex> l(mu_);
  return timers_->by_id.size();
}

void Scheduler::ForgetQueue(queue_t* q) {
  std::unique_lock<std::mutex> l(mu_);
  std::erase(run_list_, q);
  if (deterministic_) return;
  // Wait until no worker has it: taken off the run list (and maybe not yet marked QINSERVICE)
  // or running its service procedure. The caller never runs it itself here.
  idle_cv_.wait(l, [&] {
    if (std::find(taken_.begin(), taken_.end(), q) != taken_.end()) return false;
    std::lock_guard<Mutex> ql(q->q_lock);
    return !(q->q_flag & QINSERVICE);
  });
}

void Scheduler::RunService(queue_t* q) {
  services_run_.fetch_add(1, std::memory_order_relaxed);
  internal::RunServiceProcedure(q);
}

bool Scheduler::TakeWorkLocked(std::function<void()>* out) {
  // Due timers first, then deferred work, then service procedures: fixed, so runs repeat.
  if (timers_->due.empty()) {
    std::vector<TimerWheel::Node*> expired;
    wheel_.Advance(TickOf(RawNow()), &expired);
    for (TimerWheel::Node* n : expired) timers_->due.push_back(n);
  }
  if (!timers_->due.empty()) {
    TimerWheel::Node* n = timers_->due.front();
    timers_->due.pop_front();
    timers_->by_id.erase(n->id);
    TimerId id = n->id;
    firing_.emplace_back(id, std::this_thread::get_id());
    timers_fired_.fetch_add(1, std::memory_order_relaxed);
    *out = [this, n, id] {
      n->fn();
      delete n;
      std::lock_guard<std::mutex> l(mu_);
      std::erase_if(firing_, [id](const auto& f) { return f.first == id; });
      idle_cv_.notify_all();
    };
    return true;
  }
  if (!deferred_.empty()) {
    *out = std::move(deferred_.front());
    deferred_.pop_front();
    return true;
  }
  if (!run_list_.empty()) {
    queue_t* q = run_list_.front();
    run_list_.pop_front();
    taken_.push_back(q);  // until it has run: ForgetQueue waits for it
    *out = [this, q] {
      RunService(q);
      std::lock_guard<std::mutex> l(mu_);
      taken_.erase(std::find(taken_.begin(), taken_.end(), q));
      idle_cv_.notify_all();
    };
    return true;
  }
  return false;
}

void Scheduler::WorkerLoop() {
  CurrentScope scope(this);
  std::unique_lock<std::mutex> l(mu_);
  while (!stopping_) {
    std::function<void()> work;
    if (pausing_) {
      cv_.wait(l);
      continue;
    }
    if (TakeWorkLocked(&work)) {
      busy_++;
      l.unlock();
      work();
      work = nullptr;
      l.lock();
      busy_--;
      idle_cv_.notify_all();
      continue;
    }
    int64_t next = wheel_.NextDeadline();
    if (next == INT64_MAX) {
      cv_.wait(l);
    } else {
      absl::Duration wait = (start_ + absl::Milliseconds(next)) - RawNow();
      if (wait > absl::ZeroDuration()) {
        cv_.wait_for(l, absl::ToChronoNanoseconds(wait));
      }
    }
  }
}

void Scheduler::WaitIdle() {
  std::unique_lock<std::mutex> l(mu_);
  idle_cv_.wait(l, [&] {
    int64_t next = wheel_.NextDeadline();
    bool timer_due = next != INT64_MAX && next <= TickOf(RawNow());
    return run_list_.empty() && deferred_.empty() && timers_->due.empty() && busy_ == 0 &&
           !timer_due;
  });
}

bool Scheduler::RunOne() {
  std::function<void()> work;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!TakeWorkLocked(&work)) return false;
  }
  CurrentScope scope(this);
  work();
  return true;
}

bool Scheduler::RunUntilIdle(uint64_t max_steps) {
  STREAMS_RULE(deterministic_, "RunUntilIdle() is for deterministic schedulers",
               "a threaded scheduler runs by itself; use WaitIdle()");
  for (uint64_t i = 0; i < max_steps; i++) {
    if (!RunOne()) return true;
  }
  return false;
}

absl::Time Scheduler::NextDeadline() {
  std::lock_guard<std::mutex> l(mu_);
  if (!timers_->due.empty()) return RawNow();
  int64_t next = wheel_.NextDeadline();
  if (next == INT64_MAX) return absl::InfiniteFuture();
  return start_ + absl::Milliseconds(next);
}

void Scheduler::AdvanceTo(absl::Time t) {
  STREAMS_RULE(deterministic_, "virtual time is for deterministic schedulers",
               "AdvanceTo() on a threaded scheduler");
  RunUntilIdle();
  for (;;) {
    absl::Time next = NextDeadline();
    if (next > t) break;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (next > virtual_now_) virtual_now_ = next;
    }
    RunUntilIdle();
  }
  {
    std::lock_guard<std::mutex> l(mu_);
    if (t > virtual_now_) virtual_now_ = t;
  }
  RunUntilIdle();
}

void Scheduler::AdvanceBy(absl::Duration d) { AdvanceTo(Now() + d); }

}  // namespace ustreams
