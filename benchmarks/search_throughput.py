"""Model evaluations per second of the co-design search methods, end to end.

Run (one core):  OMP_NUM_THREADS=1 python benchmarks/search_throughput.py
                 [--workload resnet18.vta] [--methods random,ga,sa,mcts] [--budget 4000]

Each method spends ``--budget`` layer-mapping evaluations through the one search interface
(``run_network_search``: the task's cached fast evaluator, records written to SQLite, the best
design exported), in a fresh temporary run directory. Prints per method the evaluations, wall
and process CPU seconds, evaluations per second of each, and the best network EDP (so that a
faster run that finds something else is visible). The machine's load average is printed first:
on a shared machine the CPU figure is the better measure of one core's work.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dcoc.search.methods import build_baseline
from dcoc.search.network_search import (
    DEFAULT_DESIGN_SPACE,
    NetworkSearchConfig,
    build_problem,
    run_network_search,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", default="resnet18.vta")
    parser.add_argument("--design-space", default=DEFAULT_DESIGN_SPACE)
    parser.add_argument("--methods", default="random,ga,sa,mcts")
    parser.add_argument("--budget", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    start = time.perf_counter()
    problem = build_problem(args.workload, args.design_space)
    print(
        f"{args.workload}: {len(problem.layer_set.layers)} layers, built in "
        f"{time.perf_counter() - start:.2f} s"
    )
    for method in args.methods.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            config = NetworkSearchConfig(
                workload=args.workload,
                method=method,
                budget=args.budget,
                run_dir=Path(tmp) / method,
                design_space=Path(args.design_space),
                seed=args.seed,
            )
            cpu = time.process_time()
            wall = time.perf_counter()
            result = run_network_search(config, build_baseline(method), problem=problem)
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
        edp = "none" if result.best_edp is None else f"{result.best_edp:.3e}"
        print(
            f"{method:8s} evaluations={result.evaluations} wall={wall:.1f}s cpu={cpu:.1f}s "
            f"eval/s wall={result.evaluations / wall:.0f} cpu={result.evaluations / cpu:.0f} "
            f"best_edp={edp}"
        )


if __name__ == "__main__":
    main()
