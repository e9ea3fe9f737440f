"""Section 6's Markdown and goals (data: section_host.HostData)."""

from .. import fmt
from ..goals import SPAWN_ADDED_MAX_US, SYSCALL_ADDED_MAX_NS, Goal
from ..section_host import CONFIGS, FLOOR, LABELS, OPS

INTRO = (
    "## 6. Host-wide costs\n\n"
    "What every process on the host pays while gilstatd runs, measured in one that gilstatd "
    "does not watch (`gilstat_bench_hostcost serve`). gilstatd (default mode) is attached to "
    "one `gilstat_bench_semloop idle` process, so its kernel-side futex program and its "
    "process tracking are in place, with a second target pattern that no process matches "
    "(every new process is compared, none attached). Rounds: %d, configurations interleaved "
    "(order rotating), each started afresh per round; per round the median of %d samples "
    "(syscall loops of %g s; %d processes spawned one after another) of the CPU time (user + "
    "system) the measuring process and its children used per operation: the BPF programs run "
    "in the context of the tasks they watch, and other processes on a shared machine do not "
    "count there as they do in the wall clock. Added: the median over "
    "rounds of the per-round difference to nothing; noise: the larger spread over rounds of "
    "nothing's time and of the added time. After the rounds, each gilstatd configuration "
    "and the floor (below) three times more, interleaved, with the kernel's BPF statistics on "
    "(`kernel.bpf_stats_enabled`; per operation the run of median total is shown): the mean time per "
    "run of each of its programs times the runs the operation's own events cause (per spawn a "
    "fork, an exec and an exit; per context switch of the process and its children a "
    "`sched_switch`, per voluntary one a wake-up; per call of a syscall loop a syscall entry; "
    "the fallback's syscall program in a spawn: its runs on the whole host, an upper bound). "
    "A run's time includes the statistics' own clock read, not the tracepoint's call; the "
    "floor rows are empty programs at the same tracepoints (`gilstat_bench_floor "
    "--process-tracking`, attached as gilstatd is), measured the same way in the same run: "
    "what any program there costs. A goal is decided by the CPU time where its noise is below "
    "the limit, else by the programs' time.\n\n"
    "gilstatd sees futex waits and wakes from the scheduler (`tp_btf/sched_switch`, "
    "`tp_btf/sched_waking`: no program per syscall); the last column is the fallback of "
    "kernels where those programs cannot load (`tp_btf/sys_enter`, run for every syscall of "
    "the host). Futex programs seen: %s.\n")


def value(op, v):
    """ns for the syscall rows, µs for spawns."""
    return fmt.ns(v) if v is None or op != "spawn" else "%.1f µs" % (v / 1000)


def signed(op, v):
    if v is None:
        return "–"
    return fmt.added(v) if op != "spawn" else "%+.2f µs" % (v / 1000)


def rows(d):
    c = d.costs
    configs = [x for x in CONFIGS if c.has(x)]
    head = ["| operation | " + " | ".join(LABELS[x] for x in configs) + " |",
            "|---|" + "---:|" * len(configs)]
    body = []
    for op, what in OPS:
        cells = [value(op, c.median_time("none", op))]
        for x in configs[1:]:
            cells.append("%s (%s, noise %s)" % (value(op, c.median_time(x, op)),
                                                signed(op, c.median_added(x, op)),
                                                value(op, c.noise(x, op))))
        body.append("| %s | %s |" % (what, " | ".join(cells)))
    for op, what in OPS:
        cells = ["–"] + [programs_cell(d, x, op) for x in configs[1:]]
        body.append("| gilstatd's BPF programs per operation: %s | %s |" % (
            what.split(",")[0], " | ".join(cells)))
    if FLOOR in d.program_ns:
        for op, what in OPS:
            body.append("| the floor, empty programs at gilstatd's tracepoints: %s | – | %s |%s"
                        % (what.split(",")[0], programs_cell(d, FLOOR, op),
                           " – |" * (len(configs) - 2)))
    return head + body + [""]


def programs_cell(d, config, op):
    """The programs' time per operation `op` in `config`, and each program's runs × time."""
    ns, runs = d.program_ns.get(config, {}).get(op, (None, {}))
    if ns is None:
        return "–"
    return "%s (%s)" % (value(op, ns), ", ".join(
        "`%s` %.2g × %.0f ns" % (n, r, t) for n, (r, t) in sorted(runs.items())) or "no run")


def render(d):
    """(Markdown, goals) of section 6."""
    programs = ", ".join("%s: `%s`" % (LABELS[c], p) for c, p in sorted(d.programs.items()))
    text = INTRO % (d.rounds, d.samples, d.sample_s, d.spawns, programs or "–")
    text += "\n".join(rows(d))
    out = [
        Goal(d.syscall_goal_ok(), "non-target syscall cost ≤ %d ns added" % SYSCALL_ADDED_MAX_NS,
             measured(d, "syscall") + "; a futex call %s, its programs %s" % (
                 signed("futex", d.added("gilstatd", "futex")),
                 value("futex", d.program_time("gilstatd", "futex")))),
        Goal(d.spawn_goal_ok(), "non-target fork+exec+exit ≤ %d µs added" % SPAWN_ADDED_MAX_US,
             measured(d, "spawn")),
    ]
    return text, out


def measured(d, op):
    floor = d.program_time(FLOOR, op)
    return "%s (noise %s) CPU time, %s of programs per %s%s" % (
        signed(op, d.added("gilstatd", op)), value(op, d.noise("gilstatd", op)),
        value(op, d.program_time("gilstatd", op)),
        "`getppid()`" if op == "syscall" else "process",
        "" if floor is None else " (empty programs at the same tracepoints: %s)" % value(op, floor))
