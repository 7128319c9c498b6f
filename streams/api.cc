// The C API of streams/stropts.h: each us_* call checks its arguments in the order illumos does,
// finds the stream behind the descriptor (or passes a non-stream descriptor to the system call),
// and maps the head's errno to -1/errno.
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <memory>
#include <vector>

#include "streams/domain.h"
#include "streams/drivers/standard.h"
#include "streams/file.h"
#include "streams/head.h"
#include "streams/stropts.h"
#include "streams/user_addr.h"

using ustreams::Domain;
using ustreams::File;
using ustreams::StreamHead;
namespace fdtable = ustreams::fdtable;
namespace internal = ustreams::internal;

namespace {

constexpr int kIovMax = 1024;  // IOV_MAX of illumos

int Fail(int e) {
  errno = e;
  return -1;
}

bool ValidDescriptor(int fd) { return fd >= 0 && fcntl(fd, F_GETFD) >= 0; }

// getmsg/putmsg on a descriptor that is not a stream: as illumos msgio() checks, a descriptor not
// open for reading (getmsg) or writing (putmsg) is EBADF before it is "not a stream".
int NotAStreamFor(int fd, bool read) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return Fail(EBADF);
  int acc = fl & O_ACCMODE;
  if (read ? acc == O_WRONLY : acc == O_RDONLY) return Fail(EBADF);
  return Fail(ENOSTR);
}

constexpr short kReadEvents = POLLIN | POLLRDNORM | POLLRDBAND | POLLPRI;
constexpr short kWriteEvents = POLLOUT | POLLWRNORM | POLLWRBAND;

bool CanRead(const File& f) { return (f.flags() & O_ACCMODE) != O_WRONLY; }
bool CanWrite(const File& f) { return (f.flags() & O_ACCMODE) != O_RDONLY; }

// readv/writev argument checks, which come before the descriptor's (illumos).
int CheckIov(const struct iovec* iov, int iovcnt) {
  if (iovcnt <= 0 || iovcnt > kIovMax) return EINVAL;
  if (internal::BadAddress(iov, static_cast<size_t>(iovcnt) * sizeof(iovec))) return EFAULT;
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) {
    if (iov[i].iov_len > static_cast<size_t>(SSIZE_MAX) - total) return EINVAL;
    total += iov[i].iov_len;
  }
  return 0;
}

[[gnu::always_inline]] inline ssize_t DoRead(File* f, const struct iovec* iov, int iovcnt) {
  if (!CanRead(*f)) return Fail(EBADF);
  ssize_t done = 0;
  int e = f->head()->Read(iov, iovcnt, f->flags(), &done);
  if (e == EAGAIN) f->head()->ClearReadiness(kReadEvents);  // "nothing new" again
  if (e != 0) return Fail(e);
  return done;
}

[[gnu::always_inline]] inline ssize_t DoWrite(File* f, const struct iovec* iov, int iovcnt) {
  if (!CanWrite(*f)) return Fail(EBADF);
  ssize_t done = 0;
  int e = f->head()->Write(iov, iovcnt, f->flags(), &done);
  if (e == EAGAIN) f->head()->ClearReadiness(kWriteEvents);
  if (e != 0) return Fail(e);
  return done;
}

int Install(std::shared_ptr<StreamHead> h, int oflag) {
  // The open file keeps its status flags (F_GETFL shows them); the descriptor gets FD_CLOEXEC
  // from O_CLOEXEC.
  constexpr int kKept = O_ACCMODE | O_NONBLOCK | O_NDELAY | O_APPEND | O_SYNC | O_DSYNC;
  auto f = File::Make(std::move(h), oflag & kKept);
  int fd = fdtable::Install(std::move(f), 0, (oflag & O_CLOEXEC) != 0);
  if (fd < 0) return Fail(-fd);
  return fd;
}

bool IsStreamsIoctl(int request) { return (request & ~0xff) == STR; }

