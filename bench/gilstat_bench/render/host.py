"""Section 5's Markdown and goals (data: section_host.HostData)."""

from .. import fmt
from ..goals import SPAWN_ADDED_MAX_US, SYSCALL_ADDED_MAX_NS, Goal
from ..section_host import CONFIGS, LABELS, OPS

INTRO = (
    "## 5. Host-wide costs\n\n"
    "What every process on the host pays while gilstatd runs, measured in one that gilstatd "
    "does not watch (`gilstat_bench_hostcost serve`). gilstatd (default mode) is attached to "
    "one `gilstat_bench_semloop idle` process, so its kernel-side futex program and its "
    "process tracking are in place, with a second target pattern that no process matches "
    "(every new process is compared, none attached). Rounds: %d, configurations interleaved "
    "(order rotating), each started afresh per round; per round the median of %d samples "
    "(syscall loops of %g s; %d processes spawned one after another). Added: the median over "
    "rounds of the per-round difference to nothing; noise: the larger spread over rounds of "
    "nothing's time and of the added time.\n\n"
    "The futex program runs for futex calls only where the kernel attaches it by fentry "
    "(`fentry/__x64_sys_futex`); the last column is the fallback of kernels where it cannot "
    "(`tp_btf/sys_enter`, run for every syscall of the host). Futex programs seen: %s.\n")


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
    return head + body + [""]


def render(d):
    """(Markdown, goals) of section 5."""
    programs = ", ".join("%s: `%s`" % (LABELS[c], p) for c, p in sorted(d.programs.items()))
    text = INTRO % (d.rounds, d.samples, d.sample_s, d.spawns, programs or "–")
    text += "\n".join(rows(d))
    c = d.costs
    sys_added = d.added("gilstatd", "syscall")
    spawn_added = d.added("gilstatd", "spawn")
    out = [
        Goal(d.syscall_goal_ok(), "non-target syscall cost ≤ %d ns added" % SYSCALL_ADDED_MAX_NS,
             "%s (noise %s) per `getppid()`; a futex call %s" % (
                 signed("syscall", sys_added), fmt.ns(c.noise("gilstatd", "syscall")),
                 signed("futex", d.added("gilstatd", "futex")))),
        Goal(d.spawn_goal_ok(), "non-target fork+exec+exit ≤ %d µs added" % SPAWN_ADDED_MAX_US,
             "%s (noise %s) per process" % (signed("spawn", spawn_added),
                                            value("spawn", c.noise("gilstatd", "spawn")))),
    ]
    return text, out
