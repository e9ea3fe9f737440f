#!/usr/bin/env bash
# Runs every fuzz target of tests/fuzz for longer than the test command does, one after the
# other, and writes what they did to docs/FUZZING.md (below its "## Last run" heading): the
# executions, the coverage reached, the corpus grown and the crashes, hangs, leaks or memory
# blow-ups found (their inputs stay in the work directory). Exits 1 when anything was found
# (the report is written anyway).
#
#   bench/fuzz.sh [SECONDS]          SECONDS per target (default 60); builds build/fuzz if needed
#   BUILD_DIR=dir bench/fuzz.sh      another fuzz build directory (configured with GILSTAT_FUZZ)
#   OUT=/tmp/f.md bench/fuzz.sh 10   write the report there instead (its "## Last run" section)
#   TARGETS="config labels" bench/fuzz.sh   some targets only
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
build=${BUILD_DIR:-build/fuzz}
out=${OUT:-docs/FUZZING.md}
targets=${TARGETS:-"elf_symbols proc_maps x86_sites labels report_json config"}
work="$build/bench-work"

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGILSTAT_FUZZ=ON \
    -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null
fi
cmake --build "$build" -j "$(nproc)"

# The figure after `key:` in libFuzzer's last status line ("#N DONE cov: C ft: F corp: …",
# or the last progress line when the run stopped at a finding).
done_field() { sed -n 's/^#[0-9].* '"$2"': \([^ ]*\).*/\1/p' "$1" | tail -1; }
stat_field() { sed -n 's/^stat::'"$2"': *//p' "$1" | tail -1; }

rows=()
found=0
for t in $targets; do
  echo "=== $t: ${seconds} s"
  status=0
  tests/fuzz/run_fuzzer.sh "$build/tests/fuzz/${t}_fuzz" "tests/fuzz/corpus/$t" "$work/$t" \
    "$seconds" >/dev/null || status=$?
  log="$work/$t/fuzz.log"
  seeds=$(find "tests/fuzz/corpus/$t" -type f | wc -l)
  artifacts=$(find "$work/$t" -maxdepth 1 -type f \
    \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  result="none"
  if ((status)); then
    found=1
    result="**status $status, $artifacts input(s) in $work/$t**"
  fi
  rows+=("| $t | $(stat_field "$log" number_of_executed_units) | $(stat_field "$log" \
average_exec_per_sec) | $(done_field "$log" cov) | $(done_field "$log" ft) | $seeds → \
$(done_field "$log" corp) | $(stat_field "$log" peak_rss_mb) | $result |")
  echo "${rows[-1]}"
done

report=$(mktemp)
{
  if [[ -f "$out" ]]; then sed '/^## Last run$/,$d' "$out"; fi
  echo "## Last run"
  echo
  echo "\`bench/fuzz.sh $seconds\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit" \
    "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo ' (modified)'), $(nproc)" \
    "CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(clang++ --version | head -1)."
  echo "Each target ran ${seconds} s on its committed seeds; \`cov\`: code edges reached, \`ft\`:"
  echo "libFuzzer's features (edges with hit counts); corpus: seeds → inputs/size kept."
  echo
  echo "| target | executions | exec/s | cov | ft | corpus | peak RSS (MB) | found |"
  echo "|---|---:|---:|---:|---:|---|---:|---|"
  printf '%s\n' "${rows[@]}"
} >"$report"
mv "$report" "$out"
echo "report: $out"
exit "$found"
