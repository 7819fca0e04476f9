"""``opsledger.sources``: re-verification for users. ``fetch`` reads every source's address into a
local cache, extracts the page text, and reports for every claim whether its quotation is still on
the page (found / changed / gone). ``opsledger validate --sources DIR`` grounds web claims in that
cache too.

The cache is the user's own copy: it is never written inside ``datasets/`` or a release, and never
redistributed (the pages belong to their publishers). Layout of a cache directory::

    DIR/fetch-manifest.json      one entry per address: url, fetched_at, status, sha256, file, error
    DIR/fetched/<sha256(url)>.txt  the extracted text of one page

Only files named by the manifest and lying inside ``DIR/fetched/`` are ever read, so archived texts
(``sources.archive_file``, at the top of an archive directory) and fetched pages are kept apart, and
no path from data or manifest escapes the directory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

import polars as pl

from opsledger import __version__
from opsledger.errors import UsageError
from opsledger.text import normalise
from opsledger.txn import write_text_atomic

MANIFEST = "fetch-manifest.json"
PAGES = "fetched"
#: The project has no public address yet, so none is invented here: the User-Agent names opsledger and
#: its version, and ``contact`` (an address or URL of whoever runs the fetch, e.g. the project's page
#: once it has one) is appended when given (``--contact`` / ``OPSLEDGER_CONTACT``).
USER_AGENT = f"opsledger/{__version__} (dataset source re-verification)"


def user_agent(contact: str | None = None) -> str:
    contact = contact or os.environ.get("OPSLEDGER_CONTACT")
    return f"opsledger/{__version__} (dataset source re-verification; +{contact})" if contact else USER_AGENT
#: seconds to wait for one page
TIMEOUT = 20.0
#: seconds between two requests to the same host
PER_HOST_DELAY = 5.0
#: largest page read (bytes)
MAX_BYTES = 5_000_000
#: statuses that mean the page is gone (HTTP 404/410, and an address whose host no longer resolves)
GONE = {404, 410}


class UnusableCache(UsageError):
    """A cache directory that cannot be used (inside datasets/ or a release, or a broken manifest)."""


# --------------------------------------------------------------------------- text extraction


class _TextExtractor(HTMLParser):
    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "section", "article",
             "blockquote", "header", "footer", "ul", "ol", "table", "figcaption"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP and self._skip:
            self._skip -= 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def html_text(markup: str) -> str:
    """The visible text of an HTML page (scripts, styles and the head left out), one block a line."""
    p = _TextExtractor()
    p.feed(markup)
    p.close()
    lines = (" ".join(line.split()) for line in "".join(p.parts).splitlines())
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- paths


def confined(root: Path, name: str) -> Path | None:
    """``root / name`` resolved, or None when it would leave ``root`` (absolute paths, ``..``, links)."""
    base = Path(root).resolve()
    try:
        p = (base / name).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return p if p.is_relative_to(base) and p != base else None


def _check_cache_dir(cache_dir: Path, data_dir: Path | None) -> Path:
    from opsledger.metadata import repo_root

    d = Path(cache_dir).resolve()
    forbidden = [repo_root() / "datasets"] + ([Path(data_dir).resolve()] if data_dir else [])
    for f in forbidden:
        if d == f.resolve() or d.is_relative_to(f.resolve()):
            raise UnusableCache(f"{cache_dir}: the fetch cache may not lie inside the data directory {f}")
    for parent in [d, *d.parents]:
        if (parent / "datapackage.json").is_file():
            raise UnusableCache(f"{cache_dir}: the fetch cache may not lie inside a release ({parent})")
    if d.exists() and not d.is_dir():
        raise UnusableCache(f"{cache_dir}: not a directory")
    return d


# --------------------------------------------------------------------------- manifest


@dataclass
class Entry:
    url: str
    fetched_at: str
    status: int | None  # HTTP status; None when no answer (DNS failure, timeout, refused)
    sha256: str | None  # of the extracted text
    file: str | None  # relative to the cache directory
    error: str | None = None

    @property
    def gone(self) -> bool:
        return self.status in GONE or (self.error or "").startswith("dns:")

    @property
    def readable(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.file is not None


def read_manifest(cache_dir: Path) -> dict[str, Entry]:
    """url -> entry of a cache directory ({} when it has no manifest)."""
    path = Path(cache_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {e["url"]: Entry(**e) for e in raw["entries"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise UnusableCache(f"{path}: not a fetch manifest ({exc})") from exc


def page_text(cache_dir: Path, entry: Entry) -> str | None:
    """The cached text of a readable entry, only from inside ``DIR/fetched/`` and only if its sha256
    still matches the manifest."""
    if not entry.readable or entry.file is None or not entry.file.startswith(f"{PAGES}/"):
        return None
    p = confined(Path(cache_dir) / PAGES, entry.file.removeprefix(f"{PAGES}/"))
    if p is None or not p.is_file():
        return None
    data = p.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        return None
    return data.decode("utf-8", errors="replace")


def cached_texts(cache_dir: Path | None) -> dict[str, str]:
    """url -> normalised text of every readable page in a cache directory."""
    if cache_dir is None:
        return {}
    out = {}
    for url, e in read_manifest(cache_dir).items():
        text = page_text(cache_dir, e)
        if text is not None:
            out[url] = normalise(text)
    return out


# --------------------------------------------------------------------------- fetching


class RateLimiter:
    """At most one request per ``delay`` seconds to each host."""

    def __init__(self, delay: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.delay, self.clock, self.sleep = delay, clock, sleep
        self.last: dict[str, float] = {}

    def wait(self, url: str) -> None:
        host = (urllib.parse.urlsplit(url).hostname or "").lower()
        if host in self.last:
            left = self.last[host] + self.delay - self.clock()
            if left > 0:
                self.sleep(left)
        self.last[host] = self.clock()


def _get(url: str, timeout: float, user_agent: str) -> tuple[int | None, str | None, str | None]:
    """(status, text, error) of one address."""
    req = urllib.request.Request(url, headers={"User-Agent": user_agent, "Accept": "text/html, text/plain"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http/https only, by pattern)
            body = resp.read(MAX_BYTES)
            ctype = resp.headers.get("Content-Type", "")
            charset = resp.headers.get_content_charset() or "utf-8"
            status = resp.status
    except urllib.error.HTTPError as exc:
        return exc.code, None, f"http: {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, socket.gaierror):
            return None, None, f"dns: {exc.reason}"
        return None, None, f"unreachable: {exc.reason}"
    except (TimeoutError, OSError) as exc:
        return None, None, f"unreachable: {exc}"
    text = body.decode(charset, errors="replace")
    if "html" in ctype or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        text = html_text(text)
    return status, text, None


@dataclass
class ClaimCheck:
    claim_id: str
    source_id: str
    url: str | None
    state: str  # found | changed | gone | unchecked
    detail: str = ""


@dataclass
class FetchResult:
    cache_dir: str
    entries: list[Entry] = field(default_factory=list)
    claims: list[ClaimCheck] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("found", "changed", "gone", "unchecked")}
        for c in self.claims:
            out[c.state] += 1
        return out

    @property
    def exit_code(self) -> int:
        """0 when every checked claim's quotation was found, 1 when some changed or are gone."""
        c = self.counts()
        return 1 if c["changed"] or c["gone"] else 0

    def as_dict(self) -> dict:
        return {"cache_dir": self.cache_dir, "summary": self.counts(),
                "pages": [asdict(e) for e in self.entries], "claims": [asdict(c) for c in self.claims]}

    def text(self) -> str:
        c = self.counts()
        ok = sum(1 for e in self.entries if e.readable)
        lines = [f"{len(self.entries)} addresses fetched ({ok} readable) into {self.cache_dir}; claims: "
                 f"{c['found']} found, {c['changed']} changed, {c['gone']} gone, {c['unchecked']} unchecked"]
        lines += [f"{x.state.upper():9} {x.claim_id} ({x.source_id}): {x.detail}"
                  for x in self.claims if x.state != "found"]
        return "\n".join(lines)


