// Queues, flow control and the module interface of the DDI/DKI: queue_t, qinit, module_info,
// streamtab, qband, and putq(9F), getq(9F), canputnext(9F), qenable(9F) ... in namespace ustreams.
//
// Theory of operation (flow control)
// ----------------------------------
// A queue's q_count holds the bytes of its band-0 and high-priority messages (MBLKL summed over
// each message's blocks); q_mblkcnt counts its blocks, so floods of empty messages are flow
// controlled too. putq() sets QFULL when either reaches q_hiwat; getq()/rmvq()/flushq() clear it
// when both are below q_hiwat. canput() looks at the nearest queue at or ahead of its argument
// that has a service procedure (q_nfsrv); if that queue is full it sets QWANTW and fails. When a
// queue whose QWANTW is set drains below q_lowat (or q_lowat is 0), the nearest queue behind it
// with a service procedure (q_nbsrv) is enabled and marked QBACK: the "back-enable" that wakes a
// writer held up by flow control. Bands 1..255 keep the same accounting in qband structures,
// created when a band is first used. High-priority messages (type >= QPCTL) go ahead of all others,
// are never held by flow control, and always enable the service procedure.
//
// Locking: each queue has its own lock (q_lock) over its list, counts and flags; put procedures
// are called with no framework lock held. Perimeters (D_MTQPAIR, D_MTPERQ, D_MTPERMOD) are
// described in perimeter.h.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <mutex>

#include "absl/time/time.h"
#include "streams/mblk.h"
#include "streams/mutex.h"
#include "streams/stropts.h"

