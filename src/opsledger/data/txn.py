"""Transactions on a data directory: every table, the corrections log inside it and the change-set
file's move, as one atomic step (no heavy imports here, so a crash test can run it in a fresh process).

A change to a data directory (every table, the corrections log inside it, the change-set file moved
to applied/) is one transaction:
  1. under an exclusive lock, every new file is written into a staging folder of its own,
     ``<data_dir>/.opsledger-tx-<txid>/`` (``txid``: 128 random bits), and fsynced;
  2. the journal (``.opsledger-journal.json``: the staged files and the moves, each with its SHA-256,
     signed) is written atomically: this is the commit point;
  3. the renames are done, then the journal and the staging folder are removed.
A crash before 2 leaves the old state (the staging folder is removed at the next open); a crash after
2 is completed by :func:`recover` at the next open (``read_tables`` calls it). Readers take a shared
lock, so they never see half of a transaction. The lock is re-entrant within a thread, so one caller
can hold it across reading, checking and writing (:func:`locked`).

Why a journal is trusted, and when it is not
--------------------------------------------
The journal sits in the data directory, which is under version control: a pull request can add a
``.opsledger-journal.json`` (``git add -f``), and whatever it lists would be replayed by the next
command that reads the data. Nothing a pull request can put in the working tree authenticates a
journal: it controls every byte, name and folder there, digests and staging folders included. What it
cannot control is a secret outside the tree. So every journal is signed with HMAC-SHA256 under a
random 256-bit key kept outside the repository, private to the user who runs opsledger
(``$OPSLEDGER_STATE_DIR/journal.key``, by default ``$XDG_STATE_HOME/opsledger/`` or
``~/.local/state/opsledger/``, created 0600 on the first transaction). Recovery replays a journal only
when, in this order:
  - git (when installed and the folder is a work tree) does not track the journal or its staging
    folder (a tracked journal came in through a commit, never from a crash);
  - its signature verifies under the key (a journal from elsewhere, from an older opsledger, or edited,
    does not);
  - every entry is confined: staged files are plain names inside the data directory, written from
    this transaction's own staging folder; a move takes a change-set file (``.yaml``) to another
    folder inside the data root (the data directory's parent) under the same name;
  - the staging folder exists, and every staged or moved file has the SHA-256 the journal records
    (where it is, or where it was already moved to).
Anything else is refused with :class:`JournalRefused`, naming the journal and the reason, and nothing
is moved. The cost: an interrupted change can only be completed by the user whose key signed it (another
user, or a machine without that key, gets the refusal and restores from ``.backup/``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import NoReturn

from opsledger.errors import UsageError

# --------------------------------------------------------------------------- one file


def is_local(fs) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def write_bytes_atomic(path: Path | str, data: bytes, fs=None) -> None:
    """The one atomic write of a file: to a temporary file beside ``path``, then renamed into place, so
    a reader sees the old file or the new one, never half of it. ``fs`` (an fsspec filesystem, e.g. a
    release store) writes through it; a local one is written like a plain path."""
    if fs is not None and not is_local(fs):
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with fs.open(tmp, "wb") as fh:
            fh.write(data)
        fs.mv(tmp, str(path))
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # the file keeps its permissions; a new one gets what the umask gives (mkstemp's are 0600)
        mode = path.stat().st_mode & 0o777
    except OSError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
        _fsync_dir(path.parent)  # and the new name survives a power cut
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (Linux: /proc/self/status; elsewhere 022)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def write_text_atomic(path: Path | str, text: str) -> None:
    """:func:`write_bytes_atomic` of UTF-8 text."""
    write_bytes_atomic(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- a data directory

JOURNAL = ".opsledger-journal.json"
LOCKFILE = ".opsledger.lock"
#: A transaction's staging folder is ``<data_dir>/.opsledger-tx-<txid>/``.
STAGING = ".opsledger-tx-"
#: Staged files of an older opsledger (beside their destination); removed when found.
STAGED = ".staged"
JOURNAL_FORMAT = "opsledger-journal/2"
KEY_FILE = "journal.key"
#: Largest journal read (one names a dozen files).
MAX_JOURNAL_BYTES = 1 << 20

_TXID = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: A file a transaction writes into the data directory: a plain name, no leading dot (so never the
#: journal, the lock or a staging folder).
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}")
_CHANGE_SET_SUFFIXES = (".yaml", ".yml")


class JournalRefused(UsageError):
    """A journal that recovery will not replay (planted, edited, signed elsewhere, or naming a file
    outside its own transaction). The message names the journal and why; nothing was moved."""


class LockUnavailable(UsageError):
    """The write lock of a data directory cannot be taken (the directory is not writable)."""


# ---- the lock

_HELD = threading.local()


def _held() -> dict[str, str]:
    """The data directories this thread holds a lock on, and how ("shared" or "exclusive")."""
    held = getattr(_HELD, "dirs", None)
    if held is None:
        held = _HELD.dirs = {}
    return held


@contextlib.contextmanager
def _lock(data_dir: Path, shared: bool = False):
    """An advisory fcntl lock on ``<data_dir>/.opsledger.lock``: exclusive for a writer, shared for a
    reader. Re-entrant within a thread: a thread holding the exclusive lock reads and writes under it
    without taking it again (other threads and processes wait for it). A thread holding only the
    shared lock may not ask for the exclusive one (that would deadlock two readers turning writers).
    A reader gets no lock where none can be created (a read-only copy of the data, a platform without
    fcntl); a writer gets :class:`LockUnavailable`."""
    key = os.path.realpath(data_dir)
    held = _held()
    if key in held:
        if not shared and held[key] == "shared":
            raise RuntimeError(f"{data_dir}: the write lock was asked for while this thread holds the read lock")
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    try:
        fd = os.open(Path(data_dir) / LOCKFILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if shared:
            yield
            return
        raise LockUnavailable(f"{data_dir}: cannot take the write lock (is the directory writable?)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        held[key] = "shared" if shared else "exclusive"
        try:
            yield
        finally:
            del held[key]
    finally:
        os.close(fd)


def locked(data_dir: Path | str):
    """The exclusive lock of a data directory, for a caller that reads, checks and writes as one step
    (``correction apply``): a second writer waits until the first has written or failed, then reads
    what the first wrote. Re-entrant: :func:`commit` and ``read_tables`` inside it do not wait."""
    return _lock(Path(data_dir))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---- the key that signs journals


def state_dir() -> Path:
    """The user's private opsledger folder outside any repository: ``$OPSLEDGER_STATE_DIR``, else
    ``$XDG_STATE_HOME/opsledger``, else ``~/.local/state/opsledger``."""
    env = os.environ.get("OPSLEDGER_STATE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".local" / "state"
    return base / "opsledger"


_KEYS: dict[str, bytes] = {}


def _read_key(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the key that signs journals ({exc.strerror})") from None
    try:
        key = os.read(fd, 33)
    finally:
        os.close(fd)
    if len(key) != 32:
        raise UsageError(f"{path}: the key that signs journals is damaged (not 32 bytes); remove it "
                         "(a change interrupted under it can then not be completed)")
    return key


def _journal_key(create: bool) -> bytes | None:
    """The 256-bit key journals are signed with (None when there is none and ``create`` is false).
    Created once, 0600, in :func:`state_dir`; a key made meanwhile by another process is never
    replaced (it is linked into place)."""
    path = state_dir() / KEY_FILE
    if str(path) in _KEYS:
        return _KEYS[str(path)]
    key = _read_key(path)
    if key is None and create:
        tmp = path.with_name(f".{KEY_FILE}.{secrets.token_hex(8)}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_bytes(32))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        except OSError as exc:
            raise UsageError(f"{path}: cannot create the key that signs journals ({exc.strerror}); set "
                             "OPSLEDGER_STATE_DIR to a private, writable folder outside the repository") from None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        key = _read_key(path)
    if key is not None:
        _KEYS[str(path)] = key
    return key


def _signature(body: dict, key: bytes) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    return hmac.new(key, canonical, hashlib.sha256).hexdigest()


# ---- what a transaction may touch (one policy, checked when a journal is written and when replayed)


def _root(data_dir: Path) -> Path:
    """The data root: the folder holding the data directory (and ``corrections/``)."""
    return Path(os.path.realpath(data_dir)).parent


def _confinement(data_dir: Path, files: list, moves: list) -> str | None:
    """Why these entries leave their transaction, or None. ``files``: names of files written into
    the data directory from the staging folder; ``moves``: (source, destination) paths relative to
    the data root, each a change-set file moved to another folder of the root under its own name."""
    for name in files:
        if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
            return f"it writes {name!r}, which is not a plain file name inside the data directory"
    root = _root(data_dir)
    for move in moves:
        if not (isinstance(move, (list, tuple)) and len(move) == 2):
            return f"it holds a malformed move {move!r}"
        src, dst = move
        for rel in (src, dst):
            parts = rel.split("/") if isinstance(rel, str) else []
            if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts) \
                    or "\\" in rel or "\x00" in rel:
                return f"it moves {src!r} -> {dst!r}, outside the data root {root} (or into a hidden folder)"
            if not rel.endswith(_CHANGE_SET_SUFFIXES):
                return f"it moves {rel!r}, which is not a change-set file"
            if not Path(os.path.realpath((root / rel).parent)).is_relative_to(root):
                return f"it moves {rel!r}, which leads outside the data root {root} through a link"
        if src.rsplit("/", 1)[-1] != dst.rsplit("/", 1)[-1] or src == dst:
            return f"it moves {src!r} -> {dst!r}: a move keeps the file's name and changes its folder"
    return None


def _relative_move(data_dir: Path, src: Path, dst: Path) -> list[str]:
    """A move as paths relative to the data root (parents resolved); UsageError outside it."""
    root = _root(data_dir)
    out = []
    for p in (Path(src), Path(dst)):
        parent = Path(os.path.realpath(p.parent))
        if not parent.is_relative_to(root):
            raise UsageError(f"{p}: a transaction of {data_dir} moves files only inside {root}; nothing written")
        out.append((parent / p.name).relative_to(root).as_posix())
    return out


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- the journal


def _git_tracked(data_dir: Path, names: list[str]) -> list[str]:
    """Which of ``names`` (relative to ``data_dir``) git tracks; [] where git is not installed or the
    folder is not in a work tree. Local only: ``git ls-files`` reads the index, never the network."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        p = subprocess.run(["git", "-c", "core.fsmonitor=false", "-C", str(data_dir), "ls-files", "-z", "--", *names],
                           capture_output=True, stdin=subprocess.DEVNULL, timeout=30, env=env)
    except (OSError, subprocess.SubprocessError):
        return []
    if p.returncode != 0:
        return []
    return [n for n in p.stdout.decode("utf-8", "replace").split("\0") if n]


