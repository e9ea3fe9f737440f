"""Section 5's Markdown and goals (data: section_io.IoData)."""

from .. import fmt, goals
from ..goals import Goal
from .judging import judging_note
from ..section_io import AB_CONCURRENCY, WORKLOADS
from ..stats import cost_per_release_us, median

INTRO = (
    "Each interpreter (every CPython under `/root/.pyenv/versions/`, Debian's "
    "`/usr/bin/python3.11`, stripped: no `take_gil` symbol, and Debian sid's 3.14 and 3.15, "
    "stripped, run in a chroot of scripts/sid_root.sh's root: `sid:/usr/bin/python3.X`) runs "
    "`bench/io_server.py serve` as **two identical long-lived processes, A and B**, each holding "
    "two servers on 127.0.0.1, measured one after the other: a **single-thread TCP echo "
    "server** (one thread: `recv`, `sendall`), driven by a client in another process sending "
    "64-byte messages one at a time on one connection (round trips/s, %g s per measurement), "
    "and the standard library's **threaded HTTP server** (`ThreadingHTTPServer`; "
    "`ThreadingMixIn` + `HTTPServer` where that class is missing) answering `GET /` under %s, "
    "%d concurrent connections, bounded by %d s and %s requests (requests/s; HTTP/1.0, a "
    "connection and a server thread per request). Both processes are bound to CPU 0 and the "
    "client or `ab` to CPU 1 (`taskset`; gilstatd is not bound); only one of them is loaded at "
    "a time. **Side by side:** in each round gilstatd (`runtime: {enabled: false}`, target "
    "`pid`) watches one of the two (A in even rounds, B in odd ones), started before and "
    "stopped after the measurements of its configuration, %g s after it attached; both "
    "servers are measured in that state, seconds apart, the watched one first in every other "
    "measurement, and a round's slowdown is the watched server's against the one beside it. "
    "On this machine kind the rate of one server moves by tens of per cent from one second "
    "to the next (the hypervisor, the neighbours); two servers measured seconds apart move "
    "together, and the comparison of the two with no daemon (the noise column: the spread of "
    "A against B over the rounds) shows what is left. A state without gilstatd is measured in "
    "every round too, in an order of states rotated from round to round; a figure is the "
    "median over %d rounds.\n")

OTHERS_NOTE = (
    "**What gilstatd costs a process it does not watch** (its programs on the scheduler's "
    "tracepoints run for every process on the host) is in both servers alike and the "
    "side-by-side comparison cancels it; it is measured as the unwatched server's slowdown "
    "against itself in the same round's state without gilstatd (between states, so as noisy "
    "as a comparison over time), and added to the goal's figure where it is positive: "
    "default configuration, pooled medians: %s.\n")

EXACT_NOTE = (
    "**The exact configuration** adds `%s` to the configuration (every GIL acquisition "
    "counted, hold-time histograms). %s The cost per release/acquire is the watched server's "
    "CPU time per request with the exact configuration less the unwatched one's beside it "
    "(median over the rounds; the table of the server's CPU time below), over the GIL "
    "acquisitions per request; where no CPU time was read, `(1/rate_watched − "
    "1/rate_unwatched)` instead, the time added to "
    "a server whose throughput is bound by its serial path. The acquisitions per request are "
    "those the exact configuration counted (`gilstat_lock_acquisitions_total{lock=\"gil\"}` "
    "over the requests served; 2 for the echo, around `recv` and `sendall`, where it counted "
    "none).\n")

PROGRAMS_NOTE = (
    "**gilstatd's BPF programs per request**, from the kernel's BPF statistics "
    "(`kernel.bpf_stats_enabled`, one measurement per configuration after the rounds): the "
    "time its programs ran, wherever the kernel ran them (the server's threads, the client, "
    "the scheduler's tracepoints), over the requests served. It does not include a uprobe's "
    "trap into the kernel or a uretprobe's return trampoline (section 1's floor columns "
    "measure those), which only the exact configuration hits here; the default "
    "configuration hits no uprobe on an uncontended GIL release and re-take.\n")

EXACT_GOAL = ("Exact mode's cost per release/acquire reported, and ≤ %.2f µs (half of the "
                   "~4.5 µs measured when the cost issue was filed)" % goals.EXACT_COST_MAX_US)
IO_GOAL = ("I/O-bound echo and threaded HTTP server ≤ 3% slower with gilstatd in the default "
           "configuration, every interpreter and method")


def noise(m, w):
    """The spread over the rounds of server A's rate against B's with no gilstatd."""
    xs = m.twin_rounds(w)
    return max(xs) - min(xs) if xs else None


def exact_cost(m, w):
    """(µs per release/acquire or None, acquisitions per request, counted, from CPU time)."""
    per_request, counted = m.releases_per_request(w)
    if not per_request:
        return None, per_request, counted, False
    added = median([v for v in m.cpu_added_us("gilstatd-exact", w) if v is not None])
    if added is not None:
        return added / per_request, per_request, counted, True
    pairs = m.pairs("gilstatd-exact", w)
    cost = cost_per_release_us(median([u for _, u in pairs]), median([v for v, _ in pairs]),
                               per_request) if pairs else None
    return cost, per_request, counted, False


