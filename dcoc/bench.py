"""``python -m dcoc.bench``: method comparisons, and convergence of finished runs.

    python -m dcoc.bench run --suite NAME[,NAME...] --methods a,b,c --budget N[,M] --seeds S
        [--objective edp|latency|energy] [--design-space FILE] [--area-budget-um2 A]
        [--out DIR] [--address ADDR]
    python -m dcoc.bench plot DIR
    python -m dcoc.bench convergence RUN_DIR... [--objective edp] [--out convergence.png]

``run`` runs every (suite, budget, method, seed) in its own run directory
``OUT/<suite>/<budget>/<method>/<seed>/`` (serially, or as Ray tasks on the cluster at
``--address``), one line per finished run on stderr; finished runs are kept, so the same
command resumes. It then writes ``OUT/curves.csv``, ``OUT/results.md`` (the table, also printed
on stdout), ``OUT/results.json`` and the plots (:mod:`dcoc.benchmark`). ``plot`` re-makes those
from the run directories without running anything. Bad input (unknown suite, method, objective,
a layer no configuration can map): one line on stderr, exit 2; a run that raised is recorded as
failed and the command exits 1 after the others.

``convergence``: every run directory (``python -m dcoc.train``, ``python -m dcoc.search``) holds
``records.sqlite`` with every evaluation in the order it happened. ``convergence`` prints, per
run and workload, how many evaluations were made, how many were valid, the best value of the
metric and after how many evaluations the run first came within 1 % of its own best; the plot
shows the best-so-far value against the number of evaluations, one panel per workload, one
line per run (log scale). Evaluations that are not the method's own (the reward's reference
search, out-of-budget measurements of skipped candidates) are left out by default.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import tempfile
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from dcoc.benchmark.report import RESULTS_MD, write_report
from dcoc.benchmark.rundirs import RunResult, RunSpec
from dcoc.benchmark.runner import (
    BenchPlan,
    Executor,
    execute_run_in,
    failed_result,
    run_bench,
    serial_executor,
)
from dcoc.benchmark.suites import (
    CPU_METHODS,
    BenchInputError,
    check_objective,
    check_suites,
    is_rl,
    parse_budgets,
    parse_methods,
    parse_seeds,
    parse_suites,
)
from dcoc.errors import SpecError
from dcoc.experiment.run_dir import policy_problem
from dcoc.objective import DESIGN_OBJECTIVES, Objective
from dcoc.records import RecordsDB
from dcoc.search.methods import ACCEL_METHODS, CARRIED_METHODS
from dcoc.search.network_search import DEFAULT_DESIGN_SPACE, OBJECTIVES, CoDesignProblem

RECORDS_FILE = "records.sqlite"
NOT_COUNTED = ("reference", "confidence_skipped")
"""Methods whose records are bookkeeping, not the search's own evaluations."""


@dataclass(frozen=True)
class Curve:
    """Best-so-far of one run on one workload: ``best[i]`` after ``i + 1`` evaluations."""

    run: str
    workload: str
    best: tuple[float, ...]
    valid: int

    @property
    def evaluations(self) -> int:
        return len(self.best)

    @property
    def final(self) -> float:
        return self.best[-1] if self.best else float("inf")

    def evaluations_to_within(self, fraction: float) -> int | None:
        """Evaluations after which the best first came within ``fraction`` of the final best."""
        target = self.final * (1.0 + fraction)
        for i, value in enumerate(self.best):
            if value <= target:
                return i + 1
        return None


def convergence_curves(
    run_dir: Path, objective: Objective, *, skip_methods: Iterable[str] = NOT_COUNTED
) -> list[Curve]:
    """One curve per workload recorded in ``run_dir``."""
    path = run_dir / RECORDS_FILE
    if not path.is_file():
        raise SpecError(str(run_dir), (), f"no {RECORDS_FILE}: is this a dcoc run directory?")
    skip = set(skip_methods)
    curves = []
    with RecordsDB.open(path) as db:
        for workload in db.workloads():
            best: list[float] = []
            current = float("inf")
            valid = 0
            for record in db.iterate(workload=workload):
                if record.method in skip:
                    continue
                value = record.objective(objective)
                if record.valid and value is not None:
                    valid += 1
                    current = min(current, float(value))
                best.append(current)
            if best:
                curves.append(Curve(run_dir.name, workload, tuple(best), valid))
    return curves