// The calling thread's domain. The process default gets the standard drivers and modules the
// first time any thread asks for it.
Domain& Current() {
  static const bool once = [] {
    Domain::SetDefaultSetup([](Domain& d) { (void)ustreams::RegisterStandard(d); });
    return true;
  }();
  (void)once;
  return Domain::Current();
}

}  // namespace

extern "C" {

int us_open(const char* path, int oflag, ...) {
  mode_t mode = 0;
  if (oflag & O_CREAT) {
    va_list ap;
    va_start(ap, oflag);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  if (internal::BadAddress(path, 1)) return Fail(EFAULT);
  ustreams::cred_t cr{geteuid(), getegid()};  // the effective ids, as a kernel's open uses
  std::shared_ptr<StreamHead> h;
  int e = Current().Open(path, oflag, &cr, &h);
  // A path that names no STREAMS device is an ordinary file.
  if (e == ENOENT) return open(path, oflag, mode);
  if (e != 0) return Fail(e);
  return Install(std::move(h), oflag);
}

int us_close(int fd) {
  std::shared_ptr<File> f = fdtable::Remove(fd);
  if (f == nullptr) return close(fd);
  f->head()->DropSignals(getpid());
  f.reset();  // the last reference is the stream's last close
  return 0;
}

ssize_t us_read(int fd, void* buf, size_t nbyte) {
  ustreams::FileRef f(fd);
  if (!f) return read(fd, buf, nbyte);
  if (nbyte > static_cast<size_t>(SSIZE_MAX)) return Fail(EINVAL);
  struct iovec v{buf, nbyte};  // a null buf is EFAULT when the head would copy (head_rw.cc)
  return DoRead(f.get(), &v, 1);
}

ssize_t us_write(int fd, const void* buf, size_t nbyte) {
  ustreams::FileRef f(fd);
  if (!f) return write(fd, buf, nbyte);
  if (nbyte > static_cast<size_t>(SSIZE_MAX)) return Fail(EINVAL);
  struct iovec v{const_cast<void*>(buf), nbyte};
  return DoWrite(f.get(), &v, 1);
}

ssize_t us_readv(int fd, const struct iovec* iov, int iovcnt) {
  if (int e = CheckIov(iov, iovcnt); e != 0) return Fail(e);
  ustreams::FileRef f(fd);
  if (!f) return readv(fd, iov, iovcnt);
  return DoRead(f.get(), iov, iovcnt);
}

ssize_t us_writev(int fd, const struct iovec* iov, int iovcnt) {
  if (int e = CheckIov(iov, iovcnt); e != 0) return Fail(e);
  ustreams::FileRef f(fd);
  if (!f) return writev(fd, iov, iovcnt);
  return DoWrite(f.get(), iov, iovcnt);
}

int us_ioctl(int fd, int request, ...) {
  va_list ap;
  va_start(ap, request);
  intptr_t arg = va_arg(ap, intptr_t);
  va_end(ap);
  std::shared_ptr<File> f = fdtable::Lookup(fd);
  if (f == nullptr) {
    if (!ValidDescriptor(fd)) return Fail(EBADF);
    // STREAMS commands mean nothing to other files (and their numbers are the kernel's CD-ROM
    // ioctls): the answer of a file that takes no such control, without asking the kernel.
    if (IsStreamsIoctl(request)) return Fail(ENOTTY);
    return ioctl(fd, static_cast<unsigned long>(request), arg);
  }
  int rval = 0;
  int e = f->head()->Ioctl(request, arg, f->flags(), &rval);
  if (e != 0) return Fail(e);
  if (request == FIONBIO) {
    // The open file's non-blocking flag, as fcntl(F_SETFL) would set it (illumos ioctl()).
    const int* on = reinterpret_cast<const int*>(arg);
    if (internal::BadAddress(on, sizeof(int))) return Fail(EFAULT);
    f->set_flags(*on != 0 ? (f->flags() | O_NONBLOCK) : (f->flags() & ~(O_NONBLOCK | O_NDELAY)));
  }
  return rval;
}

int us_fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  intptr_t arg = va_arg(ap, intptr_t);
  va_end(ap);
  std::shared_ptr<File> f = fdtable::Lookup(fd);
  if (f == nullptr) return fcntl(fd, cmd, arg);
  switch (cmd) {
    case F_GETFL:
      return f->flags();
    case F_SETFL: {
      // Only the status flags change; the access mode stays.
      constexpr int kSettable = O_NONBLOCK | O_NDELAY | O_APPEND | O_ASYNC;
      f->set_flags((f->flags() & ~kSettable) | (static_cast<int>(arg) & kSettable));
      return 0;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
      if (arg < 0) return Fail(EINVAL);
      int nfd = fdtable::Install(f, static_cast<int>(arg), cmd == F_DUPFD_CLOEXEC);
      if (nfd < 0) return Fail(-nfd);
      return nfd;
    }
    default:
      return fcntl(fd, cmd, arg);  // descriptor flags (FD_CLOEXEC) live on the descriptor
  }
}

int us_poll(struct pollfd* fds, nfds_t nfds, int timeout) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && nfds > rl.rlim_cur) return Fail(EINVAL);
  if (internal::BadAddress(fds, nfds * sizeof(pollfd))) return Fail(EFAULT);
  std::vector<std::shared_ptr<File>> files(nfds);
  bool any_stream = false;
  for (nfds_t i = 0; i < nfds; i++) {
    files[i] = fdtable::Lookup(fds[i].fd);
    any_stream = any_stream || files[i] != nullptr;
  }
  if (!any_stream) return poll(fds, nfds, timeout);
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout < 0 ? 0 : timeout);
  const short kAlways = POLLERR | POLLHUP | POLLNVAL;
  std::vector<struct pollfd> k(nfds);
  for (;;) {
    // Streams first: clear each one's readiness, then look (a change after the look makes the
    // descriptor readable again, so the kernel poll below cannot sleep through it).
    int ready = 0;
    for (nfds_t i = 0; i < nfds; i++) {
      if (files[i] == nullptr) continue;
      StreamHead* h = files[i]->head();
      h->ClearReadiness();
      fds[i].revents = static_cast<short>(h->Poll(fds[i].events) & (fds[i].events | kAlways));
      if (fds[i].revents != 0) ready++;
    }
    int wait_ms = 0;
    if (ready == 0 && timeout != 0) {
      if (timeout < 0) {
        wait_ms = -1;
      } else {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
      }
    }
    for (nfds_t i = 0; i < nfds; i++) {
      k[i].fd = fds[i].fd;
      k[i].events = files[i] != nullptr ? POLLIN : fds[i].events;
      k[i].revents = 0;
    }
    int n = poll(k.data(), nfds, wait_ms);
    if (n < 0) return -1;  // EINTR and the rest, as poll(2) gives them
    int others = 0;
    for (nfds_t i = 0; i < nfds; i++) {
      if (files[i] != nullptr) continue;
      fds[i].revents = k[i].revents;
      if (fds[i].revents != 0) others++;
    }
    if (ready > 0 || others > 0) {
      if (others > 0 && ready == 0) {
        // Something else woke us: report streams that became ready meanwhile too.
        for (nfds_t i = 0; i < nfds; i++) {
          if (files[i] == nullptr) continue;
          fds[i].revents =
              static_cast<short>(files[i]->head()->Poll(fds[i].events) & (fds[i].events | kAlways));
          if (fds[i].revents != 0) ready++;
        }
      }
      return ready + others;
    }
    if (wait_ms == 0) return 0;
    if (timeout >= 0 && Clock::now() >= deadline) return 0;
  }
}

