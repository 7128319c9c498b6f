// pcap: the packet-capture module (C++ side). The application interface — ioctl commands,
// statistics and the file format — is described in the C header modules/pcap/pcap.h.
//
//   Registry reg;
//   CHECK_OK(RegisterPcapModule(reg));   // then I_PUSH "pcap" and PCAP_IOC_OPEN a file
#pragma once

#include "absl/status/status.h"
#include "modules/pcap/pcap.h"
#include "streams/registry.h"

namespace ustreams {

inline constexpr char kPcapModuleName[] = "pcap";
inline constexpr unsigned short kPcapModuleId = 5004;  // module_info mi_idnum

// Registers module "pcap" (D_MP). AlreadyExists if the registry has one by that name.
absl::Status RegisterPcapModule(Registry& registry);

}  // namespace ustreams
