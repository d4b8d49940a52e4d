"""Run a benchmark: every (suite, budget, method, seed) its own run, each in its own directory.

Runs are independent and resumable: a run whose ``summary.json`` exists is finished and is not
run again (its settings must match, or the benchmark directory belongs to another command); an
interrupted accel baseline run continues where it stopped (its records replayed, :func:`resumes`);
any other run directory (interrupted RL or CPU runs, failed runs) is moved under
``OUT/interrupted/`` with its records (:func:`keep_interrupted`) and the run starts afresh. A
run that raises is recorded as failed (``error.txt``) and the benchmark goes on.

Each budget is a run of its own: GA, SA and the RL agents set their schedules from the budget
(SA's temperature, the agents' stopping point), so a longer run's curve cut short is not what
the method does at the smaller budget.

Runs execute serially (:func:`serial_executor`) or through any :data:`Executor` the caller
passes (the entry point's Ray executor). The accelerator searches run in-process through
:func:`~dcoc.search.network_search.run_network_search`; the RL agents come from
:func:`dcoc.experiment.rl_search.build_rl_searcher` (imported only when asked for, it imports
ray); the CPU searches are :func:`~dcoc.search.cpu_search.run_cpu_search` (imported only for
CPU suites, it imports TVM).
"""

from __future__ import annotations

import json
import math
import os
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dcoc.benchmark.designs import best_curve, complete_designs
from dcoc.benchmark.rundirs import (
    ERROR_FILE,
    SUMMARY_FILE,
    RunResult,
    RunSpec,
    compact_curve,
    is_finished,
    read_index,
    read_result,
    read_run_file,
    write_error,
    write_index,
    write_result,
    write_run_file,
)
from dcoc.benchmark.suites import BenchInputError, Suite, is_rl
from dcoc.records import RECORDS_FILE, RecordsDB, ReplayMismatchError, TargetKind
from dcoc.search import methods
from dcoc.search.network_search import CoDesignProblem, NetworkSearchConfig, run_network_search
from dcoc.search.task import Progress
from dcoc.workloads.catalog import resolve_layers

Report = Callable[[str], None]
Executor = Callable[[Sequence[RunSpec]], Iterator[RunResult]]
"""Runs the given runs (each with :func:`execute_run`) and yields their results as they end."""

CPU_OBJECTIVE = "latency_s"
CPU_SUMMARY_PENDING = "summary.json.part"
"""A CPU run's summary until its numbers are written (then renamed to ``summary.json``)."""


@dataclass(frozen=True)
class BenchPlan:
    out: Path
    suites: tuple[Suite, ...]
    budgets: tuple[int, ...]
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    objective: str = "edp"
    area_budget_um2: float | None = None
    policy: str | None = None
    """Checkpoint the carried methods' agents start from (``--policy``)."""

    def specs(self) -> list[RunSpec]:
        """Every run, seeds outside methods: after the first seed, every method has one."""
        return [
            RunSpec(
                suite,
                budget,
                method,
                seed,
                CPU_OBJECTIVE if suite.kind == "cpu" else self.objective,
                None if suite.kind == "cpu" else self.area_budget_um2,
                self.policy if method in methods.CARRIED_METHODS else None,
            )
            for suite in self.suites
            for budget in self.budgets
            for seed in self.seeds
            for method in self.methods
        ]


@dataclass
class BenchOutcome:
    ran: list[RunResult] = field(default_factory=list)
    skipped: list[RunResult] = field(default_factory=list)

    @property
    def failed(self) -> list[RunResult]:
        return [r for r in self.ran if r.status == "failed"]


def split_done(plan: BenchPlan) -> tuple[list[RunSpec], list[RunResult]]:
    """The runs still to do and the results of those finished before; a finished run with
    other settings than asked raises :class:`BenchInputError`."""
    todo: list[RunSpec] = []
    done: list[RunResult] = []
    for spec in plan.specs():
        run_dir = spec.run_dir(plan.out)
        if not is_finished(run_dir):
            todo.append(spec)
            continue
        existing, counted = read_run_file(run_dir)
        if existing != spec:
            raise BenchInputError(
                f"{run_dir} holds a finished run with other settings "
                f"({_difference(existing, spec)}); use another --out"
            )
        result = read_result(run_dir, spec)
        if result is None:  # finished, but its numbers were not written: read the records
            result = recover_result(spec, run_dir, counted or (spec.method,))
            write_result(run_dir, result)
        done.append(result)
    return todo, done


