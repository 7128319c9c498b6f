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
#include <cstddef>
#include <memory>

#include "streams/thread_record.h"

namespace ustreams {

class StreamHead;

class File {
 public:
  // A new open file of head's stream. Its last release waits for any call still using it through
  // a FileRef (see there), so the stream's close may run in that call's thread.
  static std::shared_ptr<File> Make(std::shared_ptr<StreamHead> head, int flags);
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
  File(std::shared_ptr<StreamHead> head, int flags);

  std::shared_ptr<StreamHead> head_;
  std::atomic<int> flags_;
};

// The open file behind a descriptor, for the length of one call (a us_* call's scope), taken
// without touching the file's reference count: the file's address goes in a hazard slot of the
// calling thread's record (thread_record.h) and the descriptor's slot is read again, so a close
// that comes later sees the file in use. If that close drops the file's last reference, the file
// is not deleted until the last FileRef naming it goes, in that thread: the stream's close then
// runs at the end of the call that was using it, as Linux runs a file's release when the last
// system call using it returns. A thread whose hazard slots are all taken (calls nested by signal
// handlers) falls back to holding a reference.
namespace fdtable::detail {
// What a FileRef reads with no lock (file.cc has the rest of the table): for each chunk of
// kChunkSize descriptors, its slots' plain file addresses, once the chunk is made.
inline constexpr int kChunkBits = 10;
inline constexpr size_t kChunkSize = size_t{1} << kChunkBits;
inline constexpr size_t kChunks = 1024;  // descriptors below 1 Mi
inline constinit std::atomic<std::atomic<File*>*> g_files[kChunks] = {};
// How many files are retired: what a FileRef's end looks at, with no lock.
inline constinit std::atomic<size_t> g_retired{0};
}  // namespace fdtable::detail

// The usual case is inline (every read and write makes one); the rest is in file.cc.
class FileRef {
 public:
  explicit FileRef(int fd);
  ~FileRef();
  FileRef(const FileRef&) = delete;
  FileRef& operator=(const FileRef&) = delete;

  File* get() const { return file_; }
  File* operator->() const { return file_; }
  File& operator*() const { return *file_; }
  explicit operator bool() const { return file_ != nullptr; }

 private:
  // The table's slot changed while it was looked at: look until it holds still.
  void Settle(int fd, std::atomic<File*>& in_table, int slot, File* named);
  void Strong(int fd);  // no hazard slot free: hold a reference instead
  void End();           // retired files to reap

  File* file_ = nullptr;
  int slot_ = -1;                 // the hazard slot, or -1
  std::shared_ptr<File> strong_;  // instead of a slot
};

[[gnu::always_inline]] inline FileRef::FileRef(int fd) {
  if (fd < 0) return;
  const size_t chunk = static_cast<size_t>(fd) >> fdtable::detail::kChunkBits;
  if (chunk >= fdtable::detail::kChunks) return;
  std::atomic<File*>* files = fdtable::detail::g_files[chunk].load(std::memory_order_acquire);
  if (files == nullptr) return;
  std::atomic<File*>& in_table =
      files[static_cast<size_t>(fd) & (fdtable::detail::kChunkSize - 1)];
  internal::ThreadRecord* r = internal::t_record;
  if (r == nullptr || r->hazards == internal::ThreadRecord::kHazards) [[unlikely]] {
    Settle(fd, in_table, -1, nullptr);
    return;
  }
  const int i = r->hazards;
  r->hazards = i + 1;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // a handler's call takes the next slot
  File* f = in_table.load(std::memory_order_acquire);
  r->hazard[i].store(f, std::memory_order_relaxed);
  internal::LightFence();  // the hazard's store before the table's second look
  if (in_table.load(std::memory_order_acquire) != f) [[unlikely]] {
    Settle(fd, in_table, i, f);
    return;
  }
  if (f == nullptr) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    r->hazards = i;
    return;
  }
  file_ = f;
  slot_ = i;
}

[[gnu::always_inline]] inline FileRef::~FileRef() {
  if (slot_ < 0) return;
  internal::ThreadRecord& r = *internal::t_record;
  r.hazard[slot_].store(nullptr, std::memory_order_release);  // the call's work before
  std::atomic_signal_fence(std::memory_order_seq_cst);
  r.hazards = slot_;
  internal::LightFence();  // the hazard's clearing before the retired count's look
  if (fdtable::detail::g_retired.load(std::memory_order_relaxed) != 0) [[unlikely]] End();
}

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
// Open files whose last reference went while a call still used them: their close waits for
// that call's end (FileRef). For tests: 0 once no call is under way.
int Retired();
// Registers the table's fork handlers now (see AllocForkInit).
void ForkInit();
}  // namespace fdtable

}  // namespace ustreams
