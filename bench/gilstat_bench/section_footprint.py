"""Section 4: the daemon's footprint with many target processes (default mode), a sustained
load counted by a second gilstatd in counting mode, and the time gilstatd takes to stop."""

import signal
import subprocess
import time
from dataclasses import dataclass

from . import section_demo
from .context import loadavg
from .procs import (Child, Gilstatd, bpf_link_fds, gilstatd_config, proc_cpu_seconds,
                    proc_status_bytes)
from .stats import median, percentile

LABELS = "labels:\n  process: \"{comm}\"\n  pid: true\n"


@dataclass
class StopResult:
    """seconds: until it exited (None: killed at the cap); links: BPF links it held; left:
    links still held at the cap; estimate: total seconds at the pace the links went."""
    seconds: float
    links: int
    left: int = 0
    estimate: float = None


@dataclass
class LoadResult:
    pairs: int = 0              # post+wait pairs the load process did
    elapsed: float = 0.0        # in seconds, as it measured
    pair_cpu_ns: float = 0.0    # its CPU time per pair
    acquisitions: float = None  # counting-mode gilstatd: acquisitions of the load process
    wait_count: float = None    # counting-mode gilstatd: wait histogram count
    contended_default: float = None  # default-mode gilstatd: contended acquisitions
    map_full: float = 0         # both daemons, during the load
    lost: float = 0
    cpu_default: float = 0.0    # fraction of one CPU
    cpu_counting: float = 0.0
    scrape_latencies: list = None  # default-mode daemon, once a second during the load
    stop_counting: StopResult = None

    @property
    def events_per_s(self):
        return 2 * self.pairs / self.elapsed if self.elapsed else 0.0


@dataclass
class FootprintData:
    targets: int
    scrapes: int
    idle_s: float
    load_events: float
    load_s: float
    stop_cap_s: float
    attach_s: float = 0.0
    rss_start: int = 0
    rss_scraped: int = 0
    rss_end: int = 0
    hwm: int = 0
    idle_cpu: float = 0.0
    scrape_latencies: list = None
    samples: int = 0            # lines with a sample in the last scrape
    lock_samples: int = 0       # of them gilstat_lock_*
    scrape_bytes: int = 0
    load: LoadResult = None
    stop: StopResult = None
    load_after: list = None     # load average right after the load
    demo: section_demo.DemoData = None  # gilstatd on its embedded default

    @property
    def scrape_p50(self):
        return median(self.scrape_latencies)

    @property
    def scrape_p99(self):
        return percentile(self.scrape_latencies, 99)


def stop_timed(gd, cap):
    """SIGTERM to gilstatd and wait at most `cap` s. After the cap the daemon is killed and
    not waited for: the kernel finishes releasing its links in the background."""
    pid = gd.proc.pid
    links = bpf_link_fds(pid)
    t0 = time.monotonic()
    gd.proc.send_signal(signal.SIGTERM)
    first_drop = None
    left = links
    try:
        while time.monotonic() - t0 < cap:
            try:
                gd.proc.wait(timeout=0.5)
                return StopResult(time.monotonic() - t0, links)
            except subprocess.TimeoutExpired:
                pass
            left = bpf_link_fds(pid)
            if first_drop is None and left < links:
                first_drop = time.monotonic() - t0
        gd.proc.kill()
        elapsed = time.monotonic() - t0
        estimate = None
        if first_drop is not None and left < links:
            estimate = first_drop + (elapsed - first_drop) * links / (links - left)
        return StopResult(None, links, left, estimate)
    finally:
        gd.log.close()


def measure(ctx):
    z = ctx.sizes
    ctx.log("section 4: daemon footprint (%d targets)" % z.targets)
    data = FootprintData(z.targets, z.scrapes, z.idle_s, z.load_events, z.load_s, z.stop_cap_s)
    targets, daemons = [], []
    try:
        for _ in range(z.targets):
            targets.append(Child([ctx.path("semloop"), "idle"], "idle", ctx.tmp))
        for t in targets:
            t.expect(r"ready", 30)
        config = gilstatd_config(['cmdline: "gilstat_bench_semloop (idle|load)"'], "default",
                                 LABELS)
        t0 = time.monotonic()
        gd = Gilstatd(ctx.path("gilstatd"), ctx.tmp, config)
        daemons.append(gd)
        gd.wait_attached(z.targets, timeout=300)
        data.attach_s = time.monotonic() - t0
        measure_idle_and_scrapes(ctx, gd, data)
        data.load = measure_load(ctx, gd, daemons, data)
        time.sleep(1)  # the default-mode daemon notices the load's exit and detaches it
        ctx.log("  stopping gilstatd with %d processes attached (at most %g s)"
                % (z.targets, z.stop_cap_s))
        daemons.remove(gd)
        data.stop = stop_timed(gd, z.stop_cap_s)
    finally:
        for d in daemons:  # only after a failure
            d.close()
        stop_all(ctx, targets)
    data.demo = section_demo.measure(ctx)
    return data


