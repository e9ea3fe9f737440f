#!/usr/bin/env bash
# deploy/prometheus: the rules pass `promtool check rules`, their unit tests pass
# `promtool test rules` (each alert firing on bad input and silent on good input), and the
# example configuration passes `promtool check config` (which also loads its rule files).
set -euo pipefail
dir=$1
promtool=${PROMTOOL:-promtool}
command -v "$promtool" >/dev/null || { echo "FAIL: promtool not found (Debian package prometheus)"; exit 1; }
cd "$dir"
"$promtool" check rules gilstat.rules.yml
"$promtool" test rules gilstat.rules.test.yml
"$promtool" check config prometheus.yml
# prometheus-kubernetes.yml uses kubernetes_sd_configs, which Debian's Prometheus is built
# without: tests/ops/check_deploy.py checks its structure instead.
