#pragma once
#include "absl/strings/string_view.h"
namespace ustreams { absl::string_view Version(); }