def natural_key(text: str) -> list[int | str]:
    """Sort key that puts ``C2`` before ``C10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def format_table(curves: Sequence[Curve], objective: Objective) -> str:
    """One row per (workload, run), workloads in natural order, runs in the order given."""
    header = (
        f"{'run':<40} {'workload':<22} {'evals':>8} {'valid':>8} "
        f"{'best ' + objective.value:>14} {'evals to 1%':>12}"
    )
    lines = [header, "-" * len(header)]
    order = {run: i for i, run in enumerate(dict.fromkeys(c.run for c in curves))}
    for c in sorted(curves, key=lambda c: (natural_key(c.workload), order[c.run])):
        reach = c.evaluations_to_within(0.01)
        lines.append(
            f"{c.run:<40.40} {c.workload:<22.22} {c.evaluations:>8} {c.valid:>8} "
            f"{c.final:>14.4g} {reach if reach is not None else '-':>12}"
        )
    return "\n".join(lines)


def plot_curves(curves: Sequence[Curve], objective: Objective, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({c.workload for c in curves}, key=natural_key)
    cols = min(3, len(workloads))
    rows = -(-len(workloads) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, workload in zip(axes.flat, workloads, strict=False):
        for c in curves:
            if c.workload == workload and c.final != float("inf"):
                xs = range(1, c.evaluations + 1)
                ax.step(
                    xs,
                    [v if v != float("inf") else None for v in c.best],
                    where="post",
                    label=c.run,
                )
        ax.set_title(workload)
        ax.set_xlabel("evaluations")
        ax.set_ylabel(f"best {objective.value}")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(workloads) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


PROG = "python -m dcoc.bench"
DEFAULT_OUT = Path("runs/bench")
SUITE_HELP = (
    "what every method is compared on; repeat the flag or separate suites by commas. "
    "Accelerator co-design: a layer set (resnet18.vta, vgg16, mobilenetv2, bert_base, a "
    "layer-set YAML file, or layer names resnet18/C5,resnet18/C8: consecutive layer names form "
    "one layer set), optionally @DESIGN_SPACE (mobilenetv2@accel_specs/simba_like.space.yaml). "
    "TVM on this CPU: cpu:WORKLOAD (cpu:matmul:512,512,512; every layer name after cpu: is a "
    "CPU suite of its own; methods random, metaschedule; objective latency in seconds; budget "
    "in measured trials)"
)
BUDGET_HELP = (
    "layer-mapping evaluations per run (CPU suites: measured trials); a comma list runs every "
    "budget separately (each its own table and plots): GA, SA and the RL agents set their "
    "schedules from the budget (SA's temperature, the agents' stopping point), so a longer "
    "run cut short is not the method at the smaller budget"
)


class _Parser(argparse.ArgumentParser):
    """Errors as one line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser(
        "run",
        help="run a method comparison (resumable) and write its table and plots",
        description="Run every (suite, budget, method, seed) in OUT/<suite>/<budget>/<method>/"
        "<seed>/, then write OUT/curves.csv, results.md, results.json and PNG plots. Finished "
        "runs (their summary.json exists) are not run again: the same command resumes.",
    )
    r.add_argument("--suite", action="append", required=True, help=SUITE_HELP)
    r.add_argument(
        "--methods",
        required=True,
        help="comma-separated; accelerator suites: "
        f"{', '.join(ACCEL_METHODS)}; CPU suites: {', '.join(CPU_METHODS)}",
    )
    r.add_argument("--budget", required=True, help=BUDGET_HELP)
    r.add_argument("--seeds", required=True, help="0-4, 0,1,2 or both (0-2,7)")
    r.add_argument(
        "--objective",
        default="edp",
        help=f"accelerator suites: {', '.join(OBJECTIVES)} of the whole layer set (default edp)",
    )
    r.add_argument(
        "--design-space",
        default=DEFAULT_DESIGN_SPACE,
        help="hardware design space of the suites without @DESIGN_SPACE "
        f"(default {DEFAULT_DESIGN_SPACE})",
    )
    r.add_argument(
        "--area-budget-um2",
        type=float,
        default=None,
        help="area budget of the hardware (default: each design space's own)",
    )
    r.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="the agents of mappo-frozen and mappo-finetune start from this dcoc.train "
        "checkpoint (RUN/checkpoints/iter_NNNN, e.g. trained on another layer set)",
    )
    r.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default {DEFAULT_OUT}")
    r.add_argument(
        "--address",
        default=None,
        help="run the runs as Ray tasks on this cluster (one CPU each; OUT must be on a file "
        "system every node sees, dcoc installed on every node); the RL agents' runs train on "
        "the cluster from this process after the others",
    )
    pl = sub.add_parser(
        "plot",
        help="re-make results.md, results.json, curves.csv and the plots from a run's DIR",
    )
    pl.add_argument("dir", type=Path, help="the --out directory of python -m dcoc.bench run")
    c = sub.add_parser("convergence", help="best-so-far against evaluations, table and plot")
    c.add_argument("runs", nargs="+", type=Path, help="run directories holding records.sqlite")
    c.add_argument(
        "--objective",
        "--metric",
        dest="objective",
        default="edp",
        choices=[o.value for o in DESIGN_OBJECTIVES],
        help="what the curves track (latency: seconds on the CPU, cycles on the accelerator)",
    )
    c.add_argument("--out", type=Path, default=Path("convergence.png"), help="plot file (PNG)")
    c.add_argument(
        "--all-methods",
        action="store_true",
        help=f"count bookkeeping records too ({', '.join(NOT_COUNTED)})",
    )
    return p


