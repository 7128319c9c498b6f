// The echo driver: what is written to it comes back up its read side.
//
// Theory of operation
// -------------------
// M_DATA and M_PROTO go through the write queue: the put procedure putq()s them, and the write
// service procedure moves them up, each when bcanputnext(RD(q), its band) allows. Queueing every
// normal message (never passing one straight up when the queue looks empty) keeps their order.
//
// Flow control reaches the writer in two steps, as conformance tests expect: the head's read
// queue fills first (messages stay here), then this write queue (the head's canputnext() fails
// and writes block or give EAGAIN). When the head's read queue drains below its low-water mark,
// flow control back-enables the nearest queue behind it with a service procedure — this
// driver's read queue, whose service procedure only enables the write queue again.
//
// Bands are flow-controlled apart: a band full at the head holds back only its own messages,
// not lower bands queued behind it. And a message that may not go is never taken off the queue:
// the service procedure looks along the queue and rmvq()s the first message that may go. The
// canonical getq()/putbq() loop would do neither — it stops at the first blocked message, and
// between its getq() and putbq() the queue's count dips below the high-water mark, letting a
// writer on another thread slip one more message in. Either makes the number of messages a
// stream takes before EAGAIN depend on when the service procedure happened to run; conformance
// tests count them exactly (six 2 KiB messages per band, LfS test-streams 3.5.21).
//
// Looking along the queue needs the list to hold still, so the write queue's list is touched
// only under the instance's mutex: putq() in the put procedure, rmvq() in the service
// procedure, and the flush of M_FLUSH. The mutex is never held across a putnext() or qreply().
// (A perimeter would serialize the same things, but a busy perimeter defers the writer's
// messages to a sync queue that flow control does not count.) putq() enables the service
// procedure only after it found the queue empty; the put procedure enables it itself whenever
// the new message's band may move now.
//
// M_PCPROTO never waits: it goes straight back up (high priority ignores flow control).
// M_FLUSH is turned around as a driver must (FLUSHBAND included). Every M_IOCTL is refused with
// EINVAL (echo knows none), so an unknown I_STR fails the way streamio(4I) says. Anything else
// is freed.
//
// The packet sizes and water marks are those of LfS's echo driver (maxpsz 4096, hiwat 5120,
// lowat 1024), which conformance tests count on: writes split at 4096 bytes, and six 2 KiB
// messages fit in a band before a non-blocking putmsg() gives EAGAIN.
#include <bitset>
#include <cerrno>
#include <mutex>

#include "streams/ddi.h"
#include "streams/drivers/drivers.h"
#include "streams/drivers/take_sendable.h"
#include "streams/queue.h"

namespace ustreams {
namespace {

// Messages the write service procedure moves per run before it yields to other queues.
constexpr int kServiceBudget = 64;

struct EchoInstance {
  std::mutex mu;  // the write queue's message list (see the theory above)
};

std::mutex& ListLock(queue_t* q) { return static_cast<EchoInstance*>(q->q_ptr)->mu; }

int EchoOpen(queue_t* q, dev_t* /*devp*/, int /*oflag*/, int sflag, cred_t* /*crp*/) {
  if (sflag == MODOPEN) return ENXIO;  // a driver, not a module
  if (q->q_ptr != nullptr) return 0;   // another open of a stream already set up
  // Clone opens keep the device number; the domain gives the stream a minor of its own.
  auto* echo = new EchoInstance;
  q->q_ptr = WR(q)->q_ptr = echo;
  qprocson(q);
  return 0;
}

int EchoClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  qprocsoff(q);  // what is still queued is freed with the queues
  delete static_cast<EchoInstance*>(q->q_ptr);
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

// M_FLUSH at the bottom: flush the write side under the list lock, then turn FLUSHR around.
void EchoFlush(queue_t* q, mblk_t* mp) {
  const unsigned char flags = *mp->b_rptr;
  if (flags & FLUSHW) {
    {
      std::lock_guard<std::mutex> l(ListLock(q));
      if ((flags & FLUSHBAND) && MBLKL(mp) >= 2) {
        flushband(q, mp->b_rptr[1], FLUSHDATA);
      } else {
        flushq(q, FLUSHDATA);
      }
    }
    if (!(flags & FLUSHR)) {
      freemsg(mp);
      return;
    }
    if (DB_REF(mp) > 1) {  // never write a shared block
      mblk_t* copy = copymsg(mp);
      freemsg(mp);
      if (copy == nullptr) return;  // flushed; only the turnaround is lost
      mp = copy;
    }
    *mp->b_rptr &= static_cast<unsigned char>(~FLUSHW);
  }
  FlushAsDriver(q, mp);  // FLUSHR only now: flushes the read side, qreply()s (or frees) it
}

int EchoWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_DATA:
    case M_PROTO: {
      const unsigned char band = mp->b_band;
      {
        std::lock_guard<std::mutex> l(ListLock(q));
        putq(q, mp);  // consumes mp
      }
      if (bcanputnext(RD(q), band)) qenable(q);
      break;
    }
    case M_PCPROTO:
      qreply(q, mp);
      break;
    case M_FLUSH:
      EchoFlush(q, mp);
      break;
    case M_IOCTL:
      miocnak(q, mp, 0, EINVAL);
      break;
    default:
      freemsg(mp);  // M_IOCDATA (echo never asks for a copy), M_READ, M_CTL ...
      break;
  }
  return 0;
}


int EchoWsrv(queue_t* q) {
  std::bitset<NBAND> blocked;
  for (int n = 0; n < kServiceBudget; n++) {
    mblk_t* mp = drivers_internal::TakeSendable(q, ListLock(q), &blocked);
    if (mp == nullptr) return 0;
    putnext(RD(q), mp);
  }
  qenable(q);  // budget spent: let other queues run, then go on
  return 0;
}

// Nothing is below a driver, so nothing but the framework calls this; pass it up regardless.
int EchoRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

// Back-enabled when the head's read queue drains: the messages waiting are on the write side.
int EchoRsrv(queue_t* q) {
  qenable(WR(q));
  return 0;
}

module_info echo_minfo{0x6563, "echo", 0, 4096, 5120, 1024};
qinit echo_rinit{EchoRput, EchoRsrv, EchoOpen, EchoClose, nullptr, &echo_minfo, nullptr};
qinit echo_winit{EchoWput, EchoWsrv, nullptr, nullptr, nullptr, &echo_minfo, nullptr};
streamtab echo_tab{&echo_rinit, &echo_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterEcho(Registry& registry) {
  return registry.RegisterDriver("echo", &echo_tab, D_MP, /*clone=*/true);
}

}  // namespace ustreams
