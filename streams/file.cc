#include "streams/file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "streams/domain.h"
#include "streams/head.h"

namespace ustreams {

File::File(std::shared_ptr<StreamHead> head, int flags) : head_(std::move(head)), flags_(flags) {}

File::~File() {
  if (head_ != nullptr) head_->domain()->Release(head_, flags());
}

namespace fdtable {
namespace {

// Indexed by descriptor number. Lookups take the lock shared; the table only grows.
struct Table {
  std::shared_mutex mu;
  std::vector<std::shared_ptr<File>> files;
};

Table& T() {
  static Table* t = new Table;  // outlives static destructors: descriptors may close late
  return *t;
}

}  // namespace

int Install(std::shared_ptr<File> f, int min_fd, bool cloexec) {
  int efd = f->head()->EventFd();
  if (efd < 0) return efd;
  int fd = fcntl(efd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min_fd);
  if (fd < 0) return -errno;
  f->head()->AddDescriptor();  // not under the table's lock: heads take it under theirs
  Table& t = T();
  std::unique_lock<std::shared_mutex> l(t.mu);
  if (static_cast<size_t>(fd) >= t.files.size()) t.files.resize(static_cast<size_t>(fd) + 64);
  t.files[static_cast<size_t>(fd)] = std::move(f);
  return fd;
}

std::shared_ptr<File> Lookup(int fd) {
  if (fd < 0) return nullptr;
  Table& t = T();
  std::shared_lock<std::shared_mutex> l(t.mu);
  if (static_cast<size_t>(fd) >= t.files.size()) return nullptr;
  return t.files[static_cast<size_t>(fd)];
}

std::shared_ptr<File> Remove(int fd) {
  if (fd < 0) return nullptr;
  std::shared_ptr<File> f;
  {
    Table& t = T();
    std::unique_lock<std::shared_mutex> l(t.mu);
    if (static_cast<size_t>(fd) >= t.files.size()) return nullptr;
    f = std::move(t.files[static_cast<size_t>(fd)]);
    if (f == nullptr) return nullptr;
    // Closed under the lock: the number cannot be reused (and installed) before it is free.
    close(fd);
  }
  f->head()->DropDescriptor();
  return f;
}

int Count() {
  Table& t = T();
  std::shared_lock<std::shared_mutex> l(t.mu);
  int n = 0;
  for (const auto& f : t.files) n += f != nullptr;
  return n;
}

}  // namespace fdtable
}  // namespace ustreams
