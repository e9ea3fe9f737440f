"""Statistics of interleaved measurements: medians, percentiles, the noise of an added time,
ratios of added times (a lower bound where the denominator is within noise), slowdowns."""

import math
import statistics
from dataclasses import dataclass, field

# The smallest noise an added time is given (ns): two equal loops never differ by less.
MIN_NOISE = 0.1


def median(xs):
    """The median of the values that are not None; None when there is none."""
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """The `p`th percentile (0 < p <= 100) of `xs`: the value of rank round(p·n/100 + 0.5)
    (1-based) in sorted order, on the high side (the p99 of 100 values is the largest); None
    when empty."""
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def spread(xs):
    """max - min, 0 for no values."""
    return max(xs) - min(xs) if xs else 0.0


def rotate(xs, k):
    """`xs` rotated left by `k` (the order of round k of an interleaved run)."""
    k %= len(xs)
    return xs[k:] + xs[:k]


@dataclass(frozen=True)
class Ratio:
    """A ratio of added times. kind: "ratio" (median of per-round ratios), "lower_bound" (the
    denominator is negligible, its bound taken instead), "numerator_no_hit" (a ratio whose
    numerator hit no probe), "no_hit_either" / "both_within_noise" (no ratio), "missing" (a
    configuration was not measured)."""
    value: float = None
    kind: str = "missing"


@dataclass
class AddedTimes:
    """Per-round costs of configurations on operations, measured interleaved with a baseline.

    times[config][op]: one value per round (the same rounds for every configuration);
    hits[config][op]: for the configurations whose probe hits are known, the events counted per
    round (0 in every round: no probe on that operation's path). `baseline` is the configuration with
    nothing attached."""
    times: dict
    hits: dict = field(default_factory=dict)
    baseline: str = "none"

    def has(self, config):
        return config in self.times

    def rounds(self, config, op):
        return len(self.times[config][op])

    def added(self, config, op, r):
        """The time `config` added to the baseline in round r."""
        return self.times[config][op][r] - self.times[self.baseline][op][r]

    def added_per_round(self, config, op):
        return [self.added(config, op, r) for r in range(self.rounds(config, op))]

    def median_added(self, config, op):
        """The median of the per-round added times, None if `config` was not measured."""
        return median(self.added_per_round(config, op)) if self.has(config) else None

    def median_time(self, config, op):
        return median(self.times[config][op])

    def noise(self, config, op):
        """How far an added time can be off: the larger of the spread over rounds of the
        baseline and that of the configuration's added time (at least MIN_NOISE)."""
        return max(spread(self.times[self.baseline][op]),
                   spread(self.added_per_round(config, op)), MIN_NOISE)

    def within_noise(self, config, op):
        return self.has(config) and abs(self.median_added(config, op)) <= self.noise(config, op)

    def no_hit(self, config, op):
        """The counting configuration `config` counted no event during `op` in any round."""
        per_round = self.hits.get(config, {}).get(op)
        return bool(per_round) and all(v == 0 for v in per_round)

    def negligible(self, config, op):
        """Not a usable denominator: within noise, or no probe on the path."""
        return self.within_noise(config, op) or self.no_hit(config, op)

    def bound(self, config, op):
        """What the added time of a negligible configuration is at most."""
        return max(self.noise(config, op), abs(self.median_added(config, op)))

    def ratio(self, a, b, op):
        """a's added time over b's on `op`: the median of the per-round ratios where b is above
        noise; a lower bound (b's bound as the denominator) where b is negligible and a is not;
        none where both are negligible."""
        negligible = self.negligible
        if not self.has(a) or not self.has(b):
            return Ratio()
        if negligible(b, op):
            if negligible(a, op):
                return Ratio(None, "both_within_noise" if not self.no_hit(b, op)
                             else "no_hit_either")
            return Ratio(self.median_added(a, op) / self.bound(b, op), "lower_bound")
        per_round = []
        for r in range(self.rounds(a, op)):
            num, den = self.added(a, op, r), self.added(b, op, r)
            per_round.append(num / den if den > 0 else None)
        q = median(per_round)
        return Ratio(q, "numerator_no_hit" if negligible(a, op) else "ratio")


def slowdown(reference, measured, higher_is_better=False):
    """measured / reference - 1 for a time; reference / measured - 1 for a rate."""
    return reference / measured - 1 if higher_is_better else measured / reference - 1


def bracketed_slowdown_rounds(baselines, measured, higher_is_better=False):
    """Per round r, the slowdown of measured[r] against the mean of the two baseline
    measurements around it, baselines[r] and baselines[r + 1] (cancels a steady drift of the
    machine's speed)."""
    return [slowdown((baselines[r] + baselines[r + 1]) / 2, v, higher_is_better)
            for r, v in enumerate(measured)]


def bracketed_slowdowns(baselines, measured, higher_is_better=False):
    """The median over rounds of bracketed_slowdown_rounds."""
    return median(bracketed_slowdown_rounds(baselines, measured, higher_is_better))


def rounds_needed_above(n, alpha):
    """The fewest of n rounds that must lie above a limit for a one-sided sign test to say, at
    level `alpha`, that the median lies above it: the smallest k with P(X >= k) <= alpha for
    X ~ Binomial(n, 1/2) (a round is as likely above as below a limit equal to the median).
    None when n rounds cannot say it at that level (n < 5 at 5%)."""
    tail = 0
    for k in range(n, -1, -1):
        tail += math.comb(n, k)
        if tail / 2.0 ** n > alpha:
            return k + 1 if k < n else None
    return 0


def cost_per_release_us(rate_without, rate_with, releases_per_request):
    """The time (µs) a configuration adds per GIL release/acquire, from the request rates of a
    server whose throughput is bound by its serial (GIL-holding) path: (1/rate_with -
    1/rate_without) / releases per request. None when a figure is missing or not positive."""
    if not rate_without or not rate_with or not releases_per_request \
            or releases_per_request <= 0:
        return None
    return 1e6 * (1.0 / rate_with - 1.0 / rate_without) / releases_per_request
