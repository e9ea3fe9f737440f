"""The PASS/MISS decisions of the benchmark report (bench/gilstat_bench/goals.py and the
section data that feeds them), one behaviour per test."""
import unittest

import _path  # noqa: F401
from gilstat_bench import goals
from gilstat_bench.goals import Goal
from gilstat_bench.render.cost import bpftrace_goal, handoff_goal
from gilstat_bench.render.cpython import py3_goal
from gilstat_bench.render.host import render as render_host
from gilstat_bench.section_cost import CostData
from gilstat_bench.section_cpython import CPythonData, InterpreterRun, workloads
from gilstat_bench.section_host import HostData, charge, median_costs
from gilstat_bench.stats import AddedTimes


OPS = ("wait", "pair", "pingpong")


def cost_data(times, hits=None):
    """Section 1 data of 3 rounds: each configuration's per-round times, the same on every
    operation; `hits` the probe hits per configuration and operation."""
    full = {c: {op: v for op in OPS} for c, v in times.items()}
    return CostData(3, 1, 0.1, list(full), AddedTimes(full, hits or {}))


class DefaultOverFloor(unittest.TestCase):
    def test_ratios_at_the_limit_pass(self):
        self.assertTrue(goals.default_over_floor([1.0, 1.25], []))

    def test_one_ratio_above_the_limit_misses(self):
        self.assertFalse(goals.default_over_floor([1.1, 1.26], []))

    def test_a_ratio_that_could_not_be_taken_misses(self):
        self.assertFalse(goals.default_over_floor([None], []))

    def test_nothing_judged_misses(self):
        self.assertFalse(goals.default_over_floor([], []))

    def test_no_hit_operations_pass_when_gilstatd_stays_within_the_floor_plus_noise(self):
        # gilstatd added 1.0, floor 0.5, noise 0.6.
        self.assertTrue(goals.default_over_floor([], [(1.0, 0.5, 0.6)]))

    def test_no_hit_operations_miss_when_gilstatd_is_measurably_above_the_floor(self):
        self.assertFalse(goals.default_over_floor([], [(2.0, 0.5, 0.6)]))

    def test_a_negative_floor_counts_as_zero(self):
        # The floor "saved" 3 (noise); gilstatd must stay within the noise of 0, not of -3.
        self.assertTrue(goals.nohit_within_floor(0.5, -3.0, 0.6))
        self.assertFalse(goals.nohit_within_floor(0.7, -3.0, 0.6))


class FromSectionOneData(unittest.TestCase):
    # Rounds of 3; the baseline costs 100 ns per operation.
    NONE = [100, 100, 100]

    def test_default_mode_within_1_25_of_its_floor_passes(self):
        d = cost_data({"none": self.NONE, "floor-default": [200, 200, 201],
                       "gilstatd-default": [220, 221, 220]})
        self.assertTrue(d.default_goal_ok())

    def test_default_mode_at_twice_its_floor_misses(self):
        d = cost_data({"none": self.NONE, "floor-default": [200, 200, 201],
                       "gilstatd-default": [300, 301, 300]})
        self.assertFalse(d.default_goal_ok())

    def test_operations_without_probe_hits_are_judged_against_the_noise(self):
        # No hit anywhere: both add nothing beyond the floor's noise: pass.
        hits = {c: {op: [0, 0, 0] for op in OPS}
                for c in ("floor-default", "gilstatd-default")}
        d = cost_data({"none": self.NONE, "floor-default": [100, 100.05, 100],
                       "gilstatd-default": [100.05, 100, 100]}, hits)
        self.assertTrue(d.default_goal_ok())

    def test_bpftrace_ten_times_costlier_than_a_negligible_default_passes(self):
        # gilstatd default hits nothing on a pair; bpftrace adds 1 µs over a 0.1 ns bound.
        hits = {"gilstatd-default": {op: [0, 0, 0] for op in OPS}}
        d = cost_data({"none": self.NONE, "gilstatd-default": self.NONE,
                       "bpftrace": [1100, 1100, 1100]}, hits)
        self.assertIs(bpftrace_goal(d).ok, True)

    def test_bpftrace_only_five_times_costlier_misses(self):
        d = cost_data({"none": self.NONE, "gilstatd-default": [120, 120, 120],
                       "bpftrace": [200, 200, 200]})
        self.assertIs(bpftrace_goal(d).ok, False)

    def test_bpftrace_not_installed_is_not_measured(self):
        d = cost_data({"none": self.NONE, "gilstatd-default": [120, 120, 120]})
        self.assertIsNone(bpftrace_goal(d).ok)
        self.assertIsNone(handoff_goal(d).ok)

    def test_a_handoff_adding_a_tenth_of_bpftrace_passes(self):
        # Every operation costs the same here: the handoff adds 100 ns against bpftrace's 1 µs.
        d = cost_data({"none": self.NONE, "gilstatd-default": [200, 200, 200],
                       "floor-default": [180, 180, 180], "bpftrace": [1100, 1100, 1100]})
        self.assertIs(handoff_goal(d).ok, True)
        self.assertIn("10.00×", handoff_goal(d).measured)

    def test_a_handoff_adding_a_fifth_of_bpftrace_misses(self):
        d = cost_data({"none": self.NONE, "gilstatd-default": [300, 300, 300],
                       "bpftrace": [1100, 1100, 1100]})
        self.assertIs(handoff_goal(d).ok, False)


