// Queues and flow control (putq(9F), getq(9F), canput(9F) ...). See queue.h for the theory.
#include "streams/queue.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>

#include "streams/alloc_internal.h"
#include "streams/debug.h"
#include "streams/perimeter.h"
#include "streams/queue_pair.h"
#include "streams/scheduler.h"
#include "streams/stream.h"

namespace ustreams {

namespace {

#define STREAMS_NOT_QUEUED(mp, fn)                                                        \
  STREAMS_RULE((mp)->b_queue == nullptr && (mp)->b_next == nullptr && (mp)->b_prev == nullptr, \
               "a message still on a queue is not put anywhere else",                    \
               fn "() of a message that sits on a queue; getq() or rmvq() it first")

using internal::MsgCounts;

qband* BandOf(queue_t* q, unsigned char band) {
  qband* qb = q->q_bandp;
  for (int i = 1; i < band; i++) qb = qb->qb_next;
  return qb;
}

// Creates band structures up to `band` (they start with the queue's marks). False on no memory.
bool EnsureBands(queue_t* q, unsigned char band) {
  if (band <= q->q_nband) return true;
  qband** link = &q->q_bandp;
  while (*link != nullptr) link = &(*link)->qb_next;
  while (q->q_nband < band) {
    auto* qb = new (std::nothrow) qband{};
    if (qb == nullptr) return false;
    qb->qb_hiwat = q->q_hiwat;
    qb->qb_lowat = q->q_lowat;
    *link = qb;
    link = &qb->qb_next;
    q->q_nband++;
  }
  return true;
}

bool CanEnable(queue_t* q) { return !(q->q_flag & QNOENB); }

// Under q_lock: marks q enabled; returns true if the caller must hand it to the scheduler after
// unlocking.
bool EnableLocked(queue_t* q) {
  if (q->q_qinfo->qi_srvp == nullptr || (q->q_flag & (QENAB | QWCLOSE))) return false;
  q->q_flag |= QENAB;
  return !(q->q_flag & QINSERVICE);  // a running service re-enqueues itself
}

void Schedule(queue_t* q) {
  if (q->q_stream != nullptr) q->q_stream->scheduler()->EnqueueService(q);
}

void SetFullLocked(queue_t* q, bool full) {
  if (full) {
    q->q_flag |= QFULL;
  } else {
    q->q_flag &= ~QFULL;
  }
  q->q_full_hint.store(full, std::memory_order_relaxed);
}

void AddCounts(queue_t* q, qband* qb, const mblk_t* mp) {
  size_t bytes, blocks;
  MsgCounts(mp, &bytes, &blocks);
  if (qb != nullptr) {
    qb->qb_count += bytes;
    qb->qb_mblkcnt += blocks;
    if (qb->qb_count >= qb->qb_hiwat || qb->qb_mblkcnt >= qb->qb_hiwat) qb->qb_flag |= QB_FULL;
  } else {
    q->q_count += bytes;
    q->q_mblkcnt += blocks;
    if (q->q_count >= q->q_hiwat || q->q_mblkcnt >= q->q_hiwat) SetFullLocked(q, true);
  }
}

void SubCounts(queue_t* q, const mblk_t* mp) {
  size_t bytes, blocks;
  MsgCounts(mp, &bytes, &blocks);
  if (mp->b_band == 0) {
    q->q_count -= bytes;
    q->q_mblkcnt -= blocks;
    if ((q->q_flag & QFULL) &&
        (q->q_mblkcnt == 0 || (q->q_count < q->q_hiwat && q->q_mblkcnt < q->q_hiwat))) {
      SetFullLocked(q, false);
    }
  } else {
    qband* qb = BandOf(q, mp->b_band);
    qb->qb_count -= bytes;
    qb->qb_mblkcnt -= blocks;
    if (qb->qb_mblkcnt == 0 || (qb->qb_count < qb->qb_hiwat && qb->qb_mblkcnt < qb->qb_hiwat)) {
      qb->qb_flag &= ~QB_FULL;
    }
  }
}

void LinkBefore(queue_t* q, mblk_t* mp, mblk_t* before) {
  if (before == nullptr) {
    mp->b_next = nullptr;
    mp->b_prev = q->q_last;
    if (q->q_last != nullptr) {
      q->q_last->b_next = mp;
    } else {
      q->q_first = mp;
    }
    q->q_last = mp;
    return;
  }
  mp->b_next = before;
  mp->b_prev = before->b_prev;
  if (before->b_prev != nullptr) {
    before->b_prev->b_next = mp;
  } else {
    q->q_first = mp;
  }
  before->b_prev = mp;
}

// Unlinks mp from q's list, fixing band pointers and counts. Under q_lock.
void UnlinkLocked(queue_t* q, mblk_t* mp) {
  if (mp->b_band != 0) {
    qband* qb = BandOf(q, mp->b_band);
    if (qb->qb_first == mp) {
      qb->qb_first = (mp->b_next != nullptr && mp->b_next->b_band == mp->b_band) ? mp->b_next
                                                                                : nullptr;
    }
    if (qb->qb_last == mp) {
      qb->qb_last = (mp->b_prev != nullptr && mp->b_prev->b_band == mp->b_band) ? mp->b_prev
                                                                               : nullptr;
    }
  }
  if (mp->b_prev != nullptr) {
    mp->b_prev->b_next = mp->b_next;
  } else {
    q->q_first = mp->b_next;
  }
  if (mp->b_next != nullptr) {
    mp->b_next->b_prev = mp->b_prev;
  } else {
    q->q_last = mp->b_prev;
  }
  mp->b_next = mp->b_prev = nullptr;
  mp->b_queue = nullptr;
  SubCounts(q, mp);
}

// Enables the nearest queue behind q with a service procedure, marking QBACK (QB_BACK).
void BackEnable(queue_t* q, unsigned char band) {
  queue_t* nq = q->q_nbsrv;
  if (nq == nullptr) return;
  bool sched;
  {
    std::lock_guard<Mutex> l(nq->q_lock);
    if (band == 0) {
      nq->q_flag |= QBACK;
    } else if (EnsureBands(nq, band)) {
      BandOf(nq, band)->qb_flag |= QB_BACK;
    }
    sched = nq->q_wake == nullptr && EnableLocked(nq);
  }
  if (nq->q_wake != nullptr) {
    nq->q_wake(nq);
  } else if (sched) {
    Schedule(nq);
  }
}

// After a message of `band` left q: true (and the want cleared) if a writer waits and q fell
// below its low mark, so the caller must BackEnable. Under q_lock.
bool WantsBackEnableLocked(queue_t* q, unsigned char band) {
  if (band == 0) {
    if ((q->q_flag & QWANTW) &&
        (q->q_lowat == 0 || (q->q_count < q->q_lowat && q->q_mblkcnt < q->q_lowat))) {
      q->q_flag &= ~QWANTW;
      return true;
    }
  } else if (band <= q->q_nband) {
    qband* qb = BandOf(q, band);
    if ((qb->qb_flag & QB_WANTW) &&
        (qb->qb_lowat == 0 || (qb->qb_count < qb->qb_lowat && qb->qb_mblkcnt < qb->qb_lowat))) {
      qb->qb_flag &= ~QB_WANTW;
      return true;
    }
  }
  return false;
}

void MaybeBackEnable(queue_t* q, unsigned char band) {
  bool back;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    back = WantsBackEnableLocked(q, band);
  }
  if (back) BackEnable(q, band);
}

// Puts mp in priority order (putq's placement). Under q_lock. False if a band could not be made.
bool EnqueueLocked(queue_t* q, mblk_t* mp) {
  bool hipri = queclass_is_hipri(mp);
  qband* qb = nullptr;
  if (hipri) {
    mp->b_band = 0;
  } else if (mp->b_band != 0) {
    if (!EnsureBands(q, mp->b_band)) return false;
    qb = BandOf(q, mp->b_band);
  }
  if (hipri) {
    // After the last high-priority message.
    mblk_t* t = q->q_first;
    while (t != nullptr && queclass_is_hipri(t)) t = t->b_next;
    LinkBefore(q, mp, t);
  } else if (qb == nullptr) {
    LinkBefore(q, mp, nullptr);  // band 0 normal: at the end
  } else if (qb->qb_last != nullptr) {
    LinkBefore(q, mp, qb->qb_last->b_next);
  } else {
    // First of its band: before the first normal message of a lower band.
    mblk_t* t = q->q_first;
    while (t != nullptr && (queclass_is_hipri(t) || t->b_band >= mp->b_band)) t = t->b_next;
    LinkBefore(q, mp, t);
    qb->qb_first = mp;
  }
  if (qb != nullptr) {
    if (qb->qb_first == nullptr) qb->qb_first = mp;
    qb->qb_last = mp;
  }
  mp->b_queue = q;
  AddCounts(q, qb, mp);
  return true;
}

}  // namespace

