#include "streams/perimeter.h"

#include "streams/debug.h"
#include "streams/queue_pair.h"
#include "streams/scheduler.h"
#include "streams/stream.h"

namespace ustreams::internal {

bool SyncQ::TryEnter() {
  std::lock_guard<std::mutex> l(mu_);
  if (busy_) return false;
  busy_ = true;
  return true;
}

void SyncQ::Put(queue_t* q, mblk_t* mp) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (busy_) {
      pending_.push_back(Entry{q, mp, nullptr});
      return;
    }
    busy_ = true;
  }
  Entry e{q, mp, nullptr};
  Execute(e);
  Drain();
}

void SyncQ::Call(queue_t* q, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (busy_) {
      pending_.push_back(Entry{q, nullptr, std::move(fn)});
      return;
    }
    busy_ = true;
  }
  Entry e{q, nullptr, std::move(fn)};
  Execute(e);
  Drain();
}

SyncQ::~SyncQ() {
  for (Entry& e : pending_) {
    if (e.mp != nullptr) freemsg(e.mp);
  }
}

void SyncQ::EnterBlocking(Scheduler* s) {
  std::unique_lock<std::mutex> l(mu_);
  if (s != nullptr && s->deterministic()) {
    while (busy_) {
      l.unlock();
      // Not inside STREAMS_RULE: that compiles away under NDEBUG, and so would the progress.
      [[maybe_unused]] bool ran = s->RunOne();
      STREAMS_RULE(ran, "a perimeter is entered only when its holder can leave",
                   "deterministic scheduler idle while the perimeter is held (entered from "
                   "inside itself?)");
      l.lock();
    }
  } else {
    free_cv_.wait(l, [&] { return !busy_; });
  }
  busy_ = true;
}

void SyncQ::Purge(QueuePair* pair, Scheduler* s) {
  EnterBlocking(s);
  std::deque<Entry> mine;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->q->q_pair == pair) {
        mine.push_back(std::move(*it));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Entry& e : mine) {
    if (e.mp == nullptr) continue;
    if (e.q->q_next != nullptr) {
      putnext(e.q, e.mp);
    } else {
      freemsg(e.mp);
    }
  }
  Leave();
}

void SyncQ::Leave() { Drain(); }

void SyncQ::Execute(Entry& e) {
  StreamClaim claim(e.q->q_stream);
  if (e.mp != nullptr) {
    // A message deferred for a queue whose procedures were turned off since moves on past it,
    // as if the queue were not there any more.
    if (!e.q->q_pair->procs_on) {
      if (e.q->q_next != nullptr) {
        putnext(e.q, e.mp);
      } else {
        freemsg(e.mp);
      }
      return;
    }
    e.q->q_qinfo->qi_putp(e.q, e.mp);
  } else {
    e.fn();
  }
}

void SyncQ::Drain() {
  int budget = kDrainBudget;
  std::unique_lock<std::mutex> l(mu_);
  while (!pending_.empty()) {
    if (budget-- == 0) {
      // Keep the perimeter and let the scheduler continue, so later arrivals stay behind.
      Scheduler* s = pending_.front().q->q_stream != nullptr
                         ? pending_.front().q->q_stream->scheduler()
                         : nullptr;
      if (s != nullptr) {
        l.unlock();
        s->Defer([this] { Drain(); });
        return;
      }
    }
    Entry e = std::move(pending_.front());
    pending_.pop_front();
    l.unlock();
    Execute(e);
    l.lock();
  }
  busy_ = false;
  // Notify before unlocking: once unlocked, a closer may enter, finish and free this SyncQ.
  free_cv_.notify_all();
}

static void ServiceBody(queue_t* q) {
  {
    std::lock_guard<Mutex> l(q->q_lock);
    // Another thread is running it: it re-enqueues the queue when done (QENAB stays set).
    if (q->q_flag & QINSERVICE) return;
    if (!q->q_pair->procs_on || q->q_qinfo->qi_srvp == nullptr) {
      q->q_flag &= ~QENAB;
      return;
    }
    q->q_flag &= ~QENAB;
    q->q_flag |= QINSERVICE;
  }
  q->q_qinfo->qi_srvp(q);
  bool again;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    q->q_flag &= ~QINSERVICE;
    again = (q->q_flag & QENAB) != 0;
  }
  q->q_pair->wait_gen.fetch_add(1);
  if (q->q_stream != nullptr) {
    q->q_stream->NotifyWaiters();
    if (again) q->q_stream->scheduler()->EnqueueService(q);
  }
}

void RunServiceProcedure(queue_t* q) {
  StreamClaim claim(q->q_stream);
  if (q->q_syncq != nullptr) {
    q->q_syncq->Call(q, [q] { ServiceBody(q); });
  } else {
    ServiceBody(q);
  }
}

void CallPut(queue_t* q, mblk_t* mp) {
  if (q->q_syncq != nullptr) {
    q->q_syncq->Put(q, mp);
  } else {
    q->q_qinfo->qi_putp(q, mp);
  }
}

void RunCallback(queue_t* q, std::function<void()> fn) {
  StreamClaim claim(q->q_stream);
  auto body = [q, fn = std::move(fn)] {
    fn();
    q->q_pair->wait_gen.fetch_add(1);
    if (q->q_stream != nullptr) q->q_stream->NotifyWaiters();
  };
  if (q->q_syncq != nullptr) {
    q->q_syncq->Call(q, std::move(body));
  } else {
    body();
  }
}

}  // namespace ustreams::internal
