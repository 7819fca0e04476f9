"""Where a validation's memory peaks, stage by stage (README, Speed).

    python benchmarks/memory_stages.py DATA_DIR [--sources DIR] [--acknowledgements FILE] [--all]

Runs ``opsledger.validate`` in this process (great-expectations in its worker, as on the command line)
while a thread samples every 10 ms the resident memory of this process and of its worker. Each stage
is marked as it starts and ends: reading the tables, the schema stage, the re-derivation, each frame
built, each batch handed to the worker (rows x columns, Arrow size) and each wait for an answer.
Prints, for the time up to each mark, the peak of the validating process, of the worker and of the
two together; the marks within 60 MiB of the overall peak are flagged ``<==`` (``--all``: every
mark, else only those and the main stages). Nothing is written.
"""

from __future__ import annotations

import argparse
import os
import resource
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_mib(pid: int) -> float:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--sources", type=Path, default=None)
    ap.add_argument("--acknowledgements", type=Path, default=None)
    ap.add_argument("--all", action="store_true", help="print every mark")
    a = ap.parse_args()

    me, t0 = os.getpid(), time.perf_counter()
    samples: list[tuple[float, float, float]] = []  # (time, this process, its worker)
    marks: list[tuple[float, str]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            samples.append((time.perf_counter() - t0, _rss_mib(me), sum(_rss_mib(k) for k in _children(me))))

    def mark(label: str) -> None:
        marks.append((time.perf_counter() - t0, label))

    def around(fn, label: str):
        def wrapped(*args, **kwargs):
            mark(f"{label} start")
            try:
                return fn(*args, **kwargs)
            finally:
                mark(f"{label} end")
        return wrapped

    threading.Thread(target=sample, daemon=True).start()

    import opsledger.derive.reconcile as reconcile
    import opsledger.validation.run as run
    import opsledger.validation.schema_stage as schema_stage
    from opsledger.data import io as oio
    from opsledger.validation import gxworker
    from opsledger.validation.rules import base

    oio.read_tables = around(oio.read_tables, "read")
    schema_stage.check_schemas = around(schema_stage.check_schemas, "schema")
    reconcile.derive_all_with_phrases = around(reconcile.derive_all_with_phrases, "derive")
    for name, spec in base.frame_specs().items():
        object.__setattr__(spec, "build", around(spec.build, f"frame {name}"))
    submit, result = gxworker.Worker.submit, gxworker.Worker.result

    def submit_marked(self, frame, specs):
        mark(f"batch {frame.num_rows}x{frame.num_columns} ({frame.nbytes / 2**20:.0f} MiB) handed over")
        return submit(self, frame, specs)

    def result_marked(self, ticket):
        mark(f"answer {ticket} waited for")
        return result(self, ticket)

    gxworker.Worker.submit, gxworker.Worker.result = submit_marked, result_marked

    report = run.validate(a.data, sources=a.sources, acknowledgements=a.acknowledgements)
    mark("done")
    stop.set()
    time.sleep(0.03)
    if not samples:
        raise SystemExit("no samples (is /proc there?)")
    top = max(s[1] + s[2] for s in samples)
    print(f"exit {report.exit_code}, {len(report.findings)} findings; timings (s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in report.timings.items()))
    print(f"peak: validating process {max(s[1] for s in samples):.0f} MiB (max RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}), worker {max(s[2] for s in samples):.0f} MiB, "
          f"together {top:.0f} MiB")
    print(f"{'s':>7} {'mark':52} {'process':>8} {'worker':>7} {'both':>6}   (peak MiB since the previous mark)")
    prev = 0.0
    for t, label in marks:
        seg = [s for s in samples if prev <= s[0] < t] or [min(samples, key=lambda s: abs(s[0] - t))]
        both = max(s[1] + s[2] for s in seg)
        near = both >= top - 60
        if a.all or near or not label.startswith(("frame", "batch", "answer")):
            print(f"{t:7.2f} {label:52} {max(s[1] for s in seg):8.0f} {max(s[2] for s in seg):7.0f} {both:6.0f}"
                  + ("  <==" if near else ""))
        prev = t


if __name__ == "__main__":
    main()
