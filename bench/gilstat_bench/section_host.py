"""Section 6: what every process on the host pays while gilstatd runs, measured in a process
gilstatd does not watch (gilstat_bench_hostcost serve): a syscall that is not futex, a futex
call, and a fork+exec+exit (posix_spawn of /bin/true, waitpid). Configurations interleaved over
rounds: nothing, gilstatd attached to another process (its futex programs and its process
tracking in place), and the same with the futex programs forced to the syscall tracepoint (the
fallback of kernels where the scheduler programs cannot load)."""

import glob
import json
import re
import subprocess
import time
from contextlib import contextmanager
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
FLOOR = "floor"  # program_ns of the empty programs (no rounds)
PROGRAM_ROUNDS = 3  # measurements of the programs' times per configuration (median)
BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled"


@dataclass
class HostData:
    rounds: int
    samples: int
    sample_s: float
    spawns: int
    configs: list
    costs: AddedTimes    # per configuration, operation and round: CPU ns per operation
    programs: dict = field(default_factory=dict)  # configuration -> futex program (its log)
    # configuration -> operation -> (ns of gilstatd's BPF programs per operation, {program:
    # (runs per operation, ns per run)}), from the kernel's BPF statistics (after the rounds)
    program_ns: dict = field(default_factory=dict)

    def added(self, config, op):
        return self.costs.median_added(config, op) if self.costs.has(config) else None

    def noise(self, config, op):
        return self.costs.noise(config, op) if self.costs.has(config) else None

    def program_time(self, config, op):
        return self.program_ns.get(config, {}).get(op, (None, {}))[0]

    def goal_ok(self, op, limit_ns):
        return goals.added_within(self.added("gilstatd", op), self.noise("gilstatd", op),
                                  self.program_time("gilstatd", op), limit_ns)

    def syscall_goal_ok(self):
        return self.goal_ok("syscall", goals.SYSCALL_ADDED_MAX_NS)

    def spawn_goal_ok(self):
        return self.goal_ok("spawn", goals.SPAWN_ADDED_MAX_US * 1000)


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
    ctx.log("section 6: host-wide costs")
    z = ctx.sizes
    idle = Child([ctx.path("semloop"), "idle"], "semloop-idle", ctx.tmp)
    pid = int(idle.expect(r"ready (\d+)", 10).group(1))
    probe = Child([ctx.path("hostcost"), "serve"], "hostcost", ctx.tmp)
    probe.expect(r"ready (\d+)", 10)
    times = {c: {op: [] for op, _ in OPS} for c in CONFIGS}
    data = HostData(z.host_rounds, z.host_samples, z.host_sample_s, z.host_spawns, list(CONFIGS),
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
        # The programs' times move with the machine's load: the configurations and the floor
        # interleaved, PROGRAM_ROUNDS times, each operation's median kept.
        seen = {c: [] for c in CONFIGS[1:] + (FLOOR,)}
        for r in range(PROGRAM_ROUNDS):
            for config in rotate(list(seen), r):
                ctx.log("  kernel BPF statistics %d/%d: %s" % (r + 1, PROGRAM_ROUNDS, config))
                seen[config].append(floor_costs(ctx, probe, pid) if config == FLOOR
                                    else program_costs(ctx, probe, config, pid))
        data.program_ns = {c: median_costs(runs) for c, runs in seen.items()}
    finally:
        probe.stop()
        idle.stop()
    data.costs = AddedTimes(times)
    return data


def prog_ids(pid):
    """The ids of the BPF programs process `pid` holds (its fds' fdinfo)."""
    ids = set()
    for info in glob.glob("/proc/%d/fdinfo/*" % pid):
        try:
            with open(info) as f:
                m = re.search(r"^prog_id:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


def prog_stats(ids):
    """{name: (run_cnt, run_time_ns)} of the programs `ids` (bpftool)."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], capture_output=True, text=True,
                         check=True).stdout
    return {p["name"]: (p.get("run_cnt", 0), p.get("run_time_ns", 0))
            for p in json.loads(out) if p["id"] in ids}


@contextmanager
def bpf_stats_enabled():
    """The kernel's per-program run counts and times, on while inside (restored after)."""
    with open(BPF_STATS) as f:
        before = f.read().strip()
    with open(BPF_STATS, "w") as f:
        f.write("1")
    try:
        yield
    finally:
        with open(BPF_STATS, "w") as f:
            f.write(before)


# The runs of each program that an operation's own events cause: per spawn one fork, one exec (and
# the rename it does) and one exit; per context switch of the process or its children a sched_switch, per voluntary one
# (a sleep) a wake-up; per syscall loop call one syscall entry.
PROCTRACK = ("proctrack_fork", "proctrack_exec", "proctrack_rename", "proctrack_exit")
# The empty programs of the floor (gilstat_bench_floor --process-tracking) and the gilstatd
# program at the same tracepoint.
FLOOR_OF = {"floor_process_fork": "proctrack_fork", "floor_process_exec": "proctrack_exec",
            "floor_task_rename": "proctrack_rename", "floor_process_exit": "proctrack_exit",
            "floor_sched_switch": "futex_sleep", "floor_sched_waking": "futex_wakeup",
            "floor_sys_enter": "futex_enter"}


def own_runs(name, op, switches, voluntary):
    """Runs of program `name` per operation `op` caused by the operation itself; None when not
    known (then the runs on the whole host are taken, an upper bound)."""
    name = FLOOR_OF.get(name, name)
    if name in PROCTRACK:
        return 1.0 if op == "spawn" else 0.0
    if name == "futex_sleep":
        return switches
    if name == "futex_wakeup":
        return voluntary
    if name == "futex_enter":
        return 1.0 if op != "spawn" else None
    return 0.0  # the uprobes of the process gilstatd watches


def program_costs(ctx, probe, config, pid):
    """{op: (ns of gilstatd's programs per operation, {program: (runs per operation, ns per
    run)})}: each
    operation once with the kernel's BPF statistics on (they slow every program a little, so
    not during the rounds). The programs run for the whole host; an operation is charged the
    mean time per run of each program times the runs its own events cause (own_runs)."""
    g = start(ctx, config, pid)
    try:
        time.sleep(SETTLE_S)
        return costs_of(ctx, probe, prog_ids(g.pid))
    finally:
        g.stop(timeout=120)
        g.close()


def median_costs(runs):
    """The program_costs of several runs as one: per operation, the run whose total is the
    median (the lower middle one of an even number), its programs' figures with it (they add up
    to the total)."""
    out = {}
    for op in runs[0]:
        totals = sorted(runs, key=lambda r: r[op][0])
        out[op] = totals[(len(totals) - 1) // 2][op]
    return out


def floor_costs(ctx, probe, pid):
    """program_costs of the floor: empty programs at the tracepoints gilstatd uses (attached to
    `pid` as gilstatd is, with the process tracker's): what the kernel charges for a run."""
    f = Child([ctx.path("floor"), "--pid=%d" % pid, "--mode=default", "--process-tracking"],
              "floor-host", ctx.tmp)
    try:
        f.expect(r"ready (\d+)", 30)
        time.sleep(SETTLE_S)
        return costs_of(ctx, probe, prog_ids(f.p.pid))
    finally:
        f.stop()


def costs_of(ctx, probe, ids):
    """{op: (ns per operation, {program: (runs per operation, ns per run)})} of programs `ids`,
    each operation once with the kernel's BPF statistics on."""
    z = ctx.sizes
    out = {}
    with bpf_stats_enabled():
        for op, _ in OPS:
            arg = z.host_spawns if op == "spawn" else z.host_sample_s
            before = prog_stats(ids)
            f = probe.ask("%s %g" % (op, arg)).split()
            after = prog_stats(ids)
            out[op] = charge(op, before, after, int(f[0]), float(f[3]), float(f[4]))
    return out


def charge(op, before, after, ops, switches, voluntary):
    """(ns per operation, {program: (runs per operation, ns per run)}) from the statistics
    around it."""
    ns, runs = 0.0, {}
    for name, (cnt, t) in after.items():
        cnt0, t0 = before.get(name, (0, 0))
        if cnt <= cnt0:
            continue
        per_run = (t - t0) / (cnt - cnt0)
        n = own_runs(name, op, switches, voluntary)
        n = (cnt - cnt0) / ops if n is None else n
        if n:
            ns += per_run * n
            runs[name] = (n, per_run)
    return ns, runs


def measure_round(ctx, probe, times):
    """Every operation, HOST_SAMPLES samples each (their median), in CPU ns per operation."""
    z = ctx.sizes
    for op, _ in OPS:
        arg = z.host_spawns if op == "spawn" else z.host_sample_s
        # CPU time (the process's and its children's): other processes on the machine do not
        # count there, as they do in the wall clock.
        vals = [float(probe.ask("%s %g" % (op, arg)).split()[2]) for _ in range(z.host_samples)]
        times[op].append(median(vals))
