#include "modules/null/null.h"

#include "streams/mblk.h"
#include "streams/queue.h"

namespace ustreams {
namespace {

// One put procedure serves both sides: the direction is the queue's own.
int NullPut(queue_t* q, mblk_t* mp) {
  // null holds no messages, so there is nothing of its own to flush; FlushAsModule still does
  // what the rules require (flush both sides as flagged, pass it on), so the module stays right
  // if it ever gains a queue.
  if (DB_TYPE(mp) == M_FLUSH) {
    FlushAsModule(q, mp);  // consumes mp
    return 0;
  }
  putnext(q, mp);  // consumes mp; band, b_flag and order are untouched
  return 0;
}

// Declarative module description. constinit: built by the compiler, no start-up code runs. The
// objects are not const only because qinit and streamtab hold non-const pointers (DDI layout).
// Without service procedures the water marks are never consulted; canput() looks past this
// module to the next queue that has one.
constinit module_info null_minfo{kNullModuleId, kNullModuleName, 0, INFPSZ, 64 * 1024, 16 * 1024};
constinit qinit null_rinit{NullPut, nullptr, nullptr, nullptr, nullptr, &null_minfo, nullptr};
constinit qinit null_winit{NullPut, nullptr, nullptr, nullptr, nullptr, &null_minfo, nullptr};
constinit streamtab null_tab{&null_rinit, &null_winit, nullptr, nullptr};

}  // namespace

absl::Status RegisterNullModule(Registry& registry) {
  // D_MP: no state, so no perimeter; putnext through null is a plain call.
  return registry.RegisterModule(kNullModuleName, &null_tab, D_MP);
}

}  // namespace ustreams
