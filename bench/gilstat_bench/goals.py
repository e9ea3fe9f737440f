"""The report's goals: the thresholds and the PASS/MISS decisions, from measured figures."""

from dataclasses import dataclass

from . import fmt
from .stats import median, rounds_needed_above  # noqa: F401 (rounds_needed_above: render)

DEFAULT_OVER_FLOOR_MAX = 1.25      # section 1: gilstatd default / its floor, per operation
BPFTRACE_OVER_DEFAULT_MIN = 10     # section 1: bpftrace / gilstatd default, post+wait pair
CPYTHON3_SLOWDOWN_MAX = 0.03       # section 2: worst judged CPython 3 workload
CPYTHON27_SLOWDOWN_MAX = 0.25      # section 2: CPython 2.7 two-thread countdown
RSS_MAX_BYTES = 30e6               # section 4: peak resident memory
SCRAPE_P99_MAX_S = 0.050           # section 4
LOAD_REACHED_FRACTION = 0.97       # section 4: of the requested lock events/s
DEMO_CPU_MAX = 1.0                 # section 4: gilstatd on its embedded default, in CPUs
IO_SLOWDOWN_MAX = 0.03             # section 5: I/O-bound services, default configuration
SYSCALL_ADDED_MAX_NS = 20          # section 6: a non-target's syscall (not futex)
SPAWN_ADDED_MAX_US = 2             # section 6: a non-target's fork+exec+exit
UTIL_DIFF_MAX = 0.10               # section 7: sampled GIL utilization vs the exact method
# Sections 2 and 5: a row (interpreter, workload) is above a slowdown limit when a one-sided
# sign test over its rounds says so at this level.
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Goal:
    """ok: True (PASS), False (MISS) or None (not measured)."""
    ok: object
    what: str
    measured: str

    @property
    def verdict(self):
        return "PASS" if self.ok else ("MISS" if self.ok is False else "n/a")


def bpftrace_cheaper(ratio):
    """bpftrace's added time over gilstatd default's on a pair; a missing ratio is a miss."""
    return ratio is not None and ratio >= BPFTRACE_OVER_DEFAULT_MIN


def cpython27_within(slowdown):
    return slowdown <= CPYTHON27_SLOWDOWN_MAX


def rss_within(peak_bytes):
    return peak_bytes <= RSS_MAX_BYTES


def scrape_within(p99_s):
    return p99_s <= SCRAPE_P99_MAX_S


def added_within(added, noise, program_time, limit):
    """Section 6: what gilstatd adds to a non-target's operation is at most `limit` (ns).
    added, noise: the interleaved CPU-time figures; program_time: the time gilstatd's BPF
    programs ran per operation (the kernel's statistics). Decided by the CPU time where its
    noise can tell `limit` apart, else by the programs' time (a miss anyway when the programs
    alone exceed it); not measured is a miss."""
    if program_time is not None and program_time > limit:
        return False
    if added is not None and noise is not None and noise <= limit:
        return added <= limit
    return program_time is not None


def default_over_floor(hit_ratios, nohit_costs):
    """Section 1's first goal. hit_ratios: gilstatd default / floor on the operations whose
    sites are hit (None where no ratio could be taken); nohit_costs: (gilstatd added, floor
    added, noise) on the others, where gilstatd must add nothing measurable beyond the floor.
    PASS only if something was judged and every judgement holds."""
    judged = [q is not None and q <= DEFAULT_OVER_FLOOR_MAX for q in hit_ratios]
    judged += [nohit_within_floor(g, f, noise) for g, f, noise in nohit_costs]
    return bool(judged) and all(judged)


def nohit_within_floor(gilstatd_added, floor_added, noise):
    return gilstatd_added <= max(floor_added, 0) + noise


def load_counted(acquisitions, wait_count, pairs, map_full, lost, events_per_s, wanted):
    """(exact, reached): every pair counted once with no drop, and the rate reached."""
    exact = acquisitions == pairs and wait_count == pairs and map_full == 0 and lost == 0
    return exact, events_per_s >= LOAD_REACHED_FRACTION * wanted


def all_met(goals):
    """The run's exit status: 0 when no goal is missed (not measured is not missed)."""
    return 0 if all(g.ok is not False for g in goals) else 1


