// The fifo driver: named FIFOs within the process. "/dev/fifo/N" (and the LfS name
// "/dev/streams/fifo/N") is FIFO number N; "/dev/fifo" is number 0.
//
// Theory of operation
// -------------------
// A FIFO is one object: minor N is not a clone device, so every open of it shares one stream,
// and what any writer writes comes back up that stream's read side to any reader. The write side
// turns M_DATA, M_PROTO and M_PCPROTO around as the echo driver does (see echo.cc, whose list
// lock and service procedure this driver copies): normal messages queue on the write queue and
// the write service procedure moves each up when its band may go, so order, bands and flow
// control are kept and a writer blocks (or gets EAGAIN) once the head's read queue and then this
// write queue are full. The head's read queue gets a pipe end's marks (kPipeHiwat) at the first
// open; the write queue holds kPipeBuf more. Writes of up to 64 KiB are one message (no packet
// size below the head), so those of PIPE_BUF or less are never split or mixed with another
// writer's.
//
// The rules of open(2), read(2), write(2) and close(2) for FIFOs (illumos fifofs) need to know
// who has the FIFO open, and how:
//
//  - Counting. The open routine runs at every open and sees its flags: an O_RDONLY open is a
//    reader, O_WRONLY a writer, O_RDWR both. The close routine runs only at the stream's last
//    close, so the driver registers a FileCloseFn (registry.h): the framework calls it each time
//    an open file of the stream goes (the close(2) of the last descriptor of an open file
//    description), with that file's flags, and the counts go down.
//
//  - Opening. A non-blocking O_WRONLY open without a reader fails with ENXIO. A blocking
//    O_RDONLY open waits for a writer and a blocking O_WRONLY open for a reader (O_RDWR never
//    waits): the opener counts itself first, then waits in qwait_sig_since(), and an open of the
//    other side qenable()s the read queue, whose service procedure completing is the progress
//    that ends the wait. The progress count is read under the FIFO's lock, which the other side
//    takes to arrive, so the wake-up cannot fall between the look and the wait (plain
//    qwait_sig() is only race-free inside a perimeter). An arrival counts even if it has left
//    again by the time the waiter looks (illumos FIFOROCR/FIFOWOCR: arrival counters), so the
//    two sides cannot miss each other. A signal ends the wait with EINTR and the opener uncounts
//    itself. Waiting in an open needs the framework twice: qwait() in an open lets the stream's
//    other opens run (Stream::BeginOpen), and a first open that fails after another joined
//    leaves the stream (and this driver the FIFO) to the other (Stream::OpenDriver).
//
//  - Hangups. While the FIFO lacks a side, its stream head is hung up (M_HANGUP; M_UNHANGUP
//    when both sides are back), which is what the head does for a pipe whose other end closed:
//    write(2) fails with EPIPE and raises SIGPIPE (M_SETOPTS SO_FIFO at the first open tells the
//    head it heads a FIFO, which turns SNDPIPE on), read(2) returns what is queued and then 0,
//    and poll(2) reports POLLHUP. "No reader" (writers remain, the last reader closed) hangs up
//    at once, whatever is queued: writers waiting under flow control wake with EPIPE, and the
//    data stays for a reader that may come. "No writer" hangs up once the last writer has
//    closed (illumos FIFOCLOSE), behind what it wrote, so a reader reads all of it before the
//    end of file. A FIFO that never had a writer is not hung up: a non-blocking reader reads
//    EAGAIN there, not the 0 of POSIX (illumos's STREAMS-mode FIFO says EAGAIN too), because a
//    hung-up head also tells poll(2) POLLHUP, and a reader polling a FIFO nobody has written to
//    yet must not spin (Linux and illumos report no hangup then either).
//
//    Only the write service procedure sends M_HANGUP and M_UNHANGUP (ShowState): it alone moves
//    the data up, one run at a time, so they arrive in order with the data and with each other,
//    and no lock is held as they go up. Opens and closes change the counts and qenable() it, so
//    a hangup follows an open or a close by a trip through the scheduler (a deterministic test
//    settles before it looks). The head heals a hangup at every reopen, before the open routine
//    runs (StreamHead::Reopen); each reopen therefore has the head told the state again.
//
//  - Last close. When the last open file goes, what is still queued is discarded (nobody can
//    read it), so the stream's last close does not wait for the write queue to drain.
//
// Other messages: M_FLUSH flushes the whole FIFO (write queue and the head's read queue) for
// FLUSHR or FLUSHW alike (streamio(4I): "on a FIFO, flushes both"); M_IOCTL is refused with
// EINVAL; anything else is freed. Not as an illumos FIFO (whose stream has no driver): I_LIST
// counts the driver, I_FIND finds "fifo", I_ANCHOR and I_LINK check it as any device, and
// putmsg(2) to a FIFO without a reader fails with ENXIO (the hangup's error), not EPIPE.
#include <fcntl.h>

