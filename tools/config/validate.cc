// The semantic checks of a parsed network (config.h's theory of operation). Every check appends a
// diagnostic and goes on, so one run reports every problem.
#include "tools/config/validate.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/text_format.h"
#include "modules/ip/ip_ioctl.h"
#include "streams/autopush.h"
#include "tools/config/config.h"
#include "tools/config/stack.pb.h"

namespace ustreams::config {
namespace {

using google::protobuf::Message;
using pb::Interface;
using pb::Push;
using pb::Route;
using pb::Stack;
using Tree = google::protobuf::TextFormat::ParseInfoTree;

constexpr int kMaxAddresses = 64;  // IP refuses the 65th (ENOSPC)
constexpr int kMaxLinkPorts = 256;
constexpr size_t kMaxIfName = IPIF_NAMESZ - 1;

// Where the fields of one parsed message are: their 1-based lines, or the message's own line for
// a field the file leaves out.
class Loc {
 public:
  Loc(const Tree* tree, const Message& m, int line)
      : tree_(tree), desc_(m.GetDescriptor()), line_(line) {}

  int line() const { return line_; }
  int Line(const char* field, int index = -1) const {
    const google::protobuf::FieldDescriptor* f = desc_->FindFieldByName(field);
    if (tree_ == nullptr || f == nullptr) return line_;
    if (!f->is_repeated()) index = -1;
    int l = tree_->GetLocation(f, index).line;
    return l >= 0 ? l + 1 : line_;
  }
  // The location map of the index-th value of message field `field`, which is `child`.
  Loc Nested(const Message& child, const char* field, int index = -1) const {
    const google::protobuf::FieldDescriptor* f = desc_->FindFieldByName(field);
    const Tree* t = nullptr;
    if (tree_ != nullptr && f != nullptr) {
      if (!f->is_repeated()) index = -1;
      t = tree_->GetTreeForNested(f, index);
    }
    return Loc(t, child, Line(field, index));
  }

 private:
  const Tree* tree_;
  const google::protobuf::Descriptor* desc_;
  int line_;
};

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

std::string QuotedList(const std::vector<std::string>& names) {
  std::vector<std::string> q;
  for (const std::string& n : names) q.push_back(Quote(n));
  return absl::StrJoin(q, ", ");
}

bool GoodName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// "0.5" rather than "0.50000000000000000".
std::string Num(double d) { return absl::StrCat(d); }

class Validator {
 public:
  Validator(std::string file, const Catalog& catalog, std::vector<Diagnostic>* errors)
      : file_(std::move(file)), catalog_(catalog), errors_(errors), first_(errors->size()) {}

  std::optional<Config> Run(const pb::Network& net, const Tree& tree) {
    Loc loc(&tree, net, 1);
    config_.file = file_;
    if (net.has_seed()) config_.seed = net.seed();
    if (net.has_mtu()) {
      if (net.mtu() < 68 || net.mtu() > 65535) {
        Error(loc.Line("mtu"), absl::StrCat("mtu ", net.mtu(), ": expected 68..65535"));
      } else {
        config_.mtu = net.mtu();
      }
    }
    for (int i = 0; i < net.link_size(); i++) {
      Link(net.link(i), loc.Nested(net.link(i), "link", i), i);
    }
    for (int i = 0; i < net.stack_size(); i++) {
      StackHead(net.stack(i), loc.Nested(net.stack(i), "stack", i), i);
    }
    // Ports: explicit ones first (across every stack), so an interface without a port never takes
    // one that a later interface asks for by number.
    for (int pass = 0; pass < 2; pass++) {
      for (int i = 0; i < net.stack_size(); i++) {
        const Stack& s = net.stack(i);
        Loc sl = loc.Nested(s, "stack", i);
        for (int j = 0; j < s.interface_size(); j++) {
          if (s.interface(j).has_port() == (pass == 0)) {
            InterfacePort(i, j, s.interface(j), sl.Nested(s.interface(j), "interface", j));
          }
        }
      }
    }
    for (int i = 0; i < net.stack_size(); i++) {
      StackBody(net.stack(i), loc.Nested(net.stack(i), "stack", i), i);
    }
    if (errors_->size() > first_) {
      std::stable_sort(errors_->begin() + static_cast<ptrdiff_t>(first_), errors_->end(),
                       [](const Diagnostic& a, const Diagnostic& b) { return a.line < b.line; });
      return std::nullopt;
    }
    return std::move(config_);
  }

