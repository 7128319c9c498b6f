// The echo driver: what is written to it comes back up its read side.
//
// Theory of operation
// -------------------
// M_DATA and M_PROTO go through the write queue: the put procedure only putq()s them, and the
// write service procedure moves them up while bcanputnext(RD(q), band) allows, putbq()ing those
// that may not go. Bands are flow-controlled apart: a band that is full at the head holds back
// only its own messages, not the lower bands queued behind it (the canonical "putbq and return"
// would, and then how many messages a band accepts would depend on when the service procedure
// happened to run). Queueing every normal message (never passing one straight up when
// the queue looks empty) is what keeps their order: this driver is D_MP, so a put and the
// service procedure can run at once, and a message passed directly could overtake one the
// service procedure has just taken off the queue. Flow control therefore reaches the writer in
// two steps, as conformance tests expect: the head's read queue fills first (the service
// procedure stops), then this write queue (the head's canputnext() fails and writes block or
// give EAGAIN). When the head's read queue drains below its low-water mark, flow control
// back-enables the nearest queue behind it with a service procedure — this driver's read queue,
// whose service procedure only enables the write queue again.
//
// M_PCPROTO never waits: it goes straight back up (high priority ignores flow control).
// M_FLUSH is turned around as a driver must (FlushAsDriver, FLUSHBAND included). Every M_IOCTL
// is refused with EINVAL (echo knows none), so an unknown I_STR fails the way streamio(4I)
// says. Anything else is freed.
//
// The packet sizes and water marks are those of LfS's echo driver (maxpsz 4096, hiwat 5120,
// lowat 1024), which conformance tests count on: writes split at 4096 bytes, and six 2 KiB
// messages fit in a band before a non-blocking putmsg() gives EAGAIN.
#include <bitset>
#include <cerrno>

#include "streams/ddi.h"
#include "streams/drivers/drivers.h"
#include "streams/queue.h"

namespace ustreams {
namespace {

// Messages the write service procedure moves per run before it yields to other queues.
constexpr int kServiceBudget = 64;

int EchoOpen(queue_t* q, dev_t* /*devp*/, int /*oflag*/, int sflag, cred_t* /*crp*/) {
  if (sflag == MODOPEN) return ENXIO;  // a driver, not a module
  // Clone opens keep the device number; the domain gives the stream a minor of its own.
  qprocson(q);
  return 0;
}

int EchoClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  qprocsoff(q);  // what is still queued is freed with the queues
  return 0;
}

int EchoWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_DATA:
    case M_PROTO:
      putq(q, mp);  // consumes mp; the service procedure sends it up in order
      break;
    case M_PCPROTO:
      qreply(q, mp);
      break;
    case M_FLUSH:
      FlushAsDriver(q, mp);
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
  std::bitset<NBAND> blocked;  // bands found flow-controlled at the head during this run
  mblk_t* held = nullptr;      // their messages, newest first (linked by b_next)
  int moved = 0;
  while (moved < kServiceBudget) {
    // With messages held, stop before a getq() that would find the queue empty: that sets
    // QWANTR, and the putbq()s below would then enable this procedure again at once, for ever.
    intptr_t first = 0;
    if (held != nullptr && (strqget(q, QFIRST, 0, &first) != 0 || first == 0)) break;
    mblk_t* mp = getq(q);
    if (mp == nullptr) break;
    if (!blocked[mp->b_band] && bcanputnext(RD(q), mp->b_band)) {
      putnext(RD(q), mp);
      moved++;
      continue;
    }
    // Once a band is blocked, its later messages wait too (order within a band is kept);
    // lower bands behind it go on. bcanputnext marked the head's band: its draining
    // back-enables this queue through the read side.
    blocked.set(mp->b_band);
    mp->b_next = held;
    held = mp;
  }
  // Back to the front of their bands, newest first, which restores their order.
  while (held != nullptr) {
    mblk_t* next = held->b_next;
    held->b_next = nullptr;
    putbq(q, held);
    held = next;
  }
  if (moved == kServiceBudget) qenable(q);  // budget spent: let other queues run, then go on
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
