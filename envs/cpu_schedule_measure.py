"""Measuring CPU-schedule candidates for the envs and for batch callers, and recording them.

:class:`ScheduleEvaluator` owns one workload's MetaSchedule design space, its action encoding
(:class:`~dcoc.envs.cpu_schedule_space.CpuScheduleSpace`), a pool of measurement worker
processes (:class:`dcoc.tvm.measure.Measurer`, started on first use) and the records database.
:meth:`ScheduleEvaluator.measure_candidates` applies the decisions of several candidates in
this process (TVM scheduling only), then builds, runs and verifies them against numpy in the
worker processes, all workers busy at once, and writes one record per candidate, failed ones
included. Nothing here raises for a bad candidate: a masked index, a decision a postprocessor
rejects, a build or run error, a timeout, a crashed worker or a wrong result all come back as
a :class:`CandidateResult` with ``error_kind`` set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from dcoc.envs.cpu_schedule_config import CpuScheduleEnvConfig
from dcoc.envs.cpu_schedule_space import CpuScheduleSpace

from dcoc.records import CandidateRecord, RecordsDB, TargetKind
from dcoc.tvm.compute import einsum_spec
from dcoc.tvm.design_space import (
    DesignPoint,
    IllegalDecisionError,
    PostprocRejectedError,
    generate_design_space,
)
from dcoc.tvm.measure import ErrorKind, MeasureInput, Measurer, MeasureResult
from dcoc.tvm.target import host_target, host_target_config
from dcoc.tvm.traces import trace_to_json
from dcoc.workloads.catalog import resolve_workload

if TYPE_CHECKING:
    from dcoc.tvm.design_space import Schedule

logger = logging.getLogger(__name__)

Candidate = DesignPoint | tuple[np.ndarray, np.ndarray]
"""A design point, or a ``(sw_tile action, sw_order action)`` pair of index arrays."""


@dataclass(frozen=True)
class CandidateResult:
    """The outcome of one candidate. ``latency_s`` is ``None`` unless it is valid."""

    point: DesignPoint | None
    """``None`` when the actions did not decode (a masked index)."""
    latency_s: float | None
    gflops: float
    """``2 * MACs / latency / 1e9``; 0 for a failed candidate."""
    error_kind: ErrorKind | None = None
    error: str | None = None
    build_s: float | None = None
    run_s: float | None = None
    record_id: int | None = None

    @property
    def valid(self) -> bool:
        return self.error_kind is None and self.latency_s is not None


class ScheduleEvaluator:
    """Design space, measurement pool and records of one workload (see the module doc).

    Use as a context manager or call :meth:`close` (stops the worker processes)."""

    def __init__(
        self,
        config: CpuScheduleEnvConfig | Mapping[str, Any] | None = None,
    ) -> None:
        cfg = CpuScheduleEnvConfig.coerce(config)
        self.config = cfg
        self.layer = resolve_workload(cfg.workload)
        self.spec = einsum_spec(self.layer.problem)
        self.target_config = host_target_config(cfg.num_cores)
        self.design_space = generate_design_space(
            self.spec, host_target(cfg.num_cores), seed=cfg.design_space_seed
        )
        self.space = CpuScheduleSpace(self.design_space)
        self.settings = cfg.measure_settings()
        self.records: RecordsDB | None = None
        if cfg.records_path is not None:
            self.records = RecordsDB.open(cfg.records_path)
            self.records.add_workload(
                cfg.workload,
                {
                    "layer": self.layer.name,
                    "op": self.layer.spec.to_dict(),
                    "dimensions": list(self.spec.dimensions),
                    "bounds": list(self.spec.bounds),
                },
            )
        self._measurer: Measurer | None = None
        self.trials = 0
        """Candidates measured so far (the next record's ``trial``)."""
        self._reference: CandidateResult | None = None
        self._adopted: float | None = None

    # -- measuring --------------------------------------------------------------------------
    @property
    def measurer(self) -> Measurer:
        """The worker pool, started on first use."""
        if self._measurer is None:
            self._measurer = Measurer(
                self.target_config, self.settings, workers=self.config.workers
            )
        return self._measurer

    def decode(self, candidate: Candidate) -> DesignPoint:
        """The design point of ``candidate``; :class:`IllegalDecisionError` if it has none."""
        if isinstance(candidate, DesignPoint):
            return candidate
        tile, order = candidate
        return self.space.decode(np.asarray(tile), np.asarray(order))

    def measure_candidates(
        self, candidates: Sequence[Candidate], metrics: Sequence[Mapping[str, Any]] | None = None
    ) -> list[CandidateResult]:
        """Measure ``candidates`` (all workers at once) and record each; results in order.

        ``metrics``: extra JSON-able values stored with each candidate's record. The first
        batch that measures anything also measures the reference point (see
        :attr:`reference_latency_s`)."""
        if metrics is not None and len(metrics) != len(candidates):
            raise ValueError(f"{len(metrics)} metrics for {len(candidates)} candidates")
        batch: list[Candidate] = list(candidates)
        extras = [dict(m) for m in metrics] if metrics is not None else [{} for _ in batch]
        n = len(batch)
        points: list[DesignPoint | None] = [None] * n
        schedules: list[Schedule | None] = [None] * n
        results: list[CandidateResult | None] = [None] * n
        for i, candidate in enumerate(batch):
            try:
                points[i] = self.decode(candidate)
                schedules[i] = self.design_space.apply(points[i])  # type: ignore[arg-type]
            except (IllegalDecisionError, PostprocRejectedError) as error:
                results[i] = CandidateResult(
                    points[i],
                    None,
                    0.0,
                    ErrorKind.SCHEDULE_ERROR,
                    f"{type(error).__name__}: {error}",
                )
        measuring = [i for i in range(n) if schedules[i] is not None]
        with_reference = bool(measuring) and self._needs_reference()
        if with_reference:
            point = self.reference_point()
            batch.insert(0, point)
            extras.insert(0, {"role": "reference"})
            points.insert(0, point)
            results.insert(0, None)
            schedules.insert(0, self.design_space.apply(point))
            measuring = [0, *(i + 1 for i in measuring)]
        if measuring:
            inputs = [
                MeasureInput.from_schedule(schedules[i], self.spec)  # type: ignore[arg-type]
                for i in measuring
            ]
            for i, measured in zip(measuring, self.measurer.measure(inputs), strict=True):
                results[i] = self._result(points[i], measured)
        out = []
        for i, result in enumerate(results):
            assert result is not None
            sch = schedules[i]
            trace = trace_to_json(sch.trace) if sch is not None else None
            out.append(self._record(batch[i], result, trace, extras[i]))
        if with_reference:
            self._reference = out.pop(0)
            if not self._reference.valid:
                logger.warning(
                    "%s: the reference schedule failed (%s: %s)",
                    self.config.workload,
                    self._reference.error_kind,
                    self._reference.error,
                )
        return out

    def _result(self, point: DesignPoint | None, measured: MeasureResult) -> CandidateResult:
        if measured.valid:
            assert measured.latency_s is not None
            gflops = self.spec.flops / measured.latency_s / 1e9
            return CandidateResult(
                point, measured.latency_s, gflops, build_s=measured.build_s, run_s=measured.run_s
            )
        return CandidateResult(
            point, None, 0.0, measured.error_kind, measured.error, measured.build_s, measured.run_s
        )

    def _record(
        self, candidate: Candidate, result: CandidateResult, trace: Any, extra: dict[str, Any]
    ) -> CandidateResult:
        trial = self.trials
        self.trials += 1
        if self.records is None:
            return result
        if result.point is not None:
            design: dict[str, Any] = result.point.to_json()
        else:
            tile, order = candidate  # type: ignore[misc]
            design = {
                "tile_action": np.asarray(tile).tolist(),
                "order_action": np.asarray(order).tolist(),
            }
        error = None if result.error_kind is None else f"{result.error_kind}: {result.error}"
        metrics = {
            "gflops": result.gflops,
            "error_kind": None if result.error_kind is None else str(result.error_kind),
            **extra,
        }
        record_id = self.records.add(
            CandidateRecord(
                target=TargetKind.CPU,
                workload=self.config.workload,
                method=self.config.method,
                trial=trial,
                design=design,
                valid=result.valid,
                verified=result.valid,
                error=error,
                trace=trace,
                latency_s=result.latency_s,
                build_s=result.build_s,
                run_s=result.run_s,
                metrics=metrics,
            )
        )
        return CandidateResult(
            result.point,
            result.latency_s,
            result.gflops,
            result.error_kind,
            result.error,
            result.build_s,
            result.run_s,
            record_id,
        )

    # -- the reference ------------------------------------------------------------------------
    def reference_point(self) -> DesignPoint:
        """The first sketch with its own (MetaSchedule-sampled) decisions."""
        return self.space.reference_point()

    def _needs_reference(self) -> bool:
        return self.config.reference_latency_s is None and self._reference is None

    @property
    def reference_latency_s(self) -> float | None:
        """What rewards compare against: the configured ``reference_latency_s``, else the
        measured latency of :meth:`reference_point` (measured with the first batch, recorded
        with ``metrics["role"] = "reference"``), else (the reference failed) the latency of
        the first valid candidate rewarded. ``None`` until one of them is known."""
        if self.config.reference_latency_s is not None:
            return self.config.reference_latency_s
        if self._adopted is not None:
            return self._adopted
        return self._reference.latency_s if self._reference is not None else None

    def reward(self, result: CandidateResult) -> float:
        """``log(reference_latency_s / latency_s)``; ``invalid_reward`` for a failed
        candidate."""
        if not result.valid:
            return float(self.config.invalid_reward)
        assert result.latency_s is not None
        reference = self.reference_latency_s
        if reference is None:
            self._adopted = reference = result.latency_s
        return math.log(reference / result.latency_s)

    def close(self) -> None:
        if self._measurer is not None:
            self._measurer.close()
            self._measurer = None
        if self.records is not None:
            self.records.close()
            self.records = None

    def __enter__(self) -> ScheduleEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
