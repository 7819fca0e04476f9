"""Evidence: quotations hold their phrase, sources are traceable, grounding is counted and never
skipped silently, and `sources fetch` re-reads pages (against a local server, never the network)."""

from __future__ import annotations

import http.server
import json
import threading

import polars as pl
import pytest
from typer.testing import CliRunner

from opsledger.validation import quotations as evidence
from opsledger.cli import app
from opsledger.data.io import confined, inside
from opsledger.errors import PathError
from opsledger.refetch import RateLimiter, fetch, html_text, read_manifest

from conftest import read, set_cell

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True

runner = CliRunner()


def _failing(t: dict, rule: str) -> set[str]:
    from opsledger.validation.rules import evaluate

    return evaluate(t, [rule])[rule]


def _set(t: dict, name: str, key_col: str, key: str, **values) -> dict:
    t = dict(t)
    df = t[name]
    t[name] = df.with_columns([
        pl.when(pl.col(key_col) == key).then(pl.lit(v, dtype=df.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    ])
    return t


def _quoted_claim(t) -> tuple[str, str, str]:
    row = t["claims"].filter(pl.col("quotation").is_not_null()).row(0, named=True)
    return row["claim_id"], row["stated"], row["quotation"]


def test_normalise_whitespace_quotes_dashes_keeps_case():
    assert evidence.normalise("more\u00a0than  1\u2013000 \u201cimages\u201d") == 'more than 1-000 "images"'
    assert evidence.normalise("it\u2019s \u2212 5") == "it's - 5"
    assert evidence.normalise("Nearly") != evidence.normalise("nearly")


def test_shipped_quotations_hold_their_phrase(shipped):
    from opsledger.validation.rules import load_acknowledgements

    acks = {(a["rule"], a["key"]) for a in load_acknowledgements()}
    bad = _failing(shipped, "evidence.phrase_in_quotation")
    assert {("evidence.phrase_in_quotation", k) for k in bad} <= acks
    assert {("evidence.source_traceable", k) for k in _failing(shipped, "evidence.source_traceable")} <= acks


def test_reworded_phrase_fails_in_memory(shipped):
    cid, stated, _q = _quoted_claim(shipped)
    t = _set(shipped, "claims", "claim_id", cid, stated=stated + " reworded")
    assert _failing(t, "evidence.phrase_in_quotation") >= {cid}


def test_reworded_phrase_fails_validation_exit_1(data):
    claims = read(data, "claims")
    cid, stated, _q = _quoted_claim({"claims": claims})
    set_cell(data, "claims", cid, "quotation", "a clause that no longer holds the phrase")
    r = runner.invoke(app, ["validate", str(data), "--rule", "evidence.*"])
    assert r.exit_code == 1
    assert f"evidence.phrase_in_quotation: claims[{cid}]" in r.output


def test_quotation_over_200_characters_fails_schema(data):
    cid, stated, _q = _quoted_claim({"claims": read(data, "claims")})
    set_cell(data, "claims", cid, "quotation", stated + " " + "x" * 200)
    r = runner.invoke(app, ["validate", str(data), "--schema-only"])
    assert r.exit_code == 1
    assert f"claims[{cid}].quotation" in r.output and "schema.max_length" in r.output


def test_untraceable_source(shipped):
    sid = shipped["sources"].row(0, named=True)["source_id"]
    t = _set(shipped, "sources", "source_id", sid, url=None, archive_file=None, published=None)
    assert sid in _failing(t, "evidence.source_traceable")
    t = _set(shipped, "sources", "source_id", sid, url=None, archive_file=None, publisher="P", title="T",
             published=__import__("datetime").date(2020, 1, 1))
    assert sid not in _failing(t, "evidence.source_traceable")


def _mini(quotation="police arrested 12 people in 3 countries", stated="12 people", url="http://x.test/a",
          archive_file=None):
    return {
        "sources": pl.DataFrame({"source_id": ["s1"], "url": [url], "archive_file": [archive_file]},
                                schema={"source_id": pl.Utf8, "url": pl.Utf8, "archive_file": pl.Utf8}),
        "claims": pl.DataFrame({"claim_id": ["c1"], "source_id": ["s1"], "stated": [stated], "quotation": [quotation]},
                               schema={"claim_id": pl.Utf8, "source_id": pl.Utf8, "stated": pl.Utf8,
                                       "quotation": pl.Utf8}),
    }


def test_grounding_counts_quotation_only_and_unsupported():
    assert evidence.grounding_counts(_mini()) == {"grounded": 0, "quotation_only": 1, "unsupported": 0}
    assert evidence.grounding_counts(_mini(quotation=None))["unsupported"] == 1
    assert evidence.grounding_counts(_mini(stated="13 people"))["unsupported"] == 1
    g = evidence.grounding_frame(_mini(quotation=None))
    assert g.filter(pl.col("grounding") == "unsupported").get_column("claim_id").to_list() == ["c1"]


def test_grounding_in_archive_is_confined(tmp_path):
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / "000_a.txt").write_text("Officers arrested 12\u00a0people.", encoding="utf-8")
    (tmp_path / "secret.txt").write_text("12 people", encoding="utf-8")
    t = _mini(quotation=None, url=None, archive_file="000_a.txt")
    assert evidence.grounding_counts(t, tmp_path / "arch")["grounded"] == 1
    t = _mini(quotation=None, url=None, archive_file="../secret.txt")
    assert evidence.grounding_counts(t, tmp_path / "arch")["unsupported"] == 1
    # one confinement policy: readers that skip (inside) refuse exactly what confined refuses
    for bad in ("../secret.txt", "/etc/passwd", "."):
        assert inside(tmp_path / "arch", bad) is None
    for bad in ("../secret.txt", "/etc/passwd"):
        with pytest.raises(PathError):
            confined(tmp_path / "arch", bad, "archive_file")
    assert inside(tmp_path / "arch", "000_a.txt") == (tmp_path / "arch" / "000_a.txt").resolve()


def test_summary_and_reports_carry_grounding(shipped_report):
    g = shipped_report.grounding
    assert set(g) == {"grounded", "quotation_only", "unsupported"}
    assert "grounded in an archived text" in shipped_report.text().splitlines()[0]
    assert json.loads(shipped_report.to_json())["grounding"] == g
    from opsledger.validation.report import render_html

    assert 'id="grounding"' in render_html(shipped_report)


def test_missing_sources_dir_is_unusable(tmp_path):
    from opsledger.errors import UsageError
    from opsledger.validation.run import validate

    with pytest.raises(UsageError) as exc:
        validate(sources=tmp_path / "nope", cross=False)
    assert exc.value.exit_code == 2
    r = runner.invoke(app, ["validate", "--sources", str(tmp_path / "nope")])
    assert r.exit_code == 2
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_release_refuses_without_archive_unless_allowed(tmp_path, monkeypatch):
    from opsledger.publishing import publish, store

    with pytest.raises(store.ReleaseError, match="allow-ungrounded"):
        publish.check_archive(None, False)
    with pytest.raises(store.ReleaseUsageError, match="no such source archive"):
        publish.check_archive(tmp_path / "nope", True)
    assert publish.check_archive(None, True) is True
    r = runner.invoke(app, ["release", "0.1.0", "--to", str(tmp_path / "store"), "--sources", str(tmp_path / "nope")])
    assert r.exit_code == 2 and not (tmp_path / "store" / "0.1.0").exists()


def test_release_records_ungrounded_choice(tmp_path, small_data, plain_charts):
    from opsledger.publishing.publish import release

    store = tmp_path / "store"
    release("0.1.0", store, small_data, sources=None, allow_ungrounded=True, date="2026-11-30")
    dp = json.loads((store / "0.1.0" / "datapackage.json").read_text())
    assert dp["opsledger:evidence"]["allow_ungrounded"] is True
    assert set(dp["opsledger:evidence"]["grounding"]) == {"grounded", "quotation_only", "unsupported"}
    assert "WITHOUT the source archive" in (store / "0.1.0" / "DATASHEET.md").read_text()
    idx = json.loads((store / "index.json").read_text())
    assert idx["versions"][0]["evidence"]["allow_ungrounded"] is True
    assert json.loads((store / "0.1.0" / "validation.json").read_text())["grounding"]


# --------------------------------------------------------------------------- fetch


PAGES = {
    "/same": (200, "<html><head><title>t</title><script>var x='12 people';</script></head><body>"
                   "<p>Police arrested 12&nbsp;people in 3\u00a0countries, officials said.</p></body></html>"),
    "/changed": (200, "<html><body><p>The page now says something else.</p></body></html>"),
    "/private": (200, "<html><body><p>Police arrested 12 people in 3 countries.</p></body></html>"),
    # opsledger may read everything but /private; other robots are kept out altogether
    "/robots.txt": (200, "User-agent: opsledger\nDisallow: /private\n\nUser-agent: *\nDisallow: /\n"),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    agents: list[str] = []
    paths: list[str] = []

    def do_GET(self):  # noqa: N802
        _Handler.agents.append(self.headers.get("User-Agent", ""))
        _Handler.paths.append(self.path)
        if self.path == "/moved":  # a page that moved to where robots.txt keeps opsledger out
            self.send_response(301)
            self.send_header("Location", "/private")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, body = PAGES.get(self.path, (404, "not found"))
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _web_tables(base: str) -> dict:
    q = "Police arrested 12 people in 3 countries"
    return {
        "sources": pl.DataFrame({"source_id": ["a", "b", "c"], "url": [f"{base}/same", f"{base}/changed", f"{base}/gone"],
                                 "archive_file": [None, None, None]},
                                schema={"source_id": pl.Utf8, "url": pl.Utf8, "archive_file": pl.Utf8}),
        "claims": pl.DataFrame({"claim_id": ["ca", "cb", "cc"], "source_id": ["a", "b", "c"],
                                "stated": ["12 people"] * 3, "quotation": [q] * 3}),
    }


def test_fetch_reports_found_changed_gone(tmp_path, server):
    _Handler.agents.clear()
    t = _web_tables(server)
    res = fetch(tmp_path / "cache", tables=t, delay=0, timeout=5, contact="curator@example.org")
    states = {c.claim_id: c.state for c in res.claims}
    assert states == {"ca": "found", "cb": "changed", "cc": "gone"}
    assert all(a.startswith("opsledger/") and "curator@example.org" in a for a in _Handler.agents)
    man = read_manifest(tmp_path / "cache")
    assert {e.status for e in man.values()} == {200, 404}
    assert all(e.fetched_at and (e.sha256 or e.status == 404) for e in man.values())
    assert not [p for p in (tmp_path / "cache").rglob("*.tmp")]
    # the fetched page grounds the web claim; the changed and gone ones stay quotation-only
    g = evidence.grounding_frame(t, tmp_path / "cache")
    assert dict(g.select("claim_id", "grounding").iter_rows()) == {
        "ca": "grounded", "cb": "quotation_only", "cc": "quotation_only"}


def _with_private(base: str) -> dict:
    t = _web_tables(base)
    t["sources"] = pl.concat([t["sources"], pl.DataFrame(
        {"source_id": ["d"], "url": [f"{base}/private"], "archive_file": [None]}, schema=t["sources"].schema)])
    t["claims"] = pl.concat([t["claims"], pl.DataFrame(
        {"claim_id": ["cd"], "source_id": ["d"], "stated": ["12 people"],
         "quotation": ["Police arrested 12 people in 3 countries"]})])
    return t


def test_fetch_obeys_robots_txt(tmp_path, server):
    _Handler.agents.clear()
    _Handler.paths.clear()
    res = fetch(tmp_path / "cache", tables=_with_private(server), delay=0, timeout=5, contact="curator@example.org")
    # robots.txt is read once, with the same User-Agent, and the disallowed page is never requested
    assert _Handler.paths.count("/robots.txt") == 1 and "/private" not in _Handler.paths
    assert {"/same", "/changed", "/gone"} <= set(_Handler.paths)
    assert len(_Handler.agents) == len(_Handler.paths)
    assert all(a.startswith("opsledger/") and "curator@example.org" in a for a in _Handler.agents)
    states = {c.claim_id: (c.state, c.detail) for c in res.claims}
    assert states["cd"][0] == "skipped" and "robots.txt" in states["cd"][1]
    assert {k: v[0] for k, v in states.items() if k != "cd"} == {"ca": "found", "cb": "changed", "cc": "gone"}
    man = read_manifest(tmp_path / "cache")
    assert man[f"{server}/private"].error == "skipped: robots.txt" and not man[f"{server}/private"].file
    assert "1 skipped (robots.txt)" in res.text() and "SKIPPED   cd (d)" in res.text()
    assert res.counts()["skipped"] == 1


@pytest.mark.parametrize(("status", "fetched"), [(404, True), (500, True), (403, False)])
def test_unreadable_robots_txt_allows_but_forbidden_disallows(tmp_path, server, monkeypatch, status, fetched):
    # a robots.txt that cannot be read allows everything (as robotparser does for 404); 401/403 close the host
    monkeypatch.setitem(PAGES, "/robots.txt", (status, "no"))
    _Handler.paths.clear()
    res = fetch(tmp_path / "cache", tables=_with_private(server), delay=0, timeout=5)
    assert ("/private" in _Handler.paths) is fetched
    assert ({c.claim_id: c.state for c in res.claims}["cd"] == "found") is fetched
    if not fetched:
        assert {c.state for c in res.claims} == {"skipped"} and _Handler.paths == ["/robots.txt"]


def test_user_agent_names_the_project_and_asks_for_a_contact(monkeypatch):
    from opsledger import __version__
    from opsledger.refetch import user_agent

    monkeypatch.delenv("OPSLEDGER_CONTACT", raising=False)
    assert user_agent() == f"opsledger/{__version__} (dataset re-verification; set --contact)"
    assert user_agent("me@example.org") == f"opsledger/{__version__} (dataset re-verification; +me@example.org)"
    # a repository address appears only when the package declares one
    repo = "https://example.org/opsledger"
    assert user_agent(None, repo) == f"opsledger/{__version__} (+{repo})"
    assert user_agent("me@example.org", repo) == f"opsledger/{__version__} (+{repo}; me@example.org)"


def test_crawl_delay_slows_the_host_down():
    now = [0.0]
    slept = []
    rl = RateLimiter(1.0, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    rl.slow_down("http://a.test/x", 7.0)
    rl.wait("http://a.test/robots.txt")
    rl.wait("http://a.test/1")
    rl.wait("http://b.test/1")
    rl.wait("http://b.test/2")
    assert slept == [7.0, 1.0]


def test_fetch_refuses_cache_inside_data(data, tmp_path):
    from opsledger.refetch import UnusableCache

    with pytest.raises(UnusableCache):
        fetch(data / "cache", data_dir=data)
    r = runner.invoke(app, ["sources", "fetch", str(data / "cache"), "--data-dir", str(data)])
    assert r.exit_code == 2 and "inside the data" in r.output.replace("\n", " ")


def test_tampered_cache_page_is_not_used(tmp_path, server):
    t = _web_tables(server)
    fetch(tmp_path / "cache", tables=t, delay=0, timeout=5)
    for p in (tmp_path / "cache" / "fetched").glob("*.txt"):
        p.write_text("12 people and more", encoding="utf-8")
    assert evidence.grounding_counts(t, tmp_path / "cache")["grounded"] == 0


def test_rate_limit_per_host():
    now = [0.0]
    slept = []
    rl = RateLimiter(5.0, clock=lambda: now[0], sleep=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    rl.wait("http://a.test/1")
    rl.wait("http://b.test/1")
    rl.wait("http://a.test/2")
    assert slept == [5.0]


def test_html_text_drops_scripts():
    assert html_text("<head><style>p{}</style></head><body><p>a&amp;b</p><script>x</script></body>") == "a&b"


def test_manifest_paths_cannot_escape_the_cache(tmp_path):
    import hashlib

    from opsledger.refetch import MANIFEST, Entry, page_text

    secret = tmp_path / "secret.txt"
    secret.write_text("12 people", encoding="utf-8")
    sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    (cache / "fetched").mkdir(parents=True)
    for name in ("fetched/../../secret.txt", str(secret), "../secret.txt"):
        assert page_text(cache, Entry("http://x.test/a", "t", 200, sha, name)) is None
    (cache / MANIFEST).write_text(json.dumps({"entries": [
        {"url": "http://x.test/a", "fetched_at": "t", "status": 200, "sha256": sha, "file": "fetched/../../secret.txt"}]}))
    assert evidence.grounding_counts(_mini(quotation=None), cache)["grounded"] == 0


def test_blank_phrase_is_not_in_any_quotation(shipped):
    cid, _stated, _q = _quoted_claim(shipped)
    t = _set(shipped, "claims", "claim_id", cid, stated="  ")
    assert cid in _failing(t, "evidence.phrase_in_quotation")


def test_redirect_into_a_disallowed_path_is_not_followed(tmp_path, server):
    _Handler.paths.clear()
    t = _web_tables(server)
    t["sources"] = t["sources"].with_columns(pl.col("url").str.replace("/same$", "/moved"))
    res = fetch(tmp_path / "cache", tables=t, delay=0, timeout=5)
    assert "/moved" in _Handler.paths and "/private" not in _Handler.paths
    assert {c.claim_id: c.state for c in res.claims}["ca"] == "skipped"
    assert read_manifest(tmp_path / "cache")[f"{server}/moved"].error == "skipped: robots.txt"


def test_fetch_reports_its_progress(tmp_path, server):
    seen: list[tuple] = []
    fetch(tmp_path / "cache", tables=_with_private(server), delay=0, timeout=5,
          progress=lambda done, total, url: seen.append((done, total, url.rsplit("/", 1)[-1])))
    # before the first address, then after each one, robots.txt-skipped ones too
    assert seen == [(0, 4, ""), (1, 4, "same"), (2, 4, "changed"), (3, 4, "gone"), (4, 4, "private")]
