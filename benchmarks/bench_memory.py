"""Memory of a long ``python -m dcoc.bench run``: resident set size against evaluations.

Run:  OMP_NUM_THREADS=1 python benchmarks/bench_memory.py --suite resnet18.vta \\
          --methods sa,mappo --budget 20000 --seeds 0

Starts the bench into a fresh ``--out`` (a temporary directory unless given), samples every
``--every`` seconds the resident set size of the bench process and of its whole process tree
(the Ray workers of an RL method included), and the evaluations its records hold so far. Prints
the RSS at each tenth of the run's evaluations, the peaks, and the growth between a quarter of
the evaluations and the end of each run: flat memory is a growth near zero.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

MIB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    run: str
    """The run directory being written (``suite/budget/method/seed``)."""
    evaluations: int
    process_mib: float
    tree_mib: float


def _rss(proc: psutil.Process) -> tuple[float, float]:
    own = proc.memory_info().rss
    tree = own
    for child in proc.children(recursive=True):
        try:
            tree += child.memory_info().rss
        except psutil.Error:
            continue
    return own / MIB, tree / MIB


def _latest_records(out: Path) -> tuple[str, int]:
    """The most recently written records database under ``out`` and its row count."""
    dbs = [p for p in out.rglob("records.sqlite") if "interrupted" not in p.parts]
    if not dbs:
        return "", 0
    db_path = max(dbs, key=lambda p: p.stat().st_mtime)  # an RL run's is under its train/
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            (count,) = db.execute("SELECT COUNT(*) FROM candidates").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        count = 0
    return "/".join(db_path.relative_to(out).parts[:4]), int(count)


def sample_bench(bench_args: list[str], out: Path, every_s: float) -> tuple[list[Sample], int]:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    command = [sys.executable, "-m", "dcoc.bench", "run", *bench_args, "--out", str(out)]
    print("$", " ".join(command), flush=True)
    proc = subprocess.Popen(command, env=env)
    ps = psutil.Process(proc.pid)
    samples: list[Sample] = []
    start = time.monotonic()
    while proc.poll() is None:
        try:
            own, tree = _rss(ps)
        except psutil.Error:
            break
        run, evaluations = _latest_records(out)
        samples.append(Sample(time.monotonic() - start, run, evaluations, own, tree))
        time.sleep(every_s)
    return samples, proc.wait()


def _during(samples: list[Sample], run: str) -> list[Sample]:
    """The samples of ``run`` up to the first with its final count (those after it are the
    next run's start, before that run's records exist)."""
    mine = [s for s in samples if s.run == run]
    last = max(s.evaluations for s in mine)
    end = next(i for i, s in enumerate(mine) if s.evaluations == last)
    return mine[: end + 1]


def report(samples: list[Sample]) -> None:
    runs = list(dict.fromkeys(s.run for s in samples if s.run))
    print("\n| run | evaluations | bench process RSS (MiB) | process tree RSS (MiB) |")
    print("|---|---:|---:|---:|")
    for run in runs:
        mine = _during(samples, run)
        last = mine[-1].evaluations
        shown: set[int] = set()
        for tenth in range(1, 11):
            target = last * tenth // 10
            at = next((s for s in mine if s.evaluations >= target), mine[-1])
            if at.evaluations in shown:
                continue
            shown.add(at.evaluations)
            print(f"| {run} | {at.evaluations} | {at.process_mib:.0f} | {at.tree_mib:.0f} |")
    print()
    for run in runs:
        mine = _during(samples, run)
        last = mine[-1].evaluations
        quarter = next(s for s in mine if s.evaluations >= last // 4)
        end = mine[-1]
        print(
            f"{run}: peak process {max(s.process_mib for s in mine):.0f} MiB, peak tree "
            f"{max(s.tree_mib for s in mine):.0f} MiB; from {quarter.evaluations} to "
            f"{end.evaluations} evaluations the process grew "
            f"{end.process_mib - quarter.process_mib:+.0f} MiB, the tree "
            f"{end.tree_mib - quarter.tree_mib:+.0f} MiB"
        )
    print(
        f"whole bench: peak process {max(s.process_mib for s in samples):.0f} MiB, "
        f"peak tree {max(s.tree_mib for s in samples):.0f} MiB, "
        f"{samples[-1].elapsed_s:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="bench output directory (default: a new one)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples")
    args, bench_args = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="dcoc-bench-memory-") as tmp:
        out = args.out or Path(tmp) / "bench"
        samples, code = sample_bench(bench_args, out, args.every)
        if code != 0 or not samples:
            sys.exit(f"the bench exited with status {code}")
        report(samples)


if __name__ == "__main__":
    main()