 private:
  void Error(int line, std::string message) {
    errors_->push_back({file_, line, 0, std::move(message)});
  }

  // ---- durations, probabilities ----

  std::optional<absl::Duration> Duration(const std::string& ctx, const std::string& field,
                                         const std::string& value, int line, bool positive) {
    absl::Duration d;
    if (!absl::ParseDuration(value, &d) || d == absl::InfiniteDuration() ||
        d == -absl::InfiniteDuration()) {
      Error(line, absl::StrCat(ctx, field, " ", Quote(value),
                               ": bad duration (expected e.g. \"5ms\", \"1.5s\", \"2m\")"));
      return std::nullopt;
    }
    if (d < absl::ZeroDuration() || (positive && d == absl::ZeroDuration())) {
      Error(line, absl::StrCat(ctx, field, " ", Quote(value), ": expected a ",
                               positive ? "positive" : "non-negative", " duration"));
      return std::nullopt;
    }
    return d;
  }

  void Probability(const std::string& ctx, const char* field, double p, int line, double* out) {
    if (!(p >= 0 && p <= 1)) {
      Error(line,
            absl::StrCat(ctx, field, " ", Num(p), ": out of range (expected a probability 0..1)"));
      return;
    }
    *out = p;
  }

  std::optional<Impairments> Impair(const std::string& ctx, const pb::Impairments& m,
                                    const Loc& loc) {
    ustreams::Impairments imp;
    const std::string c = ctx + "impair.";
    if (m.has_loss()) Probability(c, "loss", m.loss(), loc.Line("loss"), &imp.loss);
    if (m.has_reorder()) Probability(c, "reorder", m.reorder(), loc.Line("reorder"), &imp.reorder);
    if (m.has_duplicate()) {
      Probability(c, "duplicate", m.duplicate(), loc.Line("duplicate"), &imp.duplicate);
    }
    if (m.has_corrupt()) Probability(c, "corrupt", m.corrupt(), loc.Line("corrupt"), &imp.corrupt);
    auto dur = [&](bool has, const std::string& v, const char* field, absl::Duration* out) {
      if (!has) return;
      if (auto d = Duration(c, field, v, loc.Line(field), false)) *out = *d;
    };
    dur(m.has_delay(), m.delay(), "delay", &imp.delay);
    dur(m.has_jitter(), m.jitter(), "jitter", &imp.jitter);
    dur(m.has_reorder_gap(), m.reorder_gap(), "reorder_gap", &imp.reorder_gap);
    if (m.has_rate_bps()) imp.rate_bps = m.rate_bps();
    if (m.has_queue_bytes()) {
      if (m.queue_bytes() == 0) {
        Error(loc.Line("queue_bytes"), absl::StrCat(c, "queue_bytes 0: expected a positive size"));
      }
      imp.queue_bytes = m.queue_bytes();
    }
    if (m.has_mtu()) {
      if (m.mtu() != 0 && (m.mtu() < 68 || m.mtu() > 65535)) {
        Error(loc.Line("mtu"),
              absl::StrCat(c, "mtu ", m.mtu(), ": expected 0 (no limit) or 68..65535"));
      }
      imp.mtu = m.mtu();
    }
    return imp;
  }

  // ---- links ----

  void Link(const pb::Link& m, const Loc& loc, int index) {
    LinkSpec l;
    l.line = loc.line();
    l.name = m.name();
    std::string ctx = m.name().empty() ? absl::StrCat("link #", index + 1, ": ")
                                       : absl::StrCat("link ", Quote(m.name()), ": ");
    Name(ctx, m.name(), loc, "link", link_lines_);
    switch (m.kind()) {
      case pb::Link::HUB:
        l.kind = LinkKind::kHub;
        break;
      case pb::Link::SWITCH:
        l.kind = LinkKind::kSwitch;
        break;
      default:
        l.kind = LinkKind::kWire;
        break;
    }
    if (l.kind == LinkKind::kWire) {
      if (m.has_ports() && m.ports() != 2) {
        Error(loc.Line("ports"), absl::StrCat(ctx, "ports ", m.ports(),
                                              ": a wire has exactly 2 (use kind: HUB or SWITCH)"));
      }
    } else if (!m.has_ports()) {
      Error(loc.line(), absl::StrCat(ctx, "ports: missing (a ", LinkKindName(l.kind), " needs 2..",
                                     kMaxLinkPorts, ")"));
    } else if (m.ports() < 2 || m.ports() > kMaxLinkPorts) {
      Error(loc.Line("ports"),
            absl::StrCat(ctx, "ports ", m.ports(), ": expected 2..", kMaxLinkPorts));
    } else {
      l.ports = static_cast<int>(m.ports());
    }
    if (m.has_mtu()) {
      if (m.mtu() < 68 || m.mtu() > 65535) {
        Error(loc.Line("mtu"), absl::StrCat(ctx, "mtu ", m.mtu(), ": expected 68..65535"));
      } else {
        l.mtu = m.mtu();
      }
    }
    for (int i = 0; i < m.subnet_size(); i++) {
      if (auto c = Prefix(ctx, "subnet", m.subnet(i), loc.Line("subnet", i), false)) {
        l.subnets.push_back(*c);
      }
    }
    if (m.has_impair()) l.impair = Impair(ctx, m.impair(), loc.Nested(m.impair(), "impair"));
    config_.links.push_back(std::move(l));
  }

