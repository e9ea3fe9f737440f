// Helpers shared by the runtime tests.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
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

// The convoy scenario in one thread pair: an "I/O" thread attaches, holds the GIL for
// `hold_before` (no ticks), releases it around a blocking call that ends 5 ms after the main
// thread (attached as `self`, holding the GIL) has started running CPU-bound code, then takes
// the GIL back. Returns how long that took in nanoseconds (-1 when it took more than 30 s).
inline int64_t ReacquireAfterBlockingCall(Runtime& rt, ThreadState& self,
                                          std::chrono::nanoseconds hold_before) {
  auto now_ns = [] { return std::chrono::steady_clock::now().time_since_epoch().count(); };
  std::atomic<bool> released{false}, main_ticking{false}, done{false};
  std::atomic<int64_t> reacquire_ns{-1};
  std::thread io;
  {
    AllowThreads allow(self);
    io = std::thread([&] {
      auto ts = rt.AttachThread("io");
      if (!ts.ok()) std::abort();
      std::this_thread::sleep_for(hold_before);
      int64_t t0;
      {
        AllowThreads blocking(**ts);
        released.store(true);
        // The "I/O"; it ends once main has taken the GIL and runs CPU-bound code.
        while (!main_ticking.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        t0 = now_ns();
      }
      reacquire_ns.store(now_ns() - t0);
      done.store(true);
      rt.DetachThread(*ts);
    });
    while (!released.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  main_ticking.store(true);
  const auto t0 = std::chrono::steady_clock::now();
  while (!done.load(std::memory_order_relaxed) &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    rt.Tick(self);
  }
  io.join();
  return done.load() ? reacquire_ns.load() : -1;
}

inline std::string PolicyParamName(const ::testing::TestParamInfo<Policy>& info) {
  return PolicyName(info.param);
}

inline const auto kAllPolicies =
    ::testing::Values(Policy::kClassic, Policy::kSwitching, Policy::kFair);

}  // namespace gilstat::rt::testing
