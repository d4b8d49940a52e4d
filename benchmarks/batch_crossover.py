"""Where the batched engine starts to beat the cached scalar evaluators (sets ``MIN_BATCH``).

Run (one core):  OMP_NUM_THREADS=1 python benchmarks/batch_crossover.py
                 [--workload resnet18.vta] [--layer 3] [--sizes 1,8,16,32,48,64,128,256]

For each group size B it draws B designs of one template (the default PE array; buffer depths
and bandwidths drawn at random, so the designs differ as a search's do) with one random mapping
each of ``--layer``, and times per mapping, best of ``--repeats``:

* ``scalar``: :class:`~dcoc.accel.evaluator.CachedEvaluators` one at a time, new evaluators
  (a search's designs are mostly new to the cache);
* ``batched``: ``CachedEvaluators.summaries`` with ``min_batch=1`` (the engine of the template is
  built once and reused, as in a search).

Both must give the same summaries; the script says so per row.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from dcoc.accel.evaluator import CachedEvaluators, EvaluationItem
from dcoc.search.network_search import DEFAULT_DESIGN_SPACE, build_problem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", default="resnet18.vta")
    parser.add_argument("--design-space", default=DEFAULT_DESIGN_SPACE)
    parser.add_argument("--layer", type=int, default=3)
    parser.add_argument("--sizes", default="1,8,16,32,48,64,128,256")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    space = build_problem(args.workload, args.design_space).space
    rng = np.random.default_rng(args.seed)
    default = space.default_hw_action()
    fixed = {k for k, knob in enumerate(space.design_space.knobs) if "pe_" in knob.name}
    problem = space.problems[args.layer]
    batched = CachedEvaluators(min_batch=1)
    print(f"{args.workload} layer {args.layer}: {space.layers[args.layer].name}")
    print(f"{'B':>5} {'scalar us/map':>14} {'batched us/map':>15} {'batched/scalar':>15}  equal")
    for size in (int(s) for s in args.sizes.split(",")):
        items: list[EvaluationItem] = []
        while len(items) < size:
            hw = tuple(
                default[k] if k in fixed else int(rng.integers(n))
                for k, n in enumerate(space.hw_nvec)
            )
            ctx = space.hardware_context(hw)
            tile, order = space.sample_layer_actions(ctx, args.layer, rng)
            mapping = space.decode(ctx, args.layer, tile, order)
            items.append((ctx.arch, problem, mapping, ctx.tables))
        scalar_s, batched_s = [], []
        for _ in range(args.repeats):
            scalar = CachedEvaluators()
            t = time.perf_counter()
            want = [scalar(*item) for item in items]
            scalar_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = batched.summaries(items)
            batched_s.append(time.perf_counter() - t)
        s_us, b_us = min(scalar_s) * 1e6 / size, min(batched_s) * 1e6 / size
        print(f"{size:5d} {s_us:14.1f} {b_us:15.1f} {b_us / s_us:15.2f}  {got == want}")


if __name__ == "__main__":
    main()