  // A name of letters, digits, '_', '-', '.', unique among `seen` (name -> line).
  void Name(const std::string& ctx, const std::string& name, const Loc& loc, const char* what,
            std::map<std::string, int>& seen) {
    if (name.empty()) {
      Error(loc.line(), absl::StrCat(ctx, "name: missing"));
      return;
    }
    if (!GoodName(name)) {
      Error(loc.Line("name"), absl::StrCat(ctx, "name: expected letters, digits, '_', '-' or '.'"));
    }
    auto [it, fresh] = seen.emplace(name, loc.Line("name"));
    if (!fresh) {
      Error(loc.Line("name"),
            absl::StrCat(ctx, "duplicate ", what, " name (first at line ", it->second, ")"));
    }
  }

  // A prefix ("subnet", "destination"): CIDR without host bits.
  std::optional<Cidr> Prefix(const std::string& ctx, const char* field, const std::string& v,
                             int line, bool allow_default) {
    if (allow_default && v == "default") return Cidr{0, 0};
    std::optional<Cidr> c = ParseCidr(v);
    if (!c) {
      Error(line, absl::StrCat(ctx, field, " ", Quote(v),
                               ": bad CIDR (expected a.b.c.d/len with len 0..32",
                               allow_default ? ", or \"default\")" : ")"));
      return std::nullopt;
    }
    if (c->addr != c->network()) {
      Error(line, absl::StrCat(ctx, field, " ", c->ToString(), ": host bits set (expected ",
                               Cidr{c->network(), c->len}.ToString(), ")"));
      return std::nullopt;
    }
    return c;
  }

  int FindLink(const std::string& name) const {
    for (size_t i = 0; i < config_.links.size(); i++) {
      if (config_.links[i].name == name) return static_cast<int>(i);
    }
    return -1;
  }

  std::vector<std::string> LinkNames() const {
    std::vector<std::string> v;
    for (const LinkSpec& l : config_.links) {
      if (!l.name.empty()) v.push_back(l.name);
    }
    return v;
  }

  // ---- stacks ----

  // The stack's name and, for the port pass, its interfaces' names and links.
  void StackHead(const Stack& m, const Loc& loc, int index) {
    StackSpec s;
    s.line = loc.line();
    s.name = m.name();
    std::string ctx = StackCtx(m, index) + ": ";
    Name(ctx, m.name(), loc, "stack", stack_lines_);
    std::map<std::string, int> if_lines;
    for (int j = 0; j < m.interface_size(); j++) {
      const Interface& im = m.interface(j);
      Loc il = loc.Nested(im, "interface", j);
      InterfaceSpec is;
      is.line = il.line();
      is.name = im.name();
      std::string ictx = IfCtx(m, index, im, j);
      if (im.name().empty()) {
        Error(il.line(), absl::StrCat(ictx, "name: missing"));
      } else if (!GoodName(im.name())) {
        Error(il.Line("name"),
              absl::StrCat(ictx, "name: expected letters, digits, '_', '-' or '.'"));
      } else if (im.name().size() > kMaxIfName) {
        Error(il.Line("name"),
              absl::StrCat(ictx, "name: too long (at most ", kMaxIfName, " characters)"));
      } else if (auto [it, fresh] = if_lines.emplace(im.name(), il.Line("name")); !fresh) {
        Error(il.Line("name"),
              absl::StrCat(ictx, "duplicate interface name (first at line ", it->second, ")"));
      }
      is.link = SIZE_MAX;
      if (im.link().empty()) {
        Error(il.line(),
              absl::StrCat(ictx, "link: missing (links: ", QuotedList(LinkNames()), ")"));
      } else if (int li = FindLink(im.link()); li < 0) {
        Error(il.Line("link"),
              absl::StrCat(ictx, "link ", Quote(im.link()),
                           " is not defined (links: ", QuotedList(LinkNames()), ")"));
      } else {
        is.link = static_cast<size_t>(li);
      }
      s.interfaces.push_back(std::move(is));
    }
    config_.stacks.push_back(std::move(s));
  }

