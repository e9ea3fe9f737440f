"""The statistics of bench/gilstat_bench (medians, noise, ratios of added times, slowdowns),
one behaviour per test."""
import unittest

import _path  # noqa: F401
from gilstat_bench.stats import (MIN_NOISE, AddedTimes, bracketed_slowdowns, median,
                                 rounds_needed_above,
                                 percentile, rotate, spread)


class Median(unittest.TestCase):
    def test_odd_count_is_the_middle_value(self):
        self.assertEqual(median([5, 1, 3]), 3)

    def test_even_count_is_the_mean_of_the_middle_two(self):
        self.assertEqual(median([4, 1, 3, 2]), 2.5)

    def test_none_values_are_left_out(self):
        self.assertEqual(median([None, 7, None]), 7)

    def test_nothing_measured_is_none(self):
        self.assertIsNone(median([None, None]))


class Percentile(unittest.TestCase):
    def test_p99_of_a_hundred_values_is_the_largest(self):
        self.assertEqual(percentile(range(1, 101), 99), 100)

    def test_p90_of_a_hundred_values_is_the_90th(self):
        self.assertEqual(percentile(range(1, 101), 90), 90)

    def test_p99_of_few_values_is_the_largest(self):
        self.assertEqual(percentile([3, 1, 2], 99), 3)

    def test_p50_of_an_even_count_is_the_lower_middle(self):
        self.assertEqual(percentile([4, 1, 3, 2], 50), 2)

    def test_empty_is_none(self):
        self.assertIsNone(percentile([], 99))


class SpreadAndRotate(unittest.TestCase):
    def test_spread_is_max_minus_min(self):
        self.assertEqual(spread([3, 9, 5]), 6)

    def test_spread_of_nothing_is_zero(self):
        self.assertEqual(spread([]), 0.0)

    def test_rotate_moves_the_first_k_to_the_end(self):
        self.assertEqual(rotate(["a", "b", "c"], 1), ["b", "c", "a"])

    def test_rotate_wraps_around(self):
        self.assertEqual(rotate(["a", "b", "c"], 4), ["b", "c", "a"])


def costs(none, **configs):
    """AddedTimes of one operation "op": per-round times of the baseline and of configurations;
    a configuration given as (times, hits) has known probe hits."""
    times = {"none": {"op": none}}
    hits = {}
    for name, v in configs.items():
        if isinstance(v, tuple):
            times[name] = {"op": v[0]}
            hits[name] = {"op": v[1]}
        else:
            times[name] = {"op": v}
    return AddedTimes(times, hits)


class AddedTime(unittest.TestCase):
    def test_added_is_the_difference_to_the_baseline_in_the_same_round(self):
        c = costs([10, 20, 30], a=[15, 22, 40])
        self.assertEqual(c.added_per_round("a", "op"), [5, 2, 10])

    def test_median_added_is_the_median_of_per_round_differences(self):
        # Not the difference of the medians (30 - 20 = 10).
        c = costs([10, 20, 30], a=[15, 22, 40])
        self.assertEqual(c.median_added("a", "op"), 5)

    def test_median_added_of_an_unmeasured_configuration_is_none(self):
        self.assertIsNone(costs([1]).median_added("a", "op"))


class Noise(unittest.TestCase):
    def test_noise_is_the_baselines_spread_when_it_is_larger(self):
        c = costs([10, 14, 12], a=[11, 15, 13])  # added 1, 1, 1: spread 0
        self.assertEqual(c.noise("a", "op"), 4)

    def test_noise_is_the_added_times_spread_when_it_is_larger(self):
        c = costs([10, 10, 10], a=[11, 19, 13])  # added 1, 9, 3
        self.assertEqual(c.noise("a", "op"), 8)

    def test_noise_has_a_floor(self):
        c = costs([10, 10], a=[12, 12])
        self.assertEqual(c.noise("a", "op"), MIN_NOISE)

    def test_added_time_no_larger_than_the_noise_is_within_noise(self):
        c = costs([10, 13, 11], a=[12, 14, 12])  # added 2, 1, 1; noise 3
        self.assertTrue(c.within_noise("a", "op"))

    def test_added_time_above_the_noise_is_not(self):
        c = costs([10, 11, 10], a=[20, 21, 20])  # added 10; noise 1
        self.assertFalse(c.within_noise("a", "op"))

    def test_a_negative_added_time_within_noise_is_within_noise(self):
        c = costs([10, 13, 11], a=[9, 12, 10])  # added -1
        self.assertTrue(c.within_noise("a", "op"))