def _difference(a: RunSpec, b: RunSpec) -> str:
    ja, jb = a.to_json(), b.to_json()
    ja.update(ja.pop("suite"))
    jb.update(jb.pop("suite"))
    return ", ".join(f"{k} {ja[k]!r} there, {jb[k]!r} now" for k in ja if ja[k] != jb.get(k))


def run_bench(
    plan: BenchPlan,
    *,
    command: str,
    report: Report,
    executor: Executor | None = None,
    parallel: int = 1,
) -> BenchOutcome:
    """Run what is not done yet; ``report`` gets one line per finished run with its result
    and the estimated time left (``parallel`` runs at a time)."""
    plan.out.mkdir(parents=True, exist_ok=True)
    todo, done = split_done(plan)
    index = read_index(plan.out).merged(command, (s.name for s in plan.suites), plan.methods)
    write_index(plan.out, index)
    outcome = BenchOutcome(skipped=done)
    if done:
        report(f"{len(done)} of {len(done) + len(todo)} runs already finished in {plan.out}")
    eta = Eta()
    left = list(todo)
    run = executor or serial_executor(plan.out, report=report)
    for i, result in enumerate(run(todo), 1):
        outcome.ran.append(result)
        eta.add(result)
        left.remove(result.spec)
        report(f"[{i}/{len(todo)}] {describe(result)}; {eta.left_text(left, parallel)}")
    return outcome


def describe(result: RunResult) -> str:
    spec = result.spec
    head = f"{spec.suite.name} budget {spec.budget} {spec.method} seed {spec.seed}"
    if result.status == "failed":
        return f"{head}: FAILED ({result.error})"
    best = "none" if result.best_objective is None else f"{result.best_objective:.4g}"
    return (
        f"{head}: best {spec.objective} {best} ({result.evaluations} evaluations, "
        f"{result.failed_evaluations} invalid) in {result.wall_s:.1f} s"
    )


class Eta:
    """Time left, from the seconds per budgeted evaluation of the runs finished so far: of
    the same method on the same suite if there are some, else the method's, else any."""

    def __init__(self) -> None:
        self._rates: dict[tuple[str, ...], list[float]] = {}

    def add(self, result: RunResult) -> None:
        if result.status != "ok":
            return
        spec = result.spec
        rate = result.wall_s / max(spec.budget, 1)
        for key in ((spec.suite.key, spec.method), (spec.method,), ()):
            self._rates.setdefault(key, []).append(rate)

    def estimate_s(self, spec: RunSpec) -> float | None:
        for key in ((spec.suite.key, spec.method), (spec.method,), ()):
            rates = self._rates.get(key)
            if rates:
                return sum(rates) / len(rates) * spec.budget
        return None

    def left_text(self, left: Sequence[RunSpec], parallel: int = 1) -> str:
        if not left:
            return "done"
        estimates = [self.estimate_s(s) for s in left]
        known = [e for e in estimates if e is not None]
        if not known:
            return f"{_runs(len(left))} left"
        unknown = len(left) - len(known)  # as the mean of the known ones
        total = (sum(known) + unknown * sum(known) / len(known)) / max(parallel, 1)
        return f"{_runs(len(left))} left, about {format_duration(total)}"


def _runs(n: int) -> str:
    return f"{n} run{'' if n == 1 else 's'}"


def format_duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def serial_executor(
    out: Path,
    *,
    problems: dict[str, CoDesignProblem] | None = None,
    report: Report | None = None,
) -> Executor:
    """Run one after the other in this process (``problems``: co-design problems by suite
    key, built once; ``report``: the searches' own progress lines)."""

    def execute(specs: Sequence[RunSpec]) -> Iterator[RunResult]:
        for spec in specs:
            progress = None if report is None else _quiet_start(report, f"  {spec.suite.name}: ")
            yield execute_run(
                spec, out, problem=(problems or {}).get(spec.suite.key), progress=progress
            )

    return execute


def _quiet_start(report: Report, prefix: str, after_s: float = 10.0) -> Progress:
    """A search's progress lines, prefixed, from ``after_s`` into the run on (a short run
    says nothing of its own: its result line follows)."""
    start = time.perf_counter()

    def progress(line: str) -> None:
        if time.perf_counter() - start >= after_s:
            report(prefix + line)

    return progress


