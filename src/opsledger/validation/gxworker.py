"""Where great-expectations runs: in this process, or in a worker process started beside it.

Importing great-expectations is the largest fixed cost of a validation (about 2 s on the project
machine, more than reading and schema-checking the shipped tables together). When it is not yet
imported here, :func:`engine` starts a worker process (this module's :func:`main`) that imports
it while this process reads the tables, checks their schemas and builds the cross-source frames;
each batch is handed to the worker as soon as it is built, and its verdicts come back in order. When
great-expectations is already imported here (the caller imported it, as the tests do), or a worker
cannot be started, the batches run here. Either way the verdicts are the same: both run
:meth:`_Session.verdicts` on the same batch.

The worker is this package's own code, fed through its standard input and answering on its
standard output (pickled messages, on a pipe only the two processes hold); it writes no file, reads
no data of its own, and is stopped when :func:`engine` exits. If it dies, the batches it had not
answered are run here. This module imports neither great-expectations nor pandas at import time.
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import subprocess
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

#: modules great-expectations imports when it is imported but uses only inside one statistical
#: expectation (KL divergence) and two metrics that no rule here runs: scipy.stats (1.7 s of a 4.2 s
#: import on the project machine) and altair (0.4 s, its charts)
DEFERRED = ("scipy.stats", "altair")


class _Deferred(types.ModuleType):
    """Stands in for a module while great-expectations is imported; the real module is imported
    the first time one of its attributes is read, so a deferred module still works when used."""

    def __getattr__(self, attr: str):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


@contextmanager
def deferred(names: tuple[str, ...] = DEFERRED) -> Iterator[None]:
    """While inside, an ``import`` of one of ``names`` (not yet imported) binds a :class:`_Deferred`
    stand-in instead of running the module. On the way out the stand-ins leave ``sys.modules``, so
    the rest of the process imports the real modules as usual: only the importer's own names are
    stand-ins, and they import the module on first use.

    (``importlib.util.LazyLoader`` cannot do this on Python 3.11: the import system reads the
    module's ``__spec__``, which makes it load at once.)"""
    mine = {n: _Deferred(n) for n in names if n not in sys.modules}
    sys.modules.update(mine)
    try:
        yield
    finally:
        for n, m in mine.items():
            if sys.modules.get(n) is m:
                del sys.modules[n]


def gx_context():
    """great-expectations, imported here and only here, and an ephemeral context that keeps
    everything in memory: no data docs site, so nothing is written anywhere. No process-wide state
    is touched (environment, tempfile, logging); see :func:`deferred` for the modules its import
    does not run."""
    with deferred():
        import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults

    config = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False))
    ctx = gx.get_context(mode="ephemeral", project_config=config)
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return gx, ctx


