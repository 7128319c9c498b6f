#include "streams/testing/sample_modules.h"

#include <cerrno>

#include "streams/queue.h"

namespace ustreams::testing {
namespace {

uint64_t g_permod_total = 0;  // only touched inside the permod perimeter

// ---- passthru ----
int PassPut(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);
    return 0;
  }
  putnext(q, mp);
  return 0;
}

// ---- service-procedure modules ----
// Plain counters on purpose: only a working perimeter keeps them exact (and TSan quiet).
void Count(queue_t* q, bool permod) {
  auto* c = static_cast<SampleCounters*>(q->q_ptr);
  if (c != nullptr) {
    if (IsReadQ(q)) {
      c->up++;
    } else {
      c->down++;
    }
  }
  if (permod) g_permod_total++;
}

// kSerialized: put and service never run at once (a perimeter), so put may pass a message
// straight on when nothing waits. A D_MP module cannot know that cheaply and always queues
// normal messages, which keeps their order.
template <bool kSerialized, bool kPermod>
int SvcPut(queue_t* q, mblk_t* mp) {
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);
    return 0;
  }
  // High priority never waits; others keep order behind what is queued and respect flow
  // control of their band.
  if (queclass_is_hipri(mp) ||
      (kSerialized && q->q_first == nullptr && bcanputnext(q, mp->b_band))) {
    if (kSerialized) Count(q, kPermod);
    putnext(q, mp);
    return 0;
  }
  if (kSerialized) {
    if (auto* c = static_cast<SampleCounters*>(q->q_ptr)) (IsReadQ(q) ? c->queued_up : c->queued_down)++;
  }
  putq(q, mp);
  return 0;
}

template <bool kSerialized, bool kPermod>
int SvcSrv(queue_t* q) {
  while (mblk_t* mp = getq(q)) {
    if (!queclass_is_hipri(mp) && !bcanputnext(q, mp->b_band)) {
      putbq(q, mp);
      return 0;  // back-enabled when the next queue drains
    }
    if (kSerialized) Count(q, kPermod);
    putnext(q, mp);
  }
  return 0;
}

int CountedOpen(queue_t* q, dev_t*, int, int sflag, cred_t*) {
  if (sflag != MODOPEN) return EINVAL;
  if (q->q_ptr != nullptr) return 0;  // already open
  auto* c = new SampleCounters;
  q->q_ptr = c;
  WR(q)->q_ptr = c;
  qprocson(q);
  return 0;
}

int CountedClose(queue_t* q, int, cred_t*) {
  qprocsoff(q);
  delete static_cast<SampleCounters*>(q->q_ptr);
  q->q_ptr = nullptr;
  WR(q)->q_ptr = nullptr;
  return 0;
}

module_info pass_info{1001, "passthru", 0, INFPSZ, 64 * 1024, 16 * 1024};
qinit pass_rinit{PassPut, nullptr, nullptr, nullptr, nullptr, &pass_info, nullptr};
qinit pass_winit{PassPut, nullptr, nullptr, nullptr, nullptr, &pass_info, nullptr};
streamtab pass_tab{&pass_rinit, &pass_winit, nullptr, nullptr};

#define SAMPLE_MODULE(var, id, name, serialized, permod)                                      \
  module_info var##_info{id, name, 0, INFPSZ, 64 * 1024, 16 * 1024};                          \
  qinit var##_rinit{SvcPut<serialized, permod>, SvcSrv<serialized, permod>, CountedOpen,      \
                    CountedClose, nullptr, &var##_info, nullptr};                              \
  qinit var##_winit{SvcPut<serialized, permod>, SvcSrv<serialized, permod>, nullptr, nullptr, \
                    nullptr, &var##_info, nullptr};                                            \
  streamtab var##_tab{&var##_rinit, &var##_winit, nullptr, nullptr};

SAMPLE_MODULE(svcpass, 1002, "svcpass", false, false)
SAMPLE_MODULE(qpair, 1003, "qpair", true, false)
SAMPLE_MODULE(perq, 1004, "perq", true, false)
SAMPLE_MODULE(permod, 1005, "permod", true, true)

}  // namespace

SampleCounters* CountersOf(queue_t* q) { return static_cast<SampleCounters*>(q->q_ptr); }
uint64_t PermodTotal() { return g_permod_total; }

absl::Status RegisterSampleModules(Registry& registry) {
  struct Entry {
    const char* name;
    streamtab* tab;
    int flags;
  };
  for (const Entry& e : {Entry{"passthru", &pass_tab, D_MP}, Entry{"svcpass", &svcpass_tab, D_MP},
                         Entry{"qpair", &qpair_tab, D_MTQPAIR}, Entry{"perq", &perq_tab, D_MTPERQ},
                         Entry{"permod", &permod_tab, D_MTPERMOD}}) {
    absl::Status s = registry.RegisterModule(e.name, e.tab, e.flags);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ustreams::testing
