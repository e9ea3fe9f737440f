"""Configuration reloads (SIGHUP) as an operator sees them (docs/OPERATIONS.md, "What a reload does").

- `web.basic_auth` changed by a reload is applied: a new password works and the old one is
  refused; auth added protects the endpoint; auth removed opens it. The service manager hears
  RELOADING=1 then READY=1.
- Counters never decrease across reloads (an unchanged file, a changed one), and after a reload
  to `targets: []` the gauges `gilstat_targets` and `gilstat_probes_attached` are 0.
- Reloads that reload the probes run off the main loop: SIGHUPs during one are coalesced into
  one more reload (the last file is applied), scrapes answer meanwhile, SIGTERM stops the daemon,
  even while a reload is stuck (a FIFO as the configuration file).

Environment: GILSTATD, STATIC_TARGET (tests/testprogs semops_static), PYTHON_TARGET.
"""
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PYTHON, NotifySocket, bpf_unavailable, start_gilstatd,  # noqa: E402
                     wait_for)
from gilstat_bench.exposition import Exposition  # noqa: E402

STATIC_TARGET = os.environ.get("STATIC_TARGET")
QUIET = "runtime:\n  enabled: false\n"
COUNTERS = ["gilstat_attach_errors_total", "gilstat_detaches_total",
            "gilstat_process_events_total", "gilstat_config_reloads_total"]


def auth_config(user=None, password=None):
    text = "targets: []\n" + QUIET
    if user:
        text += "web:\n  basic_auth:\n    username: %s\n    password: %s\n" % (user, password)
    return text


