#include "modules/ip/errno_status.h"

#include <cerrno>

#include "gtest/gtest.h"

namespace ustreams::ip {
namespace {

TEST(ErrnoStatus, KeepsErrnosThatShareACode) {
  for (int err : {EEXIST, EADDRINUSE, ESRCH, ENOENT, EINVAL, EADDRNOTAVAIL, ENETUNREACH}) {
    absl::Status s = ErrnoError(err, "x");
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(StatusErrno(s), err);
    EXPECT_EQ(s.message(), "x");
  }
  EXPECT_EQ(absl::ErrnoToStatusCode(EADDRINUSE), ErrnoError(EADDRINUSE, "").code());
}

TEST(ErrnoStatus, OkAndPlainStatuses) {
  EXPECT_EQ(StatusErrno(absl::OkStatus()), 0);
  EXPECT_EQ(StatusErrno(absl::InvalidArgumentError("x")), EINVAL);
  EXPECT_EQ(StatusErrno(absl::NotFoundError("x")), ENOENT);
  EXPECT_EQ(StatusErrno(absl::AlreadyExistsError("x")), EEXIST);
  EXPECT_EQ(StatusErrno(absl::InternalError("x")), EIO);
}

}  // namespace
}  // namespace ustreams::ip