  std::string StackCtx(const Stack& m, int index) const {
    return m.name().empty() ? absl::StrCat("stack #", index + 1)
                            : absl::StrCat("stack ", Quote(m.name()));
  }
  std::string IfCtx(const Stack& s, int si, const Interface& m, int index) const {
    return absl::StrCat(StackCtx(s, si), " ",
                        m.name().empty() ? absl::StrCat("interface #", index + 1)
                                         : absl::StrCat("interface ", Quote(m.name())),
                        ": ");
  }

  struct PortUser {
    std::string who;
    int line;
  };

  void InterfacePort(int si, int ii, const Interface& m, const Loc& loc) {
    InterfaceSpec& is = config_.stacks[si].interfaces[ii];
    if (is.link == SIZE_MAX) return;
    const LinkSpec& link = config_.links[is.link];
    std::map<int, PortUser>& used = ports_[is.link];
    std::string who =
        absl::StrCat("stack ", Quote(config_.stacks[si].name), " interface ", Quote(m.name()));
    std::string ctx = absl::StrCat(who, ": ");
    if (m.has_port()) {
      if (m.port() >= static_cast<uint32_t>(link.ports)) {
        Error(loc.Line("port"), absl::StrCat(ctx, "port ", m.port(), ": out of range (link ",
                                             Quote(link.name), " is a ", LinkKindName(link.kind),
                                             " with ports 0..", link.ports - 1, ")"));
        is.link = SIZE_MAX;
        return;
      }
      int p = static_cast<int>(m.port());
      if (auto it = used.find(p); it != used.end()) {
        Error(loc.Line("port"),
              absl::StrCat(ctx, "port ", p, " of link ", Quote(link.name), " is already used by ",
                           it->second.who, " (line ", it->second.line, ")"));
        is.link = SIZE_MAX;
        return;
      }
      is.port = p;
    } else {
      int p = 0;
      while (p < link.ports && used.count(p) != 0) p++;
      if (p == link.ports) {
        Error(loc.Line("link"),
              absl::StrCat(ctx, "link ", Quote(link.name), " has no free port (its ", link.ports,
                           " ports are taken)"));
        is.link = SIZE_MAX;
        return;
      }
      is.port = p;
    }
    used[is.port] = PortUser{who, loc.line()};
  }

  void StackBody(const Stack& m, const Loc& loc, int index) {
    StackSpec& s = config_.stacks[index];
    std::string ctx = StackCtx(m, index);
    if (m.has_tunables()) {
      Tunables(ctx + ": ", m.tunables(), loc.Nested(m.tunables(), "tunables"), &s.ip);
    }
    // Every address of the stack, for duplicates and the routes' gateways.
    std::vector<std::pair<Cidr, std::string>> mine;  // address, interface
    std::map<uint32_t, int> address_lines;
    for (int j = 0; j < m.interface_size(); j++) {
      Interfaces(m, index, j, loc.Nested(m.interface(j), "interface", j), &mine, &address_lines);
    }
    std::map<std::pair<uint32_t, int>, int> route_lines;
    for (int j = 0; j < m.route_size(); j++) {
      RouteCheck(m, index, j, loc.Nested(m.route(j), "route", j), mine, &route_lines);
    }
    for (int j = 0; j < m.autopush_size(); j++) {
      AutopushCheck(m, index, j, loc.Nested(m.autopush(j), "autopush", j));
    }
  }

