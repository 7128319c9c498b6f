// Copying between a call's buffers (an iovec array and a cursor into it) and the library's own
// memory, for the stream head's read and write ways (head_rw.cc, head_inbox.cc). Inline: a
// read(2) or write(2) of one buffer is the case to make cheap.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "streams/user_addr.h"

namespace ustreams::internal {

// Copies from an iovec cursor into dst.
[[gnu::always_inline]] inline void GatherIov(const iovec*& iov, int& iovcnt, size_t& off,
                                             unsigned char* dst, size_t n) {
  if (n == 0) return;  // iov may be no buffer at all (writev of none)
  if (n <= iov->iov_len - off && (iovcnt == 1 || n < iov->iov_len - off)) {
    // All from the buffer at hand (a write(2)'s one buffer), which it does not use up unless
    // it is the last.
    std::memcpy(dst, static_cast<const char*>(iov->iov_base) + off, n);
    off += n;
    return;
  }
  while (n > 0) {
    size_t avail = iov->iov_len - off;
    size_t k = std::min(avail, n);
    if (k > 0) std::memcpy(dst, static_cast<const char*>(iov->iov_base) + off, k);
    dst += k;
    n -= k;
    off += k;
    if (off == iov->iov_len && iovcnt > 1) {
      ++iov;
      --iovcnt;
      off = 0;
    } else if (k == 0) {
      break;
    }
  }
}

// Copies src into an iovec cursor; returns how much fitted.
[[gnu::always_inline]] inline size_t ScatterIov(const iovec*& iov, int& iovcnt, size_t& off,
                                                const unsigned char* src, size_t n) {
  if (n == 0) return 0;  // the buffers may be none, or null with no length
  if (iovcnt == 1 && n <= iov->iov_len - off) {
    // All into a read(2)'s one buffer.
    std::memcpy(static_cast<char*>(iov->iov_base) + off, src, n);
    off += n;
    return n;
  }
  size_t done = 0;
  while (n > 0 && iovcnt > 0) {
    size_t room = iov->iov_len - off;
    if (room == 0) {
      if (iovcnt == 1) break;
      ++iov;
      --iovcnt;
      off = 0;
      continue;
    }
    size_t k = std::min(room, n);
    std::memcpy(static_cast<char*>(iov->iov_base) + off, src, k);
    src += k;
    n -= k;
    off += k;
    done += k;
  }
  return done;
}

// A buffer the call would copy through that cannot be the caller's (user_addr.h): EFAULT,
// found when the copy would happen, as illumos's copyin/copyout find it, so every check made
// before the copy (errors, flow control, EAGAIN, end of file) comes first.
inline bool HasBadBuffer(const iovec* iov, int iovcnt) {
  for (int i = 0; i < iovcnt; i++) {
    if (BadAddress(iov[i].iov_base, iov[i].iov_len)) return true;
  }
  return false;
}

inline size_t IovRemaining(const iovec* iov, int iovcnt, size_t off) {
  size_t n = 0;
  for (int i = 0; i < iovcnt; i++) n += iov[i].iov_len;
  return n - off;
}

}  // namespace ustreams::internal
