"""The Prometheus exposition parser of bench/gilstat_bench, one behaviour per test."""
import math
import unittest

import _path  # noqa: F401
from gilstat_bench.exposition import Exposition, parse

TEXT = """\
# HELP gilstat_lock_contended_total Contended acquisitions.
# TYPE gilstat_lock_contended_total counter
gilstat_lock_contended_total{lock="gil",pid="12",source="ebpf"} 5
gilstat_lock_contended_total{lock="gil",pid="13",source="ebpf"} 7
gilstat_lock_contended_total{lock="gil",pid="12",source="runtime"} 100
gilstat_probes_attached 2
gilstat_lock_wait_seconds_bucket{lock="gil",le="0.001"} 3
gilstat_lock_wait_seconds_bucket{lock="gil",le="+Inf"} 9
"""


class Parse(unittest.TestCase):
    def test_comments_and_blank_lines_are_skipped(self):
        self.assertEqual(parse("# HELP x y\n\n# TYPE x counter\n"), [])

    def test_sample_without_labels(self):
        [s] = parse("gilstat_probes_attached 2\n")
        self.assertEqual((s.name, s.labels, s.value), ("gilstat_probes_attached", {}, 2.0))

    def test_labels_are_a_dict(self):
        [s] = parse('m{a="1",b="two"} 3\n')
        self.assertEqual(s.labels, {"a": "1", "b": "two"})

    def test_escaped_quote_backslash_and_newline_in_a_label_value(self):
        [s] = parse('m{path="a\\"b\\\\c\\nd"} 1\n')
        self.assertEqual(s.labels["path"], 'a"b\\c\nd')

    def test_comma_and_brace_inside_a_label_value(self):
        [s] = parse('m{cmd="x,y}",z="1"} 4\n')
        self.assertEqual(s.labels, {"cmd": "x,y}", "z": "1"})

    def test_a_timestamp_after_the_value_is_ignored(self):
        [s] = parse("m 1.5 1700000000000\n")
        self.assertEqual(s.value, 1.5)

    def test_special_values(self):
        values = [s.value for s in parse("a +Inf\nb -Inf\nc NaN\n")]
        self.assertEqual(values[:2], [math.inf, -math.inf])
        self.assertTrue(math.isnan(values[2]))

    def test_a_line_with_a_value_that_is_not_a_number_is_skipped(self):
        self.assertEqual(parse("m abc\nn 1\n")[0].name, "n")

    def test_scientific_notation(self):
        self.assertEqual(parse("m 1.5e+06\n")[0].value, 1.5e6)


class Lookup(unittest.TestCase):
    def setUp(self):
        self.e = Exposition(TEXT)

    def test_get_is_the_first_sample_whose_labels_include_the_filter(self):
        self.assertEqual(self.e.get("gilstat_lock_contended_total", source="ebpf"), 5)

    def test_filter_values_compare_as_strings(self):
        self.assertEqual(self.e.get("gilstat_lock_contended_total", pid=13), 7)

    def test_get_of_a_missing_series_is_none(self):
        self.assertIsNone(self.e.get("gilstat_lock_contended_total", source="other"))

    def test_total_sums_every_matching_sample(self):
        self.assertEqual(self.e.total("gilstat_lock_contended_total", source="ebpf"), 12)

    def test_total_of_nothing_is_none_not_zero(self):
        self.assertIsNone(self.e.total("gilstat_nothing_total"))

    def test_buckets_are_keyed_by_le_as_float(self):
        self.assertEqual(self.e.buckets("gilstat_lock_wait_seconds", lock="gil"),
                         {0.001: 3, math.inf: 9})

    def test_labels_of_returns_the_whole_label_set(self):
        self.assertEqual(self.e.labels_of("gilstat_lock_contended_total", pid="13"),
                         {"lock": "gil", "pid": "13", "source": "ebpf"})

    def test_names_are_the_metrics_with_samples(self):
        self.assertEqual(self.e.names(), {"gilstat_lock_contended_total",
                                          "gilstat_probes_attached",
                                          "gilstat_lock_wait_seconds_bucket"})


if __name__ == "__main__":
    unittest.main()
