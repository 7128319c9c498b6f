// The standard drivers every STREAMS program expects (DESIGN.md §2): echo, nuls, fifo and sad.
// Each is declarative data (module_info, qinit, streamtab) registered by the function below,
// called at one explicit place (the composition root, or a test that builds its own domain).
//
//   echo   /dev/echo        clone  reflects M_DATA/M_PROTO/M_PCPROTO up its read side, bands,
//                                  order and flow control kept (echo.cc)
//   nuls   /dev/nuls        clone  discards what is written; every read() sees end of file
//                                  (nuls.cc)
//   fifo   /dev/fifo/N             named FIFO N (also /dev/streams/fifo/N): every open of N shares
//                                  one stream; open/read/write/close follow the FIFO rules of
//                                  open(2) etc. (fifo.cc)
//   sad    /dev/sad/admin   clone  autopush administration, sad(4D): SAD_SAP, SAD_GAP, SAD_VML
//          /dev/sad/user           (sad.cc; the application header is streams/drivers/sad.h)
#pragma once

#include "absl/status/status.h"
#include "streams/domain.h"
#include "streams/registry.h"

namespace ustreams {

absl::Status RegisterEcho(Registry& registry);
absl::Status RegisterNuls(Registry& registry);
// Registers the "fifo" driver in d's registry and the device directory /dev/streams/fifo/ (the
// LfS name) for /dev/fifo/.
absl::Status RegisterFifo(Domain& d);
// Registers the "sad" driver in d's registry and the device names /dev/sad/admin (minor 1) and
// /dev/sad/user (minor 0); its ioctls edit d's autopush table.
absl::Status RegisterSad(Domain& d);
// All of the above.
absl::Status RegisterStandardDrivers(Domain& d);

}  // namespace ustreams
