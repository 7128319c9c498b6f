#include "streams/registry.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "streams/perimeter.h"

namespace ustreams {

Registry::Registry() = default;
Registry::~Registry() = default;

absl::Status Registry::Register(std::string_view name, const streamtab* str, int flags,
                                bool driver, bool clone, FileCloseFn file_close) {
  const char* kind = driver ? "driver" : "module";
  const std::string n(name);  // Debian's Abseil has its own string_view
  if (name.empty() || name.size() > FMNAMESZ) {
    return absl::InvalidArgumentError(absl::StrCat(kind, " name \"", n, "\" must have 1 to ",
                                                   FMNAMESZ, " characters"));
  }
  if (str == nullptr || str->st_rdinit == nullptr || str->st_wrinit == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " \"", n, "\": streamtab needs a read and a write qinit"));
  }
  for (const qinit* qi : {str->st_rdinit, str->st_wrinit}) {
    if (qi->qi_putp == nullptr || qi->qi_minfo == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          kind, " \"", n, "\": each qinit needs a put procedure and a module_info"));
    }
  }
  constexpr int kKnown = D_MP | D_MTQPAIR | D_MTPERQ | D_MTPERMOD;
  if ((flags & ~kKnown) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, " \"", n, "\": unknown flag bits 0x", absl::Hex(flags & ~kKnown)));
  }
  auto& table = driver ? drivers_ : modules_;
  std::string key(name);
  if (table.contains(key)) {
    return absl::AlreadyExistsError(absl::StrCat(kind, " \"", n, "\" is already registered"));
  }
  auto sw = std::make_unique<fmodsw>();
  sw->name = key;
  sw->str = str;
  sw->flags = flags;
  sw->is_driver = driver;
  if ((flags & (D_MP | D_MTQPAIR | D_MTPERQ)) == 0) sw->permod = std::make_unique<internal::SyncQ>();
  if (driver) {
    sw->clone = clone;
    sw->file_close = file_close;
    by_major_.push_back(sw.get());
    sw->major = static_cast<int>(by_major_.size());
  }
  table.emplace(std::move(key), std::move(sw));
  return absl::OkStatus();
}

absl::Status Registry::RegisterModule(std::string_view name, const streamtab* str, int flags) {
  return Register(name, str, flags, false, false, nullptr);
}

absl::Status Registry::RegisterDriver(std::string_view name, const streamtab* str, int flags,
                                      bool clone) {
  return Register(name, str, flags, true, clone, nullptr);
}

absl::Status Registry::RegisterDriver(std::string_view name, const streamtab* str, int flags,
                                      bool clone, FileCloseFn file_close) {
  return Register(name, str, flags, true, clone, file_close);
}

const fmodsw* Registry::FindDriverByMajor(int major) const {
  if (major < 1 || major > static_cast<int>(by_major_.size())) return nullptr;
  return by_major_[static_cast<size_t>(major - 1)];
}

const fmodsw* Registry::FindModule(std::string_view name) const {
  auto it = modules_.find(std::string(name));
  return it == modules_.end() ? nullptr : it->second.get();
}

const fmodsw* Registry::FindDriver(std::string_view name) const {
  auto it = drivers_.find(std::string(name));
  return it == drivers_.end() ? nullptr : it->second.get();
}

static std::vector<std::string> SortedKeys(
    const absl::flat_hash_map<std::string, std::unique_ptr<fmodsw>>& m) {
  std::vector<std::string> names;
  for (const auto& [k, v] : m) names.push_back(k);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Registry::ModuleNames() const { return SortedKeys(modules_); }
std::vector<std::string> Registry::DriverNames() const { return SortedKeys(drivers_); }

}  // namespace ustreams
