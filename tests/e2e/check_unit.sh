#!/usr/bin/env bash
# The shipped unit: `systemd-analyze verify` passes (with ExecStart pointing at the built
# binary), and the offline security exposure stays at or below the documented score.
set -euo pipefail
unit_src=$1 gilstatd=$2 max_exposure=$3
if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze not installed"; exit 0
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
sed "s|/usr/sbin/gilstatd|$gilstatd|" "$unit_src" >"$dir/gilstatd.service"
systemd-analyze verify "$dir/gilstatd.service"
out=$(systemd-analyze security --offline=true --no-pager "$dir/gilstatd.service" 2>&1)
score=$(sed -n 's/.*Overall exposure level for gilstatd.service: \([0-9.]*\).*/\1/p' <<<"$out")
echo "exposure: $score (at most $max_exposure)"
[[ -n $score ]] || { echo "$out"; exit 1; }
awk -v s="$score" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }'