def has_stacks(d):
    return any("gilstatd-stacks" in rr for m in d.runs for rr in m.rounds)


def rate_cell(m, config, w):
    rate = m.median_rate(config, w)
    return "–" if rate is None else "%s (%s)" % ("{:,.0f}/s".format(rate),
                                               fmt.pct(m.slowdown(config, w)))


def row(m, w, stacks=False):
    cost, per_request, counted, _ = exact_cost(m, w)
    spread = noise(m, w)
    return "| %s | %s | %s | %s | %s |%s %s | %s | %s |" % (
        m.version, w, "{:,.0f}/s".format(m.median_rate("none", w)),
        rate_cell(m, "gilstatd-default", w), rate_cell(m, "gilstatd-exact", w),
        " %s |" % rate_cell(m, "gilstatd-stacks", w) if stacks else "",
        "±%.1f%%" % (100 * spread) if spread is not None else "–",
        ("%.1f" % per_request if counted else "%g (assumed)" % per_request)
        if per_request else "–",
        "%.2f µs" % cost if cost is not None else "–")


STACKS_NOTE = (
    "**gilstatd stacks** is the default configuration with `%s` (opt-in: the Python stacks of the "
    "waiter and of the holder at every contended GIL wait, CPython 3.11+; docs/PYTHON.md "
    "\"Stacks\"), judged like the default configuration for information, not as a goal: %s.\n")


def stacks_note(d):
    rows = [goals.RowSlowdown("CPython %s, %s" % (m.version, w), w,
                              m.slowdown_rounds("gilstatd-stacks", w))
            for m in d.runs for w in WORKLOADS if m.values("gilstatd-stacks", w)]
    j = goals.slowdowns_within(rows, goals.IO_SLOWDOWN_MAX)
    measured = j.describe("%d interpreters" % len(d.runs)) if j.ok is not None else "not measured"
    return STACKS_NOTE % ("probes: {python_stacks: true}", measured)


CPU_NOTE = (
    "**The server's CPU time per request**, measured in the same rounds: the target's user and "
    "system time, all its threads, those that ended too (read from %s) over "
    "the requests served; the uprobe traps and the BPF programs that run in the server's "
    "threads are in it, gilstatd's own CPU time and the programs run in `ab` or the client are "
    "not. A figure is the median of the rounds (the watched server's; without: the mean of "
    "the two); the slowdown of a round is the watched server's against the unwatched one "
    "beside it. The rate also moves with the load "
    "generator's share of its CPU and with gilstatd's own CPU time; this one does not, but "
    "the machine's other work still moves it (caches, the hypervisor). Judged like the rates, "
    "for information: %s.\n")


def cpu_rows(d, config):
    return [goals.RowSlowdown("CPython %s, %s" % (m.version, w), w,
                              m.cpu_slowdown_rounds(config, w))
            for m in d.runs for w in WORKLOADS if m.cpu_values(config, w)]


def cpu_cell(m, config, w):
    vals = [v for v in m.cpu_values(config, w) if v is not None]
    if not vals:
        return "–"
    if config == "none":
        return "%.1f µs" % median(vals)
    ups = [v for v in m.cpu_slowdown_rounds(config, w) if v is not None]
    return "%.1f µs (%s)" % (median(vals), fmt.pct(median(ups)) if ups else "–")


def cpu_table(d):
    """The server's CPU time per request, per configuration."""
    if not any(v is not None for m in d.runs for w in WORKLOADS
               for v in m.cpu_values("none", w)):
        return []
    configs = ["none", "gilstatd-default", "gilstatd-exact"] + (
        ["gilstatd-stacks"] if has_stacks(d) else [])
    j = goals.slowdowns_within(cpu_rows(d, "gilstatd-default"), goals.IO_SLOWDOWN_MAX)
    lines = [CPU_NOTE % (d.cpu_source or "?", "default configuration: " + j.describe("%d interpreters" % len(d.runs))
                         if j.ok is not None else "not measured"),
             "| CPython | workload | without | %s |" % " | ".join(
                 "gilstatd " + c[9:] for c in configs[1:]),
             "|---|---|%s" % ("---:|" * len(configs))]
    for m in d.runs:
        for w in WORKLOADS:
            lines.append("| %s | %s | %s |" % (m.version, w, " | ".join(
                cpu_cell(m, c, w) for c in configs)))
    lines.append("")
    return lines


def program_table(d):
    """The time gilstatd's BPF programs ran per request (kernel statistics): the part of the
    cost that does not depend on the machine's noise."""
    if not any(m.program_ns for m in d.runs):
        return []
    lines = [PROGRAMS_NOTE,
             "| CPython | workload | default: programs per request | exact: programs per "
             "request | stacks: programs per request |",
             "|---|---|---:|---:|---:|"]
    for m in d.runs:
        for w in WORKLOADS:
            cells = [m.program_ns.get(c, {}).get(w) for c in ("gilstatd-default",
                                                               "gilstatd-exact",
                                                               "gilstatd-stacks")]
            lines.append("| %s | %s | %s |" % (m.version, w, " | ".join(
                "–" if v is None else fmt.ns(v) for v in cells)))
    lines.append("")
    return lines


