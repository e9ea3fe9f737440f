"""Section 1's Markdown and goals (data: section_cost.CostData)."""

from .. import fmt, goals
from ..attach import BPFTRACE_PROG, config_label
from ..goals import Goal
from ..section_cost import MODES, OPS, SHORT
from ..stats import spread

INTRO = (
    "`gilstat_bench_semloop serve` (bench/semloop.cpp) is one long-lived process; each "
    "configuration is attached to it from outside in turn, every round in a rotated order, "
    "and the loops run %d samples of %.2f s each (median); a cell is the median over %d "
    "rounds of the CPU time per operation (of the looping thread, of both threads for the "
    "ping-pong: the probes' work is charged to them, the time other processes run is not), "
    "and in brackets the time added to \"nothing\" (median of the per-round differences). "
    "Ratios are medians of the per-round ratios of added times.\n")

CONFIGS = (
    "- **nothing**: no probe.\n"
    "- **floor**: empty BPF programs (bench/bpf/probe_floor.bpf.c) at exactly the sites the "
    "semaphore probe uses in that mode, found by the probe's own code "
    "(`gilstat_bench_floor`: attaches the probe, keeps its site list, detaches it, attaches "
    "the empty programs there), plus the same kernel tracepoints (the scheduler's switch and "
    "wake-up, or the raw syscall entry where those cannot load): what the kernel charges for "
    "the probes themselves.\n"
    "- **gilstatd**: the daemon (`runtime: {enabled: false}`, target `pid`, `probes: {mode: "
    "…}`), measured once `gilstat_probes_attached` is 1. The modes (docs/PROBES.md): "
    "`default` probes the slow paths only — the entry of glibc's internal "
    "`__new_sem_wait_slow64`, which `sem_wait`/`sem_timedwait`/`sem_clockwait` reach only "
    "when the semaphore is 0, with its return probe, and the futex waits and wakes from the "
    "scheduler's tracepoints (posts are counted from the wakes); an uncontended `sem_post` or `sem_wait` hits no probe at all, and "
    "`gilstat_lock_acquisitions_total` is not exported. `counting` probes `sem_wait`'s "
    "entry + return and emulated branch sites inside `sem_post` and `sem_trywait`: every "
    "acquisition is counted. `exact`: entry (+ return) uprobes on every function.\n"
    "- **bpftrace** (%s): entry uprobe + uretprobe on `sem_wait` building a histogram per "
    "semaphore address, and a uprobe on `sem_post` counting per address, attached to the "
    "target only (`-p PID`); the `BEGIN` clause only tells the benchmark it is attached:\n")

OPERATIONS = (
    "Operations: `wait` times uncontended `sem_wait` calls alone (posts raise the value "
    "between timed batches); `pair` is `sem_post` + `sem_wait` on one semaphore; "
    "`pingpong` is two threads handing two semaphores back and forth, both pinned to one "
    "CPU, so each handoff is a post, a futex wake, a context switch and the woken wait "
    "returning (per handoff).\n")

NOISE = (
    "**Noise.** Where a mode puts no probe on an operation's path, its added time is the "
    "difference of two equal loops: noise. An added time is shown as *within noise ±N* when "
    "it is no larger than N, the larger of the spread (max − min) over the %d rounds of "
    "\"nothing\" and that of the configuration's added time; *no probe hit* means that "
    "gilstatd in that "
    "mode counted no event of the target during that operation in any round (the floor "
    "uses the same sites). A ratio is computed only where its denominator is above noise; "
    "where the denominator is within noise and the numerator is not, the ratio is a lower "
    "bound, N as the denominator.\n")

FOOTNOTE = (
    "¹ No semaphore probe on the path (gilstatd counted no event), yet more than the "
    "noise. The loops read their thread's CPU clock through a system call (the `wait` "
    "loop twice per %d waits), and every mode has a program on the raw syscall entry "
    "tracepoint, which runs at every system call of every process (and returns at once "
    "for the ones that are not futex calls of an attached process). No ratio is taken "
    "of it.\n" % 256)


def ratio_text(costs, a, b, op):
    r = costs.ratio(a, b, op)
    return {
        "missing": lambda: "–",
        "no_hit_either": lambda: "– (no hit in either)",
        "both_within_noise": lambda: "– (both within noise)",
        "lower_bound": lambda: "≥ " + fmt.times(r.value, 1),
        "numerator_no_hit": lambda: (
            "≈ 0 (%s: no hit)" % config_label(a) if costs.no_hit(a, op) else
            "%s (%s: within noise ±%s)" % ("–" if r.value is None else fmt.times(r.value),
                                           config_label(a), fmt.ns(costs.noise(a, op)))),
        "ratio": lambda: fmt.times(r.value),
    }[r.kind]()


def cell(costs, c, op):
    """(text, needs the footnote)."""
    v = costs.median_time(c, op)
    if c == costs.baseline:
        return fmt.ns(v), False
    add = costs.median_added(c, op)
    if costs.within_noise(c, op):
        return "%s (%s; %swithin noise ±%s)" % (
            fmt.ns(v), fmt.added(add), "no probe hit; " if costs.no_hit(c, op) else "",
            fmt.ns(costs.noise(c, op))), False
    if costs.no_hit(c, op):
        return "%s (%s; no probe hit¹)" % (fmt.ns(v), fmt.added(add)), True
    return "%s (%s)" % (fmt.ns(v), fmt.added(add)), False