// ---- navigation ----

int SAMESTR(queue_t* q) {
  return q->q_next != nullptr && IsReadQ(q) == IsReadQ(q->q_next);
}

queue_t* backq(queue_t* q) {
  queue_t* other = OTHERQ(q);
  return other->q_next != nullptr ? OTHERQ(other->q_next) : nullptr;
}

// ---- sending ----

void put(queue_t* q, mblk_t* mp) {
  STREAMS_NOT_QUEUED(mp, "put");
  StreamClaim claim(q->q_stream);
  internal::CallPut(q, mp);
}

namespace {
// putnext() off the end of a stream. A driver must qreply() instead; the write side of a pipe
// end whose other end has closed has no next queue, and what reaches it is dropped.
// Both are kept out of line so putnext's own way stays a leaf that jumps to the next put
// procedure without a frame of its own.
[[gnu::noinline]] void PutOffTheEnd([[maybe_unused]] queue_t* q, mblk_t* mp) {
  STREAMS_RULE(q->q_stream == nullptr || !q->q_stream->has_driver(),
               "putnext() needs a next queue",
               "putnext() from the last queue of a stream; a driver uses qreply()");
  freemsg(mp);
}

// A putnext() from a stream this thread holds no claim on (a multiplexor routing between its
// upper and lower streams, a driver handing over to another stack): claim q's stream first, then
// read q_next, so a module pushed or popped there meanwhile is either wholly in the way or gone.
[[gnu::noinline]] void PutAcross(queue_t* q, mblk_t* mp) {
  StreamClaim claim(q->q_stream);
  queue_t* nq = q->q_next;
  if (nq == nullptr) {
    PutOffTheEnd(q, mp);
    return;
  }
  internal::CallPut(nq, mp);
}
}  // namespace

