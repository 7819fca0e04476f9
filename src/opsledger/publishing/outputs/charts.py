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


def _svg(fig, title: str, prefix: str = "") -> str:
    """The figure as inline SVG; ``prefix`` goes before every id it defines and refers to, so two
    drawings of one chart (wide and narrow) can stand in one page without sharing an id."""
    plt = _plt()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Title": title})
    plt.close(fig)
    text = buf.getvalue()
    start = text.find("<svg")  # drop the XML prolog and doctype: the SVG is inlined into HTML
    svg = text[start:]
    if prefix:
        svg = (svg.replace(' id="', f' id="{prefix}').replace('xlink:href="#', f'xlink:href="#{prefix}')
               .replace("url(#", f"url(#{prefix}"))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(title)}" ', 1)


#: characters a chart label holds on one line; a longer label wraps (never cut off at the figure's edge)
LABEL_WIDTH = 34
#: the same for the narrow drawing of a chart, shown on phones
NARROW_LABEL_WIDTH = 20
#: a chart's width in inches: the wide drawing (~730 px) and the narrow one for phones (~440 px), each
#: drawn so that its text reads at about 10 px or more where the page shows it
WIDE, NARROW = 7.6, 4.6


def wrap_label(label: str, width: int = LABEL_WIDTH) -> str:
    """A long label on several lines of at most ``width`` characters."""
    import textwrap

    return "\n".join(textwrap.wrap(label, width, break_long_words=True)) or label


def _rows(labels: list[str], row: float) -> tuple[list[float], float]:
    """Each row as tall as its (wrapped) label needs and at least ``row`` inches: the rows' centres,
    top row first, in inches above the bottom of the plot, and the plot's height. A chart's height so
    grows with its labels' lines, not with its longest label times its number of rows."""
    slots = [max(row, 0.16 * (x.count("\n") + 1) + 0.1) for x in labels] or [row]
    total, ys, top = sum(slots), [], 0.0
    for h in slots:
        ys.append(total - top - h / 2)
        top += h
    return ys, total


def _figure(plt, labels: list[str], row: float, width: float):
    """A figure whose plot is as tall as its rows, with fixed margins (cheaper than a tight bounding
    box, which draws the figure twice), wide enough for the longest line of the labels (0.08 inch a
    character at 10 pt). Returns (figure, axes, each row's centre)."""
    ys, total = _rows(labels, row)
    top = 0.55 if len(labels) > TOP_AXIS_ROWS else 0.3  # room for the scale repeated on top
    height = total + 0.55 + top
    fig, ax = plt.subplots(figsize=(width, height))
    longest = max((len(line) for x in labels for line in x.split("\n")), default=4)
    fig.subplots_adjust(left=min(0.06 + 0.08 * longest / width, 0.5), right=0.96 if width == WIDE else 0.93,
                        bottom=0.55 / height, top=1 - top / height)
    ax.set_ylim(0, total)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels or [""])
    return fig, ax, ys


#: a chart with more rows than this repeats its scale at the top (a tall chart's bottom axis is out of sight)
TOP_AXIS_ROWS = 12


def _scale_on_top(ax, n: int) -> None:
    if n > TOP_AXIS_ROWS:
        ax.tick_params(axis="x", top=True, labeltop=True)


def _attr(s: str) -> str:
    return s.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def ranges(rows: list[Range], title: str, xlabel: str = "", narrow: bool = False) -> str:
    """Cached: releases of the same data in one process draw each chart once. ``narrow``: the drawing
    for phones (narrower, labels wrapped shorter, the same text size)."""
    import dataclasses

    return _ranges(tuple(dataclasses.replace(r, label=chart_label(r.label)) for r in rows), chart_label(title),
                   chart_label(xlabel), narrow)


