"""Paragraphs for the missed goals, from this run's figures."""

from .. import fmt
from ..section_cost import SHORT
from .. import goals
from ..stats import median
from . import cpython as cpython_render
from . import footprint as footprint_render
from . import io as io_render
from .cost import BPFTRACE_GOAL, DEFAULT_GOAL, HANDOFF_GOAL


def default_vs_floor(cost):
    c = cost.costs
    hit, _ = cost.default_goal()
    op = hit[0][0] if hit else "pingpong"
    return (
        "- **Default mode against its floor.** On an operation that reaches the slow path "
        "(%s) the floor is the slow path's entry uprobe and return probe and the scheduler's "
        "switch and wake-up tracepoints (the syscall entry tracepoint where the scheduler "
        "programs cannot load) (%s added here). gilstatd's programs add their "
        "work on top: the entry takes the thread's array entry and stamps the start, the "
        "switch into the futex wait marks the call and counts a sleeper, the wake stamps the "
        "semaphore's slot, the return takes the stamp and updates the semaphore's per-CPU "
        "statistics (wait histogram, blocked time, handoff latency): %s here. Which "
        "program costs what: `sysctl "
        "kernel.bpf_stats_enabled=1`, then `bpftool prog` (run_time_ns / run_cnt).\n" % (
            SHORT.get(op, op), fmt.added(c.median_added("floor-default", op)),
            fmt.added(c.median_added("gilstatd-default", op))))


def against_bpftrace(cost):
    return (
        "- **Against bpftrace.** In default mode an uncontended post+wait pair hits no "
        "probe of gilstatd: its added time is noise, and the ratio a lower bound, "
        "bpftrace's added time (%s) over the noise bound. A miss here means the noise of "
        "this run was more than a tenth of bpftrace's cost: re-run on a quieter machine.\n"
        % fmt.added(cost.costs.median_added("bpftrace", "pair")))


def handoff_against_bpftrace(cost):
    c = cost.costs
    floor = c.median_added("floor-default", "pingpong")
    ours = c.median_added("gilstatd-default", "pingpong")
    theirs = c.median_added("bpftrace", "pingpong")
    return (
        "- **A contended handoff against bpftrace.** gilstatd's default mode adds %s per "
        "handoff, the empty programs at its sites %s of it: the slow path's entry trap and "
        "return and the scheduler's tracepoints, what the kernel charges for the probes "
        "themselves; gilstatd's programs are the difference. bpftrace's one-liner adds %s (an "
        "entry and return on `sem_wait` and a single-stepped `sem_post`). A tenth of that is "
        "below the floor of one uprobe trap on this machine, and no program work can make it "
        "up: the goal is met only where a trap costs well under a microsecond (on a VM of "
        "the same kind whose emulated trap cost ~0.4 µs, gilstatd added ~0.7 µs per handoff "
        "and bpftrace ~15 µs).\n"
        % (fmt.added(ours), fmt.added(floor), fmt.added(theirs)))


def cpython27(py27):
    return (
        "- **CPython 2.7, two threads.** Its GIL is a semaphore released and re-acquired "
        "every 100 ticks. In default mode the probes see only the acquisitions that find it "
        "taken (a thread entering the slow path, where it takes the GIL in sem_wait's loop or "
        "sleeps in a futex until the holder's release wakes it) and the futex calls, and with "
        "two CPU-bound threads many releases wake the other thread. Empty programs at the default-mode sites slow the two-thread "
        "countdown by %s, gilstatd by %s: the difference is the work of gilstatd's "
        "programs at those hits (the slow path's entry, the futex waits and wakes seen "
        "from the scheduler: about 1 M futex calls and 200 k slow-path calls per second of the 2-thread "
        "countdown, "
        "which the programs' work turns into several per cent of its CPU time, most of it "
        "cache misses after each sleep). Counting mode, which probes every GIL operation: "
        "floor %s, gilstatd %s.\n"
        % (fmt.pct(py27.get("floor-default")), fmt.pct(py27.get("gilstatd-default")),
           fmt.pct(py27.get("floor-counting")), fmt.pct(py27.get("gilstatd-counting"))))


def cpython3(noise):
    return (
        "- **CPython 3.** In the default configuration the probes of a CPython 3 process are "
        "hit at contended GIL waits (the GIL condvar's wait: at most one per 5 ms switch "
        "interval and waiting thread under contention) and at contended semaphore waits, not "
        "per bytecode nor per uncontended release. The "
        "single-thread countdown has no GIL switch at all, so its slowdown is the noise of "
        "the method: %s in this run. A figure of the size of that noise is not a probe "
        "cost; re-run on a quieter machine.\n" % noise)


def io_services(io):
    http = [m.program_ns.get("gilstatd-default", {}).get("http") for m in io.runs]
    http = [v for v in http if v is not None]
    base = [median([v for v in m.cpu_values("none", "http") if v is not None]) for m in io.runs]
    base = [v for v in base if v is not None]
    return (
        "- **I/O-bound services.** The default configuration hits no uprobe on an uncontended "
        "GIL release and re-take, so the single-thread echo server pays nothing per request "
        "(its figures are the noise of the method). The threaded HTTP server starts a thread "
        "per request, and each start costs: the request's thread start waits on an `Event` "
        "(a contended semaphore wait: one uprobe at the slow path), about every other "
        "request has a contended GIL wait (the condvar's entry and return probes), and the "
        "scheduler's programs run at its ~9 context switches and ~4 wake-ups. gilstatd's "
        "programs ran %s per request (median over the interpreters, the programs table "
        "above), the traps of those probes come on top, against %s of the server's CPU time "
        "per request. With a thread per request that is a few per cent, and a threaded "
        "server answering from a thread pool pays it only at its contended waits. What is "
        "left to cut: the entry traps (a return probe costs much less than an entry trap on "
        "this kernel, whose return trampoline is a system call) and the programs' map "
        "lookups.\n"
        % (fmt.ns(median(http)) if http else "–", "%.0f µs" % median(base) if base else "–"))


