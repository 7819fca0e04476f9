"""A read-only release store served over HTTP(S) (e.g. GitHub Pages or any static file server).

``opsledger.load("outcomes", store="http://localhost:8000")`` (any HTTP(S) address of a store) reads ``index.json``,
``VERSION/SHA256SUMS`` and the table over plain HTTP(S) with the standard library, so a reader needs
nothing beyond pyarrow. It offers the few file-system calls the store code uses (``exists``,
``size``, ``open`` for reading); writing to it is refused.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request

#: Largest file read from a remote store (a guard against a hostile or broken server).
MAX_BYTES = 2 * 1024**3


class HTTPStore:
    protocol = ("http", "https")

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout

    def _request(self, url: str, method: str = "GET"):
        req = urllib.request.Request(url, method=method, headers={"User-Agent": "opsledger"})
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)  # noqa: S310 (http/https only)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise FileNotFoundError(url) from None
            raise OSError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except urllib.error.URLError as exc:
            raise OSError(f"{url}: cannot connect ({exc.reason})") from None

    def exists(self, url: str) -> bool:
        try:
            with self._request(url, "HEAD"):
                return True
        except FileNotFoundError:
            return False

    def size(self, url: str) -> int | None:
        with self._request(url, "HEAD") as r:
            n = r.headers.get("Content-Length")
            return int(n) if n and n.isdigit() else None

    def cat(self, url: str) -> bytes:
        with self._request(url) as r:
            data = r.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise OSError(f"{url}: larger than {MAX_BYTES} bytes")
        return data

    def open(self, url: str, mode: str = "rb"):
        if mode != "rb":
            raise PermissionError(f"{url}: an HTTP store is read-only")
        return io.BytesIO(self.cat(url))

    def _read_only(self, path, *args, **kwargs):
        raise PermissionError(f"{path}: an HTTP store is read-only; release to a directory or fsspec URL")

    makedirs = mv = rm = _read_only
