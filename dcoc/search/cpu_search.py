"""One search for a fast CPU schedule of one layer, measured for real (no RL).

Methods:

* ``random``: a sketch and one legal value per decision slot, uniformly at random (distinct
  design points); every candidate built, run and checked against numpy out of process.
* ``metaschedule``: MetaSchedule's evolutionary search with its XGBoost cost model on the same
  sketches, target and measurement settings. Its measurements are recorded as it reports them;
  its best schedules are then re-measured (and verified) by dcoc's own measurer, and the best
  verified latency is the one reported, so both methods are compared on one measurer.

Every evaluation lands in the run directory's records database as soon as it is measured.
New methods register in :data:`METHODS`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from dcoc.records import (
    CandidateRecord,
    RecordsDB,
    ReplayMismatchError,
    TargetKind,
    design_json,
)
from dcoc.search.cpu_mcts import mcts_search
from dcoc.search.cpu_trials import (
    VERIFY_SUFFIX,
    CpuMethod,
    CpuSearchConfig,
    CpuSearchResult,
    Progress,
    candidate_record,
    default_run_dir,
    design_of,
    gflops,
    progress_line,
    workload_description,
)
from dcoc.tvm.compute import einsum_spec
from dcoc.tvm.design_space import (
    DesignPoint,
    DesignSpace,
    IllegalDecisionError,
    PostprocRejectedError,
    generate_design_space,
)
from dcoc.tvm.measure import ErrorKind, MeasureInput, Measurer, MeasureResult
from dcoc.tvm.metaschedule_baseline import schedule_of, tune_metaschedule
from dcoc.tvm.target import host_target, host_target_config
from dcoc.tvm.traces import trace_to_json
from dcoc.workloads.catalog import resolve_workload

__all__ = [
    "METHODS",
    "CpuMethod",
    "CpuSearchConfig",
    "CpuSearchResult",
    "default_run_dir",
    "run_cpu_search",
]

logger = logging.getLogger(__name__)


def random_search(
    config: CpuSearchConfig,
    space: DesignSpace,
    measurer: Measurer,
    records: RecordsDB,
    progress: Progress,
) -> None:
    """Measure up to ``config.trials`` distinct random design points; resumed, the trials
    already in the records are drawn again (the same points, from the seed) and skipped."""
    rng = np.random.default_rng(config.seed)
    recorded = (
        {r.trial: r.design for r in records.iterate(config.workload, config.method, TargetKind.CPU)}
        if config.resume
        else {}
    )
    seen: set[DesignPoint] = set()
    trial = 0
    misses = 0
    while trial < config.trials and misses < 1000:
        batch: list[tuple[int, DesignPoint]] = []
        size = min(config.batch_size, config.trials - trial)
        while len(batch) < size and misses < 1000:
            point = space.random_point(rng)
            if point in seen:
                misses += 1
                continue
            seen.add(point)
            batch.append((trial, point))
            trial += 1
        inputs: list[MeasureInput] = []
        pending: list[tuple[int, DesignPoint, Any]] = []
        for index, point in batch:
            if index in recorded:
                if design_json(recorded[index]) != design_json(design_of(space, point)):
                    raise ReplayMismatchError(
                        f"cannot resume: trial {index} of this search is another design point "
                        "than the records hold (the code or the seed changed since the run "
                        "started); start a new run directory"
                    )
                continue
            try:
                sch = space.apply(point)
            except (IllegalDecisionError, PostprocRejectedError) as error:
                records.add(
                    candidate_record(
                        config,
                        config.method,
                        index,
                        design_of(space, point),
                        MeasureResult(error_kind=ErrorKind.SCHEDULE_ERROR, error=str(error)),
                        None,
                    )
                )
                continue
            inputs.append(MeasureInput.from_schedule(sch, space.spec))
            pending.append((index, point, trace_to_json(sch.trace)))
        for i, result in measurer.measure_iter(inputs):
            index, point, trace = pending[i]
            records.add(
                candidate_record(
                    config, config.method, index, design_of(space, point), result, trace
                )
            )
        progress(progress_line(config, records, config.method, trial))


def metaschedule_search(
    config: CpuSearchConfig,
    space: DesignSpace,
    measurer: Measurer,
    records: RecordsDB,
    progress: Progress,
) -> None:
    """MetaSchedule's search, its records copied in, its best re-measured and verified."""
    progress(
        f"[metaschedule] tuning {config.trials} trials (MetaSchedule's own log: "
        f"{config.run_dir / 'metaschedule' / 'logs'})"
    )
    measurements = tune_metaschedule(
        space.spec,
        space.target,
        config.trials,
        config.run_dir / "metaschedule",
        config.settings,
        seed=config.seed,
        trials_per_iteration=min(16, config.batch_size * 2),
    )
    ids: list[int] = []
    for trial, m in enumerate(measurements):
        ids.append(
            records.add(
                CandidateRecord(
                    target=TargetKind.CPU,
                    workload=config.workload,
                    method=config.method,
                    trial=trial,
                    design={"source": "metaschedule"},
                    trace=m.trace_json,
                    valid=m.valid,
                    verified=False,
                    latency_s=m.latency_s,
                    error=None if m.valid else "metaschedule: build or run failed",
                    metrics={"costs_s": list(m.costs_s), "threads": config.threads},
                )
            )
        )
    progress(progress_line(config, records, config.method, len(measurements)))
    ranked = sorted((m.latency_s, i) for i, m in enumerate(measurements) if m.latency_s)
    top = [i for _, i in ranked[: config.verify_top_k]]
    inputs = [
        MeasureInput.from_schedule(schedule_of(space.spec, measurements[i]), space.spec)
        for i in top
    ]
    verify = f"{config.method}{VERIFY_SUFFIX}"
    for j, result in measurer.measure_iter(inputs):
        i = top[j]
        rec = candidate_record(
            config,
            verify,
            i,
            {"source": "metaschedule", "record": ids[i]},
            result,
            measurements[i].trace_json,
        )
        records.add(rec)
    progress(progress_line(config, records, verify, len(top), len(top)))