  void Tunables(const std::string& ctx, const pb::Tunables& m, const Loc& loc, ip::IpConfig* ip) {
    const std::string c = ctx + "tunables.";
    if (m.has_forwarding()) ip->forwarding = m.forwarding();
    if (m.has_default_ttl()) {
      if (m.default_ttl() < 1 || m.default_ttl() > 255) {
        Error(loc.Line("default_ttl"),
              absl::StrCat(c, "default_ttl ", m.default_ttl(), ": expected 1..255"));
      } else {
        ip->default_ttl = static_cast<uint8_t>(m.default_ttl());
      }
    }
    auto dur = [&](bool has, const std::string& v, const char* field, absl::Duration* out,
                   bool positive) {
      if (!has) return;
      if (auto d = Duration(c, field, v, loc.Line(field), positive)) *out = *d;
    };
    dur(m.has_arp_reachable(), m.arp_reachable(), "arp_reachable", &ip->arp_reachable, true);
    dur(m.has_arp_stale(), m.arp_stale(), "arp_stale", &ip->arp_stale, true);
    dur(m.has_arp_retry(), m.arp_retry(), "arp_retry", &ip->arp_retry, true);
    dur(m.has_reassembly_timeout(), m.reassembly_timeout(), "reassembly_timeout",
        &ip->reassembly_timeout, true);
    dur(m.has_icmp_ratelimit(), m.icmp_ratelimit(), "icmp_ratelimit", &ip->icmp_ratelimit, false);
    dur(m.has_pmtu_expiry(), m.pmtu_expiry(), "pmtu_expiry", &ip->pmtu_expiry, true);
    if (m.has_arp_max_retries()) {
      if (m.arp_max_retries() < 1 || m.arp_max_retries() > 100) {
        Error(loc.Line("arp_max_retries"),
              absl::StrCat(c, "arp_max_retries ", m.arp_max_retries(), ": expected 1..100"));
      } else {
        ip->arp_max_retries = static_cast<int>(m.arp_max_retries());
      }
    }
    auto size = [&](bool has, uint64_t v, const char* field, size_t* out) {
      if (!has) return;
      if (v == 0) {
        Error(loc.Line(field), absl::StrCat(c, field, " 0: expected a positive size"));
      } else {
        *out = static_cast<size_t>(v);
      }
    };
    size(m.has_arp_queue_bytes(), m.arp_queue_bytes(), "arp_queue_bytes", &ip->arp_queue_bytes);
    size(m.has_reassembly_max_bytes(), m.reassembly_max_bytes(), "reassembly_max_bytes",
         &ip->reassembly_max_bytes);
    if (m.has_icmp_burst()) {
      if (m.icmp_burst() > 100000) {
        Error(loc.Line("icmp_burst"),
              absl::StrCat(c, "icmp_burst ", m.icmp_burst(), ": expected 0..100000"));
      } else {
        ip->icmp_burst = static_cast<int>(m.icmp_burst());
      }
    }
  }

  // ---- interfaces ----

  void Interfaces(const Stack& sm, int si, int ii, const Loc& loc,
                  std::vector<std::pair<Cidr, std::string>>* mine,
                  std::map<uint32_t, int>* address_lines) {
    const Interface& m = sm.interface(ii);
    InterfaceSpec& is = config_.stacks[si].interfaces[ii];
    std::string ctx = IfCtx(sm, si, m, ii);
    const LinkSpec* link = is.link == SIZE_MAX ? nullptr : &config_.links[is.link];
    if (m.address_size() > kMaxAddresses) {
      Error(loc.Line("address", kMaxAddresses),
            absl::StrCat(ctx, "address: ", m.address_size(), " addresses (at most ", kMaxAddresses,
                         ")"));
    }
    for (int k = 0; k < m.address_size(); k++) {
      int line = loc.Line("address", k);
      std::optional<Cidr> a = HostAddress(ctx, m.address(k), line);
      if (!a) continue;
      if (auto [it, fresh] = address_lines->emplace(a->addr, line); !fresh) {
        Error(line, absl::StrCat(ctx, "address ", a->ToString(),
                                 ": already an address of this stack (line ", it->second, ")"));
        continue;
      }
      if (link != nullptr) {
        if (!InLinkSubnets(ctx, *a, *link, line)) continue;
        std::string who = absl::StrCat("stack ", Quote(sm.name()), " interface ", Quote(m.name()));
        auto [it, fresh] = on_link_[is.link].emplace(a->addr, PortUser{who, line});
        if (!fresh) {
          Error(line, absl::StrCat(ctx, "address ", a->ToString(), ": already used on link ",
                                   Quote(link->name), " by ", it->second.who, " (line ",
                                   it->second.line, ")"));
          continue;
        }
      }
      is.addresses.push_back(*a);
      is.address_lines.push_back(line);
      mine->push_back({*a, m.name()});
    }
    if (m.has_mtu()) {
      uint32_t max = link != nullptr ? config_.LinkMtu(*link) : 65535;
      if (m.mtu() < 68 || m.mtu() > max) {
        Error(loc.Line("mtu"), absl::StrCat(ctx, "mtu ", m.mtu(), ": expected 68..", max,
                                            link != nullptr ? " (the link's MTU)" : ""));
      } else {
        is.mtu = m.mtu();
      }
    }
    for (int k = 0; k < m.push_size(); k++) {
      PushCheck(ctx, m.push(k), loc.Nested(m.push(k), "push", k), &is);
    }
  }