namespace ustreams {

class Stream;
namespace internal {
class ClaimGroup;
class SyncQ;
struct QueuePair;
}  // namespace internal

struct queue_t;

// Credentials passed to open and close (the subset this library knows).
struct cred_t {
  uid_t cr_uid;
  gid_t cr_gid;
};

struct module_info {
  unsigned short mi_idnum;
  const char* mi_idname;
  ssize_t mi_minpsz;
  ssize_t mi_maxpsz;  // INFPSZ for no limit
  size_t mi_hiwat;
  size_t mi_lowat;
};
inline constexpr ssize_t INFPSZ = -1;

struct module_stat {
  long ms_pcnt;
  long ms_scnt;
  long ms_ocnt;
  long ms_ccnt;
  long ms_acnt;
  void* ms_xptr;
  short ms_xsize;
  unsigned int ms_flags;
};

struct qinit {
  int (*qi_putp)(queue_t* q, mblk_t* mp);
  int (*qi_srvp)(queue_t* q);
  int (*qi_qopen)(queue_t* q, dev_t* devp, int oflag, int sflag, cred_t* crp);
  int (*qi_qclose)(queue_t* q, int oflag, cred_t* crp);
  int (*qi_qadmin)();
  module_info* qi_minfo;
  module_stat* qi_mstat;
};

struct streamtab {
  qinit* st_rdinit;
  qinit* st_wrinit;
  qinit* st_muxrinit;
  qinit* st_muxwinit;
};

// open sflag values.
inline constexpr int MODOPEN = 0x1;
inline constexpr int CLONEOPEN = 0x2;

// MT safety levels (sys/conf.h cb_flag / fmodsw f_flag).
inline constexpr int D_NEW = 0x0000;
inline constexpr int D_MTSAFE = 0x0020;
inline constexpr int D_MP = D_MTSAFE;
inline constexpr int D_MTPERMOD = 0x0040;
inline constexpr int D_MTQPAIR = 0x0100;
inline constexpr int D_MTPERQ = 0x0200;

struct qband {
  qband* qb_next;
  size_t qb_count;
  mblk_t* qb_first;
  mblk_t* qb_last;
  size_t qb_hiwat;
  size_t qb_lowat;
  unsigned int qb_flag;
  size_t qb_mblkcnt;
};
using qband_t = qband;
inline constexpr unsigned int QB_FULL = 0x01;
inline constexpr unsigned int QB_WANTW = 0x02;
inline constexpr unsigned int QB_BACK = 0x04;
inline constexpr int NBAND = 256;

// q_flag bits.
inline constexpr uint32_t QENAB = 0x00000001;      // queue is already enabled to run
inline constexpr uint32_t QWANTR = 0x00000002;     // someone wants to read the queue
inline constexpr uint32_t QWANTW = 0x00000004;     // someone wants to write the queue
inline constexpr uint32_t QFULL = 0x00000008;      // queue is considered full
inline constexpr uint32_t QREADR = 0x00000010;     // this is the reader (first) queue
inline constexpr uint32_t QUSE = 0x00000020;       // this queue is in use
inline constexpr uint32_t QNOENB = 0x00000040;     // don't enable the queue from putq
inline constexpr uint32_t QBACK = 0x00000100;      // queue has been back-enabled
inline constexpr uint32_t QPAIR = 0x00000800;      // per queue-pair perimeter
inline constexpr uint32_t QPERQ = 0x00001000;      // per queue perimeter
inline constexpr uint32_t QPERMOD = 0x00002000;    // per module perimeter
inline constexpr uint32_t QMTSAFE = 0x00004000;    // no perimeter (D_MP)
inline constexpr uint32_t QINSERVICE = 0x00010000; // service procedure is running
inline constexpr uint32_t QWCLOSE = 0x00020000;    // will not be enabled again
inline constexpr uint32_t QEND = 0x00040000;       // last queue in the stream
inline constexpr uint32_t QISDRV = 0x00200000;     // the driver's queue

// flushq / flushband flags. The M_FLUSH flag bits (FLUSHR, FLUSHW, FLUSHRW, FLUSHBAND) are the
// macros of streams/stropts.h, shared with applications.
inline constexpr int FLUSHALL = 1;
inline constexpr int FLUSHDATA = 0;

struct queue_t {
  // Read on every putnext into this queue and rarely written: together, apart from the fields
  // that change with every message queued (below), so a thread handing messages to a queue and
  // one taking them off do not trade this line back and forth.
  qinit* q_qinfo;
  queue_t* q_next;
  internal::SyncQ* q_syncq = nullptr;       // private: inner perimeter, nullptr for D_MP
  internal::ClaimGroup* q_group = nullptr;  // private: the claim group of q_stream
  void* q_ptr;                              // the module's private data
  queue_t* q_nfsrv = nullptr;  // private: nearest queue at or ahead with a service procedure
  queue_t* q_nbsrv = nullptr;  // private: nearest queue behind with a service procedure
  Stream* q_stream = nullptr;  // private
  internal::QueuePair* q_pair = nullptr;  // private
  // QFULL as an atomic, kept with it under q_lock: canput() of a queue that is not full reads
  // this and takes no lock, so a writer and the reader draining the queue do not meet on q_lock
  // for every message.
  std::atomic<bool> q_full_hint{false};

