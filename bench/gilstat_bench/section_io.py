"""Section 5: gilstatd's overhead on I/O-bound services in real CPython interpreters
(bench/io_server.py serve, two identical long-lived targets per interpreter): a single-thread
TCP echo server driven by a client in another process, and a threaded HTTP server under ab
(Debian's apache2-utils), both over loopback. gilstatd watches one of the two servers and the
other, measured beside it seconds apart in the same state, is its reference: the machine's
speed, which moves by tens of per cent from second to second on a shared VM, moves both.
States (no daemon, each configuration) are interleaved round by round, as in section 2."""

import glob
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

from .procs import Child, Gilstatd
from .section_host import bpf_stats_enabled, prog_ids, prog_stats
from .sid import command, sid_pythons
from .stats import median, rotate, slowdown

# The interpreters: every CPython installed by pyenv, and Debian's.
PYTHON_GLOBS = ("/root/.pyenv/versions/*/bin/python", "/usr/bin/python3.11")
CONFIGS = ("gilstatd-default", "gilstatd-exact", "gilstatd-stacks")
WORKLOADS = ("echo", "http")
# The probes section of the exact configuration: every GIL acquisition counted (opt-in). When
# gilstatd rejects the key (a build that has no such option), the column runs with the default
# probes section and the report says so.
EXACT_PROBES = "probes: {python: exact}\n"
DEFAULT_PROBES = "probes: {mode: default}\n"
# Python stacks at contended GIL waits (opt-in, CPython 3.11+; docs/PYTHON.md "Stacks").
STACKS_PROBES = "probes: {python_stacks: true}\n"


def probes_of(config, exact_key):
    """The probes section of a configuration (the default one for exact where the build refused
    the exact key)."""
    if config == "gilstatd-stacks":
        return STACKS_PROBES
    return EXACT_PROBES if config == "gilstatd-exact" and exact_key else DEFAULT_PROBES
# An echo round trip releases and re-takes the GIL twice (around recv and around sendall); used
# when the exact configuration does not count acquisitions.
ECHO_RELEASES_PER_REQUEST = 2
AB_CONCURRENCY = 8
# Two identical servers per interpreter: gilstatd watches one, and the other, measured beside it
# in the same state, is its reference.
SERVERS = ("A", "B")


def other(server):
    """The server beside `server`."""
    return SERVERS[1] if server == SERVERS[0] else SERVERS[0]


def pinned(cpu, argv):
    """`argv` bound to CPU `cpu` (taskset) on a machine with two CPUs or more, else as is. The
    server runs on CPU 0 and its load generator on CPU 1: left to the scheduler, the two share
    a CPU in some measurements and not in others, and the rate without any daemon moved by
    ±10–40% between rounds (a cross-CPU wake-up per message costs tens of µs on this machine
    kind), which hides a 3% goal."""
    if (os.cpu_count() or 1) < 2:
        return list(argv)
    return ["taskset", "-c", str(cpu)] + list(argv)


def target_config(pid, probes):
    return "targets:\n  - pid: %d\nruntime:\n  enabled: false\n%s" % (pid, probes)


