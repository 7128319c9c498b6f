// Theory of operation
// -------------------
// Each pushed instance owns a TraceInstance (q_ptr of both queues): a ring of records, the next
// sequence number and the log switch, under one mutex. The module is D_MP — both put procedures
// may run at once on different threads, and the mutex is all the serialisation recording needs;
// a perimeter would serialise the messages themselves, which a tracer must not do.
//
// Both put procedures record the message and pass it on untouched (same mblk_t, same band,
// same order), so pushing "trace" changes nothing but timing. The record is built before the
// lock (the content copy needs none); the sequence number, the clock read and the ring push
// happen under it, and the log line is written after it is released.
//
// The module has no service procedures: it holds no messages, so flow control is decided by the
// queues beyond it exactly as if it were not there, and M_FLUSH has nothing of its own to flush
// (FlushAsModule still handles it, as the rules require).
//
// Its own ioctls (trace.h) arrive as I_STR M_IOCTLs on the write side and are answered there
// with miocack/miocnak; every other ioctl is recorded and passed down, for the modules below or
// the driver (which NAKs what nobody owns).
#include "modules/trace/trace.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "modules/trace/trace_module.h"
#include "modules/trace/trace_ring.h"
#include "streams/ddi.h"
#include "streams/mblk.h"
#include "streams/queue.h"
#include "streams/scheduler.h"
#include "streams/stream.h"

namespace ustreams {
namespace {

static_assert(sizeof(trace_rec) == 48, "trace_rec is part of the application interface");
static_assert(sizeof(trace_get_hdr) == 16, "trace_get_hdr is part of the application interface");

struct TraceInstance {
  explicit TraceInstance(unsigned instance_id) : id(instance_id) {}