def _err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _fail(message: str, code: int) -> int:
    _err(f"{PROG}: error: {' '.join(message.split())}")
    return code


def _plan(args: argparse.Namespace) -> tuple[BenchPlan, dict[str, CoDesignProblem]]:
    """The benchmark the command line asks for, every suite resolved (raises
    :class:`BenchInputError` or :class:`SpecError`)."""
    objective = check_objective(args.objective)
    suites = parse_suites(args.suite, args.design_space)
    methods = parse_methods(args.methods, suites)
    carried = [m for m in methods if m in CARRIED_METHODS]
    if carried or args.policy is not None:
        problem = policy_problem(args.policy, required=bool(carried))
        if problem:
            raise BenchInputError(f"--policy: {problem} ({', '.join(carried)})")
    plan = BenchPlan(
        out=args.out.resolve(),
        suites=tuple(suites),
        budgets=parse_budgets(args.budget),
        methods=methods,
        seeds=parse_seeds(args.seeds),
        objective=objective,
        area_budget_um2=args.area_budget_um2,
        policy=None if args.policy is None else str(args.policy.resolve()),
    )
    return plan, check_suites(suites, args.area_budget_um2)


def _ray_executor(address: str, out: Path) -> tuple[Executor, int]:
    """Runs as Ray tasks of one CPU each on the cluster at ``address`` (the RL agents' runs
    afterwards in this process: they start their own Ray workers on the cluster); the
    executor and the cluster's CPU count."""
    import logging

    import ray

    ray.init(
        address=address,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}},
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    parallel = int(ray.cluster_resources().get("CPU", 1))
    cwd = os.getcwd()

    def execute(specs: Sequence[RunSpec]) -> Iterator[RunResult]:
        remote = ray.remote(num_cpus=1, max_retries=0)(execute_run_in)
        pending = {remote.remote(cwd, s, out): s for s in specs if not is_rl(s.method)}
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    spec = pending.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as error:  # the task's worker died
                        yield failed_result(spec, out, error)
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            ray.shutdown()
        rl = [s for s in specs if is_rl(s.method)]
        if rl:
            os.environ.setdefault("RAY_ADDRESS", address)
            yield from serial_executor(out, report=_err)(rl)

    return execute, parallel


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    try:
        plan, problems = _plan(args)
    except (BenchInputError, SpecError) as error:
        return _fail(str(error), 2)
    executor: Executor = serial_executor(plan.out, problems=problems, report=_err)
    parallel = 1
    if args.address:
        try:
            executor, parallel = _ray_executor(args.address, plan.out)
        except Exception as error:  # no cluster there
            return _fail(f"cannot attach to the Ray cluster at {args.address}: {error}", 2)
    command = " ".join([PROG, *(shlex.quote(a) for a in argv)])
    try:
        outcome = run_bench(
            plan, command=command, report=_err, executor=executor, parallel=parallel
        )
    except BenchInputError as error:
        return _fail(str(error), 2)
    except KeyboardInterrupt:
        _report(plan.out)
        return _fail(
            f"interrupted; the finished runs are kept in {plan.out}: the same command resumes",
            130,
        )
    code = _report(plan.out)
    if outcome.failed:
        _err(
            f"{len(outcome.failed)} run(s) failed (error.txt in their run directories): "
            + ", ".join(sorted({f"{r.spec.method} on {r.spec.suite.name}" for r in outcome.failed}))
        )
        return 1
    return code


def _report(out: Path) -> int:
    try:
        written = write_report(out)
    except FileNotFoundError as error:
        return _fail(str(error), 2)
    print((out / RESULTS_MD).read_text(), end="")
    plots = len(written) - 3
    _err(
        f"results: {', '.join(str(p) for p in written[:3])}; "
        f"{plots} plot{'' if plots == 1 else 's'} in {out}"
    )
    return 0


def _convergence(args: argparse.Namespace) -> int:
    objective = Objective.parse(args.objective)
    skip = () if args.all_methods else NOT_COUNTED
    try:
        curves = [
            c for run in args.runs for c in convergence_curves(run, objective, skip_methods=skip)
        ]
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not any(c.valid for c in curves):
        print(
            f"error: no valid record with a {objective.value} in {len(args.runs)} run(s)",
            file=sys.stderr,
        )
        return 1
    print(format_table(curves, objective))
    plot_curves(curves, objective, args.out)
    print(f"plot: {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args, argv)
        if args.command == "plot":
            if not args.dir.is_dir():
                return _fail(f"{args.dir}: no such directory", 2)
            return _report(args.dir.resolve())
        return _convergence(args)
    except Exception as error:  # a CLI shows no traceback: one line, the details in a file
        log = Path(tempfile.gettempdir()) / f"dcoc-bench-error-{os.getpid()}.log"
        log.write_text(traceback.format_exc())
        return _fail(f"{type(error).__name__}: {error} (traceback in {log})", 1)


if __name__ == "__main__":
    raise SystemExit(main())
