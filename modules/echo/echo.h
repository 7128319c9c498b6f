// echo: a pushable module that turns the write side's data around. M_DATA, M_PROTO and
// M_PCPROTO travelling down go back up (qreply) with their band and flags; every other message
// going down (ioctls, M_FLUSH after flushing, M_CTL ...) passes on to the driver, and the read
// side passes everything from below up. With "echo" pushed, a stream reads back what it writes
// whatever the driver below does; distinct from the echo *driver* (drivers/), which reflects at
// the bottom of a stream.
//
// Flow control is kept end to end: data waiting to be turned around sits on the module's write
// queue while the reader above is full, so writers block as they would on the echo driver (see
// echo.cc for how the two sides wake each other).
//
//   Registry reg;
//   CHECK_OK(RegisterEchoModule(reg));   // then I_PUSH "echo"
#pragma once

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams {

inline constexpr char kEchoModuleName[] = "echo";
inline constexpr unsigned short kEchoModuleId = 5002;  // module_info mi_idnum
// Water marks of both queues (module_info mi_hiwat / mi_lowat).
inline constexpr size_t kEchoHiwat = 64 * 1024;
inline constexpr size_t kEchoLowat = 16 * 1024;

// Registers module "echo" (D_MP). AlreadyExists if the registry has a module by that name (a
// driver named "echo" may coexist: modules and drivers have separate name spaces).
absl::Status RegisterEchoModule(Registry& registry);

}  // namespace ustreams
