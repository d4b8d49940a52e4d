"""Measured trials each CPU method needs to reach MetaSchedule's best latency, seed by seed.

Reads a finished ``python -m dcoc.bench run`` directory of CPU suites with ``metaschedule``
among its methods. For each suite, budget and seed, MetaSchedule's best is taken two ways:

* *verified*: its top schedules re-measured by dcoc's measurer (the bench's number for it);
* *own runner*: the lowest latency MetaSchedule's own runner reported (usually lower: the
  stricter target);

and for every other method of that seed, the first trial at which its best-so-far latency is at
or below each target ("—": never within the budget). REASONING COMPILER's claim is 5.8x fewer
samples than evolutionary search: at most 11 of MetaSchedule's 64.

    python benchmarks/cpu_trials_to_metaschedule.py BENCH_DIR
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from dcoc.records import RecordsDB, TargetKind


def _latencies(run_dir: Path, method: str) -> list[float | None]:
    with RecordsDB.open(run_dir) as db:
        return [
            r.latency_s if r.valid else None
            for r in db.iterate(method=method, target=TargetKind.CPU)
        ]


def _first_reach(latencies: list[float | None], target: float) -> int | None:
    best = math.inf
    for trial, latency in enumerate(latencies, 1):
        if latency is not None:
            best = min(best, latency)
        if best <= target:
            return trial
    return None


@dataclass(frozen=True)
class Seed:
    suite: str
    budget: str
    seed: str
    targets: dict[str, float]
    """``verified`` and ``own runner``: MetaSchedule's best both ways."""
    methods: dict[str, list[float | None]]
    """Every other method's latencies in trial order."""


def read_seeds(bench_dir: Path) -> list[Seed]:
    out = []
    for records in sorted(bench_dir.glob("cpu_*/*/metaschedule/*/records.sqlite")):
        seed_dir = records.parent
        budget_dir = seed_dir.parent.parent
        verified = [t for t in _latencies(seed_dir, "metaschedule-verify") if t is not None]
        own = [t for t in _latencies(seed_dir, "metaschedule") if t is not None]
        if not verified or not own:
            continue
        methods = {
            d.name: _latencies(d / seed_dir.name, d.name)
            for d in sorted(budget_dir.iterdir())
            if d.name != "metaschedule" and (d / seed_dir.name / "records.sqlite").exists()
        }
        targets = {"verified": min(verified), "own runner": min(own)}
        out.append(Seed(budget_dir.parent.name, budget_dir.name, seed_dir.name, targets, methods))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bench_dir", type=Path)
    args = p.parse_args()
    seeds = read_seeds(args.bench_dir)
    if not seeds:
        print(
            f"no finished metaschedule runs of a CPU suite under {args.bench_dir}", file=sys.stderr
        )
        return 2
    medians: dict[tuple[str, str, str, str], list[float]] = {}
    for s in seeds:
        print(
            f"{s.suite} budget {s.budget} seed {s.seed}: MetaSchedule best "
            + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in s.targets.items())
        )
        for method, lat in s.methods.items():
            best = min((t for t in lat if t is not None), default=math.inf)
            reach = {k: _first_reach(lat, v) for k, v in s.targets.items()}
            print(
                f"  {method:12s} best {best * 1e3:.3f} ms after {len(lat)} trials; "
                + ", ".join(f"to {k}: {'—' if r is None else r}" for k, r in reach.items())
            )
            for k, r in reach.items():
                key = (s.suite, s.budget, method, k)
                medians.setdefault(key, []).append(math.inf if r is None else r)
    print("\nmedian trials to MetaSchedule's best over seeds (inf: the median seed never did):")
    for (suite, budget, method, name), values in sorted(medians.items()):
        print(
            f"  {suite} {budget} {method:12s} to {name:10s}: {statistics.median(values):g} "
            f"({sum(v != math.inf for v in values)}/{len(values)} seeds reached)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