class Hits(unittest.TestCase):
    def test_no_event_in_any_round_is_no_hit(self):
        self.assertTrue(costs([1, 1], a=([5, 5], [0, 0])).no_hit("a", "op"))

    def test_an_event_in_one_round_is_a_hit(self):
        self.assertFalse(costs([1, 1], a=([5, 5], [0, 3])).no_hit("a", "op"))

    def test_unknown_hits_are_not_no_hit(self):
        self.assertFalse(costs([1, 1], a=[5, 5]).no_hit("a", "op"))

    def test_no_hit_makes_a_configuration_negligible_even_above_noise(self):
        c = costs([10, 10], a=([30, 30], [0, 0]))
        self.assertTrue(c.negligible("a", "op"))
        self.assertFalse(c.within_noise("a", "op"))


class Ratios(unittest.TestCase):
    def test_ratio_is_the_median_of_per_round_ratios(self):
        # Added: a 20, 30, 41; b 10, 10, 11 (noise 1): per-round ratios 2, 3, 3.7.
        c = costs([100, 100, 100], a=[120, 130, 141], b=[110, 110, 111])
        r = c.ratio("a", "b", "op")
        self.assertEqual((r.kind, r.value), ("ratio", 3))

    def test_denominator_within_noise_gives_a_lower_bound(self):
        # b adds 1 with noise 2: a's 100 over b's bound 2.
        c = costs([10, 12, 10], a=[110, 112, 110], b=[11, 13, 11])
        r = c.ratio("a", "b", "op")
        self.assertEqual((r.kind, r.value), ("lower_bound", 50))

    def test_lower_bound_uses_the_added_time_when_it_exceeds_the_noise(self):
        # b hit no probe, adds 5 (above the noise, 0.1): the bound is 5.
        c = costs([10, 10], a=[60, 60], b=([15, 15], [0, 0]))
        r = c.ratio("a", "b", "op")
        self.assertEqual((r.kind, r.value), ("lower_bound", 10))

    def test_both_within_noise_gives_no_ratio(self):
        c = costs([10, 12, 10], a=[11, 12, 11], b=[10, 13, 10])
        r = c.ratio("a", "b", "op")
        self.assertEqual((r.kind, r.value), ("both_within_noise", None))

    def test_both_without_hits_says_so(self):
        c = costs([10, 12], a=([10, 12], [0, 0]), b=([11, 12], [0, 0]))
        self.assertEqual(c.ratio("a", "b", "op").kind, "no_hit_either")

    def test_a_negligible_numerator_over_a_real_denominator_is_flagged(self):
        c = costs([10, 10], a=([10.05, 10.05], [0, 0]), b=[20, 20])
        self.assertEqual(c.ratio("a", "b", "op").kind, "numerator_no_hit")

    def test_an_unmeasured_configuration_gives_a_missing_ratio(self):
        c = costs([10], a=[20])
        r = c.ratio("a", "b", "op")
        self.assertEqual((r.kind, r.value), ("missing", None))


class Slowdowns(unittest.TestCase):
    def test_time_slowdown_is_against_the_mean_of_the_bracketing_baselines(self):
        # Round 0 between 1.0 and 1.2 (mean 1.1): 1.21 is +10%.
        self.assertAlmostEqual(bracketed_slowdowns([1.0, 1.2], [1.21]), 0.10)

    def test_a_steady_drift_cancels(self):
        # The machine slows by 0.1 per measurement; the measured one sits on the trend.
        base = [1.0, 1.2, 1.4, 1.6]
        measured = [1.1, 1.3, 1.5]
        self.assertAlmostEqual(bracketed_slowdowns(base, measured), 0.0)

    def test_rate_slowdown_is_inverted(self):
        # A rate 20% lower than 100/s: 100 / 80 - 1.
        self.assertAlmostEqual(bracketed_slowdowns([100, 100], [80], higher_is_better=True),
                               0.25)

    def test_slowdown_is_the_median_over_rounds(self):
        self.assertAlmostEqual(bracketed_slowdowns([1, 1, 1, 1], [1.0, 1.5, 1.1]), 0.1)


class SignTest(unittest.TestCase):
    def test_rounds_needed_at_five_per_cent(self):
        # P(X >= k) <= 0.05 for X ~ Binomial(n, 1/2): 5/5 (1/32), 7/7 (1/128, 6/7 is 8/128),
        # 8/9 (10/512), 9/11 (67/2048).
        self.assertEqual([rounds_needed_above(n, 0.05) for n in (5, 7, 9, 11)], [5, 7, 8, 9])

    def test_too_few_rounds_cannot_tell(self):
        self.assertIsNone(rounds_needed_above(4, 0.05))
        self.assertIsNone(rounds_needed_above(0, 0.05))


if __name__ == "__main__":
    unittest.main()
