#include "app/log.h"

#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace gilstat {
namespace {

int SyslogPriority(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;  // debug, trace
  }
}

// Writes "<N>message" lines for journald, or "time level message" lines for people.
class StderrSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit StderrSink(bool journal) : journal_(journal) {
    if (!journal_) set_pattern_("%Y-%m-%dT%H:%M:%S.%e %l %v");
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    if (journal_) {
      const std::string prefix = "<" + std::to_string(SyslogPriority(msg.level)) + ">";
      buf.append(prefix.data(), prefix.data() + prefix.size());
      buf.append(msg.payload.data(), msg.payload.data() + msg.payload.size());
      buf.push_back('\n');
    } else {
      formatter_->format(msg, buf);
    }
    std::fwrite(buf.data(), 1, buf.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }

 private:
  bool journal_;
};

}  // namespace

std::optional<spdlog::level::level_enum> ParseLogLevel(std::string_view name) {
  if (name == "debug") return spdlog::level::debug;
  if (name == "info") return spdlog::level::info;
  if (name == "warn") return spdlog::level::warn;
  if (name == "error") return spdlog::level::err;
  return std::nullopt;
}

void SetupLogging(spdlog::level::level_enum level, std::optional<bool> journal) {
  const bool j = journal.value_or(std::getenv("JOURNAL_STREAM") != nullptr);
  auto logger = std::make_shared<spdlog::logger>("gilstat", std::make_shared<StderrSink>(j));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

bool LogOnce::First(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.insert(key).second;
}

void LogOnce::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  seen_.erase(key);
}

}  // namespace gilstat
