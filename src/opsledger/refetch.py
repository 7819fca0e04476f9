"""``opsledger.refetch``: re-verification for users. ``fetch`` reads every source's address into a
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

Politeness: each host's ``robots.txt`` is read once (same policy, User-Agent and timeout as the pages)
and obeyed; an address it disallows is not fetched and its claims are reported ``skipped``
(robots.txt). A redirect is followed only where the target's robots.txt allows it.

Every request goes through :mod:`opsledger.net` (the policy shared with an HTTP release store): http
and https only, redirects only to public addresses (or within the origin the data names), a total
deadline of ``DEADLINE_FACTOR`` times the timeout, and at most ``MAX_BYTES`` counted as they arrive.
Whatever one address does (refused scheme, garbage answer, unknown charset, a drip) becomes that
address's ``error`` in the manifest, which is rewritten (atomically) after every address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tempfile
import time
import urllib.parse
import urllib.robotparser
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

import polars as pl

from opsledger import __version__, net
from opsledger.errors import UsageError
from opsledger.data.io import inside
from opsledger.data.text import normalise
from opsledger.data.txn import write_bytes_atomic, write_text_atomic
from opsledger.terminal import one_line

MANIFEST = "fetch-manifest.json"
PAGES = "fetched"
#: The User-Agent names the project and its version. The project has no web site, so no address is
#: invented: a repository address is added only when the package metadata declares one
#: (``[project.urls]`` Repository / Source in pyproject.toml); otherwise the agent asks whoever runs
#: the fetch to name a contact (``--contact`` / ``OPSLEDGER_CONTACT``), which is added when given.
USER_AGENT = f"opsledger/{__version__} (dataset re-verification; set --contact)"
#: labels of ``Project-URL`` metadata that name the source repository
REPOSITORY_LABELS = {"repository", "source", "source code", "code"}


def repository_url() -> str | None:
    """The repository address declared in the installed package's metadata, or None."""
    from importlib import metadata

    try:
        urls = metadata.metadata("opsledger").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for item in urls:
        label, _, address = item.partition(",")
        if label.strip().lower() in REPOSITORY_LABELS and address.strip().startswith(("https://", "http://")):
            return address.strip()
    return None


def user_agent(contact: str | None = None, repository: str | None = None) -> str:
    """``opsledger/<version> (+<repository>[; <contact>])`` when a repository address is declared,
    else ``opsledger/<version> (dataset re-verification; +<contact>)``, or ``...; set --contact)``
    without a contact."""
    contact = contact or os.environ.get("OPSLEDGER_CONTACT")
    if repository:
        return f"opsledger/{__version__} (+{repository}" + (f"; {contact})" if contact else ")")
    return f"opsledger/{__version__} (dataset re-verification; +{contact})" if contact else USER_AGENT
#: seconds to wait for one page
TIMEOUT = 20.0
#: seconds between two requests to the same host
PER_HOST_DELAY = 5.0
#: largest page read (bytes, counted as they arrive)
MAX_BYTES = 5_000_000
#: largest robots.txt read (bytes)
MAX_ROBOTS_BYTES = 500_000
#: a whole request (redirects, headers and body) must end within this many times ``timeout``
DEADLINE_FACTOR = 3.0
#: statuses that mean the page is gone (HTTP 404/410, and an address whose host no longer resolves)
GONE = {404, 410}
#: the manifest's error for an address robots.txt disallows (it is not fetched)
ROBOTS_SKIPPED = "skipped: robots.txt"
#: largest Crawl-delay (seconds) obeyed from a robots.txt; a longer one is cut to this
MAX_CRAWL_DELAY = 60.0


class UnusableCache(UsageError):
    """A cache directory that cannot be used (inside datasets/ or a release, or a broken manifest)."""


# --------------------------------------------------------------------------- text extraction


class _TextExtractor(HTMLParser):
    """Collects the visible text; markup the standard parser refuses is skipped, never fatal."""

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

    def parse_marked_section(self, i, report=1):
        # ``<![word[ ... ]]>`` with a keyword the parser does not know raises AssertionError; skip it
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            j = self.rawdata.find(">", i + 3)
            return -1 if j < 0 else j + 1


_TAG = re.compile(r"<[^>]*>?")


def html_text(markup: str) -> str:
    """The visible text of an HTML page (scripts, styles and the head left out), one block a line."""
    p = _TextExtractor()
    try:
        p.feed(markup)
        p.close()
        text = "".join(p.parts)
    except (AssertionError, ValueError):  # markup the standard parser cannot take: its tags dropped
        text = _TAG.sub("\n", markup)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


# --------------------------------------------------------------------------- paths