INTERRUPTED_DIR = "interrupted"
"""``OUT/interrupted/<suite>/<budget>/<method>/<seed>.<k>/``: the k-th unfinished attempt of a
run, moved aside (records included) when the run starts again; never read by the report."""


def keep_interrupted(out: Path, run_dir: Path) -> Path:
    """Move the unfinished ``run_dir`` under :data:`INTERRUPTED_DIR`; return where it went."""
    base = out / INTERRUPTED_DIR / run_dir.relative_to(out)
    base.parent.mkdir(parents=True, exist_ok=True)
    k = 1
    while base.with_name(f"{base.name}.{k}").exists():
        k += 1
    kept = base.with_name(f"{base.name}.{k}")
    run_dir.rename(kept)
    return kept


def execute_run(
    spec: RunSpec,
    out: Path,
    *,
    problem: CoDesignProblem | None = None,
    progress: Progress | None = None,
) -> RunResult:
    """Run ``spec`` in its run directory; a run that raises comes back failed, with the error
    in ``error.txt``. An interrupted run of an accel baseline is resumed (its records replayed,
    :func:`resumes`); any other unfinished run directory is kept aside
    (:func:`keep_interrupted`) and the run starts afresh."""
    run_dir = spec.run_dir(out)
    resume = resumes(spec, run_dir)
    if run_dir.exists() and not resume:
        keep_interrupted(out, run_dir)
    run_dir.mkdir(parents=True, exist_ok=resume)
    write_run_file(run_dir, spec, None)
    try:
        if spec.suite.kind == "cpu":
            result = _cpu_run(spec, run_dir, progress)
        else:
            try:
                result = _accel_run(spec, run_dir, problem, progress, resume=resume)
            except ReplayMismatchError:  # the records are another search's: start afresh
                keep_interrupted(out, run_dir)
                run_dir.mkdir(parents=True)
                write_run_file(run_dir, spec, None)
                result = _accel_run(spec, run_dir, problem, progress)
    except Exception as error:  # recorded; the other runs go on
        return failed_result(spec, out, error, traceback.format_exc())
    write_result(run_dir, result)
    if spec.suite.kind == "cpu":  # summary.json last: the run is finished
        (run_dir / CPU_SUMMARY_PENDING).rename(run_dir / SUMMARY_FILE)
    return result


def resumes(spec: RunSpec, run_dir: Path) -> bool:
    """Whether the unfinished ``run_dir`` is an interrupted run of ``spec`` that replaying
    its records continues: an accel baseline's (:func:`~dcoc.search.methods.resume_refusal`),
    killed rather than failed, started with the same settings."""
    if spec.suite.kind == "cpu" or methods.resume_refusal(spec.method) is not None:
        return False
    if not (run_dir / RECORDS_FILE).is_file() or (run_dir / ERROR_FILE).exists():
        return False
    try:
        started, _ = read_run_file(run_dir)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return started == spec


def execute_run_in(cwd: str, spec: RunSpec, out: Path) -> RunResult:
    """:func:`execute_run` with relative paths (design spaces, layer-set files) taken from
    ``cwd``: the driver's working directory, for a worker process started elsewhere."""
    os.chdir(cwd)
    return execute_run(spec, out)


def failed_result(
    spec: RunSpec, out: Path, error: BaseException, traceback_text: str = ""
) -> RunResult:
    """Record ``error`` as the run's failure in its run directory."""
    run_dir = spec.run_dir(out)
    run_dir.mkdir(parents=True, exist_ok=True)
    line = write_error(run_dir, error, traceback_text)
    return RunResult(spec, "failed", error=line)


