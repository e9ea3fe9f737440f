// Small text formatting helpers shared by the layers.
#pragma once

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

}  // namespace gilstat
