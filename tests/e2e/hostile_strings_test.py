#!/usr/bin/env python3
"""Strings and counts that a local process controls, under a real gilstatd (and Prometheus):

- a command line of 30,000 characters against `cmdline:` regexes with `.*` and a nested
  quantifier (std::regex crashed the daemon with the first and took seconds per match with the
  second): the daemon attaches to it, keeps serving and reloads promptly;
- processes whose name is not UTF-8 (`ev\\xff\\xfe`, run through a symlink of that name to
  python3): the label value is made valid (U+FFFD), the exposition passes `promtool check
  metrics` and Prometheus scrapes it (it used to reject every scrape of the host);
- two processes in one group, one exits: the group's counters do not go down.

Needs root and BTF (skips saying why otherwise). Environment: GILSTATD, PYTHON_TARGET, PROMETHEUS,
PROMTOOL.
"""
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PROMTOOL, PYTHON, Prometheus, bpf_unavailable,  # noqa: E402
                     start_gilstatd, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
BAD_NAME = b"ev\xff\xfe"
# What the label value becomes: each invalid byte one U+FFFD.
BAD_LABEL = "ev\ufffd\ufffd"


def config(targets, extra=""):
    return ("targets:\n%s\nruntime:\n  enabled: false\nrescan_interval: 1s\n%s"
            % ("\n".join("  - " + t for t in targets), extra))


def contention(argv0):
    """lock_contention.py run as `argv0` (bytes path); returns the Popen once it is ready."""
    p = subprocess.Popen([argv0, os.path.join(HERE, "lock_contention.py").encode(), b"4"],
                         stdout=subprocess.PIPE)
    line = p.stdout.readline().strip()
    if line != b"ready":
        p.kill()
        raise AssertionError("lock_contention.py: expected 'ready', got %r" % line)
    return p


def stop(p):
    if p.poll() is None:
        p.kill()
    p.wait()
    if p.stdout:
        p.stdout.close()


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class HostileStrings(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.procs = []
        self.daemon = None

    def tearDown(self):
        for p in self.procs:
            stop(p)
        if self.daemon:
            self.daemon.close()
        self.tmp.cleanup()

    def test_long_command_line_against_backtracking_regexes(self):
        marker = "hostile-cmdline-%d" % os.getpid()
        sleeper = subprocess.Popen(
            [PYTHON, "-c", "import time; time.sleep(120)", marker, "x" * 30000],
            stdout=subprocess.DEVNULL)
        self.procs.append(sleeper)
        self.daemon = start_gilstatd(self.tmp.name, config(
            ["cmdline: '%s.*'" % marker, "cmdline: '(x+x+)+y'"]))
        self.daemon.wait_serving()
        self.daemon.wait_attached(1, timeout=30)
        start = time.monotonic()
        self.daemon.reconfigure(config(["cmdline: '%s.*x+$'" % marker, "cmdline: '(x+x+)+y'"]))
        wait_for("the reload", lambda: self.daemon.scrape().get(
            "gilstat_config_reloads_total", result="success") == 1, timeout=10)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(self.daemon.scrape().get("gilstat_probes_attached"), 1)
        self.assertIsNone(self.daemon.proc.poll(), self.daemon.output_tail())

    def test_names_that_are_not_utf8_keep_the_endpoint_valid(self):
        link = os.path.join(self.tmp.name.encode(), BAD_NAME)
        os.symlink(os.path.realpath(PYTHON).encode(), link)
        a, b = contention(link), contention(link)
        self.procs += [a, b]
        self.daemon = start_gilstatd(self.tmp.name, config(
            ["pid: %d" % a.pid, "pid: %d" % b.pid]))
        self.daemon.wait_serving()
        self.daemon.wait_attached(2, timeout=30)
        name = "gilstat_lock_contended_total"
        wait_for("contention of the oddly named group", lambda: (self.daemon.scrape().total(
            name, process=BAD_LABEL) or 0) > 0, timeout=20)

        text = self.daemon.metrics()  # decoded as UTF-8: raises if it is not
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        prom = Prometheus(self.tmp.name, self.daemon.port)
        try:
            wait_for("a scrape", lambda: prom.value('up{job="gilstat"}') is not None, timeout=30)
            self.assertEqual(prom.value('up{job="gilstat"}'), 1.0)
            # PromQL's lexer refuses U+FFFD in a string literal: "ev" and two runes.
            self.assertGreater(prom.value(
                'sum(gilstat_lock_contended_total{process=~"ev.."})') or 0, 0)
        finally:
            prom.stop()

        # One of the two exits: the group's counters keep its counts.
        before = self.daemon.scrape()
        stop(a)
        wait_for("the exit seen", lambda: self.daemon.scrape().get(
            "gilstat_probes_attached") == 1, timeout=20)
        after = self.daemon.scrape()
        for s in before.samples:
            if s.labels.get("process") != BAD_LABEL or not s.name.endswith(
                    ("_total", "_bucket", "_sum", "_count")):
                continue
            now = after.get(s.name, **s.labels)
            self.assertIsNotNone(now, "%s %s vanished" % (s.name, s.labels))
            self.assertGreaterEqual(now, s.value, "%s %s" % (s.name, s.labels))


if __name__ == "__main__":
    unittest.main(verbosity=2)
