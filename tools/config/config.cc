// Addresses, diagnostics, the catalog of names and the loaders (config.h). Validation is in
// validate.cc.
#include "tools/config/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "modules/ip/errno_status.h"
#include "modules/ip/route.h"
#include "modules/stack/stack.h"

namespace ustreams::config {

uint32_t Cidr::mask() const { return ip::PrefixMask(len); }

std::string Cidr::ToString() const { return absl::StrCat(FormatAddress(addr), "/", len); }

std::optional<uint32_t> ParseAddress(std::string_view s) {
  std::string str(s);
  in_addr a;
  if (str.empty() || inet_pton(AF_INET, str.c_str(), &a) != 1) return std::nullopt;
  return ntohl(a.s_addr);
}

std::optional<Cidr> ParseCidr(std::string_view s, bool require_len) {
  Cidr c;
  size_t slash = s.find('/');
  if (slash == std::string_view::npos) {
    if (require_len) return std::nullopt;
  } else {
    // One or two digits (no sign, no spaces, no leading "+").
    std::string_view len = s.substr(slash + 1);
    if (len.empty() || len.size() > 2 ||
        !std::all_of(len.begin(), len.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return std::nullopt;
    }
    c.len = 0;
    for (char ch : len) c.len = c.len * 10 + (ch - '0');
    if (c.len > 32) return std::nullopt;
    s = s.substr(0, slash);
  }
  std::optional<uint32_t> a = ParseAddress(s);
  if (!a) return std::nullopt;
  c.addr = *a;
  return c;
}

std::string FormatAddress(uint32_t addr) {
  return absl::StrCat(addr >> 24, ".", (addr >> 16) & 0xff, ".", (addr >> 8) & 0xff, ".",
                      addr & 0xff);
}

std::string Diagnostic::ToString() const {
  std::string s = file;
  if (line > 0) absl::StrAppend(&s, ":", line);
  if (line > 0 && column > 0) absl::StrAppend(&s, ":", column);
  absl::StrAppend(&s, ": ", message);
  return s;
}

const char* LinkKindName(LinkKind k) {
  switch (k) {
    case LinkKind::kWire:
      return "wire";
    case LinkKind::kHub:
      return "hub";
    case LinkKind::kSwitch:
      return "switch";
  }
  return "?";
}

const StackSpec* Config::FindStack(std::string_view name) const {
  for (const StackSpec& s : stacks) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

std::string Config::Where(int line) const {
  return line > 0 ? absl::StrCat(file, ":", line, ": ") : absl::StrCat(file, ": ");
}

const Catalog& Catalog::Default() {
  static const Catalog* catalog = [] {
    auto* c = new Catalog;
    LoopNetwork net;
    Stack::Options o;
    o.deterministic = true;
    Stack probe(o);
    (void)probe.AttachLoopNetwork(net);
    c->modules = probe.domain().registry().ModuleNames();
    c->drivers = probe.domain().registry().DriverNames();
    std::sort(c->modules.begin(), c->modules.end());
    std::sort(c->drivers.begin(), c->drivers.end());
    return c;
  }();
  return *catalog;
}

absl::StatusOr<Config> LoadText(std::string_view text, std::string_view file) {
  std::vector<Diagnostic> errors;
  std::optional<Config> c = Parse(text, file, &errors);
  if (c) return std::move(*c);
  std::vector<std::string> lines;
  for (const Diagnostic& d : errors) lines.push_back(d.ToString());
  return absl::InvalidArgumentError(absl::StrJoin(lines, "\n"));
}

absl::StatusOr<Config> LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    int err = errno;
    return ip::ErrnoError(err, absl::StrCat(path, ": ", std::strerror(err)));
  }
  std::stringstream text;
  text << in.rdbuf();
  return LoadText(text.str(), path);
}

absl::StatusOr<Config> LoadDefault() { return LoadText(kDefaultConfig, kDefaultConfigName); }

}  // namespace ustreams::config