  // An interface address: a CIDR whose address is a unicast host of its subnet.
  std::optional<Cidr> HostAddress(const std::string& ctx, const std::string& v, int line) {
    std::optional<Cidr> a = ParseCidr(v);
    if (!a) {
      if (ParseCidr(v, false)) {
        Error(line, absl::StrCat(ctx, "address ", Quote(v), ": expected a prefix length (e.g. ", v,
                                 "/24)"));
      } else {
        Error(line, absl::StrCat(ctx, "address ", Quote(v),
                                 ": bad CIDR (expected a.b.c.d/len with len 0..32)"));
      }
      return std::nullopt;
    }
    const char* why = nullptr;
    if (a->addr == 0 || (a->addr >> 24) == 0) {
      why = "not a host address (0.0.0.0/8)";
    } else if ((a->addr >> 24) == 127) {
      why = "a loopback address (127.0.0.0/8)";
    } else if ((a->addr >> 28) == 0xe) {
      why = "a multicast address (expected unicast)";
    } else if ((a->addr >> 28) == 0xf) {
      why = "a reserved or broadcast address (240.0.0.0/4)";
    } else if (a->len == 0) {
      why = "prefix length 0 (expected 1..32)";
    } else if (a->len < 31 && a->addr == a->network()) {
      why = "the subnet's network address (expected a host of it)";
    } else if (a->len < 31 && a->addr == (a->network() | ~a->mask())) {
      why = "the subnet's broadcast address (expected a host of it)";
    }
    if (why != nullptr) {
      Error(line, absl::StrCat(ctx, "address ", a->ToString(), ": ", why));
      return std::nullopt;
    }
    return a;
  }

  bool InLinkSubnets(const std::string& ctx, const Cidr& a, const LinkSpec& link, int line) {
    if (link.subnets.empty()) return true;
    std::vector<std::string> nets;
    const Cidr* containing = nullptr;  // a subnet that holds the address with another length
    for (const Cidr& n : link.subnets) {
      if (n.Contains(a.addr)) {
        if (n.len == a.len) return true;  // overlapping subnets: the one of equal length wins
        if (containing == nullptr) containing = &n;
      }
      nets.push_back(n.ToString());
    }
    if (containing != nullptr) {
      Error(line, absl::StrCat(ctx, "address ", a.ToString(), ": prefix length ", a.len,
                               " differs from subnet ", containing->ToString(), " of link ",
                               Quote(link.name)));
      return false;
    }
    Error(line, absl::StrCat(ctx, "address ", a.ToString(), " is not in any subnet of link ",
                             Quote(link.name), " (", absl::StrJoin(nets, ", "), ")"));
    return false;
  }

  void PushCheck(const std::string& ctx, const Push& m, const Loc& loc, InterfaceSpec* is) {
    PushSpec p;
    p.line = loc.Line("module");
    p.module = m.module();
    if (m.module().empty()) {
      Error(loc.line(), absl::StrCat(ctx, "push.module: missing (modules: ",
                                     absl::StrJoin(catalog_.modules, ", "), ")"));
      return;
    }
    if (!Contains(catalog_.modules, m.module())) {
      Error(p.line, absl::StrCat(ctx, "push.module ", Quote(m.module()),
                                 ": not a module of the stack (modules: ",
                                 absl::StrJoin(catalog_.modules, ", "), ")"));
      return;
    }
    if (m.has_pcap_file()) {
      if (m.module() != "pcap") {
        Error(loc.Line("pcap_file"),
              absl::StrCat(ctx, "push.pcap_file: only for module \"pcap\" (this is ",
                           Quote(m.module()), ")"));
      } else if (m.pcap_file().empty()) {
        Error(loc.Line("pcap_file"), absl::StrCat(ctx, "push.pcap_file: empty (expected a path)"));
      }
      p.pcap_file = m.pcap_file();
    }
    if (m.has_trace_log()) {
      if (m.module() != "trace") {
        Error(loc.Line("trace_log"),
              absl::StrCat(ctx, "push.trace_log: only for module \"trace\" (this is ",
                           Quote(m.module()), ")"));
      }
      p.trace_log = m.trace_log();
    }
    is->push.push_back(std::move(p));
  }

