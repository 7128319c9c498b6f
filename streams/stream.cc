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
  q->q_group = s->claim_group();
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

Stream::Stream(Scheduler* scheduler, const streamtab* head, void* head_ptr, Stream* pipe_peer)
    : scheduler_(scheduler),
      group_(pipe_peer != nullptr ? pipe_peer->group_ : internal::ClaimGroup::Make()),
      head_tab_(head),
      head_ptr_(head_ptr) {
  QueuePair* hp = NewPair(head, nullptr, head_ptr);
  hp->procs_on = true;
  head_pair_ = hp;
  head_rq_ = &hp->rq;
  head_wq_ = &hp->wq;
  pairs_.push_back(hp);
  Relink();
}

Stream::~Stream() {
  cred_t cr{0, 0};
  while (module_count() > 0) Pop(0, &cr);
  if (peer_ != nullptr) {
    // Untwist: the other end's write side now ends at its own bottom. Both ends may close at
    // once, on two threads: the one whose plumbing change comes first untwists both, and the
    // other finds its peer gone (and perhaps freed) by then.
    PlumbingScope plumb(this);
    if (Stream* peer = peer_) {
      {
        std::scoped_lock l(pairs_mu_, peer->pairs_mu_);
        peer_ = nullptr;
        peer->peer_ = nullptr;
      }
      peer->Relink();
      Relink();
    }
  }
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
  SetPairMt(pair, sw);
  if (sw != nullptr && sw->is_driver) {
    pair->rq.q_flag |= QISDRV;
    pair->wq.q_flag |= QISDRV;
  }
  return pair;
}

