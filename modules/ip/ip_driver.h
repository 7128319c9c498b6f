// Registers the "ip" multiplexing driver (a clone device) in a registry. Its streams work only in
// a domain whose context() is an ip::Ip (a Stack's): elsewhere opens fail with ENXIO.
#pragma once

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams::ip {

absl::Status RegisterIpDriver(Registry& registry);

}  // namespace ustreams::ip
