// Modules that let tests of the stream head provoke what arrives at it from below.
//
// "ctlmod": I_STR commands make it send any message up its read side (as a driver or module
// below the head would), or record what passes down.
//   CTL_SEND_UP   payload: CtlSend + data bytes; sends one message of that type, band and flag
//                 up (M_SETOPTS payloads are a stroptions; M_ERROR one or two bytes ...).
//   CTL_DOWN_COUNT  acks with rval = M_DATA messages that passed down since the last ask.
//   CTL_IGNORE    is never answered (TakeCtlIgnored() counts them); CTL_ECHO acks with its
//                 own data.
//   CTL_DELAY_ACK payload int ms: acked (rval = ms) that much later, from a timeout.
//
// "replymod": enables SO_REPLY at open (M_SETOPTS up) and answers each M_DATA written with an
// M_REPLY (mreply) carrying the errno set by REPLY_SET_ERRNO; with REPLY_SET_DELAY (ms) it
// answers later from a timeout; with REPLY_SET_DROP it never answers (the writer's wait times
// out). REPLY_SET_REPLY_TIMEOUT is not the module's: the head's timeout is set on the head.
//
// The packet modules record what passes down their write side, so a test sees the messages a
// stream head built: "pktmod" (module_info minpsz 10, maxpsz 100), "pkt100" (0, 100), "pktzero"
// (0, 0) and "recmod" (0, INFPSZ). Their I_STR commands:
//   PKT_GET           the records (PktRecord) of the data messages that passed down since the
//                     last PKT_GET, as many as the caller's ic_len holds; rval = how many.
//   PKT_MREADS        the counts (ssize_t) the M_READs that passed down asked for, as many as
//                     ic_len holds; rval = how many were seen (PKT_RESET forgets them).
//   PKT_ANSWER_MREAD  payload int n > 0: answer each M_READ at once with n bytes of 'm' sent up
//                     (a tty-like module); 0: pass M_READs on.
//   PKT_RESET         forgets the records and M_READ counts.
//
// "holdmod" keeps every M_DATA/M_PROTO written on its write queue (a service queue, so flow
// control counts it: hiwat 1024, lowat 256) until HOLD_RELEASE (payload int ms; 0: now) lets
// them go down, from then on as they come. A stream holding data there makes close(2) wait.
//
// "testdrv" (RegisterTestDriver) is a driver that is not a clone: every open of a minor shares
// its stream. It reflects M_DATA/M_PROTO/M_PCPROTO back up, fails opens of minors >= 100 with
// ENXIO, and answers:
//   TDRV_OPENS        rval = how many times its open ran for this stream (first open + reopens)
//   TDRV_SFLAG        rval = the sflag of the first open (0 or CLONEOPEN)
//   TDRV_FAIL_REOPEN  payload int errno: the next reopen of this stream fails with it
//   TDRV_HOLD         payload int 1: keep what is written on the driver's write queue from now
//                     on (nothing drains it; close(2) waits for it); 0: reflect again
// While holding, the driver counts the waits for its queue to drain: each asks for a
// back-enable (QWANTW), which it notices within a millisecond (and at its close) and takes
// back; TakeTestDriverDrainWaits() returns the count so far and resets it.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "absl/status/status.h"
#include "streams/registry.h"

namespace ustreams::testing {

inline constexpr int CTL_SEND_UP = 0x7401;
inline constexpr int CTL_DOWN_COUNT = 0x7402;
inline constexpr int CTL_IGNORE = 0x7403;  // never answered (the caller's I_STR times out)
inline constexpr int CTL_ECHO = 0x7404;    // acked with the same data back and rval = its length
inline constexpr int CTL_DELAY_ACK = 0x7405;  // payload int ms: acked later, rval = ms

struct CtlSend {
  unsigned char type;
  unsigned char band;
  unsigned short flag;  // b_flag
};

inline constexpr int REPLY_SET_ERRNO = 0x7501;  // payload int; -1: the first byte written
inline constexpr int REPLY_SET_DELAY = 0x7502;  // payload int, milliseconds (0: at once)
inline constexpr int REPLY_SET_DROP = 0x7503;   // payload int, 1: never answer

inline constexpr int PKT_GET = 0x7701;
inline constexpr int PKT_MREADS = 0x7702;
inline constexpr int PKT_ANSWER_MREAD = 0x7703;
inline constexpr int PKT_RESET = 0x7704;

// One message that passed down a packet module's write side.
struct PktRecord {
  int32_t type;          // DB_TYPE of the first block
  int32_t bytes;         // M_DATA bytes (msgdsize)
  int32_t blocks;        // M_DATA blocks
  int32_t max_block;     // the longest M_DATA block
  int32_t min_headroom;  // the least MBLKHEAD over the M_DATA blocks (-1: none)
  int32_t min_tailroom;  // the least MBLKTAIL over the M_DATA blocks (-1: none)
  int32_t flag;          // b_flag of the first block
  int32_t band;
};

inline constexpr int HOLD_RELEASE = 0x7801;

inline constexpr int TDRV_OPENS = 0x7901;
inline constexpr int TDRV_SFLAG = 0x7902;
inline constexpr int TDRV_FAIL_REOPEN = 0x7903;
inline constexpr int TDRV_HOLD = 0x7904;

// ctlmod, replymod, the packet modules and holdmod.
absl::Status RegisterTestModules(Registry& registry);
// testdrv.
absl::Status RegisterTestDriver(Registry& registry);
int TakeTestDriverDrainWaits();
// How many CTL_IGNOREs ctlmod has dropped since the last call (so a test knows one is in flight).
int TakeCtlIgnored();

}  // namespace ustreams::testing