void putnext(queue_t* q, mblk_t* mp) {
  STREAMS_NOT_QUEUED(mp, "putnext");
  // q and its next queue share a stream (or a pipe's claim group), so q's group is the one to
  // check.
  if (q->q_group != internal::t_claim_group) [[unlikely]] {
    PutAcross(q, mp);
    return;
  }
  queue_t* nq = q->q_next;
  if (nq == nullptr) {
    PutOffTheEnd(q, mp);
    return;
  }
  if (nq->q_syncq == nullptr) {
    nq->q_qinfo->qi_putp(nq, mp);
  } else {
    nq->q_syncq->Put(nq, mp);
  }
}

void qreply(queue_t* q, mblk_t* mp) { putnext(OTHERQ(q), mp); }

static mblk_t* CtlMsg(int type, const int* param) {
  // putctl(9F) refuses data types (M_DELAY is allowed, as on illumos).
  if (type < 0 || type > 0xff || (datamsg(static_cast<unsigned char>(type)) && type != M_DELAY)) {
    return nullptr;
  }
  mblk_t* mp = allocb(param != nullptr ? 1 : 0);
  if (mp == nullptr) return nullptr;
  mp->b_datap->db_type = static_cast<unsigned char>(type);
  if (param != nullptr) *mp->b_wptr++ = static_cast<unsigned char>(*param);
  return mp;
}

int putctl(queue_t* q, int type) {
  mblk_t* mp = CtlMsg(type, nullptr);
  if (mp == nullptr) return 0;
  put(q, mp);
  return 1;
}

int putctl1(queue_t* q, int type, int param) {
  mblk_t* mp = CtlMsg(type, &param);
  if (mp == nullptr) return 0;
  put(q, mp);
  return 1;
}

int putnextctl(queue_t* q, int type) {
  mblk_t* mp = CtlMsg(type, nullptr);
  if (mp == nullptr) return 0;
  putnext(q, mp);
  return 1;
}

int putnextctl1(queue_t* q, int type, int param) {
  mblk_t* mp = CtlMsg(type, &param);
  if (mp == nullptr) return 0;
  putnext(q, mp);
  return 1;
}

// ---- queueing ----

