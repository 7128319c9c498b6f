// Validate(): the semantic checks behind Parse() (config.h), on a message the TextFormat parser
// made and the ParseInfoTree it recorded. Private to tools/config.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "google/protobuf/text_format.h"
#include "tools/config/config.h"
#include "tools/config/stack.pb.h"

namespace ustreams::config {

// A Config, or nullopt with every problem appended to *errors (sorted by line).
std::optional<Config> Validate(const pb::Network& net,
                               const google::protobuf::TextFormat::ParseInfoTree& tree,
                               std::string_view file, const Catalog& catalog,
                               std::vector<Diagnostic>* errors);

}  // namespace ustreams::config
