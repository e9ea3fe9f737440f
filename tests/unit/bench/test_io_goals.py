"""The PASS/MISS decisions of section 5 (I/O-bound services) and of the embedded default's row
in section 4, and the exact configuration's cost per GIL release/acquire, from section data."""
import unittest

import _path  # noqa: F401
from gilstat_bench import goals
from gilstat_bench.render.footprint import demo_goal
from gilstat_bench.render.io import exact_goal, io_goal
from gilstat_bench.section_demo import DemoData
from gilstat_bench.section_io import IoData, IoRun
from gilstat_bench.stats import cost_per_release_us


def run(version, none, default, exact, releases=None, rounds=3):
    """An interpreter whose echo and HTTP rates are the same every round."""
    r = IoRun(version, "/py/" + version)
    r.nones = [{"echo": none, "http": none / 10} for _ in range(rounds + 1)]
    r.per_round = [{"gilstatd-default": {"echo": default, "http": default / 10},
                    "gilstatd-exact": {"echo": exact, "http": exact / 10}}
                   for _ in range(rounds)]
    if releases:
        r.releases = releases
    return r


def data(*runs, exact_key=True):
    return IoData(list(runs), 3, 0.5, exact_key, "probes: {python: exact}\n", "ab")


class IoWithin(unittest.TestCase):
    def test_three_per_cent_slower_passes(self):
        self.assertTrue(goals.io_within([0.0, 0.03]))

    def test_one_workload_above_three_per_cent_misses(self):
        self.assertFalse(goals.io_within([0.01, 0.031]))

    def test_a_missing_slowdown_misses(self):
        self.assertFalse(goals.io_within([0.01, None]))

    def test_nothing_measured_is_not_judged(self):
        self.assertIsNone(goals.io_within([]))

    def test_every_interpreter_counts(self):
        d = data(run("3.12.1", 10000, 9900, 8000), run("2.7.18", 10000, 9000, 8000))
        g = io_goal(d)
        self.assertIs(g.ok, False)
        self.assertIn("2.7.18", g.measured)

    def test_all_within_passes(self):
        self.assertIs(io_goal(data(run("3.12.1", 10000, 9800, 8000))).ok, True)

    def test_no_interpreter_is_not_measured(self):
        self.assertIsNone(io_goal(data()).ok)


class ExactCost(unittest.TestCase):
    def test_cost_is_the_added_time_per_release(self):
        # 10,000/s -> 100 µs a request; 8,000/s -> 125 µs: 25 µs over 2 releases.
        self.assertAlmostEqual(cost_per_release_us(10000, 8000, 2), 12.5)

    def test_missing_figures_give_no_cost(self):
        self.assertIsNone(cost_per_release_us(None, 8000, 2))
        self.assertIsNone(cost_per_release_us(10000, 0, 2))
        self.assertIsNone(cost_per_release_us(10000, 8000, 0))

    def test_counted_acquisitions_are_used_over_the_echo_assumption(self):
        r = run("3.12.1", 10000, 9900, 8000, releases={"echo": [4.0, 4.0, 4.0]})
        self.assertEqual(r.releases_per_request("echo"), (4.0, True))
        self.assertEqual(run("3.12.1", 1, 1, 1).releases_per_request("echo"), (2, False))
        self.assertEqual(run("3.12.1", 1, 1, 1).releases_per_request("http"), (None, False))

    def test_reported_when_one_interpreter_has_a_cost(self):
        g = exact_goal(data(run("3.12.1", 10000, 9900, 8000)))
        self.assertIs(g.ok, True)
        self.assertIn("12.50 µs", g.measured)

    def test_not_reported_without_any_cost(self):
        self.assertFalse(goals.exact_cost_reported([None, None]))
        self.assertIsNone(goals.exact_cost_reported([]))

    def test_a_missing_exact_key_is_said(self):
        g = exact_goal(data(run("3.12.1", 10000, 9900, 8000), exact_key=False))
        self.assertIn("missing", g.measured)


class EmbeddedDefault(unittest.TestCase):
    def windows(self, *contended):
        return [{"c": c, "h": 5, "s": 9} for c in contended]

    def test_one_cpu_with_every_window_growing_passes(self):
        self.assertIs(demo_goal(DemoData(5, 1.0, self.windows(1, 2, 3))).ok, True)

    def test_above_one_cpu_misses(self):
        self.assertIs(demo_goal(DemoData(5, 1.01, self.windows(1, 2, 3))).ok, False)

    def test_a_window_without_contention_misses(self):
        self.assertIs(demo_goal(DemoData(5, 0.3, self.windows(1, 0, 3))).ok, False)

    def test_not_measured(self):
        self.assertIsNone(demo_goal(None).ok)
        self.assertFalse(goals.demo_cpu_within(None))


if __name__ == "__main__":
    unittest.main()
