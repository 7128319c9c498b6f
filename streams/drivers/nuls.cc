// The nuls driver: a null device made of a stream. Everything written is discarded; every read()
// sees end of file.
//
// What "end of file" means for a stream head: read(2) returns 0 when a zero-length message is the
// first thing it reads, or when the stream is hung up and its read queue is empty. Three ways to
// get there, and why this driver takes the last:
//  - M_HANGUP at open: reads return 0, but the head also fails every write (EIO, ENXIO from
//    putmsg) — wrong for a null device, whose writes must succeed.
//  - One zero-length M_DATA at open (LfS nuls sends them only as an M_READ reply): the first
//    read returns 0, the next one blocks or gives EAGAIN. Not end of file for good.
//  - M_SETOPTS SO_MREADON at open, and a zero-length M_DATA in answer to each M_READ: a head
//    with SO_MREADON sends an M_READ down whenever a read(2) finds its queue empty, before it
//    would block or give EAGAIN; the reply arrives while the read is still looking, so every
//    read — blocking or not — returns 0, and nothing piles up at the head between reads.
// getmsg(2) sends no M_READ, so getmsg on nuls finds nothing (EAGAIN, or blocks): there is no
// message to return, which is the honest answer for a device that produces none. poll(2)
// reports POLLOUT only, for the same reason.
//
// M_FLUSH is turned around as a driver must, M_IOCTL refused with EINVAL (nuls knows none).
#include <cerrno>
#include <cstring>

#include "streams/ddi.h"
#include "streams/drivers/drivers.h"
#include "streams/queue.h"

namespace ustreams {
namespace {

int NulsOpen(queue_t* q, dev_t* /*devp*/, int /*oflag*/, int sflag, cred_t* /*crp*/) {
  if (sflag == MODOPEN) return ENXIO;
  mblk_t* mp = allocb(sizeof(stroptions));
  if (mp == nullptr) return ENOSR;
  qprocson(q);  // the M_SETOPTS needs the way up
  DB_TYPE(mp) = M_SETOPTS;
  stroptions so{};
  so.so_flags = SO_MREADON;
  std::memcpy(mp->b_wptr, &so, sizeof(so));
  mp->b_wptr += sizeof(so);
  putnext(q, mp);
  return 0;
}

int NulsClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  qprocsoff(q);
  return 0;
}

int NulsWput(queue_t* q, mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_FLUSH:
      FlushAsDriver(q, mp);
      break;
    case M_IOCTL:
      miocnak(q, mp, 0, EINVAL);
      break;
    case M_READ: {
      // A reader found the head empty: end of file. Reuse the M_READ's block when we own it.
      mblk_t* eof = DB_REF(mp) == 1 ? mp : allocb(0);
      if (eof != mp) freemsg(mp);
      if (eof == nullptr) break;  // the reader waits or gives EAGAIN; it asks again next time
      freemsg(eof->b_cont);
      eof->b_cont = nullptr;
      DB_TYPE(eof) = M_DATA;
      eof->b_rptr = eof->b_wptr = eof->b_datap->db_base;
      eof->b_band = 0;
      eof->b_flag = 0;
      qreply(q, eof);
      break;
    }
    default:
      freemsg(mp);  // M_DATA, M_PROTO, M_PCPROTO: discarded, which is the point
      break;
  }
  return 0;
}

// Nothing is below a driver; pass up whatever the framework might put here.
int NulsRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

module_info nuls_minfo{0x6e75, "nuls", 0, INFPSZ, 0, 0};
qinit nuls_rinit{NulsRput, nullptr, NulsOpen, NulsClose, nullptr, &nuls_minfo, nullptr};
qinit nuls_winit{NulsWput, nullptr, nullptr, nullptr, nullptr, &nuls_minfo, nullptr};
streamtab nuls_tab{&nuls_rinit, &nuls_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterNuls(Registry& registry) {
  return registry.RegisterDriver("nuls", &nuls_tab, D_MP, /*clone=*/true);
}

}  // namespace ustreams