def render(d):
    """(Markdown, goals) of section 1."""
    costs = d.costs
    lines = ["## 1. Cost per operation\n", INTRO % (d.samples, d.sample_s, d.rounds),
             CONFIGS % d.bpftrace,
             "```\nbpftrace -p PID -e '%s'\n```\n" % BPFTRACE_PROG.replace(
                 "LIBC", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
             OPERATIONS]
    if any(c.startswith("floor-") for c in d.sites):
        lines.append("Sites (from the floor tool, per function: how it is probed):\n")
        lines.extend("- %s mode: %s" % (m, d.sites["floor-" + m]) for m in MODES
                     if "floor-" + m in d.sites)
        lines.append("")
    lines.append(NOISE % d.rounds)
    lines.append("| operation | " + " | ".join(config_label(c) for c in d.configs) + " |")
    lines.append("|---|" + "---:|" * len(d.configs))
    footnote = False
    for op, label in OPS:
        cells = [cell(costs, c, op) for c in d.configs]
        footnote = footnote or any(f for _, f in cells)
        lines.append("| %s | %s |" % (label, " | ".join(t for t, _ in cells)))
    lines.append("")
    lines.append("Spread of \"nothing\" over the rounds: %s.\n" % ", ".join(
        "%s %s" % (SHORT[op], fmt.ns(spread(costs.times[costs.baseline][op])))
        for op, _ in OPS))
    if footnote:
        lines.append(FOOTNOTE)
    cols = d.ratio_columns()
    lines.append("Ratios of added time:\n")
    lines.append("| operation | " + " | ".join("%s / %s" % (config_label(a), config_label(b))
                                               for a, b in cols) + " |")
    lines.append("|---|" + "---:|" * len(cols))
    for op, label in OPS:
        lines.append("| %s | %s |" % (label, " | ".join(ratio_text(costs, a, b, op)
                                                         for a, b in cols)))
    lines.append("")
    return "\n".join(lines), [default_goal(d), bpftrace_goal(d), handoff_goal(d)]


DEFAULT_GOAL = ("default-mode cost per `sem_wait` ≤ 1.25× the empty-program floor at the same "
                "sites (on every operation the sites see)")
BPFTRACE_GOAL = "≥ 10× cheaper per post+wait pair than the bpftrace one-liner"
HANDOFF_GOAL = ("a contended handoff in default mode adds ≤ 1/10 of what the bpftrace one-liner "
                "adds")


def default_goal(d):
    """Default mode against its floor on every operation where the floor's sites are hit;
    where they are not, gilstatd must add nothing measurable beyond the floor either."""
    costs, gd, fd = d.costs, "gilstatd-default", "floor-default"
    hit, nohit = d.default_goal()
    parts = ["%s %s (added %s vs %s)" % (SHORT[op], ratio_text(costs, gd, fd, op),
                                         fmt.ns(costs.median_added(gd, op)),
                                         fmt.ns(costs.median_added(fd, op)))
             for op, _ in hit]
    if nohit:
        oks = [goals.nohit_within_floor(*x[1:]) for x in nohit]
        ops = [x[0] for x in nohit]
        if not all(oks):
            verdict = "gilstatd measurably above the floor"
        elif all(costs.no_hit(gd, op) for op in ops):
            verdict = "no probe hit in either"
        else:
            verdict = "floor within noise"
        parts.append("%s: %s (gilstatd %s against the floor's %s, noise %s)" % (
            ", ".join(SHORT[op] for op in ops), verdict,
            " / ".join(fmt.added(x[1]) for x in nohit),
            " / ".join(fmt.added(x[2]) for x in nohit),
            " / ".join("±" + fmt.ns(x[3]) for x in nohit)))
    return Goal(d.default_goal_ok(), DEFAULT_GOAL, "; ".join(parts))


def bpftrace_goal(d):
    costs, gd, gc = d.costs, "gilstatd-default", "gilstatd-counting"
    if not costs.has("bpftrace"):
        return Goal(None, BPFTRACE_GOAL, "not measured: bpftrace missing")
    q = costs.ratio("bpftrace", gd, "pair").value
    return Goal(goals.bpftrace_cheaper(q), BPFTRACE_GOAL + " (default mode)",
                "%s (bpftrace %s, gilstatd default %s%s); counting mode, for information: %s "
                "(gilstatd counting %s)" % (
                    ratio_text(costs, "bpftrace", gd, "pair"),
                    fmt.added(costs.median_added("bpftrace", "pair")),
                    fmt.added(costs.median_added(gd, "pair")),
                    ("; no probe hit, noise ±%s" % fmt.ns(costs.noise(gd, "pair")))
                    if costs.negligible(gd, "pair") else "",
                    ratio_text(costs, "bpftrace", gc, "pair"),
                    fmt.added(costs.median_added(gc, "pair"))))


def handoff_goal(d):
    """The contended handoff (pingpong): bpftrace's added time over gilstatd default's."""
    costs, gd = d.costs, "gilstatd-default"
    if not costs.has("bpftrace"):
        return Goal(None, HANDOFF_GOAL, "not measured: bpftrace missing")
    q = costs.ratio("bpftrace", gd, "pingpong").value
    return Goal(goals.bpftrace_cheaper(q), HANDOFF_GOAL,
                "%s (bpftrace %s, gilstatd default %s; empty programs at the default sites %s)"
                % (ratio_text(costs, "bpftrace", gd, "pingpong"),
                   fmt.added(costs.median_added("bpftrace", "pingpong")),
                   fmt.added(costs.median_added(gd, "pingpong")),
                   fmt.added(costs.median_added("floor-default", "pingpong"))))