int us_pipe(int fildes[2]) {
  if (internal::BadAddress(fildes, 2 * sizeof(int))) return Fail(EFAULT);
  std::shared_ptr<StreamHead> a, b;
  int e = Current().Pipe(&a, &b);
  if (e != 0) return Fail(e);
  int fa = Install(std::move(a), O_RDWR);
  if (fa < 0) {
    // b is released with its shared pointer below, a with its file.
    int saved = errno;
    Current().Release(b, O_NONBLOCK);
    return Fail(saved);
  }
  int fb = Install(std::move(b), O_RDWR);
  if (fb < 0) {
    int saved = errno;
    us_close(fa);
    return Fail(saved);
  }
  fildes[0] = fa;
  fildes[1] = fb;
  return 0;
}

int us_isastream(int fd) {
  if (ustreams::FileRef(fd)) {
    errno = 0;
    return 1;
  }
  if (!ValidDescriptor(fd)) return Fail(EBADF);
  errno = 0;
  return 0;
}

static int GetCommon(int fd, struct strbuf* ctlptr, struct strbuf* dataptr, int* bandp,
                     int* flagsp) {
  ustreams::FileRef f(fd);
  if (!f) return NotAStreamFor(fd, /*read=*/true);
  if (!CanRead(*f)) return Fail(EBADF);
  // The strbufs themselves are read first (illumos msgio copies them in).
  if ((ctlptr != nullptr && internal::BadAddress(ctlptr, sizeof(strbuf))) ||
      (dataptr != nullptr && internal::BadAddress(dataptr, sizeof(strbuf)))) {
    return Fail(EFAULT);
  }
  int more = 0;
  int e = f->head()->GetMsg(ctlptr, dataptr, bandp, flagsp, f->flags(), &more);
  if (e == EAGAIN) f->head()->ClearReadiness(kReadEvents);
  if (e != 0) return Fail(e);
  return more;
}