int putq(queue_t* q, mblk_t* mp) {
  STREAMS_NOT_QUEUED(mp, "putq");
  bool sched = false;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    if (!EnqueueLocked(q, mp)) return 0;
    // Enable for high priority always; otherwise if allowed and a reader waits or it is banded.
    if (queclass_is_hipri(mp) || (CanEnable(q) && ((q->q_flag & QWANTR) || mp->b_band != 0))) {
      sched = EnableLocked(q);
    }
  }
  if (sched) Schedule(q);
  return 1;
}

int putbq(queue_t* q, mblk_t* mp) {
  STREAMS_NOT_QUEUED(mp, "putbq");
  bool sched = false;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    bool hipri = queclass_is_hipri(mp);
    qband* qb = nullptr;
    if (hipri) {
      mp->b_band = 0;
    } else if (mp->b_band != 0) {
      if (!EnsureBands(q, mp->b_band)) return 0;
      qb = BandOf(q, mp->b_band);
    }
    mblk_t* before;
    if (hipri || q->q_first == nullptr) {
      before = q->q_first;
    } else if (qb != nullptr && qb->qb_first != nullptr) {
      before = qb->qb_first;
    } else {
      // Front of its class: after high priority and after higher bands.
      before = q->q_first;
      while (before != nullptr && queclass_is_hipri(before)) before = before->b_next;
      while (before != nullptr && before->b_band > mp->b_band) before = before->b_next;
    }
    LinkBefore(q, mp, before);
    if (qb != nullptr) {
      qb->qb_first = mp;
      if (qb->qb_last == nullptr) qb->qb_last = mp;
    }
    mp->b_queue = q;
    AddCounts(q, qb, mp);
    if (!hipri && CanEnable(q) && (q->q_flag & QWANTR)) sched = EnableLocked(q);
  }
  if (sched) Schedule(q);
  return 1;
}

int insq(queue_t* q, mblk_t* emp, mblk_t* mp) {
  STREAMS_NOT_QUEUED(mp, "insq");
  bool sched = false;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    bool hipri = queclass_is_hipri(mp);
    if (hipri) mp->b_band = 0;
    STREAMS_RULE(emp == nullptr || emp->b_queue == q, "insq() inserts before a message of q",
                 "emp is not on this queue");
    // Refuse a place that breaks priority order (insq(9F)).
    mblk_t* prev = emp != nullptr ? emp->b_prev : q->q_last;
    if (hipri) {
      if (prev != nullptr && !queclass_is_hipri(prev)) return 0;
    } else {
      if (emp != nullptr && (queclass_is_hipri(emp) ? false : mp->b_band < emp->b_band)) return 0;
      if (emp != nullptr && queclass_is_hipri(emp)) return 0;
      if (prev != nullptr && !queclass_is_hipri(prev) && prev->b_band < mp->b_band) return 0;
    }
    qband* qb = nullptr;
    if (!hipri && mp->b_band != 0) {
      if (!EnsureBands(q, mp->b_band)) return 0;
      qb = BandOf(q, mp->b_band);
    }
    LinkBefore(q, mp, emp);
    if (qb != nullptr) {
      if (qb->qb_first == nullptr || qb->qb_first == mp->b_next) qb->qb_first = mp;
      if (qb->qb_last == nullptr || qb->qb_last == mp->b_prev) qb->qb_last = mp;
    }
    mp->b_queue = q;
    AddCounts(q, qb, mp);
    if (CanEnable(q) && (q->q_flag & QWANTR)) sched = EnableLocked(q);
  }
  if (sched) Schedule(q);
  return 1;
}

mblk_t* getq(queue_t* q) {
  mblk_t* mp;
  bool back;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    mp = q->q_first;
    if (mp == nullptr) {
      q->q_flag |= QWANTR;
      return nullptr;
    }
    UnlinkLocked(q, mp);
    q->q_flag &= ~QWANTR;
    back = WantsBackEnableLocked(q, mp->b_band);
  }
  if (back) BackEnable(q, mp->b_band);
  return mp;
}

void rmvq(queue_t* q, mblk_t* mp) {
  STREAMS_RULE(mp->b_queue == q, "rmvq() removes a message from the queue it is on",
               "the message is not on this queue");
  {
    std::lock_guard<Mutex> l(q->q_lock);
    UnlinkLocked(q, mp);
  }
  MaybeBackEnable(q, mp->b_band);
}

