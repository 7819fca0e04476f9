"""A read-only release store served over HTTP(S) (e.g. GitHub Pages or any static file server).

``opsledger.load("outcomes", store="http://localhost:8000")`` (any HTTP(S) address of a store) reads ``index.json``,
``VERSION/SHA256SUMS`` and the table over plain HTTP(S) with the standard library, so a reader needs
nothing beyond pyarrow. It offers the few file-system calls the store code uses (``exists``,
``size``, ``open`` for reading); writing to it is refused.

Every request goes through :mod:`opsledger.net`, the policy ``opsledger sources fetch`` uses too:
http(s) only, redirects only to public addresses (or within the store's own origin), a total deadline
per request and a body counted as it arrives (``MAX_BYTES``; ``Content-Length`` and ``HEAD`` are
never trusted). :meth:`HTTPStore.open` streams: nothing is held in memory beyond what the caller
reads.
"""

from __future__ import annotations

from opsledger import net

#: Largest file read from a remote store (counted as it arrives: a guard against a hostile or broken server).
MAX_BYTES = 2 * 1024**3
#: Seconds for one connect or read.
TIMEOUT = 60.0
#: Seconds for one whole request (a 2 GiB table at 4 MB/s fits).
DEADLINE = 600.0


class HTTPStore:
    protocol = ("http", "https")

    def __init__(self, timeout: float = TIMEOUT, deadline: float | None = None, max_bytes: int | None = None):
        self.policy = net.Policy(timeout=timeout, deadline=DEADLINE if deadline is None else deadline,
                                 max_bytes=MAX_BYTES if max_bytes is None else max_bytes,
                                 user_agent="opsledger")

    def _request(self, url: str, method: str = "GET") -> net.Response:
        """The answer to one request; FileNotFoundError for 404/410, OSError (a
        :class:`opsledger.net.NetError`) for any other failure."""
        resp = net.open_url(url, self.policy, method)
        if resp.status in (404, 410):
            resp.close()
            raise FileNotFoundError(url)
        if not 200 <= resp.status < 300:
            resp.close()
            raise net.NetError("bad-response", f"HTTP {resp.status} {' '.join(str(resp.reason).split())[:80]}",
                               url)
        return resp

    def exists(self, url: str) -> bool:
        try:
            with self._request(url, "HEAD"):
                return True
        except FileNotFoundError:
            return False

    def size(self, url: str) -> int | None:
        """The size the server announces (a hint only: reads count the bytes themselves)."""
        with self._request(url, "HEAD") as r:
            n = r.headers.get("Content-Length", "").strip()
            return int(n) if n.isdigit() and n.isascii() and len(n) < 20 else None

    def cat(self, url: str) -> bytes:
        with self._request(url) as r:
            return r.read()

    def open(self, url: str, mode: str = "rb") -> net.Response:
        """A streaming, bounded reader of ``url`` (``read``, ``read(n)``; a context manager)."""
        if mode != "rb":
            raise PermissionError(f"{url}: an HTTP store is read-only")
        return self._request(url)

    def ls(self, path: str, detail: bool = False) -> list:
        """An HTTP server lists nothing: only the versions ``index.json`` names are known."""
        return []

    def isdir(self, path: str) -> bool:
        return False

    def _read_only(self, path, *args, **kwargs):
        raise PermissionError(f"{path}: an HTTP store is read-only; release to a directory or fsspec URL")

    makedirs = mv = rm = _read_only
