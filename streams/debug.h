// Checks for misuse of the DDI by module authors. In debug builds (no NDEBUG) a broken rule
// aborts with a message that names the rule; in optimised builds the checks compile away.
#pragma once

namespace ustreams {

// Prints "ustreams: rule broken: <rule>" with the details and aborts.
[[noreturn]] void RuleBroken(const char* rule, const char* detail);

}  // namespace ustreams

#ifdef NDEBUG
#define USTREAMS_DEBUG_CHECKS 0
#define STREAMS_RULE(cond, rule, detail) \
  do {                                    \
  } while (0)
#else
#define USTREAMS_DEBUG_CHECKS 1
#define STREAMS_RULE(cond, rule, detail)                 \
  do {                                                   \
    if (!(cond)) ::ustreams::RuleBroken((rule), (detail)); \
  } while (0)
#endif

// A module about to write into mp's data block calls this: the block must not be shared.
#define STREAMS_ASSERT_WRITABLE(mp)                                                   \
  STREAMS_RULE(::ustreams::DB_REF(mp) == 1, "a shared data block (db_ref > 1) is never written", \
               "copyb() the block first")
