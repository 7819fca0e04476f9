"""The one URL policy (opsledger.net) as ``sources fetch`` and an HTTP release store meet it: http(s)
only, redirects to public addresses only (the address named is allowed, another loopback port is not),
a total deadline, a body counted as it arrives and hashed to disk, and every hostile answer one
address's error, never a crash. Local servers on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import io
import json
import time
import tracemalloc

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from opsledger import net, refetch
from opsledger.cli import app
from opsledger.publishing import httpstore, store
from opsledger.refetch import fetch, read_manifest

from hostile_server import Server, drip, redirect, response, stream

#: the tests' ``data`` is the small dataset: they edit rows of its operations only (conftest)
SMALL_DATA = True

PAGE = b"<html><body><p>Police arrested 12 people in 3 countries.</p></body></html>"
QUOTE = "Police arrested 12 people in 3 countries"
HTML = [("Content-Type", "text/html; charset=utf-8")]
runner = CliRunner()


def _tables(urls: list[str]) -> dict:
    ids = [f"s{i}" for i in range(len(urls))]
    return {
        "sources": pl.DataFrame({"source_id": ids, "url": urls, "archive_file": [None] * len(urls)},
                                schema={"source_id": pl.Utf8, "url": pl.Utf8, "archive_file": pl.Utf8}),
        "claims": pl.DataFrame({"claim_id": [f"c{i}" for i in range(len(urls))], "source_id": ids,
                                "stated": ["12 people"] * len(urls), "quotation": [QUOTE] * len(urls)}),
    }


def _fetch(tmp_path, urls, timeout=2.0):
    res = fetch(tmp_path / "cache", tables=_tables(urls), delay=0, timeout=timeout)
    return res, {e.url: e for e in res.entries}


# --------------------------------------------------------------------------- sources fetch


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x", "data:text/html,<p>12 people</p>",
                                 "javascript:alert(1)", "gopher://127.0.0.1:70/x", "not an address", "http://",
                                 "http://127.0.0.1:99999/x", "http://[::1/x", "http://ex ample.org/"])
def test_fetch_reads_http_and_https_only(tmp_path, url):
    res, entries = _fetch(tmp_path, [url])
    assert entries[url].error.startswith("refused: ") and entries[url].status is None
    assert [c.state for c in res.claims] == ["unchecked"]
    assert read_manifest(tmp_path / "cache")[url].error == entries[url].error


def test_a_redirect_to_another_scheme_is_refused(tmp_path):
    with Server({"/ftp": redirect("ftp://127.0.0.1/x"), "/file": redirect("file:///etc/passwd"),
                 "/data": redirect("data:text/plain,12 people")}) as s:
        _, entries = _fetch(tmp_path, [s.url("/ftp"), s.url("/file"), s.url("/data")])
    for path, scheme in (("/ftp", "ftp"), ("/file", "file"), ("/data", "data")):
        assert entries[s.url(path)].error.startswith("refused: redirected to") and scheme in entries[s.url(path)].error


def test_a_redirect_stays_on_the_named_origin_or_on_public_addresses(tmp_path):
    with Server({"/page": response("200 OK", PAGE, HTML)}) as other, \
            Server({"/moved": redirect("/page"), "/page": response("200 OK", PAGE, HTML),
                    "/away": redirect(other.url("/page")),
                    "/localhost": redirect(f"http://localhost:{other.port}/page"),
                    "/metadata": redirect("http://169.254.169.254/latest/meta-data/"),
                    "/private": redirect("http://10.0.0.1/x")}) as s:
        res, entries = _fetch(tmp_path, [s.url(p) for p in ("/moved", "/away", "/localhost", "/metadata", "/private")])
        assert other.paths == []  # the other loopback port was never asked, not even for its robots.txt
    assert entries[s.url("/moved")].status == 200 and entries[s.url("/moved")].error is None
    for p in ("/away", "/localhost", "/metadata", "/private"):
        assert entries[s.url(p)].error.startswith("refused: a redirect to") and "non-public" in entries[s.url(p)].error
    assert {c.source_id: c.state for c in res.claims}["s0"] == "found"


def test_is_public():
    assert net.is_public("93.184.216.34") and net.is_public("2606:4700::1111")
    for a in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
              "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "255.255.255.255", "not an ip"):
        assert not net.is_public(a), a


def test_a_drip_ends_at_the_deadline(tmp_path, monkeypatch):
    monkeypatch.setattr(refetch, "DEADLINE_FACTOR", 2.0)
    head = response("200 OK", b"", HTML, length=False)
    with Server({"/body": stream(head, 0), "/status": drip(b"HTTP/1.1 200 OK\r\n" * 50, 0.1)}) as s:
        s.routes["/body"] = lambda sock: (sock.sendall(head), drip(PAGE * 10, 0.1)(sock))
        t0 = time.monotonic()
        _, entries = _fetch(tmp_path, [s.url("/body"), s.url("/status")], timeout=0.25)
        took = time.monotonic() - t0
    assert took < 5, took  # two addresses, each cut off after 2 x 0.25 s
    for p in ("/body", "/status"):
        assert entries[s.url(p)].error == "timeout: no complete answer within 0.5 s", entries[s.url(p)]


@pytest.mark.parametrize(("answer", "error"), [
    (b"garbage\r\n\r\n", "bad-response: not an HTTP status line"),
    (b"\x00\xff\xfe nonsense", "bad-response: not an HTTP status line"),
    (b"", "bad-response: "),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "bad-response: oversized header"),
    (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", "bad-response: HTTPException"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad-response: "),
    (response("200 OK", PAGE, [("Content-Type", "text/html; charset=no-such-charset")]),
     "bad-response: unknown charset 'no-such-charset'"),
    (response("200 OK", PAGE, [("Content-Type", "text/html; charset=base64")]), "bad-response: unknown charset"),
    (response("200 OK", PAGE, [("Content-Type", "text/html; charset=rot13")]), "bad-response: unknown charset"),
    (response("302 Found", b"", [("Location", "http://[::1")]), "refused: redirected to"),
    (response("302 Found", b"", [("Location", "http://127.0.0.1:notaport/")]), "refused: redirected to"),
])
def test_a_hostile_answer_is_that_addresss_error(tmp_path, answer, error):
    with Server({"/x": answer, "/ok": response("200 OK", PAGE, HTML)}) as s:
        res, entries = _fetch(tmp_path, [s.url("/x"), s.url("/ok")])
    assert entries[s.url("/x")].error.startswith(error), entries[s.url("/x")]
    assert entries[s.url("/ok")].status == 200  # the next address is still fetched
    assert {c.source_id: c.state for c in res.claims} == {"s0": "unchecked", "s1": "found"}


def test_redirect_loops_end(tmp_path):
    with Server({"/a": redirect("/b"), "/b": redirect("/a")}) as s:
        _, entries = _fetch(tmp_path, [s.url("/a")])
    assert entries[s.url("/a")].error == f"refused: more than {net.MAX_REDIRECTS} redirects"


def test_a_page_is_counted_as_it_arrives_not_by_its_content_length(tmp_path, monkeypatch):
    monkeypatch.setattr(refetch, "MAX_BYTES", 100_000)
    head = response("200 OK", b"", HTML, length=False)
    with Server({"/big": stream(head, 5_000_000), "/lies": response("200 OK", b"x" * 200_000, [("Content-Length", "10")])}) as s:
        s.routes["/lies"] = stream(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", 5_000_000)
        _, entries = _fetch(tmp_path, [s.url("/big"), s.url("/lies")])
    for p in ("/big", "/lies"):
        assert entries[s.url(p)].error == "too-large: larger than 100000 bytes"
    assert not [p for p in (tmp_path / "cache" / "fetched").iterdir()]  # no spooled body is left behind


def test_markup_the_parser_refuses_is_skipped(tmp_path):
    body = b"<html><body><![foo[ x ]]><p>Police arrested 12 people in 3 countries.</p></body></html>"
    with Server({"/x": response("200 OK", body, HTML)}) as s:
        res, entries = _fetch(tmp_path, [s.url("/x")])
    assert entries[s.url("/x")].error is None and [c.state for c in res.claims] == ["found"]


def test_the_manifest_is_written_after_every_address(tmp_path, monkeypatch):
    calls = []
    real = refetch._get

    def interrupted(url, policy, spool):
        calls.append(url)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the run dies at the third address
        return real(url, policy, spool)

    monkeypatch.setattr(refetch, "_get", interrupted)
    with Server({"/1": response("200 OK", PAGE, HTML), "/2": b"garbage\r\n\r\n", "/3": response("200 OK", PAGE, HTML)}) as s:
        with pytest.raises(KeyboardInterrupt):
            _fetch(tmp_path, [s.url("/1"), s.url("/2"), s.url("/3")])
    man = read_manifest(tmp_path / "cache")
    assert list(man) == [s.url("/1"), s.url("/2")]
    assert man[s.url("/1")].readable and man[s.url("/2")].error.startswith("bad-response")


def test_a_deeply_nested_manifest_is_a_clear_error(tmp_path):
    (tmp_path / refetch.MANIFEST).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(refetch.UnusableCache, match="nested too deeply"):
        read_manifest(tmp_path)


def test_the_fetch_command_survives_hostile_addresses(data, tmp_path):
    from conftest import read, write

    with Server({"/garbage": b"garbage\r\n\r\n", "/ftp": redirect("ftp://127.0.0.1/x")}) as s:
        src = read(data, "sources")
        urls = [s.url("/garbage"), s.url("/ftp"), "file:///etc/passwd", "data:text/html,x"]
        src = src.with_columns(pl.Series("url", (urls * src.height)[:src.height]))
        write(data, "sources", src)
        r = runner.invoke(app, ["sources", "fetch", str(tmp_path / "cache"), "--data-dir", str(data),
                                "--delay", "0", "--timeout", "2", "--format", "json"])
    assert r.exit_code in (0, 1), r.output
    pages = {p["url"]: p["error"] for p in json.loads(r.stdout)["pages"]}
    assert pages[s.url("/garbage")].startswith("bad-response") and pages["file:///etc/passwd"].startswith("refused")
    assert pages[s.url("/ftp")].startswith("refused: redirected to ftp://")


# --------------------------------------------------------------------------- the HTTP store


def _parquet_bytes() -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"agency_id": ["a"], "name": ["An agency"]}), buf)
    return buf.getvalue()


def _store_routes(extra: dict[str, int] | None = None) -> dict:
    """The routes of a minimal store (version 0.1.0 with one table), plus files of ``extra`` sizes
    (zeros, streamed) listed in its SHA256SUMS."""
    files = {"datapackage.json": b'{"version": "0.1.0"}\n', "schema.json": b"{}\n",
             "tables/agencies.parquet": _parquet_bytes()}
    lines = [f"{hashlib.sha256(b).hexdigest()}  {n}" for n, b in files.items()]
    routes = {f"/0.1.0/{n}": response("200 OK", b) for n, b in files.items()}
    for name, size in (extra or {}).items():
        h = hashlib.sha256()
        block = b"\0" * (1 << 20)
        for start in range(0, size, 1 << 20):
            h.update(block[:min(1 << 20, size - start)])
        lines.append(f"{h.hexdigest()}  {name}")
        routes[f"/0.1.0/{name}"] = stream(response("200 OK", b"", length=False), size)
    sums = ("\n".join(lines) + "\n").encode()
    routes["/0.1.0/SHA256SUMS"] = response("200 OK", sums)
    index = {"versions": [{"version": "0.1.0", "date": "2026-11-30",
                           "manifest_sha256": hashlib.sha256(files["datapackage.json"]).hexdigest(),
                           "sha256sums_sha256": hashlib.sha256(sums).hexdigest()}], "latest": "0.1.0"}
    routes["/index.json"] = response("200 OK", json.dumps(index).encode())
    return routes


def test_the_minimal_store_loads():
    routes = _store_routes()
    routes["/"] = response("200 OK", b"<html>a directory listing</html>")
    with Server(routes) as s:
        assert store.load("agencies", store=s.base, as_="polars").to_dicts() == [{"agency_id": "a", "name": "An agency"}]
        r = runner.invoke(app, ["versions", "--store", s.base])
    assert r.exit_code == 0 and r.output.startswith("0.1.0\t2026-11-30"), r.output


def test_listed_files_are_hashed_as_they_stream_not_held_in_memory():
    size = 32 << 20
    with Server(_store_routes({"big-1.bin": size, "big-2.bin": size})) as s:
        tracemalloc.start()
        try:
            tbl = store.load("agencies", store=s.base)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert tbl.num_rows == 1
    assert peak < 8 << 20, f"peak {peak >> 20} MiB while checking two {size >> 20} MiB files"


def test_the_store_cap_counts_bytes_and_does_not_trust_head(monkeypatch):
    monkeypatch.setattr(store, "MAX_INDEX_BYTES", 1000)
    routes = _store_routes()
    with Server(routes) as s:
        # HEAD announces 10 bytes; the GET streams 50 MB
        s.routes["/index.json"] = lambda sock: stream(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" if s.methods[-1] == "HEAD"
            else b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", 0 if s.methods[-1] == "HEAD" else 50_000_000)(sock)
        t0 = time.monotonic()
        with pytest.raises(store.StoreError, match="index.json is larger than 1000 bytes"):
            store.read_index(s.base)
        assert time.monotonic() - t0 < 5
    monkeypatch.setattr(httpstore, "MAX_BYTES", 100_000)
    with Server(_store_routes({"big.bin": 3_000_000})) as s:
        with pytest.raises(store.StoreError, match="big.bin: cannot read it .too-large: larger than 100000 bytes"):
            store.load("agencies", store=s.base)


def test_the_store_has_a_total_deadline(monkeypatch):
    monkeypatch.setattr(httpstore, "DEADLINE", 0.5)
    with Server(_store_routes()) as s:
        s.routes["/index.json"] = drip(response("200 OK", b'{"versions": [], "latest": null}'), 0.1)
        t0 = time.monotonic()
        with pytest.raises(store.StoreError, match="timeout: no complete answer within 0.5 s"):
            store.read_index(s.base)
        assert time.monotonic() - t0 < 4


def test_a_deeply_nested_index_is_a_clear_error(tmp_path):
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    (tmp_path / "index.json").write_bytes(deep)
    with pytest.raises(store.StoreError, match="nests too deeply"):
        store.read_index(tmp_path)
    with Server({"/index.json": response("200 OK", deep)}) as s:
        with pytest.raises(store.StoreError, match="nests too deeply"):
            store.versions(s.base)
        r = runner.invoke(app, ["versions", "--store", s.base])
    assert r.exit_code == 1 and "nests too deeply" in r.output and "Traceback" not in r.output


def test_store_redirects_follow_the_same_policy():
    with Server(_store_routes()) as other, Server({"/index.json": redirect(other.url("/index.json"))}) as s:
        with pytest.raises(store.StoreError, match="non-public"):
            store.read_index(s.base)
        s.routes["/index.json"] = redirect("file:///etc/passwd")
        with pytest.raises(store.StoreError, match="only http and https"):
            store.read_index(s.base)
        assert other.paths == []


@pytest.mark.parametrize("answer", [b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n",
                                    response("500 Oops", b"no"), response("200 OK", b"\xff\xfe not json")])
def test_a_hostile_store_is_one_line_not_a_crash(answer):
    with Server({"/index.json": answer}) as s:
        r = runner.invoke(app, ["versions", "--store", s.base])
    assert r.exit_code in (1, 2) and r.output.startswith("error: ") and "Traceback" not in r.output, r.output


def test_a_tls_handshake_drip_ends_too():
    import socket
    import threading

    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]

    def serve():  # answers a TLS hello with a slow trickle of bytes
        conn, _ = lsock.accept()
        try:
            conn.recv(4096)
            drip(b"\x16\x03\x01" + b"\x00" * 40, 0.1)(conn)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(net.NetError) as exc:
            net.open_url(f"https://127.0.0.1:{port}/x", net.Policy(timeout=0.5, deadline=1))
    finally:
        lsock.close()
    assert time.monotonic() - t0 < 3 and exc.value.kind in ("timeout", "unreachable"), exc.value
