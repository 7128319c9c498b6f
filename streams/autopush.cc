#include "streams/autopush.h"

#include <algorithm>
#include <cerrno>

#include "streams/head.h"
#include "streams/registry.h"

namespace ustreams {

bool Autopush::Covers(const Entry& e, int minor) {
  switch (e.cmd) {
    case SAP_ALL: return true;
    case SAP_RANGE: return minor >= e.minor && minor <= e.lastminor;
    default: return minor == e.minor;
  }
}

int Autopush::Set(const Entry& e, const Registry& registry) {
  std::lock_guard<std::mutex> l(mu_);
  if (e.cmd == SAP_CLEAR) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->major != e.major || !Covers(*it, e.minor)) continue;
      // An SAP_ALL entry is cleared through minor 0, a range through its first minor.
      if (it->cmd == SAP_ALL && e.minor != 0) return EINVAL;
      if (it->cmd == SAP_RANGE && e.minor != it->minor) return ERANGE;
      entries_.erase(it);
      return 0;
    }
    return ENODEV;
  }
  if (e.cmd != SAP_ONE && e.cmd != SAP_RANGE && e.cmd != SAP_ALL) return EINVAL;
  int n = static_cast<int>(e.modules.size());
  if (n < 1 || n > MAXAPUSH || n > kNStrPush) return EINVAL;
  for (const std::string& m : e.modules) {
    if (registry.FindModule(m) == nullptr) return EINVAL;
  }
  if (e.anchor < 0 || e.anchor > n) return EINVAL;
  if (e.cmd == SAP_RANGE && e.lastminor <= e.minor) return ERANGE;
  Entry add = e;
  if (add.cmd == SAP_ALL) add.minor = add.lastminor = 0;
  if (add.cmd == SAP_ONE) add.lastminor = add.minor;
  for (const Entry& o : entries_) {
    if (o.major != add.major) continue;
    bool overlap = o.cmd == SAP_ALL || add.cmd == SAP_ALL ||
                   (add.minor <= o.lastminor && o.minor <= add.lastminor);
    if (overlap) return EEXIST;
  }
  entries_.push_back(std::move(add));
  return 0;
}

int Autopush::Get(int major, int minor, Entry* out) const {
  std::lock_guard<std::mutex> l(mu_);
  for (const Entry& e : entries_) {
    if (e.major == major && Covers(e, minor)) {
      *out = e;
      return 0;
    }
  }
  return ENODEV;
}

}  // namespace ustreams
