// "muxdrv": a sample multiplexing driver for tests of I_LINK/I_PLINK. Each open (a clone open)
// is an upper stream; lower streams are linked under it. Data written on an upper stream goes
// down the lower it routes to (the first one it linked, or the one MUXDRV_ROUTE names); data
// arriving from a lower goes up every upper that routes to it.
#pragma once

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams::testing {

inline constexpr int MUXDRV_ROUTE = 0x7601;  // I_STR payload int: the mux id to route to

absl::Status RegisterMuxDriver(Registry& registry);

}  // namespace ustreams::testing
