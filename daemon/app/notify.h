// systemd service notification (sd_notify): READY=1, STATUS=…, WATCHDOG=1, STOPPING=1.
// Every call is a no-op outside a Type=notify unit (no NOTIFY_SOCKET).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace gilstat {

class Notifier {
 public:
  void Ready(const std::string& status);
  void Status(const std::string& status);
  void Stopping();
  void Reloading();
  // WATCHDOG=1 when the unit has WatchdogSec= and half of its period has passed since the
  // last ping; call it at least every tick of the main loop.
  void MaybeWatchdog();
  // The watchdog period asked for by the unit, if any.
  std::optional<std::chrono::microseconds> WatchdogPeriod() const;

 private:
  std::chrono::steady_clock::time_point last_ping_{};
};

}  // namespace gilstat