def _read_journal(data_dir: Path) -> dict | None:
    """The journal of an interrupted transaction, verified (see the module's docstring), or None.
    Raises :class:`JournalRefused` without touching anything."""
    path = data_dir / JOURNAL
    if not os.path.lexists(path):
        return None

    def refuse(why: str) -> NoReturn:
        raise JournalRefused(
            f"{path}: not replaying this journal: {why}; nothing was moved. If no opsledger change was "
            f"interrupted in {data_dir}, delete the file (and any {STAGING}* folder beside it); otherwise "
            f"restore the tables from {data_dir / '.backup'}/")

    if path.is_symlink() or not path.is_file():
        refuse("it is not a regular file")
    if path.stat().st_size > MAX_JOURNAL_BYTES:
        refuse(f"it is larger than {MAX_JOURNAL_BYTES} bytes")
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        doc = None
    txid = doc.get("txid") if isinstance(doc, dict) else None
    txid = txid if isinstance(txid, str) and _TXID.fullmatch(txid) else None
    staging = f"{STAGING}{txid}" if txid else None
    tracked = _git_tracked(data_dir, [JOURNAL] + ([staging] if staging else []))
    if tracked:
        refuse(f"git tracks {tracked[0]} (a journal is left by an interrupted change, never committed)")
    if not isinstance(doc, dict) or doc.get("format") != JOURNAL_FORMAT:
        refuse(f"it is not a journal of this opsledger (format {JOURNAL_FORMAT})")
    body = {k: v for k, v in doc.items() if k != "mac"}
    key = _journal_key(create=False)
    if key is None:
        refuse(f"there is no key to verify its signature with ({state_dir() / KEY_FILE}), so this user "
               "did not write it")
    if not isinstance(doc.get("mac"), str) or not hmac.compare_digest(doc["mac"], _signature(body, key)):
        refuse("its signature does not verify (it was written elsewhere, by another user, or edited)")
    files, moves = body.get("files"), body.get("moves")
    ok = staging is not None and isinstance(files, list) and isinstance(moves, list) \
        and all(isinstance(e, list) and len(e) == 2 and isinstance(e[1], str) and _SHA256.fullmatch(e[1])
                for e in files) \
        and all(isinstance(e, list) and len(e) == 3 and isinstance(e[2], str) and _SHA256.fullmatch(e[2])
                for e in moves)
    if not ok or staging is None:
        refuse("it is malformed")
    why = _confinement(data_dir, [n for n, _ in files], [e[:2] for e in moves])
    if why:
        refuse(why)
    folder = data_dir / staging
    if folder.is_symlink() or not folder.is_dir():
        refuse(f"its staging folder {staging} is missing")
    root = _root(data_dir)
    entries = [(folder / n, data_dir / n, sha) for n, sha in files] + \
              [(root / s, root / d, sha) for s, d, sha in moves]
    for src, dst, sha in entries:  # each file where it was staged, or where it was already moved to
        at = src if os.path.lexists(src) else dst
        if at.is_symlink() or not at.is_file():
            refuse(f"{src.name} is neither staged nor in place")
        if _sha256_file(at) != sha:
            refuse(f"{at} does not have the SHA-256 the journal records")
    return body