def _check_cache_dir(cache_dir: Path, data_dir: Path | None) -> Path:
    from opsledger.declarations import repo_root

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
    except RecursionError:
        raise UnusableCache(f"{path}: not a fetch manifest (nested too deeply)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise UnusableCache(f"{path}: not a fetch manifest ({exc})") from exc


def page_text(cache_dir: Path, entry: Entry) -> str | None:
    """The cached text of a readable entry, only from inside ``DIR/fetched/`` and only if its sha256
    still matches the manifest."""
    if not entry.readable or entry.file is None or not entry.file.startswith(f"{PAGES}/"):
        return None
    p = inside(Path(cache_dir) / PAGES, entry.file.removeprefix(f"{PAGES}/"))
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
        #: a longer delay for one host (its robots.txt Crawl-delay)
        self.host_delay: dict[str, float] = {}

    @staticmethod
    def host(url: str) -> str:
        return (urllib.parse.urlsplit(url).hostname or "").lower()

    def slow_down(self, url: str, delay: float) -> None:
        """Wait at least ``delay`` seconds between two requests to ``url``'s host."""
        h = self.host(url)
        self.host_delay[h] = max(self.host_delay.get(h, self.delay), delay)

    def wait(self, url: str) -> None:
        host = self.host(url)
        if host in self.last:
            left = self.last[host] + self.host_delay.get(host, self.delay) - self.clock()
            if left > 0:
                self.sleep(left)
        self.last[host] = self.clock()


def _policy(timeout: float, agent: str, accept: str, max_bytes: int | None = None,
            redirect_check: Callable[[str], str | None] | None = None) -> net.Policy:
    return net.Policy(timeout=timeout, deadline=max(timeout, timeout * DEADLINE_FACTOR),
                      max_bytes=MAX_BYTES if max_bytes is None else max_bytes,
                      user_agent=agent, accept=accept, redirect_check=redirect_check)


class Robots:
    """Each host's robots.txt, read once through the same policy, User-Agent and timeout as the pages
    (and counted by the same per-host rate limit), then obeyed with ``urllib.robotparser``.

    As ``RobotFileParser.read`` does, a 401 or 403 disallows the whole host; any other robots.txt that
    cannot be read (another HTTP error such as 404, no answer, a timeout) allows everything. A
    Crawl-delay for opsledger (or ``*``) longer than the fetch delay slows that host down, up to
    ``MAX_CRAWL_DELAY`` seconds.
    """

    def __init__(self, timeout: float, user_agent: str, limiter: RateLimiter) -> None:
        self.timeout, self.agent, self.limiter = timeout, user_agent, limiter
        #: origin -> its parsed robots.txt, or True (allow all) / False (disallow all) when none was read
        self.rules: dict[str, urllib.robotparser.RobotFileParser | bool] = {}

    def _read(self, robots_url: str, public_only: bool) -> tuple[int | None, str | None]:
        try:
            with net.open_url(robots_url, _policy(self.timeout, self.agent, "text/plain", MAX_ROBOTS_BYTES),
                              public_only=public_only) as resp:
                if not 200 <= resp.status < 300:
                    return resp.status, None
                body = resp.read()
                return resp.status, body.decode(resp.charset(), errors="replace")
        except (net.NetError, UnicodeError, LookupError, ValueError):
            return None, None

    def _rules(self, url: str, public_only: bool) -> urllib.robotparser.RobotFileParser | bool:
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        if origin not in self.rules:
            robots_url = f"{origin}/robots.txt"
            self.limiter.wait(robots_url)
            status, text = self._read(robots_url, public_only)
            rules: urllib.robotparser.RobotFileParser | bool
            if text is not None:
                rules = urllib.robotparser.RobotFileParser(robots_url)
                rules.parse(text.splitlines())
                delay = rules.crawl_delay(self.agent)
                if delay:
                    self.limiter.slow_down(url, min(float(delay), MAX_CRAWL_DELAY))
            else:
                rules = status not in (401, 403)
            self.rules[origin] = rules
        return self.rules[origin]

    def allowed(self, url: str, public_only: bool = False) -> bool:
        """Whether robots.txt lets opsledger read ``url``; with ``public_only`` (a redirect target) the
        robots.txt itself is read only from a public address."""
        rules = self._rules(url, public_only)
        return rules if isinstance(rules, bool) else rules.can_fetch(self.agent, url)

    def redirect_check(self, target: str) -> str | None:
        """For :class:`opsledger.net.Policy`: a redirect is followed only where robots.txt allows it."""
        return None if self.allowed(target, public_only=True) else "robots.txt"


def _get(url: str, policy: net.Policy, spool: Path) -> tuple[int | None, str | None, str | None]:
    """(status, text, error) of one address. The body is streamed into a temporary file in ``spool``
    (counted against the policy's limit as it arrives), then decoded and reduced to its text."""
    try:
        with net.open_url(url, policy) as resp:
            status = resp.status
            if not 200 <= status < 300:
                return status, None, f"http: {status} {one_line(resp.reason)[:80]}".rstrip()
            charset = resp.charset()
            ctype = resp.content_type.lower()
            with tempfile.TemporaryFile(dir=spool) as fh:
                resp.save(fh)
                fh.seek(0)
                body = fh.read()
    except net.NetError as exc:
        return None, None, str(exc)
    try:
        text = body.decode(charset, errors="replace")
    except (UnicodeError, LookupError, ValueError) as exc:
        return status, None, f"bad-response: cannot decode the page as {charset} ({type(exc).__name__})"
    if "html" in ctype or text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        text = html_text(text)
    return status, text, None


@dataclass
class ClaimCheck:
    claim_id: str
    source_id: str
    url: str | None
    state: str  # found | changed | gone | unchecked | skipped (robots.txt)
    detail: str = ""


@dataclass
class FetchResult:
    cache_dir: str
    entries: list[Entry] = field(default_factory=list)
    claims: list[ClaimCheck] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("found", "changed", "gone", "unchecked", "skipped")}
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
                 f"{c['found']} found, {c['changed']} changed, {c['gone']} gone, {c['unchecked']} unchecked, "
                 f"{c['skipped']} skipped (robots.txt)"]
        lines += [f"{x.state.upper():9} {x.claim_id} ({x.source_id}): {x.detail}"
                  for x in self.claims if x.state != "found"]
        return "\n".join(lines)


