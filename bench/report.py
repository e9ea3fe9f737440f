#!/usr/bin/env python3
"""Measures everything docs/BENCHMARKS.md reports, side by side in one run, and writes it.

Called by bench/run.sh (which builds first); run as root. Sections:

1. cost per semaphore operation (micro-loops in gilstat_bench_semloop) with nothing attached,
   the empty programs at the probe's sites (the floor, gilstat_bench_floor) and gilstatd in each
   probe mode (default, counting, exact), and the bpftrace one-liner; added times within the
   noise are reported as such, and no ratio is taken of them;
2. overhead of gilstatd on real CPython interpreters (bench/cpython_table.py --serve):
   countdowns in CPU time, a paced convoy (round-trip latency), the unpaced convoy (a rate, for
   information); CPython 2.7 in default and counting mode with their floors;
3. the hosted runtime against CPython (gilstat_bench_runtime, the table of REFERENCE section 3);
4. the daemon's footprint with 100 target processes (default mode), a sustained load counted
   by a second gilstatd in counting mode, and the time gilstatd takes to stop.

Configurations are interleaved: every round attaches each tool in turn to the same long-lived
target process and measures it, the order rotating from round to round; a figure is the median
over rounds, a ratio the median of the per-round ratios. Sizes come from the environment (see
bench/run.sh and the assignments below); OUT=path writes the report somewhere else than
docs/BENCHMARKS.md. Only the Python standard library is used.
"""

import os
import queue
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_float(name, default):
    return float(os.environ.get(name, default))


def env_int(name, default):
    return int(float(os.environ.get(name, default)))


BUILD = os.environ.get("BUILD_DIR", "build/bench")
if not os.path.isabs(BUILD):
    BUILD = os.path.join(ROOT, BUILD)
OUT = os.path.join(ROOT, os.environ.get("OUT", "docs/BENCHMARKS.md"))
ROUNDS = env_int("ROUNDS", 3)            # rounds of the interleaved section 1
PY_ROUNDS = env_int("PY_ROUNDS", 7)      # rounds of the interleaved section 2 (CPython 3)
SAMPLE_S = env_float("SAMPLE_S", 0.25)   # one micro-loop sample (section 1)
SAMPLES = env_int("SAMPLES", 3)          # samples per configuration and round (median)
PY_STEPS = env_int("PY_STEPS", 6000000)  # countdown iterations (section 2, CPython 3)
PY27_ROUNDS = env_int("PY27_ROUNDS", 7)  # rounds of section 2 for CPython 2.7 (4 configurations)
PY27_STEPS = env_int("PY27_STEPS", 10000000)  # countdown iterations, CPython 2.7 (section 2)
PY_ECHO_S = env_float("PY_ECHO_S", 0.3)  # unpaced convoy duration (section 2)
PY_PACE_MS = env_float("PY_PACE_MS", 0)  # paced convoy period (0: 2.5 x the switch interval)
PY_PACED_N = env_int("PY_PACED_N", 60)   # paced convoy requests
DURATION = env_float("DURATION", 0.5)    # section 3 (gilstat_bench_runtime --duration)
STEPS = env_int("STEPS", 50000000)       # section 3
TABLE_PY_STEPS = env_int("TABLE_PY_STEPS", 20000000)  # section 3, CPython rows
REPEAT = env_int("REPEAT", 3)            # section 3
TARGETS = env_int("TARGETS", 100)        # section 4
SCRAPES = env_int("SCRAPES", 100)        # section 4
LOAD_EVENTS = env_float("LOAD_EVENTS", 1e6)  # section 4: lock events/s wanted
LOAD_S = env_float("LOAD_S", 5)          # section 4
IDLE_S = env_float("IDLE_S", 10)         # section 4
STOP_CAP_S = env_float("STOP_CAP_S", 60)  # section 4: longest wait for gilstatd to stop
SECTIONS = os.environ.get("SECTIONS", "1,2,3,4").split(",")

GILSTATD = os.path.join(BUILD, "daemon/app/gilstatd")
SEMLOOP = os.path.join(BUILD, "bench/gilstat_bench_semloop")
FLOOR = os.path.join(BUILD, "bench/gilstat_bench_floor")
RUNTIME_TABLE = os.path.join(BUILD, "bench/gilstat_bench_runtime")
CPYTHON_TABLE = os.path.join(ROOT, "bench/cpython_table.py")
PYTHONS = [
    ("2.7", "/root/.pyenv/versions/2.7.18/bin/python"),
    ("3 (Debian)", "/usr/bin/python3"),
    ("3.12", "/root/.pyenv/versions/3.12*/bin/python"),
    ("3.13", "/root/.pyenv/versions/3.13*/bin/python"),
]

# The bpftrace one-liner of section 1, as run (LIBC is replaced by the target's libc path).
BPFTRACE_PROG = (
    "uprobe:LIBC:sem_wait { @start[tid] = nsecs; @sem[tid] = arg0; } "
    "uretprobe:LIBC:sem_wait /@start[tid]/ { @wait_ns[@sem[tid]] = hist(nsecs - @start[tid]); "
    "delete(@start[tid]); delete(@sem[tid]); } "
    "uprobe:LIBC:sem_post { @posts[arg0] = count(); } "
    'BEGIN { printf("attached\\n"); }'
)

TMP = tempfile.mkdtemp(prefix="gilstat-bench-")
NOTES = []       # remarks printed at the end of the report
GOALS = []       # (ok: True/False/None, goal, measured)
CLEANUPS = []    # callables run at exit
FACTS = {}       # measured figures the explanations of missed goals quote


STARTED = time.monotonic()


def log(msg):
    sys.stderr.write("bench [%4.0f s]: %s\n" % (time.monotonic() - STARTED, msg))
    sys.stderr.flush()


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def fmt_ns(v):
    if v is None:
        return "–"
    if v >= 10000:
        return "%.1f µs" % (v / 1000)
    if v >= 1000:
        return "%.2f µs" % (v / 1000)
    if abs(v) >= 100:
        return "%.0f ns" % v
    return "%.1f ns" % v


def fmt_added(v):
    """A signed added time: +1.45 µs, -0.3 ns."""
    if v is None:
        return "–"
    return ("-" if v < 0 else "+") + fmt_ns(abs(v))


def fmt_x(v, digits=2):
    if v is None:
        return "–"
    if v >= 100:
        return "{:,.0f}×".format(v)
    return "%.*f×" % (digits, v)


def fmt_pct(v):
    return "–" if v is None else ("%+.1f%%" % (100 * v))


def goal(ok, what, measured):
    GOALS.append((ok, what, measured))


# ------------------------------------------------------------------------------------------------
# Child processes speaking a line protocol.


