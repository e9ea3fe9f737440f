// Text that leaves the daemon (Prometheus label values, JSON strings) must be valid UTF-8, but
// what a process controls (its name, its executable's path) is any bytes: one invalid label
// value makes Prometheus reject the whole scrape. SanitizeUtf8 keeps valid UTF-8 as it is and
// replaces each maximal ill-formed subsequence with U+FFFD (Unicode's recommended practice), so
// that nothing is dropped silently and two different names stay visibly different.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace gilstat {

namespace utf8_detail {

// The number of bytes of a well-formed sequence starting at text[i] (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or the negated length of its longest
// ill-formed prefix (at least 1) when it is not one.
inline int SequenceAt(std::string_view text, size_t i) {
  const auto b0 = static_cast<uint8_t>(text[i]);
  if (b0 < 0x80) return 1;
  int len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return -1;  // a continuation byte, C0/C1 (overlong) or F5..FF
  }
  for (int k = 1; k < len; ++k) {
    if (i + k >= text.size()) return -k;  // truncated
    const auto b = static_cast<uint8_t>(text[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return -k;
  }
  return len;
}

}  // namespace utf8_detail

inline bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const int n = utf8_detail::SequenceAt(text, i);
    if (n < 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

inline std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const int n = utf8_detail::SequenceAt(text, i);
    if (n > 0) {
      out.append(text.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      i += static_cast<size_t>(-n);
    }
  }
  return out;
}

}  // namespace gilstat
