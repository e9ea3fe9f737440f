"""Number formats of the report."""


def ns(v):
    """A time in ns: 850 ns, 1.45 µs, 12.3 µs; "–" for None."""
    if v is None:
        return "–"
    if v >= 10000:
        return "%.1f µs" % (v / 1000)
    if v >= 1000:
        return "%.2f µs" % (v / 1000)
    if abs(v) >= 100:
        return "%.0f ns" % v
    return "%.1f ns" % v


def added(v):
    """A signed added time: +1.45 µs, -0.3 ns."""
    if v is None:
        return "–"
    return ("-" if v < 0 else "+") + ns(abs(v))


def times(v, digits=2):
    """A ratio: 1.23×, 1,234×."""
    if v is None:
        return "–"
    if v >= 100:
        return "{:,.0f}×".format(v)
    return "%.*f×" % (digits, v)


def pct(v):
    """A signed fraction in per cent: +2.4%."""
    return "–" if v is None else ("%+.1f%%" % (100 * v))


def thousands(v):
    return "{:,.0f}".format(v)
