// Registration of the "fault" module (the ioctls it answers are in modules/fault/fault.h).
#pragma once

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams {

absl::Status RegisterFault(Registry& registry);

}  // namespace ustreams
