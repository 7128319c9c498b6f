// Inline parts of queue.h.
#pragma once

#include "streams/queue.h"
#include "streams/queue_pair.h"

namespace ustreams {

inline queue_t* RD(queue_t* q) { return &q->q_pair->rq; }
inline queue_t* WR(queue_t* q) { return &q->q_pair->wq; }
inline queue_t* OTHERQ(queue_t* q) {
  return (q->q_flag & QREADR) ? &q->q_pair->wq : &q->q_pair->rq;
}

}  // namespace ustreams
