"""Throughput of dcoc's accelerator model on the Eyeriss-like reference case (06).

Run (one core):  OMP_NUM_THREADS=1 python benchmarks/accel_throughput.py [--batch 8192]

Prints, for random legal mappings that respect the architecture's constraints plus the
reference mapping:

* batched: ``BatchEvaluator.evaluate`` (full per-level report) and ``evaluate_summary``
  (validity, cycles, energy, area) mapping evaluations per second, both stride rules, with
  neighbour link transfers (the default, as timeloop-model) and without;
* scalar: ``Evaluator.summary`` per mapping (cached evaluator), the same including building
  the evaluator, the full ``evaluate`` (closed form + cost report) and the delta-engine
  simulation.

Wall-clock and process CPU time are both shown; on a shared machine the CPU time is the better
measure of one core's work. The machine's load average is printed first.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dcoc.accel.batched.evaluator import BatchEvaluator
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.mapper.random_mappings import random_mappings
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.spec.inputs import load_model_inputs

CASE = Path(__file__).resolve().parents[1] / "tests/data/timeloop/06-eyeriss-vgg02-layer5"
FILES = [
    "VGG02_layer5.prob.yaml",
    "eyeriss_like.arch.yaml",
    "timeloop-mapper.map.yaml",
    "timeloop-mapper.ERT.yaml",
    "timeloop-mapper.ART.yaml",
]


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """(best wall s, median wall s, best CPU s) over ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpus.append(time.process_time() - c)
        walls.append(time.perf_counter() - w)
    return min(walls), statistics.median(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"load average (1/5/15 min): {os.getloadavg()}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}"
    )
    inp = load_model_inputs([CASE / f for f in FILES])
    arch, problem, tables = inp.architecture, inp.problem, inp.tables
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    mappings = [inp.mapping, *random_mappings(arch, problem, args.batch - 1, rng)]
    t1 = time.perf_counter()
    batch = MappingBatch.from_mappings(
        mappings, len(arch.storage), len(problem.dimensions), len(problem.data_spaces)
    )
    t2 = time.perf_counter()
    print(
        f"case 06-eyeriss-vgg02-layer5, batch {args.batch} (reference + random legal): "
        f"generated in {t1 - t0:.2f} s, to arrays in {t2 - t1:.2f} s"
    )
    hardware = HardwareBatch.from_architecture(arch, tables)
    for legacy, links in ((False, True), (False, False), (True, True), (True, False)):
        ev = BatchEvaluator(arch, problem, legacy_translation=legacy, link_transfers=links)
        rep = ev.evaluate(batch, hardware)  # warm the histogram memo
        rule = ("legacy" if legacy else "current") + (" links" if links else " nolink")
        for what, run in (
            ("evaluate (full report)", lambda ev=ev: ev.evaluate(batch, hardware)),
            ("evaluate_summary", lambda ev=ev: ev.evaluate_summary(batch, hardware)),
        ):
            best, med, cpu = timed(run, args.repeats)
            print(
                f"batched [{rule:14s}] {what:22s}: {best * 1e3:6.2f} ms best / {med * 1e3:6.2f} ms "
                f"median wall, {cpu * 1e3:6.2f} ms CPU per batch -> {args.batch / best:,.0f} /s "
                f"wall, {args.batch / cpu:,.0f} /s CPU; valid {int(rep.valid.sum())}/{args.batch}"
            )
    sample = mappings[: min(2000, len(mappings))]
    for legacy, links in ((False, True), (False, False), (True, True)):
        rule = ("legacy" if legacy else "current") + (" links" if links else " nolink")
        ev1 = Evaluator(arch, problem, tables, legacy_translation=legacy, link_transfers=links)
        for m in sample:
            ev1.summary(m)

        def run_cached(ev1: Evaluator = ev1) -> None:
            for m in sample:
                ev1.summary(m)

        best, med, cpu = timed(run_cached, 5)
        n = len(sample)
        print(
            f"scalar  [{rule:14s}] Evaluator.summary (cached): {best / n * 1e6:6.1f} us best / "
            f"{med / n * 1e6:6.1f} us median wall, {cpu / n * 1e6:6.1f} us CPU per mapping"
        )

        def ref_cached(ev1: Evaluator = ev1) -> None:
            for _ in range(1000):
                ev1.summary(inp.mapping)

        best, med, cpu = timed(ref_cached, 5)
        print(
            f"scalar  [{rule:14s}] Evaluator.summary, reference mapping: {best * 1e3:6.1f} us "
            f"best / {med * 1e3:6.1f} us median wall, {cpu * 1e3:6.1f} us CPU"
        )

        def full_call(legacy: bool = legacy, links: bool = links) -> None:
            for m in sample[:200]:
                Evaluator(
                    arch, problem, tables, legacy_translation=legacy, link_transfers=links
                ).summary(m)

        best, med, cpu = timed(full_call, 3)
        print(
            f"scalar  [{rule:14s}] Evaluator(...) + summary, uncached: {best / 200 * 1e6:6.1f} us "
            f"best wall, {cpu / 200 * 1e6:6.1f} us CPU per mapping"
        )

        def model_call(legacy: bool = legacy, links: bool = links) -> None:
            for m in sample[:200]:
                evaluate(
                    arch, problem, m, tables=tables, legacy_translation=legacy, link_transfers=links
                )

        best, med, cpu = timed(model_call, 3)
        print(
            f"scalar  [{rule:14s}] evaluate() full CostReport (closed form): "
            f"{best / 200 * 1e6:6.1f} us best wall, {cpu / 200 * 1e6:6.1f} us CPU per mapping"
        )
    best, med, cpu = timed(
        lambda: evaluate(arch, problem, inp.mapping, tables=tables, engine="simulate"), 3
    )
    print(
        f"scalar  [current links   ] evaluate(engine='simulate'), reference mapping: "
        f"{best * 1e3:6.1f} ms best wall, {cpu * 1e3:6.1f} ms CPU"
    )


if __name__ == "__main__":
    main()
