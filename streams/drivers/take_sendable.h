// What echo and fifo share: drivers that turn their write side around, up their own read side,
// with bands and flow control kept. Private to streams/drivers.
#pragma once

#include <bitset>
#include <mutex>

#include "streams/queue.h"

namespace ustreams::drivers_internal {

// Takes the first message of write queue q whose band may go up the read side now, or returns
// nullptr. Bands found blocked are remembered in *blocked for the rest of the service run (their
// draining back-enables q). list_mu guards q's message list against the put procedure.
inline mblk_t* TakeSendable(queue_t* q, std::mutex& list_mu, std::bitset<NBAND>* blocked) {
  std::lock_guard<std::mutex> l(list_mu);
  for (mblk_t* mp = q->q_first; mp != nullptr; mp = mp->b_next) {
    if ((*blocked)[mp->b_band]) continue;
    if (bcanputnext(RD(q), mp->b_band)) {
      rmvq(q, mp);
      return mp;
    }
    blocked->set(mp->b_band);
  }
  return nullptr;
}

}  // namespace ustreams::drivers_internal