// Takes every message off q (resetting counts) and returns the old list.
static mblk_t* DetachAllLocked(queue_t* q) {
  mblk_t* mp = q->q_first;
  q->q_first = q->q_last = nullptr;
  q->q_count = 0;
  q->q_mblkcnt = 0;
  SetFullLocked(q, false);
  for (qband* qb = q->q_bandp; qb != nullptr; qb = qb->qb_next) {
    qb->qb_first = qb->qb_last = nullptr;
    qb->qb_count = 0;
    qb->qb_mblkcnt = 0;
    qb->qb_flag &= ~QB_FULL;
  }
  for (mblk_t* m = mp; m != nullptr; m = m->b_next) m->b_queue = nullptr;
  return mp;
}

// After a flush: back-enable every band (and band 0) that can now take a waiting writer.
static void BackEnableAfterFlush(queue_t* q) {
  bool bands[NBAND] = {};
  bool any = false;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    int b = 1;
    for (qband* qb = q->q_bandp; qb != nullptr; qb = qb->qb_next, b++) {
      if ((qb->qb_flag & QB_WANTW) &&
          (qb->qb_lowat == 0 || (qb->qb_count < qb->qb_lowat && qb->qb_mblkcnt < qb->qb_lowat))) {
        qb->qb_flag &= ~QB_WANTW;
        bands[b] = any = true;
      }
    }
    if ((q->q_flag & QWANTW) &&
        (q->q_lowat == 0 || (q->q_count < q->q_lowat && q->q_mblkcnt < q->q_lowat))) {
      q->q_flag &= ~QWANTW;
      bands[0] = any = true;
    }
  }
  if (!any) return;
  for (int b = NBAND - 1; b >= 0; b--) {
    if (bands[b]) BackEnable(q, static_cast<unsigned char>(b));
  }
}

void flushq(queue_t* q, int flag) {
  mblk_t* mp;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    if (q->q_first == nullptr) return;
    mp = DetachAllLocked(q);
  }
  while (mp != nullptr) {
    mblk_t* next = mp->b_next;
    mp->b_next = mp->b_prev = nullptr;
    if (flag == FLUSHALL || datamsg(mp->b_datap->db_type)) {
      freemsg(mp);
    } else {
      putq(q, mp);
    }
    mp = next;
  }
  BackEnableAfterFlush(q);
}

void flushband(queue_t* q, unsigned char pri, int flag) {
  {
    std::lock_guard<Mutex> l(q->q_lock);
    if (pri > q->q_nband) return;
  }
  if (pri == 0) {
    mblk_t* mp;
    {
      std::lock_guard<Mutex> l(q->q_lock);
      mp = DetachAllLocked(q);
    }
    // Band 0 only: high-priority and banded messages stay (flushband(9F)).
    while (mp != nullptr) {
      mblk_t* next = mp->b_next;
      mp->b_next = mp->b_prev = nullptr;
      bool normal0 = mp->b_band == 0 && !queclass_is_hipri(mp);
      if (normal0 && (flag == FLUSHALL || datamsg(mp->b_datap->db_type))) {
        freemsg(mp);
      } else {
        putq(q, mp);
      }
      mp = next;
    }
    MaybeBackEnable(q, 0);
    return;
  }
  mblk_t* doomed = nullptr;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    qband* qb = BandOf(q, pri);
    mblk_t* mp = qb->qb_first;
    mblk_t* end = qb->qb_last != nullptr ? qb->qb_last->b_next : nullptr;
    while (mp != nullptr && mp != end) {
      mblk_t* next = mp->b_next;
      if (flag == FLUSHALL || datamsg(mp->b_datap->db_type)) {
        UnlinkLocked(q, mp);
        mp->b_next = doomed;
        doomed = mp;
      }
      mp = next;
    }
  }
  bool flushed = doomed != nullptr;
  while (doomed != nullptr) {
    mblk_t* next = doomed->b_next;
    doomed->b_next = nullptr;
    freemsg(doomed);
    doomed = next;
  }
  if (flushed) MaybeBackEnable(q, pri);
}

int qsize(queue_t* q) {
  std::lock_guard<Mutex> l(q->q_lock);
  int n = 0;
  for (mblk_t* mp = q->q_first; mp != nullptr; mp = mp->b_next) n++;
  return n;
}

