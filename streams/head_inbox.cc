// The stream head's inbox: data messages handed to the head without its lock (see head.h,
// "The inbox").
#include <algorithm>
#include <climits>

#include "streams/head.h"

namespace ustreams {

namespace {

// What a message counts against the high-water mark: putq() adds its bytes to q_count and its
// blocks to q_mblkcnt and tests each against q_hiwat, so the larger of the two bounds both.
int64_t Charge(const mblk_t* mp) {
  size_t bytes, blocks;
  internal::MsgCounts(mp, &bytes, &blocks);
  return static_cast<int64_t>(std::max(bytes, blocks));
}

}  // namespace

void StreamHead::Inbox::Lock() {
  for (;;) {
    if (!busy.exchange(true, std::memory_order_acquire)) return;
    // Held for a few instructions at a time: wait for it to look free, then try again.
    while (busy.load(std::memory_order_relaxed)) CpuRelax();
  }
}

bool StreamHead::TryInbox(mblk_t* mp) {
  unsigned char type = DB_TYPE(mp);
  if ((type != M_DATA && type != M_PROTO) || mp->b_band != 0 || (mp->b_flag & MSGMARK)) {
    return false;
  }
  int64_t charge = Charge(mp);
  inbox_.Lock();
  // Signals wanted: the locked way, which raises them. Looked at under the inbox lock, which
  // UpdateNotifyLocked takes after turning it on, so no message slips in unsignalled after.
  if (notify_slow_.load(std::memory_order_relaxed) ||
      inbox_.charge + charge > inbox_.limit) {
    inbox_.Unlock();
    return false;
  }
  mp->b_next = nullptr;
  if (inbox_.last != nullptr) {
    inbox_.last->b_next = mp;
  } else {
    inbox_.first = mp;
  }
  inbox_.last = mp;
  inbox_.charge += charge;
  // Sequentially consistent, as is the readiness flag's load after it (Raise) and the poller's
  // store and load in the other order (ClearReadiness, then the splice hook's load): one of the
  // two sides sees the other's store.
  inbox_.pending.store(true, std::memory_order_seq_cst);
  inbox_.Unlock();
  return true;
}

void StreamHead::SpliceHook(void* head) {
  auto* h = static_cast<StreamHead*>(head);
  if (h->inbox_.pending.load(std::memory_order_seq_cst)) h->SpliceInboxLocked();
}

namespace {
// What the inbox may hold on top of rq's messages: the charge that keeps them all strictly below
// rq's high-water mark (so the locked path's putq() is the one that sets QFULL). mu_ held.
int64_t InboxLimit(queue_t* rq) {
  std::lock_guard<std::mutex> l(rq->q_lock);
  const auto hiwat = static_cast<int64_t>(std::min<size_t>(rq->q_hiwat, INT64_MAX / 4));
  return hiwat - 1 - static_cast<int64_t>(std::max(rq->q_count, rq->q_mblkcnt));
}
}  // namespace

void StreamHead::SpliceInboxLocked() {
  if (stream_ == nullptr) {  // closed: no read queue to move them to
    FreeInbox();
    return;
  }
  queue_t* rq = stream_->head_rq();
  // The limit is set as the messages are taken, so whatever the inbox takes from now on fits
  // below the mark together with them.
  const int64_t room = InboxLimit(rq);
  inbox_.Lock();
  inbox_.limit = inbox_open_ ? room - inbox_.charge : -1;
  mblk_t* mp = inbox_.TakeAll();
  inbox_.Unlock();
  while (mp != nullptr) {
    mblk_t* next = mp->b_next;
    mp->b_next = nullptr;
    (void)putq(rq, mp);  // band 0: never needs a band structure, never fails
    arrivals_++;
    mp = next;
  }
}

void StreamHead::RefreshInboxLimitLocked() {
  if (stream_ == nullptr || !inbox_open_) return;  // shut (CloseInboxLocked)
  const int64_t room = InboxLimit(stream_->head_rq());
  inbox_.Lock();
  inbox_.limit = room;  // the inbox's own charge counts against it as it fills
  inbox_.Unlock();
}

void StreamHead::CloseInboxLocked() {
  inbox_open_ = false;
  inbox_.Lock();
  inbox_.limit = -1;
  inbox_.Unlock();
  // What a writer appended after mu_'s hook looked and before the limit closed goes onto the
  // queue now, so nothing stays behind in the inbox.
  SpliceInboxLocked();
}

void StreamHead::OpenInboxLocked() {
  inbox_open_ = true;
  RefreshInboxLimitLocked();
}

void StreamHead::InboxSeesNotifyLocked() {
  // A writer that looked at notify_slow_ before it turned on has finished its append once the
  // inbox lock is free: what it appended goes onto the queue now, under mu_.
  inbox_.Lock();
  inbox_.Unlock();
  SpliceInboxLocked();
}

mblk_t* StreamHead::Inbox::TakeAll() {
  mblk_t* mp = first;
  first = last = nullptr;
  charge = 0;
  pending.store(false, std::memory_order_relaxed);
  return mp;
}

void StreamHead::FreeInbox() {
  inbox_.Lock();
  mblk_t* mp = inbox_.TakeAll();
  inbox_.Unlock();
  while (mp != nullptr) {
    mblk_t* next = mp->b_next;
    mp->b_next = nullptr;
    freemsg(mp);
    mp = next;
  }
}

}  // namespace ustreams
