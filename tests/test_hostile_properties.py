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