def render(d):
    """(Markdown, goals) of section 5."""
    lines = ["## 5. I/O-bound services\n",
             INTRO % (d.io_s, d.load_generator, AB_CONCURRENCY, d.io_http_s, fmt.thousands(d.io_http_max),
                      d.io_settle_s, d.rounds),
             judging_note(goals.IO_SLOWDOWN_MAX, d.rounds),
             EXACT_NOTE % (d.exact_probes.strip(),
                           "" if d.exact_key else
                           "**This build does not have that key** (gilstatd refused it), so "
                           "the exact column ran with the default probes section: for "
                           "interpreters with `take_gil` symbols today's default *is* the "
                           "exact `take_gil` method, elsewhere it is the default method."),
             "| CPython | workload | without | gilstatd default | gilstatd exact |%s noise | "
             "GIL acquisitions / request | exact: cost per release/acquire |"
             % (" gilstatd stacks |" if has_stacks(d) else ""),
             "|---|---|---:|---:|---:|%s---:|---:|---:|" % ("---:|" if has_stacks(d) else "")]
    for m in d.runs:
        for w in WORKLOADS:
            lines.append(row(m, w, has_stacks(d)))
    lines.append("")
    lines.append(OTHERS_NOTE % pooled_text(others_pooled(d)))
    if has_stacks(d):
        lines.append(stacks_note(d))
    lines += cpu_table(d)
    lines += program_table(d)
    for m in d.runs:
        lines.append("- CPython %s (`%s`): %s" % (m.version, m.path, "; ".join(
            "%s: %s" % (c[9:], s) for c, s in sorted(m.sites.items()))))
    lines.append("")
    return "\n".join(lines), [io_goal(d), exact_goal(d)]


def others_pooled(d, config="gilstatd-default"):
    """{workload: the pooled median of the unwatched server's slowdown against itself without
    gilstatd} (None where nothing was measured)."""
    out = {w: [] for w in WORKLOADS}
    for m in d.runs:
        for w in WORKLOADS:
            out[w].extend(m.others_rounds(config, w))
    return {w: median(v) for w, v in out.items()}


def pooled_text(pooled):
    return ", ".join("%s %s" % (w, "–" if p is None else fmt.pct(p)) for w, p in pooled.items())


def io_goal(d):
    j = goals.slowdowns_within([
        goals.RowSlowdown("CPython %s, %s" % (m.version, w), w,
                          m.slowdown_rounds("gilstatd-default", w))
        for m in d.runs for w in WORKLOADS], goals.IO_SLOWDOWN_MAX)
    if j.ok is None:
        return Goal(None, IO_GOAL, "no interpreter measured")
    # What the side-by-side comparison cancels (the cost to every process on the host) is
    # added to the pooled figure where it came out positive.
    others = others_pooled(d)
    total = {w: None if p is None else p + max(0.0, others.get(w) or 0.0)
             for w, p in j.pooled.items()}
    ok = j.ok and all(t is not None and t <= goals.IO_SLOWDOWN_MAX for t in total.values())
    cpu = goals.slowdowns_within(cpu_rows(d, "gilstatd-default"), goals.IO_SLOWDOWN_MAX)
    return Goal(ok, IO_GOAL, j.describe("%d interpreters" % len(d.runs)) + (
        "; with the cost to a process it does not watch added (where positive): %s"
        % pooled_text(total)) + (
        "; for information, the server's CPU time per request (pooled median): "
        + pooled_text(cpu.pooled) if cpu.ok is not None else ""))


def exact_runs(d):
    """The interpreters where the exact configuration probes every release/acquire (method
    `take_gil`); all of them where none says (elsewhere exact is the default's method)."""
    probed = [m for m in d.runs if "method `take_gil`" in m.sites.get("gilstatd-exact", "")]
    return probed or d.runs


def exact_goal(d):
    costs = [(exact_cost(m, w), m.version, w) for m in d.runs for w in WORKLOADS]
    if goals.exact_cost_reported([c[0] for c, _, _ in costs]) is None:
        return Goal(None, EXACT_GOAL, "no interpreter measured")
    runs = exact_runs(d)
    echo = [exact_cost(m, "echo") for m in runs]
    echo = [c for c in echo if c[0] is not None]
    ok = goals.exact_cost_within([c[0] for c in echo])
    from_cpu = sum(1 for c in echo if c[3])
    return Goal(bool(ok), EXACT_GOAL, "echo: median %s per release/acquire over the %d "
                "interpreters %s (%s)%s" % (
                    "%.2f µs" % median([c[0] for c in echo]) if echo else "–", len(echo),
                    "where it probes every release/acquire (`take_gil`)"
                    if len(runs) < len(d.runs) else "measured",
                    "from the server's CPU time" if from_cpu == len(echo) else
                    "%d of them from the server's CPU time, the others from the rates" % from_cpu,
                    "" if d.exact_key else
                    " (the exact key is missing in this build: the default ran)"))