@dataclass
class IoRun:
    """One interpreter, two identical servers ("A", "B"). rounds[r]: {"watched": the server
    gilstatd watched in round r (A in even rounds, B in odd ones), state: {server: {workload:
    (requests/s, the server's CPU µs per request or None)}}} for the states "none" (no gilstatd)
    and each configuration. releases[workload]: GIL acquisitions per request counted by the
    exact configuration."""
    version: str
    path: str
    rounds: list = field(default_factory=list)
    releases: dict = field(default_factory=dict)
    sites: dict = field(default_factory=dict)
    # program_ns[config][workload]: ns of gilstatd's BPF programs per request (kernel stats)
    program_ns: dict = field(default_factory=dict)

    def pairs(self, config, w, cpu=False):
        """Per round (watched, unwatched) of the rate (cpu: CPU per request) under `config`;
        None where a figure is missing."""
        k = 1 if cpu else 0
        out = []
        for rr in self.rounds:
            if config not in rr:
                continue
            a = rr["watched"]
            out.append((rr[config][a][w][k], rr[config][other(a)][w][k]))
        return out

    def values(self, config, w):
        """The watched server's rate in each round ([] for a configuration not measured);
        for "none", the mean of the two servers' rates."""
        if config == "none":
            return [(rr["none"]["A"][w][0] + rr["none"]["B"][w][0]) / 2 for rr in self.rounds]
        return [v for v, _ in self.pairs(config, w, False)]

    def median_rate(self, config, w):
        return median(self.values(config, w))

    def slowdown_rounds(self, config, w):
        """Per round, the watched server's slowdown against the unwatched one beside it."""
        return [slowdown(u, v, higher_is_better=True) for v, u in self.pairs(config, w, False)]

    def slowdown(self, config, w):
        return median(self.slowdown_rounds(config, w))

    def cpu_values(self, config, w):
        """The server's CPU time per request (µs) in each round (watched; "none": the mean)."""
        if config == "none":
            out = []
            for rr in self.rounds:
                a, b = rr["none"]["A"][w][1], rr["none"]["B"][w][1]
                out.append(None if a is None or b is None else (a + b) / 2)
            return out
        return [v for v, _ in self.pairs(config, w, True)]

    def cpu_slowdown_rounds(self, config, w):
        """Per round, the relative growth of the watched server's CPU time per request over
        the unwatched one's."""
        return [None if v is None or u is None else slowdown(u, v)
                for v, u in self.pairs(config, w, True)]

    def cpu_added_us(self, config, w):
        """Per round, the CPU µs per request the watched server spent over the unwatched one."""
        return [None if v is None or u is None else v - u for v, u in self.pairs(config, w, True)]

    def others_rounds(self, config, w):
        """Per round, the slowdown of the server gilstatd did not watch against itself in the
        same round's state without gilstatd: what gilstatd costs a process it does not watch
        (its host-wide programs), which the side-by-side comparison cancels."""
        out = []
        for rr in self.rounds:
            if config not in rr:
                continue
            u = other(rr["watched"])
            out.append(slowdown(rr["none"][u][w][0], rr[config][u][w][0], higher_is_better=True))
        return out

    def twin_rounds(self, w):
        """Per round, A's rate against B's with no gilstatd: the method's own noise (0 for two
        identical servers measured alike)."""
        return [slowdown(rr["none"]["B"][w][0], rr["none"]["A"][w][0], higher_is_better=True)
                for rr in self.rounds]

    def releases_per_request(self, w):
        got = median(self.releases.get(w, []))
        if got is None and w == "echo":
            return ECHO_RELEASES_PER_REQUEST, False
        return got, got is not None


@dataclass
class IoData:
    runs: list
    rounds: int
    io_s: float
    exact_key: bool        # the exact configuration's key was accepted
    exact_probes: str
    load_generator: str
    io_settle_s: float = 0.5
    io_http_max: int = 0
    io_http_s: int = 1
    cpu_source: str = ""   # where the server's CPU time was read (ServerCpu.source)


def version_key(path):
    """Sorts pyenv's versions numerically (3.6 before 3.10), Debian's last."""
    m = re.search(r"/versions/(\d+)\.(\d+)", path)
    return (0, int(m.group(1)), int(m.group(2))) if m else (1, 0, 0)


def interpreters(ctx):
    """[(label, path)] of the CPythons to measure, by their version (PY_ONLY filters)."""
    out = []
    for p in sorted((p for g in PYTHON_GLOBS for p in glob.glob(g)), key=version_key):
        label = (os.path.basename(os.path.dirname(os.path.dirname(p))) if "pyenv" in p
                 else os.path.basename(p) + " (Debian)")
        if ctx.py_only and not any(label.startswith(o) for o in ctx.py_only):
            continue
        out.append((label, p))
    return out + [(label, p) for label, p in sid_pythons()
                  if not ctx.py_only or any(label.startswith(o) for o in ctx.py_only)]


def exact_key_accepted(ctx, pid):
    """Whether gilstatd starts with EXACT_PROBES (it exits 2 on an unknown key)."""
    gd = Gilstatd(ctx.path("gilstatd"), ctx.tmp, target_config(pid, EXACT_PROBES))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if gd.proc.poll() is not None:
                return False
            try:
                gd.scrape(timeout=1)
                return True
            except OSError:
                time.sleep(0.05)
        return False
    finally:
        gd.close()


class Server:
    """One of an interpreter's two identical targets: `bench/io_server.py serve`, bound to
    CPU 0, its CPU time read from a cgroup of its own."""

    def __init__(self, ctx, py, label, name):
        self.child = Child(pinned(0, command(py, ctx.io_server, "serve")),
                           "io-%s-%s" % (label.split()[0], name), ctx.tmp)
        self.meter = None
        try:
            m = self.child.expect(r"ready (\d+) (\S+) (\d+) (\d+)", 30)
            self.pid, self.version = int(m.group(1)), m.group(2)
            self.ports = (int(m.group(3)), int(m.group(4)))
            self.meter = ServerCpu(self.pid, "gilstat-bench-io-" + name.lower())
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.meter:
            self.meter.close()
        self.child.stop()


