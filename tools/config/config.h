// The config tool's front half: a network of stacks described in protobuf text format
// (stack.proto) is parsed and validated into plain structs that the builder (network.h) turns
// into LoopNetwork links and Stacks.
//
//   absl::StatusOr<Config> c = LoadFile("demo.textproto");   // or LoadText(text, "demo")
//   if (!c.ok()) { std::cerr << c.status().message(); ... }   // one "file:line: ..." per error
//   absl::StatusOr<std::unique_ptr<Network>> net = Build(*c);
//
// Theory of operation
// -------------------
// Loading is two passes over the text, and nothing is built by either. The first is protobuf's
// TextFormat parser with an error collector (syntax errors, unknown fields and enum values, each
// with its line and column) and a ParseInfoTree recording where every field's value starts. The
// second walks the parsed message and checks what the schema cannot say — names, references
// between links and interfaces, CIDRs, ranges, duplicates, whether a gateway is on-link — and
// reports every problem it finds (not just the first), each as
//
//   FILE:LINE: stack "r" interface "net1": address 10.0.3.1/24 is not in any subnet of link "b"
//   (10.0.2.0/24)
//
// naming the object by its path, the field, the value, and what was expected; LINE is where that
// field's value is (from the ParseInfoTree), or where its enclosing block starts when the field is
// missing. Only a file with no error yields a Config, so the builder never starts on a network it
// would have to abandon half-made; what can still fail there (the stack refusing a route, a module
// failing to open) is reported with the same FILE:LINE of the field that asked for it.
//
// Module and driver names are checked against what a Stack registers (Catalog::Default() asks a
// throwaway deterministic Stack), so a module added to the standard set is known here without
// touching this tool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "drivers/loop/loop.h"
#include "modules/ip/ip.h"

namespace ustreams::config {

// An IPv4 address with a prefix length, host order.
struct Cidr {
  uint32_t addr = 0;
  int len = 32;

  uint32_t mask() const;
  uint32_t network() const { return addr & mask(); }
  bool Contains(uint32_t a) const { return (a & mask()) == network(); }
  std::string ToString() const;  // "10.0.1.1/24"
  friend bool operator==(const Cidr&, const Cidr&) = default;
};

// Parses "a.b.c.d/len" (require_len) or "a.b.c.d[/len]"; nullopt when malformed.
std::optional<Cidr> ParseCidr(std::string_view s, bool require_len = true);
std::optional<uint32_t> ParseAddress(std::string_view s);
std::string FormatAddress(uint32_t addr);

// One problem found in a file. line and column are 1-based; 0 when unknown.
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string ToString() const;  // "file:line: message" (with ":column" for syntax errors)
};

enum class LinkKind { kWire, kHub, kSwitch };
const char* LinkKindName(LinkKind k);  // "wire", "hub", "switch"

struct LinkSpec {
  std::string name;
  LinkKind kind = LinkKind::kWire;
  int ports = 2;
  uint32_t mtu = 0;  // 0: the network's
  std::vector<Cidr> subnets;
  std::optional<Impairments> impair;  // every port's kOut direction
  int line = 0;
};

struct PushSpec {
  std::string module;
  std::string pcap_file;  // pcap: PCAP_IOC_OPEN this file ("" none)
  bool trace_log = false;
  int line = 0;
};

struct InterfaceSpec {
  std::string name;
  size_t link = 0;  // index into Config::links
  int port = 0;     // the port's index within its link (0-based)
  std::vector<Cidr> addresses;
  std::vector<int> address_lines;
  std::vector<PushSpec> push;  // in push order
  uint32_t mtu = 0;            // 0: the link's
  int line = 0;
};

struct RouteSpec {
  Cidr destination;
  uint32_t gateway = 0;
  int line = 0;
};

struct AutopushSpec {
  std::string driver;
  unsigned int cmd = 0;  // SAP_ONE, SAP_RANGE or SAP_ALL
  int minor = 0;
  int last_minor = 0;
  std::vector<std::string> modules;
  int anchor = 0;
  int line = 0;
};

struct StackSpec {
  std::string name;
  ip::IpConfig ip;
  std::vector<InterfaceSpec> interfaces;
  std::vector<RouteSpec> routes;
  std::vector<AutopushSpec> autopush;
  int line = 0;
};

// A validated network: every reference resolved, every value in range.
struct Config {
  std::string file;  // the name diagnostics use
  uint64_t seed = 1;
  uint32_t mtu = 1500;
  std::vector<LinkSpec> links;
  std::vector<StackSpec> stacks;

  const StackSpec* FindStack(std::string_view name) const;
  // The link's MTU (its own, else the network's).
  uint32_t LinkMtu(const LinkSpec& l) const { return l.mtu != 0 ? l.mtu : mtu; }
  // "file:line: " for messages about the field at `line`.
  std::string Where(int line) const;
};

// The names validation accepts: modules to push, drivers to autopush on.
struct Catalog {
  std::vector<std::string> modules;
  std::vector<std::string> drivers;
  // What a Stack registers (its standard drivers and modules, ip, udp, icmp ...) and "loop".
  static const Catalog& Default();
};

// Parses and validates. On any problem returns nullopt and appends every diagnostic to *errors
// (syntax errors stop at the parser's; semantic ones are all reported, in line order).
std::optional<Config> Parse(std::string_view text, std::string_view file,
                            std::vector<Diagnostic>* errors,
                            const Catalog& catalog = Catalog::Default());

// Parse, with the diagnostics as an InvalidArgument status (one per line).
absl::StatusOr<Config> LoadText(std::string_view text, std::string_view file = "<text>");
// Reads path (NotFound etc. with the errno's text if it cannot) and loads it under that name.
absl::StatusOr<Config> LoadFile(const std::string& path);

// The default network the runner brings up (default.textproto, embedded).
extern const char kDefaultConfig[];
inline constexpr char kDefaultConfigName[] = "default.textproto";
absl::StatusOr<Config> LoadDefault();

}  // namespace ustreams::config