def fetch(cache_dir: Path | str, data_dir: Path | str | None = None, *, timeout: float = TIMEOUT,
          delay: float = PER_HOST_DELAY, contact: str | None = None,
          sleep: Callable[[float], None] = time.sleep, tables: dict[str, pl.DataFrame] | None = None,
          ) -> FetchResult:
    """Fetch every source address into ``cache_dir`` and check every claim's quotation against it.

    Politeness: one request at a time, ``delay`` seconds between two requests to the same host,
    ``timeout`` seconds per page, a User-Agent naming opsledger (and ``contact`` when given). Every page is
    written atomically, then the manifest (also atomically) once all are fetched.
    Raises ``UnusableCache`` for a cache directory inside the data or a release, and
    ``opsledger.io.UnusableInput`` for unreadable tables.
    """
    from opsledger import io as oio

    agent = user_agent(contact)
    data_dir = Path(data_dir) if data_dir else oio.default_data_dir()
    root = _check_cache_dir(Path(cache_dir), data_dir)
    t = tables if tables is not None else oio.read_tables(data_dir)
    urls = t["sources"].filter(pl.col("url").is_not_null()).get_column("url").unique(maintain_order=True)
    limiter = RateLimiter(delay, sleep=sleep)
    (root / PAGES).mkdir(parents=True, exist_ok=True)
    result = FetchResult(str(cache_dir))
    texts: dict[str, str] = {}
    for url in urls:
        limiter.wait(url)
        status, text, error = _get(url, timeout, agent)
        now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        entry = Entry(url, now, status, None, None, error)
        if text is not None:
            name = f"{PAGES}/{hashlib.sha256(url.encode()).hexdigest()[:32]}.txt"
            data = text.encode("utf-8")
            write_text_atomic(root / name, text)
            entry.sha256, entry.file = hashlib.sha256(data).hexdigest(), name
            texts[url] = normalise(text)
        result.entries.append(entry)
    manifest = {"generator": "opsledger sources fetch", "user_agent": agent,
                "note": "A private cache for re-verification: never redistribute it.",
                "entries": [asdict(e) for e in result.entries]}
    write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    result.claims = check_claims(t, {e.url: e for e in result.entries}, texts)
    return result


def check_claims(t: dict[str, pl.DataFrame], entries: dict[str, Entry], texts: dict[str, str]) -> list[ClaimCheck]:
    """found / changed / gone / unchecked for every claim whose source has an address."""
    urls = dict(t["sources"].select("source_id", "url").iter_rows())
    out = []
    for cid, sid, stated, quotation in t["claims"].select("claim_id", "source_id", "stated", "quotation").iter_rows():
        url = urls.get(sid)
        if url is None:
            continue
        e = entries.get(url)
        needle = quotation or stated
        what = "quotation" if quotation else "stated phrase (no quotation)"
        if e is None:
            out.append(ClaimCheck(cid, sid, url, "unchecked", "address not fetched"))
        elif url in texts:
            if normalise(needle) in texts[url]:
                out.append(ClaimCheck(cid, sid, url, "found", f"{what} is on the page"))
            else:
                out.append(ClaimCheck(cid, sid, url, "changed", f"the page is there, its {what} is not"))
        elif e.gone:
            out.append(ClaimCheck(cid, sid, url, "gone", e.error or f"HTTP {e.status}"))
        else:
            out.append(ClaimCheck(cid, sid, url, "unchecked", e.error or f"HTTP {e.status}"))
    return out
