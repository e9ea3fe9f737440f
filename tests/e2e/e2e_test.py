#!/usr/bin/env python3
"""End-to-end tests of gilstatd: the daemon on a free port hosting the runtime and watching a
real Debian python3 process, scraped by a real Prometheus server (Debian's package, loopback,
temporary storage, 1 s scrape interval), checked through Prometheus' HTTP API.

Needs root and a kernel with BTF for the probes; the tests that need them skip with the reason
otherwise. Paths come from the environment: GILSTATD (the binary), PYTHON_TARGET (python3).
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GILSTATD = os.environ.get("GILSTATD", "gilstatd")
PYTHON = os.environ.get("PYTHON_TARGET", "/usr/bin/python3")
PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
PROMTOOL = os.environ.get("PROMTOOL", "/usr/bin/promtool")
STATIC_TARGET = os.environ.get("STATIC_TARGET")
UNIT_FILE = os.environ.get("UNIT_FILE")
# The process group of gilstatd itself, where the hosted runtime runs (its comm).
HOSTED = 'process="gilstatd"'
# The operations kit: Grafana dashboard and Prometheus rules (deploy/).
DEPLOY_DIR = os.environ.get("DEPLOY_DIR", os.path.join(HERE, "..", "..", "deploy"))


def bpf_unavailable():
    if os.geteuid() != 0:
        return "not root: the probes need root (or CAP_BPF+CAP_PERFMON)"
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        return "no BTF at /sys/kernel/btf/vmlinux"
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def wait_for(what, fn, timeout=30.0, interval=0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}: last result {last!r}")


class NotifySocket:
    """A NOTIFY_SOCKET like systemd's for a Type=notify unit."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []

    def drain(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages


class Gilstatd:
    def __init__(self, workdir, config_text, port=None, notify=None, extra=(), wrapper=(),
                 binary=GILSTATD):
        self.port = port or free_port()
        self.config = os.path.join(workdir, "gilstatd.yml")
        with open(self.config, "w") as f:
            f.write(config_text)
        env = dict(os.environ)
        if notify:
            env["NOTIFY_SOCKET"] = notify.path
            env["WATCHDOG_USEC"] = "2000000"  # as a unit with WatchdogSec=2s
        self.log = open(os.path.join(workdir, "gilstatd.log"), "w+")
        self.proc = subprocess.Popen(
            [*wrapper, binary, f"--web.listen-address=127.0.0.1:{self.port}",
             f"--config.file={self.config}", *extra],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def url(self, path="/metrics"):
        return f"http://127.0.0.1:{self.port}{path}"

    def metrics(self):
        return http_get(self.url())[1]

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.stop(signal.SIGKILL)
        self.log.close()


class Prometheus:
    def __init__(self, workdir, target_port):
        self.port = free_port()
        cfg = os.path.join(workdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gilstat
    static_configs:
      - targets: ['127.0.0.1:{target_port}']
""")
        self.log = open(os.path.join(workdir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}",
             f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("prometheus ready",
                 lambda: http_get(f"http://127.0.0.1:{self.port}/-/ready")[0] == 200)

    def query(self, promql):
        q = urllib.parse.urlencode({"query": promql})
        _, body = http_get(f"http://127.0.0.1:{self.port}/api/v1/query?{q}")
        data = json.loads(body)
        if data["status"] != "success":
            raise AssertionError(f"query {promql} failed: {body}")
        return data["data"]["result"]

    def value(self, promql):
        """The single value of an instant query, or None when it returns nothing."""
        r = self.query(promql)
        if not r:
            return None
        if len(r) != 1:
            raise AssertionError(f"{promql}: expected one series, got {r}")
        return float(r[0]["value"][1])

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.log.close()


def bpftool_json(*args):
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"bpftool {' '.join(args)}: {out.stderr}")
    return json.loads(out.stdout or "[]")


def perf_attachments_of(pid):
    """uprobes and tracepoints with BPF programs that process `pid` holds open."""
    return [p for p in bpftool_json("perf", "show") if p.get("pid") == pid]


OUR_PROGRAMS = {"sem_wait_entry", "sem_wait_return", "sem_post_entry", "proctrack_exec",
                "proctrack_exit"}


def program_ids_held_by(pid):
    """IDs of the BPF programs whose fds process `pid` holds (its /proc/PID/fdinfo): exactly
    the programs that daemon loaded, whatever else runs on the machine."""
    ids = set()
    d = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            continue
    return ids


def links_held_by(pid):
    """The BPF links whose fds process `pid` holds: {link id: (link type, program id)}."""
    links = {}
    d = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(d):
        try:
            with open(os.path.join(d, fd)) as f:
                info = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
        except OSError:
            continue
        if "link_id" in info:
            links[int(info["link_id"])] = (info.get("link_type", "?"), int(info.get("prog_id", 0)))
    return links


def loaded_link_ids():
    return {l["id"] for l in bpftool_json("link", "show")}


def loaded_program_ids():
    return {p["id"] for p in bpftool_json("prog", "show")}


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class WithPrometheus(unittest.TestCase):
    """One daemon (runtime + self + a python3 target) scraped by one Prometheus."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="gilstat-e2e-")
        d = cls.tmp.name
        cls.target = subprocess.Popen([PYTHON, os.path.join(HERE, "lock_contention.py"), "4"],
                                      stdout=subprocess.PIPE, text=True)
        assert cls.target.stdout.readline().strip() == "ready"
        cls.notify = NotifySocket(d)
        cls.config = f"""targets:
  - self: true
  - pid: {cls.target.pid}
runtime:
  enabled: true
  policy: classic
  workload: convoy
labels:
  process: "{{comm}}"
"""
        cls.daemon = Gilstatd(d, cls.config, notify=cls.notify)
        wait_for("gilstatd serving", lambda: "gilstat_build_info" in cls.daemon.metrics())
        cls.prom = Prometheus(d, cls.daemon.port)
        # Enough scrapes for rate() over 5 s windows.
        wait_for("8 scrapes", lambda: (cls.prom.value(
            'count_over_time(up{job="gilstat"}[1m])') or 0) >= 8, timeout=60)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.prom.stop()
        finally:
            cls.target.kill()
            cls.target.wait()
            cls.target.stdout.close()
            cls.daemon.close()
            cls.notify.sock.close()
            cls.tmp.cleanup()

    def test_a_ready_was_notified(self):
        msgs = self.notify.drain()
        self.assertTrue(any(m.startswith("READY=1") for m in msgs), msgs)
        self.assertTrue(any("STATUS=" in m and "attached" in m for m in msgs), msgs)
        wait_for("a watchdog ping", lambda: any(
            m == "WATCHDOG=1" for m in self.notify.drain()), timeout=5)

    def test_b_scrapes_succeed(self):
        self.assertEqual(self.prom.value('up{job="gilstat"}'), 1.0)

    def test_c_both_sources_have_rates(self):
        # The convoy makes ~1M GIL acquisitions/s, ~10% of them contended. The probes in
        # default mode see the contended ones (wait histogram), the runtime all of them.
        for name, source in (("gilstat_lock_acquisitions_total", "runtime"),
                             ("gilstat_lock_wait_seconds_count", "ebpf")):
            q = f'rate({name}{{{HOSTED},lock="gil",source="{source}"}}[5s])'
            v = self.prom.value(q)
            self.assertIsNotNone(v, q)
            self.assertGreater(v, 1000, q)
        for name in ("gilstat_gil_switches_total", "gilstat_lock_handoffs_total",
                     "gilstat_lock_contended_total", "gilstat_runtime_ticks_total"):
            r = self.prom.query(f"rate({name}[5s]) > 0")
            self.assertTrue(r, f"{name}: no series with a positive rate")

    def test_d_histogram_quantiles_work(self):
        for name in ("gilstat_lock_wait_seconds", "gilstat_gil_hold_seconds"):
            q = (f'histogram_quantile(0.99, sum by (le) '
                 f'(rate({name}_bucket{{lock="gil",source="runtime"}}[5s])))')
            v = self.prom.value(q)
            self.assertIsNotNone(v, q)
            self.assertGreater(v, 0, q)
            self.assertLess(v, 10, q)
        q = ('histogram_quantile(0.5, sum by (le) '
             '(rate(gilstat_lock_handoff_latency_seconds_bucket{lock="gil"}[5s])))')
        self.assertIsNotNone(self.prom.value(q), q)

    def test_e_ebpf_and_runtime_agree_on_the_hosted_gil(self):
        # The hosted runtime's group: the python3 target has a GIL of its own.
        # Default mode probes only sem_wait's slow path, so no acquisition count is exported
        # for the probes (the exact count is checked in counting mode by
        # tests/bpf/semlock_runtime_test).
        self.assertIsNone(self.prom.value(
            f'gilstat_lock_acquisitions_total{{{HOSTED},lock="gil",source="ebpf"}}'))
        runtime = self.prom.value(
            f'gilstat_lock_acquisitions_total{{{HOSTED},lock="gil",source="runtime"}}')
        self.assertGreater(runtime, 10000)
        # The slow path is entered when the semaphore is 0: the acquisitions that found the GIL
        # held, which is the runtime's "contended" (it reads the value just before sem_wait).
        # They differ by races in that window; measured 1.07 x on this machine kind under the
        # convoy, stated tolerance +-40%.
        slow = self.prom.value(
            f'gilstat_lock_wait_seconds_count{{{HOSTED},lock="gil",source="ebpf"}}')
        c = {s: self.prom.value(f'gilstat_lock_contended_total{{{HOSTED},lock="gil",source="{s}"}}')
             for s in ("ebpf", "runtime")}
        self.assertGreater(c["runtime"], 1000, c)
        self.assertLess(abs(slow - c["runtime"]) / c["runtime"], 0.4, (slow, c))
        # The probes' "contended" is narrower (blocked in the kernel): only slow-path calls.
        self.assertGreater(c["ebpf"], 0, c)
        self.assertLessEqual(c["ebpf"], slow, (slow, c))
        # Handoffs: the probes count a blocked waiter woken by another thread's post, the
        # runtime any change of holder, so the probes' count can only be lower (docs/PROBES.md).
        h = {s: self.prom.value(f'gilstat_lock_handoffs_total{{{HOSTED},lock="gil",source="{s}"}}')
             for s in ("ebpf", "runtime")}
        self.assertGreater(h["ebpf"], 0, h)
        self.assertLessEqual(h["ebpf"], h["runtime"] * 1.01 + 10, h)

    def test_f_python_threading_lock_is_seen(self):
        group = os.path.basename(PYTHON)[:15]  # comm: the name it was started by
        # Every semaphore of a CPython process but its GIL is a threading lock.
        sel = f'process="{group}",lock="threading",source="ebpf"'
        for name in ("gilstat_lock_contended_total", "gilstat_lock_handoffs_total",
                     "gilstat_lock_wait_seconds_count"):
            q = f"sum(rate({name}{{{sel}}}[5s]))"
            v = self.prom.value(q)
            self.assertIsNotNone(v, f"{q}: no series; metrics:\n" + self.daemon.metrics())
            self.assertGreater(v, 10, q)

    def test_g_daemon_metrics(self):
        self.assertEqual(self.prom.value("gilstat_probes_attached"), 2.0)
        self.assertEqual(self.prom.value("gilstat_targets"), 2.0)
        self.assertEqual(self.prom.value('gilstat_build_info') , 1.0)
        self.assertGreater(self.prom.value("process_resident_memory_bytes"), 1e6)
        self.assertEqual(
            self.prom.value('gilstat_runtime_info{policy="classic",workload="convoy"}'), 1.0)

    def test_h_promtool_accepts_the_exposition(self):
        text = self.daemon.metrics()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((r.stdout + r.stderr).strip(), "")

    def test_i_landing_page_links_the_metrics(self):
        status, body = http_get(self.daemon.url("/"))
        self.assertEqual(status, 200)
        self.assertIn('href="/metrics"', body)

    def test_j_malformed_and_oversized_requests(self):
        def send(raw):
            with socket.create_connection(("127.0.0.1", self.daemon.port), timeout=5) as s:
                try:
                    s.sendall(raw)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
                except OSError:
                    pass
        send(b"\x00\xff garbage\r\n\r\n")
        send(b"GET /" + b"a" * 200000 + b" HTTP/1.1\r\n\r\n")
        send(b"GET /metrics HTTP/1.1\r\nX: " + b"b" * 100000 + b"\r\n\r\n")
        send(b"GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
        self.assertEqual(self.daemon.proc.poll(), None, self.daemon.output())
        self.assertIn("gilstat_build_info", self.daemon.metrics())

    def test_ja_grafana_dashboard_and_rules_answer(self):
        # deploy/: the recording and alerting rules load into this Prometheus and evaluate; the
        # recorded series exist; every query of the Grafana dashboard (its panels and its
        # variables, set to "All") returns a series with a number. Runs before test_k_reload
        # so that the process labels are the ones scraped from the start.
        rules = os.path.abspath(os.path.join(DEPLOY_DIR, "prometheus", "gilstat.rules.yml"))
        cfg = os.path.join(self.tmp.name, "prometheus.yml")
        with open(cfg) as f:
            text = f.read()
        if "rule_files:" not in text:
            with open(cfg, "a") as f:
                f.write(f"rule_files:\n  - {rules}\n")
            self.prom.proc.send_signal(signal.SIGHUP)

        def evaluated_rules():
            _, body = http_get(f"http://127.0.0.1:{self.prom.port}/api/v1/rules")
            rs = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
            if not rs or any(r.get("lastEvaluation", "").startswith("0001") for r in rs):
                return None
            return rs
        loaded = wait_for("the rules evaluated", evaluated_rules, timeout=20)
        self.assertEqual([r for r in loaded if r["health"] != "ok"], [])
        recorded = [r["name"] for r in loaded if r["type"] == "recording"]
        self.assertTrue(recorded)
        alerts = {r["name"] for r in loaded if r["type"] == "alerting"}
        self.assertTrue({"GilstatGILSaturated", "GilstatExporterDown",
                         "GilstatAttachErrorsGrowing"} <= alerts, alerts)
        for name in recorded:
            wait_for(f"recorded series {name}", lambda: self.prom.query(name), timeout=10)

        with open(os.path.join(DEPLOY_DIR, "grafana", "gilstat.json")) as f:
            dashboard = json.load(f)
        names = [v["name"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
        values = {n: ".*" for n in names}  # every variable's "All" value
        values.update({"__rate_interval": "10s", "__range": "1m", "__interval": "2s"})

        def substitute(expr):
            return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), expr)

        queries = []  # (where, PromQL)
        for v in dashboard["templating"]["list"]:
            if v["type"] != "query":
                continue
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q)
            self.assertIsNotNone(m, f"variable {v['name']}: {q}")
            queries.append((f"variable {v['name']}",
                            f"count by ({m.group(2)}) ({substitute(m.group(1))})"))
        panels = [p for top in dashboard["panels"] for p in [top, *top.get("panels", [])]]
        for p in panels:
            for t in p.get("targets", []):
                queries.append((f"panel '{p['title']}' {t['refId']}", substitute(t["expr"])))
        self.assertGreater(len(queries), 20)
        for where, q in queries:
            self.assertNotIn("$", q, f"{where}: unknown variable")

        def answered(q):
            return any(r["value"][1] != "NaN" for r in self.prom.query(q))
        empty = [(w, q) for w, q in queries if not answered(q)]
        if empty:  # a moment for series that appear with the next scrape or evaluation
            time.sleep(3)
            empty = [(w, q) for w, q in empty if not answered(q)]
        self.assertEqual(empty, [], "queries without an answer:\n" + "\n".join(
            f"{w}: {q}" for w, q in empty))

    def test_k_reload(self):
        # A bad file on SIGHUP: logged, counted, the running configuration stays.
        with open(self.daemon.config, "w") as f:
            f.write("targets:\n  - pid: [\n")
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for("failed reload counted", lambda: 'gilstat_config_reloads_total{result="failure"} 1'
                 in self.daemon.metrics())
        self.assertIn('gilstat_lock_contended_total{lock="gil",process="',
                      self.daemon.metrics())
        # A good one with another process label: the runtime keeps running and the probes stay
        # attached, so the counters go on under the new label instead of starting again.
        before = self.prom.value('gilstat_runtime_ticks_total')
        group = os.path.basename(PYTHON)[:15]
        py_before = self.prom.value(
            f'sum(gilstat_lock_wait_seconds_count{{process="{group}",source="ebpf"}})')
        self.assertIsNotNone(py_before)
        with open(self.daemon.config, "w") as f:
            f.write(self.config.replace('"{comm}"', '"svc-{comm}"'))
        self.daemon.proc.send_signal(signal.SIGHUP)
        wait_for("successful reload", lambda: 'gilstat_config_reloads_total{result="success"} 1'
                 in self.daemon.metrics())
        text = self.daemon.metrics()
        self.assertIn('process="svc-', text)
        ticks = [l for l in text.splitlines() if l.startswith("gilstat_runtime_ticks_total")]
        self.assertTrue(ticks and float(ticks[0].split()[-1]) >= (before or 0), ticks)
        py_after = sum(float(l.split()[-1]) for l in text.splitlines()
                       if l.startswith("gilstat_lock_wait_seconds_count{")
                       and f'process="svc-{group}"' in l and 'source="ebpf"' in l)
        self.assertGreaterEqual(py_after, py_before, "\n".join(
            l for l in text.splitlines() if l.startswith("gilstat_lock_wait_seconds_count")))
        # A changed runtime section restarts the runtime (new policy) while scrapes go on.
        stop = threading.Event()
        failures = []

        def scrape_loop():
            while not stop.is_set():
                try:
                    self.daemon.metrics()
                except Exception as e:  # noqa: BLE001
                    failures.append(e)
        scraper = threading.Thread(target=scrape_loop)
        scraper.start()
        try:
            with open(self.daemon.config, "w") as f:
                f.write(self.config.replace("policy: classic", "policy: fair"))
            self.daemon.proc.send_signal(signal.SIGHUP)
            wait_for("runtime restarted with policy fair", lambda: 'policy="fair"'
                     in self.daemon.metrics())
        finally:
            stop.set()
            scraper.join()
        self.assertEqual(failures, [])
        self.assertIsNone(self.daemon.proc.poll(), self.daemon.output())
        self.assertIn('gilstat_config_reloads_total{result="success"} 2', self.daemon.metrics())

    def test_z_sigterm_exits_cleanly_leaving_nothing_attached(self):
        pid = self.daemon.proc.pid
        # Uprobes: uprobe_multi links (Linux 6.6+) or perf-event uprobes (older kernels).
        links = links_held_by(pid)
        uprobe_links = {i for i, (kind, _) in links.items() if kind == "uprobe_multi"}
        attached = perf_attachments_of(pid)
        self.assertTrue(uprobe_links or any(a.get("fd_type") == "uprobe" for a in attached),
                        (links, attached))
        ours = program_ids_held_by(pid)
        names = {p["name"] for p in bpftool_json("prog", "show") if p["id"] in ours}
        self.assertTrue(OUR_PROGRAMS & names, names)
        self.assertEqual(self.daemon.stop(), 0, self.daemon.output())
        self.assertEqual(perf_attachments_of(pid), [])
        self.assertEqual(set(links) & loaded_link_ids(), set())
        # Its own programs (by id: another gilstatd on the machine may load the same names).
        wait_for("programs unloaded", lambda: not (ours & loaded_program_ids()), timeout=10)
        self.assertIn("STOPPING=1", "".join(self.notify.drain()))


def metric_value(text, prefix):
    """The value of the first exposition line starting with `prefix`, or None."""
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return None


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class TroubleWithTargets(unittest.TestCase):
    """A target without libc and a target that exits: logged once, counted, still serving."""

    def test_unattachable_and_vanishing_targets(self):
        if not STATIC_TARGET:
            self.skipTest("STATIC_TARGET not set (run through ctest)")
        with tempfile.TemporaryDirectory(prefix="gilstat-e2e-") as d:
            # A static program (tests/testprogs/semops): it waits for a line on stdin forever.
            static = subprocess.Popen([STATIC_TARGET, "wait", "1", "1"], stdin=subprocess.PIPE,
                                      stdout=subprocess.DEVNULL)
            short = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(3)"])
            g = Gilstatd(d, f"targets:\n  - pid: {static.pid}\n  - pid: {short.pid}\n"
                            "rescan_interval: 500ms\n")
            try:
                wait_for("no_libc counted", lambda: metric_value(
                    g.metrics(), 'gilstat_attach_errors_total{reason="no_libc"}') == 1)
                self.assertEqual(metric_value(g.metrics(), "gilstat_probes_attached"), 1)
                short.wait()
                wait_for("exited target detached", lambda: metric_value(
                    g.metrics(), "gilstat_probes_attached") == 0)
                text = g.metrics()
                self.assertGreaterEqual(metric_value(text, "gilstat_detaches_total"), 1)
                # Still one error: the static target is not retried on every rescan.
                self.assertEqual(
                    metric_value(text, 'gilstat_attach_errors_total{reason="no_libc"}'), 1)
                self.assertIsNone(g.proc.poll())
                out = g.output()
                self.assertEqual(out.count(f"cannot attach to pid {static.pid}"), 1, out)
                self.assertEqual(g.stop(), 0)
            finally:
                static.kill()
                static.wait()
                static.stdin.close()
                short.kill()
                short.wait()
                g.close()


@unittest.skipIf(bpf_unavailable(), bpf_unavailable())
class UnitCapabilities(unittest.TestCase):
    """The capabilities the shipped unit grants suffice, and less does not."""

    def unit_capabilities(self):
        with open(UNIT_FILE) as f:
            for line in f:
                if line.startswith("AmbientCapabilities="):
                    return [c.lower().removeprefix("cap_") for c in line.split("=", 1)[1].split()]
        self.fail("the unit sets no AmbientCapabilities")

    def run_as_nobody(self, caps, d):
        copy = os.path.join(d, "gilstatd")  # a copy any user may execute
        subprocess.run(["cp", GILSTATD, copy], check=True)
        os.chmod(d, 0o755)
        spec = ",".join("+" + c for c in caps) if caps else "-all"
        wrapper = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                   f"--inh-caps={spec}", f"--ambient-caps={spec}"]
        return Gilstatd(d, "targets:\n  - self: true\nruntime:\n  workload: countdown\n"
                           "  params: {threads: 2, steps: 1000000000}\n",
                        wrapper=wrapper, binary=copy)

    def test_the_units_capabilities_suffice(self):
        if not UNIT_FILE:
            self.skipTest("UNIT_FILE not set (run through ctest)")
        with tempfile.TemporaryDirectory(prefix="gilstat-e2e-") as d:
            g = self.run_as_nobody(self.unit_capabilities(), d)
            try:
                wait_for("probes attached as nobody", lambda: metric_value(
                    g.metrics(), "gilstat_probes_attached") == 1, timeout=30)
                wait_for("ebpf contended acquisitions", lambda: (metric_value(
                    g.metrics(), 'gilstat_lock_wait_seconds_count{lock="gil",process="gilstatd",'
                    'source="ebpf"}') or 0) > 0)
                self.assertEqual(g.stop(), 0)
            finally:
                g.close()

    def test_without_capabilities_it_says_so(self):
        with tempfile.TemporaryDirectory(prefix="gilstat-e2e-") as d:
            g = self.run_as_nobody([], d)
            try:
                self.assertEqual(g.proc.wait(timeout=30), 1)
                self.assertIn("missing privileges", g.output())
            finally:
                g.close()


class BadStart(unittest.TestCase):
    """Start-up errors: clear messages and the documented exit statuses."""

    def run_with(self, config_text, extra=()):
        with tempfile.TemporaryDirectory(prefix="gilstat-e2e-") as d:
            g = Gilstatd(d, config_text, extra=extra)
            try:
                rc = g.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                g.close()
                self.fail("gilstatd did not exit:\n" + g.output())
            out = g.output()
            g.close()
            return rc, out, g.config

    def test_syntax_error_exits_2_with_file_and_line(self):
        rc, out, path = self.run_with("runtime:\n  enabled: true\n  policy: [classic\n")
        self.assertEqual(rc, 2, out)
        self.assertIn(path + ":", out)
        self.assertIn("YAML syntax error", out)

    def test_unknown_key_exits_2(self):
        rc, out, path = self.run_with("runtime:\n  enabled: true\n  polcy: fair\n")
        self.assertEqual(rc, 2, out)
        self.assertIn(f"{path}:3:3: unknown key 'polcy' in 'runtime'", out)

    def test_bad_value_exits_2(self):
        rc, out, path = self.run_with("runtime:\n  policy: fifo\n")
        self.assertEqual(rc, 2, out)
        self.assertIn(f"{path}:2:11: 'policy' must be classic, switching or fair", out)
        rc, out, path = self.run_with("runtime:\n  workload: convoy\n  params: {cpu_threads: x}\n")
        self.assertEqual(rc, 2, out)
        self.assertIn("cpu_threads", out)

    def test_bad_flag_exits_2(self):
        rc, out, _ = self.run_with("", extra=("--no-such-flag",))
        self.assertEqual(rc, 2, out)
        self.assertIn("unknown flag '--no-such-flag'", out)

    def test_port_in_use_exits_1(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            with tempfile.TemporaryDirectory(prefix="gilstat-e2e-") as d:
                g = Gilstatd(d, "runtime:\n  enabled: true\n  workload: none\n", port=port)
                rc = g.proc.wait(timeout=30)
                out = g.output()
                g.close()
                self.assertEqual(rc, 1, out)
                self.assertIn(f"cannot listen on 127.0.0.1:{port}", out)

    def test_help_and_version(self):
        r = subprocess.run([GILSTATD, "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("--web.listen-address", r.stdout)
        r = subprocess.run([GILSTATD, "--version"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^gilstatd \d+\.\d+\.\d+")


if __name__ == "__main__":
    unittest.main(verbosity=2)
