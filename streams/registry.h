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

struct fmodsw {
  std::string name;
  const streamtab* str;
  int flags;  // D_MP, D_MTQPAIR, D_MTPERQ, D_MTPERMOD (0 is treated as D_MTPERMOD)
  bool is_driver;
  bool clone = false;  // a driver whose every open is a clone open (like /dev/tcp)
  int major = -1;      // drivers: the major number of their devices (registration order, from 1)
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

  const fmodsw* FindModule(std::string_view name) const;
  const fmodsw* FindDriver(std::string_view name) const;
  const fmodsw* FindDriverByMajor(int major) const;
  std::vector<std::string> ModuleNames() const;
  std::vector<std::string> DriverNames() const;

 private:
  absl::Status Register(std::string_view name, const streamtab* str, int flags, bool driver,
                        bool clone);

  absl::flat_hash_map<std::string, std::unique_ptr<fmodsw>> modules_;
  absl::flat_hash_map<std::string, std::unique_ptr<fmodsw>> drivers_;
  std::vector<const fmodsw*> by_major_;  // [major - 1]
};

}  // namespace ustreams