class Child:
    """A child process; its stdout lines go to a queue (read by a thread)."""

    def __init__(self, argv, name, stdin=True, stderr_file=None):
        self.name = name
        self.err_path = stderr_file or os.path.join(TMP, "%s.%d.err" % (name, time.time_ns()))
        self.err = open(self.err_path, "w")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def expect(self, pattern, timeout):
        """The first line matching `pattern` (a regex), or raise."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("%s: no line matching %r within %g s; stderr: %s"
                                   % (self.name, pattern, timeout, self.stderr_tail()))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError("%s exited (status %s) before printing %r; stderr: %s"
                                   % (self.name, self.p.wait(), pattern, self.stderr_tail()))
            m = re.match(pattern, line)
            if m:
                return m

    def ask(self, line, timeout=120):
        self.send(line)
        m = self.expect(r"(?!error)(.*)$", timeout)
        return m.group(1)

    def stderr_tail(self):
        self.err.flush()
        try:
            with open(self.err_path) as f:
                return " | ".join(f.read().strip().splitlines()[-3:])
        except OSError:
            return ""

    def stop(self, sig=None, timeout=60):
        """Ends the child (closing stdin, or sending `sig`) and waits for it to be gone."""
        if self.p.poll() is None:
            try:
                if sig is None:
                    self.p.stdin.close()
                else:
                    self.p.send_signal(sig)
            except (OSError, ValueError):
                pass
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.err.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port, timeout=10):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as r:
        return r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        if not m:
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return out


def metric(s, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    vals = [v for (n, ls), v in s.items() if n == name and want <= set(ls)]
    return sum(vals) if vals else None


class Gilstatd:
    """gilstatd with a generated configuration, on a free port."""

    def __init__(self, config, name="gilstatd"):
        self.port = free_port()
        self.config_path = os.path.join(TMP, "%s.%d.yml" % (name, time.time_ns()))
        with open(self.config_path, "w") as f:
            f.write(config)
        self.child = Child([GILSTATD, "--config.file=" + self.config_path,
                            "--web.listen-address=127.0.0.1:%d" % self.port], name, stdin=False)

    def wait_attached(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.child.p.poll() is not None:
                raise RuntimeError("gilstatd exited: " + self.child.stderr_tail())
            try:
                s = samples(scrape(self.port))
                last = metric(s, "gilstat_probes_attached")
                if last is not None and last >= n:
                    return s
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("gilstatd: %s of %d processes attached after %g s; stderr: %s"
                           % (last, n, timeout, self.child.stderr_tail()))

    def stop(self, timeout=120):
        self.child.stop(signal.SIGTERM, timeout=timeout)


def gilstatd_config(targets, mode, extra=""):
    return ("targets:\n%s\nruntime:\n  enabled: false\nprobes:\n  mode: %s\n%s"
            % ("\n".join("  - " + t for t in targets), mode, extra))


# ------------------------------------------------------------------------------------------------
# Tools attached to one target pid: name -> (start, stop).


def libc_of(pid):
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and "x" in parts[1] and re.search(r"/libc[.-][^/]*so", parts[5]):
                return parts[5]
    raise RuntimeError("pid %d maps no libc" % pid)


class Tracefs:
    """bpftrace 0.17 creates its uprobes through perf_event_open (no tracefs needed) but, when
    tracefs is missing, prints an error for every probe on exit (it looks for the probe in
    uprobe_events). If it cannot attach without tracefs, tracefs is mounted for it and unmounted
    at the end."""

    mounted_by_us = False

    @classmethod
    def mount(cls):
        if os.path.exists("/sys/kernel/tracing/uprobe_events"):
            return False
        r = subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            cls.mounted_by_us = True
            CLEANUPS.append(cls.unmount)
            NOTES.append("tracefs was mounted on /sys/kernel/tracing for bpftrace and unmounted "
                         "afterwards.")
            return True
        return False

    @classmethod
    def unmount(cls):
        if cls.mounted_by_us:
            subprocess.run(["umount", "/sys/kernel/tracing"], capture_output=True)
            cls.mounted_by_us = False


class Attached:
    """One configuration attached to `pid`: none, floor-MODE, gilstatd-MODE, bpftrace."""

    def __init__(self, config, pid, targets=None):
        self.config = config
        self.pid = pid
        self.child = None
        self.gilstatd = None
        self.info = ""
        self.uprobes = None
        if config == "none":
            return
        if config.startswith("floor-"):
            self.child = Child([FLOOR, "--pid=%d" % pid, "--mode=" + config[6:]], "floor")
            sites, offsets, uprobes = [], set(), 0
            while True:
                m = self.child.expect(r"(site (\S+) (\S+)(.*)|ready (\d+))$", 60)
                if m.group(5):
                    break
                fn, method, offs = m.group(2), m.group(3), m.group(4).split()
                sites.append("`%s` %s" % (fn, method))
                for off in offs:
                    if (off, method) in offsets:  # a slow path shared with another function
                        continue
                    offsets.add((off, method))
                    uprobes += 2 if method in ("entry+return", "slow-path") else 1
            self.info = "%d uprobes (%s; %s BPF links with the syscall entry tracepoint)" % (
                uprobes, ", ".join(sites), m.group(5))
            self.uprobes = uprobes
        elif config.startswith("gilstatd-"):
            self.gilstatd = Gilstatd(gilstatd_config(targets or ["pid: %d" % pid], config[9:]))
            self.gilstatd.wait_attached(1)
        elif config == "bpftrace":
            prog = BPFTRACE_PROG.replace("LIBC", libc_of(pid))
            for attempt in (1, 2):
                self.child = Child(["bpftrace", "-p", str(pid), "-e", prog], "bpftrace")
                try:
                    self.child.expect(r"attached", 60)
                    break
                except RuntimeError:
                    self.child.stop(signal.SIGINT)
                    if attempt == 2 or not Tracefs.mount():
                        raise
        else:
            raise ValueError(config)

    def stop(self):
        if self.gilstatd:
            self.gilstatd.stop()
        elif self.child and self.config == "bpftrace":
            self.child.stop(signal.SIGINT)
        elif self.child:
            self.child.stop()


def rotate(xs, k):
    k %= len(xs)
    return xs[k:] + xs[:k]


# ------------------------------------------------------------------------------------------------
# Section 1: cost per operation.

S1_CONFIGS = ["none", "floor-default", "gilstatd-default", "floor-counting", "gilstatd-counting",
              "floor-exact", "gilstatd-exact", "bpftrace"]
S1_MODES = ["default", "counting", "exact"]
S1_OPS = [("wait", "`sem_wait` (uncontended, alone)"),
          ("pair", "`sem_post` + `sem_wait` pair (uncontended)"),
          ("pingpong", "contended handoff (`sem_post` waking a blocked `sem_wait`)")]
S1_SHORT = {"wait": "`sem_wait`", "pair": "pair", "pingpong": "handoff"}


def lock_events(port):
    """What gilstatd has counted for its target so far (acquisitions, contended acquisitions,
    handoffs): it changes exactly when a probe of the target was hit and did its work."""
    s = samples(scrape(port))
    return sum(metric(s, n, source="ebpf") or 0 for n in (
        "gilstat_lock_acquisitions_total", "gilstat_lock_contended_total",
        "gilstat_lock_handoffs_total"))


def section1():
    log("section 1: cost per operation")
    have_bpftrace = subprocess.run(["sh", "-c", "command -v bpftrace"],
                                   capture_output=True).returncode == 0
    configs = [c for c in S1_CONFIGS if c != "bpftrace" or have_bpftrace]
    if not have_bpftrace:
        NOTES.append("bpftrace is not installed: its column is missing (bench/run.sh installs "
                     "Debian's `bpftrace` when it can).")
    target = Child([SEMLOOP, "serve"], "semloop")
    pid = int(target.expect(r"ready (\d+)", 10).group(1))
    res = {c: {op: [] for op, _ in S1_OPS} for c in configs}    # per round: median of samples
    seen = {c: {op: [] for op, _ in S1_OPS} for c in configs}   # gilstatd: events per round
    info = {}
    try:
        for r in range(ROUNDS):
            for config in rotate(configs, r):
                log("  round %d/%d: %s" % (r + 1, ROUNDS, config))
                a = Attached(config, pid)
                info[config] = a.info
                try:
                    for op, _ in S1_OPS:
                        before = lock_events(a.gilstatd.port) if a.gilstatd else None
                        vals = []
                        for _ in range(SAMPLES):
                            out = target.ask("%s %g" % (op, SAMPLE_S)).split()
                            vals.append(float(out[1]))
                        res[config][op].append(median(vals))
                        if a.gilstatd:
                            time.sleep(0.05)
                            seen[config][op].append(lock_events(a.gilstatd.port) - before)
                finally:
                    a.stop()
    finally:
        target.stop()

    def added(config, op, r):
        return res[config][op][r] - res["none"][op][r]

    def med_added(c, op):
        return median([added(c, op, r) for r in range(ROUNDS)]) if c in res else None

    def spread(xs):
        return max(xs) - min(xs) if xs else 0.0

    def noise(c, op):
        """How far an added time can be off: the larger of the spread (max - min) over rounds
        of "nothing" and that of the configuration's added time."""
        return max(spread(res["none"][op]),
                   spread([added(c, op, r) for r in range(ROUNDS)]), 0.1)

    def within(c, op):
        return c in res and abs(med_added(c, op)) <= noise(c, op)

    def no_hit(c, op):
        """gilstatd in the mode of `c` counted no event of the target during `op`, in any
        round: no semaphore probe on that operation's path (the floor has the same sites)."""
        g = "gilstatd-" + c.split("-", 1)[1] if "-" in c else None
        return bool(g in seen and seen[g][op] and all(v == 0 for v in seen[g][op]))

    def negligible(c, op):
        """Not a usable denominator: within noise, or no probe on the path."""
        return within(c, op) or no_hit(c, op)

    def bound(c, op):
        """What the added time of a negligible cell is at most."""
        return max(noise(c, op), abs(med_added(c, op)))

    def ratio(a, b, op):
        """(ratio, text): the median of the per-round ratios of added times where b has probe
        hits above the noise; a lower bound (b's bound as the denominator) where b is negligible
        and a is not; nothing where both are negligible."""
        if a not in res or b not in res:
            return None, "–"
        if negligible(b, op):
            if negligible(a, op):
                return None, ("– (no hit in either)" if no_hit(b, op)
                              else "– (both within noise)")
            q = med_added(a, op) / bound(b, op)
            return q, "≥ " + fmt_x(q, 1)
        rs = []
        for r in range(ROUNDS):
            num, den = added(a, op, r), added(b, op, r)
            rs.append(num / den if den > 0 else None)
        q = median(rs)
        if negligible(a, op):
            return q, "≈ 0 (%s: no hit)" % config_label(a)
        return q, fmt_x(q)

    footnote = []

    def cell(c, op):
        v = median(res[c][op])
        if c == "none":
            return fmt_ns(v)
        add = med_added(c, op)
        if within(c, op):
            return "%s (%s; %swithin noise ±%s)" % (fmt_ns(v), fmt_added(add),
                                                   "no probe hit; " if no_hit(c, op) else "",
                                                   fmt_ns(noise(c, op)))
        if no_hit(c, op):
            if not footnote:
                footnote.append(c)
            return "%s (%s; no probe hit¹)" % (fmt_ns(v), fmt_added(add))
        return "%s (%s)" % (fmt_ns(v), fmt_added(add))

    lines = []
    lines.append("## 1. Cost per operation\n")
    lines.append(
        "`gilstat_bench_semloop serve` (bench/semloop.cpp) is one long-lived process; each "
        "configuration is attached to it from outside in turn, every round in a rotated order, "
        "and the loops run %d samples of %.2f s each (median); a cell is the median over %d "
        "rounds of the CPU time per operation (of the looping thread, of both threads for the "
        "ping-pong: the probes' work is charged to them, the time other processes run is not), "
        "and in brackets the time added to \"nothing\" (median of the per-round differences). "
        "Ratios are medians of the per-round ratios of added times.\n"
        % (SAMPLES, SAMPLE_S, ROUNDS))
    lines.append(
        "- **nothing**: no probe.\n"
        "- **floor**: empty BPF programs (bench/bpf/probe_floor.bpf.c) at exactly the sites the "
        "semaphore probe uses in that mode, found by the probe's own code "
        "(`gilstat_bench_floor`: attaches the probe, keeps its site list, detaches it, attaches "
        "the empty programs there), plus the raw syscall entry tracepoint: what the kernel "
        "charges for the probes themselves.\n"
        "- **gilstatd**: the daemon (`runtime: {enabled: false}`, target `pid`, `probes: {mode: "
        "…}`), measured once `gilstat_probes_attached` is 1. The modes (docs/PROBES.md): "
        "`default` probes the slow paths only — entry + return of glibc's internal "
        "`__new_sem_wait_slow64`, which `sem_wait`/`sem_timedwait`/`sem_clockwait` reach only "
        "when the semaphore is 0, and the futex syscalls' entry (posts are counted from the "
        "wakes); an uncontended `sem_post` or `sem_wait` hits no probe at all, and "
        "`gilstat_lock_acquisitions_total` is not exported. `counting` probes `sem_wait`'s "
        "entry + return and emulated branch sites inside `sem_post` and `sem_trywait`: every "
        "acquisition is counted. `exact`: entry (+ return) uprobes on every function.\n"
        "- **bpftrace** (%s): entry uprobe + uretprobe on `sem_wait` building a histogram per "
        "semaphore address, and a uprobe on `sem_post` counting per address, attached to the "
        "target only (`-p PID`); the `BEGIN` clause only tells the benchmark it is attached:\n"
        % bpftrace_version())
    lines.append("```\nbpftrace -p PID -e '%s'\n```\n" % BPFTRACE_PROG.replace(
        "LIBC", "/usr/lib/x86_64-linux-gnu/libc.so.6"))
    lines.append(
        "Operations: `wait` times uncontended `sem_wait` calls alone (posts raise the value "
        "between timed batches); `pair` is `sem_post` + `sem_wait` on one semaphore; "
        "`pingpong` is two threads handing two semaphores back and forth, both pinned to one "
        "CPU, so each handoff is a post, a futex wake, a context switch and the woken wait "
        "returning (per handoff).\n")
    FACTS["s1 uprobes"] = {c[6:]: info[c].split()[0] for c in info if c.startswith("floor-")}
    if any(c.startswith("floor-") for c in info):
        lines.append("Sites (from the floor tool, per function: how it is probed):\n")
        lines.extend("- %s mode: %s" % (m, info["floor-" + m]) for m in S1_MODES
                     if "floor-" + m in info)
        lines.append("")
    lines.append(
        "**Noise.** Where a mode puts no probe on an operation's path, its added time is the "
        "difference of two equal loops: noise. An added time is shown as *within noise ±N* when "
        "it is no larger than N, the larger of the spread (max − min) over the %d rounds of "
        "\"nothing\" and that of the configuration's added time; *no probe hit* means that "
        "gilstatd in that "
        "mode counted no event of the target during that operation in any round (the floor "
        "uses the same sites). A ratio is computed only where its denominator is above noise; "
        "where the denominator is within noise and the numerator is not, the ratio is a lower "
        "bound, N as the denominator.\n" % ROUNDS)
    head = "| operation | " + " | ".join(config_label(c) for c in configs) + " |"
    lines.append(head)
    lines.append("|---|" + "---:|" * len(configs))
    for op, label in S1_OPS:
        lines.append("| %s | %s |" % (label, " | ".join(cell(c, op) for c in configs)))
    lines.append("")
    lines.append("Spread of \"nothing\" over the rounds: %s.\n" % ", ".join(
        "%s %s" % (S1_SHORT[op], fmt_ns(spread(res["none"][op]))) for op, _ in S1_OPS))
    if footnote:
        lines.append(
            "¹ No semaphore probe on the path (gilstatd counted no event), yet more than the "
            "noise. The loops read their thread's CPU clock through a system call (the `wait` "
            "loop twice per %d waits), and every mode has a program on the raw syscall entry "
            "tracepoint, which runs at every system call of every process (and returns at once "
            "for the ones that are not futex calls of an attached process). No ratio is taken "
            "of it.\n" % 256)
    ratio_cols = [("gilstatd-%s" % m, "floor-%s" % m) for m in S1_MODES]
    ratio_cols += [("bpftrace", "gilstatd-default"), ("bpftrace", "gilstatd-counting")]
    ratio_cols = [(a, b) for a, b in ratio_cols if a in res and b in res]
    lines.append("Ratios of added time:\n")
    lines.append("| operation | " + " | ".join("%s / %s" % (config_label(a), config_label(b))
                                               for a, b in ratio_cols) + " |")
    lines.append("|---|" + "---:|" * len(ratio_cols))
    for op, label in S1_OPS:
        lines.append("| %s | %s |" % (label, " | ".join(ratio(a, b, op)[1]
                                                         for a, b in ratio_cols)))
    lines.append("")

    for c in configs:
        for op, _ in S1_OPS:
            FACTS["s1 %s %s" % (c, op)] = med_added(c, op) if c != "none" else median(
                res[c][op])
            if c != "none":
                FACTS["s1 within %s %s" % (c, op)] = within(c, op)

    # Goal: default mode against its floor, on every operation where the floor's sites are hit;
    # where they are not, gilstatd must add nothing measurable beyond the floor either.
    gd, fd = "gilstatd-default", "floor-default"
    judged, parts = [], []
    hit_ops = [op for op, _ in S1_OPS if not negligible(fd, op)]
    nohit_ops = [op for op, _ in S1_OPS if negligible(fd, op)]
    for op in hit_ops:
        q, text = ratio(gd, fd, op)
        judged.append(q is not None and q <= 1.25)
        parts.append("%s %s (added %s vs %s)" % (S1_SHORT[op], text, fmt_ns(med_added(gd, op)),
                                                 fmt_ns(med_added(fd, op))))
        FACTS.setdefault("s1 ratio default", (op, q))
    if nohit_ops:
        oks = [med_added(gd, op) <= max(med_added(fd, op), 0) + noise(gd, op)
               for op in nohit_ops]
        judged.extend(oks)
        parts.append("%s: %s (gilstatd %s against the floor's %s, noise %s)" % (
            ", ".join(S1_SHORT[op] for op in nohit_ops),
            ("no probe hit in either" if all(no_hit(gd, op) for op in nohit_ops) else
             "floor within noise") if all(oks) else "gilstatd measurably above the floor",
            " / ".join(fmt_added(med_added(gd, op)) for op in nohit_ops),
            " / ".join(fmt_added(med_added(fd, op)) for op in nohit_ops),
            " / ".join("±" + fmt_ns(noise(gd, op)) for op in nohit_ops)))
    goal(bool(judged) and all(judged), "default-mode cost per `sem_wait` ≤ 1.25× the "
         "empty-program floor at the same sites (on every operation the sites see)",
         "; ".join(parts))
    if "bpftrace" in configs:
        q, text = ratio("bpftrace", gd, "pair")
        qc, textc = ratio("bpftrace", "gilstatd-counting", "pair")
        FACTS["s1 ratio bpftrace"] = q
        FACTS["s1 ratio bpftrace counting"] = qc
        FACTS["s1 ratio bpftrace floor counting"] = ratio("bpftrace", "floor-counting",
                                                          "pair")[0]
        goal(q is not None and q >= 10, "≥ 10× cheaper per post+wait pair than the bpftrace "
             "one-liner (default mode)", "%s (bpftrace %s, gilstatd default %s%s); counting "
             "mode, for information: %s (gilstatd counting %s)" % (
                 text, fmt_added(med_added("bpftrace", "pair")),
                 fmt_added(med_added(gd, "pair")),
                 ("; no probe hit, noise ±%s" % fmt_ns(noise(gd, "pair")))
                 if negligible(gd, "pair") else "", textc,
                 fmt_added(med_added("gilstatd-counting", "pair"))))
    else:
        goal(None, "≥ 10× cheaper per post+wait pair than the bpftrace one-liner",
             "not measured: bpftrace missing")
    return "\n".join(lines)


