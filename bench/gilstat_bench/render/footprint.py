"""Section 4's Markdown and goals (data: section_footprint.FootprintData; section 1's data,
when measured, for the cost of a pair and the uprobes per process)."""

from .. import fmt, goals
from ..goals import Goal
from ..section_cost import MODES
from ..stats import median

INTRO = (
    "%d copies of `gilstat_bench_semloop idle` (each: 4 semaphores, 6 semaphore operations "
    "every 100 ms, one semaphore handed between two threads) are the targets of one "
    "gilstatd (`targets: [{cmdline: …}]`, default mode, `labels: {pid: true}` so that "
    "every process has its own series), started after them.\n")

LOAD = (
    "**Load.** One more process, `gilstat_bench_semloop load`, performs uncontended "
    "post+wait pairs on 2 threads (each its own semaphore), paced to %s lock events/s in "
    "all for %g s, and reports the exact number of pairs it did. Default mode sees none of "
    "them (no probe on an uncontended operation, and no acquisitions counter), so the "
    "count is checked by a second gilstatd in **counting mode** attached to the load "
    "process only (`targets: [{pid: …}]`), which counts every acquisition. The load "
    "process is a target of the %d-process daemon as well. A *lock event* is one probed "
    "semaphore operation: a post+wait pair is two (the post and the acquisition).\n")

STOPPING = (
    "Stopping destroys the BPF links of every attached process, and the kernel waits for "
    "grace periods before it lets a uprobe link go: one after another under a kernel-wide "
    "mutex for perf-event uprobes (kernels before 6.6), shared by the uprobe_multi links "
    "that gilstatd closes together (docs/PROBES.md, \"Nothing left behind\")%s. The benchmark "
    "waits at most %g s for a stop, then kills the daemon (the kernel goes on releasing "
    "its links in the background) and estimates the total from the pace at which the "
    "daemon's BPF link file descriptors were going.\n")

LOAD_GOAL = "no lost counts at 1 M lock events/s (counting mode)"
DEMO_GOAL = ("the embedded default (scripts/run.sh's demo): gilstatd ≤ 1.0 CPU on average, "
             "the GIL contended, handed off and switched in every 1 s window")

DEMO = (
    "**The embedded default.** gilstatd started with no configuration (the demo of "
    "`scripts/run.sh`: the hosted runtime on its paced convoy, watching itself), its CPU "
    "(user + system, /proc) over %g s once started, and the increase of the hosted GIL's "
    "counters (`source=\"runtime\"`) in each 1 s window:\n")


def demo_lines(demo):
    if demo is None:
        return []
    lines = [DEMO % demo.seconds, "| window | contended | handoffs | switches |",
             "|---:|---:|---:|---:|"]
    for i, w in enumerate(demo.windows):
        lines.append("| %d | %s |" % (i + 1, " | ".join(
            fmt.thousands(w[name]) for name in (
                "gilstat_lock_contended_total", "gilstat_lock_handoffs_total",
                "gilstat_gil_switches_total"))))
    lines.append("\ngilstatd's CPU: %.2f CPU on average.\n" % demo.cpus)
    return lines


def demo_goal(demo):
    if demo is None:
        return Goal(None, DEMO_GOAL, "not measured")
    return Goal(goals.demo_cpu_within(demo.cpus) and demo.every_window_grows, DEMO_GOAL,
                "%.2f CPU; %s" % (demo.cpus, "every counter grew in each of the %d windows"
                                  % len(demo.windows) if demo.every_window_grows
                                  else "a counter did NOT grow in some window"))


def stop_text(stop, cap):
    if stop.seconds is not None:
        return "%.1f s (%d BPF links)" % (stop.seconds, stop.links)
    return "> %g s: killed, %d of its %d BPF links still held%s" % (
        cap, stop.left, stop.links, ("; about %.0f s in all at the pace they went"
                                     % stop.estimate) if stop.estimate else "")


