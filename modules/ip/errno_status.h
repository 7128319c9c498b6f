// Control-plane errors that keep their errno. STYLE §11: absl::Status inside, errno at the
// socket/stream-head boundary. absl's canonical codes fold several errnos together (EEXIST and
// EADDRINUSE are both AlreadyExists), so a routing socket or a socket's bind could not recover the
// errno from the code alone; these statuses carry it as a payload.
#pragma once

#include <string_view>

#include "absl/status/status.h"

namespace ustreams::ip {

// A status with absl's code for err (absl::ErrnoToStatusCode), the message, and err as payload.
absl::Status ErrnoError(int err, std::string_view message);

// The errno a status carries: 0 for OK; the payload of ErrnoError; otherwise a best guess from
// the canonical code (EINVAL for InvalidArgument, ENOENT for NotFound, EEXIST for AlreadyExists,
// …, EIO for anything else).
int StatusErrno(const absl::Status& status);

}  // namespace ustreams::ip
