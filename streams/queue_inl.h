// Inline parts of queue.h.
#pragma once

#include "streams/queue.h"
#include "streams/queue_pair.h"

namespace ustreams {

namespace internal {
// Bytes and blocks of a message, as q_count and q_mblkcnt account them.
inline void MsgCounts(const mblk_t* mp, size_t* bytes, size_t* blocks) {
  size_t b = 0, n = 0;
  for (; mp != nullptr; mp = mp->b_cont) {
    b += MBLKL(mp);
    n++;
  }
  *bytes = b;
  *blocks = n;
}
}  // namespace internal

inline queue_t* RD(queue_t* q) { return &q->q_pair->rq; }
inline queue_t* WR(queue_t* q) { return &q->q_pair->wq; }
// By address, not QREADR: q_flag changes under q_lock while others navigate.
inline bool IsReadQ(const queue_t* q) { return q == &q->q_pair->rq; }
inline queue_t* OTHERQ(queue_t* q) { return IsReadQ(q) ? &q->q_pair->wq : &q->q_pair->rq; }

}  // namespace ustreams
