#include "app/notify.h"

#include <systemd/sd-daemon.h>

namespace gilstat {

void Notifier::Ready(const std::string& status) {
  sd_notify(0, ("READY=1\nSTATUS=" + status).c_str());
}

void Notifier::Status(const std::string& status) { sd_notify(0, ("STATUS=" + status).c_str()); }

void Notifier::Stopping() { sd_notify(0, "STOPPING=1"); }

void Notifier::Reloading() { sd_notify(0, "RELOADING=1"); }

std::optional<std::chrono::microseconds> Notifier::WatchdogPeriod() const {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
  return std::nullopt;
}

void Notifier::MaybeWatchdog() {
  const auto period = WatchdogPeriod();
  if (!period) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ping_ >= *period / 2) {
    sd_notify(0, "WATCHDOG=1");
    last_ping_ = now;
  }
}

}  // namespace gilstat