def measure(ctx):
    z = ctx.sizes
    ctx.log("section 5: I/O-bound services")
    if subprocess.run(["sh", "-c", "command -v ab"], capture_output=True).returncode != 0:
        raise RuntimeError("ab (apache2-utils) is missing: scripts/deps.sh installs it")
    data = IoData([], z.io_rounds, z.io_s, False, EXACT_PROBES, "`ab` (Debian's apache2-utils)",
                  z.io_settle_s, z.io_http_max, z.io_http_s)
    first = True
    for label, py in interpreters(ctx):
        servers = {}
        try:
            for k in SERVERS:
                servers[k] = Server(ctx, py, label, k)
            if first:
                data.exact_key = exact_key_accepted(ctx, servers["A"].pid)
                first = False
            run = IoRun(servers["A"].version, py)
            data.cpu_source = servers["A"].meter.source
            measure_python(ctx, run, servers, data.exact_key)
            data.runs.append(run)
        except Exception as e:  # one interpreter failing does not end the section
            ctx.note("Section 5, CPython %s: %s" % (label, e))
        finally:
            for server in servers.values():
                server.close()
    return data


def measure_python(ctx, run, servers, exact_key):
    """Every round: each state (no gilstatd, each configuration) in an order rotated from
    round to round; in each, both servers measured one after the other, the one gilstatd
    watches (A in even rounds, B in odd ones) first in every other measurement."""
    for server in servers.values():  # warm-up, not recorded
        for w in WORKLOADS:
            measure_workload(ctx, w, server.ports, 0.5)
    for r in range(ctx.sizes.io_rounds):
        watched = SERVERS[r % 2]
        rr = {"watched": watched}
        for state in rotate(["none"] + list(CONFIGS), r):
            rr[state] = measure_state(ctx, run, state, servers, watched, exact_key, r)
        run.rounds.append(rr)
    for c in CONFIGS:
        run.program_ns[c] = program_time(ctx, c, servers["A"].pid, servers["A"].ports,
                                         exact_key)


def program_time(ctx, config, pid, ports, exact_key):
    """{workload: ns of gilstatd's BPF programs per request}: one measurement per workload
    with the kernel's BPF statistics on (not during the rounds: they slow every program a
    little). The time the programs run, wherever the kernel runs them (the target's threads,
    its clients, the scheduler); a uprobe's trap and a uretprobe's return trampoline are not
    in it."""
    ctx.log("  kernel BPF statistics: %s" % config)
    gd = Gilstatd(ctx.path("gilstatd"), ctx.tmp, target_config(pid, probes_of(config, exact_key)))
    out = {}
    try:
        gd.wait_attached(1)
        time.sleep(ctx.sizes.io_settle_s)
        ids = prog_ids(gd.pid)
        with bpf_stats_enabled():
            for w in WORKLOADS:
                before = prog_stats(ids)
                _, requests, _ = measure_workload(ctx, w, ports, ctx.sizes.io_s)
                after = prog_stats(ids)
                ns = sum(t - before.get(n, (0, 0))[1] for n, (_, t) in after.items())
                out[w] = ns / requests if requests else None
    finally:
        gd.stop(timeout=60)
        gd.close()
    return out


def measure_state(ctx, run, state, servers, watched, exact_key, r):
    """{server: {workload: (requests/s, the server's CPU µs per request or None)}} with `state`
    ("none", or a configuration attached to server `watched`)."""
    ctx.log("  CPython %s: %s%s" % (run.version, state,
                                    "" if state == "none" else " (watching %s)" % watched))
    gd = None
    if state != "none":
        gd = Gilstatd(ctx.path("gilstatd"), ctx.tmp,
                      target_config(servers[watched].pid, probes_of(state, exact_key)))
    try:
        if gd:
            t0 = time.monotonic()
            gd.wait_attached(1)
            ctx.log("    attached in %.1f s" % (time.monotonic() - t0))
            time.sleep(ctx.sizes.io_settle_s)
        out = {k: {} for k in SERVERS}
        for i, w in enumerate(WORKLOADS):
            for k in rotate(list(SERVERS), r + i):
                counting = gd is not None and k == watched
                before = gil_acquisitions(gd) if counting else None
                rate, requests, cpu_s = measure_workload(ctx, w, servers[k].ports,
                                                         ctx.sizes.io_s, servers[k].meter)
                after = gil_acquisitions(gd) if counting else None
                out[k][w] = (rate, 1e6 * cpu_s / requests
                             if requests and cpu_s is not None else None)
                if state == "gilstatd-exact" and before is not None and after and requests:
                    run.releases.setdefault(w, []).append((after - before) / requests)
        if gd:
            run.sites[state] = describe(gd.scrape())
        return out
    finally:
        if gd:
            gd.stop(timeout=60)
            gd.close()


