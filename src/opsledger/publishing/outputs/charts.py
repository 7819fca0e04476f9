"""Static SVG charts for the site, drawn with matplotlib's SVG backend (no script, no remote asset).

Deterministic: a fixed hash salt and no date in the metadata, so the same data gives the same bytes.
Imported only when the site is built (matplotlib is never imported by ``opsledger.load``).

Text from the data (operation names, metric labels, titles) is drawn as written: mathtext is off for
every text (``text.parse_math``), and every label goes through :func:`opsledger.escape.chart_label`.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from dataclasses import dataclass

from opsledger.data import fmt
from opsledger.escape import chart_label

BLUE, ORANGE, GREY = "#1f5f99", "#c4561b", "#6b6b6b"


@dataclass(frozen=True)
class Range:
    label: str
    value: float | None
    low: float | None
    high: float | None
    disputed: bool = False
    href: str | None = None
    hull_low: float | None = None  # everything the sources allow together, where wider than low..high
    hull_high: float | None = None
    has_hull: bool = False
    text: str | None = None  # the figure as a reader sees it ("nearly 63,000"); else the value


def _plt():
    import matplotlib

    matplotlib.use("svg", force=True)
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({
        "svg.hashsalt": "opsledger", "svg.fonttype": "none", "font.family": "sans-serif",
        "font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
        "text.parse_math": False, "text.usetex": False,  # a "$" from the data is a dollar sign, never mathtext
    })
    return plt


def _svg(fig, title: str) -> str:
    plt = _plt()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Title": title})
    plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")  # drop the XML prolog and doctype: the SVG is inlined into HTML
    svg = text[start:]
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


#: characters a chart label holds on one line; a longer label wraps (never cut off at the figure's edge)
LABEL_WIDTH = 34


def wrap_label(label: str) -> str:
    """A long label on several lines of at most :data:`LABEL_WIDTH` characters."""
    import textwrap

    return "\n".join(textwrap.wrap(label, LABEL_WIDTH, break_long_words=True)) or label


def _margins(fig, n: int, labels: list[str], row: float = 0.42) -> None:
    """Fixed margins (cheaper than a tight bounding box, which draws the figure twice), wide enough for
    the longest line of the (wrapped) labels."""
    height = row * n + 0.9
    longest = max((len(line) for x in labels for line in x.split("\n")), default=4)
    fig.subplots_adjust(left=min(0.06 + 0.0105 * longest, 0.46), right=0.96,
                        bottom=0.55 / height, top=1 - 0.3 / height)


#: a chart with more rows than this repeats its scale at the top (a tall chart's bottom axis is out of sight)
TOP_AXIS_ROWS = 12


def _scale_on_top(ax, n: int) -> None:
    if n > TOP_AXIS_ROWS:
        ax.tick_params(axis="x", top=True, labeltop=True)


def _attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def ranges(rows: list[Range], title: str, xlabel: str = "") -> str:
    """Cached: releases of the same data in one process draw each chart once."""
    import dataclasses

    return _ranges(tuple(dataclasses.replace(r, label=chart_label(r.label)) for r in rows), chart_label(title),
                   chart_label(xlabel))


@functools.lru_cache(maxsize=512)
def _ranges(rows: tuple[Range, ...], title: str, xlabel: str = "") -> str:
    """One row per figure: a bar from low to high (an arrow where there is no upper bound) and a dot at
    the value. A log scale when the figures span more than two orders of magnitude."""
    from matplotlib.ticker import FuncFormatter

    plt = _plt()
    rows = [r for r in rows if r.value is not None or r.low is not None or r.high is not None]
    n = max(len(rows), 1)
    labels = [wrap_label(r.label) for r in rows]
    row = 0.42 * max((x.count("\n") + 1 for x in labels), default=1) ** 0.5
    fig, ax = plt.subplots(figsize=(7.6, row * n + 0.9))
    _margins(fig, n, labels, row=row)
    vals = [x for r in rows for x in (r.value, r.low, r.high, r.hull_low, r.hull_high) if x is not None and x > 0]
    lo_all, hi_all = (min(vals), max(vals)) if vals else (1, 10)
    log = hi_all / lo_all > 100
    if log:
        from matplotlib.ticker import LogLocator, NullLocator

        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
        ax.xaxis.set_minor_locator(NullLocator())
        left, right = lo_all / 2, hi_all * 3
    else:
        left, right = 0, hi_all * 1.15 or 1
    for i, r in enumerate(rows):
        y = n - 1 - i
        color = ORANGE if r.disputed else BLUE
        if r.has_hull:
            hlo = r.hull_low if r.hull_low is not None and (not log or r.hull_low > 0) else left
            if r.hull_high is None:
                ax.annotate("", xy=(right, y), xytext=(hlo, y),
                            arrowprops={"arrowstyle": "->", "color": GREY, "lw": 1.2, "alpha": 0.8})
            else:
                ax.plot([hlo, r.hull_high], [y, y], color=GREY, lw=1.2, alpha=0.8)
        lo = r.low if r.low is not None and (not log or r.low > 0) else left
        if r.high is None:
            ax.annotate("", xy=(right, y), xytext=(lo, y),
                        arrowprops={"arrowstyle": "->", "color": color, "lw": 2.5, "alpha": 0.55})
        else:
            ax.plot([lo, r.high], [y, y], color=color, lw=6, alpha=0.35, solid_capstyle="butt")
        if r.value is not None and (not log or r.value > 0):
            ax.plot([r.value], [y], "o", color=color, ms=6)
            ax.annotate(r.text or fmt.number(r.value), (r.value, y), xytext=(0, 7), textcoords="offset points",
                        ha="center", fontsize=8, color="#222")
    ax.set_yticks(range(n))
    ax.set_yticklabels(list(reversed(labels)) or [""])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(left, right)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: fmt.number(x)))
    ax.grid(axis="x", color="#ddd", lw=0.6)
    ax.set_axisbelow(True)
    _scale_on_top(ax, n)
    if xlabel:
        ax.set_xlabel(xlabel)
    return _svg(fig, title)


Interval = tuple  # (earliest, latest) of a date known to a precision


def timeline(items: list[tuple[str, Interval | None, Interval | None]], title: str) -> str:
    """Cached like :func:`ranges`. Each item: a label, its launch and its announcement, each an
    interval (earliest, latest), a date, or None."""
    return _timeline(tuple((chart_label(label), a, b) for label, a, b in items), chart_label(title))


def _as_interval(x) -> Interval | None:
    if x is None:
        return None
    return x if isinstance(x, tuple) else (x, x)


@functools.lru_cache(maxsize=16)
def _timeline(items: tuple, title: str) -> str:
    """Operations on a time axis: a bar from launch to announcement; each date drawn as a band as wide
    as its precision allows (a day as a dot), so a date known only to the year reads as a year."""
    import matplotlib.dates as mdates

    plt = _plt()
    items = [(i[0], _as_interval(i[1]), _as_interval(i[2])) for i in items if i[1] or i[2]]
    n = max(len(items), 1)
    labels = [wrap_label(i[0]) for i in items]
    row = 0.3 * max((x.count("\n") + 1 for x in labels), default=1) ** 0.5
    fig, ax = plt.subplots(figsize=(7.6, row * n + 0.9))
    _margins(fig, n, labels, row=row)
    for k, (_label, start, end) in enumerate(items):
        y = n - 1 - k
        if start and end and end[0] > start[1]:
            ax.plot([start[1], end[0]], [y, y], color=BLUE, lw=2, alpha=0.7, solid_capstyle="butt")
        for iv in (start, end):
            if iv is None:
                continue
            if iv[1] > iv[0]:
                ax.plot([iv[0], iv[1] + dt.timedelta(days=1)], [y, y], color=BLUE, lw=7, alpha=0.35,
                        solid_capstyle="butt")
            else:
                ax.plot([iv[0]], [y], "o", color=BLUE, ms=5)
    if not items:
        ax.set_xlim(dt.date(2000, 1, 1), dt.date(2001, 1, 1))
    ax.set_yticks(range(n))
    ax.set_yticklabels(list(reversed(labels)) or [""])
    ax.set_ylim(-0.7, n - 0.3)
    years = [d.year for _l, a, b in items for iv in (a, b) if iv for d in iv]
    span_years = (max(years) - min(years)) if years else 1
    ax.xaxis.set_major_locator(mdates.YearLocator(base=2 if span_years <= 12 else 4))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(axis="x", color="#ddd", lw=0.6)
    ax.set_axisbelow(True)
    _scale_on_top(ax, n)
    ax.set_xlabel("launched to announced; a band is a date known only to its week, month, year or bounds")
    return _svg(fig, title)
