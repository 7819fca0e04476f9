"""Benchmark `opsledger validate` end to end (`make bench`).

For the shipped data and synthetic datasets of 10k, 100k and 1M claims (benchmarks/synthetic.py), each
measured in a fresh process (so every import counts):

- floor: reading every table with pyarrow (the least any validation must do);
- schema: `opsledger validate --schema-only` (pandera);
- full: `opsledger validate` (schema + great-expectations cross-source stage);
  the stage times inside it come from the report's own timings;
- imports: a process that only imports great-expectations and makes its context, as a validation's
  worker does before its first batch (opsledger.validation.gxworker): whatever the data, a full validation
  cannot end sooner, since the worker's import is the longest thing it waits on.

The four are run one after the other in each round (interleaved), so a slow moment of the machine
weighs on the floor as much as on the validation; each measure's best of the rounds (3 by default,
as ``timeit`` reports its minimum) is shown, and the ratios are the result: absolute times drift.

Prints wall time and peak memory (max RSS of the process, or the sampled sum over it and its
great-expectations worker when that is larger) with ratios against the floor measured in the same run.
Writes only inside --work (default: a temporary directory, removed afterwards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
IMPORTS = "from opsledger.validation.gxworker import gx_context\ngx_context()\n"
FLOOR = (
    "import sys, pathlib, pyarrow.parquet as pq\n"
    "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.parquet')): pq.read_table(p)\n"
)


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (a validation may start a
    great-expectations worker), from /proc; 0 once it has gone. Children are looked up from each
    process's main thread, which is where a validation starts its worker."""
    todo, pages = [pid], 0
    while todo:
        p = todo.pop()
        try:
            todo += [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
            pages += int(Path(f"/proc/{p}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):  # it ended meanwhile
            continue
    return pages * PAGE / 2**20


def run(args: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak memory MiB, stdout) of one child process. The memory is the larger of
    the process's own peak (``ru_maxrss``, exact) and the peak sum over it and its descendants,
    sampled every 20 ms (a validation's worker process counts)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_mib(p.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    out = p.stdout.read()
    done.set()
    sampler.join()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return wall, max(usage.ru_maxrss / 1024, peak[0]), out


def measure(name: str, data: Path, sources: Path | None, acks: Path | None, repeat: int) -> dict:
    """Best of ``repeat`` interleaved rounds: each measure's own minimum (as ``timeit`` reports),
    with the stage timings of the fastest full run."""
    exe = [sys.executable, "-m", "opsledger.cli", "validate", str(data)]
    extra = (["--sources", str(sources)] if sources else []) + (["--acknowledgements", str(acks)] if acks else [])
    rounds = []
    for _ in range(repeat):
        fw, fm, _ = run([sys.executable, "-c", FLOOR, str(data)])
        iw, _, _ = run([sys.executable, "-c", IMPORTS])
        sw, sm, _ = run(exe + ["--schema-only"] + extra)
        ww, wm, out = run(exe + ["--format", "json"] + extra)
        rounds.append({"floor_s": fw, "floor_mib": fm, "imports_s": iw, "schema_s": sw, "schema_mib": sm,
                       "full_s": ww, "full_mib": wm, "report": json.loads(out)})
    best = {k: min(r[k] for r in rounds) for k in rounds[0] if k != "report"}
    doc = min(rounds, key=lambda r: r["full_s"])["report"]
    best.update({"stage_schema_s": doc["timings_s"].get("schema", 0), "stage_cross_s": doc["timings_s"].get("cross", 0),
                 "exit": doc["exit_code"], "claims": None, "name": name, "repeat": repeat,
                 "parts": {k[len("cross."):]: v for k, v in doc["timings_s"].items() if k.startswith("cross.")}})
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="synthetic claim counts")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds per dataset (each measure's best is kept)")
    ap.add_argument("--work", type=Path, help="where synthetic data is written (default: a temp dir)")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from synthetic import generate

    from opsledger.data import io as oio

    work = a.work or Path(tempfile.mkdtemp(prefix="opsledger-bench-"))
    try:
        acks = work / "no-acknowledgements.toml"
        acks.parent.mkdir(parents=True, exist_ok=True)
        acks.write_text("")
        archive = REPO.parent / "shared" / "sources"
        rows = [measure("shipped", REPO / "datasets", archive if archive.is_dir() else None, None, a.repeat)]
        for n in (int(x) for x in a.sizes.split(",") if x):
            d = work / f"synthetic-{n}"
            t = generate(n)
            oio.write_tables(t, d, keep_backup=False)
            r = measure(f"{n:,} claims", d, None, acks, a.repeat)
            r["claims"] = t["claims"].height
            rows.append(r)
    finally:
        if a.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print("| data | claims | floor: pyarrow read | schema stage (process) | full validate (process) | in-process schema / cross | full vs floor | exit |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['claims'] or 'shipped'} | {r['floor_s']:.2f} s, {r['floor_mib']:.0f} MiB "
              f"| {r['schema_s']:.2f} s, {r['schema_mib']:.0f} MiB | {r['full_s']:.2f} s, {r['full_mib']:.0f} MiB "
              f"| {r['stage_schema_s']:.2f} s / {r['stage_cross_s']:.2f} s "
              f"| {r['full_s'] / r['floor_s']:.1f}x time, {r['full_mib'] / r['floor_mib']:.1f}x memory | {r['exit']} |")
    print()
    print("cross stage by part (s): each family's frames, and `gx` (importing and running great-expectations)")
    for r in rows:
        print(f"- {r['name']}: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["parts"].items(), key=lambda kv: -kv[1])))
    print()
    print("great-expectations' import alone, as the worker does it (the least any full validation costs):")
    for r in rows:
        print(f"- {r['name']}: {r['imports_s']:.2f} s, {r['imports_s'] / r['floor_s']:.1f}x the floor")
    print()
    for r in rows:  # the targets of issue 13
        if r["name"] == "shipped":
            ok = r["full_s"] <= 6 * r["floor_s"]
            print(f"target shipped <= 6x floor: {'met' if ok else 'NOT met'} ({r['full_s'] / r['floor_s']:.1f}x; "
                  f"its import alone is {r['imports_s'] / r['floor_s']:.1f}x)")
        if r["claims"] and r["claims"] >= 900_000:
            ok = r["full_s"] < 12 and r["full_mib"] < 2048
            print(f"target 1M claims < 12 s and < 2 GiB: {'met' if ok else 'NOT met'} "
                  f"({r['full_s']:.1f} s, {r['full_mib']:.0f} MiB; floor {r['floor_s']:.2f} s)")


if __name__ == "__main__":
    main()