// Gives pair the perimeter of sw's MT level (none for the head: sw == nullptr).
void Stream::SetPairMt(QueuePair* pair, const fmodsw* sw) {
  constexpr uint32_t kMtFlags = QMTSAFE | QPAIR | QPERQ | QPERMOD;
  pair->rq.q_flag &= ~kMtFlags;
  pair->wq.q_flag &= ~kMtFlags;
  delete pair->own_syncq[0];
  delete pair->own_syncq[1];
  pair->own_syncq[0] = pair->own_syncq[1] = nullptr;
  pair->rq.q_syncq = pair->wq.q_syncq = nullptr;
  pair->flags = sw != nullptr ? sw->flags : D_MP;
  uint32_t mt = QMTSAFE;
  if (sw != nullptr && !(pair->flags & D_MP)) {
    if (pair->flags & D_MTQPAIR) {
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
  }
  pair->rq.q_flag |= mt;
  pair->wq.q_flag |= mt;
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

queue_t* Stream::driver_wq() const {
  std::lock_guard<std::mutex> l(pairs_mu_);
  return has_driver_ ? &pairs_.back()->wq : nullptr;
}

const fmodsw* Stream::driver() const {
  std::lock_guard<std::mutex> l(pairs_mu_);
  return has_driver_ ? pairs_.back()->mod : nullptr;
}

std::string Stream::DriverName() const {
  const fmodsw* d = driver();
  return d != nullptr ? d->name : std::string();
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

// ---- linking the chains ----

namespace {
// Links one chain of queues, in the direction messages travel through it. Queues whose pair is
// off keep pointing at the next queue that is on, so their own open and close can still
// putnext/qreply, and stragglers move on past them.
void LinkChain(const std::vector<queue_t*>& chain) {
  auto on = [](queue_t* q) { return q->q_pair->procs_on; };
  queue_t* last_on = nullptr;
  for (queue_t* q : chain) {
    if (on(q)) last_on = q;
  }
  // q_nfsrv: nearest at or ahead with a service procedure, else the last queue.
  queue_t* next_on = nullptr;
  queue_t* ahead = last_on;
  for (size_t i = chain.size(); i-- > 0;) {
    queue_t* q = chain[i];
    q->q_next = next_on;
    if (on(q)) {
      {
        // q_flag is q_lock's: a head taking its lock without a claim (mu_'s hook) may be
        // queueing on this very queue.
        std::lock_guard<Mutex> l(q->q_lock);
        q->q_flag &= ~QEND;
        if (next_on == nullptr) q->q_flag |= QEND;
      }
      if (q->q_qinfo->qi_srvp != nullptr) ahead = q;
      q->q_nfsrv = ahead;
      next_on = q;
    } else {
      q->q_nfsrv = next_on != nullptr ? next_on->q_nfsrv : q;
    }
  }
  // q_nbsrv: nearest behind with a service procedure.
  queue_t* behind = nullptr;
  for (queue_t* q : chain) {
    q->q_nbsrv = behind;
    if (on(q) && q->q_qinfo->qi_srvp != nullptr) behind = q;
  }
}
}  // namespace

void Stream::Relink() {
  Stream* peer = peer_;
  std::unique_lock<std::mutex> mine(pairs_mu_, std::defer_lock);
  std::unique_lock<std::mutex> theirs;
  if (peer != nullptr) {
    theirs = std::unique_lock<std::mutex>(peer->pairs_mu_, std::defer_lock);
    std::lock(mine, theirs);
  } else {
    mine.lock();
  }
  // Each direction: one stream's write side top to bottom, then the other's read side bottom to
  // top (a pipe); without a peer the read side runs bottom to top on its own.
  auto write_then_read = [](const std::vector<QueuePair*>& w, const std::vector<QueuePair*>& r) {
    std::vector<queue_t*> chain;
    for (QueuePair* p : w) chain.push_back(&p->wq);
    for (size_t i = r.size(); i-- > 0;) chain.push_back(&r[i]->rq);
    return chain;
  };
  if (peer != nullptr) {
    LinkChain(write_then_read(pairs_, peer->pairs_));
    LinkChain(write_then_read(peer->pairs_, pairs_));
  } else {
    LinkChain(write_then_read(pairs_, {}));
    LinkChain(write_then_read({}, pairs_));
  }
}

namespace {
// The bottom of each end of a pipe: a pass-through pair where the two ends meet. An M_FLUSH
// crossing to the other end has its FLUSHR and FLUSHW swapped (what pipemod does when pushed at
// a pipe's midpoint): a flush of this end's write side is a flush of the other end's read side.
int TwistWput(queue_t* q, mblk_t* mp) {
  if (q->q_next == nullptr) {  // the other end has closed
    freemsg(mp);
    return 0;
  }
  if (DB_TYPE(mp) == M_FLUSH && MBLKL(mp) >= 1) {
    if (DB_REF(mp) > 1) {  // the flag byte changes: never in a shared block
      mblk_t* copy = copymsg(mp);
      freemsg(mp);
      if (copy == nullptr) return 0;
      mp = copy;
    }
    unsigned char f = mp->b_rptr[0];
    unsigned char swapped = static_cast<unsigned char>(f & ~FLUSHRW);
    if (f & FLUSHR) swapped |= FLUSHW;
    if (f & FLUSHW) swapped |= FLUSHR;
    mp->b_rptr[0] = swapped;
  }
  // The other end's meeting point (TwistRput) passes everything on as it is: hand the message
  // past it, one put procedure fewer per message crossing the pipe.
  putnext(q->q_next, mp);
  return 0;
}
int TwistRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}
module_info twist_info{0, "pipe", 0, INFPSZ, 0, 0};
}  // namespace
namespace internal {
qinit g_twist_rinit{TwistRput, nullptr, nullptr, nullptr, nullptr, &twist_info, nullptr};
qinit g_twist_winit{TwistWput, nullptr, nullptr, nullptr, nullptr, &twist_info, nullptr};
}  // namespace internal
namespace {
streamtab twist_tab{&internal::g_twist_rinit, &internal::g_twist_winit, nullptr, nullptr};
const fmodsw* TwistSw() {
  static const fmodsw* sw = [] {
    auto* f = new fmodsw;
    f->name = "pipe";
    f->str = &twist_tab;
    f->flags = D_MP;
    f->is_driver = true;
    return f;
  }();
  return sw;
}
}  // namespace

void Stream::Twist(Stream* a, Stream* b) {
  STREAMS_RULE(a->group_ == b->group_ && !a->has_driver() && !b->has_driver(),
               "a pipe joins two driverless streams made for each other",
               "Twist() of streams without a shared claim group, or with drivers");
  // Each end gets the meeting point as its bottom pair.
  dev_t dev = 0;
  cred_t cr{0, 0};
  a->OpenDriver(TwistSw(), &dev, 0, 0, &cr);
  b->OpenDriver(TwistSw(), &dev, 0, 0, &cr);
  PlumbingScope plumb(a);
  {
    std::scoped_lock l(a->pairs_mu_, b->pairs_mu_);
    a->peer_ = b;
    b->peer_ = a;
  }
  a->Relink();
}

bool Stream::has_driver() const {
  std::lock_guard<std::mutex> l(pairs_mu_);
  return has_driver_;
}

void Stream::MuxUnder(const fmodsw* mux) {
  PlumbingScope plumb(this);
  QueuePair* hp = pairs_.front();
  hp->rq.q_qinfo = mux->str->st_muxrinit;
  hp->wq.q_qinfo = mux->str->st_muxwinit;
  hp->rq.q_ptr = hp->wq.q_ptr = nullptr;  // the mux sets them when it takes the link
  head_wake_ = hp->wq.q_wake;               // the head's in-place wake is not the mux's
  hp->wq.q_wake = nullptr;
  SetPairMt(hp, mux);
  Relink();
}

void Stream::Unmux() {
  PlumbingScope plumb(this);
  QueuePair* hp = pairs_.front();
  // Whatever the mux left queued on the lower queues goes with the link.
  scheduler_->ForgetQueue(&hp->rq);
  scheduler_->ForgetQueue(&hp->wq);
  for (queue_t* q : {&hp->rq, &hp->wq}) {
    flushq(q, FLUSHALL);
    std::lock_guard<Mutex> l(q->q_lock);
    q->q_flag &= ~(QENAB | QWANTW | QFULL | QBACK);
    q->q_full_hint.store(false, std::memory_order_relaxed);
  }
  hp->rq.q_qinfo = head_tab_->st_rdinit;
  hp->wq.q_qinfo = head_tab_->st_wrinit;
  hp->rq.q_ptr = hp->wq.q_ptr = head_ptr_;
  hp->wq.q_wake = head_wake_;
  SetPairMt(hp, nullptr);
  Relink();
}

void Stream::ProcsOn(QueuePair* pair) {
  if (pair->procs_on) return;
  PlumbingScope plumb(this);
  {
    std::lock_guard<std::mutex> l(pairs_mu_);
    pair->procs_on = true;
  }
  Relink();
}

void Stream::ProcsOff(QueuePair* pair) {
  if (!pair->procs_on) return;
  {
    PlumbingScope plumb(this);
    {
      std::lock_guard<std::mutex> l(pairs_mu_);
      pair->procs_on = false;
    }
    Relink();
  }
  // No new service runs start (ServiceBody checks procs_on); wait out one already running.
  for (queue_t* q : {&pair->rq, &pair->wq}) {
    {
      std::lock_guard<Mutex> l(q->q_lock);
      q->q_flag |= QWCLOSE;
    }
    scheduler_->ForgetQueue(q);
  }
}

// ---- open, push, pop ----

int Stream::OpenPair(QueuePair* pair, dev_t* devp, int oflag, int sflag, cred_t* crp,
                     bool first_driver_open) {
  qinit* qi = pair->rq.q_qinfo;
  int err = 0;
  if (qi->qi_qopen != nullptr) {
    internal::SyncQ* sq = pair->rq.q_syncq;
    if (sq != nullptr) sq->EnterBlocking(scheduler_);
    err = qi->qi_qopen(&pair->rq, devp, oflag, sflag, crp);
    if (sq != nullptr) sq->Leave();
  }
  if (err == 0 && !pair->procs_on) ProcsOn(pair);
  if (err != 0 && pair->procs_on && !(first_driver_open && joined())) ProcsOff(pair);
  return err;
}

int Stream::Reopen(dev_t* devp, int oflag, cred_t* crp) {
  std::vector<QueuePair*> pairs;
  {
    std::lock_guard<std::mutex> l(pairs_mu_);
    pairs.assign(pairs_.begin() + 1, pairs_.end());
  }
  // Modules from the top, then the driver, as an open of an existing stream does.
  for (QueuePair* pair : pairs) {
    qinit* qi = pair->rq.q_qinfo;
    if (qi->qi_qopen == nullptr) continue;
    bool drv = pair->mod != nullptr && pair->mod->is_driver;
    internal::SyncQ* sq = pair->rq.q_syncq;
    if (sq != nullptr) sq->EnterBlocking(scheduler_);
    int err = qi->qi_qopen(&pair->rq, drv ? devp : nullptr, oflag, drv ? 0 : MODOPEN, crp);
    if (sq != nullptr) sq->Leave();
    if (err != 0) return err;
  }
  return 0;
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
    if (has_driver_ || peer_ != nullptr) return EBUSY;
  }
  QueuePair* pair = NewPair(driver->str, driver, nullptr);
  {
    PlumbingScope plumb(this);
    {
      std::lock_guard<std::mutex> l(pairs_mu_);
      pairs_.push_back(pair);
      has_driver_ = true;
    }
    Relink();
  }
  int err = OpenPair(pair, devp, oflag, sflag, crp, /*first_driver_open=*/true);
  if (err != 0 && !joined()) {
    {
      PlumbingScope plumb(this);
      {
        std::lock_guard<std::mutex> l(pairs_mu_);
        pairs_.pop_back();
        has_driver_ = false;
      }
      Relink();
    }
    FreePair(pair);
  }
  return err;
}

int Stream::Push(const fmodsw* module, int oflag, cred_t* crp) {
  if (module == nullptr || module->is_driver) return EINVAL;
  {
    std::lock_guard<std::mutex> l(pairs_mu_);
    if (!has_driver_ && peer_ == nullptr) return EINVAL;
  }
  QueuePair* pair = NewPair(module->str, module, nullptr);
  {
    PlumbingScope plumb(this);
    {
      std::lock_guard<std::mutex> l(pairs_mu_);
      pairs_.insert(pairs_.begin() + 1, pair);
    }
    Relink();  // only the new pair's own pointers change: it is not linked in yet
  }
  int err = OpenPair(pair, nullptr, oflag, MODOPEN, crp);
  if (err != 0) {
    {
      PlumbingScope plumb(this);
      {
        std::lock_guard<std::mutex> l(pairs_mu_);
        pairs_.erase(pairs_.begin() + 1);
      }
      Relink();
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
    {
      std::lock_guard<std::mutex> l(pairs_mu_);
      pairs_.erase(pairs_.begin() + 1);
    }
    Relink();
  }
  FreePair(pair);
  return 0;
}

// ---- opens ----

void Stream::BeginFirstOpen() {
  std::lock_guard<std::mutex> l(open_mu_);
  open_busy_ = true;
  open_owner_ = std::this_thread::get_id();
  first_open_ = true;
  joined_ = false;
  first_failed_ = false;
}

bool Stream::BeginOpen() {
  std::unique_lock<std::mutex> l(open_mu_);
  open_cv_.wait(l, [this] { return !open_busy_; });
  if (first_failed_) return false;
  open_busy_ = true;
  open_owner_ = std::this_thread::get_id();
  // Only while the first open waits in qwait(): the driver's instance is shared from now on,
  // and the first open failing can no longer take the stream away.
  if (first_open_) joined_ = true;
  return true;
}

void Stream::EndOpen(bool first_failed) {
  {
    std::lock_guard<std::mutex> l(open_mu_);
    if (first_open_ && first_failed && !joined_) first_failed_ = true;
    first_open_ = false;
    open_busy_ = false;
    open_owner_ = std::thread::id();
  }
  open_cv_.notify_all();
}

bool Stream::joined() const {
  std::lock_guard<std::mutex> l(open_mu_);
  return joined_;
}

bool Stream::LeaveOpenForWait() {
  {
    std::lock_guard<std::mutex> l(open_mu_);
    if (!open_busy_ || open_owner_ != std::this_thread::get_id()) return false;
    open_busy_ = false;
    open_owner_ = std::thread::id();
  }
  open_cv_.notify_all();
  return true;
}

void Stream::ReturnFromWait() {
  std::unique_lock<std::mutex> l(open_mu_);
  open_cv_.wait(l, [this] { return !open_busy_; });
  open_busy_ = true;
  open_owner_ = std::this_thread::get_id();
}

void Stream::FileClosed(int fflag, cred_t* crp) {
  QueuePair* drv;
  {
    std::lock_guard<std::mutex> l(pairs_mu_);
    if (!has_driver_) return;
    drv = pairs_.back();
  }
  if (drv->mod == nullptr || drv->mod->file_close == nullptr) return;
  // As a close routine runs: inside the driver's perimeter, taking claims as it sends.
  internal::SyncQ* sq = drv->rq.q_syncq;
  if (sq != nullptr) sq->EnterBlocking(scheduler_);
  drv->mod->file_close(&drv->rq, fflag, crp);
  if (sq != nullptr) sq->Leave();
}

// ---- qwait support ----

int Stream::WaitForProgress(QueuePair* pair, uint64_t seen) {
  Mutex mu;  // the condition is an atomic; WaitPoint wants a lock to release
  std::unique_lock<Mutex> l(mu);
  while (pair->wait_gen.load() == seen) {
    int rc = progress_.Wait(l, scheduler_, absl::InfiniteFuture());
    STREAMS_RULE(rc != EDEADLK, "qwait() needs something that can wake it",
                 "deterministic scheduler is idle with no timer pending");
    if (rc == EINTR) return EINTR;
  }
  return 0;
}

}  // namespace ustreams
