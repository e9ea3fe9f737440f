"""Section 1: the cost per semaphore operation of each configuration attached to one
micro-loop process (gilstat_bench_semloop serve), interleaved over rounds."""

import time
from dataclasses import dataclass, field

from . import goals
from .attach import Attached, Tracefs, bpftrace_version, have_bpftrace
from .procs import Child
from .stats import AddedTimes, median, rotate

CONFIGS = ("none", "floor-default", "gilstatd-default", "floor-counting", "gilstatd-counting",
           "floor-exact", "gilstatd-exact", "bpftrace")
MODES = ("default", "counting", "exact")
OPS = (("wait", "`sem_wait` (uncontended, alone)"),
       ("pair", "`sem_post` + `sem_wait` pair (uncontended)"),
       ("pingpong", "contended handoff (`sem_post` waking a blocked `sem_wait`)"))
SHORT = {"wait": "`sem_wait`", "pair": "pair", "pingpong": "handoff"}
# The ratios of added times the report shows: (numerator, denominator).
RATIOS = tuple(("gilstatd-%s" % m, "floor-%s" % m) for m in MODES) + (
    ("bpftrace", "gilstatd-default"), ("bpftrace", "gilstatd-counting"))


@dataclass
class CostData:
    rounds: int
    samples: int
    sample_s: float
    configs: list               # the configurations measured, in the table's order
    costs: AddedTimes           # per configuration, operation and round: ns per operation
    sites: dict = field(default_factory=dict)   # configuration -> sites it attached
    uprobes: dict = field(default_factory=dict)  # mode -> uprobes of its floor
    bpftrace: str = ""          # bpftrace --version

    def ratio_columns(self):
        return [(a, b) for a, b in RATIOS if self.costs.has(a) and self.costs.has(b)]

    def default_goal(self):
        """The figures of the first goal: on the operations where the floor's sites are hit,
        (op, ratio) of gilstatd default over the floor; on the others, (op, gilstatd added,
        floor added, noise)."""
        c, gd, fd = self.costs, "gilstatd-default", "floor-default"
        hit = [(op, c.ratio(gd, fd, op)) for op, _ in OPS if not c.negligible(fd, op)]
        nohit = [(op, c.median_added(gd, op), c.median_added(fd, op), c.noise(gd, op))
                 for op, _ in OPS if c.negligible(fd, op)]
        return hit, nohit

    def default_goal_ok(self):
        hit, nohit = self.default_goal()
        return goals.default_over_floor([r.value for _, r in hit], [x[1:] for x in nohit])


def lock_events(gilstatd):
    """What gilstatd has counted for its target so far (acquisitions, contended acquisitions,
    handoffs): it changes exactly when a probe of the target was hit and did its work."""
    s = gilstatd.scrape()
    return sum(s.total(n, source="ebpf") or 0 for n in (
        "gilstat_lock_acquisitions_total", "gilstat_lock_contended_total",
        "gilstat_lock_handoffs_total"))


def measure(ctx):
    ctx.log("section 1: cost per operation")
    z = ctx.sizes
    bpftrace = have_bpftrace()
    configs = [c for c in CONFIGS if c != "bpftrace" or bpftrace]
    if not bpftrace:
        ctx.note("bpftrace is not installed: its column is missing (bench/run.sh installs "
                 "Debian's `bpftrace` when it can).")
    tracefs = Tracefs(ctx)
    target = Child([ctx.path("semloop"), "serve"], "semloop", ctx.tmp)
    pid = int(target.expect(r"ready (\d+)", 10).group(1))
    times = {c: {op: [] for op, _ in OPS} for c in configs}  # per round: median of samples
    seen = {c: {op: [] for op, _ in OPS} for c in configs}   # gilstatd: events per round
    data = CostData(z.rounds, z.samples, z.sample_s, configs, None)
    try:
        for r in range(z.rounds):
            for config in rotate(configs, r):
                ctx.log("  round %d/%d: %s" % (r + 1, z.rounds, config))
                a = Attached(ctx, config, pid, tracefs)
                data.sites[config] = a.info
                if a.uprobes is not None:
                    data.uprobes[config[6:]] = a.uprobes
                try:
                    measure_round(ctx, target, a, times[config], seen[config])
                finally:
                    a.stop()
    finally:
        target.stop()
    # The floor of a mode has the sites of gilstatd in that mode: the same hits.
    hits = {c: seen[c] for c in configs if c.startswith("gilstatd-")}
    hits.update({"floor-" + c[9:]: seen[c] for c in list(hits)})
    data.costs = AddedTimes(times, hits)
    data.bpftrace = bpftrace_version()
    return data


def measure_round(ctx, target, attached, times, seen):
    """Every operation, SAMPLES samples each (their median), with `attached` in place."""
    z = ctx.sizes
    for op, _ in OPS:
        before = lock_events(attached.gilstatd) if attached.gilstatd else None
        vals = []
        for _ in range(z.samples):
            out = target.ask("%s %g" % (op, z.sample_s)).split()
            vals.append(float(out[1]))
        times[op].append(median(vals))
        if attached.gilstatd:
            time.sleep(0.05)
            seen[op].append(lock_events(attached.gilstatd) - before)