def exact_cost(io):
    runs = io_render.exact_runs(io)
    echo = [io_render.exact_cost(m, "echo")[0] for m in runs]
    echo = [c for c in echo if c is not None]
    progs = [m.program_ns.get("gilstatd-exact", {}).get("echo") for m in runs]
    progs = [v / 2 for v in progs if v is not None]
    return (
        "- **Exact configuration.** Every GIL release/acquire hits two probes (`take_gil`'s "
        "and `drop_gil`'s entries; `take_gil`'s return is not probed where the GIL condvar "
        "is); the programs ran %s of it (the echo server's programs per request over its two "
        "releases), the two traps into the kernel most of the rest: %s per release/acquire "
        "in all (median), against ≤ %.2f µs. Less needs fewer traps still: the uprobe trap "
        "itself is the cost. The exact configuration is an opt-in for that reason.\n" % (
            fmt.ns(median(progs)) if progs else "–",
            "%.2f µs" % median(echo) if echo else "–", goals.EXACT_COST_MAX_US))


def spawn_cost(host):
    def costs(config):
        total, runs = host.program_ns.get(config, {}).get("spawn", (None, {}))
        return total, ", ".join("`%s` %g × %s" % (name, round(n, 1), fmt.ns(t))
                                for name, (n, t) in sorted(runs.items()))

    total, parts = costs("gilstatd")
    floor, floor_parts = costs("floor")
    return (
        "- **Process tracking.** A fork+exec+exit of a process gilstatd does not watch runs "
        "the process-tracking programs at its exec (its pid in a queue per CPU that gilstatd "
        "reads on its drain timer: a new image may match a target; and the rename an exec does, "
        "which returns at once), at its fork and its exit (the process's id against a mask of "
        "the watched ones: only the forks and exits of attached processes are records) "
        "and the scheduler's programs at its context switches "
        "and wake-ups (the waker's id against the mask of attached processes first): %s in all "
        "here (%s); empty programs at the same tracepoints: %s (%s). Each run's time includes "
        "the kernel statistics' own clock read, and the added CPU time is "
        "far below its noise: the goal is decided by the programs' time, which moves by tens "
        "of per cent from run to run on a busy machine.\n" % (
            fmt.ns(total) if total is not None else "–", parts or "–",
            fmt.ns(floor) if floor is not None else "–", floor_parts or "–"))


def load_rate(footprint, cost):
    ld = footprint.load
    exact, reached = footprint_render.load_verdict(footprint)
    if reached:
        return None
    first = ""
    pair = cost.costs.median_added("gilstatd-counting", "pair") if cost else None
    if pair:
        base = cost.costs.median_time("none", "pair") or 0
        first = (
            "In counting mode a probed post+wait pair costs its thread %s (section 1, one "
            "process attached): one CPU could do ~%s events/s, two CPUs twice that if "
            "nothing else ran. " % (fmt.ns(pair + base), fmt.thousands(2e9 / (pair + base))))
    return (
        "- **1 M lock events/s.** %sThe load process paid %s of CPU per pair and "
        "sustained %s events/s; the rest of the time its threads waited for a CPU (the "
        "machine's load average is in the header). The counts at the rate reached are "
        "%s.\n" % (first, fmt.ns(ld.pair_cpu_ns), fmt.thousands(ld.events_per_s),
                    "exact" if exact else "NOT exact"))


def explanations(missed, cost=None, cpython=None, footprint=None, io=None, host=None):
    """`missed`: the goals' texts that were missed; the sections' data (None: not run)."""
    def was_missed(prefix):
        return any(w.startswith(prefix) for w in missed)

    out = []
    if cost and was_missed(DEFAULT_GOAL):
        out.append(default_vs_floor(cost))
    if cost and was_missed(BPFTRACE_GOAL):
        out.append(against_bpftrace(cost))
    if cost and was_missed(HANDOFF_GOAL) and cost.costs.has("bpftrace"):
        out.append(handoff_against_bpftrace(cost))
    py27 = cpython.py27_countdown2() if cpython else None
    if py27 and was_missed(cpython_render.PY27_GOAL):
        out.append(cpython27(py27))
    noise = cpython_render.py3_noise(cpython) if cpython else ""
    if noise and was_missed(cpython_render.PY3_GOAL):
        out.append(cpython3(noise))
    if footprint and was_missed(footprint_render.LOAD_GOAL):
        para = load_rate(footprint, cost)
        if para:
            out.append(para)
    if io and was_missed(io_render.IO_GOAL):
        out.append(io_services(io))
    if io and was_missed(io_render.EXACT_GOAL):
        out.append(exact_cost(io))
    if host and any(w.startswith("non-target fork+exec+exit") for w in missed):
        out.append(spawn_cost(host))
    return out
