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
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from dcoc.records import CandidateRecord, RecordsDB, TargetKind
from dcoc.tvm.compute import EinsumSpec, einsum_spec
from dcoc.tvm.design_space import (
    DesignPoint,
    DesignSpace,
    IllegalDecisionError,
    PostprocRejectedError,
    generate_design_space,
)
from dcoc.tvm.measure import ErrorKind, MeasureInput, Measurer, MeasureResult, MeasureSettings
from dcoc.tvm.metaschedule_baseline import schedule_of, tune_metaschedule
from dcoc.tvm.target import host_target, host_target_config
from dcoc.tvm.traces import trace_to_json
from dcoc.workloads.catalog import resolve_workload

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


class CpuMethod(StrEnum):
    RANDOM = "random"
    METASCHEDULE = "metaschedule"


VERIFY_SUFFIX = "-verify"  # method name of dcoc's re-measurements of a baseline's best


@dataclass(frozen=True)
class CpuSearchConfig:
    """One CPU search. ``threads`` is both the target's ``num-cores`` and ``TVM_NUM_THREADS``."""

    workload: str
    method: CpuMethod
    trials: int
    run_dir: Path
    seed: int = 0
    threads: int = 1
    workers: int = 1  # measurement worker processes
    batch_size: int = 8  # candidates proposed (and measured) per step
    verify_top_k: int = 3  # baseline schedules re-measured by dcoc's measurer
    settings: MeasureSettings = field(default_factory=MeasureSettings)


@dataclass(frozen=True)
class CpuSearchResult:
    workload: str
    method: str
    best_latency_s: float | None
    best_gflops: float | None
    evaluations: int
    failed: int
    run_dir: str
    wall_s: float
    best_record_id: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


def default_run_dir(workload: str, method: str, now: datetime | None = None) -> Path:
    """``runs/search__{workload}__{method}__{time}`` with the workload made path-safe."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", workload)
    return Path("runs") / f"search__{safe}__{method}__{stamp}"


def workload_description(name: str, spec: EinsumSpec) -> dict[str, Any]:
    return {
        "name": name,
        "dimensions": dict(zip(spec.dimensions, spec.bounds, strict=True)),
        "macs": spec.macs,
        "tensors": {t.name: list(t.shape) for t in (*spec.inputs, spec.output)},
    }


def gflops(spec: EinsumSpec, latency_s: float | None) -> float | None:
    return None if latency_s is None else spec.flops / latency_s / 1e9


def _record(
    config: CpuSearchConfig,
    method: str,
    trial: int,
    design: dict[str, Any],
    result: MeasureResult,
    trace: Any,
) -> CandidateRecord:
    return CandidateRecord(
        target=TargetKind.CPU,
        workload=config.workload,
        method=method,
        trial=trial,
        design=design,
        trace=trace,
        valid=result.valid,
        verified=result.valid,
        error=None if result.error is None else f"{result.error_kind}: {result.error}",
        latency_s=result.latency_s,
        build_s=result.build_s,
        run_s=result.run_s,
        metrics={
            "costs_s": list(result.costs_s),
            "max_abs_error": result.max_abs_error,
            "error_kind": None if result.error_kind is None else str(result.error_kind),
            "threads": config.threads,
        },
    )


def _design(space: DesignSpace, point: DesignPoint) -> dict[str, Any]:
    sketch = space.sketches[point.sketch]
    return {**point.to_json(), "slots": [s.name for s in sketch.slots]}


def random_search(
    config: CpuSearchConfig,
    space: DesignSpace,
    measurer: Measurer,
    records: RecordsDB,
    progress: Progress,
) -> None:
    """Measure up to ``config.trials`` distinct random design points."""
    rng = np.random.default_rng(config.seed)
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
            try:
                sch = space.apply(point)
            except (IllegalDecisionError, PostprocRejectedError) as error:
                records.add(
                    _record(
                        config,
                        config.method,
                        index,
                        _design(space, point),
                        MeasureResult(error_kind=ErrorKind.SCHEDULE_ERROR, error=str(error)),
                        None,
                    )
                )
                continue
            inputs.append(MeasureInput.from_schedule(sch, space.spec))
            pending.append((index, point, trace_to_json(sch.trace)))
        for i, result in measurer.measure_iter(inputs):
            index, point, trace = pending[i]
            records.add(_record(config, config.method, index, _design(space, point), result, trace))
        progress(_progress_line(config, records, config.method, trial))


def _progress_line(
    config: CpuSearchConfig, records: RecordsDB, method: str, done: int, total: int | None = None
) -> str:
    best = records.best(config.workload, 1, method=method, target=TargetKind.CPU)
    best_s = f"{best[0].latency_s * 1e3:.4f} ms" if best and best[0].latency_s else "none"
    return (
        f"[{method}] {done}/{total or config.trials} trials, best {best_s}, "
        f"{records.failed_count(config.workload, method)} failed"
    )


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
    progress(_progress_line(config, records, config.method, len(measurements)))
    ranked = sorted((m.latency_s, i) for i, m in enumerate(measurements) if m.latency_s)
    top = [i for _, i in ranked[: config.verify_top_k]]
    inputs = [
        MeasureInput.from_schedule(schedule_of(space.spec, measurements[i]), space.spec)
        for i in top
    ]
    verify = f"{config.method}{VERIFY_SUFFIX}"
    for j, result in measurer.measure_iter(inputs):
        i = top[j]
        rec = _record(
            config,
            verify,
            i,
            {"source": "metaschedule", "record": ids[i]},
            result,
            measurements[i].trace_json,
        )
        records.add(rec)
    progress(_progress_line(config, records, verify, len(top), len(top)))


METHODS: dict[
    str, Callable[[CpuSearchConfig, DesignSpace, Measurer, RecordsDB, Progress], None]
] = {
    CpuMethod.RANDOM: random_search,
    CpuMethod.METASCHEDULE: metaschedule_search,
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
            if config.method == CpuMethod.RANDOM
            else f"{config.method}{VERIFY_SUFFIX}"
        )
        best = records.best(
            config.workload, 1, method=ranked_method, target=TargetKind.CPU, verified_only=True
        )
        evaluations = records.count(config.workload, config.method)
        failed = records.failed_count(config.workload, config.method)
        extra: dict[str, Any] = {"threads": config.threads, "seed": config.seed}
        if config.method != CpuMethod.RANDOM:
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
