#include "streams/drivers/standard.h"

#include "modules/echo/echo.h"
#include "modules/fault/fault_module.h"
#include "modules/null/null.h"
#include "modules/pcap/pcap_module.h"
#include "modules/trace/trace_module.h"
#include "streams/drivers/drivers.h"

namespace ustreams {

absl::Status RegisterStandard(Domain& d) {
  Registry& r = d.registry();
  for (absl::Status s : {RegisterStandardDrivers(d), RegisterNullModule(r), RegisterEchoModule(r),
                         RegisterTraceModule(r), RegisterPcapModule(r), RegisterFault(r)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ustreams
