// Parse(): protobuf's TextFormat parser with an error collector and a ParseInfoTree, then
// Validate() (validate.h). The parser's own messages are made to point at the offending name.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "tools/config/config.h"
#include "tools/config/stack.pb.h"
#include "tools/config/validate.h"

namespace ustreams::config {
namespace {

using Tree = google::protobuf::TextFormat::ParseInfoTree;

// Collects the parser's errors (syntax, unknown fields and values) with their positions.
class Collector : public google::protobuf::io::ErrorCollector {
 public:
  Collector(std::string file, std::vector<Diagnostic>* out) : file_(std::move(file)), out_(out) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    out_->push_back({file_, line + 1, column + 1, message});
    count_++;
  }
  int count() const { return count_; }

 private:
  std::string file_;
  std::vector<Diagnostic>* out_;
  int count_ = 0;
};

// The text in double quotes after `after` in s ("" if none).
std::string QuotedAfter(const std::string& s, std::string_view after) {
  size_t p = s.find(after);
  if (p == std::string::npos) return "";
  p += after.size();
  size_t q = s.find('"', p);
  return q == std::string::npos ? "" : s.substr(p, q - p);
}

// The byte offset of a 1-based line and column (a tab counts as one column here; the tokenizer
// counts it to the next multiple of 8, near enough to search back from).
size_t Offset(std::string_view text, int line, int column) {
  size_t off = 0;
  for (int l = 1; l < line && off < text.size(); l++) {
    size_t nl = text.find('\n', off);
    if (nl == std::string_view::npos) return text.size();
    off = nl + 1;
  }
  return std::min(text.size(), off + static_cast<size_t>(std::max(column - 1, 0)));
}

void LineColumn(std::string_view text, size_t off, int* line, int* column) {
  *line = 1;
  size_t start = 0;
  for (size_t i = 0; i < off; i++) {
    if (text[i] == '\n') {
      (*line)++;
      start = i + 1;
    }
  }
  *column = static_cast<int>(off - start) + 1;
}

// The enum values a field of this name takes in stack.proto ("" if it is not an enum field).
std::string EnumValues(const std::string& field) {
  const google::protobuf::FileDescriptor* file = pb::Network::descriptor()->file();
  for (int i = 0; i < file->message_type_count(); i++) {
    const google::protobuf::FieldDescriptor* f = file->message_type(i)->FindFieldByName(field);
    if (f == nullptr || f->enum_type() == nullptr) continue;
    std::vector<std::string> v;
    for (int k = 0; k < f->enum_type()->value_count(); k++)
      v.push_back(f->enum_type()->value(k)->name());
    return absl::StrJoin(v, ", ");
  }
  return "";
}

// The parser reports an unknown field or enum value where the tokenizer stands after it. Moves
// the position back to the name itself, calls message types by their short names, says what
// would have been accepted, and names the end of the file.
void Improve(std::string_view text, Diagnostic* d) {
  std::string& m = d->message;
  if (!m.empty() && m.back() == '.') m.pop_back();
  std::string token;
  if (m.find("has no field named \"") != std::string::npos) {
    token = QuotedAfter(m, "has no field named \"");
    std::string type = QuotedAfter(m, "Message type \"");
    if (const google::protobuf::Descriptor* desc =
            google::protobuf::DescriptorPool::generated_pool()->FindMessageTypeByName(type)) {
      std::vector<std::string> fields;
      for (int i = 0; i < desc->field_count(); i++) fields.push_back(desc->field(i)->name());
      absl::StrAppend(&m, " (fields: ", absl::StrJoin(fields, ", "), ")");
    }
  } else if (m.find("Unknown enumeration value of \"") != std::string::npos) {
    token = QuotedAfter(m, "Unknown enumeration value of \"");
    if (std::string values = EnumValues(QuotedAfter(m, "for field \"")); !values.empty()) {
      absl::StrAppend(&m, " (values: ", values, ")");
    }
  }
  if (m.size() >= 5 && m.compare(m.size() - 5, 5, "got: ") == 0) m += "end of file";
  const std::string pkg = pb::Network::descriptor()->file()->package() + ".";
  for (size_t p; (p = m.find(pkg)) != std::string::npos;) m.erase(p, pkg.size());
  if (token.empty() || d->line <= 0) return;
  size_t at = text.rfind(token, Offset(text, d->line, d->column));
  if (at != std::string_view::npos) LineColumn(text, at, &d->line, &d->column);
}

}  // namespace

std::optional<Config> Parse(std::string_view text, std::string_view file,
                            std::vector<Diagnostic>* errors, const Catalog& catalog) {
  pb::Network net;
  Tree tree;
  google::protobuf::TextFormat::Parser parser;
  Collector collector{std::string(file), errors};
  parser.RecordErrorsTo(&collector);
  parser.WriteLocationsTo(&tree);
  // ParseFromString wants a whole std::string; the parser reads it in place.
  const size_t first = errors->size();
  if (!parser.ParseFromString(std::string(text), &net)) {
    if (collector.count() == 0) errors->push_back({std::string(file), 0, 0, "cannot parse"});
    for (size_t i = first; i < errors->size(); i++) Improve(text, &(*errors)[i]);
    return std::nullopt;
  }
  return Validate(net, tree, file, catalog, errors);
}

}  // namespace ustreams::config