// The flags (and band) are checked before the descriptor, as illumos does.
int us_getmsg(int fd, struct strbuf* ctlptr, struct strbuf* dataptr, int* flagsp) {
  if (internal::BadAddress(flagsp, sizeof(int))) return Fail(EFAULT);
  if (*flagsp != 0 && *flagsp != RS_HIPRI) return Fail(EINVAL);
  return GetCommon(fd, ctlptr, dataptr, nullptr, flagsp);
}

int us_getpmsg(int fd, struct strbuf* ctlptr, struct strbuf* dataptr, int* bandp, int* flagsp) {
  if (internal::BadAddress(flagsp, sizeof(int)) || internal::BadAddress(bandp, sizeof(int))) {
    return Fail(EFAULT);
  }
  if (*bandp < 0 || *bandp > 255) return Fail(EINVAL);
  return GetCommon(fd, ctlptr, dataptr, bandp, flagsp);
}

static int PutCommon(int fd, const struct strbuf* ctlptr, const struct strbuf* dataptr, int band,
                     int flags) {
  ustreams::FileRef f(fd);
  if (!f) return NotAStreamFor(fd, /*read=*/false);
  if (!CanWrite(*f)) return Fail(EBADF);
  if ((ctlptr != nullptr && internal::BadAddress(ctlptr, sizeof(strbuf))) ||
      (dataptr != nullptr && internal::BadAddress(dataptr, sizeof(strbuf)))) {
    return Fail(EFAULT);
  }
  int e = f->head()->PutMsg(ctlptr, dataptr, band, flags, f->flags());
  if (e == EAGAIN) f->head()->ClearReadiness(kWriteEvents);
  if (e != 0) return Fail(e);
  return 0;
}

int us_putmsg(int fd, const struct strbuf* ctlptr, const struct strbuf* dataptr, int flags) {
  if (flags != 0 && flags != RS_HIPRI) return Fail(EINVAL);
  return PutCommon(fd, ctlptr, dataptr, -1, flags);
}

int us_putpmsg(int fd, const struct strbuf* ctlptr, const struct strbuf* dataptr, int band,
               int flags) {
  if (band < 0 || band > 255) return Fail(EINVAL);
  return PutCommon(fd, ctlptr, dataptr, band, flags);
}

}  // extern "C"
