#include "app/notify.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace gilstat {
namespace {

// A NOTIFY_SOCKET of our own, as systemd would create for a Type=notify unit.
class NotifySocket {
 public:
  NotifySocket() {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    path_ = "/tmp/gilstat-notify-" + std::to_string(getpid());
    unlink(path_.c_str());
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    path_.copy(a.sun_path, sizeof a.sun_path - 1);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  ~NotifySocket() {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    close(fd_);
    unlink(path_.c_str());
  }
  std::string Receive() {
    char buf[512];
    ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  int fd_;
  std::string path_;
};

TEST(Notifier, SendsReadyStatusAndStopping) {
  NotifySocket s;
  Notifier n;
  n.Ready("watching 3 processes");
  EXPECT_EQ(s.Receive(), "READY=1\nSTATUS=watching 3 processes");
  n.Status("reloaded");
  EXPECT_EQ(s.Receive(), "STATUS=reloaded");
  n.Stopping();
  EXPECT_EQ(s.Receive(), "STOPPING=1");
}

TEST(Notifier, WatchdogOnlyWhenTheUnitAsks) {
  NotifySocket s;
  Notifier n;
  n.MaybeWatchdog();
  EXPECT_EQ(s.Receive(), "");
  setenv("WATCHDOG_USEC", "2000000", 1);
  ASSERT_TRUE(n.WatchdogPeriod().has_value());
  n.MaybeWatchdog();
  EXPECT_EQ(s.Receive(), "WATCHDOG=1");
  n.MaybeWatchdog();  // within half a period: no second ping
  EXPECT_EQ(s.Receive(), "");
}

TEST(Notifier, NoSocketIsANoOp) {
  unsetenv("NOTIFY_SOCKET");
  Notifier n;
  n.Ready("x");
  n.MaybeWatchdog();
  SUCCEED();
}

}  // namespace
}  // namespace gilstat