METHODS: dict[
    str, Callable[[CpuSearchConfig, DesignSpace, Measurer, RecordsDB, Progress], None]
] = {
    CpuMethod.RANDOM: random_search,
    CpuMethod.METASCHEDULE: metaschedule_search,
    CpuMethod.MCTS: mcts_search,
    CpuMethod.MCTS_RANDOM: mcts_search,
    CpuMethod.MCTS_LLM: mcts_search,
}


def run_cpu_search(config: CpuSearchConfig, progress: Progress | None = None) -> CpuSearchResult:
    """Run one search; everything measured goes to ``config.run_dir/records.sqlite``.

    Raises :class:`~dcoc.errors.SpecError` for an unknown workload name."""
    report = progress or (lambda line: logger.info("%s", line))
    start = time.perf_counter()
    spec = einsum_spec(resolve_workload(config.workload).problem)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    space = generate_design_space(spec, host_target(config.threads), seed=config.seed + 1)
    report(
        f"[{config.method}] {config.workload}: {len(space.sketches)} sketches, "
        f"{space.size:.3g} design points, {spec.flops / 1e9:.3f} GFLOP"
    )
    with (
        RecordsDB.open(config.run_dir) as records,
        Measurer(
            host_target_config(config.threads), config.settings, workers=config.workers
        ) as measurer,
    ):
        records.add_workload(config.workload, workload_description(config.workload, spec))
        METHODS[config.method](config, space, measurer, records, report)
        ranked_method = (
            config.method
            if config.method != CpuMethod.METASCHEDULE
            else f"{config.method}{VERIFY_SUFFIX}"
        )
        best = records.best(
            config.workload, 1, method=ranked_method, target=TargetKind.CPU, verified_only=True
        )
        evaluations = records.count(config.workload, config.method)
        failed = records.failed_count(config.workload, config.method)
        extra: dict[str, Any] = {"threads": config.threads, "seed": config.seed}
        if config.method == CpuMethod.METASCHEDULE:
            own = records.best(config.workload, 1, method=config.method, target=TargetKind.CPU)
            extra["best_latency_s_own_runner"] = own[0].latency_s if own else None
    best_latency = best[0].latency_s if best else None
    return CpuSearchResult(
        workload=config.workload,
        method=str(config.method),
        best_latency_s=best_latency,
        best_gflops=gflops(spec, best_latency),
        evaluations=evaluations,
        failed=failed,
        run_dir=str(config.run_dir),
        wall_s=time.perf_counter() - start,
        best_record_id=best[0].id if best else None,
        extra=extra,
    )
