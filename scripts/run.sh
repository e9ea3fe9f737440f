#!/usr/bin/env bash
# The main job: installs dependencies, builds, and runs gilstatd in the foreground on its
# embedded default (the hosted GIL runtime on the convoy workload, observed by its own
# counters and by the eBPF probes at once). Extra arguments go to gilstatd, e.g.
#   scripts/run.sh --web.listen-address=127.0.0.1:9900
#   scripts/run.sh --config.file=systemd/gilstatd.yml
# Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "run.sh: the eBPF probes need root (or CAP_BPF+CAP_PERFMON); re-running with sudo" >&2
  exec sudo -E "$0" "$@"
fi

scripts/deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/release -j "$(nproc)" --target gilstatd

addr=127.0.0.1:9877
path=/metrics
for a in "$@"; do
  case "$a" in
    --web.listen-address=*) addr=${a#*=} ;;
    --web.telemetry-path=*) path=${a#*=} ;;
  esac
done
echo "gilstatd: scrape http://${addr}${path} (landing page: http://${addr}/); Ctrl-C stops"
exec build/release/daemon/app/gilstatd "$@"
