// The composition root of the framework's standard parts: registers in a domain the drivers
// (echo, nuls, fifo, sad) and the pushable modules (null, echo, trace, pcap, fault) that come with
// ustreams. The C API's default domain is set up with it; an embedder building its own domain
// calls it too, or registers a subset itself.
#pragma once

#include "absl/status/status.h"
#include "streams/domain.h"

namespace ustreams {

absl::Status RegisterStandard(Domain& d);

}  // namespace ustreams
