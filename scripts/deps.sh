#!/usr/bin/env bash
# Installs, by Debian 12 package name and only when missing, everything gilstat's build, tests
# and benchmarks use. Safe to run again: it does nothing when all is installed.
set -euo pipefail

PACKAGES=(
  # toolchain
  cmake ninja-build g++ pkg-config clang-format
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev python3
  # BPF: programs, skeletons, loader, symbol resolution
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  # the fuzz build (tests/fuzz): libFuzzer and the sanitizer runtimes of clang (only recommended
  # by the clang package, so not installed with it here)
  libclang-rt-14-dev
  # daemon
  prometheus-cpp-dev libcivetweb-dev libspdlog-dev libfmt-dev libyaml-cpp-dev libsystemd-dev
  # argument parsing, JSON output, linear-time regexes for untrusted input
  libcli11-dev nlohmann-json3-dev libre2-dev
  # end-to-end tests and benchmarks: a real Prometheus (promtool), systemd-analyze for the
  # unit, setpriv for the capability test, the bpftrace baseline
  prometheus systemd util-linux bpftrace
  # the HTTP load generator of the benchmarks' I/O-bound section (ab)
  apache2-utils
  # the operations kit's tests: the Debian package (cpack runs dpkg-shlibdeps and file), YAML
  dpkg-dev file python3-yaml
  # `gilstat stacks`' faces in the end-to-end tests: `go tool pprof` reads its profile, headless
  # Chromium renders its flame graph and tesseract reads the picture back
  golang-go chromium tesseract-ocr fonts-dejavu-core
  # gilstat top: its terminal (ncurses), and tmux, the terminal its end-to-end test drives
  libncurses-dev tmux
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
