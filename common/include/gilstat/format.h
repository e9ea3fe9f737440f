// Small text formatting helpers shared by the layers.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <string>

namespace gilstat {

// "0x7f3a5c0e1230": an address or offset as people read it in logs, labels and messages.
inline std::string HexAddress(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// `s` with &, <, > and " written as XML/HTML character references (text and attribute values).
inline std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// printf into a std::string.
__attribute__((format(printf, 1, 2))) inline std::string Printf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out;
  if (n > 0) {
    out.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(out.data(), out.size(), fmt, ap2);
    out.resize(static_cast<size_t>(n));
  }
  va_end(ap2);
  return out;
}

// A duration for people: "999 ns", "12.3 us", "4.56 ms", "1.234 s".
inline std::string FormatDuration(uint64_t ns) {
  if (ns < 1000) return std::to_string(ns) + " ns";
  const double v = static_cast<double>(ns);
  if (ns < 1000000) return Printf("%.3g us", v / 1e3);
  if (ns < 1000000000) return Printf("%.3g ms", v / 1e6);
  return Printf("%.3f s", v / 1e9);
}

}  // namespace gilstat
