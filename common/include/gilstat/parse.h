// Parsers of the small value syntaxes shared by configuration, flags and workload parameters.
// Each returns nullopt for a malformed value; the caller words the error for its context.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gilstat {

// A non-negative duration: a decimal number followed by ns, us, ms or s ("500ms", "1.5s").
inline std::optional<std::chrono::nanoseconds> ParseDuration(std::string_view v) {
  double num = 0;
  const char* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, num);
  const std::string_view unit(p, static_cast<size_t>(end - p));
  double scale = 0;
  if (unit == "ns") {
    scale = 1;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "s") {
    scale = 1e9;
  }
  if (ec != std::errc() || p == v.data() || scale == 0 || !(num >= 0) || num * scale > 9e18) {
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<int64_t>(num * scale));
}

// A whole decimal number, all of `v`.
inline std::optional<int64_t> ParseInt(std::string_view v) {
  int64_t out = 0;
  const char* end = v.data() + v.size();
  auto [p, ec] = std::from_chars(v.data(), end, out);
  if (ec != std::errc() || p != end || v.empty()) return std::nullopt;
  return out;
}

// true/false, yes/no, 1/0.
inline std::optional<bool> ParseBool(std::string_view v) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return std::nullopt;
}

}  // namespace gilstat