  // The list, its counts and flags (under q_lock).
  alignas(64) mblk_t* q_first;
  mblk_t* q_last;
  size_t q_count;
  uint32_t q_flag;
  ssize_t q_minpsz;
  ssize_t q_maxpsz;
  size_t q_hiwat;
  size_t q_lowat;
  qband* q_bandp;
  unsigned char q_nband;
  size_t q_mblkcnt = 0;  // private
  queue_t* q_link;       // private: scheduler run list
  // Private: a back-enable calls this in place instead of scheduling the service procedure (a
  // stream head's write side, whose service procedure only wakes its writers).
  void (*q_wake)(queue_t* q) = nullptr;
  Mutex q_lock;
};

// Queue pair navigation.
inline queue_t* RD(queue_t* q);
inline queue_t* WR(queue_t* q);
inline queue_t* OTHERQ(queue_t* q);
int SAMESTR(queue_t* q);
queue_t* backq(queue_t* q);

// Sending.
void put(queue_t* q, mblk_t* mp);
void putnext(queue_t* q, mblk_t* mp);
void qreply(queue_t* q, mblk_t* mp);
int putctl(queue_t* q, int type);
int putctl1(queue_t* q, int type, int param);
int putnextctl(queue_t* q, int type);
int putnextctl1(queue_t* q, int type, int param);

// Queueing.
int putq(queue_t* q, mblk_t* mp);
int putbq(queue_t* q, mblk_t* mp);
int insq(queue_t* q, mblk_t* emp, mblk_t* mp);
mblk_t* getq(queue_t* q);
void rmvq(queue_t* q, mblk_t* mp);
void flushq(queue_t* q, int flag);
void flushband(queue_t* q, unsigned char pri, int flag);
int qsize(queue_t* q);

// Flow control and scheduling.
int canput(queue_t* q);
int canputnext(queue_t* q);
int bcanput(queue_t* q, unsigned char pri);
int bcanputnext(queue_t* q, unsigned char pri);
void qenable(queue_t* q);
void noenable(queue_t* q);
void enableok(queue_t* q);

enum qfields_t { QHIWAT, QLOWAT, QMAXPSZ, QMINPSZ, QCOUNT, QFIRST, QLAST, QFLAG, QSTRUIOT, QBAD };
int strqget(queue_t* q, qfields_t what, unsigned char pri, intptr_t* valp);
int strqset(queue_t* q, qfields_t what, unsigned char pri, intptr_t val);
// After q's marks changed (M_SETOPTS at the head): back-enables the writer behind if q (band) is
// now below its low-water mark and one waits, as a getq() would have.
void qbackenable(queue_t* q, unsigned char band);

// M_FLUSH handling as the rules require of a module (flush this side as flagged, pass it on) and
// of a driver at the bottom (flush, clear FLUSHW, turn FLUSHR around with qreply or free).
// Both consume mp. A module's put procedure calls FlushAsModule for every M_FLUSH it sees.
void FlushAsModule(queue_t* q, mblk_t* mp);
void FlushAsDriver(queue_t* wq, mblk_t* mp);
// What a multiplexor's lower read side does with an M_FLUSH coming up a linked stream, as the
// stream head it replaces would: FLUSHW goes back down with FLUSHR cleared, FLUSHR ends here.
// Consumes mp.
void FlushAsMuxLower(queue_t* lower_rq, mblk_t* mp);
// What a module does with a message it has no business with: putnext, or FlushAsModule for an
// M_FLUSH. Consumes mp.
void PassAlong(queue_t* q, mblk_t* mp);

// Lifecycle, callbacks and waits (qprocson(9F), qtimeout(9F), qbufcall(9F), qwait(9F)).
void qprocson(queue_t* q);
void qprocsoff(queue_t* q);

using timeout_id_t = uintptr_t;
inline constexpr clock_t kHz = 1000;  // one tick is a millisecond
clock_t drv_usectohz(clock_t usec);
clock_t drv_hztousec(clock_t ticks);
timeout_id_t qtimeout(queue_t* q, void (*func)(void*), void* arg, clock_t ticks);
timeout_id_t qtimeout(queue_t* q, void (*func)(void*), void* arg, absl::Duration delay);
// Cancels; if the callback is running in another thread, waits for it. Returns the ticks that
// were left, or -1 if the timeout had already fired or was unknown.
clock_t quntimeout(queue_t* q, timeout_id_t id);

bufcall_id_t qbufcall(queue_t* q, size_t size, unsigned int pri, void (*func)(void*), void* arg);
void qunbufcall(queue_t* q, bufcall_id_t id);

// For open and close routines: leaves the perimeter and waits until a service procedure or a
// callback of this queue pair has run. qwait_sig returns 0 if the wait was interrupted. An open
// routine waiting here also lets other opens of its stream run (stream.h, BeginOpen).
void qwait(queue_t* q);
int qwait_sig(queue_t* q);
// qwait_sig() in two steps, for a module without a perimeter (D_MP), where nothing keeps a
// service procedure from running between the caller's look at its own state and its wait (a
// wake-up lost). This library's addition: read qwait_progress() where the state is looked at
// (under the module's own lock), then wait with qwait_sig_since(), which returns at once if a
// service procedure or callback of the pair has completed since. qwait_sig(q) is
// qwait_sig_since(q, qwait_progress(q)), taken inside the perimeter.
uint64_t qwait_progress(queue_t* q);
int qwait_sig_since(queue_t* q, uint64_t progress);

}  // namespace ustreams

#include "streams/queue_inl.h"