@contextmanager
def unfingerprinted() -> Iterator[None]:
    """While inside, great-expectations does not hash a pandas batch for its ``pandas_data_fingerprint``
    marker (1.3 s at a million claims; nothing here reads the marker). GX has no option for this, only
    its module constant ``HASH_THRESHOLD`` (batches whose memory reaches it are not hashed): it is
    set to 0 while a batch is made and validated (GX makes it again to validate),
    and put back on the way out."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    if not hasattr(engine, "HASH_THRESHOLD"):  # another GX release: leave it as it is
        yield
        return
    old = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = old


@dataclass(frozen=True)
class Verdict:
    """GX's verdict on one expectation of a batch: success, the ``_rid`` of each failing row (only
    asked for when it failed), and the first line of the error when the expectation could not run."""

    success: bool
    rids: tuple[int, ...] = ()
    error: str | None = None


class Refused(Exception):
    """GX refuses the ``index``-th expectation of a batch (its type or arguments), saying ``reason``."""

    def __init__(self, index: int, reason: str):
        super().__init__(index, reason)
        self.index, self.reason = index, reason


#: an expectation as GX takes it: its type and its arguments (columns already named as in the batch)
Spec = tuple[str, dict]


class _Session:
    """great-expectations, its context and the one batch definition every batch is handed to."""

    def __init__(self) -> None:
        self.gx, ctx = gx_context()
        self.batches = ctx.data_sources.add_pandas("opsledger").add_dataframe_asset(
            "frames").add_batch_definition_whole_dataframe("all")

    def verdicts(self, frame, specs: list[Spec], params: dict) -> list[Verdict]:
        """A :class:`Verdict` for each of ``specs`` on ``frame`` (an Arrow table with a ``_rid``
        column, in the types polars hands to pandas): all of them with GX's ``BOOLEAN_ONLY`` result
        format, then the failing ones again with ``COMPLETE`` (the ``_rid`` of their failing rows).
        Raises :class:`Refused`."""
        gx = self.gx
        with unfingerprinted():
            # as polars' own to_pandas: default pandas dtypes (GX is faster with them than with Arrow's)
            batch = self.batches.get_batch(batch_parameters={"dataframe": frame.to_pandas(date_as_object=False)})

            def suite(idx: list[int]):
                try:
                    return gx.ExpectationSuite(name=f"batch-{len(idx)}", expectations=[
                        gx.expectations.registry.get_expectation_impl(specs[i][0])(**specs[i][1], meta={"n": i})
                        for i in idx])
                except Exception as exc:  # GX refuses an expectation's type or arguments
                    raise self._refusal(specs) from exc

            # GX does not keep the suite's order: each result is matched by the number in its meta
            first = batch.validate(suite(list(range(len(specs)))), expectation_parameters=params,
                                   result_format={"result_format": "BOOLEAN_ONLY"})
            got = {int(r.expectation_config.meta["n"]): r for r in first.results}
            failed = sorted(i for i, r in got.items() if not r.success)
            if failed:
                again = batch.validate(suite(failed), expectation_parameters=params, result_format={
                    "result_format": "COMPLETE", "unexpected_index_column_names": ["_rid"],
                    "partial_unexpected_count": 0, "return_unexpected_index_query": False})
                got.update({int(r.expectation_config.meta["n"]): r for r in again.results})
        out = []
        for i in range(len(specs)):
            r = got[i]
            rids = tuple(int(x["_rid"]) for x in ((r.result or {}).get("unexpected_index_list") or []))
            error = None
            if r.exception_info and r.exception_info.get("raised_exception"):
                error = str(r.exception_info.get("exception_message")).splitlines()[0]
            out.append(Verdict(bool(r.success) and error is None, rids, error))
        return out

    def answer(self, frame, specs: list[Spec], params: dict) -> list[Verdict] | Refused:
        """:meth:`verdicts`, or the :class:`Refused` it raised."""
        try:
            return self.verdicts(frame, specs, params)
        except Refused as exc:
            return exc

    def _refusal(self, specs: list[Spec]) -> Refused:
        for i, (kind, kwargs) in enumerate(specs):
            try:
                self.gx.expectations.registry.get_expectation_impl(kind)(**kwargs)
            except Exception as exc:  # noqa: BLE001 - GX raises several kinds
                return Refused(i, f"{kind}: {str(exc).splitlines()[0]}")
        return Refused(0, "an expectation GX refuses")


@dataclass
class Inline:
    """Batches run in this process, each when it is submitted (great-expectations is imported on the
    first one)."""

    params: dict = field(default_factory=dict)
    _session: _Session | None = None
    _done: list = field(default_factory=list)

    def session(self) -> _Session:
        if self._session is None:
            self._session = _Session()
        return self._session

    def set_params(self, params: dict) -> None:
        self.params = params

    def submit(self, frame, specs: list[Spec]) -> int:
        self._done.append(self.session().answer(frame, specs, self.params))
        return len(self._done) - 1

    def ready(self, ticket: int) -> bool:
        return True

    def result(self, ticket: int) -> list[Verdict]:
        got = self._done[ticket]
        self._done[ticket] = None
        if isinstance(got, Refused):
            raise got
        return got

    def close(self) -> None:
        pass


class Worker:
    """Batches run in a worker process (see the module's docstring). Answers come back in the order
    the batches were submitted; a batch not answered when the worker dies is run here instead."""

    def __init__(self) -> None:
        if not sys.executable:
            raise OSError("no Python executable to start a worker with")
        # -P: the working directory is not put on the worker's path (a file there named like a module
        # must not be imported); this module is loaded from its file, not found on the path
        self.proc = subprocess.Popen([sys.executable, "-P", "-c", _WORKER, str(Path(__file__).resolve())],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     bufsize=0)  # unbuffered, so select() tells whether an answer has come
        if self.proc.stdin is None or self.proc.stdout is None:  # (never: both are pipes)
            raise OSError("no pipe to the worker")
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout
        self.params: dict = {}
        self.pending: dict[int, tuple] = {}  # ticket -> (frame, specs, params) until answered
        self.answered: dict[int, object] = {}
        self.sent = 0
        self.read = 0
        self.fallback: Inline | None = None

    def _send(self, message) -> bool:
        """Whether ``message`` reached the worker (not when it is gone, or was given up)."""
        if self.fallback is not None:
            return False
        try:
            pickle.dump(message, self.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.stdin.flush()
            return True
        except (OSError, ValueError):  # the worker is gone: its batches run here (see submit)
            return False

    def _fail(self) -> None:
        """The worker is gone: run every unanswered batch here, in order."""
        if self.fallback is None:
            self.fallback = Inline()
            self.close()
        for ticket in sorted(t for t in self.pending if t not in self.answered):
            frame, specs, params = self.pending[ticket]
            self.answered[ticket] = self.fallback.session().answer(frame, specs, params)

    def set_params(self, params: dict) -> None:
        self.params = params
        self._send(("params", params))

    def submit(self, frame, specs: list[Spec]) -> int:
        ticket = self.sent
        self.sent += 1
        self.pending[ticket] = (frame, specs, self.params)
        if not self._send(("batch", ticket, frame, specs)):
            self._fail()
        return ticket

    def _receive(self) -> None:
        """Read the next answer (waiting for it)."""
        try:
            kind, got_ticket, payload = pickle.load(self.stdout)
        except Exception:  # noqa: BLE001 - EOF or a torn message: the worker is gone
            self._fail()
            return
        if kind == "error" or got_ticket != self.read:  # it could not run the batch: run it here
            self._fail()
            return
        self.answered[got_ticket] = Refused(*payload) if kind == "refused" else [Verdict(*v) for v in payload]
        self.read += 1

    def ready(self, ticket: int) -> bool:
        """Whether the answer for ``ticket`` is in, reading the answers that have arrived (without
        waiting for any)."""
        while ticket not in self.answered and self.fallback is None:
            try:
                if not select.select([self.stdout], [], [], 0)[0]:
                    return False
            except (OSError, ValueError):  # select() on a pipe is not everywhere (Windows): ask later
                return False
            self._receive()
        return True

    def result(self, ticket: int) -> list[Verdict]:
        while ticket not in self.answered and self.fallback is None:
            self._receive()
        if ticket not in self.answered:
            self._fail()
        got = self.answered.pop(ticket)
        del self.pending[ticket]
        if isinstance(got, Refused):
            raise got
        return got  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker: end its input, then wait for it briefly; kill it if it does not stop
        (it may still be importing great-expectations, when the cross-source stage did not run)."""
        proc = self.proc
        if self.sent == 0:  # it has had nothing to do: do not wait for its import to end
            proc.kill()
        for f in (proc.stdin, proc.stdout):
            try:
                if f:
                    f.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


#: the worker's program: this module, loaded from the file named by its first argument (so the
#: worker runs the very code of this process, wherever it is installed), then its :func:`main`
_WORKER = ("import importlib.util, sys\n"
           "spec = importlib.util.spec_from_file_location('_opsledger_gx_worker', sys.argv[1])\n"
           "module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)\n"
           "spec.loader.exec_module(module)\n"
           "module.main()\n")

#: the engine of the validation running in this context (see :func:`engine`)
_current: ContextVar[Inline | Worker | None] = ContextVar("opsledger_gx_engine", default=None)


def start(where: str = "auto") -> Inline | Worker:
    """An engine: ``"here"`` (:class:`Inline`), ``"worker"`` (:class:`Worker`, or :class:`Inline`
    when no worker process can be started) or ``"auto"``: here when great-expectations is already
    imported in this process, else a worker."""
    if where not in ("auto", "here", "worker"):
        raise ValueError(f"where must be auto, here or worker, not {where!r}")
    if where == "here" or (where == "auto" and "great_expectations" in sys.modules):
        return Inline()
    try:
        return Worker()
    except OSError:  # no subprocess here (a sandbox, an embedded interpreter)
        return Inline()


@contextmanager
def engine(where: str = "auto") -> Iterator[Inline | Worker]:
    """The engine of the validation running in this context: the one an enclosing ``engine()``
    started (so a worker started before the tables are read is the one that runs their batches), or a
    new one (see :func:`start`), stopped on the way out."""
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    eng = start(where)
    token = _current.set(eng)
    try:
        yield eng
    finally:
        _current.reset(token)
        eng.close()


def main() -> None:
    """The worker: import great-expectations at once, while messages are already read from standard
    input (a thread reads them, so the validating process never waits to hand a batch over), then
    answer each batch on standard output, in order."""
    import gc
    import queue
    import threading
    import traceback

    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not tear a message
    inbox: queue.Queue = queue.Queue()

    def reader() -> None:
        try:
            while True:
                inbox.put(pickle.load(sys.stdin.buffer))
        except Exception:  # noqa: BLE001 - end of input (or a torn message): stop
            inbox.put(None)

    threading.Thread(target=reader, daemon=True).start()
    # the import makes a great many objects and little garbage: without the collector it takes less
    # time (0.1 to 0.3 s of about 2.3 s here); frozen, its objects are not scanned again while batches run
    gc.disable()
    session = _Session()
    gc.freeze()
    gc.enable()
    params: dict = {}
    while (message := inbox.get()) is not None:
        if message[0] == "params":
            params = message[1]
            continue
        _, ticket, frame, specs = message
        try:
            got = session.answer(frame, specs, params)
        except Exception:  # noqa: BLE001 - told to the validating process, which runs the batch itself
            got = None
        if isinstance(got, Refused):
            answer: tuple = ("refused", ticket, (got.index, got.reason))
        elif got is None:
            answer = ("error", ticket, traceback.format_exc(limit=3))
        else:  # plain tuples: this module is not importable by its name here, so its classes cannot be pickled
            answer = ("verdicts", ticket, [(v.success, v.rids, v.error) for v in got])
        try:
            pickle.dump(answer, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
        except OSError:  # the validating process has gone
            break
    # nothing to keep: leave without the interpreter's teardown of great-expectations (0.5 s)
    os._exit(0)