  // ---- routes ----

  void RouteCheck(const Stack& sm, int si, int ri, const Loc& loc,
                  const std::vector<std::pair<Cidr, std::string>>& mine,
                  std::map<std::pair<uint32_t, int>, int>* seen) {
    const Route& m = sm.route(ri);
    std::string ctx =
        absl::StrCat(StackCtx(sm, si), " route ",
                     m.destination().empty() ? absl::StrCat("#", ri + 1) : m.destination(), ": ");
    RouteSpec r;
    r.line = loc.line();
    std::optional<Cidr> dst;
    if (m.destination().empty()) {
      Error(loc.line(), absl::StrCat(ctx, "destination: missing (expected a CIDR or \"default\")"));
    } else {
      dst = Prefix(ctx, "destination", m.destination(), loc.Line("destination"), true);
    }
    std::optional<uint32_t> gw;
    if (m.gateway().empty()) {
      Error(loc.line(), absl::StrCat(ctx,
                                     "gateway: missing (expected an address on one of the "
                                     "stack's subnets)"));
    } else if (gw = ParseAddress(m.gateway()); !gw) {
      Error(loc.Line("gateway"), absl::StrCat(ctx, "gateway ", Quote(m.gateway()),
                                              ": expected an IPv4 address (a.b.c.d)"));
    } else {
      GatewayOnLink(ctx, *gw, mine, loc.Line("gateway"));
    }
    if (!dst || !gw) return;
    for (const auto& [a, ifname] : mine) {
      if (a.len == dst->len && a.network() == dst->addr) {
        Error(loc.Line("destination"), absl::StrCat(ctx, "destination ", dst->ToString(),
                                                    " is the connected subnet of interface ",
                                                    Quote(ifname), " (IP adds that route itself)"));
        return;
      }
    }
    if (auto [it, fresh] =
            seen->emplace(std::make_pair(dst->addr, dst->len), loc.Line("destination"));
        !fresh) {
      Error(loc.Line("destination"), absl::StrCat(ctx, "duplicate route ", dst->ToString(),
                                                  " (first at line ", it->second, ")"));
      return;
    }
    r.destination = *dst;
    r.gateway = *gw;
    config_.stacks[si].routes.push_back(r);
  }

  void GatewayOnLink(const std::string& ctx, uint32_t gw,
                     const std::vector<std::pair<Cidr, std::string>>& mine, int line) {
    std::vector<std::string> nets;
    for (const auto& [a, ifname] : mine) {
      if (a.addr == gw) {
        Error(line, absl::StrCat(ctx, "gateway ", FormatAddress(gw),
                                 " is this stack's own address (interface ", Quote(ifname), ")"));
        return;
      }
    }
    for (const auto& [a, ifname] : mine) {
      if (a.Contains(gw)) {
        if (a.len < 31 && (gw == a.network() || gw == (a.network() | ~a.mask()))) {
          Error(line, absl::StrCat(ctx, "gateway ", FormatAddress(gw), " is the ",
                                   gw == a.network() ? "network" : "broadcast", " address of ",
                                   Cidr{a.network(), a.len}.ToString(), " (expected a host)"));
        }
        return;
      }
      nets.push_back(Cidr{a.network(), a.len}.ToString());
    }
    Error(line,
          absl::StrCat(ctx, "gateway ", FormatAddress(gw),
                       " is not in any subnet of the stack's interfaces (",
                       nets.empty() ? "it has no addresses" : absl::StrJoin(nets, ", "), ")"));
  }

  // ---- autopush ----

