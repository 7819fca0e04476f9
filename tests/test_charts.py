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

    def measure(fig, title):
        fig.canvas.draw()
        seen.append([(t.get_text(), t.get_window_extent().x0) for ax in fig.axes for t in ax.get_yticklabels()])
        return real(fig, title)

    monkeypatch.setattr(charts, "_svg", measure)
    charts._timeline.cache_clear() if hasattr(charts._timeline, "cache_clear") else None
    charts._ranges.cache_clear() if hasattr(charts._ranges, "cache_clear") else None
    return seen


def test_no_timeline_label_is_cut_off(drawn):
    items = [(LONG, (dt.date(2024, 1, 1), dt.date(2024, 1, 31)), (dt.date(2024, 6, 1), dt.date(2024, 6, 1))),
             ("Operation H", None, (dt.date(2022, 3, 2), dt.date(2022, 3, 2)))]
    charts.timeline(items, "test timeline")
    (labels,) = drawn
    assert any("\n" in text for text, _ in labels)  # the long name wraps
    assert all(x0 >= 0 for _, x0 in labels), labels


def test_no_range_label_is_cut_off(drawn):
    rows = [charts.Range(LONG, 46.0, 46.0, 46.0, False), charts.Range("Operation H", 146.0, 146.0, 146.0, False)]
    charts.ranges(rows, "test ranges", xlabel="arrests")
    (labels,) = drawn
    assert all(x0 >= 0 for _, x0 in labels), labels