def cpython_run(version, factors, sizes):
    """A CPython 3 run whose default configuration takes factors[r] times as long (a rate:
    1/factors[r] as fast) as the constant measurements without gilstatd, in round r."""
    ws = workloads(sizes, 1000)
    none = {w: (1.0, 1.0) for w, _, _ in ws}
    per_round = [{"gilstatd-default": {w: ((1 / f, None) if kind == "rate" else (f, f))
                                       for w, _, kind in ws}} for f in factors]
    return InterpreterRun(version, ["gilstatd-default"], len(factors), ws,
                          [dict(none) for _ in range(len(factors) + 1)], per_round, {}, None)


class Py3Goal(unittest.TestCase):
    class Sizes:
        py_pace_ms, py_paced_n, py_echo_s, py_repeat = 12.5, 60, 0.3, 3

    def data(self, *runs):
        return CPythonData(list(runs), 7, 7, 1000, 1000, 60, 0.3, 3)

    def test_every_round_above_three_per_cent_misses(self):
        g = py3_goal(self.data(cpython_run("3.12.1", [1.04] * 7, self.Sizes)))
        self.assertIs(g.ok, False)
        self.assertIn("CPython 3.12.1, countdown 1 (+4.0%, 7 of 7 rounds)", g.measured)

    def test_a_noisy_interpreter_passes_when_its_rounds_straddle_the_limit(self):
        quiet = cpython_run("3.13.0", [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0], self.Sizes)
        noisy = cpython_run("3.12.1", [1.06, 0.97, 1.05, 1.08, 0.98, 1.05, 1.07], self.Sizes)
        g = py3_goal(self.data(quiet, noisy))
        self.assertIs(g.ok, True, g.measured)
        self.assertIn("highest row median +5.0% (CPython 3.12.1", g.measured)

    def test_the_unpaced_convoy_is_not_judged(self):
        g = py3_goal(self.data(cpython_run("3.12.1", [1.0] * 7, self.Sizes)))
        self.assertIs(g.ok, True)
        self.assertIn("unpaced convoy, not judged", g.measured)

    def test_no_cpython3_is_not_measured(self):
        self.assertIsNone(py3_goal(self.data()).ok)


class Thresholds(unittest.TestCase):
    def test_a_missing_bpftrace_ratio_misses(self):
        self.assertFalse(goals.bpftrace_cheaper(None))

    def test_cpython27_slowdown_above_25_percent_misses(self):
        self.assertFalse(goals.cpython27_within(0.26))

    def test_rss_above_30_mb_misses(self):
        self.assertFalse(goals.rss_within(30.1e6))

    def test_scrape_p99_of_50_ms_passes(self):
        self.assertTrue(goals.scrape_within(0.050))


