#include "streams/stream.h"

#include <algorithm>
#include <thread>

#include "streams/alloc_internal.h"
#include "streams/debug.h"
#include "streams/perimeter.h"
#include "streams/queue_pair.h"
#include "streams/scheduler.h"

namespace ustreams {

using internal::QueuePair;

namespace {
// Streams this thread holds claims on (claims nest; a holder never waits for plumbing).
thread_local std::vector<Stream*> t_claims;

void InitQueue(queue_t* q, qinit* qi, QueuePair* pair, Stream* s, void* ptr, bool read) {
  q->q_qinfo = qi;
  q->q_first = q->q_last = nullptr;
  q->q_next = nullptr;
  q->q_link = nullptr;
  q->q_ptr = ptr;
  q->q_count = 0;
  // QWANTR from the start, as illumos setq() does: the first putq() of a normal message then
  // enables the service procedure (a queue nobody has read yet is one a reader waits on).
  q->q_flag = QUSE | QWANTR | (read ? QREADR : 0);
  const module_info* mi = qi->qi_minfo;
  q->q_minpsz = mi->mi_minpsz;
  q->q_maxpsz = mi->mi_maxpsz;
  q->q_hiwat = mi->mi_hiwat;
  q->q_lowat = mi->mi_lowat;
  q->q_bandp = nullptr;
  q->q_nband = 0;
  q->q_mblkcnt = 0;
  q->q_stream = s;
  q->q_pair = pair;
}

void DrainQueue(queue_t* q) {
  // Called when nothing else can reach q: free its messages and band structures.
  mblk_t* mp = q->q_first;
  q->q_first = q->q_last = nullptr;
  while (mp != nullptr) {
    mblk_t* next = mp->b_next;
    mp->b_next = mp->b_prev = nullptr;
    mp->b_queue = nullptr;
    freemsg(mp);
    mp = next;
  }
  qband* qb = q->q_bandp;
  while (qb != nullptr) {
    qband* next = qb->qb_next;
    delete qb;
    qb = next;
  }
  q->q_bandp = nullptr;
  q->q_nband = 0;
}
}  // namespace

Stream::Stream(Scheduler* scheduler, const streamtab* head, void* head_ptr)
    : scheduler_(scheduler) {
  QueuePair* hp = NewPair(head, nullptr, head_ptr);
  hp->procs_on = true;
  pairs_.push_back(hp);
}

Stream::~Stream() {
  cred_t cr{0, 0};
  while (module_count() > 0) Pop(0, &cr);
  if (has_driver_) {
    QueuePair* drv = pairs_.back();
    ClosePair(drv, 0, &cr);
    {
      std::lock_guard<std::mutex> l(pairs_mu_);
      pairs_.pop_back();
    }
    FreePair(drv);
  }
  QueuePair* hp = pairs_.front();
  pairs_.clear();
  FreePair(hp);
}

QueuePair* Stream::NewPair(const streamtab* tab, const fmodsw* sw, void* ptr) {
  auto* pair = new QueuePair;
  InitQueue(&pair->rq, tab->st_rdinit, pair, this, ptr, true);
  InitQueue(&pair->wq, tab->st_wrinit, pair, this, ptr, false);
  pair->mod = sw;
  pair->flags = sw != nullptr ? sw->flags : D_MP;
  if (sw != nullptr) {
    uint32_t mt = 0;
    if (pair->flags & D_MP) {
      mt = QMTSAFE;
    } else if (pair->flags & D_MTQPAIR) {
      pair->own_syncq[0] = new internal::SyncQ;
      pair->rq.q_syncq = pair->wq.q_syncq = pair->own_syncq[0];
      mt = QPAIR;
    } else if (pair->flags & D_MTPERQ) {
      pair->own_syncq[0] = new internal::SyncQ;
      pair->own_syncq[1] = new internal::SyncQ;
      pair->rq.q_syncq = pair->own_syncq[0];
      pair->wq.q_syncq = pair->own_syncq[1];
      mt = QPERQ;
    } else {
      pair->rq.q_syncq = pair->wq.q_syncq = sw->permod.get();
      mt = QPERMOD;
    }
    pair->rq.q_flag |= mt;
    pair->wq.q_flag |= mt;
    if (sw->is_driver) {
      pair->rq.q_flag |= QISDRV;
      pair->wq.q_flag |= QISDRV;
    }
  } else {
    pair->rq.q_flag |= QMTSAFE;
    pair->wq.q_flag |= QMTSAFE;
  }
  return pair;
}

void Stream::FreePair(QueuePair* pair) {
  // Cancel what the module left pending, so nothing calls into freed queues.
  std::vector<uint64_t> timeouts, bufcalls;
  {
    std::lock_guard<std::mutex> l(pair->cb_mu);
    timeouts.swap(pair->timeouts);
    bufcalls.swap(pair->bufcalls);
  }
  for (uint64_t id : timeouts) scheduler_->CancelTimer(id);
  for (uint64_t id : bufcalls) internal::BufcallCancel(id);
  if (internal::SyncQ* sq = pair->rq.q_syncq) sq->Purge(pair, scheduler_);
  if (pair->wq.q_syncq != nullptr && pair->wq.q_syncq != pair->rq.q_syncq) {
    pair->wq.q_syncq->Purge(pair, scheduler_);
  }
  scheduler_->ForgetQueue(&pair->rq);
  scheduler_->ForgetQueue(&pair->wq);
  DrainQueue(&pair->rq);
  DrainQueue(&pair->wq);
  delete pair->own_syncq[0];
  delete pair->own_syncq[1];
  delete pair;
}

queue_t* Stream::head_rq() const { return &pairs_.front()->rq; }
queue_t* Stream::head_wq() const { return &pairs_.front()->wq; }
queue_t* Stream::driver_wq() const {
  std::lock_guard<std::mutex> l(pairs_mu_);
  return has_driver_ ? &pairs_.back()->wq : nullptr;
}

int Stream::module_count() const {
  std::lock_guard<std::mutex> l(pairs_mu_);
  return static_cast<int>(pairs_.size()) - 1 - (has_driver_ ? 1 : 0);
}

std::vector<std::string> Stream::ModuleNames() const {
  std::lock_guard<std::mutex> l(pairs_mu_);
  std::vector<std::string> names;
  for (size_t i = 1; i + (has_driver_ ? 1 : 0) < pairs_.size(); i++) {
    names.push_back(pairs_[i]->mod->name);
  }
  return names;
}

std::vector<queue_t*> Stream::WriteQueues() const {
  std::lock_guard<std::mutex> l(pairs_mu_);
  std::vector<queue_t*> qs;
  for (QueuePair* p : pairs_) {
    if (p->procs_on) qs.push_back(&p->wq);
  }
  return qs;
}

// ---- claims ----

void Stream::Claim() {
  if (std::find(t_claims.begin(), t_claims.end(), this) != t_claims.end()) {
    claims_.fetch_add(1);
    t_claims.push_back(this);
    return;
  }
  for (;;) {
    claims_.fetch_add(1);
    if (!plumbing_.load()) break;
    // A plumbing change is under way: step back and wait for it.
    if (claims_.fetch_sub(1) == 1) claim_cv_.notify_all();
    std::unique_lock<std::mutex> l(claim_mu_);
    claim_cv_.wait(l, [&] { return !plumbing_.load(); });
  }
  t_claims.push_back(this);
}

void Stream::Unclaim() {
  auto it = std::find(t_claims.rbegin(), t_claims.rend(), this);
  STREAMS_RULE(it != t_claims.rend(), "a stream claim is released by the thread that took it",
               "Unclaim() without Claim()");
  t_claims.erase(std::next(it).base());
  if (claims_.fetch_sub(1) == 1 && plumbing_.load()) {
    std::lock_guard<std::mutex> l(claim_mu_);
    claim_cv_.notify_all();
  }
}

void Stream::BeginPlumbing() {
  STREAMS_RULE(std::find(t_claims.begin(), t_claims.end(), this) == t_claims.end(),
               "plumbing changes are made from outside the stream",
               "qprocson/qprocsoff/push/pop called from a put or service procedure");
  plumb_mu_.lock();
  plumbing_.store(true);
  std::unique_lock<std::mutex> l(claim_mu_);
  claim_cv_.wait(l, [&] { return claims_.load() == 0; });
}

void Stream::EndPlumbing() {
  {
    std::lock_guard<std::mutex> l(claim_mu_);
    plumbing_.store(false);
  }
  claim_cv_.notify_all();
  plumb_mu_.unlock();
}

void Stream::RelinkLocked() {
  std::vector<QueuePair*> on;
  for (QueuePair* p : pairs_) {
    if (p->procs_on) on.push_back(p);
  }
  // Write side runs down the list, read side up.
  for (size_t i = 0; i < on.size(); i++) {
    on[i]->wq.q_next = i + 1 < on.size() ? &on[i + 1]->wq : nullptr;
    on[i]->rq.q_next = i > 0 ? &on[i - 1]->rq : nullptr;
    on[i]->wq.q_flag &= ~QEND;
    on[i]->rq.q_flag &= ~QEND;
  }
  on.back()->wq.q_flag |= QEND;
  on.front()->rq.q_flag |= QEND;
  // q_nfsrv: nearest at or ahead with a service procedure, else the last queue.
  // q_nbsrv: nearest behind with a service procedure.
  auto fill = [](std::vector<queue_t*> chain) {
    queue_t* ahead = chain.back();
    for (size_t i = chain.size(); i-- > 0;) {
      if (chain[i]->q_qinfo->qi_srvp != nullptr) ahead = chain[i];
      chain[i]->q_nfsrv = ahead;
    }
    queue_t* behind = nullptr;
    for (queue_t* q : chain) {
      q->q_nbsrv = behind;
      if (q->q_qinfo->qi_srvp != nullptr) behind = q;
    }
  };
  std::vector<queue_t*> down, up;
  for (QueuePair* p : on) down.push_back(&p->wq);
  for (size_t i = on.size(); i-- > 0;) up.push_back(&on[i]->rq);
  fill(down);
  fill(up);
  // Pairs that are off keep pointing where they would forward to, so their own open and close
  // can still putnext/qreply, and stragglers move on past them.
  for (size_t i = 0; i < pairs_.size(); i++) {
    QueuePair* p = pairs_[i];
    if (p->procs_on) continue;
    QueuePair* below = nullptr;
    for (size_t j = i + 1; j < pairs_.size() && below == nullptr; j++) {
      if (pairs_[j]->procs_on) below = pairs_[j];
    }
    QueuePair* above = nullptr;
    for (size_t j = i; j-- > 0 && above == nullptr;) {
      if (pairs_[j]->procs_on) above = pairs_[j];
    }
    p->wq.q_next = below != nullptr ? &below->wq : nullptr;
    p->rq.q_next = above != nullptr ? &above->rq : nullptr;
    p->wq.q_nfsrv = below != nullptr ? below->wq.q_nfsrv : &p->wq;
    p->rq.q_nfsrv = above != nullptr ? above->rq.q_nfsrv : &p->rq;
  }
}

void Stream::ProcsOn(QueuePair* pair) {
  if (pair->procs_on) return;
  PlumbingScope plumb(this);
  std::lock_guard<std::mutex> l(pairs_mu_);
  pair->procs_on = true;
  RelinkLocked();
}

void Stream::ProcsOff(QueuePair* pair) {
  if (!pair->procs_on) return;
  {
    PlumbingScope plumb(this);
    std::lock_guard<std::mutex> l(pairs_mu_);
    pair->procs_on = false;
    RelinkLocked();
  }
  // No new service runs start (ServiceBody checks procs_on); wait out one already running.
  for (queue_t* q : {&pair->rq, &pair->wq}) {
    {
      std::lock_guard<std::mutex> l(q->q_lock);
      q->q_flag |= QWCLOSE;
    }
    scheduler_->ForgetQueue(q);
  }
}

// ---- open, push, pop ----

int Stream::OpenPair(QueuePair* pair, dev_t* devp, int oflag, int sflag, cred_t* crp) {
  qinit* qi = pair->rq.q_qinfo;
  int err = 0;
  if (qi->qi_qopen != nullptr) {
    internal::SyncQ* sq = pair->rq.q_syncq;
    if (sq != nullptr) sq->EnterBlocking(scheduler_);
    err = qi->qi_qopen(&pair->rq, devp, oflag, sflag, crp);
    if (sq != nullptr) sq->Leave();
  }
  if (err == 0 && !pair->procs_on) ProcsOn(pair);
  if (err != 0 && pair->procs_on) ProcsOff(pair);
  return err;
}

void Stream::ClosePair(QueuePair* pair, int oflag, cred_t* crp) {
  qinit* qi = pair->rq.q_qinfo;
  if (qi->qi_qclose != nullptr) {
    internal::SyncQ* sq = pair->rq.q_syncq;
    if (sq != nullptr) sq->EnterBlocking(scheduler_);
    qi->qi_qclose(&pair->rq, oflag, crp);
    if (sq != nullptr) sq->Leave();
  }
  if (pair->procs_on) ProcsOff(pair);
}

int Stream::OpenDriver(const fmodsw* driver, dev_t* devp, int oflag, int sflag, cred_t* crp) {
  if (driver == nullptr || !driver->is_driver) return ENXIO;
  {
    std::lock_guard<std::mutex> l(pairs_mu_);
    if (has_driver_) return EBUSY;
  }
  QueuePair* pair = NewPair(driver->str, driver, nullptr);
  {
    PlumbingScope plumb(this);
    std::lock_guard<std::mutex> l2(pairs_mu_);
    pairs_.push_back(pair);
    has_driver_ = true;
    RelinkLocked();
  }
  int err = OpenPair(pair, devp, oflag, sflag, crp);
  if (err != 0) {
    {
      PlumbingScope plumb(this);
      std::lock_guard<std::mutex> l2(pairs_mu_);
      pairs_.pop_back();
      has_driver_ = false;
      RelinkLocked();
    }
    FreePair(pair);
  }
  return err;
}

int Stream::Push(const fmodsw* module, int oflag, cred_t* crp) {
  if (module == nullptr || module->is_driver) return EINVAL;
  QueuePair* pair;
  {
    std::lock_guard<std::mutex> l(pairs_mu_);
    if (!has_driver_) return EINVAL;
  }
  pair = NewPair(module->str, module, nullptr);
  {
    PlumbingScope plumb(this);
    std::lock_guard<std::mutex> l2(pairs_mu_);
    pairs_.insert(pairs_.begin() + 1, pair);
    RelinkLocked();  // only the new pair's own pointers change: it is not linked in yet
  }
  int err = OpenPair(pair, nullptr, oflag, MODOPEN, crp);
  if (err != 0) {
    {
      PlumbingScope plumb(this);
      std::lock_guard<std::mutex> l2(pairs_mu_);
      pairs_.erase(pairs_.begin() + 1);
      RelinkLocked();
    }
    FreePair(pair);
  }
  return err;
}

int Stream::Pop(int oflag, cred_t* crp) {
  QueuePair* pair;
  {
    std::lock_guard<std::mutex> l(pairs_mu_);
    if (static_cast<int>(pairs_.size()) - 1 - (has_driver_ ? 1 : 0) <= 0) return EINVAL;
    pair = pairs_[1];
  }
  ClosePair(pair, oflag, crp);
  {
    PlumbingScope plumb(this);
    std::lock_guard<std::mutex> l2(pairs_mu_);
    pairs_.erase(pairs_.begin() + 1);
    RelinkLocked();
  }
  FreePair(pair);
  return 0;
}

// ---- qwait support ----

void Stream::NotifyWaiters() {
  std::lock_guard<std::mutex> l(wait_mu_);
  wait_cv_.notify_all();
}

void Stream::WaitForProgress(QueuePair* pair, uint64_t seen) {
  if (scheduler_->deterministic()) {
    while (pair->wait_gen.load() == seen) {
      if (scheduler_->RunOne()) continue;
      absl::Time next = scheduler_->NextDeadline();
      STREAMS_RULE(next != absl::InfiniteFuture(), "qwait() needs something that can wake it",
                   "deterministic scheduler is idle with no timer pending");
      scheduler_->AdvanceTo(next);
    }
    return;
  }
  std::unique_lock<std::mutex> l(wait_mu_);
  wait_cv_.wait(l, [&] { return pair->wait_gen.load() != seen; });
}

}  // namespace ustreams