def python_info(scrape):
    """The labels of gilstat_python_info (method, build, ...) of a one-target gilstatd; {} before
    its GIL probes are attached."""
    return scrape.labels_of("gilstat_python_info") or {}


def describe(scrape):
    """What gilstatd says it attached: the processes and the GIL method (gilstat_python_info)."""
    info = python_info(scrape)
    return "%d process(es) attached, method `%s` (%s build)" % (
        scrape.total("gilstat_probes_attached") or 0, info.get("method", "?"),
        info.get("build", "?"))


def gil_acquisitions(gd):
    if gd is None:
        return None
    return gd.scrape().total("gilstat_lock_acquisitions_total", lock="gil")


class ServerCpu:
    """The CPU time (user + system) of process `pid` and of all its threads, the ended ones
    too: from a cgroup (v2) of its own, in µs, where one can be made (root, a writable cgroup
    tree); else from /proc/PID/stat, in clock ticks (10 ms: coarse for a 1 s measurement)."""
    ROOTS = ("/sys/fs/cgroup", "/sys/fs/cgroup/unified")

    def __init__(self, pid, name="gilstat-bench-io"):
        self.pid, self.root, self.dir = pid, None, None
        for root in self.ROOTS:
            if not os.path.exists(os.path.join(root, "cgroup.controllers")):
                continue
            d = os.path.join(root, name)
            try:
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(pid))
                self.root, self.dir = root, d
                break
            except OSError:
                continue

    @property
    def source(self):
        return "a cgroup of its own (`cpu.stat`)" if self.dir else "`/proc/PID/stat` (10 ms ticks)"

    def seconds(self):
        """None when it cannot be read."""
        try:
            if self.dir:
                with open(os.path.join(self.dir, "cpu.stat")) as f:
                    for line in f:
                        key, value = line.split()
                        if key == "usage_usec":
                            return int(value) / 1e6
                return None
            with open("/proc/%d/stat" % self.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def close(self):
        """Back to the root cgroup (if still alive), and the cgroup removed."""
        if not self.dir:
            return
        try:
            with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
                f.write(str(self.pid))
        except OSError:
            pass
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
        self.dir = None


def measure_workload(ctx, w, ports, seconds, meter=None):
    """(requests/s, requests, the server's CPU seconds meanwhile or None) of one measurement
    of workload `w`; `meter`: the server's ServerCpu."""
    before = meter.seconds() if meter else None
    if w == "echo":
        out = subprocess.run(pinned(1, [sys.executable, ctx.io_server, "client",
                                        str(ports[0]), str(seconds)]),
                             capture_output=True, text=True, timeout=seconds + 30)
        if out.returncode != 0:
            raise RuntimeError("echo client: " + out.stderr.strip()[-300:])
        rate, n = out.stdout.split()
        rate, n = float(rate), int(n)
    else:
        rate, n = run_ab(ports[1], ctx.sizes.io_http_s, ctx.sizes.io_http_max)
    after = meter.seconds() if meter else None
    return rate, n, (after - before if before is not None and after is not None else None)


def run_ab(port, seconds, max_requests):
    """ab against 127.0.0.1:`port`, bounded in time (whole seconds, >= 1) and count:
    (requests/s, requests)."""
    # -t before -n: ab's -t sets the count to 50000 unless -n comes after it.
    argv = ["ab", "-q", "-t", str(max(1, int(seconds))), "-n", str(int(max_requests)),
            "-c", str(AB_CONCURRENCY), "-s", "10", "http://127.0.0.1:%d/" % port]
    out = subprocess.run(pinned(1, argv), capture_output=True, text=True, timeout=seconds + 60)
    rate = re.search(r"Requests per second:\s+([\d.]+)", out.stdout)
    done = re.search(r"Complete requests:\s+(\d+)", out.stdout)
    failed = re.search(r"Failed requests:\s+(\d+)", out.stdout)
    if out.returncode != 0 or not rate or not done:
        # One line for the report's notes: ab's own error (stderr), else what it got done.
        took = re.search(r"Time taken for tests:\s+([\d.]+)", out.stdout)
        raise RuntimeError("ab exited with status %d after %s s, %s requests complete%s" % (
            out.returncode, took.group(1) if took else "?", done.group(1) if done else "no",
            (": " + " / ".join(out.stderr.split("\n")).strip()[-200:]) if out.stderr.strip()
            else " (no error message)"))
    if failed and int(failed.group(1)):
        raise RuntimeError("ab: %s failed requests" % failed.group(1))
    return float(rate.group(1)), int(done.group(1))
