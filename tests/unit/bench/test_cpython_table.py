"""bench/cpython_table.py --serve, the long-lived target of section 2, answers its commands."""
import os
import subprocess
import sys
import unittest

import _path  # noqa: F401
from gilstat_bench.section_cpython import workloads

TABLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "cpython_table.py")


class Serve(unittest.TestCase):
    def ask(self, *commands):
        out = subprocess.run([sys.executable, TABLE, "--serve"], check=True, timeout=60,
                             input="\n".join(commands + ("quit",)) + "\n",
                             capture_output=True, text=True).stdout.splitlines()
        self.assertEqual(out[0].split()[0], "ready", out)
        return out[1:]

    def test_a_repeated_countdown_answers_one_cpu_time(self):
        one, least = self.ask("countdown_cpu 2 20000", "countdown_cpu 2 20000 3")
        self.assertGreater(float(one), 0)
        self.assertGreater(float(least), 0)
        self.assertEqual(len(least.split()), 1)

    def test_section_2_asks_for_the_least_of_its_repeats(self):
        class Sizes:
            py_pace_ms, py_paced_n, py_echo_s, py_repeat = 0, 60, 0.3, 3
        cmds = [c for w, c, kind in workloads(Sizes, 1000) if kind == "cpu"]
        self.assertEqual(cmds, ["countdown_cpu 1 1000 3", "countdown_cpu 2 1000 3",
                                "countdown_cpu 4 1000 3"])


if __name__ == "__main__":
    unittest.main()