def fetch(cache_dir: Path | str, data_dir: Path | str | None = None, *, timeout: float = TIMEOUT,
          delay: float = PER_HOST_DELAY, contact: str | None = None,
          sleep: Callable[[float], None] = time.sleep, tables: dict[str, pl.DataFrame] | None = None,
          progress: Callable[[int, int, str], None] | None = None) -> FetchResult:
    """Fetch every source address into ``cache_dir`` and check every claim's quotation against it.

    Politeness: one request at a time, ``delay`` seconds between two requests to the same host,
    ``timeout`` seconds per page, a User-Agent naming opsledger (and ``contact`` when given), and each
    host's robots.txt obeyed (see ``Robots``): a disallowed address is not fetched, its manifest entry
    says ``skipped: robots.txt`` and its claims are ``skipped``. Every page is written atomically, and
    the manifest (also atomically) after every address, so one bad host never loses the run. An address
    that is not http(s) is not requested: its entry's error says ``refused: ...``.
    Raises ``UnusableCache`` for a cache directory inside the data or a release, and
    ``opsledger.data.io.UnusableInput`` for unreadable tables. ``progress(done, total, url)``, when
    given, is called before the first address (0 done) and after each one.
    """
    from opsledger.data import io as oio

    agent = user_agent(contact, repository_url())
    data_dir = Path(data_dir) if data_dir else oio.default_data_dir()
    root = _check_cache_dir(Path(cache_dir), data_dir)
    t = tables if tables is not None else oio.read_tables(data_dir)
    urls = t["sources"].filter(pl.col("url").is_not_null()).get_column("url").unique(maintain_order=True)
    limiter = RateLimiter(delay, sleep=sleep)
    robots = Robots(timeout, agent, limiter)
    policy = _policy(timeout, agent, "text/html, text/plain", redirect_check=robots.redirect_check)
    (root / PAGES).mkdir(parents=True, exist_ok=True)
    result = FetchResult(str(cache_dir))
    texts: dict[str, str] = {}

    def now() -> str:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()

    if progress:
        progress(0, len(urls), "")
    for done, url in enumerate(urls, 1):
        try:
            net.check_url(url)
        except net.NetError as exc:
            result.entries.append(Entry(url, now(), None, None, None, str(exc)))
        else:
            if not robots.allowed(url):
                result.entries.append(Entry(url, now(), None, None, None, ROBOTS_SKIPPED))
            else:
                limiter.wait(url)
                status, text, error = _get(url, policy, root / PAGES)
                entry = Entry(url, now(), status, None, None, error)
                if text is not None:
                    name = f"{PAGES}/{hashlib.sha256(url.encode()).hexdigest()[:32]}.txt"
                    data = text.encode("utf-8", errors="replace")
                    write_bytes_atomic(root / name, data)
                    entry.sha256, entry.file = hashlib.sha256(data).hexdigest(), name
                    texts[url] = normalise(text)
                result.entries.append(entry)
        _write_manifest(root, agent, result.entries)  # after every address: an interrupted run keeps its pages
        if progress:
            progress(done, len(urls), url)
    if not result.entries:
        _write_manifest(root, agent, result.entries)
    result.claims = check_claims(t, {e.url: e for e in result.entries}, texts)
    return result


def _write_manifest(root: Path, agent: str, entries: list[Entry]) -> None:
    manifest = {"generator": "opsledger sources fetch", "user_agent": agent,
                "note": "A private cache for re-verification: never redistribute it.",
                "entries": [asdict(e) for e in entries]}
    write_text_atomic(root / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def check_claims(t: dict[str, pl.DataFrame], entries: dict[str, Entry], texts: dict[str, str]) -> list[ClaimCheck]:
    """found / changed / gone / unchecked / skipped for every claim whose source has an address."""
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
        elif e.error == ROBOTS_SKIPPED:
            out.append(ClaimCheck(cid, sid, url, "skipped", "robots.txt disallows the address; not fetched"))
        elif e.gone:
            out.append(ClaimCheck(cid, sid, url, "gone", e.error or f"HTTP {e.status}"))
        else:
            out.append(ClaimCheck(cid, sid, url, "unchecked", e.error or f"HTTP {e.status}"))
    return out