def config_label(c):
    if c.startswith("floor-"):
        return "floor (%s sites)" % c[6:]
    if c.startswith("gilstatd-"):
        return "gilstatd " + c[9:]
    return {"none": "nothing"}.get(c, c)


def bpftrace_version():
    try:
        r = subprocess.run(["bpftrace", "--version"], capture_output=True, text=True)
        return r.stdout.strip() or "bpftrace"
    except OSError:
        return "bpftrace"


# ------------------------------------------------------------------------------------------------
# Section 2: overhead on CPython.


def pythons():
    import glob
    out = []
    only = os.environ.get("PY_ONLY")  # e.g. "2.7,3.13": some interpreters only
    for label, pattern in PYTHONS:
        if only and label.split()[0] not in only.split(","):
            continue
        found = sorted(glob.glob(pattern))
        if not found:
            NOTES.append("CPython %s: `%s` not found, skipped." % (label, pattern))
            continue
        out.append(found[-1])
    return out


def py_workloads(steps):
    """(name, serve command, kind): kind "cpu" (CPU seconds), "latency" (mean round trip, s),
    "rate" (round trips/s)."""
    return [("countdown 1", "countdown_cpu 1 %d" % steps, "cpu"),
            ("countdown 2", "countdown_cpu 2 %d" % steps, "cpu"),
            ("countdown 4", "countdown_cpu 4 %d" % steps, "cpu"),
            ("convoy, paced", "paced 1 %g %d" % (PY_PACE_MS, PY_PACED_N), "latency"),
            ("convoy, unpaced", "echo 1 %g" % PY_ECHO_S, "rate")]