class LoadCounted(unittest.TestCase):
    def test_every_pair_counted_once_at_the_rate_is_exact_and_reached(self):
        self.assertEqual(goals.load_counted(500, 500, 500, 0, 0, 1e6, 1e6), (True, True))

    def test_one_acquisition_missing_is_not_exact(self):
        self.assertEqual(goals.load_counted(499, 500, 500, 0, 0, 1e6, 1e6)[0], False)

    def test_a_map_full_drop_is_not_exact(self):
        self.assertEqual(goals.load_counted(500, 500, 500, 1, 0, 1e6, 1e6)[0], False)

    def test_97_percent_of_the_wanted_rate_is_reached(self):
        self.assertTrue(goals.load_counted(1, 1, 1, 0, 0, 0.97e6, 1e6)[1])

    def test_below_97_percent_is_not(self):
        self.assertFalse(goals.load_counted(1, 1, 1, 0, 0, 0.96e6, 1e6)[1])


def host_data(times, program_ns=None):
    """Section 6 data of 3 rounds: per configuration, per operation its per-round ns;
    program_ns: the programs' ns per operation of gilstatd (default: none measured)."""
    d = HostData(3, 1, 0.1, 10, list(times), AddedTimes(times))
    if program_ns is not None:
        d.program_ns["gilstatd"] = {op: (ns, {"futex_sleep": (1.0, ns)})
                                    for op, ns in program_ns.items()}
    return d


class HostWideCosts(unittest.TestCase):
    # A syscall costs 100 ns with nothing attached, a futex call 150 ns, a spawn 500 µs.
    NONE = {"syscall": [100, 101, 100], "futex": [150, 150, 151],
            "spawn": [500e3, 501e3, 500e3]}

    def with_gilstatd(self, syscall, spawn, program_ns=None):
        return host_data({"none": self.NONE,
                          "gilstatd": {"syscall": syscall, "futex": [250, 250, 250],
                                       "spawn": spawn}}, program_ns)

    def test_20_ns_per_syscall_and_2_us_per_spawn_added_pass(self):
        d = self.with_gilstatd([120, 121, 120], [502e3, 503e3, 502e3])
        self.assertTrue(d.syscall_goal_ok())
        self.assertTrue(d.spawn_goal_ok())

    def test_a_syscall_program_of_70_ns_misses(self):
        d = self.with_gilstatd([170, 171, 170], [500e3, 501e3, 500e3])
        self.assertFalse(d.syscall_goal_ok())
        self.assertTrue(d.spawn_goal_ok())

    def test_10_us_more_per_spawn_misses(self):
        d = self.with_gilstatd([100, 101, 100], [510e3, 511e3, 510e3])
        self.assertFalse(d.spawn_goal_ok())

    def test_the_median_round_decides_not_an_outlier(self):
        # One round 15 ns slower (noise 15 ns, below the limit): the median added is 1 ns.
        d = self.with_gilstatd([101, 116, 101], [500e3, 501e3, 500e3])
        self.assertTrue(d.syscall_goal_ok())

    def test_too_noisy_a_cpu_time_leaves_it_to_the_programs_time(self):
        # Spawns vary by 300 µs: the CPU time cannot tell 2 µs; the programs ran 0.9 µs.
        noisy = [500e3, 800e3, 510e3]
        self.assertTrue(self.with_gilstatd([100, 101, 100], noisy,
                                           {"syscall": 0, "spawn": 900}).spawn_goal_ok())
        self.assertFalse(self.with_gilstatd([100, 101, 100], noisy,
                                            {"syscall": 0, "spawn": 2500}).spawn_goal_ok())

    def test_too_noisy_and_no_program_time_misses(self):
        d = self.with_gilstatd([100, 101, 100], [500e3, 800e3, 510e3])
        self.assertFalse(d.spawn_goal_ok())

    def test_programs_above_the_limit_miss_even_when_the_cpu_time_saw_nothing(self):
        d = self.with_gilstatd([100, 101, 100], [500e3, 501e3, 500e3],
                               {"syscall": 60, "spawn": 0})
        self.assertFalse(d.syscall_goal_ok())

    def test_not_measured_misses(self):
        d = host_data({"none": self.NONE})
        self.assertFalse(d.syscall_goal_ok())
        self.assertFalse(d.spawn_goal_ok())
        self.assertFalse(goals.added_within(None, None, None, 20))

    def test_rendered_goals_are_the_decisions(self):
        d = self.with_gilstatd([170, 171, 170], [502e3, 503e3, 502e3],
                               {"syscall": 0, "futex": 0, "spawn": 800})
        text, out = render_host(d)
        self.assertEqual([g.verdict for g in out], ["MISS", "PASS"])
        self.assertIn("+70.0 ns", out[0].measured)
        self.assertIn("+2.00 µs", out[1].measured)
        self.assertIn("0.8 µs of programs", out[1].measured)
        self.assertIn("## 6. Host-wide costs", text)