// ---- flow control ----

int canput(queue_t* q) {
  if (q == nullptr) return 0;
  q = q->q_nfsrv;
  // Not full: nothing to record. A queue filling meanwhile takes one message more, as it would
  // had the check come a moment earlier (flow control is advisory).
  if (!q->q_full_hint.load(std::memory_order_relaxed)) return 1;
  std::lock_guard<Mutex> l(q->q_lock);
  if (q->q_flag & QFULL) {
    q->q_flag |= QWANTW;
    return 0;
  }
  return 1;
}

int canputnext(queue_t* q) {
  if (q->q_group != internal::t_claim_group) [[unlikely]] {
    // From another stream (see PutAcross): q_next is stable only under q's stream's claim.
    StreamClaim claim(q->q_stream);
    return canput(q->q_next);
  }
  return canput(q->q_next);
}

int bcanput(queue_t* q, unsigned char pri) {
  if (q == nullptr) return 0;
  if (pri == 0) return canput(q);
  q = q->q_nfsrv;
  std::lock_guard<Mutex> l(q->q_lock);
  if (pri > q->q_nband) return 1;  // the band does not exist yet, so it is not full
  qband* qb = BandOf(q, pri);
  if (qb->qb_flag & QB_FULL) {
    qb->qb_flag |= QB_WANTW;
    return 0;
  }
  return 1;
}

int bcanputnext(queue_t* q, unsigned char pri) { return bcanput(q->q_next, pri); }

void qenable(queue_t* q) {
  bool sched;
  {
    std::lock_guard<Mutex> l(q->q_lock);
    sched = EnableLocked(q);
  }
  if (sched) Schedule(q);
}

void noenable(queue_t* q) {
  std::lock_guard<Mutex> l(q->q_lock);
  q->q_flag |= QNOENB;
}

void enableok(queue_t* q) {
  std::lock_guard<Mutex> l(q->q_lock);
  q->q_flag &= ~QNOENB;
}

int strqget(queue_t* q, qfields_t what, unsigned char pri, intptr_t* valp) {
  if (q == nullptr || valp == nullptr) return EINVAL;
  std::lock_guard<Mutex> l(q->q_lock);
  if (pri != 0) {
    if (!EnsureBands(q, pri)) return EAGAIN;
    qband* qb = BandOf(q, pri);
    switch (what) {
      case QHIWAT: *valp = static_cast<intptr_t>(qb->qb_hiwat); return 0;
      case QLOWAT: *valp = static_cast<intptr_t>(qb->qb_lowat); return 0;
      case QCOUNT: *valp = static_cast<intptr_t>(qb->qb_count); return 0;
      case QFIRST: *valp = reinterpret_cast<intptr_t>(qb->qb_first); return 0;
      case QLAST: *valp = reinterpret_cast<intptr_t>(qb->qb_last); return 0;
      case QFLAG: *valp = static_cast<intptr_t>(qb->qb_flag); return 0;
      default: return EINVAL;
    }
  }
  switch (what) {
    case QHIWAT: *valp = static_cast<intptr_t>(q->q_hiwat); return 0;
    case QLOWAT: *valp = static_cast<intptr_t>(q->q_lowat); return 0;
    case QMAXPSZ: *valp = q->q_maxpsz; return 0;
    case QMINPSZ: *valp = q->q_minpsz; return 0;
    case QCOUNT: *valp = static_cast<intptr_t>(q->q_count); return 0;
    case QFIRST: *valp = reinterpret_cast<intptr_t>(q->q_first); return 0;
    case QLAST: *valp = reinterpret_cast<intptr_t>(q->q_last); return 0;
    case QFLAG: *valp = static_cast<intptr_t>(q->q_flag); return 0;
    default: return EINVAL;
  }
}