def _accel_run(
    spec: RunSpec,
    run_dir: Path,
    problem: CoDesignProblem | None,
    progress: Progress | None,
    *,
    resume: bool = False,
) -> RunResult:
    suite = spec.suite
    assert suite.design_space is not None
    if is_rl(spec.method):
        from dcoc.experiment.rl_search import build_rl_searcher  # imports ray

        searcher, counted = build_rl_searcher(spec.method, run_dir=run_dir, policy=spec.policy)
    else:
        searcher, counted = methods.build_baseline(spec.method), (spec.method,)
    write_run_file(run_dir, spec, counted)
    config = NetworkSearchConfig(
        workload=suite.workload,
        method=spec.method,
        budget=spec.budget,
        run_dir=run_dir,
        design_space=Path(suite.design_space),
        seed=spec.seed,
        objective=spec.objective,
        area_budget_um2=spec.area_budget_um2,
        resume=resume,
    )
    found = run_network_search(
        config, searcher, problem=problem, progress=progress, counted_methods=counted
    )
    counts = resolve_layers(suite.workload).counts
    return RunResult(
        spec,
        "ok",
        best_objective=found.best_objective,
        evaluations=found.evaluations,
        failed_evaluations=found.failed,
        wall_s=found.wall_s,
        curve=compact_curve(found.curve),
        designs=complete_designs(
            run_dir / RECORDS_FILE,
            counts,
            objective=spec.objective,
            counted_methods=counted,
            max_evaluations=spec.budget,
        ),
        best_hw=found.best_hw,
    )


def recover_result(spec: RunSpec, run_dir: Path, counted: Sequence[str]) -> RunResult:
    """The numbers of a finished run from its ``summary.json`` and records."""
    summary = json.loads((run_dir / SUMMARY_FILE).read_text())
    if spec.suite.kind == "cpu":
        cpu_curve, evaluations = _cpu_curve(run_dir, spec)
        return RunResult(
            spec,
            "ok",
            best_objective=summary.get("best_latency_s"),
            evaluations=int(summary.get("evaluations", evaluations)),
            failed_evaluations=int(summary.get("failed", 0)),
            wall_s=float(summary.get("wall_s", 0.0)),
            curve=cpu_curve,
        )
    layer_set = resolve_layers(spec.suite.workload)
    path = run_dir / RECORDS_FILE
    curve = best_curve(
        path,
        layer_set.keys,
        layer_set.counts,
        objective=spec.objective,
        counted_methods=counted,
        max_evaluations=spec.budget,
    )
    designs = complete_designs(
        path,
        layer_set.counts,
        objective=spec.objective,
        counted_methods=counted,
        max_evaluations=spec.budget,
    )
    return RunResult(
        spec,
        "ok",
        best_objective=summary.get("best_objective"),
        evaluations=int(summary["evaluations"]),
        failed_evaluations=int(summary["failed"]),
        wall_s=float(summary["wall_s"]),
        curve=compact_curve(curve),
        designs=designs,
        best_hw=summary.get("best_hw"),
    )


def _cpu_run(spec: RunSpec, run_dir: Path, progress: Progress | None) -> RunResult:
    from dcoc.search.cpu_search import CpuMethod, CpuSearchConfig, run_cpu_search  # imports TVM

    write_run_file(run_dir, spec, (spec.method,))
    config = CpuSearchConfig(
        workload=spec.suite.workload,
        method=CpuMethod(spec.method),
        trials=spec.budget,
        run_dir=run_dir,
        seed=spec.seed,
    )
    found = run_cpu_search(config, progress)
    curve, _ = _cpu_curve(run_dir, spec)
    (run_dir / CPU_SUMMARY_PENDING).write_text(json.dumps(found.to_json(), indent=2) + "\n")
    return RunResult(
        spec,
        "ok",
        best_objective=found.best_latency_s,
        evaluations=found.evaluations,
        failed_evaluations=found.failed,
        wall_s=found.wall_s,
        curve=curve,
    )


def _cpu_curve(run_dir: Path, spec: RunSpec) -> tuple[tuple[tuple[int, float], ...], int]:
    """Best latency after each of the method's own measurements; a baseline's measurement
    that dcoc re-measured (``<method>-verify`` records, MetaSchedule's best) counts with dcoc's
    latency, the others as the baseline's runner reported them."""
    best = math.inf
    curve: list[float] = []
    with RecordsDB.open(run_dir) as db:
        workload = spec.suite.workload
        remeasured = {
            int(r.design["record"]): r.latency_s
            for r in db.iterate(workload, method=f"{spec.method}-verify", target=TargetKind.CPU)
            if "record" in r.design
        }
        for record in db.iterate(workload, method=spec.method, target=TargetKind.CPU):
            latency = record.latency_s if record.valid else None
            if record.id in remeasured:
                latency = remeasured[record.id]
            if latency is not None:
                best = min(best, float(latency))
            curve.append(best)
    return compact_curve(curve), len(curve)
