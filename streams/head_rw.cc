// The stream head's data calls: read(2)/readv (strread), write(2)/writev (strwrite),
// getmsg/getpmsg (strgetmsg), putmsg/putpmsg (strputmsg), and SO_REPLY. The order of every check
// follows illumos; see head.h for locking.
#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>

#include "streams/alloc_internal.h"
#include "streams/claim.h"
#include "streams/domain.h"
#include "streams/head.h"
#include "streams/scheduler.h"
#include "streams/iov.h"
#include "streams/user_addr.h"

namespace ustreams {

using internal::GatherIov;
using internal::HasBadBuffer;
using internal::IovRemaining;
using internal::ScatterIov;

namespace {

bool NonBlocking(int fflag) { return (fflag & (O_NONBLOCK | O_NDELAY)) != 0; }

}  // namespace

// ---- packet sizes of the queue below the head (illumos sd_qn_minpsz/sd_qn_maxpsz) ----

void StreamHead::PacketSizes(ssize_t* rmin, ssize_t* rmax) {
  queue_t* below = stream_->head_wq()->q_next;
  ssize_t mn = 0, mx = INFPSZ;
  if (below != nullptr) {
    // Without below's lock (strqset stores them atomically): one write needs no more than a
    // consistent value of each.
    mn = std::atomic_ref<ssize_t>(below->q_minpsz).load(std::memory_order_relaxed);
    mx = std::atomic_ref<ssize_t>(below->q_maxpsz).load(std::memory_order_relaxed);
  }
  // strmsgsz bounds every packet; an infinite maximum becomes it.
  mx = mx == INFPSZ ? kStrMsgSz : std::min<ssize_t>(mx, kStrMsgSz);
  *rmin = mn;
  *rmax = mx;
}

// ---- building messages (strmakedata) ----

namespace {
// strmakedata: count bytes from the cursor as a message of blocks of at most maxblk bytes (one
// block if maxblk is INFPSZ or not positive), each with wroff bytes of headroom for the headers
// of the layers below and tail bytes after. nullptr without memory, nothing consumed then.
// Inline: a direct write builds its one block here without a call.
[[gnu::always_inline]] inline mblk_t* BuildData(const iovec*& iov, int& iovcnt, size_t& off,
                                                size_t count, ssize_t maxblk, size_t wroff,
                                                size_t tail) {
  size_t blk = maxblk == INFPSZ || maxblk <= 0 ? count : static_cast<size_t>(maxblk);
  if (blk == 0) blk = count;
  mblk_t* head = nullptr;
  mblk_t** tailp = &head;
  do {
    size_t n = std::min(count, blk);
    mblk_t* bp = allocb(wroff + n + tail);
    if (bp == nullptr) {
      freemsg(head);
      return nullptr;
    }
    bp->b_rptr += wroff;
    GatherIov(iov, iovcnt, off, bp->b_rptr, n);
    bp->b_wptr = bp->b_rptr + n;
    *tailp = bp;
    tailp = &bp->b_cont;
    count -= n;
  } while (count > 0);
  return head;
}
}  // namespace

mblk_t* StreamHead::MakeData(const iovec*& iov, int& iovcnt, size_t& off, size_t count) {
  return BuildData(iov, iovcnt, off, count, maxblk_.load(std::memory_order_relaxed),
                   wroff_.load(std::memory_order_relaxed), tail_.load(std::memory_order_relaxed));
}

// Sends mp down from the head (consumes it). With SO_REPLY on, an M_DATA then waits for its
// M_REPLY and the reply's errno is the result. last: the caller returns next, so mu_ need not be
// taken again after the putnext (it may come back unlocked).
int StreamHead::SendDownLocked(std::unique_lock<Mutex>& l, Call& call, mblk_t* mp, bool last) {
  bool want_reply = so_reply_ && DB_TYPE(mp) == M_DATA;
  if (!want_reply) {
    l.unlock();
    putnext(stream_->head_wq(), mp);
    if (!last) l.lock();
    return 0;
  }
  // One request outstanding per stream: later writers wait their turn.
  while (reply_busy_) {
    int e = GetErrLocked(kErrRead | kErrWrite | kErrHup | kErrPlex, false);
    if (e == 0) e = WaitLocked(l, call, absl::InfiniteFuture());
    if (e != 0) {
      freemsg(mp);
      return e;
    }
  }
  reply_busy_ = true;
  reply_arrived_ = false;
  absl::Time deadline = DeadlineAfter(reply_timeout_);
  l.unlock();
  putnext(stream_->head_wq(), mp);
  l.lock();
  int err = 0;
  while (!reply_arrived_) {
    // M_ERROR and M_HANGUP end the wait with the stream's error.
    err = GetErrLocked(kErrRead | kErrWrite | kErrHup | kErrPlex, false);
    if (err == 0) err = WaitLocked(l, call, deadline);
    if (err != 0) break;
  }
  if (reply_arrived_) err = reply_errno_;
  reply_busy_ = false;
  reply_arrived_ = false;
  wait_.WakeAll();  // the next writer's turn
  return err;
}

// The head a write of n bytes may copy straight into the inbox of: the other end of a pipe with
// nothing pushed on either end (the pipe's meeting point passes data through unchanged), when
// the message the write would make is one plain block of data that no module could see (and no
// reply or delimiter is asked for). Not while allocations are failed on purpose: a test of that
// wants the write's own allocation to fail.
StreamHead* StreamHead::InlinePeer(size_t n) {
  // The plumbing first: with modules pushed, what the write's usual way looks at ends here.
  queue_t* nq = is_pipe_ ? stream_->PipePeerTop() : nullptr;
  if (nq == nullptr || nq->q_qinfo->qi_putp != &StreamHead::HeadRput || nq->q_syncq != nullptr ||
      stream_->head_wq()->q_group != internal::t_claim_group) {
    return nullptr;
  }
  if (n == 0 || n > kInboxInlineMax || so_reply_ || delim_ || internal::AllocFaultsOn()) {
    return nullptr;
  }
  const ssize_t maxblk = maxblk_.load(std::memory_order_relaxed);
  if (maxblk != INFPSZ && maxblk > 0 && static_cast<size_t>(maxblk) < n) return nullptr;
  return static_cast<StreamHead*>(nq->q_ptr);
}

// ---- write(2) ----

// A write that is one packet and need not wait, done without this head's lock: what the locked
// way below would do when it would neither fail, wait nor split the write, as illumos's
// strwrite drops sd_lock before it copies and sends. On a pipe with nothing pushed the bytes go
// straight into the other end's inbox (InlinePeer); otherwise the message is made and sent down.
// Anything else (no bytes, an error or hangup set, a linked stream, SO_REPLY, packet sizes that
// refuse n, flow control, a bad buffer, a full inbox, no memory) returns false having sent
// nothing, and the locked way runs from its start. Not while allocations are failed on purpose:
// a test of that wants the locked way's waits and errors. The state looked at is atomic; a
// change racing the write (an M_ERROR arriving, an M_SETOPTS) orders after it, as it would if it
// had come a moment later.
[[gnu::always_inline]] inline bool StreamHead::WriteDirect(const iovec* iov, int iovcnt,
                                                           size_t n) {
  if (n == 0 || strhup_ || stwrerr_ || linked_ || so_reply_ || internal::AllocFaultsOn()) {
    return false;
  }
  ssize_t rmin, rmax;
  PacketSizes(&rmin, &rmax);
  if (static_cast<ssize_t>(n) > rmax || static_cast<ssize_t>(n) < rmin) return false;
  queue_t* wq = stream_->head_wq();
  if (!bcanputnext(wq, 0) || HasBadBuffer(iov, iovcnt)) return false;
  size_t off = 0;
  if (StreamHead* peer = InlinePeer(n)) {
    Arrival a;
    if (!peer->CopyIntoInbox(iov, iovcnt, off, n, &a)) return false;
    peer->InboxArrived(a);
    return true;
  }
  mblk_t* mp = BuildData(iov, iovcnt, off, n, maxblk_.load(std::memory_order_relaxed),
                         wroff_.load(std::memory_order_relaxed),
                         tail_.load(std::memory_order_relaxed));
  if (mp == nullptr) return false;
  if (delim_.load(std::memory_order_relaxed)) mp->b_flag |= MSGDELIM;
  putnext(wq, mp);
  return true;
}

int StreamHead::Write(const iovec* iov, int iovcnt, int fflag, ssize_t* done) {
  *done = 0;
  size_t total = IovRemaining(iov, iovcnt, 0);
  Call call(this, fflag);
  if (WriteDirect(iov, iovcnt, total)) {
    *done = static_cast<ssize_t>(total);
    return 0;
  }
  std::unique_lock<Mutex> l(mu_);
  // A pipe or FIFO sends nothing for a zero-byte write unless SNDZERO asks for a zero-length
  // message, and says nothing of a reader gone or an error (illumos fifo_write returns first).
  if (total == 0 && (is_pipe_ || fifo_) && !(wropt_ & SNDZERO)) return 0;
  if (strhup_ || stwrerr_ || linked_) {
    int e = WriteableLocked(true, true);
    if (e != 0) return e;
  }
  ssize_t rmin, rmax;
  PacketSizes(&rmin, &rmax);
  if (rmax == 0) return 0;
  if (rmin > 0 && (static_cast<ssize_t>(total) < rmin || static_cast<ssize_t>(total) > rmax)) {
    return ERANGE;
  }
  size_t off = 0;
  size_t resid = total;
  bool first = true;
  do {
    size_t n = std::min(resid, static_cast<size_t>(rmax));
    // Flow control, band 0. After the first packet, a wait that cannot happen (non-blocking),
    // is interrupted or times out ends the write with what was sent; an error the stream
    // reports (a hangup, M_ERROR) fails it even so, as illumos's write(2) does.
    if (int e = WaitWritableLocked(l, call, 0, fflag, /*sigpipe=*/true); e != 0) {
      return first || (e != EAGAIN && e != EINTR && e != ETIME) ? e : 0;
    }
    if (HasBadBuffer(iov, iovcnt)) return first ? EFAULT : 0;
    if (StreamHead* peer = InlinePeer(n)) {
      // Straight into the other end's inbox: no message is made unless something there needs
      // one (head_inbox.cc); what its reader sees is the same.
      if (Arrival a; peer->CopyIntoInbox(iov, iovcnt, off, n, &a)) {
        resid -= n;
        *done += static_cast<ssize_t>(n);
        first = false;
        const bool last = resid == 0;
        if (last) l.unlock();
        peer->InboxArrived(a);
        if (last) return 0;
        continue;
      }
    }
    uint32_t seen = wait_.Generation();
    const iovec* save_iov = iov;
    int save_cnt = iovcnt;
    size_t save_off = off;
    mblk_t* mp = MakeData(iov, iovcnt, off, n);
    if (mp == nullptr) {
      iov = save_iov;
      iovcnt = save_cnt;
      off = save_off;
      if (NonBlocking(fflag)) return first ? EAGAIN : 0;
      int e = WaitForMemoryLocked(l, call, DataAllocSize(n), seen);
      if (e != 0) return first ? e : 0;
      continue;
    }
    if (delim_ && n == resid) mp->b_flag |= MSGDELIM;  // the last packet of the write
    int e = SendDownLocked(l, call, mp, /*last=*/n == resid);
    if (e != 0) return e;  // an SO_REPLY error is the write's result
    resid -= n;
    *done += static_cast<ssize_t>(n);
    first = false;
  } while (resid > 0);
  return 0;
}

// Waits until an allocation of size bytes may succeed (bufcall(9F) from the head).
// seen: the wait generation read before the allocation failed, so a release in between ends
// the wait at once.
int StreamHead::WaitForMemoryLocked(std::unique_lock<Mutex>& l, Call& call, size_t size,
                                    uint32_t seen) {
  bufcall_id_t id = bufcall(
      size, BPRI_MED, [](void* arg) { static_cast<WaitPoint*>(arg)->WakeAll(); }, &wait_);
  if (id == 0) return ENOSR;
  int e = WaitLocked(l, call, absl::InfiniteFuture(), &seen);
  l.unlock();
  unbufcall(id);
  l.lock();
  return e;
}

// ---- read(2) ----

mblk_t* StreamHead::FirstLocked() {
  queue_t* rq = stream_->head_rq();
  for (;;) {
    mblk_t* mp = rq->q_first;
    if (mp == nullptr || DB_TYPE(mp) != M_SIG) return mp;
    // An M_SIG that reached the front is delivered now.
    rmvq(rq, mp);
    int sig = MBLKL(mp) > 0 ? mp->b_rptr[0] : 0;
    freemsg(mp);
    pending_sigs_.push_back(sig);
  }
}

void StreamHead::FlushPendingSigs(std::unique_lock<Mutex>& l) {
  if (pending_sigs_.empty()) return;
  std::vector<int> sigs;
  sigs.swap(pending_sigs_);
  l.unlock();
  for (int sig : sigs) DeliverSig(sig);
  l.lock();
}

mblk_t* StreamHead::TakeFirstLocked() {
  queue_t* rq = stream_->head_rq();
  mblk_t* mp = getq(rq);
  if (mp == mark_) mark_ = nullptr;
  return mp;
}

void StreamHead::PutBackLocked(mblk_t* mp) {
  if (!putbq(stream_->head_rq(), mp)) freemsg(mp);
}

int StreamHead::Read(const iovec* iov, int iovcnt, int fflag, ssize_t* done) {
  *done = 0;
  Call call(this, fflag);
  // Without the hook: bytes in the inbox may be read where they are (ReadInboxLocked); the
  // inbox is spliced below before anything else looks at the read queue.
  mu_.LockWithoutHook();
  std::unique_lock<Mutex> l(mu_, std::adopt_lock);
  // A zero-byte read of a pipe or FIFO returns at once: no message taken, no error reported
  // (illumos fifo_read; a device stream's goes through the checks below, as strread's does).
  size_t resid = IovRemaining(iov, iovcnt, 0);
  if ((is_pipe_ || fifo_) && resid == 0) return 0;
  if (strderr_ || linked_) {
    int e = GetErrLocked(kErrRead | kErrPlex, false);
    if (e != 0) return e;
  }
  size_t off = 0;
  bool copied = false;
  int rc = 0;
  const absl::Time deadline = DeadlineAfter(read_timeout_);
  // M_READ goes down once per wait for data: again only after data came (the head's waits are
  // shared, so a wake-up for an ioctl or a back-enable is no new read).
  bool mread_sent = false;
  uint64_t mread_arrivals = 0;
  if (inbox_.Pending()) {
    if (ReadInboxLocked(iov, iovcnt, off, resid, done, copied)) return 0;
    SpliceInboxLocked();
  }
  for (;;) {
    mblk_t* first = FirstLocked();
    if (first == nullptr) {
      if (strhup_) break;                 // EOF once the queue is drained
      if (copied && !delim_) break;       // byte stream: return what we have
      if (resid == 0) break;              // a zero-byte read never waits
      if (mread_ && (!mread_sent || arrivals_ != mread_arrivals)) {
        mread_sent = true;
        mread_arrivals = arrivals_;
        // Tell the modules below a reader waits, and for how much (M_READ).
        if (mblk_t* rd = allocb(sizeof(ssize_t))) {
          DB_TYPE(rd) = M_READ;
          ssize_t want = static_cast<ssize_t>(resid);
          std::memcpy(rd->b_wptr, &want, sizeof(want));
          rd->b_wptr += sizeof(want);
          l.unlock();
          putnext(stream_->head_wq(), rd);
          l.lock();
          if (stream_->head_rq()->q_first != nullptr) continue;
        }
      }
      if (NonBlocking(fflag)) {
        if (copied) break;
        // Old NDELAY behaviour (SO_NDELON) reads an empty stream as 0 bytes; Linux has one flag
        // for O_NDELAY and O_NONBLOCK, so that is what both do when SO_NDELON is on.
        if (!ndelon_) rc = EAGAIN;
        break;
      }
      int e = WaitLocked(l, call, deadline);
      if (e == 0) e = GetErrLocked(kErrRead | kErrPlex, false);
      if (e != 0) {
        if (!copied) rc = e;
        break;
      }
      continue;
    }
    // A read breaks only at the last marked message (the one I_ATMARK's LASTMARK names): it
    // stops before it when data was read already, else reads it and stops (illumos strread).
    const bool last_mark = first == mark_;
    if (last_mark && copied) break;
    unsigned char type = DB_TYPE(first);
    if (type == M_PASSFP) {
      if ((rdopt_ & RPROTMASK) == RPROTDIS) {
        mblk_t* mp = TakeFirstLocked();
        ReleasePassedFile(mp);
        continue;
      }
      if (!copied) rc = EBADMSG;
      break;
    }
    if (type == M_PROTO || type == M_PCPROTO) {
      int prot = rdopt_ & RPROTMASK;
      if (prot == RPROTDAT) {
        // The whole message reads as data.
      } else if (prot == RPROTDIS) {
        mblk_t* mp = TakeFirstLocked();
        const unsigned char band = mp->b_band;
        const unsigned short flag = mp->b_flag;
        while (mp != nullptr && DB_TYPE(mp) != M_DATA) {
          mblk_t* next = mp->b_cont;
          freeb(mp);
          mp = next;
        }
        if (mp == nullptr) continue;
        // The data part is read below like any M_DATA, with the message's band and marks.
        mp->b_band = band;
        mp->b_flag = flag;
        PutBackLocked(mp);
        if (last_mark) mark_ = mp;
        continue;
      } else {
        if (!copied) rc = EBADMSG;
        break;
      }
    }
    // A data message (or one read as data).
    if (HasBadBuffer(iov, iovcnt) && msgsize(first) > 0) {
      if (!copied) rc = EFAULT;  // the message stays queued
      break;
    }
    mblk_t* mp = TakeFirstLocked();
    const unsigned char mp_band = mp->b_band;
    const unsigned short mp_flag = mp->b_flag;
    bool delimited = delim_ && (mp->b_flag & MSGDELIM);
    bool marked = (mp->b_flag & MSGMARK) != 0;
    size_t bytes = msgsize(mp);
    if (bytes == 0) {
      // A zero-length message is an end of file: consumed when it is the first thing read.
      if (marked || delimited || !copied) {
        freemsg(mp);
      } else {
        PutBackLocked(mp);
      }
      break;
    }
    // Copy from the front, freeing the blocks used up.
    mblk_t* cur = mp;
    while (cur != nullptr && resid > 0) {
      size_t k = ScatterIov(iov, iovcnt, off, cur->b_rptr, std::min(MBLKL(cur), resid));
      cur->b_rptr += k;
      resid -= k;
      *done += static_cast<ssize_t>(k);
      copied = true;
      if (MBLKL(cur) > 0) break;  // the caller's buffer is full
      mblk_t* next = cur->b_cont;
      freeb(cur);
      cur = next;
    }
    while (cur != nullptr && MBLKL(cur) == 0) {
      mblk_t* next = cur->b_cont;
      freeb(cur);
      cur = next;
    }
    if (cur != nullptr) {
      if ((rdopt_ & RMODEMASK) == RMSGD) {
        freemsg(cur);  // message-discard: the unread part goes
      } else {
        if (cur != mp) {
          cur->b_band = mp_band;
          cur->b_flag = mp_flag;
        }
        if (DB_TYPE(cur) != M_DATA) DB_TYPE(cur) = M_DATA;  // read as data (RPROTDAT)
        PutBackLocked(cur);
      }
    }
    (void)FirstLocked();  // M_SIGs now at the front go out with this read
    int mode = rdopt_ & RMODEMASK;
    if (resid == 0 || last_mark || delimited || mode == RMSGD || mode == RMSGN) break;
  }
  FlushPendingSigs(l);
  return rc;
}

// ---- getmsg(2) / getpmsg(2) ----

namespace {
// Whether getmsg would copy part of mp into a strbuf buffer that cannot be the caller's (EFAULT).
bool CopiesIntoBad(const mblk_t* mp, const strbuf* ctl, const strbuf* data) {
  size_t ctl_bytes = 0, data_bytes = 0;
  const mblk_t* b = mp;
  for (; b != nullptr && DB_TYPE(b) != M_DATA; b = b->b_cont) ctl_bytes += MBLKL(b);
  for (; b != nullptr; b = b->b_cont) data_bytes += MBLKL(b);
  auto bad = [](const strbuf* sb, size_t bytes) {
    return sb != nullptr && sb->maxlen > 0 &&
           internal::BadAddress(sb->buf, std::min(bytes, static_cast<size_t>(sb->maxlen)));
  };
  return bad(ctl, ctl_bytes) || bad(data, data_bytes);
}
}  // namespace

int StreamHead::GetMsg(strbuf* ctl, strbuf* data, int* bandp, int* flagsp, int fflag,
                       int* more) {
  *more = 0;
  Call call(this, fflag);
  std::unique_lock<Mutex> l(mu_);
  if (strderr_ || linked_) {
    int e = GetErrLocked(kErrRead | kErrPlex, false);
    if (e != 0) return e;
  }
  int flags = *flagsp;
  int band = bandp != nullptr ? *bandp : 0;
  if (bandp == nullptr) {
    // getmsg: the syscall layer mapped 0 and RS_HIPRI.
    flags = flags == RS_HIPRI ? MSG_HIPRI : MSG_ANY;
  }
  if (flags == MSG_HIPRI) {
    if (band != 0) return EINVAL;
  } else if (flags != MSG_ANY && flags != MSG_BAND) {
    return EINVAL;
  }
  int ctl_max = ctl != nullptr ? ctl->maxlen : -1;
  int data_max = data != nullptr ? data->maxlen : -1;
  const absl::Time deadline = DeadlineAfter(read_timeout_);
  mblk_t* mp = nullptr;
  for (;;) {
    mblk_t* first = FirstLocked();
    bool ok = first != nullptr &&
              (flags == MSG_ANY || queclass_is_hipri(first) ||
               (flags == MSG_BAND && first->b_band >= band));
    if (flags == MSG_HIPRI && first != nullptr && !queclass_is_hipri(first)) ok = false;
    if (ok) {
      if (DB_TYPE(first) == M_PASSFP) {
        FlushPendingSigs(l);
        return EBADMSG;
      }
      if (CopiesIntoBad(first, ctl, data)) {
        FlushPendingSigs(l);
        return EFAULT;  // the message stays queued
      }
      mp = TakeFirstLocked();
      break;
    }
    if (strhup_ || (ctl_max == 0 && data_max == 0)) {
      if (ctl != nullptr) ctl->len = 0;
      if (data != nullptr) data->len = 0;
      *flagsp = 0;
      FlushPendingSigs(l);
      return 0;
    }
    if (NonBlocking(fflag)) {
      FlushPendingSigs(l);
      return EAGAIN;
    }
    FlushPendingSigs(l);
    int e = WaitLocked(l, call, deadline);
    if (e == 0) e = GetErrLocked(kErrRead | kErrPlex, false);
    if (e != 0) return e;
  }
  getmsg_in_progress_ = true;
  const bool hipri = queclass_is_hipri(mp);
  const unsigned char orig_type = DB_TYPE(mp);
  const unsigned char mband = mp->b_band;
  const unsigned short mflag = mp->b_flag;
  // Control part: the leading non-data blocks.
  mblk_t* rest = mp;
  if (ctl_max >= 0 && DB_TYPE(rest) != M_DATA) {
    size_t room = static_cast<size_t>(ctl_max);
    size_t n = 0;
    while (rest != nullptr && DB_TYPE(rest) != M_DATA && room > 0) {
      size_t k = std::min(MBLKL(rest), room);
      std::memcpy(ctl->buf + n, rest->b_rptr, k);
      rest->b_rptr += k;
      n += k;
      room -= k;
      if (MBLKL(rest) == 0) {
        mblk_t* next = rest->b_cont;
        freeb(rest);
        rest = next;
      }
    }
    // Empty control blocks are consumed too.
    while (rest != nullptr && DB_TYPE(rest) != M_DATA && MBLKL(rest) == 0) {
      mblk_t* next = rest->b_cont;
      freeb(rest);
      rest = next;
    }
    ctl->len = static_cast<int>(n);
    if (rest != nullptr && DB_TYPE(rest) != M_DATA) *more |= MORECTL;
  } else {
    // Not asked for (maxlen -1, or no strbuf at all): left queued, and said to be there.
    if (ctl != nullptr) ctl->len = -1;
    if (rest != nullptr && DB_TYPE(rest) != M_DATA) *more |= MORECTL;
  }
  // Data part: the M_DATA blocks after the control blocks.
  mblk_t* ctl_left = nullptr;  // control blocks we keep (maxlen -1 or overflow)
  mblk_t** ctl_tail = &ctl_left;
  while (rest != nullptr && DB_TYPE(rest) != M_DATA) {
    *ctl_tail = rest;
    ctl_tail = &rest->b_cont;
    rest = rest->b_cont;
  }
  *ctl_tail = nullptr;
  bool data_copied = false;
  if (data_max >= 0 && rest != nullptr) {
    size_t room = static_cast<size_t>(data_max);
    size_t n = 0;
    while (rest != nullptr) {
      size_t k = std::min(MBLKL(rest), room);
      if (k > 0) std::memcpy(data->buf + n, rest->b_rptr, k);
      rest->b_rptr += k;
      n += k;
      room -= k;
      if (MBLKL(rest) == 0) {
        mblk_t* next = rest->b_cont;
        freeb(rest);
        rest = next;
      } else {
        break;
      }
    }
    data->len = static_cast<int>(n);
    data_copied = true;
    if (rest != nullptr) *more |= MOREDATA;
  } else {
    if (data != nullptr) data->len = -1;
    if (rest != nullptr) *more |= MOREDATA;
  }
  if (data_copied && rest != nullptr && msgsize(rest) == 0) {
    freemsg(rest);
    rest = nullptr;
    *more &= ~MOREDATA;
  }
  // Put back what is left: control blocks first, then data.
  mblk_t* left = ctl_left;
  if (left != nullptr) {
    mblk_t* t = left;
    while (t->b_cont != nullptr) t = t->b_cont;
    t->b_cont = rest;
  } else {
    left = rest;
  }
  if (left != nullptr) {
    left->b_band = mband;
    left->b_flag = mflag;
    if (hipri) {
      left->b_band = 0;  // still M_PCPROTO if control is left, else ordinary data
    } else if (DB_TYPE(left) == M_PCPROTO) {
      DB_TYPE(left) = orig_type;
    }
    PutBackLocked(left);
  }
  if (bandp == nullptr) {
    *flagsp = hipri ? RS_HIPRI : 0;
  } else {
    *flagsp = hipri ? MSG_HIPRI : MSG_BAND;
    *bandp = hipri ? 0 : mband;
  }
  (void)FirstLocked();
  getmsg_in_progress_ = false;
  // Taking a message away (or the control part of a high-priority one, leaving its data as an
  // ordinary message) may expose a normal one for which no signal was sent yet.
  Events ev;
  queue_t* rq = stream_->head_rq();
  if (rq->q_first != nullptr && !queclass_is_hipri(rq->q_first) &&
      (hipri || rq->q_first->b_band != mband)) {
    ev = ArrivalEvents(rq->q_first);
    if (!hipri) ev.sig &= ~S_INPUT;
  }
  FlushPendingSigs(l);
  l.unlock();
  if (ev.sig != 0 || ev.poll != 0) Raise(ev);
  return 0;
}

// ---- putmsg(2) / putpmsg(2) ----

int StreamHead::PutMsg(const strbuf* ctl, const strbuf* data, int band, int flags, int fflag) {
  Call call(this, fflag);
  std::unique_lock<Mutex> l(mu_);
  if (strhup_ || stwrerr_ || linked_) {
    int e = WriteableLocked(false, false);  // a hangup is ENXIO here
    if (e != 0) return e;
  }
  int ctl_len = ctl != nullptr ? ctl->len : -1;
  int data_len = data != nullptr ? data->len : -1;
  if (band < 0) {
    // putmsg: the syscall layer mapped 0 and RS_HIPRI.
    flags = flags == RS_HIPRI ? MSG_HIPRI : MSG_BAND;
    band = 0;
  }
  if (flags == MSG_HIPRI) {
    if (ctl_len < 0 || band != 0) return EINVAL;
  } else if (flags != MSG_BAND) {
    return EINVAL;
  }
  ssize_t rmin, rmax;
  PacketSizes(&rmin, &rmax);
  if (rmax == 0) return ERANGE;
  if (maxblk_ != INFPSZ && rmax != INFPSZ && rmax < maxblk_) rmax = maxblk_;
  ssize_t size = data_len < 0 ? 0 : data_len;
  if ((data_len >= 0 && size < rmin) || (rmax != INFPSZ && size > rmax) || ctl_len > kStrCtlSz) {
    return ERANGE;
  }
  if (ctl_len < 0 && data_len < 0) {
    // Nothing to send, but flow control is asked first, as illumos strput does: a full stream
    // gives EAGAIN (non-blocking) or waits.
    if (flags == MSG_HIPRI) return 0;
    return WaitWritableLocked(l, call, band, fflag);
  }
  for (;;) {
    // Flow control: a high-priority message never waits.
    if (flags != MSG_HIPRI) {
      if (int e = WaitWritableLocked(l, call, band, fflag); e != 0) return e;
    }
    if ((ctl_len > 0 && internal::BadAddress(ctl->buf, static_cast<size_t>(ctl_len))) ||
        (data_len > 0 && internal::BadAddress(data->buf, static_cast<size_t>(data_len)))) {
      return EFAULT;  // found at the copy, after every check (illumos copyin)
    }
    uint32_t seen = wait_.Generation();
    mblk_t* mp = nullptr;
    if (ctl_len >= 0) {
      mp = allocb(std::max(ctl_len, 64));
      if (mp == nullptr) {
        if (NonBlocking(fflag)) return EAGAIN;
        int e = WaitForMemoryLocked(l, call, static_cast<size_t>(std::max(ctl_len, 64)), seen);
        if (e != 0) return e;
        continue;
      }
      DB_TYPE(mp) = flags == MSG_HIPRI ? M_PCPROTO : M_PROTO;
      if (ctl_len > 0) std::memcpy(mp->b_wptr, ctl->buf, static_cast<size_t>(ctl_len));
      mp->b_wptr += ctl_len;
    }
    if (data_len >= 0) {
      iovec v{data->buf, static_cast<size_t>(data_len)};
      const iovec* vp = &v;
      int cnt = 1;
      size_t off = 0;
      mblk_t* dp = MakeData(vp, cnt, off, static_cast<size_t>(data_len));
      if (dp == nullptr) {
        freemsg(mp);
        if (NonBlocking(fflag)) return EAGAIN;
        int e =
            WaitForMemoryLocked(l, call, DataAllocSize(static_cast<size_t>(data_len)), seen);
        if (e != 0) return e;
        continue;
      }
      if (mp != nullptr) {
        mp->b_cont = dp;
      } else {
        mp = dp;
      }
    }
    mp->b_band = static_cast<unsigned char>(band);
    return SendDownLocked(l, call, mp, /*last=*/true);
  }
}

}  // namespace ustreams