def daemon_rows(d):
    lat = d.load.scrape_latencies
    rows = [
        ("time from start until all %d processes are attached" % d.targets,
         "%.2f s" % d.attach_s),
        ("resident memory (VmRSS) after attaching / after %d scrapes / after the load"
         % d.scrapes, "%.1f / %.1f / %.1f MB" % (d.rss_start / 1e6, d.rss_scraped / 1e6,
                                                 d.rss_end / 1e6)),
        ("peak resident memory (VmHWM)", "%.1f MB" % (d.hwm / 1e6)),
        ("CPU while idle (%g s, no scrapes)" % d.idle_s, "%.2f%% of one CPU" % (100 * d.idle_cpu)),
        ("scrape latency, %d sequential GETs: median / p99" % d.scrapes,
         "%.1f / %.1f ms" % (1e3 * d.scrape_p50, 1e3 * d.scrape_p99)),
        ("samples per scrape (lines) / of them `gilstat_lock_*` / bytes",
         "%d / %d / %s" % (d.samples, d.lock_samples, "{:,}".format(d.scrape_bytes))),
        ("gilstatd's CPU during the load (scraped once a second)",
         "%.2f%% of one CPU" % (100 * d.load.cpu_default)),
    ]
    if lat:
        rows.append(("scrape latency during the load: median / max", "%.1f / %.1f ms" % (
            1e3 * median(lat), 1e3 * max(lat))))
    rows.append(("stop (SIGTERM until exit) with %d processes attached" % d.targets,
                 stop_text(d.stop, d.stop_cap_s)))
    return rows


def load_rows(d, cost):
    ld = d.load
    rows = [
        ("post+wait pairs done", "%s in %.2f s = **%s lock events/s** (%s requested)" % (
            "{:,}".format(ld.pairs), ld.elapsed, fmt.thousands(ld.events_per_s),
            fmt.thousands(d.load_events))),
        ("counting-mode gilstatd: acquisitions / wait histogram count", "%s / %s (exact: %s)" % (
            fmt.thousands(ld.acquisitions or 0), fmt.thousands(ld.wait_count or 0),
            "{:,}".format(ld.pairs))),
        ("default-mode gilstatd: contended acquisitions of the load process",
         fmt.thousands(ld.contended_default or 0)),
        ("map-full drops / lost probe events during the load (both daemons)",
         "%d / %d" % (ld.map_full, ld.lost)),
        ("the load process's CPU time per post+wait pair",
         "%s (section 1, counting mode: %s more than nothing's %s)" % (
             fmt.ns(ld.pair_cpu_ns),
             fmt.ns(cost.costs.median_added("gilstatd-counting", "pair") if cost else None),
             fmt.ns(cost.costs.median_time("none", "pair") if cost else None))),
        ("counting-mode gilstatd's CPU during the load",
         "%.2f%% of one CPU" % (100 * ld.cpu_counting)),
        ("stop (SIGTERM until exit) of the counting-mode gilstatd, 1 process",
         stop_text(ld.stop_counting, d.stop_cap_s)),
    ]
    return rows


def table(rows):
    return ["| measure | value |", "|---|---:|"] + ["| %s | %s |" % r for r in rows] + [""]


def render(d, cost=None):
    """(Markdown, goals) of section 4."""
    ld = d.load
    uprobes = cost.uprobes if cost else {}
    lines = ["## 4. Daemon footprint\n", INTRO % d.targets]
    lines += table(daemon_rows(d))
    lines.append(LOAD % (fmt.thousands(d.load_events), d.load_s, d.targets))
    lines += table(load_rows(d, cost))
    lines.append(STOPPING % (
        ("; uprobes per process (section 1): %s" % ", ".join(
            "%s mode %s" % (m, uprobes[m]) for m in MODES if m in uprobes)) if uprobes else "",
        d.stop_cap_s))
    lines += demo_lines(d.demo)
    exact, reached = load_verdict(d)
    out = [
        Goal(goals.rss_within(d.hwm), "daemon RSS ≤ 30 MB",
             "peak %.1f MB (VmHWM) with %d targets" % (d.hwm / 1e6, d.targets)),
        Goal(goals.scrape_within(d.scrape_p99), "scrape ≤ 50 ms with %d targets" % d.targets,
             "p99 %.1f ms, median %.1f ms, %d samples" % (1e3 * d.scrape_p99,
                                                          1e3 * d.scrape_p50, d.samples)),
        Goal(exact and reached, LOAD_GOAL, "%s lock events/s sustained%s; counts %s" % (
            fmt.thousands(ld.events_per_s),
            "" if reached else " (the most this machine did: %s requested)"
            % fmt.thousands(d.load_events),
            "exact" if exact else "NOT exact (%s acquisitions for %s pairs, %d map-full, %d lost)"
            % (ld.acquisitions, ld.pairs, ld.map_full, ld.lost))),
        demo_goal(d.demo),
    ]
    return "\n".join(lines), out


def load_verdict(d):
    ld = d.load
    return goals.load_counted(ld.acquisitions, ld.wait_count, ld.pairs, ld.map_full, ld.lost,
                              ld.events_per_s, d.load_events)