def demo_cpu_within(cpus):
    """The embedded default's demo: at most one CPU on average; not measured is not a pass."""
    return cpus is not None and cpus <= DEMO_CPU_MAX


# The exact configuration's cost per GIL release/acquire: at most half of the ~4.5 µs (4–5 µs)
# measured on this machine kind when the cost issue was filed.
EXACT_COST_MAX_US = 2.25


def exact_cost_within(costs, limit=EXACT_COST_MAX_US):
    """Whether the median of the measured costs per release/acquire (µs) is at most `limit`
    (None: nothing measured)."""
    got = [c for c in costs if c is not None]
    if not got:
        return None
    return median(got) <= limit


def exact_cost_reported(costs):
    """Section 5's second goal: the exact configuration's cost per GIL release/acquire was
    computed for at least one interpreter (None: nothing measured)."""
    if not costs:
        return None
    return any(c is not None for c in costs)


@dataclass(frozen=True)
class RowSlowdown:
    """One judged row: its label (e.g. "CPython 3.12.1, http"), workload and per-round
    slowdowns."""
    label: str
    workload: str
    rounds: list

    @property
    def median(self):
        return median(self.rounds)

    def above(self, limit):
        """How many rounds were slower than `limit`."""
        return sum(1 for v in self.rounds if v is None or v > limit)


@dataclass(frozen=True)
class SlowdownJudgement:
    """ok: True/False, None when nothing was measured. pooled: {workload: median over every
    round of every row of that workload}; above: the rows a sign test puts above the limit;
    worst: the row of the highest median; needed: rounds above the limit that make a row
    significant (None: too few rounds to tell a row alone)."""
    ok: object
    pooled: dict
    above: list
    worst: RowSlowdown
    needed: object
    limit: float = 0

    def describe(self, rows_of):
        """The goal's measured text; rows_of names what the rows are ("12 interpreters")."""
        limit, n = fmt.pct(self.limit), len(self.worst.rounds)
        if self.above:
            rows = "rows above %s: %s" % (limit, ", ".join(
                "%s (%s, %d of %d rounds)" % (r.label, fmt.pct(r.median), r.above(self.limit),
                                              len(r.rounds)) for r in self.above))
        elif self.needed is None:
            rows = "%d rounds cannot put one row alone above %s" % (n, limit)
        else:
            rows = "no row significantly above %s (sign test at %g%%: %d of %d rounds above)" % (
                limit, 100 * SIGNIFICANCE, self.needed, n)
        pooled = ", ".join("%s %s" % (w, fmt.pct(p)) for w, p in self.pooled.items())
        return "median over %s: %s; %s; highest row median %s (%s, %d of %d rounds above %s)" % (
            rows_of, pooled, rows, fmt.pct(self.worst.median), self.worst.label,
            self.worst.above(self.limit), n, limit)


def slowdowns_within(rows, limit, alpha=SIGNIFICANCE):
    """Sections 2 and 5: whether gilstatd slows every row by at most `limit`, judged from
    noisy per-round slowdowns. The highest of many rows' medians is biased upwards (with a
    dozen rows and a noise of a few per cent one of them lies above 3% with no cost at all),
    so a single row misses only when a one-sided sign test says its median lies above the
    limit (rounds_needed_above), and a cost common to the rows, which a row alone may not
    show, misses when the median of the pooled rounds of one workload lies above it. A
    missing round counts as above; no row is not judged."""
    if not rows:
        return SlowdownJudgement(None, {}, [], None, None, limit)
    needed = rounds_needed_above(min(len(r.rounds) for r in rows), alpha)
    above = [r for r in rows if needed is not None and r.above(limit) >= needed]
    pooled = {}
    for r in rows:
        pooled.setdefault(r.workload, []).extend(r.rounds)
    pooled = {w: (None if any(v is None for v in vs) else median(vs))
              for w, vs in pooled.items()}
    worst = max(rows, key=lambda r: float("inf") if r.median is None else r.median)
    ok = not above and all(p is not None and p <= limit for p in pooled.values())
    return SlowdownJudgement(ok, pooled, above, worst, needed, limit)


def utilization_within(differences, limit=UTIL_DIFF_MAX):
    """Section 7: every |sampled − exact| below `limit` (absolute); None: nothing compared."""
    got = [d for d in differences if d is not None]
    if not got:
        return None
    return max(got) < limit
