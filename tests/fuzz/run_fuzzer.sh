#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time on its committed seed corpus, without writing to
# it: new inputs go to WORKDIR/corpus (emptied first), crashes, hangs and leaks to WORKDIR/ as
# crash-*, timeout-*, leak-*, oom-*. The fuzzer's log is WORKDIR/fuzz.log; the exit status is
# the fuzzer's (0: nothing found).
#
#   run_fuzzer.sh BINARY SEEDS WORKDIR SECONDS [libFuzzer flags…]
set -euo pipefail
if (($# < 4)); then
  echo "usage: $0 BINARY SEEDS WORKDIR SECONDS [libFuzzer flags…]" >&2
  exit 2
fi
binary=$1 seeds=$2 work=$3 seconds=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus"
status=0
"$binary" -max_total_time="$seconds" -rss_limit_mb=512 -timeout=5 -print_final_stats=1 \
  -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds" >"$work/fuzz.log" 2>&1 || status=$?
# The summary (and, on failure, the whole report) in the test's output.
if ((status)); then
  cat "$work/fuzz.log"
  echo "$(basename "$binary"): FAILED (status $status); input(s) in $work/"
else
  grep -E '^(#[0-9]+ +DONE|Done|stat::)' "$work/fuzz.log" || true
fi
exit "$status"
