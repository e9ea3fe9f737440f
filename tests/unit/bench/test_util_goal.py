"""Section 7: the GIL utilization goal (sampled against the exact method's hold time) and its
rendering, from section data."""
import unittest

import _path  # noqa: F401
from gilstat_bench import goals
from gilstat_bench.render.util import render
from gilstat_bench.section_util import UtilData, UtilRow


def row(label, sampled, exact, program=None, method_exact="take_gil", error=""):
    r = UtilRow(label, "/py/" + label, 3, 7, program=program, sampled=sampled, samples=300,
                held_rate=sampled, exact=exact, method_default="gil_condvar",
                method_exact=method_exact, wall_s=4.0, error=error)
    return r


class UtilizationGoal(unittest.TestCase):
    def test_threshold_is_ten_points_absolute(self):
        self.assertEqual(goals.UTIL_DIFF_MAX, 0.10)
        self.assertIs(goals.utilization_within([0.01, 0.099]), True)
        self.assertIs(goals.utilization_within([0.01, 0.10]), False)
        self.assertIs(goals.utilization_within([None, 0.02]), True)
        self.assertIsNone(goals.utilization_within([None]))
        self.assertIsNone(goals.utilization_within([]))

    def test_difference_needs_both_figures(self):
        self.assertAlmostEqual(row("3.12.1", 0.30, 0.25).difference, 0.05)
        self.assertAlmostEqual(row("3.12.1", 0.25, 0.30).difference, 0.05)
        self.assertIsNone(row("3.11.2", 0.30, None).difference)
        self.assertIsNone(row("3.12.1", None, 0.30).difference)

    def test_render_judges_the_worst_exact_row(self):
        d = UtilData(4.0, [row("3.12.1", 0.31, 0.30, 0.30), row("3.13.0", 0.80, 0.66, 0.79),
                           row("3.11.2", 0.5, None, 0.2, method_exact="gil_condvar")])
        text, (goal,) = render(d)
        self.assertIs(goal.ok, False)
        self.assertIn("14.0% (CPython 3.13.0", goal.measured)
        self.assertIn("over 2 runs on 2 interpreters", goal.measured)
        # Against the program: every interpreter, the stripped one's 30 points too.
        self.assertIn("largest 30.0%", goal.measured)
        self.assertIn("| 3.13.0 | 3 / 7 ms | 79.0% | 80.0% ±2.3% | 300 |", text)
        self.assertNotIn("|", goal.measured)  # a table cell

    def test_nothing_exact_is_not_measured(self):
        d = UtilData(4.0, [row("3.11.2", 0.3, None, 0.3, method_exact="gil_condvar"),
                           row("3.12.1", None, None, error="no GIL samples within 10 s")])
        text, (goal,) = render(d)
        self.assertIsNone(goal.ok)
        self.assertEqual(goal.verdict, "n/a")
        self.assertIn("failed: no GIL samples", text)


if __name__ == "__main__":
    unittest.main()
