"""Property tests (hypothesis) of the hostile-input classes: fuzzed server answers through ``sources
fetch`` and the HTTP store (each ends as that address's error or a one-line store error, never a crash),
and fuzzed values through each output format's escaping function."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from opsledger import net
from opsledger.errors import OpsledgerError
from opsledger.publishing import store
from opsledger.refetch import fetch

from hostile_server import Server, response
from test_hostile_net import PAGE, _tables

KINDS = ("refused: ", "skipped: ", "dns: ", "unreachable: ", "timeout: ", "too-large: ", "bad-response: ", "http: ")

# --------------------------------------------------------------------------- fuzzed answers

_reason = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=20)
_status = st.one_of(
    st.builds(lambda code, reason: f"HTTP/1.1 {code} {reason}", st.sampled_from(
        [200, 204, 206, 301, 302, 303, 307, 308, 404, 410, 500, 999, 100, 0]), _reason),
    st.builds(lambda v, code: f"{v} {code}", st.sampled_from(["HTTP/1.0", "HTTP/2", "HTTP/1.1", "ICY", ""]),
              st.integers(-10, 100000)),
    st.text(st.characters(codec="latin-1"), max_size=40),
)
_charset = st.sampled_from(["utf-8", "latin-1", "utf-16", "no-such", "rot13", "base64", "idna", "punycode",
                            "utf-7", "", "\"utf-8", "cp1252"])
_header = st.one_of(
    st.builds(lambda t, c: ("Content-Type", f"{t}; charset={c}"), st.sampled_from(["text/html", "text/plain",
                                                                                  "application/json", ""]), _charset),
    st.builds(lambda n: ("Content-Length", n), st.one_of(st.integers(-5, 10**12).map(str), _reason)),
    st.builds(lambda loc: ("Location", loc), st.one_of(st.sampled_from(
        ["/ok", "/x", "ftp://127.0.0.1/x", "file:///etc/passwd", "data:,12 people", "javascript:alert(1)",
         "http://[::1", "//127.0.0.1:1/x", "http://127.0.0.1:1/x", "http://169.254.169.254/", "http://10.0.0.1/",
         "https://127.0.0.1:1/", "http://localhost:1/", " /ok", "/ok#frag", "http://a b/"]), _reason)),
    st.just(("Transfer-Encoding", "chunked")),
    st.tuples(st.text(st.characters(codec="latin-1", exclude_characters="\r\n:"), min_size=1, max_size=10), _reason),
)
_body = st.one_of(st.binary(max_size=600), st.just(PAGE), st.sampled_from(
    [b"<![foo[ x ]]>", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", b"\xff\xfe<\x00p\x00>\x00", b"{" * 5000]))


@st.composite
def answers(draw) -> bytes:
    head = draw(_status) + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in draw(st.lists(_header, max_size=6)))
    return head.encode("latin-1") + b"\r\n" + draw(_body)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_fuzzed_answers_are_one_error_each_for_fetch_and_the_store():
    with Server() as s:

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(answer=answers(), robots=st.booleans())
        def run(answer: bytes, robots: bool) -> None:
            s.routes.clear()
            s.routes.update({"/x": answer, "/ok": response("200 OK", PAGE, [("Content-Type", "text/html")]),
                             "/index.json": answer, "/0.1.0/SHA256SUMS": answer})
            if robots:
                s.routes["/robots.txt"] = answer
            with tempfile.TemporaryDirectory() as tmp:
                res = fetch(Path(tmp) / "cache", tables=_tables([s.url("/x")]), delay=0, timeout=1)
                (entry,) = res.entries
                assert entry.error is None or entry.error.startswith(KINDS), entry
                assert entry.error is not None or entry.file is not None, entry
            try:
                store.load("agencies", store=s.base)
            except OpsledgerError:
                pass  # a one-line error of the store (exit 1 or 2), never another exception
            try:
                with net.open_url(s.url("/x"), net.Policy(timeout=1, deadline=2, max_bytes=1000)) as r:
                    r.read()
            except net.NetError as exc:
                assert str(exc).startswith(KINDS)

        run()


# --------------------------------------------------------------------------- fuzzed values through each escaping function

from opsledger import escape  # noqa: E402

#: text with what an attacker would try: markup, Markdown, formulas, control and bidi characters
_piece = st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cs",)),
    st.sampled_from(list("<>&\"'`*_[]()!#|~$\\=+-@\t\r\n\x00\x07\x1b\x7f\x85\u202e\u2066\u200b\u2028\ufeff")),
    st.sampled_from(["<script>", "</p>", "javascript:", "](", "![", "&lt;", "&#60;", "---", "1. ", "# ", "> ",
                     "=HYPERLINK(", "$x^2$", "\\$", "```", "<!--", "http://x.test"]))
_hostile = st.lists(_piece, max_size=12).map("".join)

_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@_SETTINGS
@given(value=_hostile)
def test_html_terminal_and_show_escaping(value):
    import markupsafe

    from opsledger.escape import UNSAFE

    out = str(markupsafe.escape(escape.html(value)))
    assert not UNSAFE.search(out) and "<" not in out and ">" not in out
    assert not UNSAFE.search(escape.terminal(value))
    cell = escape.show_cell(value)
    assert "\n" not in cell and "\r" not in cell and not UNSAFE.search(cell)


@_SETTINGS
@given(values=st.lists(st.one_of(_hostile, st.integers(-10**6, 10**6)), min_size=1, max_size=4))
def test_csv_cells_never_start_a_formula_and_read_back(values):
    import csv
    import io

    from opsledger.data import fmt
    from opsledger.publishing.outputs.exports import _csv_line

    cells = [escape.csv_cell(v) for v in values]
    for v, c in zip(values, cells):
        if isinstance(v, str):
            assert not c.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))
            assert (c[1:] if c.startswith("'") else c) == v  # the rule can be undone
        else:
            assert c == v
    line = _csv_line([fmt.plain(c) for c in cells])
    (row,) = list(csv.reader(io.StringIO(line, newline="")))  # one record, whatever the values hold
    assert row == [fmt.plain(c) for c in cells]


def _md_text(value: str) -> str:
    return " ".join(escape.visible(value).replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
                    .replace("\t", " ").split(" ")).strip()


@_SETTINGS
@given(value=_hostile)
def test_markdown_renders_as_the_text_and_nothing_else(value):
    import html

    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    for doc, before, after in ((f"x {escape.markdown(value)} y", "x ", " y"), (escape.markdown(value), "", "")):
        out = md.render(doc)
        expected = (before + _md_text(value) + after).strip(" ")
        if not expected:
            continue
        assert out.startswith("<p>") and out.endswith("</p>\n"), (doc, out)
        inner = out[3:-5]
        assert "<" not in inner, (doc, out)  # no tag, link, image, emphasis or code from the value
        assert html.unescape(inner) == expected, (doc, out)
    code = md.render(f"x {escape.markdown_code(value)} y")
    assert code.count("<code>") == (1 if value else 0) and "<a " not in code and "<script" not in code


@pytest.mark.filterwarnings("ignore:Glyph .* missing from font")
@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(label=_hostile.filter(lambda s: s.strip()), xlabel=_hostile)
def test_chart_labels_are_drawn_as_written(label, xlabel):
    from xml.sax.saxutils import escape as xml

    from opsledger.publishing.outputs import charts

    svg = charts.ranges([charts.Range(label, 5, 1, 10), charts.Range("$", None, 1, None)], label, xlabel=xlabel)
    shown = escape.chart_label(label)
    assert "\n" not in shown and not escape.UNSAFE.search(shown)
    assert xml(shown.strip()) in svg or xml(shown.strip(), {'"': "&quot;"}) in svg


@_SETTINGS
@given(value=_hostile)
def test_links_are_http_or_nothing(value):
    for url in (value, "https://x.test/" + value, "javascript:" + value, " data:" + value):
        out = escape.href(url)
        assert out is None or (out.startswith(("http://", "https://")) and not escape.UNSAFE.search(out)
                               and not any(c in out for c in "\r\n\t"))
