#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs the whole suite twice — a normal
# build (unit, BPF and end-to-end tests) and sanitizer builds (ASan+UBSan for the same tests,
# as narrowed below; TSan for the runtime tests) — and each fuzz target for a bounded time
# (clang, libFuzzer, ASan+UBSan; docs/FUZZING.md). BPF and end-to-end tests need root and a
# kernel with BTF; they print why when they skip.
#
#   scripts/test.sh            everything
#   GILSTAT_QUICK=1 scripts/test.sh   the normal build only (for development)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
scripts/deps.sh
# The Debian sid root with CPython 3.14 and 3.15 (stripped and debug builds) that the Python
# tests run by chroot (~2 minutes and ~800 MB the first time, cached after); without it those
# tests skip and say why.
scripts/sid_root.sh || echo "sid root unavailable: the CPython 3.14/3.15 tests will skip"

failures=()
run_build() {  # name, ctest args, cmake args…
  local name=$1 ctest_args=$2
  shift 2
  local dir="build/$name"
  echo "=== [$name] configure + build"
  cmake -S . -B "$dir" -G Ninja -DGILSTAT_WERROR=ON "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" || return 1
  echo "=== [$name] test"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure --timeout 600 -j "$jobs" $ctest_args)
}

mkdir -p build
start=$(date +%s)
run_build release "" -DCMAKE_BUILD_TYPE=RelWithDebInfo || failures+=(release)
if [[ -z "${GILSTAT_QUICK:-}" ]]; then
  # ASan+UBSan: everything but the speed-dependent checks (nosan), the package and deploy-file
  # checks (ops, the release build's) and the probe tests' second runs through perf-event links
  # and the syscall tracepoint (the daemon code of their first runs, but for the link kind).
  run_build asan "-LE nosan|ops -E _perf_links$|_sys_enter$" -DCMAKE_BUILD_TYPE=Debug \
    -DGILSTAT_SANITIZE=address -DGILSTAT_BUILD_BENCH=OFF || failures+=(asan)
  run_build tsan "-L runtime" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGILSTAT_SANITIZE=thread \
    -DGILSTAT_RUNTIME_ONLY=ON || failures+=(tsan)
  run_build fuzz "-L fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGILSTAT_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang || failures+=(fuzz)
fi
echo "=== test command finished in $(($(date +%s) - start)) s"
if ((${#failures[@]})); then
  echo "FAILED builds: ${failures[*]}"
  exit 1
fi
echo "all builds passed"