def _roll_forward(data_dir: Path, body: dict) -> None:
    folder = data_dir / f"{STAGING}{body['txid']}"
    root = _root(data_dir)
    touched = {data_dir}
    for name, _sha in body["files"]:
        if os.path.lexists(folder / name):
            os.replace(folder / name, data_dir / name)
    for src, dst, _sha in body["moves"]:
        if os.path.lexists(root / src):
            (root / dst).parent.mkdir(parents=True, exist_ok=True)
            os.replace(root / src, root / dst)
            touched |= {(root / src).parent, (root / dst).parent}
    for d in touched:
        _fsync_dir(d)
    os.unlink(data_dir / JOURNAL)
    _fsync_dir(data_dir)
    _remove_staging(folder)


def _remove_staging(folder: Path) -> None:
    """Remove a staging folder and the files in it (never following a link)."""
    if folder.is_symlink() or not folder.is_dir():
        return
    for p in folder.iterdir():
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _remove_stale(data_dir: Path) -> None:
    """Staging left by transactions that never committed (and staged files of an older opsledger)."""
    for p in data_dir.glob(f"{STAGING}*"):
        _remove_staging(p)
    for p in data_dir.glob(f".*{STAGED}"):
        if p.is_symlink() or p.is_file():
            p.unlink(missing_ok=True)


