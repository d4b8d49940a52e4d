"""MetaSchedule's evolutionary search (XGBoost) versus dcoc's random decisions, measured.

For each workload and method: one search with the same trial budget, target (host CPU, its
``mcpu``), sketches and measurement settings; the best latency is measured by dcoc's own
out-of-process measurer and verified against numpy for both methods (MetaSchedule's top
schedules are re-measured). Prints a table.

    OMP_NUM_THREADS=1 python benchmarks/tvm_search.py [--trials 64] [--threads 1]
        [--workloads matmul:512,512,512 resnet18/C5] [--run-root runs/bench_tvm_search]

Takes 10-20 minutes on two shared cores with the defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from dcoc.search.cpu_search import CpuMethod, CpuSearchConfig, CpuSearchResult, run_cpu_search


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workloads", nargs="+", default=["matmul:512,512,512", "resnet18/C5"])
    p.add_argument("--methods", nargs="+", default=["metaschedule", "random"])
    p.add_argument(
        "--run-root",
        type=Path,
        default=Path("runs") / ("bench_tvm_search__" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")),
    )
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    rows: list[CpuSearchResult] = []
    for workload in args.workloads:
        for method in args.methods:
            safe = workload.replace("/", "_").replace(":", "_").replace(",", "x")
            config = CpuSearchConfig(
                workload=workload,
                method=CpuMethod(method),
                trials=args.trials,
                run_dir=args.run_root / f"{safe}__{method}",
                seed=args.seed,
                threads=args.threads,
            )
            result = run_cpu_search(config, lambda line: print(line, file=sys.stderr, flush=True))
            rows.append(result)
            print(
                f"done: {workload} {method}: {result.best_latency_s}", file=sys.stderr, flush=True
            )

    print(
        f"\nTVM CPU schedule search: {args.trials} trials per method, {args.threads} "
        f"thread(s), best latency measured and verified by dcoc's measurer"
    )
    header = (
        f"{'workload':<22} {'method':<13} {'best ms':>10} {'GFLOP/s':>9} {'wall s':>8} "
        f"{'evals':>6} {'failed':>6} {'MS-runner ms':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        best = "-" if r.best_latency_s is None else f"{r.best_latency_s * 1e3:.3f}"
        gf = "-" if r.best_gflops is None else f"{r.best_gflops:.2f}"
        own = r.extra.get("best_latency_s_own_runner")
        own_s = "-" if own is None else f"{own * 1e3:.3f}"
        print(
            f"{r.workload:<22} {r.method:<13} {best:>10} {gf:>9} {r.wall_s:>8.1f} "
            f"{r.evaluations:>6} {r.failed:>6} {own_s:>13}"
        )
    print(f"records: {args.run_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