class ChargedProgramTime(unittest.TestCase):
    def test_an_operation_pays_the_mean_run_times_its_own_events(self):
        # futex_sleep ran 10 times on the host for 2000 ns: 200 ns a run; the spawn switched 3
        # times (1 voluntary); proctrack_fork ran once for 300 ns; a uprobe is not charged.
        before = {"futex_sleep": (10, 1000), "proctrack_fork": (1, 100),
                  "sem_wait_entry": (0, 0)}
        after = {"futex_sleep": (20, 3000), "proctrack_fork": (2, 400),
                 "sem_wait_entry": (5, 500)}
        ns, runs = charge("spawn", before, after, 1, 3.0, 1.0)
        self.assertEqual(ns, 3 * 200 + 300)
        self.assertEqual(runs, {"futex_sleep": (3.0, 200.0), "proctrack_fork": (1.0, 300.0)})

    def test_the_fallback_in_a_spawn_is_charged_its_runs_on_the_whole_host(self):
        ns, runs = charge("spawn", {"futex_enter": (0, 0)}, {"futex_enter": (400, 20000)},
                          2, 3.0, 1.0)
        self.assertEqual((ns, runs), (10000.0, {"futex_enter": (200.0, 50.0)}))


class ProgramCostMedians(unittest.TestCase):
    def test_each_operation_keeps_its_median_run_whole(self):
        runs = [{"spawn": (3000.0, {"a": (1.0, 3000.0)}), "syscall": (10.0, {"b": (1.0, 10.0)})},
                {"spawn": (1000.0, {"a": (1.0, 1000.0)}), "syscall": (30.0, {"b": (1.0, 30.0)})},
                {"spawn": (2000.0, {"a": (1.0, 2000.0)}), "syscall": (20.0, {"b": (1.0, 20.0)})}]
        self.assertEqual(median_costs(runs), {"spawn": (2000.0, {"a": (1.0, 2000.0)}),
                                              "syscall": (20.0, {"b": (1.0, 20.0)})})

    def test_of_two_runs_the_lower_is_kept(self):
        runs = [{"spawn": (3000.0, {})}, {"spawn": (1000.0, {})}]
        self.assertEqual(median_costs(runs), {"spawn": (1000.0, {})})


class Verdicts(unittest.TestCase):
    def test_verdict_words(self):
        self.assertEqual([Goal(ok, "", "").verdict for ok in (True, False, None)],
                         ["PASS", "MISS", "n/a"])

    def test_a_run_with_a_missed_goal_exits_1(self):
        self.assertEqual(goals.all_met([Goal(True, "", ""), Goal(False, "", "")]), 1)

    def test_goals_not_measured_do_not_fail_the_run(self):
        self.assertEqual(goals.all_met([Goal(True, "", ""), Goal(None, "", "")]), 0)


if __name__ == "__main__":
    unittest.main()
