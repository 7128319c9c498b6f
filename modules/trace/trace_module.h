// trace: the message-logging module (C++ side). The application interface — ioctl commands and
// the record layout — is the C header modules/trace/trace.h.
//
//   Registry reg;
//   CHECK_OK(RegisterTraceModule(reg));   // then I_PUSH "trace" wherever messages should be seen
#pragma once

#include "absl/status/status.h"
#include "modules/trace/trace.h"
#include "streams/registry.h"

namespace ustreams {

inline constexpr char kTraceModuleName[] = "trace";
inline constexpr unsigned short kTraceModuleId = 5003;  // module_info mi_idnum

// Registers module "trace" (D_MP). AlreadyExists if the registry has one by that name.
absl::Status RegisterTraceModule(Registry& registry);

}  // namespace ustreams