PY2_CONFIGS = ["floor-default", "gilstatd-default", "floor-counting", "gilstatd-counting"]
PY3_CONFIGS = ["gilstatd-default"]


def measure_python(py):
    """One interpreter: every round measures each configuration (rotated order) between two
    measurements with no daemon (the last of a round is the first of the next)."""
    target = Child([py, CPYTHON_TABLE, "--serve"], "python")
    m = target.expect(r"ready (\d+) (\S+)", 20)
    pid, version = int(m.group(1)), m.group(2)
    py2 = version.startswith("2.")
    others = PY2_CONFIGS if py2 else PY3_CONFIGS
    rounds = PY27_ROUNDS if py2 else PY_ROUNDS
    workloads = py_workloads(PY27_STEPS if py2 else PY_STEPS)
    nones, per_round, sites, extra = [], [], {}, {}

    def run(config):
        log("  CPython %s: %s" % (version, config))
        a = Attached(config, pid)
        out = {}
        try:
            if a.gilstatd:
                sites[config] = describe_attach(samples(scrape(a.gilstatd.port)))
            for w, cmd, kind in workloads:
                f = target.ask(cmd, timeout=300).split()
                out[w] = (float(f[0]), float(f[1]) if kind == "latency" else None)
                if kind == "latency":
                    extra["period"] = float(f[4])
        finally:
            a.stop()
        return out

    try:
        for w, cmd, kind in workloads:  # warm-up, not recorded: a fresh interpreter is slower
            target.ask(cmd, timeout=300)
        for r in range(rounds):
            nones.append(run("none"))
            per_round.append({c: run(c) for c in rotate(others, r)})
        nones.append(run("none"))
    finally:
        target.stop()
    return {"version": version, "configs": others, "rounds": rounds, "workloads": workloads,
            "nones": nones, "per_round": per_round, "sites": sites,
            "period": extra.get("period")}


def py_slowdown(m, config, w, kind, which=None):
    """Median over rounds of the slowdown against the mean of the round's two measurements
    without a daemon; of the median round trip for the paced convoy (which=0: of the mean)."""
    if which is None:
        which = 1 if kind == "latency" else 0
    out = []
    for r in range(m["rounds"]):
        ref = (m["nones"][r][w][which] + m["nones"][r + 1][w][which]) / 2
        v = m["per_round"][r][config][w][which]
        out.append(ref / v - 1 if kind == "rate" else v / ref - 1)
    return median(out)


def py_slowdown_text(m, config, w, kind, inner=False):
    sd = fmt_pct(py_slowdown(m, config, w, kind))
    if kind == "latency":
        sd += ("; mean %s" if inner else " (mean %s)") % fmt_pct(
            py_slowdown(m, config, w, kind, 0))
    return sd


def py_cell(m, config, w, kind):
    if config == "none":
        vals = [n[w] for n in m["nones"]]
    else:
        vals = [rr[config][w] for rr in m["per_round"]]
    v = median([x[0] for x in vals])
    if kind == "cpu":
        return "%.3f s CPU" % v
    if kind == "latency":
        p50 = median([x[1] for x in vals])
        if v < 1e-3:
            return "%.0f µs (p50 %.0f)" % (1e6 * v, 1e6 * p50)
        return "%.2f ms (p50 %.2f)" % (1e3 * v, 1e3 * p50)
    return "{:,.0f}/s".format(v)


