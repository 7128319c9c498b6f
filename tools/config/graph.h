// The module graph of a built network, as text and as Graphviz DOT.
//
// Per stack: the "ip" stream the builder holds (head -> ip, from I_LIST now), and under it each
// link stream with its mux id, interface and addresses, the modules pushed on it and its driver
// (from I_LIST taken just before I_PLINK: a linked stream answers no ioctl), and the loop port it
// is attached to. Per link: its kind and who sits on each port. Both outputs are stable for a
// given config (no descriptors, no addresses of objects), so they can be compared to a golden file.
#pragma once

#include <string>

#include "tools/config/network.h"

namespace ustreams::config {

std::string GraphText(const Network& n);
// `dot -Tsvg` draws it: a cluster per stack, ip's lower streams as chains of modules, the links
// as ellipses joined to the loop drivers on their ports.
std::string GraphDot(const Network& n);

}  // namespace ustreams::config
