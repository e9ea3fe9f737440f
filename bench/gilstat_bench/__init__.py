"""The benchmark's harness and report, shared with tests/e2e.

Harness (used by bench/report.py and the end-to-end tests): ``procs`` (starting and stopping
gilstatd and target processes, free ports, waiting), ``exposition`` (scraping and parsing the
Prometheus text format), ``stats`` (medians, noise, ratios of interleaved measurements).

Report (bench/report.py): ``context`` (sizes and paths), ``attach`` (the configurations
attached to a target), one ``section_*`` module per section measuring and returning data,
``goals`` (the PASS/MISS decisions), ``render`` (Markdown and prose).
"""
