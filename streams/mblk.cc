// Message utilities of the DDI/DKI: sharing, copying and reshaping message blocks.
#include "streams/mblk.h"

#include <cstring>

#include "streams/alloc_internal.h"
#include "streams/debug.h"

namespace ustreams {

using internal::AllocBareMblk;
using internal::AllocShouldFail;

const char* MessageTypeName(unsigned char type) {
  switch (type) {
    case M_DATA: return "M_DATA";
    case M_PROTO: return "M_PROTO";
    case M_MULTIDATA: return "M_MULTIDATA";
    case M_BREAK: return "M_BREAK";
    case M_PASSFP: return "M_PASSFP";
    case M_EVENT: return "M_EVENT";
    case M_SIG: return "M_SIG";
    case M_DELAY: return "M_DELAY";
    case M_CTL: return "M_CTL";
    case M_IOCTL: return "M_IOCTL";
    case M_SETOPTS: return "M_SETOPTS";
    case M_RSE: return "M_RSE";
    case M_IOCACK: return "M_IOCACK";
    case M_IOCNAK: return "M_IOCNAK";
    case M_PCPROTO: return "M_PCPROTO";
    case M_PCSIG: return "M_PCSIG";
    case M_READ: return "M_READ";
    case M_FLUSH: return "M_FLUSH";
    case M_STOP: return "M_STOP";
    case M_START: return "M_START";
    case M_HANGUP: return "M_HANGUP";
    case M_ERROR: return "M_ERROR";
    case M_COPYIN: return "M_COPYIN";
    case M_COPYOUT: return "M_COPYOUT";
    case M_IOCDATA: return "M_IOCDATA";
    case M_PCRSE: return "M_PCRSE";
    case M_STOPI: return "M_STOPI";
    case M_STARTI: return "M_STARTI";
    case M_PCEVENT: return "M_PCEVENT";
    case M_UNHANGUP: return "M_UNHANGUP";
    case M_CMD: return "M_CMD";
    case M_REPLY: return "M_REPLY";
    default: return "M_<unknown>";
  }
}

int datamsg(unsigned char type) {
  return type == M_DATA || type == M_PROTO || type == M_PCPROTO || type == M_DELAY ||
         type == M_MULTIDATA;
}

size_t msgdsize(const mblk_t* mp) {
  size_t n = 0;
  for (; mp != nullptr; mp = mp->b_cont) {
    if (mp->b_datap->db_type == M_DATA) n += MBLKL(mp);
  }
  return n;
}

size_t msgsize(const mblk_t* mp) {
  size_t n = 0;
  for (; mp != nullptr; mp = mp->b_cont) n += MBLKL(mp);
  return n;
}

// Bytes in the leading blocks that share the first block's type.
static size_t xmsgsize(const mblk_t* mp) {
  unsigned char type = mp->b_datap->db_type;
  size_t n = 0;
  for (; mp != nullptr && mp->b_datap->db_type == type; mp = mp->b_cont) n += MBLKL(mp);
  return n;
}

mblk_t* dupb(mblk_t* bp) {
  STREAMS_RULE(!(bp->b_state & internal::kStateFree), "a freed message block is not used",
               "dupb() of a freed block");
  if (AllocShouldFail(0)) return nullptr;
  dblk_t* db = bp->b_datap;
  uint32_t ref = db->db_ref.load(std::memory_order_relaxed);
  do {
    if (ref >= DBLK_REFMAX) return nullptr;
  } while (!db->db_ref.compare_exchange_weak(ref, ref + 1, std::memory_order_acq_rel));
  mblk_t* nbp = AllocBareMblk();
  if (nbp == nullptr) {
    db->db_ref.fetch_sub(1, std::memory_order_acq_rel);
    return nullptr;
  }
  nbp->b_next = nbp->b_prev = nbp->b_cont = nullptr;
  nbp->b_rptr = bp->b_rptr;
  nbp->b_wptr = bp->b_wptr;
  nbp->b_datap = db;
  nbp->b_band = bp->b_band;
  nbp->b_flag = bp->b_flag;
  nbp->b_queue = nullptr;
#if !defined(NDEBUG)
  internal::ChunkOf(db)->shared_hash.store(internal::HashData(db), std::memory_order_relaxed);
#endif
  return nbp;
}

mblk_t* dupmsg(mblk_t* mp) {
  if (mp == nullptr) return nullptr;
  mblk_t* head = dupb(mp);
  if (head == nullptr) return nullptr;
  mblk_t* tail = head;
  for (mp = mp->b_cont; mp != nullptr; mp = mp->b_cont) {
    if ((tail->b_cont = dupb(mp)) == nullptr) {
      freemsg(head);
      return nullptr;
    }
    tail = tail->b_cont;
  }
  return head;
}

mblk_t* copyb(mblk_t* bp) {
  dblk_t* db = bp->b_datap;
  // Same buffer size and same offsets, so headroom and alignment survive the copy.
  size_t size = static_cast<size_t>(db->db_lim - db->db_base);
  mblk_t* nbp = allocb(size);
  if (nbp == nullptr) return nullptr;
  nbp->b_datap->db_type = db->db_type;
  nbp->b_band = bp->b_band;
  nbp->b_flag = bp->b_flag;
  nbp->b_rptr = nbp->b_datap->db_base + (bp->b_rptr - db->db_base);
  size_t len = MBLKL(bp);
  if (len != 0) std::memcpy(nbp->b_rptr, bp->b_rptr, len);
  nbp->b_wptr = nbp->b_rptr + len;
  return nbp;
}

mblk_t* copymsg(mblk_t* mp) {
  if (mp == nullptr) return nullptr;
  mblk_t* head = copyb(mp);
  if (head == nullptr) return nullptr;
  mblk_t* tail = head;
  for (mp = mp->b_cont; mp != nullptr; mp = mp->b_cont) {
    if ((tail->b_cont = copyb(mp)) == nullptr) {
      freemsg(head);
      return nullptr;
    }
    tail = tail->b_cont;
  }
  return head;
}

void linkb(mblk_t* mp, mblk_t* bp) {
  while (mp->b_cont != nullptr) mp = mp->b_cont;
  mp->b_cont = bp;
}

mblk_t* unlinkb(mblk_t* mp) {
  mblk_t* rest = mp->b_cont;
  mp->b_cont = nullptr;
  return rest;
}

mblk_t* rmvb(mblk_t* mp, mblk_t* bp) {
  mblk_t* prev = nullptr;
  for (mblk_t* cur = mp; cur != nullptr; prev = cur, cur = cur->b_cont) {
    if (cur != bp) continue;
    if (prev != nullptr) {
      prev->b_cont = cur->b_cont;
    } else {
      mp = cur->b_cont;
    }
    cur->b_cont = nullptr;
    return mp;
  }
  return reinterpret_cast<mblk_t*>(-1);
}

static bool Aligned(const unsigned char* p) {
  return (reinterpret_cast<uintptr_t>(p) & (sizeof(long) - 1)) == 0;
}

int pullupmsg(mblk_t* mp, ssize_t len) {
  if (mp == nullptr || len < -1) return 0;
  size_t want;
  if (len == -1) {
    if (mp->b_cont == nullptr && Aligned(mp->b_rptr)) return 1;
    want = xmsgsize(mp);
  } else {
    size_t first = MBLKL(mp);
    if (static_cast<size_t>(len) <= first) {
      if (Aligned(mp->b_rptr)) return 1;
      want = first;
    } else if (xmsgsize(mp) < static_cast<size_t>(len)) {
      return 0;
    } else {
      want = static_cast<size_t>(len);
    }
  }
  mblk_t* bp = allocb(want);
  if (bp == nullptr) return 0;
  // bp takes over the old first block and mp heads the new buffer, so callers keep their mp.
  dblk_t* ndb = bp->b_datap;
  ndb->db_type = mp->b_datap->db_type;
  bp->b_rptr = mp->b_rptr;
  bp->b_wptr = mp->b_wptr;
  bp->b_datap = mp->b_datap;
  bp->b_cont = mp->b_cont;
  mp->b_datap = ndb;
  mp->b_rptr = mp->b_wptr = ndb->db_base;
  mp->b_cont = nullptr;
  while (want > 0 && bp != nullptr) {
    size_t n = MBLKL(bp) < want ? MBLKL(bp) : want;
    if (n != 0) std::memcpy(mp->b_wptr, bp->b_rptr, n);
    mp->b_wptr += n;
    bp->b_rptr += n;
    want -= n;
    if (bp->b_rptr != bp->b_wptr) break;
    mblk_t* next = bp->b_cont;
    freeb(bp);
    bp = next;
  }
  mp->b_cont = bp;
  return 1;
}

mblk_t* msgpullup(mblk_t* mp, ssize_t len) {
  if (mp == nullptr || len < -1) return nullptr;
  size_t total = xmsgsize(mp);
  if (len > 0 && static_cast<size_t>(len) > total) return nullptr;
  mblk_t* nmp = allocb(total);
  if (nmp == nullptr) return nullptr;
  nmp->b_datap->db_type = mp->b_datap->db_type;
  nmp->b_flag = mp->b_flag;
  nmp->b_band = mp->b_band;
  unsigned char type = mp->b_datap->db_type;
  for (; mp != nullptr && mp->b_datap->db_type == type; mp = mp->b_cont) {
    size_t n = MBLKL(mp);
    if (n != 0) std::memcpy(nmp->b_wptr, mp->b_rptr, n);
    nmp->b_wptr += n;
  }
  if (mp != nullptr) {
    if ((nmp->b_cont = dupmsg(mp)) == nullptr) {
      freemsg(nmp);
      return nullptr;
    }
  }
  return nmp;
}

int adjmsg(mblk_t* mp, ssize_t len) {
  if (mp == nullptr) return 0;
  bool from_head = len >= 0;
  // Negate in unsigned arithmetic: -len overflows for the most negative ssize_t.
  size_t n = from_head ? static_cast<size_t>(len) : size_t{0} - static_cast<size_t>(len);
  if (xmsgsize(mp) < n) return 0;
  unsigned char type = mp->b_datap->db_type;
  if (from_head) {
    // Trim leading bytes; blocks emptied after the first are unlinked and freed.
    mblk_t* prev = nullptr;
    mblk_t* cur = mp;
    while (n > 0) {
      size_t take = MBLKL(cur) < n ? MBLKL(cur) : n;
      cur->b_rptr += take;
      n -= take;
      if (prev != nullptr && cur->b_rptr == cur->b_wptr) {
        mblk_t* next = cur->b_cont;
        prev->b_cont = next;
        cur->b_cont = nullptr;
        freeb(cur);
        cur = next;
      } else {
        prev = cur;
        cur = cur->b_cont;
      }
    }
    return 1;
  }
  // Trim trailing bytes of the leading same-type run, from its last block backwards.
  while (n > 0) {
    mblk_t* last = nullptr;
    mblk_t* before_last = nullptr;
    for (mblk_t* cur = mp; cur != nullptr && cur->b_datap->db_type == type; cur = cur->b_cont) {
      before_last = last;
      last = cur;
    }
    size_t take = MBLKL(last) < n ? MBLKL(last) : n;
    last->b_wptr -= take;
    n -= take;
    if (last != mp && last->b_rptr == last->b_wptr) {
      before_last->b_cont = last->b_cont;
      last->b_cont = nullptr;
      freeb(last);
    } else if (take == 0) {
      break;  // only the empty first block is left; n is 0 by the size check above
    }
  }
  return 1;
}

}  // namespace ustreams