  void AutopushCheck(const Stack& sm, int si, int ai, const Loc& loc) {
    const pb::Autopush& m = sm.autopush(ai);
    std::string ctx =
        absl::StrCat(StackCtx(sm, si), " autopush ",
                     m.driver().empty() ? absl::StrCat("#", ai + 1) : Quote(m.driver()), ": ");
    AutopushSpec a;
    a.line = loc.line();
    a.driver = m.driver();
    bool ok = true;
    if (m.driver().empty()) {
      Error(loc.line(), absl::StrCat(ctx, "driver: missing (drivers: ",
                                     absl::StrJoin(catalog_.drivers, ", "), ")"));
      ok = false;
    } else if (!Contains(catalog_.drivers, m.driver())) {
      Error(loc.Line("driver"), absl::StrCat(ctx, "driver ", Quote(m.driver()),
                                             ": not a driver of the stack (drivers: ",
                                             absl::StrJoin(catalog_.drivers, ", "), ")"));
      ok = false;
    }
    constexpr uint32_t kMaxMinor = 0x7fffffff;  // minors are ints (Domain::MinorOf)
    for (const char* f : {"minor", "last_minor"}) {
      const bool has = std::string_view(f) == "minor" ? m.has_minor() : m.has_last_minor();
      const uint32_t v = std::string_view(f) == "minor" ? m.minor() : m.last_minor();
      if (has && v > kMaxMinor) {
        Error(loc.Line(f), absl::StrCat(ctx, f, " ", v, ": out of range (0..", kMaxMinor, ")"));
        ok = false;
      }
    }
    if (!ok) return;
    if (!m.has_minor()) {
      a.cmd = SAP_ALL;
      if (m.has_last_minor()) {
        Error(loc.Line("last_minor"), absl::StrCat(ctx, "last_minor: needs minor"));
        ok = false;
      }
    } else if (!m.has_last_minor()) {
      a.cmd = SAP_ONE;
      a.minor = a.last_minor = static_cast<int>(m.minor());
    } else if (m.last_minor() < m.minor()) {
      Error(loc.Line("last_minor"),
            absl::StrCat(ctx, "last_minor ", m.last_minor(), ": before minor ", m.minor()));
      ok = false;
    } else {
      a.cmd = SAP_RANGE;
      a.minor = static_cast<int>(m.minor());
      a.last_minor = static_cast<int>(m.last_minor());
    }
    if (m.module_size() == 0) {
      Error(loc.line(), absl::StrCat(ctx, "module: missing (expected 1..", MAXAPUSH, " modules)"));
      ok = false;
    } else if (m.module_size() > MAXAPUSH) {
      Error(loc.Line("module", MAXAPUSH),
            absl::StrCat(ctx, "module: ", m.module_size(), " modules (at most ", MAXAPUSH, ")"));
      ok = false;
    }
    for (int k = 0; k < m.module_size(); k++) {
      if (!Contains(catalog_.modules, m.module(k))) {
        Error(loc.Line("module", k), absl::StrCat(ctx, "module ", Quote(m.module(k)),
                                                  ": not a module of the stack (modules: ",
                                                  absl::StrJoin(catalog_.modules, ", "), ")"));
        ok = false;
      }
      a.modules.push_back(m.module(k));
    }
    if (m.has_anchor()) {
      if (m.anchor() > static_cast<uint32_t>(m.module_size())) {
        Error(loc.Line("anchor"), absl::StrCat(ctx, "anchor ", m.anchor(), ": more than the ",
                                               m.module_size(), " modules"));
        ok = false;
      }
      a.anchor = static_cast<int>(m.anchor());
    }
    if (!ok) return;
    // sad refuses an entry that overlaps another of the same driver (EEXIST).
    for (const AutopushSpec& o : config_.stacks[si].autopush) {
      if (o.driver != a.driver) continue;
      bool overlap = o.cmd == SAP_ALL || a.cmd == SAP_ALL ||
                     (a.minor <= o.last_minor && o.minor <= a.last_minor);
      if (overlap) {
        Error(loc.line(),
              absl::StrCat(ctx, "overlaps the entry for the same driver at line ", o.line));
        return;
      }
    }
    config_.stacks[si].autopush.push_back(std::move(a));
  }

  std::string file_;
  const Catalog& catalog_;
  std::vector<Diagnostic>* errors_;
  const size_t first_;  // errors_ held this many before
  Config config_;
  std::map<std::string, int> link_lines_, stack_lines_;
  std::map<size_t, std::map<int, PortUser>> ports_;         // link -> port -> user
  std::map<size_t, std::map<uint32_t, PortUser>> on_link_;  // link -> address -> user
};

}  // namespace

std::optional<Config> Validate(const pb::Network& net,
                               const google::protobuf::TextFormat::ParseInfoTree& tree,
                               std::string_view file, const Catalog& catalog,
                               std::vector<Diagnostic>* errors) {
  return Validator(std::string(file), catalog, errors).Run(net, tree);
}

}  // namespace ustreams::config