def section2():
    log("section 2: overhead on CPython")
    ms = [measure_python(py) for py in pythons()]
    py3 = [m for m in ms if not m["version"].startswith("2.")]
    py2 = [m for m in ms if m["version"].startswith("2.")]
    period = next((m["period"] for m in ms if m["period"]), None)
    lines = ["## 2. Overhead on CPython\n"]
    lines.append(
        "Each interpreter runs `bench/cpython_table.py --serve` as one long-lived process; "
        "gilstatd (`runtime: {enabled: false}`, target `pid`: whatever the daemon attaches to "
        "a Python process is measured) is started and stopped around it. After one unrecorded "
        "warm-up pass, every round measures each configuration, in an order rotated from round "
        "to round, between two measurements with no daemon (the last of a round is the first "
        "of the next): a slowdown is against the mean of its round's two measurements without "
        "(which cancels a steady drift of the machine's speed). A slowdown shown is the median "
        "of the per-round slowdowns (%d rounds for CPython 3, %d for 2.7), a value the median "
        "of its measurements.\n"
        % (PY_ROUNDS, PY27_ROUNDS))
    lines.append(
        "- **countdown N**: `while n > 0: n -= 1` over %s iterations (%s for CPython 2.7) split "
        "over N threads, in CPU seconds of the interpreter process (user + system: what the "
        "probes cost is charged to its threads, the time other processes hold the CPUs is not). "
        "A single thread has no GIL switch to probe, so its row shows the noise of the method.\n"
        "- **convoy, paced**: one CPU-bound thread runs while a client in another process "
        "(forked, outside the interpreter's GIL) sends a 1-byte request every %s, %d times "
        "(after one unrecorded), and times each round trip; the cell is the mean round trip "
        "(p50 in brackets), the slowdown that of the median round trip (of the mean in "
        "brackets: one scheduling delay of tens of ms among the round trips moves the mean by "
        "several per cent). In CPython 3 the server thread finds the CPU thread holding the "
        "GIL and waits one switch interval for it, answers, then waits one more to get the "
        "GIL back after `send`; the period is 2.5 switch intervals (CPython 2.7: 12.5 ms) so "
        "that it is back in `recv` before the next request (at 2 intervals the next request "
        "would arrive just as it gets there, and round trips alternate between ~5 and ~0.3 ms "
        "— a race again). Whatever the probes add to a GIL handoff, to the wake-up or to the "
        "socket calls adds to the round trip.\n"
        "- **convoy, unpaced (rate of a wake-up race)**: the same client sending its next "
        "request as soon as the answer arrives, for %.2f s; round trips/s. Not a measure of "
        "probe cost: in CPython 3 the rate would be one round trip per switch interval (200/s) "
        "if the I/O thread always waited for the forced switch, and it is above that because "
        "the I/O thread sometimes wins a race against the CPU thread's wake-up and takes the "
        "GIL at once; a few µs on either path (a probe, a scheduler decision) shift how often "
        "it wins, and previous runs saw the rate bimodal (about 200/s in some runs, thousands "
        "in others, on the same interpreter). Shown for information only.\n"
        % ("{:,}".format(PY_STEPS), "{:,}".format(PY27_STEPS),
           ("%g ms" % (1e3 * period)) if period else "P", PY_PACED_N, PY_ECHO_S))
    worst3, worst3_unpaced = None, None
    if py3:
        lines.append("CPython 3, gilstatd in default mode:\n")
        lines.append("| CPython | workload | without | with gilstatd | slowdown |")
        lines.append("|---|---|---:|---:|---:|")
        for m in py3:
            for w, _, kind in m["workloads"]:
                sd = py_slowdown(m, "gilstatd-default", w, kind)
                lines.append("| %s | %s | %s | %s | %s |" % (
                    m["version"], w, py_cell(m, "none", w, kind),
                    py_cell(m, "gilstatd-default", w, kind),
                    py_slowdown_text(m, "gilstatd-default", w, kind)))
                if w == "countdown 1":
                    FACTS["s2 py3 noise"] = ", ".join(filter(None, [
                        FACTS.get("s2 py3 noise"), "%s %s" % (m["version"], fmt_pct(sd))]))
                if kind == "rate":
                    if worst3_unpaced is None or sd > worst3_unpaced[0]:
                        worst3_unpaced = (sd, m["version"])
                elif worst3 is None or sd > worst3[0]:
                    worst3 = (sd, m["version"], w)
        lines.append("")
    py27 = None
    for m in py2:
        lines.append(
            "CPython %s: its GIL is a semaphore (`sem_wait`/`sem_post` at every release and "
            "acquisition, every 100 ticks), so the semaphore probe's modes differ here: in "
            "default mode only the contended acquisitions (the waiter's slow path) and the "
            "futex calls are probed, in counting mode every GIL operation is. The floors are "
            "the empty programs at each mode's sites. Each cell: the value and, in brackets, "
            "the slowdown.\n" % m["version"])
        lines.append("| workload | without | " + " | ".join(
            config_label(c) for c in m["configs"]) + " |")
        lines.append("|---|---:|" + "---:|" * len(m["configs"]))
        for w, _, kind in m["workloads"]:
            cells = [py_cell(m, "none", w, kind)]
            for c in m["configs"]:
                cells.append("%s (%s)" % (py_cell(m, c, w, kind),
                                          py_slowdown_text(m, c, w, kind, True)))
            lines.append("| %s | %s |" % (w, " | ".join(cells)))
        lines.append("")
        w = "countdown 2"
        py27 = {c: py_slowdown(m, c, w, "cpu") for c in m["configs"]}
        FACTS["s2 py27"] = py27
    for m in ms:
        for c in m["configs"]:
            if m["sites"].get(c):
                lines.append("- CPython %s with %s: %s" % (m["version"], config_label(c),
                                                          m["sites"][c]))
    lines.append("")
    what3 = "CPython 3 countdown and convoy slowed by ≤ 3% with gilstatd (paced convoy)"
    if worst3:
        goal(worst3[0] <= 0.03, what3, "worst %s (CPython %s, %s)%s" % (
            fmt_pct(worst3[0]), worst3[1], worst3[2],
            ("; unpaced convoy, not judged (a race, see section 2): worst %s (CPython %s)"
             % (fmt_pct(worst3_unpaced[0]), worst3_unpaced[1])) if worst3_unpaced else ""))
    else:
        goal(None, what3, "no CPython 3")
    what27 = "CPython 2.7 two-thread countdown slowed by ≤ 25% (default mode)"
    if py27 and py27.get("gilstatd-default") is not None:
        goal(py27["gilstatd-default"] <= 0.25, what27,
             "%s (floor: empty programs at the same sites %s); counting mode, for information: "
             "%s (floor %s)" % (fmt_pct(py27.get("gilstatd-default")),
                                fmt_pct(py27.get("floor-default")),
                                fmt_pct(py27.get("gilstatd-counting")),
                                fmt_pct(py27.get("floor-counting"))))
    else:
        goal(None, what27, "CPython 2.7 not installed")
    return "\n".join(lines)


def describe_attach(s):
    """What gilstatd reports about a process it attached: the metric families with samples."""
    fams = sorted({n for (n, _), v in s.items()
                   if n.startswith("gilstat_") and not n.startswith("gilstat_build")})
    att = metric(s, "gilstat_probes_attached")
    py = [n for n in fams if "python" in n or "pygil" in n]
    return "%d process(es) attached%s" % (att or 0, ("; Python series: " + ", ".join(
        "`%s`" % n for n in py)) if py else "")


# ------------------------------------------------------------------------------------------------
# Section 3: the runtime table (gilstat_bench_runtime + bench/cpython_table.py rows).


