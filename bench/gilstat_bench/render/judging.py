"""How sections 2 and 5 judge a slowdown goal over many noisy rows (goals.slowdowns_within)."""

from .. import goals

JUDGING = (
    "**How the ≤ %d%% goal is judged.** Every row (interpreter, workload) has one slowdown per "
    "round, and on this shared machine a round moves by several per cent with no daemon at "
    "all, so the highest of a dozen rows' medians lies above %d%% with no cost at all. A row "
    "misses when a one-sided sign test over its rounds puts its median above %d%% at the %g%% "
    "level (with %d rounds: %s), and a cost common to the rows, which no row alone may show, "
    "misses when the median of the pooled rounds of one workload over every interpreter lies "
    "above %d%%. Each row's median is in the table; the goal line names the highest.\n")


def judging_note(limit, rounds):
    """The paragraph for a goal of `limit` (a fraction) judged over `rounds` rounds per row."""
    pct = round(100 * limit)
    needed = goals.rounds_needed_above(rounds, goals.SIGNIFICANCE)
    how = ("all %d above" % rounds if needed == rounds else "%d of %d above" % (needed, rounds)
           ) if needed is not None else "no row alone can be judged, only the pooled median"
    return JUDGING % (pct, pct, pct, 100 * goals.SIGNIFICANCE, rounds, how, pct)