  const unsigned id;  // names the instance in log lines ("trace#3")
  // std::mutex, not absl::Mutex: the system Abseil is not built for ThreadSanitizer, which
  // then cannot see absl::Mutex ordering and reports false races (pthread mutexes it sees).
  std::mutex mu;
  TraceRing ring ABSL_GUARDED_BY(mu){TRACE_DEFAULT_RECORDS};
  uint64_t next_seq ABSL_GUARDED_BY(mu) = 1;
  bool log ABSL_GUARDED_BY(mu) = false;
};

TraceInstance* InstanceOf(queue_t* q) { return static_cast<TraceInstance*>(q->q_ptr); }

// ---- recording ----

// Everything but the sequence number and the time, which are taken under the instance's lock.
trace_rec Describe(queue_t* q, const mblk_t* mp) {
  trace_rec r{};
  r.tr_size = msgsize(mp);
  r.tr_flag = mp->b_flag;
  r.tr_dir = IsReadQ(q) ? TRACE_UP : TRACE_DOWN;
  r.tr_type = DB_TYPE(mp);
  r.tr_band = mp->b_band;
  size_t n = 0;
  for (const mblk_t* bp = mp; bp != nullptr && n < TRACE_DATA_BYTES; bp = bp->b_cont) {
    size_t k = std::min(MBLKL(bp), static_cast<size_t>(TRACE_DATA_BYTES) - n);
    std::memcpy(r.tr_data + n, bp->b_rptr, k);
    n += k;
  }
  r.tr_datalen = static_cast<uint8_t>(n);
  return r;
}

// "trace#1 seq=7 t=1.250000 down M_DATA size=5 band=1 flag=0x4 data=68656c6c6f"
std::string LogLine(unsigned id, const trace_rec& r) {
  // Seconds and microseconds by integer division: a double loses microseconds near the epoch's
  // present-day values.
  int64_t us = r.tr_time_ns / 1000;
  int64_t sec = us / 1000000;
  int64_t frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    sec -= 1;
  }
  std::string data;
  for (int i = 0; i < r.tr_datalen; ++i) absl::StrAppendFormat(&data, "%02x", r.tr_data[i]);
  return absl::StrFormat("trace#%u seq=%d t=%d.%06d %s %s size=%d band=%d flag=0x%x data=%s\n", id,
                         r.tr_seq, sec, frac, r.tr_dir == TRACE_UP ? "up" : "down",
                         MessageTypeName(r.tr_type), r.tr_size, int{r.tr_band}, int{r.tr_flag},
                         data);
}

void Record(queue_t* q, const mblk_t* mp) {
  TraceInstance* t = InstanceOf(q);
  trace_rec r = Describe(q, mp);
  bool log;
  {
    std::lock_guard<std::mutex> l(t->mu);
    // Under the lock with the sequence number, so times never go backwards along it.
    r.tr_time_ns = absl::ToUnixNanos(q->q_stream->scheduler()->Now());
    r.tr_seq = t->next_seq++;
    t->ring.Push(r);
    log = t->log;
  }
  if (log) {
    std::string line = LogLine(t->id, r);
    std::fwrite(line.data(), 1, line.size(), stderr);  // one write: lines never interleave
  }
}

// ---- ioctls ----

iocblk* IocOf(mblk_t* mp) { return reinterpret_cast<iocblk*>(mp->b_rptr); }

// Acks with no data: the head copies every byte of the ack's b_cont back to the caller, so a
// request payload left there would come back as if it were an answer.
void AckEmpty(queue_t* wq, mblk_t* mp, int rval) {
  freemsg(mp->b_cont);
  mp->b_cont = nullptr;
  miocack(wq, mp, 0, rval);  // consumes mp
}

// The int an ioctl carries, or an errno (EINVAL when there are fewer than sizeof(int) bytes).
int IntPayload(mblk_t* mp, int* out) {
  if (IocOf(mp)->ioc_count < sizeof(int)) return EINVAL;
  if (int e = miocpullup(mp, sizeof(int)); e != 0) return e;
  std::memcpy(out, mp->b_cont->b_rptr, sizeof(int));
  return 0;
}

void DoGet(queue_t* wq, mblk_t* mp, TraceInstance* t) {
  size_t room = IocOf(mp)->ioc_count;  // the caller's buffer (ic_len)
  if (room < sizeof(trace_get_hdr)) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  size_t fit = (room - sizeof(trace_get_hdr)) / sizeof(trace_rec);
  mblk_t* out;
  trace_get_hdr hdr{};
  {
    std::lock_guard<std::mutex> l(t->mu);
    size_t n = std::min(fit, t->ring.size());
    // Allocated under the lock so the records counted are the records copied; allocb does not
    // block.
    out = allocb(sizeof(hdr) + n * sizeof(trace_rec));
    if (out != nullptr) {
      hdr.tg_nrecs = static_cast<uint32_t>(t->ring.Pop(n, out->b_wptr + sizeof(hdr)));
      hdr.tg_left = static_cast<uint32_t>(t->ring.size());
      hdr.tg_dropped = t->ring.dropped();
    }
  }
  if (out == nullptr) {
    miocnak(wq, mp, 0, ENOMEM);
    return;
  }
  std::memcpy(out->b_wptr, &hdr, sizeof(hdr));
  out->b_wptr += sizeof(hdr) + hdr.tg_nrecs * sizeof(trace_rec);
  freemsg(mp->b_cont);
  mp->b_cont = out;
  miocack(wq, mp, static_cast<int>(MBLKL(out)), static_cast<int>(hdr.tg_nrecs));
}

void DoClear(queue_t* wq, mblk_t* mp, TraceInstance* t) {
  {
    std::lock_guard<std::mutex> l(t->mu);
    t->ring.Clear();
  }
  AckEmpty(wq, mp, 0);
}

void DoSetSize(queue_t* wq, mblk_t* mp, TraceInstance* t) {
  int records = 0;
  int e = IntPayload(mp, &records);
  if (e == 0 && (records < 1 || records > TRACE_MAX_RECORDS)) e = EINVAL;
  if (e != 0) {
    miocnak(wq, mp, 0, e);
    return;
  }
  {
    std::lock_guard<std::mutex> l(t->mu);
    t->ring.Resize(static_cast<size_t>(records));
  }
  AckEmpty(wq, mp, 0);
}

void DoLog(queue_t* wq, mblk_t* mp, TraceInstance* t) {
  int on = 0;
  if (int e = IntPayload(mp, &on); e != 0) {
    miocnak(wq, mp, 0, e);
    return;
  }
  bool was;
  {
    std::lock_guard<std::mutex> l(t->mu);
    was = t->log;
    t->log = on != 0;
  }
  AckEmpty(wq, mp, was ? 1 : 0);
}

// Answers mp if it is one of trace's ioctls (consuming it) and returns true; false leaves mp to
// the caller.
bool HandleIoctl(queue_t* wq, mblk_t* mp) {
  if (MBLKL(mp) < sizeof(iocblk)) return false;  // not a well-formed M_IOCTL: not ours to judge
  int cmd = IocOf(mp)->ioc_cmd;
  if (cmd != TRACE_IOC_GET && cmd != TRACE_IOC_CLEAR && cmd != TRACE_IOC_SETSIZE &&
      cmd != TRACE_IOC_LOG) {
    return false;
  }
  // Only I_STR: a transparent ioctl would need M_COPYIN/M_COPYOUT rounds nobody needs here.
  if (IocOf(mp)->ioc_count == TRANSPARENT) {
    miocnak(wq, mp, 0, EINVAL);
    return true;
  }
  TraceInstance* t = InstanceOf(wq);
  switch (cmd) {
    case TRACE_IOC_GET:
      DoGet(wq, mp, t);
      break;
    case TRACE_IOC_CLEAR:
      DoClear(wq, mp, t);
      break;
    case TRACE_IOC_SETSIZE:
      DoSetSize(wq, mp, t);
      break;
    case TRACE_IOC_LOG:
      DoLog(wq, mp, t);
      break;
  }
  return true;
}

// ---- put procedures, open and close ----

int TraceWput(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_IOCTL && HandleIoctl(q, mp)) return 0;
  Record(q, mp);
  PassAlong(q, mp);
  return 0;
}

