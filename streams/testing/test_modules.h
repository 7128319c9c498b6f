// Modules that let tests of the stream head provoke what arrives at it from below.
//
// "ctlmod": I_STR commands make it send any message up its read side (as a driver or module
// below the head would), or record what passes down.
//   CTL_SEND_UP   payload: CtlSend + data bytes; sends one message of that type, band and flag
//                 up (M_SETOPTS payloads are a stroptions; M_ERROR one or two bytes ...).
//   CTL_DOWN_COUNT  acks with rval = M_DATA messages that passed down since the last ask.
//   CTL_IGNORE    is never answered; CTL_ECHO acks with its own data.
//
// "replymod": enables SO_REPLY at open (M_SETOPTS up) and answers each M_DATA written with an
// M_REPLY (mreply) carrying the errno set by REPLY_SET_ERRNO; with REPLY_SET_DELAY (ms) it
// answers later from a timeout; with REPLY_SET_DROP it never answers (the writer's wait times
// out). REPLY_SET_REPLY_TIMEOUT is not the module's: the head's timeout is set on the head.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams::testing {

inline constexpr int CTL_SEND_UP = 0x7401;
inline constexpr int CTL_DOWN_COUNT = 0x7402;
inline constexpr int CTL_IGNORE = 0x7403;  // never answered (the caller's I_STR times out)
inline constexpr int CTL_ECHO = 0x7404;    // acked with the same data back and rval = its length

struct CtlSend {
  unsigned char type;
  unsigned char band;
  unsigned short flag;  // b_flag
};

inline constexpr int REPLY_SET_ERRNO = 0x7501;  // payload int; -1: the first byte written
inline constexpr int REPLY_SET_DELAY = 0x7502;  // payload int, milliseconds (0: at once)
inline constexpr int REPLY_SET_DROP = 0x7503;   // payload int, 1: never answer

absl::Status RegisterTestModules(Registry& registry);

}  // namespace ustreams::testing
