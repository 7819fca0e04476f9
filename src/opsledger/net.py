"""``opsledger.net``: the one policy for every address opsledger reads over the network, used by
``opsledger sources fetch`` (:mod:`opsledger.refetch`) and by an HTTP release store
(:mod:`opsledger.publishing.httpstore`). Standard library only (``http.client``), so ``opsledger.load``
from an HTTP store still needs nothing beyond pyarrow.

The policy, for one request (:func:`open_url`):

- **http and https only.** ``file:``, ``ftp:``, ``data:``, ``javascript:`` or a malformed address is
  refused before anything is sent (:class:`NetError` of kind ``refused``), also as a redirect target.
- **Redirects stay on public addresses.** The address the user named (the first URL of a request) may
  be anything, a test server on 127.0.0.1 included. A redirect to another origin is followed only when
  every address its host resolves to is public: never to a loopback, private, link-local, shared,
  reserved or multicast address (``is_global``). The connection then goes to the checked address, so
  a second DNS answer cannot change it. At most :data:`MAX_REDIRECTS` redirects.
- **A total deadline.** Besides the timeout of each connect or read, the whole request (redirects,
  status line, headers and body) must end within ``deadline`` seconds: every read of the socket waits
  at most what is left, so a server dripping one byte a second is cut off. (Name resolution itself is
  the system's and is not bounded by it.)
- **A bounded body.** Bytes are counted as they arrive, never trusting ``Content-Length`` or a
  ``HEAD``; more than ``max_bytes`` is an error (kind ``too-large``). :meth:`Response.save` streams the
  body into a file while hashing it, so no body is held in memory.
- **One error type.** Whatever the server sends (a garbage status line, oversized or too many
  headers, a broken chunk, an unknown charset, a bad redirect) ends as one :class:`NetError` with a
  kind and a one-line message, for the caller to record against that address.
"""

from __future__ import annotations

import codecs
import hashlib
import http.client
import io
import ipaddress
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import IO, Callable

SCHEMES = ("http", "https")
#: Most redirects followed for one request.
MAX_REDIRECTS = 5
#: Bytes asked of the socket per read.
CHUNK = 64 * 1024
REDIRECTS = {301, 302, 303, 307, 308}
#: characters kept as they are when an address's path or query is percent-encoded
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"


class NetError(OSError):
    """One address that could not be read. ``kind`` is one of ``refused`` (not an http(s) address, or a
    redirect the policy refuses), ``skipped`` (a redirect the caller's ``redirect_check`` refuses), ``dns``, ``unreachable``, ``timeout``, ``too-large`` and
    ``bad-response``; ``str()`` is ``"<kind>: <reason>"``."""

    def __init__(self, kind: str, reason: str, url: str | None = None) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind, self.reason, self.url = kind, reason, url


@dataclass(frozen=True)
class Policy:
    """Limits of one request (see the module's docstring)."""

    timeout: float = 20.0  #: seconds for one connect or one read
    deadline: float = 60.0  #: seconds for the whole request, redirects and body included
    max_bytes: int = 5_000_000  #: largest body read
    user_agent: str = "opsledger"
    accept: str = "*/*"
    max_redirects: int = MAX_REDIRECTS
    #: called with every redirect target that passed the address policy; a string refuses it (a
    #: :class:`NetError` of kind ``skipped`` with that reason, e.g. ``robots.txt``), ``None`` lets it be
    #: followed
    redirect_check: Callable[[str], str | None] | None = None


# --------------------------------------------------------------------------- addresses


