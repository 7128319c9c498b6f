// Theory of operation
// -------------------
// Each pushed instance owns a PcapInstance (q_ptr of both queues): a PcapWriter under one mutex.
// The module is D_MP: both put procedures may run at once on different threads, and the mutex
// serialises only the file writes. It is taken for the clock read too, so records appear in the
// file in time order.
//
// Both put procedures capture what they see and pass the message on untouched (same mblk_t,
// band and order). The module has no service procedures: it holds no messages, so flow control
// is decided by the queues beyond it as if it were not there, and M_FLUSH has nothing of its own
// to flush (FlushAsModule still handles it, as the rules require).
//
// Its own ioctls (pcap.h) are answered on the write side with miocack/miocnak; every other
// ioctl passes down for the modules below or the driver (which NAKs what nobody owns).
#include "modules/pcap/pcap.h"

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "modules/pcap/pcap_module.h"
#include "modules/pcap/pcap_writer.h"
#include "streams/ddi.h"
#include "streams/mblk.h"
#include "streams/queue.h"
#include "streams/scheduler.h"
#include "streams/stream.h"

namespace ustreams {
namespace {

struct PcapInstance {
  // std::mutex, not absl::Mutex: the system Abseil is not built for ThreadSanitizer, which
  // then cannot see absl::Mutex ordering and reports false races (pthread mutexes it sees).
  std::mutex mu;
  PcapWriter writer ABSL_GUARDED_BY(mu);
};

PcapInstance* InstanceOf(queue_t* q) { return static_cast<PcapInstance*>(q->q_ptr); }

// ---- capture ----

// Where the packet of mp starts, or nullptr if mp is not captured: all of an M_DATA message
// (even an empty one: it is a message the stream carried), the M_DATA part of an M_PROTO or
// M_PCPROTO message only if it holds bytes.
const mblk_t* PacketOf(const mblk_t* mp) {
  switch (DB_TYPE(mp)) {
    case M_DATA:
      return mp;
    case M_PROTO:
    case M_PCPROTO:
      return msgdsize(mp) > 0 ? mp->b_cont : nullptr;
    default:
      return nullptr;
  }
}

void Capture(queue_t* q, const mblk_t* mp) {
  const mblk_t* packet = PacketOf(mp);
  if (packet == nullptr) return;
  PcapInstance* p = InstanceOf(q);
  std::lock_guard<std::mutex> l(p->mu);
  if (!p->writer.is_open()) return;
  p->writer.WritePacket(q->q_stream->scheduler()->Now(), packet);
}

// ---- ioctls ----

iocblk* IocOf(mblk_t* mp) { return reinterpret_cast<iocblk*>(mp->b_rptr); }

// Answers with no data: the head copies every byte of the ack's b_cont back to the caller, so a
// request payload left there would come back as if it were an answer.
void AckEmpty(queue_t* wq, mblk_t* mp) {
  freemsg(mp->b_cont);
  mp->b_cont = nullptr;
  miocack(wq, mp, 0, 0);  // consumes mp
}

// Acks with no data on 0, NAKs with the errno otherwise (consumes mp).
void Answer(queue_t* wq, mblk_t* mp, int error) {
  if (error != 0) {
    miocnak(wq, mp, 0, error);
  } else {
    AckEmpty(wq, mp);
  }
}

int DoOpen(mblk_t* mp, PcapInstance* p) {
  size_t len = IocOf(mp)->ioc_count;
  if (len == 0) return EINVAL;
  // One contiguous block holding the whole payload, so the path can be searched for its NUL.
  if (int e = miocpullup(mp, len); e != 0) return e;
  const auto* path = reinterpret_cast<const char*>(mp->b_cont->b_rptr);
  if (std::memchr(path, '\0', len) == nullptr) return EINVAL;
  std::lock_guard<std::mutex> l(p->mu);
  return p->writer.Open(path);
}

int DoLinkType(mblk_t* mp, PcapInstance* p) {
  if (IocOf(mp)->ioc_count < sizeof(int)) return EINVAL;
  if (int e = miocpullup(mp, sizeof(int)); e != 0) return e;
  int linktype;
  std::memcpy(&linktype, mp->b_cont->b_rptr, sizeof(linktype));
  std::lock_guard<std::mutex> l(p->mu);
  return p->writer.SetLinkType(linktype);
}

void DoStats(queue_t* wq, mblk_t* mp, PcapInstance* p) {
  if (IocOf(mp)->ioc_count < sizeof(pcap_ioc_stats)) {
    miocnak(wq, mp, 0, EINVAL);
    return;
  }
  mblk_t* out = allocb(sizeof(pcap_ioc_stats));
  if (out == nullptr) {
    miocnak(wq, mp, 0, ENOMEM);
    return;
  }
  pcap_ioc_stats s;
  {
    std::lock_guard<std::mutex> l(p->mu);
    s = p->writer.Stats();
  }
  std::memcpy(out->b_wptr, &s, sizeof(s));
  out->b_wptr += sizeof(s);
  freemsg(mp->b_cont);
  mp->b_cont = out;
  miocack(wq, mp, sizeof(s), 0);  // consumes mp
}

// Answers mp if it is one of pcap's ioctls (consuming it) and returns true; false leaves mp to
// the caller.
bool HandleIoctl(queue_t* wq, mblk_t* mp) {
  if (MBLKL(mp) < sizeof(iocblk)) return false;  // not a well-formed M_IOCTL: not ours to judge
  int cmd = IocOf(mp)->ioc_cmd;
  if (cmd != PCAP_IOC_OPEN && cmd != PCAP_IOC_LINKTYPE && cmd != PCAP_IOC_CLOSE &&
      cmd != PCAP_IOC_STATS) {
    return false;
  }
  // Only I_STR: a transparent ioctl would need M_COPYIN/M_COPYOUT rounds nobody needs here.
  if (IocOf(mp)->ioc_count == TRANSPARENT) {
    miocnak(wq, mp, 0, EINVAL);
    return true;
  }
  PcapInstance* p = InstanceOf(wq);
  switch (cmd) {
    case PCAP_IOC_OPEN:
      Answer(wq, mp, DoOpen(mp, p));
      break;
    case PCAP_IOC_LINKTYPE:
      Answer(wq, mp, DoLinkType(mp, p));
      break;
    case PCAP_IOC_CLOSE: {
      int e;
      {
        std::lock_guard<std::mutex> l(p->mu);
        e = p->writer.Close();
      }
      Answer(wq, mp, e);
      break;
    }
    case PCAP_IOC_STATS:
      DoStats(wq, mp, p);
      break;
  }
  return true;
}

// ---- put procedures, open and close ----

int PcapWput(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_IOCTL && HandleIoctl(q, mp)) return 0;
  Capture(q, mp);
  PassAlong(q, mp);
  return 0;
}

int PcapRput(queue_t* q, mblk_t* mp) {
  Capture(q, mp);
  PassAlong(q, mp);
  return 0;
}

int PcapOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;  // a module, never a driver
  if (q->q_ptr != nullptr) return 0;    // a reopen of the stream
  auto* p = new PcapInstance;
  q->q_ptr = p;
  WR(q)->q_ptr = p;
  qprocson(q);
  return 0;
}

int PcapClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);          // no put procedure runs past this, so the instance can go
  delete InstanceOf(q);  // the writer's destructor flushes and closes an open capture
  q->q_ptr = nullptr;
  WR(q)->q_ptr = nullptr;
  return 0;
}

// Declarative module description. constinit: built by the compiler, no start-up code runs; not
// const only because qinit and streamtab hold non-const pointers (DDI layout).
// No service procedures: the water marks are never consulted (canput() looks past this module).
constexpr size_t kHiwat = 64 * 1024;
constexpr size_t kLowat = 16 * 1024;
constinit module_info pcap_minfo{kPcapModuleId, kPcapModuleName, 0, INFPSZ, kHiwat, kLowat};
constinit qinit pcap_rinit{PcapRput, nullptr, PcapOpen, PcapClose, nullptr, &pcap_minfo, nullptr};
constinit qinit pcap_winit{PcapWput, nullptr, nullptr, nullptr, nullptr, &pcap_minfo, nullptr};
constinit streamtab pcap_tab{&pcap_rinit, &pcap_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterPcapModule(Registry& registry) {
  return registry.RegisterModule(kPcapModuleName, &pcap_tab, D_MP);
}

}  // namespace ustreams