def section3():
    log("section 3: the runtime against CPython")
    import glob
    rows_path = os.path.join(TMP, "cpython_rows.md")
    with open(rows_path, "w") as rows:
        for label, pattern in PYTHONS:
            found = sorted(glob.glob(pattern))
            if not found:
                continue
            log("  %s" % found[-1])
            r = subprocess.run([found[-1], CPYTHON_TABLE, str(DURATION), str(TABLE_PY_STEPS),
                                str(REPEAT)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
            if r.returncode == 0:
                rows.write(r.stdout)
            else:
                NOTES.append("`%s bench/cpython_table.py` failed: %s" % (
                    found[-1], (r.stderr.strip().splitlines() or ["?"])[-1]))
    log("  gilstat runtime")
    r = subprocess.run([RUNTIME_TABLE, "--duration=%g" % DURATION, "--steps=%d" % STEPS,
                        "--repeat=%d" % REPEAT, "--extra-rows=" + rows_path],
                       stdout=subprocess.PIPE, text=True)
    table = r.stdout
    found = {}
    for m in re.finditer(r"^- (PASS|FAIL) (fair .*)$", table, re.M):
        if m.group(2).startswith("fair keeps"):
            found["echo"] = (m.group(1) == "PASS", m.group(2).split(":", 1)[-1].strip())
        elif m.group(2).startswith("fair countdown"):
            found["countdown"] = (m.group(1) == "PASS", m.group(2)[len("fair "):])
    for key, what in (("echo", "`fair` policy: convoy echo with one CPU thread ≥ 50% of the "
                       "alone rate"),
                      ("countdown", "`fair` policy: countdown within 10% of `switching`")):
        ok, measured = found.get(key, (False, "not measured (gilstat_bench_runtime failed)"))
        goal(ok, what, measured)
    intro = (
        "## 3. The runtime against CPython\n\n"
        "The table of REFERENCE §3 reproduced and extended: the hosted runtime's workloads "
        "(`echo`, `convoy`, `countdown`; docs/RUNTIME.md) under each policy on a fresh runtime "
        "per measurement with default settings (check interval 100 ticks, switch interval 5 ms), "
        "and the same workloads in CPython (`bench/cpython_table.py`, its echo client in a "
        "forked process, outside the interpreter's GIL). A gilstat countdown step is two ticking "
        "instructions (MIX + DJNZ), %s steps in all; the CPython rows count `while n > 0: n -= 1` "
        "over %s iterations.\n\n" % ("{:,}".format(STEPS), "{:,}".format(TABLE_PY_STEPS)))
    return intro + table.replace("### Expected shape", "### Expected shape (checks of the "
                                 "runner; the `fair` ones are goals of the report)")


# ------------------------------------------------------------------------------------------------
# Section 4: the daemon's footprint.


def proc_stat_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


def link_fds(pid):
    """How many BPF link fds `pid` holds (one per perf-event uprobe, one per uprobe_multi set,
    one per tracepoint)."""
    n = 0
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:bpf_link":
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def stop_timed(gd, cap):
    """SIGTERM to gilstatd and wait at most `cap` s. Returns (seconds until it exited or None,
    BPF links it held, links still held at the cap, estimated total seconds at the pace the
    links went). After the cap the daemon is killed and not waited for: the kernel finishes
    releasing its links in the background."""
    pid = gd.child.p.pid
    links = link_fds(pid)
    t0 = time.monotonic()
    gd.child.p.send_signal(signal.SIGTERM)
    first_drop = None
    left = links
    try:
        while time.monotonic() - t0 < cap:
            try:
                gd.child.p.wait(timeout=0.5)
                return time.monotonic() - t0, links, 0, None
            except subprocess.TimeoutExpired:
                pass
            left = link_fds(pid)
            if first_drop is None and left < links:
                first_drop = time.monotonic() - t0
        gd.child.p.kill()
        elapsed = time.monotonic() - t0
        estimate = None
        if first_drop is not None and left < links:
            estimate = first_drop + (elapsed - first_drop) * links / (links - left)
        return None, links, left, estimate
    finally:
        gd.child.err.close()


def fmt_stop(stop, cap):
    secs, links, left, estimate = stop
    if secs is not None:
        return "%.1f s (%d BPF links)" % (secs, links)
    return "> %g s: killed, %d of its %d BPF links still held%s" % (
        cap, left, links, ("; about %.0f s in all at the pace they went" % estimate)
        if estimate else "")


def section4():
    log("section 4: daemon footprint (%d targets)" % TARGETS)
    lines = ["## 4. Daemon footprint\n"]
    targets = []
    gd = None     # default mode: the idle targets and the load process
    gc = None     # counting mode: the load process only
    load = None
    stop_s = stop_counting_s = None
    try:
        for _ in range(TARGETS):
            targets.append(Child([SEMLOOP, "idle"], "idle"))
        for t in targets:
            t.expect(r"ready", 30)
        labels = "labels:\n  process: \"{comm}\"\n  pid: true\n"
        config = gilstatd_config(['cmdline: "gilstat_bench_semloop (idle|load)"'], "default",
                                 labels)
        t0 = time.monotonic()
        gd = Gilstatd(config)
        gd.wait_attached(TARGETS, timeout=300)
        attach_s = time.monotonic() - t0
        dpid = gd.child.p.pid
        rss_start = proc_status(dpid, "VmRSS")

        # Idle: no scrapes during the window (the daemon's own work: rescans, process events).
        time.sleep(1)
        c0, w0 = proc_stat_cpu(dpid), time.monotonic()
        time.sleep(IDLE_S)
        idle_cpu = (proc_stat_cpu(dpid) - c0) / (time.monotonic() - w0)

        # Scrapes.
        lat = []
        text = ""
        for _ in range(SCRAPES):
            t = time.monotonic()
            text = scrape(gd.port)
            lat.append(time.monotonic() - t)
        s = samples(text)
        series = len([1 for line in text.splitlines() if line and not line.startswith("#")])
        lock_series = len([1 for (n, _) in s if n.startswith("gilstat_lock_")])
        rss_scraped = proc_status(dpid, "VmRSS")

        # Sustained load: a process whose exact number of post+wait pairs is known. It is a
        # target of the default-mode daemon too (whose probes its uncontended pairs never hit),
        # and of a second gilstatd in counting mode, which counts every acquisition; the
        # default-mode daemon is scraped once a second meanwhile (a busy Prometheus).
        pairs_per_s = LOAD_EVENTS / 2
        load = Child([SEMLOOP, "load", "%g" % pairs_per_s, "%g" % LOAD_S, "2"], "load")
        lpid = int(load.expect(r"ready (\d+)", 10).group(1))
        gd.wait_attached(TARGETS + 1, timeout=60)
        gc = Gilstatd(gilstatd_config(["pid: %d" % lpid], "counting", labels), "gilstatd-c")
        gc.wait_attached(1, timeout=60)
        cpid = gc.child.p.pid
        before = samples(scrape(gc.port))
        before_d = samples(scrape(gd.port))
        c0, cc0, w0 = proc_stat_cpu(dpid), proc_stat_cpu(cpid), time.monotonic()
        load.send("go")
        load_scrapes = []
        while load.p.poll() is None and time.monotonic() - w0 < LOAD_S + 30:
            time.sleep(1)
            t = time.monotonic()
            try:
                scrape(gd.port)
                load_scrapes.append(time.monotonic() - t)
            except OSError:
                pass
            if load.lines.qsize():
                break
        m = load.expect(r"done (\d+) (\S+) (\S+)", LOAD_S + 60)
        wall = time.monotonic() - w0
        load_cpu = (proc_stat_cpu(dpid) - c0) / wall
        load_cpu_c = (proc_stat_cpu(cpid) - cc0) / wall
        pairs, elapsed, pair_cpu = int(m.group(1)), float(m.group(2)), float(m.group(3))
        FACTS["s4 pair cpu"] = pair_cpu / max(pairs, 1) * 1e9
        FACTS["load after"] = loadavg()
        time.sleep(0.2)
        after = samples(scrape(gc.port))
        after_d = samples(scrape(gd.port))
        acq = metric(after, "gilstat_lock_acquisitions_total", pid=str(lpid), source="ebpf")
        wcount = metric(after, "gilstat_lock_wait_seconds_count", pid=str(lpid), source="ebpf")
        seen_d = metric(after_d, "gilstat_lock_contended_total", pid=str(lpid), source="ebpf")

        def delta(name):
            return sum((metric(a, name) or 0) - (metric(b, name) or 0)
                       for a, b in ((after, before), (after_d, before_d)))
        full = delta("gilstat_probe_map_full_total")
        lost = delta("gilstat_probe_lost_events_total")
        rss_end = proc_status(dpid, "VmRSS")
        hwm = proc_status(dpid, "VmHWM")
        events_per_s = 2 * pairs / elapsed

        # Stopping: the counting daemon (one process), the load, then the default-mode daemon
        # with its TARGETS processes still running and attached.
        stop_counting_s = stop_timed(gc, STOP_CAP_S)
        gc = None
        load.stop()
        load = None
        time.sleep(1)  # the default-mode daemon notices the load's exit and detaches it
        log("  stopping gilstatd with %d processes attached (at most %g s)" % (TARGETS,
                                                                              STOP_CAP_S))
        stop_s = stop_timed(gd, STOP_CAP_S)
        gd = None
    finally:
        for d in (gc, gd):  # only after a failure
            if d:
                d.child.p.kill()
                d.child.p.wait()
                d.child.err.close()
        if load:
            load.stop()
        log("  stopping the %d targets" % len(targets))
        for t in targets:  # all at once
            try:
                t.p.stdin.close()
            except (OSError, ValueError):
                pass
        for t in targets:
            t.stop(timeout=30)
        log("  targets stopped")
    p50, p99 = statistics.median(lat), percentile(lat, 99)
    lines.append(
        "%d copies of `gilstat_bench_semloop idle` (each: 4 semaphores, 6 semaphore operations "
        "every 100 ms, one semaphore handed between two threads) are the targets of one "
        "gilstatd (`targets: [{cmdline: …}]`, default mode, `labels: {pid: true}` so that "
        "every process has its own series), started after them.\n" % TARGETS)
    lines.append("| measure | value |")
    lines.append("|---|---:|")
    lines.append("| time from start until all %d processes are attached | %.2f s |" % (TARGETS,
                                                                                      attach_s))
    lines.append("| resident memory (VmRSS) after attaching / after %d scrapes / after the load | "
                 "%.1f / %.1f / %.1f MB |" % (SCRAPES, rss_start / 1e6, rss_scraped / 1e6,
                                              rss_end / 1e6))
    lines.append("| peak resident memory (VmHWM) | %.1f MB |" % (hwm / 1e6))
    lines.append("| CPU while idle (%g s, no scrapes) | %.2f%% of one CPU |" % (IDLE_S,
                                                                               100 * idle_cpu))
    lines.append("| scrape latency, %d sequential GETs: median / p99 | %.1f / %.1f ms |"
                 % (SCRAPES, 1e3 * p50, 1e3 * p99))
    lines.append("| samples per scrape (lines) / of them `gilstat_lock_*` / bytes | %d / %d / %s |"
                 % (series, lock_series, "{:,}".format(len(text.encode()))))
    lines.append("| gilstatd's CPU during the load (scraped once a second) | %.2f%% of one CPU |"
                 % (100 * load_cpu))
    if load_scrapes:
        lines.append("| scrape latency during the load: median / max | %.1f / %.1f ms |" % (
            1e3 * statistics.median(load_scrapes), 1e3 * max(load_scrapes)))
    lines.append("| stop (SIGTERM until exit) with %d processes attached | %s |" % (
        TARGETS, fmt_stop(stop_s, STOP_CAP_S)))
    lines.append("")
    lines.append(
        "**Load.** One more process, `gilstat_bench_semloop load`, performs uncontended "
        "post+wait pairs on 2 threads (each its own semaphore), paced to %s lock events/s in "
        "all for %g s, and reports the exact number of pairs it did. Default mode sees none of "
        "them (no probe on an uncontended operation, and no acquisitions counter), so the "
        "count is checked by a second gilstatd in **counting mode** attached to the load "
        "process only (`targets: [{pid: …}]`), which counts every acquisition. The load "
        "process is a target of the %d-process daemon as well. A *lock event* is one probed "
        "semaphore operation: a post+wait pair is two (the post and the acquisition).\n"
        % ("{:,.0f}".format(LOAD_EVENTS), LOAD_S, TARGETS))
    lines.append("| measure | value |")
    lines.append("|---|---:|")
    lines.append("| post+wait pairs done | %s in %.2f s = **%s lock events/s** (%s requested) |"
                 % ("{:,}".format(pairs), elapsed, "{:,.0f}".format(events_per_s),
                    "{:,.0f}".format(LOAD_EVENTS)))
    lines.append("| counting-mode gilstatd: acquisitions / wait histogram count | %s / %s "
                 "(exact: %s) |" % ("{:,.0f}".format(acq or 0), "{:,.0f}".format(wcount or 0),
                                    "{:,}".format(pairs)))
    lines.append("| default-mode gilstatd: contended acquisitions of the load process | %s |"
                 % "{:,.0f}".format(seen_d or 0))
    lines.append("| map-full drops / lost probe events during the load (both daemons) | %d / %d |"
                 % (full, lost))
    lines.append("| the load process's CPU time per post+wait pair | %s (section 1, counting "
                 "mode: %s more than nothing's %s) |" % (
                     fmt_ns(FACTS.get("s4 pair cpu")),
                     fmt_ns(FACTS.get("s1 gilstatd-counting pair")),
                     fmt_ns(FACTS.get("s1 none pair"))))
    lines.append("| counting-mode gilstatd's CPU during the load | %.2f%% of one CPU |"
                 % (100 * load_cpu_c))
    lines.append("| stop (SIGTERM until exit) of the counting-mode gilstatd, 1 process | %s |"
                 % fmt_stop(stop_counting_s, STOP_CAP_S))
    lines.append("")
    links = FACTS.get("s1 uprobes", {})
    lines.append(
        "Stopping destroys the BPF links of every attached process, and the kernel waits for "
        "grace periods before it lets a uprobe link go: one after another under a kernel-wide "
        "mutex for perf-event uprobes (kernels before 6.6), shared by the uprobe_multi links "
        "that gilstatd closes together (docs/PROBES.md, \"Nothing left behind\")%s. The benchmark "
        "waits at most %g s for a stop, then kills the daemon (the kernel goes on releasing "
        "its links in the background) and estimates the total from the pace at which the "
        "daemon's BPF link file descriptors were going.\n" % (
            ("; uprobes per process (section 1): %s" % ", ".join(
                "%s mode %s" % (m, links[m]) for m in S1_MODES if m in links))
            if links else "", STOP_CAP_S))
    goal(hwm <= 30e6, "daemon RSS ≤ 30 MB", "peak %.1f MB (VmHWM) with %d targets" % (hwm / 1e6,
                                                                                    TARGETS))
    goal(p99 <= 0.050, "scrape ≤ 50 ms with %d targets" % TARGETS,
         "p99 %.1f ms, median %.1f ms, %d samples" % (1e3 * p99, 1e3 * p50, series))
    exact = acq == pairs and wcount == pairs and full == 0 and lost == 0
    reached = events_per_s >= 0.97 * LOAD_EVENTS
    FACTS["s4 load"] = (events_per_s, reached, exact)
    goal(exact and reached, "no lost counts at 1 M lock events/s (counting mode)",
         "%s lock events/s sustained%s; counts %s" % (
             "{:,.0f}".format(events_per_s),
             "" if reached else " (the most this machine did: %s requested)" % "{:,.0f}".format(
                 LOAD_EVENTS),
             "exact" if exact else "NOT exact (%s acquisitions for %s pairs, %d map-full, %d lost)"
             % (acq, pairs, full, lost)))
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# The report.


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    glibc = os.confstr("CS_GNU_LIBC_VERSION") if hasattr(os, "confstr") else "?"
    return cpu, os.cpu_count(), " ".join(os.uname()[2:3]), glibc


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[:3]


def explanations():
    """Paragraphs for the missed goals, from this run's figures."""
    out = []
    missed = {what for ok, what, _ in GOALS if ok is False}

    def f(key):
        return FACTS.get(key)

    def missed_goal(prefix):
        return any(w.startswith(prefix) for w in missed)

    if missed_goal("default-mode cost per `sem_wait`"):
        op = (f("s1 ratio default") or ("pingpong", None))[0]
        out.append(
            "- **Default mode against its floor.** On an operation that reaches the slow path "
            "(%s) the floor is the entry uprobe + uretprobe of the slow path and the syscall "
            "entry tracepoint at every futex wait and wake (%s added here). gilstatd's "
            "programs add their work on top: the entry takes the thread's array entry and "
            "stamps the start, the futex wait marks the call and counts a sleeper, the wake "
            "stamps the semaphore's slot, the return updates the semaphore's per-CPU "
            "statistics (wait histogram, blocked time, handoff latency): %s here. Which "
            "program costs what: `sysctl "
            "kernel.bpf_stats_enabled=1`, then `bpftool prog` (run_time_ns / run_cnt).\n" % (
                S1_SHORT.get(op, op), fmt_added(f("s1 floor-default %s" % op)),
                fmt_added(f("s1 gilstatd-default %s" % op))))
    if missed_goal("≥ 10× cheaper"):
        out.append(
            "- **Against bpftrace.** In default mode an uncontended post+wait pair hits no "
            "probe of gilstatd: its added time is noise, and the ratio a lower bound, "
            "bpftrace's added time (%s) over the noise bound. A miss here means the noise of "
            "this run was more than a tenth of bpftrace's cost: re-run on a quieter machine.\n"
            % fmt_added(f("s1 bpftrace pair")))
    py27 = f("s2 py27")
    if missed_goal("CPython 2.7") and py27:
        out.append(
            "- **CPython 2.7, two threads.** Its GIL is a semaphore released and re-acquired "
            "every 100 ticks. In default mode the probes see only the contended acquisitions (a "
            "thread entering the slow path, then sleeping in a futex until the holder's release "
            "wakes it) and the futex calls, and with two CPU-bound threads many releases wake "
            "the other thread. Empty programs at the default-mode sites slow the two-thread "
            "countdown by %s, gilstatd by %s: the difference is the work of gilstatd's "
            "programs at those hits (the slow path's entry and return, the futex waits and "
            "wakes: about 1 M futex calls and 200 k slow-path calls per second of the 2-thread "
            "countdown, "
            "which the programs' work turns into several per cent of its CPU time, most of it "
            "cache misses after each sleep). Counting mode, which probes every GIL operation: "
            "floor %s, gilstatd %s.\n"
            % (fmt_pct(py27.get("floor-default")), fmt_pct(py27.get("gilstatd-default")),
               fmt_pct(py27.get("floor-counting")), fmt_pct(py27.get("gilstatd-counting"))))
    if missed_goal("CPython 3") and f("s2 py3 noise"):
        out.append(
            "- **CPython 3.** The probes of a CPython 3 process are hit at GIL transitions "
            "(`take_gil`, `drop_gil`: a few hits per switch, at most one switch per 5 ms "
            "interval under contention) and at contended semaphore waits, not per bytecode. The "
            "single-thread countdown has no GIL switch at all, so its slowdown is the noise of "
            "the method: %s in this run. A figure of the size of that noise is not a probe "
            "cost; re-run on a quieter machine.\n" % f("s2 py3 noise"))
    if missed_goal("no lost counts") and f("s4 load"):
        rate, reached, exact = f("s4 load")
        if not reached:
            pair = f("s1 gilstatd-counting pair")
            base = f("s1 none pair") or 0
            first = (
                "In counting mode a probed post+wait pair costs its thread %s (section 1, one "
                "process attached): one CPU could do ~%s events/s, two CPUs twice that if "
                "nothing else ran. " % (fmt_ns(pair + base), "{:,.0f}".format(2e9 / (pair + base)))
                if pair else "")
            out.append(
                "- **1 M lock events/s.** %sThe load process paid %s of CPU per pair and "
                "sustained %s events/s; the rest of the time its threads waited for a CPU (the "
                "machine's load average is in the header). The counts at the rate reached are "
                "%s.\n" % (first, fmt_ns(f("s4 pair cpu")), "{:,.0f}".format(rate),
                            "exact" if exact else "NOT exact"))
    return out


def main():
    if os.geteuid() != 0 and any(s in SECTIONS for s in ("1", "2", "4")):
        sys.exit("bench/report.py: sections 1, 2 and 4 attach BPF programs: run as root")
    load_before = loadavg()
    started = time.time()
    parts = {}
    funcs = {"1": section1, "2": section2, "3": section3, "4": section4}
    try:
        for s in ("1", "2", "3", "4"):
            if s in SECTIONS:
                try:
                    parts[s] = funcs[s]()
                except Exception as e:  # the report says what failed and goes on
                    log("section %s failed: %s" % (s, e))
                    parts[s] = "## %s. (failed)\n\nThis section failed: `%s`\n" % (s, e)
                    NOTES.append("Section %s failed: %s" % (s, e))
    finally:
        for c in CLEANUPS:
            c()
        shutil.rmtree(TMP, ignore_errors=True)
    load_after = FACTS.get("load after") or loadavg()
    minutes = (time.time() - started) / 60
    cpu, ncpu, kernel, glibc = machine()
    out = []
    out.append("# Benchmarks\n")
    out.append("Generated by `bench/run.sh` on %s in %.1f minutes. Every comparison below was "
               "measured side by side in this one run (configurations interleaved, medians of "
               "repeats); ratios matter more than absolute numbers, which depend on the machine "
               "and its load.\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                                    minutes))
    out.append("## Machine\n")
    out.append("- CPUs: %d × %s" % (ncpu, cpu))
    out.append("- Kernel: Linux %s; %s" % (kernel, glibc.replace("glibc ", "glibc ")))
    out.append("- Load average (1, 5, 15 min) before the run: %s; after the measurements: %s"
               % (" ".join(load_before), " ".join(load_after)))
    busy = max(float(load_before[0]), float(load_after[0]))
    if busy >= ncpu / 2:
        out.append("\n**Warning:** the machine was busy (load average %.2f on %d CPUs): other "
                   "processes competed for the CPUs, which moves every number here, the "
                   "contended ones most. Re-run on an idle machine before drawing conclusions."
                   % (busy, ncpu))
    out.append("\n## Reproduce\n")
    out.append("As root, from the repository root (builds into `build/bench` first):\n")
    sizes = [("ROUNDS", ROUNDS), ("SAMPLES", SAMPLES), ("SAMPLE_S", SAMPLE_S),
             ("PY_ROUNDS", PY_ROUNDS), ("PY27_ROUNDS", PY27_ROUNDS), ("PY_STEPS", PY_STEPS),
             ("PY27_STEPS", PY27_STEPS), ("PY_PACE_MS", PY_PACE_MS), ("PY_PACED_N", PY_PACED_N),
             ("PY_ECHO_S", PY_ECHO_S), ("DURATION", DURATION), ("STEPS", STEPS),
             ("TABLE_PY_STEPS", TABLE_PY_STEPS), ("REPEAT", REPEAT), ("TARGETS", TARGETS),
             ("SCRAPES", SCRAPES), ("LOAD_EVENTS", LOAD_EVENTS), ("LOAD_S", LOAD_S),
             ("IDLE_S", IDLE_S), ("STOP_CAP_S", STOP_CAP_S)]
    out.append("```\n%s bench/run.sh\n```\n" % " ".join(
        ("%s=%d" if float(v).is_integer() else "%s=%g") % (k, v) for k, v in sizes))
    out.append("(the defaults; `SECTIONS=1,3` runs some sections only, `OUT=path` writes the "
               "report elsewhere, `PY_ONLY=2.7,3.13` measures some interpreters only in "
               "section 2). Sources: "
               "`bench/report.py` (this report), `bench/semloop.cpp` (micro-loops and load), "
               "`bench/probe_floor.cpp` + `bench/bpf/probe_floor.bpf.c` (the floor), "
               "`bench/cpython_table.py`, `bench/runtime_table.cpp`.\n")
    out.append("## Goals\n")
    out.append("| | goal | measured |")
    out.append("|---|---|---|")
    for ok, what, measured in GOALS:
        out.append("| %s | %s | %s |" % ("PASS" if ok else ("MISS" if ok is False else "n/a"),
                                         what, measured))
    out.append("")
    for s in ("1", "2", "3", "4"):
        if s in parts:
            out.append(parts[s])
            out.append("")
    expl = explanations()
    if expl:
        out.append("## Where a goal is missed: why, and the floor\n")
        out.extend(expl)
        out.append("")
    if NOTES:
        out.append("## Notes\n")
        out.extend("- " + n for n in NOTES)
        out.append("")
    text = "\n".join(out).rstrip() + "\n"
    with open(OUT, "w") as f:
        f.write(text)
    log("wrote %s" % OUT)
    sys.stdout.write(text)
    return 0 if all(ok is not False for ok, _, _ in GOALS) else 1


if __name__ == "__main__":
    sys.exit(main())