def check_url(url: object) -> urllib.parse.SplitResult:
    """The parts of an http(s) address; :class:`NetError` ``refused`` for any other scheme or a
    malformed address (no host, a bad port, an unencodable host name)."""
    if not isinstance(url, str) or not url.strip():
        raise NetError("refused", "not an address", None)
    shown = url if len(url) <= 200 else url[:200] + "..."
    try:
        parts = urllib.parse.urlsplit(url.strip())
        parts.port  # noqa: B018 (raises ValueError for a bad port)
    except ValueError as exc:
        raise NetError("refused", f"not a valid address ({exc})", shown) from None
    if parts.scheme.lower() not in SCHEMES:
        scheme = parts.scheme.lower() or "no scheme"
        raise NetError("refused", f"only http and https addresses are read, not {scheme}", shown)
    if not parts.hostname:
        raise NetError("refused", "the address names no host", shown)
    _ascii_host(parts.hostname, shown)
    return parts


def _ascii_host(host: str, shown: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        raise NetError("refused", "the host name cannot be encoded", shown) from None
    if not ascii_host or any(not (c.isalnum() or c in "-._") for c in ascii_host):
        raise NetError("refused", "the host name holds characters a host name cannot have", shown)
    return ascii_host


def origin(parts: urllib.parse.SplitResult) -> tuple[str, str, int]:
    """(scheme, host, port) of an address: what a redirect must keep to stay where the user pointed."""
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def is_public(address: str) -> bool:
    """Whether an IP address is a public one (not loopback, private, link-local, shared, reserved,
    multicast or unspecified; an IPv4-mapped IPv6 address is judged as its IPv4 address)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _resolve(parts: urllib.parse.SplitResult, public_only: bool, shown: str) -> list[tuple]:
    """The socket addresses to connect to; with ``public_only`` every one must be public."""
    _, host, port = origin(parts)
    try:
        infos = socket.getaddrinfo(_ascii_host(host, shown), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NetError("dns", f"{host} does not resolve ({exc.strerror or exc})", shown) from None
    except (UnicodeError, OSError) as exc:
        raise NetError("dns", f"{host} does not resolve ({exc})", shown) from None
    addrs = [(family, sockaddr) for family, _t, _p, _c, sockaddr in infos]
    if not addrs:
        raise NetError("dns", f"{host} does not resolve", shown)
    if public_only:
        private = sorted({str(a[1][0]) for a in addrs if not is_public(str(a[1][0]))})
        if private:
            raise NetError("refused", f"a redirect to {host}, a non-public address ({', '.join(private)}), "
                                      "is not followed", shown)
    return addrs


# --------------------------------------------------------------------------- connections with a deadline


class _Raw(io.RawIOBase):
    """The socket as a raw stream whose every read waits at most what is left of the deadline."""

    def __init__(self, owner: _Sock) -> None:
        self.owner = owner

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        sock, deadline = self.owner._sock, self.owner._deadline
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Expired()
        sock.settimeout(min(self.owner._timeout, left))
        try:
            return sock.recv_into(b)
        except (socket.timeout, TimeoutError):
            if time.monotonic() >= deadline:
                raise _Expired() from None
            raise

    def close(self) -> None:
        if not self.closed:
            super().close()
            self.owner._release()


class _Expired(OSError):
    pass


class _Sock:
    """What ``http.client`` sees as its socket: reads through :class:`_Raw`, the rest delegated. As
    with ``socket.makefile``, the socket stays open until it and every reader made from it are closed
    (``http.client`` closes the connection and hands the reader to the response)."""

    def __init__(self, sock: socket.socket, timeout: float, deadline: float) -> None:
        self._sock, self._timeout, self._deadline = sock, timeout, deadline
        self._readers, self._closed = 0, False

    def makefile(self, mode: str = "rb", *args, **kwargs):
        self._readers += 1
        return io.BufferedReader(_Raw(self))

    def sendall(self, data) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _Expired()
        self._sock.settimeout(min(self._timeout, left))
        self._sock.sendall(data)

    def _release(self) -> None:
        self._readers -= 1
        if self._closed and self._readers <= 0:
            self._sock.close()

    def close(self) -> None:
        self._closed = True
        if self._readers <= 0:
            self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


def _connect(addrs: list[tuple], timeout: float, deadline: float) -> socket.socket:
    last: OSError | None = None
    for family, sockaddr in addrs:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Expired()
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(min(timeout, left))
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError("no address to connect to")


class _Connection(http.client.HTTPConnection):
    """An HTTP(S) connection to addresses already resolved and checked, reading under a deadline."""

    def __init__(self, host: str, port: int, addrs: list[tuple], https: bool, timeout: float,
                 deadline: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._addrs, self._https, self._op_timeout, self._deadline = addrs, https, timeout, deadline

    def connect(self) -> None:
        sock = _connect(self._addrs, self._op_timeout, self._deadline)
        if self._https:
            try:
                left = self._deadline - time.monotonic()
                if left <= 0:
                    raise _Expired()
                # CPython bounds the whole handshake by the socket's timeout, not each read of it
                sock.settimeout(min(self._op_timeout, left))
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = _Sock(sock, self._op_timeout, self._deadline)  # type: ignore[assignment]


# --------------------------------------------------------------------------- responses


class Response:
    """An answer whose body is read in bounded pieces (a file object for reading: ``read``, context
    manager). ``url`` is the address that answered, after redirects."""

    def __init__(self, url: str, conn: _Connection, resp: http.client.HTTPResponse, policy: Policy,
                 deadline: float) -> None:
        self.url, self._conn, self._resp, self.policy, self._deadline = url, conn, resp, policy, deadline
        self.status, self.reason, self.headers = resp.status, resp.reason, resp.headers
        self.count = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "") or ""

    def charset(self, default: str = "utf-8") -> str:
        """The declared text encoding (``default`` when none); :class:`NetError` ``bad-response`` for a
        name Python does not know as a text encoding."""
        try:
            name = self.headers.get_content_charset() or default
        except (ValueError, LookupError, UnicodeError):
            name = None
        try:
            info = codecs.lookup(name) if name else None
        except (LookupError, ValueError, TypeError):
            info = None
        if info is None or not getattr(info, "_is_text_encoding", True):
            raise NetError("bad-response", f"unknown charset {str(name)[:60]!r}", self.url)
        return info.name

    def read1(self, n: int = CHUNK) -> bytes:
        """At most ``n`` bytes, after one read of the socket (b"" at the end)."""
        data = _guard(lambda: self._resp.read1(max(1, min(n, CHUNK))), self.url, self.policy, self._deadline)
        self.count += len(data)
        if self.count > self.policy.max_bytes:
            self.close()
            raise NetError("too-large", f"larger than {self.policy.max_bytes} bytes", self.url)
        return data

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all when ``n`` < 0), never more than ``max_bytes`` in all."""
        parts, got = [], 0
        while n < 0 or got < n:
            chunk = self.read1(CHUNK if n < 0 else n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)

    def save(self, fh: IO[bytes]) -> tuple[int, str]:
        """Stream the body into ``fh``: (bytes written, their SHA-256)."""
        h = hashlib.sha256()
        while chunk := self.read1():
            h.update(chunk)
            fh.write(chunk)
        return self.count, h.hexdigest()

    def sha256(self) -> tuple[int, str]:
        """(size, SHA-256) of the body, which is read and dropped."""
        h = hashlib.sha256()
        while chunk := self.read1():
            h.update(chunk)
        return self.count, h.hexdigest()

    def close(self) -> None:
        try:
            self._resp.close()
        finally:
            self._conn.close()

    def readable(self) -> bool:
        return True

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _guard(step, url: str, policy: Policy, deadline: float):
    """Run one network step; whatever it raises becomes a :class:`NetError`."""
    try:
        return step()
    except NetError:
        raise
    except _Expired:
        raise NetError("timeout", f"no complete answer within {policy.deadline:g} s", url) from None
    except (socket.timeout, TimeoutError):
        if time.monotonic() >= deadline:
            raise NetError("timeout", f"no complete answer within {policy.deadline:g} s", url) from None
        raise NetError("timeout", f"no answer within {policy.timeout:g} s", url) from None
    except http.client.LineTooLong as exc:
        raise NetError("bad-response", f"oversized header or status line ({_short(exc)})", url) from None
    except http.client.BadStatusLine as exc:
        raise NetError("bad-response", f"not an HTTP status line ({_short(exc)})", url) from None
    except http.client.HTTPException as exc:
        raise NetError("bad-response", f"{type(exc).__name__}: {_short(exc)}", url) from None
    except ssl.SSLError as exc:
        raise NetError("unreachable", f"TLS: {_short(exc)}", url) from None
    except OSError as exc:
        raise NetError("unreachable", _short(exc.strerror or exc), url) from None
    except (ValueError, UnicodeError, LookupError) as exc:
        raise NetError("bad-response", f"{type(exc).__name__}: {_short(exc)}", url) from None


def _short(x: object) -> str:
    s = " ".join(str(x).split())
    return s if len(s) <= 160 else s[:160] + "..."


def _target(parts: urllib.parse.SplitResult) -> str:
    path = urllib.parse.quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + urllib.parse.quote(parts.query, safe=_PATH_SAFE + "?")
    return path


def _request(url: str, parts: urllib.parse.SplitResult, addrs: list[tuple], method: str, policy: Policy,
             deadline: float) -> Response:
    scheme, host, port = origin(parts)
    ascii_host = _ascii_host(host, url)
    conn = _Connection(ascii_host, port, addrs, scheme == "https", policy.timeout, deadline)

    def send() -> http.client.HTTPResponse:
        conn.putrequest(method, _target(parts), skip_host=True, skip_accept_encoding=True)
        shown_host = f"[{ascii_host}]" if ":" in ascii_host else ascii_host
        default = 443 if scheme == "https" else 80
        conn.putheader("Host", shown_host if port == default else f"{shown_host}:{port}")
        conn.putheader("User-Agent", policy.user_agent)
        conn.putheader("Accept", policy.accept)
        conn.putheader("Accept-Encoding", "identity")
        conn.putheader("Connection", "close")
        conn.endheaders()
        return conn.getresponse()

    try:
        resp = _guard(send, url, policy, deadline)
    except BaseException:
        conn.close()
        raise
    return Response(url, conn, resp, policy, deadline)


def open_url(url: str, policy: Policy | None = None, method: str = "GET", public_only: bool = False) -> Response:
    """Send one request under ``policy`` (following redirects as the policy allows) and return the
    answer, whatever its status; its body is read from the :class:`Response`. With ``public_only``
    even the first address must be public (for a request the user did not name, such as the robots.txt
    of a redirect target). Raises :class:`NetError` and nothing else."""
    policy = policy or Policy()
    deadline = time.monotonic() + policy.deadline
    parts = check_url(url)
    named = origin(parts)
    current = url.strip()
    addrs = _resolve(parts, public_only, current)
    for _hop in range(policy.max_redirects + 1):
        resp = _request(current, parts, addrs, method, policy, deadline)
        location = resp.headers.get("Location") if resp.status in REDIRECTS else None
        if location is None:
            return resp
        resp.close()
        try:
            target = urllib.parse.urljoin(current, location.strip())
        except ValueError:
            raise NetError("refused", f"redirected to {_short(location)}: not a valid address", current) from None
        try:
            parts = check_url(target)
        except NetError as exc:
            raise NetError("refused", f"redirected to {_short(target)}: {exc.reason}", current) from None
        addrs = _resolve(parts, public_only or origin(parts) != named, target)
        if policy.redirect_check is not None:
            why = policy.redirect_check(target)
            if why is not None:
                raise NetError("skipped", why, target)
        current = target
    raise NetError("refused", f"more than {policy.max_redirects} redirects", current)


__all__ = ["NetError", "Policy", "Response", "open_url", "check_url", "is_public", "origin", "SCHEMES"]
