// Theory of operation
// -------------------
// Write side. Messages that are not turned around (M_IOCTL, M_CTL, M_FLUSH after flushing ...)
// pass straight down from the put procedure. M_PCPROTO is turned around at once: high priority
// never waits and ignores flow control. M_DATA and M_PROTO are queued on the write queue and the
// write service procedure turns them around while the queue above the module's read side can take
// their band (bcanputnext(RD(q), band)); when it cannot, the message goes back (putbq) and waits.
// Because the module is D_MP, put and service may run at once on different threads, so the put
// procedure never takes the shortcut of replying directly while nothing is queued: the service
// procedure alone turns normal messages around, which keeps their order within each band.
//
// Waking the write side. When the head's read queue drains, flow control back-enables the nearest
// queue *behind it on the read side* that has a service procedure (q_nbsrv) — never a write
// queue. The read side therefore has a service procedure too: it is that queue, and each time it
// runs it re-enables the write service procedure, so echoes held back by a full reader resume.
//
// Read side. A read service procedure changes what canput() sees from below: the nearest queue
// ahead of the driver with a service procedure is now this module's read queue, so it must hold
// messages itself while the reader above is full, or the driver would never feel the head's flow
// control. So normal messages coming up are queued and passed on by the read service procedure
// under bcanputnext; high-priority ones pass at once. Again no direct-put shortcut, for order.
//
// M_FLUSH: FlushAsModule on both sides, so FLUSHW discards echoes not yet turned around and
// FLUSHR discards what waits on the read side, band by band when FLUSHBAND says so.
#include "modules/echo/echo.h"

#include <cerrno>

#include "streams/mblk.h"
#include "streams/queue.h"

namespace ustreams {
namespace {

bool IsTurnedAround(unsigned char type) {
  return type == M_DATA || type == M_PROTO || type == M_PCPROTO;
}

int EchoWput(queue_t* q, mblk_t* mp) {
  unsigned char type = DB_TYPE(mp);
  if (type == M_FLUSH) {
    FlushAsModule(q, mp);  // consumes mp
  } else if (!IsTurnedAround(type)) {
    putnext(q, mp);  // ioctls and the rest belong to the modules and driver below
  } else if (queclass_is_hipri(mp)) {
    qreply(q, mp);  // M_PCPROTO: consumes mp, goes up from our read side now
  } else {
    putq(q, mp);  // turned around by EchoWsrv, under the reader's flow control
  }
  return 0;
}

int EchoWsrv(queue_t* q) {
  while (mblk_t* mp = getq(q)) {
    // Only M_DATA and M_PROTO are ever queued here, so the test is for their band upstream.
    if (!bcanputnext(RD(q), mp->b_band)) {
      putbq(q, mp);  // EchoRsrv enables us again once the reader above drains
      return 0;
    }
    qreply(q, mp);  // consumes mp
  }
  return 0;
}

int EchoRput(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);  // consumes mp
  } else if (queclass_is_hipri(mp)) {
    putnext(q, mp);
  } else {
    putq(q, mp);
  }
  return 0;
}

int EchoRsrv(queue_t* q) {
  while (mblk_t* mp = getq(q)) {
    if (!queclass_is_hipri(mp) && !bcanputnext(q, mp->b_band)) {
      putbq(q, mp);  // back-enabled when the queue above drains
      return 0;
    }
    putnext(q, mp);
  }
  // We run when the reader above has room again (a back-enable), which is also what echoes held
  // on the write side wait for. Enabling an empty write queue costs one trivial service run;
  // looking at it first would need its lock for the same answer.
  qenable(WR(q));
  return 0;
}

int EchoOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;  // a module, never a driver
  qprocson(q);
  return 0;
}

int EchoClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);  // the framework frees what is still queued with the pair
  return 0;
}

// Declarative module description. constinit: built by the compiler, no start-up code runs; not
// const only because qinit and streamtab hold non-const pointers (DDI layout).
constinit module_info echo_minfo{kEchoModuleId, kEchoModuleName, 0, INFPSZ, kEchoHiwat, kEchoLowat};
constinit qinit echo_rinit{EchoRput, EchoRsrv, EchoOpen, EchoClose, nullptr, &echo_minfo, nullptr};
constinit qinit echo_winit{EchoWput, EchoWsrv, nullptr, nullptr, nullptr, &echo_minfo, nullptr};
constinit streamtab echo_tab{&echo_rinit, &echo_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterEchoModule(Registry& registry) {
  // D_MP: the module keeps no state of its own; the queues' locks are all it needs.
  return registry.RegisterModule(kEchoModuleName, &echo_tab, D_MP);
}

}  // namespace ustreams
