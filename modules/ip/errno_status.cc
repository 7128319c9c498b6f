#include "modules/ip/errno_status.h"

#include <cerrno>
#include <charconv>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace ustreams::ip {
namespace {

// absl::string_view: Debian builds Abseil with its own string_view, not std::string_view.
constexpr absl::string_view kErrnoPayload = "ustreams/errno";

int ErrnoFromCode(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return EINVAL;
    case absl::StatusCode::kNotFound:
      return ENOENT;
    case absl::StatusCode::kAlreadyExists:
      return EEXIST;
    case absl::StatusCode::kPermissionDenied:
      return EPERM;
    case absl::StatusCode::kResourceExhausted:
      return ENOMEM;
    case absl::StatusCode::kUnavailable:
      return EAGAIN;
    case absl::StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    case absl::StatusCode::kDeadlineExceeded:
      return ETIMEDOUT;
    default:
      return EIO;
  }
}

}  // namespace

absl::Status ErrnoError(int err, std::string_view message) {
  absl::Status s(absl::ErrnoToStatusCode(err), absl::string_view(message.data(), message.size()));
  s.SetPayload(kErrnoPayload, absl::Cord(std::to_string(err)));
  return s;
}

int StatusErrno(const absl::Status& status) {
  if (status.ok()) return 0;
  if (absl::optional<absl::Cord> p = status.GetPayload(kErrnoPayload)) {
    std::string text(*p);
    int err = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), err);
    if (ec == std::errc() && end == text.data() + text.size() && err > 0) return err;
  }
  return ErrnoFromCode(status.code());
}

}  // namespace ustreams::ip
