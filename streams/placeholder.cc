#include "streams/placeholder.h"
namespace ustreams { absl::string_view Version() { return "0.1"; } }
