#!/usr/bin/env bash
# Writes docs/BENCHMARKS.md: probe cost per semaphore operation (nothing / empty programs at the
# probe's sites / gilstatd default and exact / bpftrace), gilstatd's overhead on CPython, the
# hosted runtime against CPython (the table of REFERENCE §3), and the daemon's footprint, every
# comparison measured side by side in this one run. Run as root (BPF), from anywhere:
#
#   bench/run.sh                  build into build/bench if needed, measure, write the report
#   BUILD_DIR=dir bench/run.sh    use another build directory
#   SECTIONS=1,3 bench/run.sh     some sections only (1 cost, 2 CPython, 3 runtime, 4 footprint)
#
# Sizes (environment; the defaults take about 8 minutes on 2 cores): ROUNDS PY_ROUNDS SAMPLES SAMPLE_S
# (sections 1, 2), PY_STEPS PY_ECHO_S (section 2), DURATION STEPS TABLE_PY_STEPS REPEAT
# (section 3), TARGETS SCRAPES LOAD_EVENTS LOAD_S IDLE_S (section 4); see bench/report.py.
# Installs Debian's bpftrace when it is missing (section 1 compares with it). Run it on an
# otherwise idle machine: the report prints the load average and warns when it was high. Exits 1
# when a goal is missed (the report is written anyway).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build/bench}
export BUILD_DIR

if [[ $(id -u) -ne 0 ]]; then
  echo "bench/run.sh: run as root (the probes need CAP_SYS_ADMIN for uprobes)" >&2
  exit 2
fi
if ! command -v bpftrace >/dev/null && command -v apt-get >/dev/null; then
  echo "bench: installing bpftrace" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q bpftrace >/dev/null ||
    echo "bench: could not install bpftrace; its column will be missing" >&2
fi

if [[ ! -f "$BUILD_DIR/build.ninja" ]] || [[ -n "${REBUILD:-}" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGILSTAT_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target gilstatd gilstat_bench_runtime \
  gilstat_bench_semloop gilstat_bench_floor >/dev/null

exec python3 bench/report.py
