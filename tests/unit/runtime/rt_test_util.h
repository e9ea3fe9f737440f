// Helpers shared by the runtime tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gilstat/rt/runtime.h"

namespace gilstat::rt::testing {

inline std::unique_ptr<Runtime> MakeRuntime(
    Policy policy, int check_interval = 100,
    std::chrono::nanoseconds switch_interval = std::chrono::milliseconds(5)) {
  RuntimeOptions o;
  o.policy = policy;
  o.check_interval = check_interval;
  o.switch_interval = switch_interval;
  auto rt = Runtime::Create(o);
  GILSTAT_CHECK(rt.ok());
  return std::move(rt).value();
}

// Runs fn(ts, index) on `n` new attached threads while the calling thread (attached as `self`)
// waits for them without the GIL.
inline void RunThreads(Runtime& rt, ThreadState& self, int n,
                       const std::function<void(ThreadState&, int)>& fn) {
  AllowThreads allow(self);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&rt, &fn, i] {
      auto ts = rt.AttachThread("worker-" + std::to_string(i));
      GILSTAT_CHECK(ts.ok());
      fn(**ts, i);
      rt.DetachThread(*ts);
    });
  }
  for (auto& t : threads) t.join();
}

// Polls `cond` (without holding anything) until true or `limit` passes.
inline bool WaitUntil(const std::function<bool()>& cond,
                      std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

inline std::string PolicyParamName(const ::testing::TestParamInfo<Policy>& info) {
  return PolicyName(info.param);
}

inline const auto kAllPolicies =
    ::testing::Values(Policy::kClassic, Policy::kSwitching, Policy::kFair);

}  // namespace gilstat::rt::testing