@functools.lru_cache(maxsize=512)
def _ranges(rows: tuple[Range, ...], title: str, xlabel: str = "", narrow: bool = False) -> str:
    """One row per figure: a bar from low to high (an arrow where there is no upper bound) and a dot at
    the value. A log scale when the figures span more than two orders of magnitude."""
    from matplotlib.ticker import FuncFormatter

    plt = _plt()
    rows = [r for r in rows if r.value is not None or r.low is not None or r.high is not None]
    n = max(len(rows), 1)
    width = NARROW if narrow else WIDE
    labels = [wrap_label(r.label, NARROW_LABEL_WIDTH if narrow else LABEL_WIDTH) for r in rows]
    fig, ax, ys = _figure(plt, labels, 0.42, width)
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
        y = ys[i]
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
                        ha="center", fontsize=9 if narrow else 8, color="#222")
    ax.set_xlim(left, right)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _p: fmt.number(x)))
    ax.grid(axis="x", color="#ddd", lw=0.6)
    ax.set_axisbelow(True)
    _scale_on_top(ax, n)
    if xlabel:
        ax.set_xlabel(xlabel)
    if narrow:  # fewer ticks: the labels of a log scale must not run into each other
        if log:
            ax.xaxis.set_major_locator(LogLocator(base=10, numticks=4))
        else:
            ax.locator_params(axis="x", nbins=4)
    return _svg(fig, title, "n-" if narrow else "")


Interval = tuple  # (earliest, latest) of a date known to a precision


def timeline(items: list[tuple[str, Interval | None, Interval | None]], title: str, narrow: bool = False) -> str:
    """Cached like :func:`ranges`. Each item: a label, its launch and its announcement, each an
    interval (earliest, latest), a date, or None."""
    return _timeline(tuple((chart_label(label), a, b) for label, a, b in items), chart_label(title), narrow)


def _as_interval(x) -> Interval | None:
    if x is None:
        return None
    return x if isinstance(x, tuple) else (x, x)


@functools.lru_cache(maxsize=16)
def _timeline(items: tuple, title: str, narrow: bool = False) -> str:
    """Operations on a time axis: a bar from launch to announcement; each date drawn as a band as wide
    as its precision allows (a day as a dot), so a date known only to the year reads as a year."""
    import matplotlib.dates as mdates

    plt = _plt()
    items = [(i[0], _as_interval(i[1]), _as_interval(i[2])) for i in items if i[1] or i[2]]
    n = max(len(items), 1)
    width = NARROW if narrow else WIDE
    labels = [wrap_label(i[0], NARROW_LABEL_WIDTH if narrow else LABEL_WIDTH) for i in items]
    fig, ax, ys = _figure(plt, labels, 0.3, width)
    days = [d for _l, a, b in items for iv in (a, b) if iv for d in iv]
    # a band narrower than this would be a hairline on the axis (a week or a month over decades): it is
    # drawn as an open circle, so every operation has a mark a reader can see
    visible = dt.timedelta(days=max((max(days) - min(days)).days / 80, 1)) if days else dt.timedelta(days=1)
    for k, (_label, start, end) in enumerate(items):
        y = ys[k]
        if start and end and end[0] > start[1]:
            ax.plot([start[1], end[0]], [y, y], color=BLUE, lw=2, alpha=0.7, solid_capstyle="butt")
        for iv in (start, end):
            if iv is None:
                continue
            if iv[1] - iv[0] >= visible:
                ax.plot([iv[0], iv[1] + dt.timedelta(days=1)], [y, y], color=BLUE, lw=7, alpha=0.35,
                        solid_capstyle="butt")
            elif iv[1] > iv[0]:
                ax.plot([iv[0] + (iv[1] - iv[0]) / 2], [y], "o", mfc="white", mec=BLUE, mew=1.5, ms=6)
            else:
                ax.plot([iv[0]], [y], "o", color=BLUE, ms=5)
    if not items:
        ax.set_xlim(dt.date(2000, 1, 1), dt.date(2001, 1, 1))
    years = [d.year for _l, a, b in items for iv in (a, b) if iv for d in iv]
    span_years = (max(years) - min(years)) if years else 1
    ax.xaxis.set_major_locator(mdates.YearLocator(base=(2 if span_years <= 12 else 4) * (2 if narrow else 1)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.grid(axis="x", color="#ddd", lw=0.6)
    ax.set_axisbelow(True)
    _scale_on_top(ax, n)
    ax.set_xlabel("launched to announced; a dot is a day; an open circle (week,\nmonth) or a band (year, bounds) is a date known only that well"
                  if narrow else "launched to announced; a dot is a day; an open circle (a week or a month) or a band (a year "
                  "or bounds) is a date known only that well")
    return _svg(fig, title, "n-" if narrow else "")
