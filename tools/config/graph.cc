#include "tools/config/graph.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "streams/domain.h"

namespace ustreams::config {
namespace {

const InterfaceSpec* FindInterface(const StackSpec& s, const std::string& name) {
  for (const InterfaceSpec& i : s.interfaces) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

std::string Addresses(const InterfaceSpec* is) {
  if (is == nullptr || is->addresses.empty()) return "no address";
  std::vector<std::string> a;
  for (const Cidr& c : is->addresses) a.push_back(c.ToString());
  return absl::StrJoin(a, " ");
}

// The live module list of the builder's ip stream.
std::vector<std::string> IpStream(const Network::StackState& st) {
  DomainScope scope(&st.stack->domain());
  std::vector<std::string> m = ListModules(st.ip_fd);
  return m.empty() ? std::vector<std::string>{"?"} : m;
}

// A DOT identifier or label, quoted. Quotes are escaped; a backslash is left alone so that "\n"
// breaks a label's line (names are letters, digits, '_', '-', '.', so carry none).
std::string Q(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string GraphText(const Network& n) {
  const Config& c = n.config();
  std::string out = absl::StrCat("network ", c.file, ": ", c.stacks.size(), " stacks, ",
                                 c.links.size(), " links, seed ", c.seed, "\n");
  for (size_t i = 0; i < c.links.size(); i++) {
    const LinkSpec& l = c.links[i];
    absl::StrAppend(&out, "\nlink \"", l.name, "\" (", LinkKindName(l.kind), ", mtu ", c.LinkMtu(l),
                    l.impair ? ", impaired" : "", ")\n");
    for (int port : n.link_ports(i)) {
      const Network::PortOwner& o = n.ports()[port];
      absl::StrAppend(
          &out, "  port ", port, ": ",
          o.stack.empty() ? "unused" : absl::StrCat("stack \"", o.stack, "\" ", o.ifname), "\n");
    }
  }
  for (size_t si = 0; si < n.stacks().size(); si++) {
    const Network::StackState& st = n.stacks()[si];
    const StackSpec& spec = c.stacks[si];
    absl::StrAppend(&out, "\nstack \"", st.name, "\"", spec.ip.forwarding ? " (forwarding)" : "",
                    "\n  /dev/ip: head -> ", absl::StrJoin(IpStream(st), " -> "), "\n");
    for (const Network::LinkStream& ls : st.links) {
      const Network::PortOwner& o = n.ports()[ls.port];
      absl::StrAppend(&out, "    muxid ", ls.muxid, ": ", ls.ifname, " (ifindex ", ls.ifindex, ", ",
                      Addresses(FindInterface(spec, ls.ifname)),
                      "): ", ls.modules.empty() ? "?" : absl::StrJoin(ls.modules, " -> "),
                      " (port ", ls.port, " of link \"", c.links[o.link].name, "\")\n");
    }
  }
  return out;
}

std::string GraphDot(const Network& n) {
  const Config& c = n.config();
  std::string out = absl::StrCat("digraph ", Q(c.file), " {\n",
                                 "  graph [rankdir=TB, fontname=\"Helvetica\", compound=true];\n",
                                 "  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n",
                                 "  edge [fontname=\"Helvetica\", fontsize=9];\n");
  std::vector<std::string> port_node(n.ports().size());
  for (size_t si = 0; si < n.stacks().size(); si++) {
    const Network::StackState& st = n.stacks()[si];
    const StackSpec& spec = c.stacks[si];
    // Node ids: "STACK/ip/K" for the ip stream, "STACK/if/IFNAME/K" for a link stream (names
    // never contain '/').
    const std::string p = st.name + "/";
    absl::StrAppend(&out, "  subgraph ", Q("cluster_" + st.name), " {\n    label=",
                    Q(absl::StrCat("stack ", st.name, spec.ip.forwarding ? " (forwarding)" : "")),
                    ";\n");
    // The ip stream: head, then its modules and driver (the multiplexor).
    std::vector<std::string> ip = IpStream(st);
    absl::StrAppend(&out, "    ", Q(p + "ip/head"), " [label=\"stream head\", shape=oval];\n");
    std::string prev = p + "ip/head";
    for (size_t k = 0; k < ip.size(); k++) {
      std::string id = absl::StrCat(p, "ip/", k);
      bool driver = k + 1 == ip.size();
      absl::StrAppend(&out, "    ", Q(id), " [label=", Q(ip[k]), driver ? ", shape=box3d" : "",
                      "];\n    ", Q(prev), " -> ", Q(id), ";\n");
      prev = id;
    }
    const std::string mux = prev;
    for (const Network::LinkStream& ls : st.links) {
      std::string up = mux;
      for (size_t k = 0; k < ls.modules.size(); k++) {
        std::string id = absl::StrCat(p, "if/", ls.ifname, "/", k);
        bool driver = k + 1 == ls.modules.size();
        std::string label =
            driver ? absl::StrCat(ls.modules[k], "\\nport ", ls.port) : ls.modules[k];
        absl::StrAppend(&out, "    ", Q(id), " [label=\"", label, "\"",
                        driver ? ", shape=box3d" : "", "];\n    ", Q(up), " -> ", Q(id));
        if (k == 0) {
          absl::StrAppend(&out, " [label=",
                          Q(absl::StrCat("muxid ", ls.muxid, "\\n", ls.ifname, " ",
                                         Addresses(FindInterface(spec, ls.ifname)))),
                          "]");
        }
        absl::StrAppend(&out, ";\n");
        up = id;
      }
      port_node[ls.port] = up;
    }
    absl::StrAppend(&out, "  }\n");
  }
  for (size_t i = 0; i < c.links.size(); i++) {
    const LinkSpec& l = c.links[i];
    std::string id = "link/" + l.name;
    absl::StrAppend(&out, "  ", Q(id), " [label=\"", l.name, "\\n", LinkKindName(l.kind),
                    "\", shape=ellipse, style=filled, fillcolor=\"#eeeeee\"];\n");
    for (int port : n.link_ports(i)) {
      if (!port_node[port].empty()) {
        absl::StrAppend(&out, "  ", Q(port_node[port]), " -> ", Q(id), " [dir=both];\n");
      }
    }
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

}  // namespace ustreams::config
