// How much of every semaphore operation the probes observe (docs/PROBES.md "Modes"). One
// definition for the daemon's configuration, the `gilstat` tool and the probe itself.
#pragma once

#include <optional>
#include <string_view>

namespace gilstat {

enum class ProbeMode {
  kDefault,   // slow paths only: contended waits and the wakes that end them; uncontended
              // operations hit no probe
  kCounting,  // every acquisition counted: sem_wait entry+return, emulated branch sites in
              // sem_post and sem_trywait
  kExact,     // entry (+ return) uprobes on every function, sem_post included, whatever it costs
};

inline constexpr const char* kProbeModeChoices = "default, counting or exact";

inline const char* ProbeModeName(ProbeMode mode) {
  switch (mode) {
    case ProbeMode::kDefault:
      return "default";
    case ProbeMode::kCounting:
      return "counting";
    case ProbeMode::kExact:
      return "exact";
  }
  return "?";
}

inline std::optional<ProbeMode> ParseProbeMode(std::string_view s) {
  for (ProbeMode m : {ProbeMode::kDefault, ProbeMode::kCounting, ProbeMode::kExact}) {
    if (s == ProbeModeName(m)) return m;
  }
  return std::nullopt;
}

// Whether every acquisition (and failed try) is seen, or only the contended ones.
inline bool SeesEveryAcquisition(ProbeMode mode) { return mode != ProbeMode::kDefault; }

}  // namespace gilstat
