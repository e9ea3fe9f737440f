#!/usr/bin/env bash
# Writes docs/BENCHMARKS.md: probe cost per semaphore operation (nothing / empty programs at the
# probe's sites / gilstatd in default, counting and exact mode / bpftrace), gilstatd's overhead
# on CPython (countdowns, a paced convoy; 2.7 in default and counting mode), the hosted runtime
# against CPython (the table of REFERENCE §3), and the daemon's footprint (100 targets in default
# mode, a 1 M events/s load counted in counting mode, the time gilstatd takes to stop, gilstatd's
# CPU on its embedded default) and I/O-bound services on every CPython (a single-thread TCP echo
# server and a threaded HTTP server under ab, without gilstatd / default / exact), what a process
# gilstatd does not watch pays, and the sampled GIL utilization against the exact method's, every
# comparison measured side by side in this one run. Run as root (BPF), from anywhere:
#
#   bench/run.sh                  build into build/bench if needed, measure, write the report
#   BUILD_DIR=dir bench/run.sh    use another build directory
#   SECTIONS=1,3 bench/run.sh     some sections only (1 cost, 2 CPython, 3 runtime, 4 footprint,
#                                 5 I/O-bound services,
#                                 6 host-wide costs, 7 GIL utilization)
#   OUT=/tmp/b.md bench/run.sh    write the report there instead (for partial or test runs)
#   PY_ONLY=2.7,3.13 bench/run.sh some interpreters only in sections 2, 5 and 7
#
# Sizes (environment; the defaults take about 52 minutes on 2 cores with the 12 CPythons installed
# here: section 2 about 12 of them, section 5 about 33, section 7 about 2, and stopping gilstatd
# with 100 targets up to STOP_CAP_S=60 s): ROUNDS SAMPLES SAMPLE_S (section 1), PY_ROUNDS PY27_ROUNDS PY_STEPS
# PY_REPEAT PY27_STEPS PY_PACE_MS PY_PACED_N PY_ECHO_S (section 2), DURATION STEPS TABLE_PY_STEPS REPEAT
# (section 3), TARGETS SCRAPES LOAD_EVENTS LOAD_S IDLE_S STOP_CAP_S DEMO_S (section 4), IO_ROUNDS
# IO_S IO_HTTP_S IO_SETTLE_S IO_HTTP_MAX (section 5), HOST_ROUNDS HOST_SAMPLE_S HOST_SPAWNS
# (section 6), UTIL_S (section 7); see bench/gilstat_bench/context.py. A
# quick check:
#
#   OUT=/tmp/b.md ROUNDS=1 SAMPLES=1 PY_ROUNDS=1 PY27_ROUNDS=1 PY_STEPS=2e6 PY27_STEPS=1e6 \
#     PY_PACED_N=20 REPEAT=1 DURATION=0.2 STEPS=1e7 TABLE_PY_STEPS=2e6 TARGETS=10 SCRAPES=10 \
#     LOAD_S=1 IDLE_S=1 DEMO_S=2 IO_ROUNDS=1 IO_S=0.3 IO_HTTP_MAX=2000 bench/run.sh
#
# Installs Debian's bpftrace when it is missing (section 1 compares with it), and apache2-utils
# (ab, the HTTP load of section 5). Run it on an
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
if ! command -v ab >/dev/null && command -v apt-get >/dev/null; then
  echo "bench: installing apache2-utils (ab)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q apache2-utils >/dev/null ||
    echo "bench: could not install apache2-utils; section 5 will fail" >&2
fi

if [[ ! -f "$BUILD_DIR/build.ninja" ]] || [[ -n "${REBUILD:-}" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DGILSTAT_BUILD_BENCH=ON >/dev/null
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target gilstatd gilstat_bench_runtime \
  gilstat_bench_semloop gilstat_bench_floor gilstat_bench_hostcost >/dev/null

exec python3 bench/report.py
