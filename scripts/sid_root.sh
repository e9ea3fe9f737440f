#!/usr/bin/env bash
# Provisions a Debian sid root with the current CPython releases (3.14, 3.15, the 3.14 debug
# build and the -dev packages whose internal headers tools/gen_gil_layout.sh reads), for the
# tests and benchmarks of the Pythons people run now (docs/PYTHON.md). Idempotent and cached:
# a root that is complete is reused; a half-made one is made again.
#
#   scripts/sid_root.sh [DIR]     (default: $GILSTAT_SID_ROOT or /var/cache/gilstat/sid-root)
#
# Prints the root's path on the last line. Exits 1 with the reason when it cannot be built (no
# debootstrap, the registry not reachable); the tests that need it then say why they skip.
set -euo pipefail

root=${1:-${GILSTAT_SID_ROOT:-/var/cache/gilstat/sid-root}}
mirror=${GILSTAT_SID_MIRROR:-http://deb.debian.org/debian}
packages=python3.14,python3.15,python3.14-dbg,libpython3.14-dev,libpython3.15-dev
stamp="$root/.gilstat-complete"

if [[ -f $stamp ]] && [[ "$(cat "$stamp")" == "$packages" ]]; then
  echo "$root"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "sid_root: needs root (debootstrap, chroot)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
    >/dev/null || { echo "sid_root: cannot install debootstrap" >&2; exit 1; }
fi

rm -rf "$root"
mkdir -p "$(dirname "$root")"
tmp="$root.tmp.$$"
rm -rf "$tmp"
trap 'rm -rf "$tmp"' EXIT
echo "sid_root: debootstrap sid into $root (a few minutes)" >&2
# The registry serves a dated snapshot of sid: its Release file may be past its Valid-Until.
if ! debootstrap --variant=minbase --include="$packages" sid "$tmp" "$mirror" \
  >"$tmp.log" 2>&1; then
  tail -5 "$tmp.log" >&2
  echo "sid_root: debootstrap failed (log above)" >&2
  rm -f "$tmp.log"
  exit 1
fi
rm -f "$tmp.log"
echo 'Acquire::Check-Valid-Until "false";' >"$tmp/etc/apt/apt.conf.d/99gilstat-snapshot"
mv "$tmp" "$root"
trap - EXIT
echo "$packages" >"$stamp"
echo "$root"
