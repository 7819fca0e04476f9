"""Chart labels are whole: a long operation name wraps, and no label of a chart starts left of the
figure's edge (the site's timeline and metric charts cut long names off before)."""

from __future__ import annotations

import datetime as dt

import pytest

from opsledger.publishing.outputs import charts

LONG = "Singapore-Hong Kong-Korea cross-border operation against online child sexual exploitation (2024)"


@pytest.fixture
def drawn(monkeypatch):
    """Every figure a chart function draws, measured before it is saved: (label text, left edge in px)."""
    seen: list[list[tuple[str, float]]] = []
    real = charts._svg

    def measure(fig, title, *args):
        fig.canvas.draw()
        seen.append([(t.get_text(), t.get_window_extent().x0) for ax in fig.axes for t in ax.get_yticklabels()])
        return real(fig, title, *args)

    monkeypatch.setattr(charts, "_svg", measure)
    charts._timeline.cache_clear() if hasattr(charts._timeline, "cache_clear") else None
    charts._ranges.cache_clear() if hasattr(charts._ranges, "cache_clear") else None
    return seen


@pytest.mark.parametrize("narrow", [False, True])
def test_no_timeline_label_is_cut_off(drawn, narrow):
    items = [(LONG, (dt.date(2024, 1, 1), dt.date(2024, 1, 31)), (dt.date(2024, 6, 1), dt.date(2024, 6, 1))),
             ("Operation H", None, (dt.date(2022, 3, 2), dt.date(2022, 3, 2)))]
    charts.timeline(items, "test timeline", narrow=narrow)
    (labels,) = drawn
    assert any("\n" in text for text, _ in labels)  # the long name wraps
    assert all(x0 >= 0 for _, x0 in labels), labels


@pytest.mark.parametrize("narrow", [False, True])
def test_no_range_label_is_cut_off(drawn, narrow):
    rows = [charts.Range(LONG, 46.0, 46.0, 46.0, False), charts.Range("Operation H", 146.0, 146.0, 146.0, False)]
    charts.ranges(rows, "test ranges", xlabel="arrests", narrow=narrow)
    (labels,) = drawn
    assert all(x0 >= 0 for _, x0 in labels), labels


def _height_pt(svg: str) -> float:
    import re

    return float(re.search(r'<svg[^>]*height="([0-9.]+)pt"', svg).group(1))


def test_a_row_is_as_tall_as_its_label_not_the_longest_label():
    """One long (wrapped) label makes its own row taller, not every row: 40 short rows and one long
    one stay within a few lines of 41 short rows (they were ~1.7 times as tall before)."""
    short = [charts.Range(f"Operation {i}", float(i + 1), float(i + 1), float(i + 1)) for i in range(40)]
    plain = _height_pt(charts.ranges([*short, charts.Range("Operation X", 5.0, 5.0, 5.0)], "plain"))
    mixed = _height_pt(charts.ranges([*short, charts.Range(LONG, 5.0, 5.0, 5.0)], "mixed"))
    assert plain < mixed < plain + 72  # under an inch more


def test_a_tall_chart_repeats_its_scale_on_top_and_the_narrow_drawing_has_its_own_ids():
    import re

    many = [charts.Range(f"Operation {i}", float(i + 1), float(i + 1), float(i + 1)) for i in range(charts.TOP_AXIS_ROWS + 1)]
    few = many[:3]

    def labels_per_tick(svg: str) -> float:  # the x axis: each tick's labels (bottom, and top if repeated)
        x_axis = svg.split('id="matplotlib.axis_1"')[1].split('id="matplotlib.axis_2"')[0]
        return x_axis.count("<text") / len(re.findall(r'id="xtick_\d+"', x_axis))

    assert labels_per_tick(charts.ranges(few, "few")) == 1
    assert labels_per_tick(charts.ranges(many, "many")) == 2
    wide, narrow = charts.ranges(many, "many"), charts.ranges(many, "many", narrow=True)
    ids = lambda svg: set(re.findall(r' id="([^"]+)"', svg))  # noqa: E731
    assert ids(narrow) and all(i.startswith("n-") for i in ids(narrow)) and not ids(wide) & ids(narrow)
    refs = re.findall(r'(?:xlink:href="#|url\(#)([^")]+)', narrow)
    assert refs and all(r in ids(narrow) for r in refs)  # every reference names an id of its own drawing


@pytest.mark.parametrize("narrow", [False, True])
def test_a_date_known_to_its_week_is_a_visible_mark_not_a_hairline(narrow):
    # over three decades a week-wide band would be under a pixel: it is drawn as an open circle
    a = ("Operation A", None, (dt.date(1993, 3, 1), dt.date(1993, 3, 1)))
    b = ("Operation B", None, (dt.date(2007, 10, 16), dt.date(2007, 10, 18)))
    c = ("Operation C", None, (dt.date(2024, 1, 1), dt.date(2024, 12, 31)))
    without = charts.timeline([a, c], "timeline test", narrow=narrow)
    svg = charts.timeline([a, b, c], "timeline test", narrow=narrow)
    assert svg.count("fill: #ffffff") == without.count("fill: #ffffff") + 1  # B's open circle
    assert svg.count("stroke-opacity: 0.35") == without.count("stroke-opacity: 0.35") == 1  # C's year: a band