int strqset(queue_t* q, qfields_t what, unsigned char pri, intptr_t val) {
  if (q == nullptr) return EINVAL;
  if (what == QCOUNT || what == QFIRST || what == QLAST || what == QFLAG) return EPERM;
  std::lock_guard<Mutex> l(q->q_lock);
  if (pri != 0) {
    if (!EnsureBands(q, pri)) return EAGAIN;
    qband* qb = BandOf(q, pri);
    switch (what) {
      case QHIWAT: qb->qb_hiwat = static_cast<size_t>(val); return 0;
      case QLOWAT: qb->qb_lowat = static_cast<size_t>(val); return 0;
      default: return EINVAL;
    }
  }
  switch (what) {
    case QHIWAT: q->q_hiwat = static_cast<size_t>(val); return 0;
    case QLOWAT: q->q_lowat = static_cast<size_t>(val); return 0;
    // Atomic: a stream head reads the packet sizes of the queue below it without its lock.
    case QMAXPSZ:
      std::atomic_ref<ssize_t>(q->q_maxpsz).store(val, std::memory_order_relaxed);
      return 0;
    case QMINPSZ:
      std::atomic_ref<ssize_t>(q->q_minpsz).store(val, std::memory_order_relaxed);
      return 0;
    default: return EINVAL;
  }
}

void qbackenable(queue_t* q, unsigned char band) { MaybeBackEnable(q, band); }

// ---- M_FLUSH helpers ----

namespace {
// Flushes the data of q, or of the one band FLUSHBAND names in the second byte.
void FlushAsMessageSays(queue_t* q, const mblk_t* mp) {
  if ((*mp->b_rptr & FLUSHBAND) && MBLKL(mp) >= 2) {
    flushband(q, mp->b_rptr[1], FLUSHDATA);
  } else {
    flushq(q, FLUSHDATA);
  }
}
}  // namespace

void FlushAsModule(queue_t* q, mblk_t* mp) {
  unsigned char flags = *mp->b_rptr;
  auto flush = [mp](queue_t* fq) { FlushAsMessageSays(fq, mp); };
  // Flush the side the message travels on first, then the other side, then pass it along.
  bool read_side = IsReadQ(q);
  if (flags & (read_side ? FLUSHR : FLUSHW)) flush(q);
  if (flags & (read_side ? FLUSHW : FLUSHR)) flush(OTHERQ(q));
  putnext(q, mp);
}

void PassAlong(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);
  } else {
    putnext(q, mp);
  }
}

void FlushAsDriver(queue_t* wq, mblk_t* mp) {
  unsigned char flags = *mp->b_rptr;
  auto flush = [mp](queue_t* fq) { FlushAsMessageSays(fq, mp); };
  if (flags & FLUSHW) flush(wq);
  if (!(flags & FLUSHR)) {
    freemsg(mp);
    return;
  }
  flush(RD(wq));
  if (flags & FLUSHW) {
    // Clear FLUSHW before turning the message around, in a copy if the block is shared.
    if (DB_REF(mp) > 1) {
      mblk_t* copy = copymsg(mp);
      freemsg(mp);
      if (copy == nullptr) return;  // the queues are flushed; only the echo upstream is lost
      mp = copy;
    }
    *mp->b_rptr &= static_cast<unsigned char>(~FLUSHW);
  }
  qreply(wq, mp);
}

void FlushAsMuxLower(queue_t* lower_rq, mblk_t* mp) {
  if (!(*mp->b_rptr & FLUSHW)) {
    freemsg(mp);
    return;
  }
  if (DB_REF(mp) > 1) {
    mblk_t* copy = copymsg(mp);
    freemsg(mp);
    if (copy == nullptr) return;
    mp = copy;
  }
  *mp->b_rptr &= static_cast<unsigned char>(~FLUSHR);
  qreply(lower_rq, mp);
}

// ---- lifecycle, callbacks, waits ----

void qprocson(queue_t* q) { q->q_stream->ProcsOn(q->q_pair); }
void qprocsoff(queue_t* q) { q->q_stream->ProcsOff(q->q_pair); }

clock_t drv_usectohz(clock_t usec) { return (usec + 999) / 1000; }
clock_t drv_hztousec(clock_t ticks) { return ticks * 1000; }

namespace {
// Removes id from list; true if it was there (the callback may still run). id is read under mu:
// a timeout's callback can start before qtimeout() has stored its id.
bool TakeId(std::mutex& mu, std::vector<uint64_t>& list, const uint64_t& id) {
  std::lock_guard<std::mutex> l(mu);
  for (auto it = list.begin(); it != list.end(); ++it) {
    if (*it == id) {
      list.erase(it);
      return true;
    }
  }
  return false;
}
}  // namespace

