// The first step of reading a configuration: YAML text into the intermediate representation
// (config_types.h). Checks the shape only; values are checked when compiled.
#pragma once

#include <string>

#include "config/config_types.h"
#include "gilstat/result.h"

namespace gilstat::config {

// kInvalidArgument "file:line:col: reason" for a YAML syntax error, an unknown key (the message
// lists the allowed ones), a mapping or list where a single value belongs and the reverse, a
// target entry without exactly one key, a key twice in one mapping (the message gives the line
// of the first), or a second YAML document. `filename` only names the source in messages.
Result<ir::File> ParseTree(const std::string& text, const std::string& filename);

}  // namespace gilstat::config