def needs_recovery(data_dir: Path | str) -> bool:
    """Whether a transaction was interrupted here (a journal, or staging left behind)."""
    data_dir = Path(data_dir)
    return os.path.lexists(data_dir / JOURNAL) or next(data_dir.glob(f"{STAGING}*"), None) is not None \
        or next(data_dir.glob(f".*{STAGED}"), None) is not None


def recover(data_dir: Path | str) -> bool:
    """Complete an interrupted transaction (roll forward) or remove the staging of one that never
    committed. Returns True when something was completed; :class:`JournalRefused` for a journal this
    library did not write (see the module's docstring)."""
    data_dir = Path(data_dir)
    with _lock(data_dir):
        return _recover_locked(data_dir)


def _recover_locked(data_dir: Path) -> bool:
    journal = _read_journal(data_dir)
    if journal is not None:
        _roll_forward(data_dir, journal)
    _remove_stale(data_dir)
    return journal is not None


def _write_staged(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(data_dir: Path | str, files: dict[Path, bytes], moves: list[tuple[Path, Path]] = (),
           before=None) -> None:
    """Write ``files`` (destination -> bytes; each destination a plain file of ``data_dir``) and do
    ``moves`` (change-set file -> its new place, both inside the data root) as one transaction: after a
    crash at any point, the next open sees all of it or none of it. ``before`` (optional) runs under
    the lock before anything is written, e.g. to re-check a precondition. A destination or move
    outside those bounds is a :class:`UsageError` before anything is written."""
    data_dir = Path(data_dir)
    real = os.path.realpath(data_dir)
    names = {}
    for dest in files:
        dest = Path(dest)
        if os.path.realpath(dest.parent) != real:
            raise UsageError(f"{dest}: a transaction of {data_dir} writes only files directly inside it; nothing written")
        names[dest] = dest.name
    with _lock(data_dir):
        _recover_locked(data_dir)
        if before is not None:
            before()
        rel_moves = [_relative_move(data_dir, a, b) for a, b in moves]
        why = _confinement(data_dir, list(names.values()), rel_moves)
        if why:
            raise UsageError(f"{data_dir}: a transaction may not do this: {why}; nothing written")
        key = _journal_key(create=True)
        txid = secrets.token_hex(16)
        folder = data_dir / f"{STAGING}{txid}"
        os.mkdir(folder, 0o700)
        try:
            staged = []
            for dest, data in files.items():
                _write_staged(folder / names[Path(dest)], data)
                staged.append([names[Path(dest)], hashlib.sha256(data).hexdigest()])
            _fsync_dir(folder)
            root = _root(data_dir)
            moved = [[s, d, _sha256_file(root / s)] for s, d in rel_moves]
        except BaseException:
            _remove_staging(folder)
            raise
        body = {"format": JOURNAL_FORMAT, "txid": txid, "files": staged, "moves": moved}
        write_bytes_atomic(data_dir / JOURNAL, json.dumps({**body, "mac": _signature(body, key)}).encode())
        _roll_forward(data_dir, body)
