#include "streams/debug.h"

#include <cstdio>
#include <cstdlib>

namespace ustreams {

void RuleBroken(const char* rule, const char* detail) {
  std::fprintf(stderr, "ustreams: rule broken: %s (%s)\n", rule, detail);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ustreams