int TraceRput(queue_t* q, mblk_t* mp) {
  Record(q, mp);
  PassAlong(q, mp);
  return 0;
}

int TraceOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;  // a module, never a driver
  if (q->q_ptr != nullptr) return 0;    // a reopen of the stream
  static std::atomic<unsigned> next_id{1};
  auto* t = new TraceInstance(next_id.fetch_add(1, std::memory_order_relaxed));
  q->q_ptr = t;
  WR(q)->q_ptr = t;
  qprocson(q);
  return 0;
}

int TraceClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);  // no put procedure runs past this, so the instance can go
  delete InstanceOf(q);
  q->q_ptr = nullptr;
  WR(q)->q_ptr = nullptr;
  return 0;
}

// Declarative module description. constinit: built by the compiler, no start-up code runs; not
// const only because qinit and streamtab hold non-const pointers (DDI layout).
// No service procedures: the water marks are never consulted (canput() looks past this module).
constexpr size_t kHiwat = 64 * 1024;
constexpr size_t kLowat = 16 * 1024;
constinit module_info trace_minfo{kTraceModuleId, kTraceModuleName, 0, INFPSZ, kHiwat, kLowat};
constinit qinit trace_rinit{TraceRput, nullptr,      TraceOpen, TraceClose,
                            nullptr,   &trace_minfo, nullptr};
constinit qinit trace_winit{TraceWput, nullptr, nullptr, nullptr, nullptr, &trace_minfo, nullptr};
constinit streamtab trace_tab{&trace_rinit, &trace_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterTraceModule(Registry& registry) {
  return registry.RegisterModule(kTraceModuleName, &trace_tab, D_MP);
}

}  // namespace ustreams
