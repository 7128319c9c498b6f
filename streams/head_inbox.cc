// The stream head's inbox: messages handed to the head without its lock (see head.h, "The
// inbox"), kept in a ring of records until whoever takes mu_ next moves them onto the read queue
// or, for a read finding the read queue empty, copies their bytes out directly.
//
// A record is an 8-byte header (a length and a kind) followed by its body, padded to 8 bytes:
//   kBytes  len bytes of a plain band-0 M_DATA message, copied in by a pipe end's write;
//   kMsg    a pointer to an mblk_t (len is the message's charge);
//   kSkip   the ring's end: len bytes to step over to its start.
// Indices only grow; a record's place is its index modulo the ring's size.
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "streams/alloc_internal.h"
#include "streams/cpu.h"
#include "streams/head.h"
#include "streams/iov.h"

namespace ustreams {

namespace {

enum RecKind : uint32_t { kBytes = 1, kMsg = 2, kSkip = 3 };
struct RecHeader {
  uint32_t len;
  uint32_t kind;
};
constexpr size_t kRecHeader = sizeof(RecHeader);
static_assert(kRecHeader == 8);

constexpr size_t Round8(size_t n) { return (n + 7) & ~size_t{7}; }
constexpr size_t BytesRecord(size_t n) { return kRecHeader + Round8(n); }
constexpr size_t kMsgRecord = kRecHeader + sizeof(mblk_t*);

// What a message counts against the high-water mark: putq() adds its bytes to q_count and its
// blocks to q_mblkcnt and tests each against q_hiwat, so the larger of the two bounds both.
int64_t Charge(const mblk_t* mp) {
  size_t bytes, blocks;
  internal::MsgCounts(mp, &bytes, &blocks);
  return static_cast<int64_t>(std::max(bytes, blocks));
}

RecHeader HeaderAt(const unsigned char* ring, uint32_t size, uint64_t at) {
  RecHeader h;
  std::memcpy(&h, ring + (at & (size - 1)), sizeof(h));
  return h;
}
const unsigned char* BodyAt(const unsigned char* ring, uint32_t size, uint64_t at) {
  return ring + (at & (size - 1)) + kRecHeader;
}
mblk_t* MsgAt(const unsigned char* ring, uint32_t size, uint64_t at) {
  mblk_t* mp;
  std::memcpy(&mp, BodyAt(ring, size, at), sizeof(mp));
  return mp;
}
// How far ahead of the record it reads a reader asks for the ring's lines.
constexpr uint64_t kReadAhead = 256;

// How many records ahead a splice asks for the messages it is about to queue.
constexpr uint64_t kSpliceAhead = 4;

// The message of the record at `at`, if there is one there below `tail`: its lines were
// written on the sender's core, and queueing it writes them here; ask for them now, for writing.
void PrefetchMsgAhead(const unsigned char* ring, uint32_t size, uint64_t at, uint64_t tail) {
  if (at >= tail || HeaderAt(ring, size, at).kind != kMsg) return;
  const auto* p = reinterpret_cast<const unsigned char*>(MsgAt(ring, size, at));
  PrefetchForWrite(p);
  PrefetchForWrite(p + 64);
  PrefetchForWrite(p + 128);
}

// How far the record at hand reaches: to the next record's index.
size_t RecordBytes(const RecHeader& h) {
  switch (h.kind) {
    case kSkip: return h.len;
    case kMsg: return kMsgRecord;
    default: return BytesRecord(h.len);
  }
}

}  // namespace

void StreamHead::Inbox::Lock() {
  for (;;) {
    if (!busy.exchange(true, std::memory_order_acquire)) return;
    // Held for a few instructions at a time: wait for it to look free, then try again.
    while (busy.load(std::memory_order_relaxed)) CpuRelax();
  }
}

// Under busy: room for a record of `need` bytes with `charge`, in a ring of at least `want`
// bytes. Returns where the record goes (the index past it in *end), or nullptr if it does not
// fit: the charge would pass the limit, or the ring is full, or it must grow and is not empty.
[[gnu::always_inline]] inline unsigned char* StreamHead::InboxRoom(size_t need, int64_t charge,
                                                                   uint32_t want, uint64_t* end) {
  Inbox& in = inbox_;
  if (in.charge_in - in.out_seen + charge > in.limit) {
    in.out_seen = in.charge_out.load(std::memory_order_acquire);
    if (in.charge_in - in.out_seen + charge > in.limit) return nullptr;
  }
  const uint64_t pos = in.tail.load(std::memory_order_relaxed);
  uint32_t size = in.size.load(std::memory_order_relaxed);
  unsigned char* ring = in.ring.load(std::memory_order_relaxed);
  if (size < want) {
    // Only while empty: the consumer then has nothing of the old ring left to read.
    in.head_seen = in.head.load(std::memory_order_acquire);
    if (in.head_seen != pos) return nullptr;
    auto* bigger = static_cast<unsigned char*>(std::aligned_alloc(64, want));
    if (bigger == nullptr) return nullptr;
    std::free(ring);
    ring = bigger;
    size = want;
    in.ring.store(ring, std::memory_order_relaxed);  // published by the tail store
    in.size.store(size, std::memory_order_relaxed);
  }
  const size_t to_end = size - (pos & (size - 1));
  const size_t total = need <= to_end ? need : to_end + need;
  if (pos + total - in.head_seen > size) {
    in.head_seen = in.head.load(std::memory_order_acquire);
    if (pos + total - in.head_seen > size) return nullptr;
  }
  uint64_t at = pos;
  if (need > to_end) {
    // Records do not wrap: step over the ring's end (at least 8 bytes, as all sizes are).
    RecHeader skip{static_cast<uint32_t>(to_end), kSkip};
    std::memcpy(ring + (at & (size - 1)), &skip, sizeof(skip));
    at += to_end;
  }
  in.charge_in += charge;
  *end = at + need;
  // Ask for the lines the next records will use now, for writing: the reader on the other core
  // holds them (it read the records there last time round), and fetching them here keeps that
  // fetch out of the way of this record's publication.
  PrefetchForWrite(ring + ((*end + 256) & (size - 1)));
  PrefetchForWrite(ring + ((*end + 320) & (size - 1)));
  return ring + (at & (size - 1));
}

namespace {
// Whether a message arriving at the head may go into the inbox as its bytes (then freed at once,
// on the sender's core, where its blocks are hot for the sender's next allocation) instead of as
// itself: one block of plain data with no flags, small, not an esballoc buffer (whose free
// routine would run before the data is read), and no allocation faults injected (the bytes may
// need a message again, under the reader's allocation).
bool CopiesAsBytes(const mblk_t* mp) {
  const ptrdiff_t n = mp->b_wptr - mp->b_rptr;
  return mp->b_datap->db_type == M_DATA && mp->b_cont == nullptr && mp->b_flag == 0 && n > 0 &&
         static_cast<size_t>(n) <= kInboxInlineMax && mp->b_datap->db_frtnp == nullptr &&
         !internal::AllocFaultsOn();
}
}  // namespace

bool StreamHead::TryInbox(mblk_t* mp, Arrival* a) {
  unsigned char type = DB_TYPE(mp);
  if ((type != M_DATA && type != M_PROTO) || mp->b_band != 0 || (mp->b_flag & MSGMARK)) {
    return false;
  }
  if (CopiesAsBytes(mp)) {
    const size_t n = MBLKL(mp);
    if (unsigned char* dst = InboxReserveBytes(n)) {
      std::memcpy(dst, mp->b_rptr, n);
      *a = InboxPublishLocked();
      freeb(mp);  // one block (CopiesAsBytes)
      return true;
    }
    // No room for bytes (a small ring in use): as a message, if it fits.
  }
  const int64_t charge = Charge(mp);
  if (charge > UINT32_MAX) return false;
  unsigned char* body =
      InboxReserve(kMsg, static_cast<uint32_t>(charge), kMsgRecord, charge, kInboxSmall);
  if (body == nullptr) return false;
  std::memcpy(body, &mp, sizeof(mp));  // the inbox's now, then the read queue's
  *a = InboxPublishLocked();
  return true;
}

[[gnu::always_inline]] inline unsigned char* StreamHead::InboxReserveBytes(size_t n) {
  return InboxReserve(kBytes, static_cast<uint32_t>(n), BytesRecord(n), static_cast<int64_t>(n),
                      kInboxLarge);
}

// n bytes of the caller's buffers (from iov/off, which move past them) into this head's inbox as
// one record: false if it cannot take them now. *a: for InboxArrived, once the caller's locks go.
bool StreamHead::CopyIntoInbox(const iovec*& iov, int& iovcnt, size_t& off, size_t n,
                               Arrival* a) {
  unsigned char* dst = InboxReserveBytes(n);
  if (dst == nullptr) return false;
  internal::GatherIov(iov, iovcnt, off, dst, n);
  *a = InboxPublishLocked();
  return true;
}

// Takes the spin lock and writes the header of a record of `need` bytes (see InboxRoom); returns
// its body, with the lock held until InboxPublishLocked, or nullptr with the lock let go.
[[gnu::always_inline]] inline unsigned char* StreamHead::InboxReserve(uint32_t kind, uint32_t len,
                                                                      size_t need, int64_t charge,
                                                                      uint32_t want) {
  inbox_.Lock();
  // Signals wanted: the locked way, which raises them. Looked at under the inbox lock, which
  // UpdateNotifyLocked takes after turning it on, so no message slips in unsignalled after.
  uint64_t end;
  unsigned char* rec =
      notify_slow_.load(std::memory_order_relaxed) ? nullptr : InboxRoom(need, charge, want, &end);
  if (rec == nullptr) {
    inbox_.Unlock();
    return nullptr;
  }
  RecHeader h{len, kind};
  std::memcpy(rec, &h, sizeof(h));
  inbox_.reserved_end = end;
  return rec + kRecHeader;
}

StreamHead::Arrival StreamHead::InboxPublishLocked() {
  inbox_.tail.store(inbox_.reserved_end, std::memory_order_release);
  // Looked at before the spin lock goes (see Arrival): a waiter or poller that changed them
  // after this has yet to take the lock, and will see the record.
  Arrival a{wait_.watched(), efd_signalled_.load(std::memory_order_relaxed)};
  inbox_.Unlock();
  return a;
}

[[gnu::always_inline]] inline bool StreamHead::InboxPeekDataLocked(InboxData* d) {
  uint64_t h = inbox_.head.load(std::memory_order_relaxed);
  const uint64_t t = inbox_.tail.load(std::memory_order_acquire);
  const unsigned char* ring = inbox_.ring.load(std::memory_order_relaxed);
  const uint32_t size = inbox_.size.load(std::memory_order_relaxed);
  while (h != t) {
    RecHeader rec = HeaderAt(ring, size, h);
    if (rec.kind == kSkip) {
      h += rec.len;
      inbox_.head.store(h, std::memory_order_release);
      continue;
    }
    // The records after this one were written on the writer's core: ask for their lines now,
    // so the reads to come do not each wait for one. Only lines already published (below the
    // tail), which the writer is done with.
    if (h + kReadAhead < t) __builtin_prefetch(ring + ((h + kReadAhead) & (size - 1)), 0, 3);
    if (h + kReadAhead + 64 < t) {
      __builtin_prefetch(ring + ((h + kReadAhead + 64) & (size - 1)), 0, 3);
    }
    if (rec.kind == kBytes) {
      *d = InboxData{BodyAt(ring, size, h), rec.len, nullptr, rec.len};
      return true;
    }
    // A message (TryInbox took only band-0 M_DATA and M_PROTO without MSGMARK): read where it
    // is if it is one block of data, as the read loop would read it off the queue.
    mblk_t* mp = MsgAt(ring, size, h);
    if (DB_TYPE(mp) != M_DATA || mp->b_cont != nullptr || MBLKL(mp) == 0) return false;
    PrefetchMsgAhead(ring, size, h + kSpliceAhead * kMsgRecord, t);
    *d = InboxData{mp->b_rptr, static_cast<size_t>(MBLKL(mp)), mp, rec.len};
    return true;
  }
  return false;
}

[[gnu::always_inline]] inline void StreamHead::InboxConsumeLocked(const InboxData& d) {
  const size_t record = d.mp != nullptr ? kMsgRecord : BytesRecord(d.n);
  inbox_.head.store(inbox_.head.load(std::memory_order_relaxed) + record,
                    std::memory_order_release);
  inbox_.charge_out.store(inbox_.charge_out.load(std::memory_order_relaxed) + d.charge,
                          std::memory_order_release);
  arrivals_++;
  if (d.mp != nullptr) freemsg(d.mp);  // read whole
}

// Read's direct way (mu_ held, the read queue empty): copies the inbox's plain data straight to
// the caller (bytes copied in, one-block M_DATA messages), as the loop in Read would read them
// off the queue. Stops where the loop has more to do (a record larger than what is left to fill,
// any other message); returns true when the read is complete. Here, next to the inbox's
// consumer side, so the peek and the consume inline into it.
bool StreamHead::ReadInboxLocked(const iovec*& iov, int& iovcnt, size_t& off, size_t& resid,
                                 ssize_t* done, bool& copied) {
  if (delim_ || stream_->head_rq()->q_first != nullptr || internal::HasBadBuffer(iov, iovcnt)) {
    return false;
  }
  const int mode = rdopt_ & RMODEMASK;
  InboxData d;
  while (InboxPeekDataLocked(&d)) {
    const size_t n = d.n;
    if (n > resid) return false;
    internal::ScatterIov(iov, iovcnt, off, d.p, n);
    InboxConsumeLocked(d);
    resid -= n;
    *done += static_cast<ssize_t>(n);
    copied = true;
    if (resid == 0 || mode == RMSGD || mode == RMSGN) return true;
  }
  return false;
}

void StreamHead::InboxArrived(const Arrival& a) {
  if (a.watched) wait_.WakeAll();
  // Already readable and nobody to notify otherwise: nothing to do.
  if (a.signalled && !notify_slow_.load(std::memory_order_acquire)) return;
  Raise(Events{static_cast<short>(POLLIN | POLLRDNORM), 0});
}

void StreamHead::SpliceHook(void* head) {
  auto* h = static_cast<StreamHead*>(head);
  if (h->inbox_.Pending()) h->SpliceInboxLocked();
}

namespace {
// What the inbox may hold on top of rq's messages: the charge that keeps them all strictly below
// rq's high-water mark (so the locked path's putq() is the one that sets QFULL). mu_ held.
int64_t InboxLimit(queue_t* rq) {
  std::lock_guard<Mutex> l(rq->q_lock);
  const auto hiwat = static_cast<int64_t>(std::min<size_t>(rq->q_hiwat, INT64_MAX / 4));
  return hiwat - 1 - static_cast<int64_t>(std::max(rq->q_count, rq->q_mblkcnt));
}
}  // namespace

size_t StreamHead::SpliceInboxLocked() {
  if (stream_ == nullptr) {  // closed: no read queue to move them to
    FreeInbox();
    return 0;
  }
  queue_t* rq = stream_->head_rq();
  // The limit is set as the records are taken, so whatever the inbox takes from now on fits
  // below the mark together with them.
  const int64_t room = InboxLimit(rq);
  inbox_.Lock();
  const uint64_t t = inbox_.tail.load(std::memory_order_relaxed);
  const int64_t held = inbox_.charge_in - inbox_.charge_out.load(std::memory_order_relaxed);
  inbox_.limit = inbox_open_ ? room - held : -1;
  inbox_.Unlock();
  uint64_t h = inbox_.head.load(std::memory_order_relaxed);
  int64_t out = inbox_.charge_out.load(std::memory_order_relaxed);
  size_t stuck = 0;
  const unsigned char* ring = inbox_.ring.load(std::memory_order_relaxed);
  const uint32_t size = inbox_.size.load(std::memory_order_relaxed);
  for (; h != t; h += RecordBytes(HeaderAt(ring, size, h))) {
    RecHeader rec = HeaderAt(ring, size, h);
    if (rec.kind == kSkip) continue;
    mblk_t* mp;
    if (rec.kind == kMsg) {
      mp = MsgAt(ring, size, h);  // the queue's now
      PrefetchMsgAhead(ring, size, h + kSpliceAhead * kMsgRecord, t);
    } else {
      // Copied bytes become a message now. Without memory they stay where they are (a read
      // still takes them from here; the next taking of mu_ tries again), in order.
      mp = allocb(rec.len);
      if (mp == nullptr) {
        stuck = rec.len;
        break;
      }
      std::memcpy(mp->b_wptr, BodyAt(ring, size, h), rec.len);
      mp->b_wptr += rec.len;
    }
    (void)putq(rq, mp);  // band 0: never needs a band structure, never fails
    arrivals_++;
    out += rec.len;
  }
  inbox_.head.store(h, std::memory_order_release);
  inbox_.charge_out.store(out, std::memory_order_release);
  return stuck;
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

void StreamHead::FreeInbox() {
  inbox_.Lock();
  const uint64_t t = inbox_.tail.load(std::memory_order_relaxed);
  uint64_t h = inbox_.head.load(std::memory_order_relaxed);
  unsigned char* ring = inbox_.ring.load(std::memory_order_relaxed);
  const uint32_t size = inbox_.size.load(std::memory_order_relaxed);
  for (; h != t; h += RecordBytes(HeaderAt(ring, size, h))) {
    if (HeaderAt(ring, size, h).kind == kMsg) freemsg(MsgAt(ring, size, h));  // ours to free
  }
  inbox_.charge_out.store(inbox_.charge_in, std::memory_order_relaxed);
  inbox_.out_seen = inbox_.charge_in;
  inbox_.head.store(t, std::memory_order_release);
  inbox_.head_seen = t;
  inbox_.ring.store(nullptr, std::memory_order_relaxed);
  inbox_.size.store(0, std::memory_order_relaxed);
  inbox_.Unlock();
  std::free(ring);
}

}  // namespace ustreams
