"""``python -m dcoc.search``: one search without RL.

    python -m dcoc.search --target cpu --workload matmul:512,512,512 --method random \\
        --trials 64 [--run-dir DIR] [--seed S] [--threads T] [--json]

Progress goes to stderr; ``--json`` prints one JSON object on stdout (``best_latency_s``,
``best_gflops``, ``evaluations``, ``failed``, ``run_dir``, ``method``, ``workload``,
``wall_s``), also written to ``RUN_DIR/summary.json``. Bad arguments or an unknown workload:
one line on stderr, exit 2. No valid candidate found: exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from dcoc.errors import SpecError

TARGETS = ("cpu", "accel")
CPU_METHODS = ("random", "metaschedule")
PROG = "python -m dcoc.search"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="One design search without RL, every candidate "
        "measured and recorded in RUN_DIR/records.sqlite.",
    )
    p.add_argument(
        "--target",
        required=True,
        choices=TARGETS,
        help="cpu: real TVM schedules on this machine; accel: accelerator model",
    )
    p.add_argument(
        "--workload",
        required=True,
        help="a shipped layer (resnet18/C5) or a shape (matmul:512,512,512)",
    )
    p.add_argument("--method", required=True, help=f"cpu: {', '.join(CPU_METHODS)}")
    p.add_argument("--trials", type=_positive, default=64, help="candidates to measure")
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="default: runs/search__{workload}__{method}__{time}",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=_positive,
        default=1,
        help="cores the programs use (target num-cores and TVM_NUM_THREADS)",
    )
    p.add_argument("--workers", type=_positive, default=1, help="measurement worker processes")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


def _fail(message: str, code: int) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.target == "accel":
        _fail("--target accel is not yet implemented; use --target cpu", 2)
    if args.method not in CPU_METHODS:
        _fail(
            f"unknown method {args.method!r} for --target cpu; choose from {list(CPU_METHODS)}", 2
        )
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from dcoc.search.cpu_search import (
        CpuMethod,
        CpuSearchConfig,
        default_run_dir,
        run_cpu_search,
    )
    from dcoc.workloads.catalog import resolve_workload

    try:
        resolve_workload(args.workload)
    except SpecError as error:
        _fail(str(error), 2)
    run_dir = args.run_dir or default_run_dir(args.workload, args.method)
    config = CpuSearchConfig(
        workload=args.workload,
        method=CpuMethod(args.method),
        trials=args.trials,
        run_dir=run_dir,
        seed=args.seed,
        threads=args.threads,
        workers=args.workers,
    )

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        result = run_cpu_search(config, progress)
    except SpecError as error:
        _fail(str(error), 2)
    except KeyboardInterrupt:
        _fail(f"interrupted; everything measured so far is in {run_dir}", 130)
    except Exception as error:  # a CLI shows no traceback: one line, details in the run dir
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "error.log").write_text(traceback.format_exc())
        _fail(f"{type(error).__name__}: {error} (traceback in {run_dir / 'error.log'})", 1)
    summary = result.to_json()
    (Path(result.run_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps(summary))
    else:
        best = result.best_latency_s
        print(
            f"{result.workload} [{result.method}]: best "
            f"{'none' if best is None else f'{best * 1e3:.4f} ms'}"
            f"{'' if result.best_gflops is None else f' ({result.best_gflops:.2f} GFLOP/s)'}"
            f", {result.evaluations} evaluations, {result.failed} failed, "
            f"{result.wall_s:.1f} s; records in {result.run_dir}"
        )
    return 0 if result.best_latency_s is not None else 1


if __name__ == "__main__":
    sys.exit(main())
