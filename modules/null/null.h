// null: the pure pass-through module. Every message goes on unchanged in the direction it was
// travelling (putnext from both put procedures, no service procedures, no state), so pushing
// "null" anywhere in a stream changes nothing a reader or writer can observe. It is the
// reference for what a hop costs (DESIGN.md §8) and a template for new modules.
//
//   Registry reg;
//   CHECK_OK(RegisterNullModule(reg));   // then I_PUSH "null"
#pragma once

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams {

inline constexpr char kNullModuleName[] = "null";
inline constexpr unsigned short kNullModuleId = 5001;  // module_info mi_idnum

// Registers module "null" (D_MP). AlreadyExists if the registry has one by that name.
absl::Status RegisterNullModule(Registry& registry);

}  // namespace ustreams
