"""Section 5: what every process on the host pays while gilstatd runs, measured in a process
gilstatd does not watch (gilstat_bench_hostcost serve): a syscall that is not futex, a futex
call, and a fork+exec+exit (posix_spawn of /bin/true, waitpid). Configurations interleaved over
rounds: nothing, gilstatd attached to another process (its futex programs and its process
tracking in place), and the same with the futex programs forced to the syscall tracepoint (the
fallback of kernels where the scheduler programs cannot load)."""

import re
import time
from dataclasses import dataclass, field

from . import goals
from .procs import Child, Gilstatd, gilstatd_config
from .stats import AddedTimes, median, rotate

CONFIGS = ("none", "gilstatd", "gilstatd-sys_enter")
LABELS = {"none": "nothing", "gilstatd": "gilstatd default",
          "gilstatd-sys_enter": "gilstatd, futex programs forced to the syscall tracepoint"}
ENV = {"gilstatd": {}, "gilstatd-sys_enter": {"GILSTAT_FUTEX_PROGRAM": "sys_enter"}}
OPS = (("syscall", "`getppid()` (any syscall but futex), ns per call"),
       ("futex", "`futex(FUTEX_WAKE)` on a word nobody waits on, ns per call"),
       ("spawn", "fork+exec+exit (`posix_spawn` of `/bin/true` + `waitpid`), µs per process"))
# The target patterns of gilstatd: the idle process it attaches to, and a command line that
# nothing matches (every new process is read and compared, none attached).
NO_MATCH = 'cmdline: "^gilstat-bench-matches-nothing$"'
SETTLE_S = 0.5


@dataclass
class HostData:
    rounds: int
    samples: int
    sample_s: float
    spawns: int
    configs: list
    costs: AddedTimes    # per configuration, operation and round: ns per operation
    programs: dict = field(default_factory=dict)  # configuration -> futex program (its log)

    def added(self, config, op):
        return self.costs.median_added(config, op) if self.costs.has(config) else None

    def syscall_goal_ok(self):
        return goals.syscall_added_within(self.added("gilstatd", "syscall"))

    def spawn_goal_ok(self):
        added = self.added("gilstatd", "spawn")
        return goals.spawn_added_within(None if added is None else added / 1000)


def futex_program(gilstatd):
    m = re.search(r"futex calls seen by (\S+)", gilstatd.output())
    return m.group(1) if m else "?"


def start(ctx, config, pid):
    """gilstatd in `config` attached to `pid` (None for "none")."""
    if config == "none":
        return None
    g = Gilstatd(ctx.path("gilstatd"), ctx.tmp,
                 gilstatd_config(["pid: %d" % pid, NO_MATCH], "default"), env=ENV[config])
    try:
        g.wait_attached(1)
    except BaseException:
        g.close()
        raise
    return g


def measure(ctx):
    ctx.log("section 5: host-wide costs")
    z = ctx.sizes
    idle = Child([ctx.path("semloop"), "idle"], "semloop-idle", ctx.tmp)
    pid = int(idle.expect(r"ready (\d+)", 10).group(1))
    probe = Child([ctx.path("hostcost"), "serve"], "hostcost", ctx.tmp)
    probe.expect(r"ready (\d+)", 10)
    times = {c: {op: [] for op, _ in OPS} for c in CONFIGS}
    data = HostData(z.host_rounds, z.samples, z.host_sample_s, z.host_spawns, list(CONFIGS),
                    None)
    try:
        for r in range(z.host_rounds):
            for config in rotate(list(CONFIGS), r):
                ctx.log("  round %d/%d: %s" % (r + 1, z.host_rounds, config))
                g = start(ctx, config, pid)
                try:
                    if g:
                        data.programs[config] = futex_program(g)
                        time.sleep(SETTLE_S)
                    measure_round(ctx, probe, times[config])
                finally:
                    if g:
                        g.stop(timeout=120)
                        g.close()
    finally:
        probe.stop()
        idle.stop()
    data.costs = AddedTimes(times)
    return data


def measure_round(ctx, probe, times):
    """Every operation, SAMPLES samples each (their median), in ns per operation."""
    z = ctx.sizes
    for op, _ in OPS:
        arg = z.host_spawns if op == "spawn" else z.host_sample_s
        vals = [float(probe.ask("%s %g" % (op, arg)).split()[1]) for _ in range(z.samples)]
        times[op].append(median(vals))
