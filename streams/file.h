// Stream descriptors. A stream descriptor is a real file descriptor of the process: a dup of the
// stream's eventfd (StreamHead::EventFd), so an application's poll/epoll loop can wait on it. The
// table here maps descriptor numbers to open files; a descriptor that is not in it is not a
// stream, and the us_* calls treat it as the plain system calls would.
//
// A File is an open file description: what open(2) or pipe(2) made, shared by every descriptor
// I_RECVFD derives from it. Each File holds its stream open; dropping the last File of a stream
// (and the last multiplexor link holding it) is the stream's last close.
#pragma once

#include <atomic>
#include <memory>

namespace ustreams {

class StreamHead;

class File {
 public:
  File(std::shared_ptr<StreamHead> head, int flags);
  // Tells the stream's driver the file is gone (Stream::FileClosed), then releases the stream
  // (with the file's flags: non-blocking closes do not drain).
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  StreamHead* head() const { return head_.get(); }
  const std::shared_ptr<StreamHead>& head_ptr() const { return head_; }
  int flags() const { return flags_.load(std::memory_order_relaxed); }
  void set_flags(int f) { flags_.store(f, std::memory_order_relaxed); }

 private:
  std::shared_ptr<StreamHead> head_;
  std::atomic<int> flags_;
};

namespace fdtable {
// Makes a new descriptor for f, the lowest free number >= min_fd. Returns it, or -errno.
int Install(std::shared_ptr<File> f, int min_fd = 0, bool cloexec = false);
// The file behind fd, or nullptr if fd is not a stream descriptor.
std::shared_ptr<File> Lookup(int fd);
// Takes fd out of the table and closes the descriptor. Returns its file (the caller drops it:
// that may be the last close), or nullptr if fd was not a stream descriptor.
std::shared_ptr<File> Remove(int fd);
// Every stream descriptor (for tests and for closing at exit).
int Count();
// Registers the table's fork handlers now (see AllocForkInit).
void ForkInit();
}  // namespace fdtable

}  // namespace ustreams
