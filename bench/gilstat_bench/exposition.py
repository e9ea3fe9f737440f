"""Scraping and parsing the Prometheus text exposition format (version 0.0.4)."""

import re
import urllib.request
from dataclasses import dataclass

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict
    value: float


def _unescape(value):
    return re.sub(r'\\[\\"n]', lambda m: _ESCAPES[m.group(0)], value)


def parse(text):
    """The samples of an exposition, in order; comments, blank lines and lines that are not a
    sample (or whose value is not a number) are skipped."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        try:
            value = float(m.group(3))
        except ValueError:
            continue
        labels = {k: _unescape(v) for k, v in _LABEL.findall(m.group(2) or "")}
        out.append(Sample(m.group(1), labels, value))
    return out


def _matches(sample, name, labels):
    return sample.name == name and all(sample.labels.get(k) == str(v) for k, v in labels.items())


class Exposition:
    """One scrape, parsed. Label filters match the samples whose labels include them (values
    compared as strings: pid=123 matches pid="123")."""

    def __init__(self, text):
        self.text = text
        self.samples = parse(text)

    def get(self, name, **labels):
        """The value of the first sample of `name` whose labels include `labels`, or None."""
        for s in self.samples:
            if _matches(s, name, labels):
                return s.value
        return None

    def total(self, name, **labels):
        """The sum of the samples of `name` whose labels include `labels`, or None if none."""
        vals = [s.value for s in self.samples if _matches(s, name, labels)]
        return sum(vals) if vals else None

    def labels_of(self, name, **labels):
        """The labels of the first sample of `name` whose labels include `labels`, or None."""
        for s in self.samples:
            if _matches(s, name, labels):
                return dict(s.labels)
        return None

    def buckets(self, name, **labels):
        """{le: cumulative count} of histogram `name`."""
        return {float(s.labels["le"]): s.value for s in self.samples
                if _matches(s, name + "_bucket", labels) and "le" in s.labels}

    def names(self):
        """The metric names that have samples."""
        return {s.name for s in self.samples}


def http_get(url, timeout=10):
    """(status, body) of a GET."""
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


def scrape(port, timeout=10, host="127.0.0.1"):
    """The text of http://host:port/metrics."""
    return http_get("http://%s:%d/metrics" % (host, port), timeout)[1]