def get(port, creds=None):
    """(status, body) of GET /metrics, with basic auth `creds` (user, password) if given."""
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port)
    if creds:
        token = base64.b64encode(("%s:%s" % creds).encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


class Daemon:
    """gilstatd and what a test needs of it: scrapes with the credentials in force."""

    def __init__(self, workdir, config_text, creds=None, env=None):
        self.g = start_gilstatd(workdir, config_text, env=env)
        self.creds = creds
        self.reloads = 0
        wait_for("gilstatd serving", lambda: self.alive() and get(self.g.port, creds)[0] == 200,
                 timeout=60, interval=0.1)

    def alive(self):
        if self.g.proc.poll() is not None:
            raise AssertionError("gilstatd exited: " + self.g.output_tail(10))
        return True

    def scrape(self):
        status, body = get(self.g.port, self.creds)
        if status != 200:
            raise AssertionError("scrape answered %d" % status)
        return Exposition(body)

    def reload(self, config_text, creds=None):
        """Writes `config_text`, sends SIGHUP and waits until the reload succeeded; scrapes
        with `creds` from then on."""
        self.reloads += 1
        self.g.reconfigure(config_text)
        self.creds = creds
        wait_for("reload %d successful" % self.reloads, lambda: self.alive() and self.scrape().get(
            "gilstat_config_reloads_total", result="success") == self.reloads, timeout=60)

    def close(self):
        self.g.close()


class BasicAuthReload(unittest.TestCase):
    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="gilstat-reload-")

    def test_changed_password_is_applied(self):
        d = Daemon(self.workdir, auth_config("prom", "old"), creds=("prom", "old"))
        self.addCleanup(d.close)
        self.assertEqual(get(d.g.port)[0], 401)
        d.reload(auth_config("prom", "new"), creds=("prom", "new"))
        self.assertEqual(get(d.g.port, ("prom", "old"))[0], 401, "the old password still works")
        self.assertEqual(get(d.g.port, ("prom", "new"))[0], 200)
        self.assertEqual(get(d.g.port)[0], 401)

    def test_auth_added_protects_and_auth_removed_opens(self):
        d = Daemon(self.workdir, auth_config())
        self.addCleanup(d.close)
        self.assertEqual(get(d.g.port)[0], 200)
        d.reload(auth_config("prom", "secret"), creds=("prom", "secret"))
        self.assertEqual(get(d.g.port)[0], 401, "auth added by reload left the endpoint open")
        self.assertEqual(get(d.g.port, ("prom", "wrong"))[0], 401)
        self.assertEqual(get(d.g.port, ("prom", "secret"))[0], 200)
        d.reload(auth_config(), creds=None)
        self.assertEqual(get(d.g.port)[0], 200, "auth removed by reload still asked for")

    def test_the_service_manager_is_told_when_a_reload_is_done(self):
        notify = NotifySocket(self.workdir)
        self.addCleanup(notify.close)
        d = Daemon(self.workdir, auth_config(), env=notify.env())
        self.addCleanup(d.close)
        wait_for("READY=1", lambda: any(m.startswith("READY=1") for m in notify.drain()))
        notify.messages.clear()
        d.reload(auth_config("prom", "x"), creds=("prom", "x"))
        # RELOADING=1 then READY=1 (without it systemd would show the unit reloading forever).
        wait_for("READY=1 after RELOADING=1", lambda: [
            m.split("\n")[0] for m in notify.drain() if m.startswith(("RELOADING=1", "READY=1"))
        ] == ["RELOADING=1", "READY=1"], timeout=30)


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class CountersAcrossReloads(unittest.TestCase):
    def setUp(self):
        if not STATIC_TARGET:
            self.skipTest("STATIC_TARGET not set (run through ctest)")
        self.workdir = tempfile.mkdtemp(prefix="gilstat-reload-")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdin:
                p.stdin.close()

    def start(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def counters(self, scrape):
        return {name: scrape.total(name) or 0 for name in COUNTERS}

    def test_counters_never_decrease_and_gauges_drop_to_zero(self):
        # An attach error (a static program: no libc), a detach (a target that exits) and a
        # target that stays; the first two are gone before any reload, so a daemon that
        # starts its counts again would show less.
        static = self.start([STATIC_TARGET, "wait", "1", "1"], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)
        short = self.start([PYTHON, "-c", "import time; time.sleep(2)"])
        stays = self.start([PYTHON, "-c", "import time; time.sleep(600)"])
        targets = "targets:\n" + "".join("  - pid: %d\n" % p.pid for p in (static, short, stays))
        config = targets + QUIET + "rescan_interval: 500ms\n"
        d = Daemon(self.workdir, config)
        self.addCleanup(d.close)
        wait_for("attach error counted", lambda: d.scrape().get(
            "gilstat_attach_errors_total", reason="no_libc") == 1, timeout=60)
        short.wait()
        wait_for("exited target detached", lambda: d.scrape().get("gilstat_detaches_total") >= 1,
                 timeout=60)
        static.kill()
        static.wait()
        before = self.counters(d.scrape())
        for name in ("gilstat_attach_errors_total", "gilstat_detaches_total",
                     "gilstat_process_events_total"):
            self.assertGreater(before[name], 0, name)
        steps = [("unchanged file", config),
                 ("changed rescan interval", targets + QUIET + "rescan_interval: 2s\n"),
                 ("unchanged file again", targets + QUIET + "rescan_interval: 2s\n")]
        for what, text in steps:
            d.reload(text)
            after = self.counters(d.scrape())
            for name in COUNTERS:
                self.assertGreaterEqual(after[name], before[name],
                                        "%s went down after a reload (%s)" % (name, what))
            self.assertEqual(d.scrape().get("gilstat_probes_attached"), 1, what)
            before = after
        d.reload("targets: []\n" + QUIET)
        scrape = d.scrape()
        self.assertEqual(scrape.get("gilstat_targets"), 0, scrape.text)
        self.assertEqual(scrape.get("gilstat_probes_attached"), 0, scrape.text)
        after = self.counters(scrape)
        for name in COUNTERS:
            self.assertGreaterEqual(after[name], before[name],
                                    "%s went down after a reload to no targets" % name)


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class SlowReloads(unittest.TestCase):
    """Reloads that reload the probes (a changed probes section at the largest map: about half a
    second each) run off the main loop."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="gilstat-reload-")
        self.target = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(600)"])
        self.addCleanup(self.target.wait)
        self.addCleanup(self.target.kill)

    def config(self, max_locks, creds=None):
        text = "targets:\n  - pid: %d\n%sprobes:\n  max_locks: %d\n" % (
            self.target.pid, QUIET, max_locks)
        if creds:
            text += "web:\n  basic_auth:\n    username: %s\n    password: %s\n" % creds
        return text

    def test_sighups_during_a_reload_are_coalesced_into_one_more(self):
        d = Daemon(self.workdir, self.config(262144))
        self.addCleanup(d.close)
        d.g.reconfigure(self.config(262000))
        time.sleep(0.1)
        scrape_times = []
        for _ in range(5):  # while the first reload reloads the probes
            d.g.reconfigure(self.config(261000, ("prom", "last")))
            start = time.monotonic()
            get(d.g.port)
            scrape_times.append(time.monotonic() - start)
            time.sleep(0.05)
        creds = ("prom", "last")
        wait_for("the last file applied", lambda: d.alive() and get(d.g.port, creds)[0] == 200
                 and get(d.g.port)[0] == 401, timeout=60)
        d.creds = creds
        wait_for("reloads settled", lambda: d.scrape().get(
            "gilstat_config_reloads_total", result="success") >= 2, timeout=60)
        time.sleep(2)
        # The first reload and one queued behind it (a signal may also land between them).
        self.assertLessEqual(d.scrape().get("gilstat_config_reloads_total", result="success"), 3)
        self.assertEqual(d.scrape().get("gilstat_probes_attached"), 1)
        self.assertLess(max(scrape_times), 1.0, "scrapes during a reload: %s" % scrape_times)

    def test_sigterm_during_a_reload_stops_the_daemon(self):
        d = Daemon(self.workdir, self.config(262144))
        self.addCleanup(d.close)
        d.g.reconfigure(self.config(262000))
        time.sleep(0.1)
        start = time.monotonic()
        d.g.proc.send_signal(signal.SIGTERM)
        self.assertEqual(d.g.proc.wait(timeout=20), 0, d.g.output_tail(10))
        self.assertLess(time.monotonic() - start, 10)


class StuckReload(unittest.TestCase):
    def test_sigterm_ends_the_daemon_while_a_reload_is_stuck(self):
        # A configuration path that now leads to a FIFO with no writer: a reload that opens it
        # blocks (or is refused, where opening never blocks). Either way scrapes go on and
        # SIGTERM ends the daemon: it waits at most 10 s for the reload.
        workdir = tempfile.mkdtemp(prefix="gilstat-reload-")
        d = Daemon(workdir, auth_config())
        self.addCleanup(d.close)
        os.unlink(d.g.config)
        os.mkfifo(d.g.config)
        d.g.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertIsNotNone(d.scrape().get("gilstat_build_info"))
        start = time.monotonic()
        d.g.proc.send_signal(signal.SIGTERM)
        self.assertIn(d.g.proc.wait(timeout=30), (0, 1), d.g.output_tail(5))
        self.assertLess(time.monotonic() - start, 15, d.g.output_tail(5))


if __name__ == "__main__":
    unittest.main(verbosity=2)
