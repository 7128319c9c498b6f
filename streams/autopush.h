// The autopush table (the data behind the sad(4D) driver): for a driver major and a range of
// minors, the modules pushed on every open of a new stream there, in order, and an optional
// anchor. Domain::Open applies it; the sad driver edits it with SAD_SAP and reads it with SAD_GAP.
#pragma once

#include <mutex>
#include <string>
#include <vector>

namespace ustreams {

// sad(4D) limits and commands.
inline constexpr int MAXAPUSH = 8;
inline constexpr unsigned int SAP_CLEAR = 0;
inline constexpr unsigned int SAP_ONE = 1;
inline constexpr unsigned int SAP_RANGE = 2;
inline constexpr unsigned int SAP_ALL = 3;

class Registry;

class Autopush {
 public:
  struct Entry {
    unsigned int cmd = SAP_ONE;  // how it was set: SAP_ONE, SAP_RANGE or SAP_ALL
    int major = 0;
    int minor = 0;
    int lastminor = 0;
    std::vector<std::string> modules;  // pushed in this order
    int anchor = 0;                    // anchor after this many modules (0: none)
  };

  // SAD_SAP: sets (SAP_ONE, SAP_RANGE, SAP_ALL) or clears (SAP_CLEAR) an entry. Returns 0 or the
  // errno sad(4D) gives: EINVAL (bad count, unknown module, bad command or anchor), ERANGE (a
  // range that ends before it starts; a clear not at the start of a range), EEXIST (overlaps an
  // entry), ENODEV (nothing to clear). Majors are checked by the caller (it knows the drivers).
  int Set(const Entry& e, const Registry& registry);
  // SAD_GAP and open: the entry covering (major, minor). ENODEV if none.
  int Get(int major, int minor, Entry* out) const;

 private:
  static bool Covers(const Entry& e, int minor);
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
};

}  // namespace ustreams