timeout_id_t qtimeout(queue_t* q, void (*func)(void*), void* arg, absl::Duration delay) {
  internal::QueuePair* pair = q->q_pair;
  Scheduler* s = q->q_stream->scheduler();
  std::lock_guard<std::mutex> l(pair->cb_mu);
  // The callback runs inside q's perimeter; quntimeout() or the pair's end removes the id first,
  // which is what keeps a cancelled or orphaned callback from running.
  auto holder = std::make_shared<uint64_t>(0);
  uint64_t id = s->AddTimer(s->Now() + delay, [q, pair, func, arg, holder] {
    internal::RunCallback(q, [pair, func, arg, holder] {
      if (TakeId(pair->cb_mu, pair->timeouts, *holder)) func(arg);
    });
  });
  *holder = id;
  pair->timeouts.push_back(id);
  return id;
}

timeout_id_t qtimeout(queue_t* q, void (*func)(void*), void* arg, clock_t ticks) {
  return qtimeout(q, func, arg, absl::Milliseconds(ticks < 0 ? 0 : ticks));
}

clock_t quntimeout(queue_t* q, timeout_id_t id) {
  internal::QueuePair* pair = q->q_pair;
  bool was_pending = TakeId(pair->cb_mu, pair->timeouts, id);
  absl::Duration left = q->q_stream->scheduler()->CancelTimer(id);
  if (!was_pending || left < absl::ZeroDuration()) return -1;
  return static_cast<clock_t>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
}

namespace {
// ctx is the queue (no allocation: a cancelled entry never reaches the runner to free one).
void QbufcallRunner(void* ctx, bufcall_id_t id, void (*func)(void*), void* arg) {
  auto* q = static_cast<queue_t*>(ctx);
  internal::QueuePair* pair = q->q_pair;
  Scheduler* s = q->q_stream->scheduler();
  std::lock_guard<std::mutex> l(pair->cb_mu);
  if (std::find(pair->bufcalls.begin(), pair->bufcalls.end(), id) == pair->bufcalls.end()) {
    return;  // cancelled meanwhile
  }
  // Memory became available somewhere: run the callback on q's scheduler, in its perimeter, as a
  // timer due now. The timer is on the pair's list, so freeing the pair cancels it (deferred
  // work would run on freed queues).
  auto holder = std::make_shared<uint64_t>(0);
  uint64_t tid = s->AddTimer(s->Now(), [q, pair, id, func, arg, holder] {
    internal::RunCallback(q, [pair, id, func, arg, holder] {
      TakeId(pair->cb_mu, pair->timeouts, *holder);
      if (TakeId(pair->cb_mu, pair->bufcalls, id)) func(arg);
    });
  });
  *holder = tid;
  pair->timeouts.push_back(tid);
}
}  // namespace

bufcall_id_t qbufcall(queue_t* q, size_t size, unsigned int /*pri*/, void (*func)(void*),
                      void* arg) {
  internal::QueuePair* pair = q->q_pair;
  std::lock_guard<std::mutex> l(pair->cb_mu);
  bufcall_id_t id = internal::BufcallRegister(size, func, arg, QbufcallRunner, q);
  if (id == 0) return 0;
  pair->bufcalls.push_back(id);
  return id;
}

void qunbufcall(queue_t* q, bufcall_id_t id) {
  internal::QueuePair* pair = q->q_pair;
  TakeId(pair->cb_mu, pair->bufcalls, id);
  internal::BufcallCancel(id);
}

void qwait(queue_t* q) {
  while (qwait_sig(q) == 0) {
    // qwait(9F) is not interruptible: a signal only makes it wait again.
  }
}

int qwait_sig(queue_t* q) { return qwait_sig_since(q, qwait_progress(q)); }

uint64_t qwait_progress(queue_t* q) { return q->q_pair->wait_gen.load(); }

int qwait_sig_since(queue_t* q, uint64_t seen) {
  internal::QueuePair* pair = q->q_pair;
  internal::SyncQ* sq = q->q_syncq;
  if (sq != nullptr) sq->Leave();
  // An open that waits lets the stream's other opens in: it may be waiting for one of them.
  const bool left_open = q->q_stream->LeaveOpenForWait();
  int rc = q->q_stream->WaitForProgress(pair, seen);
  if (left_open) q->q_stream->ReturnFromWait();
  if (sq != nullptr) sq->EnterBlocking(q->q_stream->scheduler());
  return rc == EINTR ? 0 : 1;
}

}  // namespace ustreams