#include <bitset>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "streams/ddi.h"
#include "streams/drivers/drivers.h"
#include "streams/drivers/take_sendable.h"
#include "streams/head.h"
#include "streams/queue.h"

namespace ustreams {
namespace {

// Messages the write service procedure moves per run before it yields to other queues.
constexpr int kServiceBudget = 64;

// One FIFO, shared by every open of its minor.
struct Fifo {
  std::mutex mu;  // not absl::Mutex: the system Abseil is invisible to ThreadSanitizer
  int readers ABSL_GUARDED_BY(mu) = 0;  // open files that read, and opens for reading under way
  int writers ABSL_GUARDED_BY(mu) = 0;  // likewise for writing
  int opens_seen ABSL_GUARDED_BY(mu) = 0;  // opens begun over the stream's life (failed too)
  // Opens for reading (writing) so far: what a waiting writer's (reader's) open looks at.
  uint64_t reader_arrivals ABSL_GUARDED_BY(mu) = 0;
  uint64_t writer_arrivals ABSL_GUARDED_BY(mu) = 0;
  // The last writer closed and none has opened since (illumos FIFOCLOSE).
  bool writer_left ABSL_GUARDED_BY(mu) = false;
  // What the head was last told (M_HANGUP: true), by the write service procedure alone.
  bool hup_shown ABSL_GUARDED_BY(mu) = false;
  // A reopen healed the head: tell it the state again, whatever it was told before.
  bool resend ABSL_GUARDED_BY(mu) = false;
  // The write queue's message list (echo.cc): putq() in the put procedure, rmvq() in the
  // service procedure, flushes.
  std::mutex list_mu;
};

Fifo* FifoOf(queue_t* q) { return static_cast<Fifo*>(q->q_ptr); }

struct Access {
  bool reads;
  bool writes;
};
Access AccessOf(int flags) {
  const int mode = flags & O_ACCMODE;
  return Access{mode != O_WRONLY, mode != O_RDONLY};
}

// A blocking open for one side waits for the other side (illumos fifo_open). An arrival since
// the wait began is enough, even if it has closed again. 0, or EINTR.
int WaitForOtherSide(queue_t* rq, Fifo* f, Access a, std::unique_lock<std::mutex>& l) {
  if (a.reads && a.writes) return 0;
  const uint64_t seen = a.reads ? f->writer_arrivals : f->reader_arrivals;
  auto here = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(f->mu) {
    return a.reads ? f->writers > 0 || f->writer_arrivals != seen
                   : f->readers > 0 || f->reader_arrivals != seen;
  };
  while (!here()) {
    // The progress count is read under the lock the other side's open takes to arrive, and
    // its qenable() comes after: the wake-up cannot fall between our look and our wait.
    const uint64_t progress = qwait_progress(rq);
    l.unlock();
    const bool woken = qwait_sig_since(rq, progress);
    l.lock();
    if (!woken && !here()) return EINTR;
  }
  return 0;
}

// The head heads a FIFO (SO_FIFO) and its read queue holds what a pipe end holds.
mblk_t* FifoOptions() {
  mblk_t* mp = allocb(sizeof(stroptions));
  if (mp == nullptr) return nullptr;
  DB_TYPE(mp) = M_SETOPTS;
  stroptions so{};
  so.so_flags = SO_FIFO | SO_HIWAT | SO_LOWAT;
  so.so_hiwat = kPipeHiwat;
  so.so_lowat = kPipeLowat;
  std::memcpy(mp->b_wptr, &so, sizeof(so));
  mp->b_wptr += sizeof(so);
  return mp;
}

// The state changed, or the head was healed: the write service procedure shows the head.
void StateChanged(queue_t* rq) { qenable(WR(rq)); }

int FifoOpen(queue_t* q, dev_t* /*devp*/, int oflag, int sflag, cred_t* /*crp*/) {
  // Neither a module nor a clone: a FIFO is found by its name, and every open shares it.
  if (sflag != 0) return ENXIO;
  const bool first = q->q_ptr == nullptr;
  if (first) {
    mblk_t* so = FifoOptions();
    if (so == nullptr) return ENOSR;
    q->q_ptr = WR(q)->q_ptr = new Fifo;
    qprocson(q);  // the M_SETOPTS needs the way up; waiting opens need the service procedure
    putnext(q, so);
  }
  Fifo* f = FifoOf(q);
  const Access a = AccessOf(oflag);
  const bool blocking = !(oflag & (O_NONBLOCK | O_NDELAY));
  std::unique_lock<std::mutex> l(f->mu);
  f->opens_seen++;
  f->resend = f->resend || !first;  // the head healed a hangup before calling us (Reopen)
  int err = 0;
  if (a.writes && !a.reads && !blocking && f->readers == 0) {
    err = ENXIO;
  } else {
    const bool writer_left = f->writer_left;
    if (a.reads) {
      f->readers++;
      f->reader_arrivals++;
    }
    if (a.writes) {
      f->writers++;
      f->writer_arrivals++;
      f->writer_left = false;
    }
    qenable(q);  // progress for opens waiting for this side
    StateChanged(q);
    if (blocking) err = WaitForOtherSide(q, f, a, l);
    if (err != 0) {
      if (a.reads) f->readers--;
      if (a.writes && --f->writers == 0) f->writer_left = writer_left;  // it never came
    }
  }
  if (err == 0) return 0;
  // The first open takes the FIFO with it if no other open has begun (the stream goes too);
  // once another has, the FIFO is theirs (Stream::OpenDriver keeps the stream for them).
  const bool last = first && f->opens_seen == 1;
  l.unlock();
  if (last) {
    qprocsoff(q);
    delete f;
    q->q_ptr = WR(q)->q_ptr = nullptr;
  } else {
    StateChanged(q);
  }
  return err;
}

// An open file of the FIFO went (FileCloseFn).
void FifoFileClose(queue_t* q, int fflag, cred_t* /*crp*/) {
  Fifo* f = FifoOf(q);
  if (f == nullptr) return;
  const Access a = AccessOf(fflag);
  bool none;
  {
    std::lock_guard<std::mutex> l(f->mu);
    if (a.reads) f->readers--;
    if (a.writes && --f->writers == 0) f->writer_left = true;
    none = f->readers == 0 && f->writers == 0;
  }
  if (none) {
    // The last open file: what is queued can never be read. The stream's last close follows
    // (unless a multiplexor link holds it) and need not wait for it to drain.
    std::lock_guard<std::mutex> l(f->list_mu);
    flushq(WR(q), FLUSHALL);
    return;
  }
  StateChanged(q);
}

int FifoClose(queue_t* q, int /*oflag*/, cred_t* /*crp*/) {
  qprocsoff(q);  // what is still queued is freed with the queues
  delete FifoOf(q);
  q->q_ptr = WR(q)->q_ptr = nullptr;
  return 0;
}

// M_FLUSH: FLUSHR and FLUSHW both mean the FIFO's data, which waits on this write queue and at
// the head's read queue. Flush both (FLUSHBAND respected) and send FLUSHR up for the head.
void FifoFlush(queue_t* q, mblk_t* mp) {
  if (MBLKL(mp) < 1 || !(*mp->b_rptr & FLUSHRW)) {
    freemsg(mp);
    return;
  }
  const bool by_band = (*mp->b_rptr & FLUSHBAND) && MBLKL(mp) >= 2;
  {
    std::lock_guard<std::mutex> l(FifoOf(q)->list_mu);
    if (by_band) {
      flushband(q, mp->b_rptr[1], FLUSHDATA);
    } else {
      flushq(q, FLUSHDATA);
    }
  }
  if (DB_REF(mp) > 1) {  // the flag byte changes: never in a shared block
    mblk_t* copy = copymsg(mp);
    freemsg(mp);
    mp = copy;
  }
  if (mp != nullptr) {
    *mp->b_rptr = static_cast<unsigned char>((*mp->b_rptr & FLUSHBAND) | FLUSHR);
    FlushAsDriver(q, mp);  // flushes the (empty) read queue, turns FLUSHR around to the head
  }
  StateChanged(RD(q));  // an end of file that waited for the data may go now
}

int FifoWput(queue_t* q, mblk_t* mp) {
  if (FifoOf(q) == nullptr) {  // a first open that failed left a pair without a FIFO
    freemsg(mp);
    return 0;
  }
  switch (DB_TYPE(mp)) {
    case M_DATA:
    case M_PROTO: {
      const unsigned char band = mp->b_band;
      {
        std::lock_guard<std::mutex> l(FifoOf(q)->list_mu);
        if (!putq(q, mp)) freemsg(mp);  // no memory for a band structure: dropped
      }
      if (bcanputnext(RD(q), band)) qenable(q);
      break;
    }
    case M_PCPROTO:
      qreply(q, mp);  // high priority never waits
      break;
    case M_FLUSH:
      FifoFlush(q, mp);
      break;
    case M_IOCTL:
      miocnak(q, mp, 0, EINVAL);
      break;
    default:
      freemsg(mp);
      break;
  }
  return 0;
}


// Shows the head whether the FIFO lacks a side: M_HANGUP while it has no reader (writers
// remain), or no writer (once one has come and gone, and what it wrote has gone up: the end of
// file comes after the data); M_UNHANGUP when that ends. Only the write service procedure sends
// them, one run at a time, so they reach the head in order with the data and with each other,
// and no lock is held as they go up.
void ShowState(queue_t* wq) {
  Fifo* f = FifoOf(wq);
  unsigned char type;
  bool peer_gone;
  {
    std::lock_guard<std::mutex> l(f->mu);
    bool drained;
    {
      std::lock_guard<std::mutex> ll(f->list_mu);
      drained = wq->q_first == nullptr;
    }
    const bool no_reader = f->readers == 0 && f->writers > 0;
    const bool no_writer = f->writers == 0 && f->readers > 0 && f->writer_left;
    const bool hup = no_reader || (no_writer && drained);
    if (hup == f->hup_shown && !f->resend) return;
    f->hup_shown = hup;
    f->resend = false;
    type = hup ? M_HANGUP : M_UNHANGUP;
    peer_gone = no_reader;
  }
  mblk_t* mp = allocb(0);
  if (mp == nullptr) return;  // no memory: the head keeps its state until the next change
  DB_TYPE(mp) = type;
  if (type == M_HANGUP && peer_gone) mp->b_flag |= MSGPEERGONE;  // writers get EPIPE
  putnext(RD(wq), mp);
}

int FifoWsrv(queue_t* q) {
  if (FifoOf(q) == nullptr) return 0;
  // A writer back first: its data must not arrive at a head that still says end of file.
  ShowState(q);
  std::bitset<NBAND> blocked;
  for (int n = 0; n < kServiceBudget; n++) {
    mblk_t* mp = drivers_internal::TakeSendable(q, FifoOf(q)->list_mu, &blocked);
    if (mp == nullptr) {
      ShowState(q);  // an end of file goes up behind the data
      return 0;
    }
    putnext(RD(q), mp);
  }
  qenable(q);  // budget spent: let other queues run, then go on
  return 0;
}

// Nothing is below a driver; pass up whatever the framework hands us.
int FifoRput(queue_t* q, mblk_t* mp) {
  putnext(q, mp);
  return 0;
}

// Back-enabled when the head's read queue drains: the data waits on the write side. Its running
// is also the progress that ends an open's wait for the other side (qwait_sig_since).
int FifoRsrv(queue_t* q) {
  if (FifoOf(q) != nullptr) qenable(WR(q));
  return 0;
}

module_info fifo_minfo{0x6669, "fifo", 0, INFPSZ, kPipeBuf, 1024};
qinit fifo_rinit{FifoRput, FifoRsrv, FifoOpen, FifoClose, nullptr, &fifo_minfo, nullptr};
qinit fifo_winit{FifoWput, FifoWsrv, nullptr, nullptr, nullptr, &fifo_minfo, nullptr};
streamtab fifo_tab{&fifo_rinit, &fifo_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterFifo(Domain& d) {
  absl::Status s =
      d.registry().RegisterDriver("fifo", &fifo_tab, D_MP, /*clone=*/false, &FifoFileClose);
  if (!s.ok()) return s;
  d.AddDeviceAlias("/dev/streams/fifo/", "/dev/fifo/");
  return absl::OkStatus();
}

}  // namespace ustreams
