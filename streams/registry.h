// The module and driver registry: the fmodsw/devsw of this library. I_PUSH, open-by-name and the
// config tool find modules and drivers here. Modules are declarative data (a streamtab and MT
// flags) registered at one explicit place by a RegisterX(Registry&) function of their own.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "streams/queue.h"
#include "streams/stropts.h"

namespace ustreams {

namespace internal {
class SyncQ;
}

// FMNAMESZ (streams/stropts.h) bounds module and driver names.

// This library's extension for drivers that count their opens (the FIFO driver counts readers
// and writers). A driver's open routine runs at every open of its stream, but its close routine
// only at the last close; this callback balances the opens: it runs each time an open file of
// one of the driver's streams goes away (the last close(2) of an open file description, however
// many descriptors shared it), with the file's open flags, on the driver's read queue and inside
// its perimeter, before the stream's last close if that follows. Holds that are not files
// (multiplexor links) do not call it, nor does an open that failed.
using FileCloseFn = void (*)(queue_t* rq, int fflag, cred_t* crp);

struct fmodsw {
  std::string name;
  const streamtab* str;
  int flags;  // D_MP, D_MTQPAIR, D_MTPERQ, D_MTPERMOD (0 is treated as D_MTPERMOD)
  bool is_driver;
  bool clone = false;  // a driver whose every open is a clone open (like /dev/tcp)
  int major = -1;      // drivers: the major number of their devices (registration order, from 1)
  FileCloseFn file_close = nullptr;  // drivers: see FileCloseFn
  // The perimeter shared by every instance of a D_MTPERMOD module.
  std::unique_ptr<internal::SyncQ> permod;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Errors: InvalidArgument for an empty or over-long name (FMNAMESZ), a streamtab without read
  // and write qinit, put procedures or module_info, or unknown flag bits; AlreadyExists for a
  // name already registered as the same kind.
  absl::Status RegisterModule(std::string_view name, const streamtab* str, int flags);
  // clone: opening "/dev/NAME" is a clone open (each open a new stream).
  absl::Status RegisterDriver(std::string_view name, const streamtab* str, int flags,
                              bool clone = false);
  // A driver that is told of each open file's close (see FileCloseFn).
  absl::Status RegisterDriver(std::string_view name, const streamtab* str, int flags, bool clone,
                              FileCloseFn file_close);

  const fmodsw* FindModule(std::string_view name) const;
  const fmodsw* FindDriver(std::string_view name) const;
  const fmodsw* FindDriverByMajor(int major) const;
  std::vector<std::string> ModuleNames() const;
  std::vector<std::string> DriverNames() const;

 private:
  absl::Status Register(std::string_view name, const streamtab* str, int flags, bool driver,
                        bool clone, FileCloseFn file_close);

  absl::flat_hash_map<std::string, std::unique_ptr<fmodsw>> modules_;
  absl::flat_hash_map<std::string, std::unique_ptr<fmodsw>> drivers_;
  std::vector<const fmodsw*> by_major_;  // [major - 1]
};

}  // namespace ustreams
