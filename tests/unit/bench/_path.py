"""Puts the repository's bench/ on sys.path (the package gilstat_bench lives there)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "bench"))
