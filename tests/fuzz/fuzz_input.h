// Helpers of the fuzz targets' input formats.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gilstat::fuzz {

// `in` split at NUL bytes into at most `max_fields` fields (the last one keeps the rest), padded
// with empty fields to `min_fields`.
inline std::vector<std::string> SplitFields(std::string_view in, size_t min_fields,
                                            size_t max_fields = 16) {
  std::vector<std::string> fields;
  while (true) {
    const size_t nul = fields.size() + 1 < max_fields ? in.find('\0') : std::string_view::npos;
    fields.emplace_back(in.substr(0, nul));
    if (nul == std::string_view::npos) break;
    in.remove_prefix(nul + 1);
  }
  while (fields.size() < min_fields) fields.emplace_back();
  return fields;
}

}  // namespace gilstat::fuzz