def stop_all(ctx, targets):
    ctx.log("  stopping the %d targets" % len(targets))
    for t in targets:  # all at once
        t.close_stdin()
    for t in targets:
        t.stop(timeout=30)
    ctx.log("  targets stopped")


def measure_idle_and_scrapes(ctx, gd, data):
    """Memory after attaching, CPU while idle (no scrapes during the window: the daemon's own
    work, rescans and process events), then SCRAPES sequential scrapes."""
    data.rss_start = proc_status_bytes(gd.pid, "VmRSS")
    time.sleep(1)
    c0, w0 = proc_cpu_seconds(gd.pid), time.monotonic()
    time.sleep(ctx.sizes.idle_s)
    data.idle_cpu = (proc_cpu_seconds(gd.pid) - c0) / (time.monotonic() - w0)
    lat = []
    text = ""
    for _ in range(ctx.sizes.scrapes):
        t = time.monotonic()
        text = gd.metrics()
        lat.append(time.monotonic() - t)
    data.scrape_latencies = lat
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    data.samples = len(lines)
    data.lock_samples = len([1 for line in lines if line.startswith("gilstat_lock_")])
    data.scrape_bytes = len(text.encode())
    data.rss_scraped = proc_status_bytes(gd.pid, "VmRSS")


def measure_load(ctx, gd, daemons, data):
    """A process whose exact number of post+wait pairs is known. It is a target of the
    default-mode daemon too (whose probes its uncontended pairs never hit), and of a second
    gilstatd in counting mode, which counts every acquisition; the default-mode daemon is
    scraped once a second meanwhile (a busy Prometheus). Stops the load and the counting
    daemon; records the default-mode daemon's memory and the load average in `data`."""
    z = ctx.sizes
    res = LoadResult()
    load = Child([ctx.path("semloop"), "load", "%g" % (z.load_events / 2), "%g" % z.load_s,
                  "2"], "load", ctx.tmp)
    try:
        lpid = int(load.expect(r"ready (\d+)", 10).group(1))
        gd.wait_attached(z.targets + 1, timeout=60)
        gc = Gilstatd(ctx.path("gilstatd"), ctx.tmp,
                      gilstatd_config(["pid: %d" % lpid], "counting", LABELS), name="gilstatd-c")
        daemons.append(gc)
        gc.wait_attached(1, timeout=60)
        before, before_d = gc.scrape(), gd.scrape()
        c0, cc0, w0 = proc_cpu_seconds(gd.pid), proc_cpu_seconds(gc.pid), time.monotonic()
        load.send("go")
        res.scrape_latencies = scrape_during(gd, load, w0 + z.load_s + 30)
        m = load.expect(r"done (\d+) (\S+) (\S+)", z.load_s + 60)
        wall = time.monotonic() - w0
        res.cpu_default = (proc_cpu_seconds(gd.pid) - c0) / wall
        res.cpu_counting = (proc_cpu_seconds(gc.pid) - cc0) / wall
        res.pairs, res.elapsed = int(m.group(1)), float(m.group(2))
        res.pair_cpu_ns = float(m.group(3)) / max(res.pairs, 1) * 1e9
        data.load_after = loadavg()
        time.sleep(0.2)
        after, after_d = gc.scrape(), gd.scrape()
        res.acquisitions = after.total("gilstat_lock_acquisitions_total", pid=lpid,
                                       source="ebpf")
        res.wait_count = after.total("gilstat_lock_wait_seconds_count", pid=lpid, source="ebpf")
        res.contended_default = after_d.total("gilstat_lock_contended_total", pid=lpid,
                                              source="ebpf")

        def delta(name):
            return sum((a.total(name) or 0) - (b.total(name) or 0)
                       for a, b in ((after, before), (after_d, before_d)))
        res.map_full = delta("gilstat_probe_map_full_total")
        res.lost = delta("gilstat_probe_lost_events_total")
        data.rss_end = proc_status_bytes(gd.pid, "VmRSS")
        data.hwm = proc_status_bytes(gd.pid, "VmHWM")
        daemons.remove(gc)
        res.stop_counting = stop_timed(gc, z.stop_cap_s)
    finally:
        load.stop()
    return res


def scrape_during(gd, load, deadline):
    """Scrapes `gd` once a second until the load process prints or exits; the latencies."""
    out = []
    while load.p.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
        t = time.monotonic()
        try:
            gd.metrics()
            out.append(time.monotonic() - t)
        except OSError:
            pass
        if load.lines.qsize():
            break
    return out
