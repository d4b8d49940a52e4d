"""One CPU schedule search's settings, result and records: what every CPU method shares.

The methods themselves are in :mod:`dcoc.search.cpu_search` (random, MetaSchedule) and
:mod:`dcoc.search.cpu_mcts` (the tree search).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from dcoc.file_names import file_name_component
from dcoc.records import CandidateRecord, RecordsDB, TargetKind
from dcoc.search.llm_proposer import LlmProposerSettings
from dcoc.tvm.compute import EinsumSpec
from dcoc.tvm.design_space import DesignPoint, DesignSpace
from dcoc.tvm.measure import MeasureResult, MeasureSettings

Progress = Callable[[str], None]


class CpuMethod(StrEnum):
    RANDOM = "random"
    METASCHEDULE = "metaschedule"
    MCTS = "mcts"
    """The tree search with the heuristic proposer (:mod:`dcoc.search.cpu_mcts`)."""
    MCTS_RANDOM = "mcts-random"
    """The same tree search with the random proposer."""
    MCTS_LLM = "mcts-llm"
    """The same tree search, a language model picking the incumbent's transformations."""


MCTS_PROPOSERS = {
    CpuMethod.MCTS: "heuristic",
    CpuMethod.MCTS_RANDOM: "random",
    CpuMethod.MCTS_LLM: "llm",
}
"""The tree-search methods and their proposers (:mod:`dcoc.search.schedule_moves`)."""


@dataclass(frozen=True)
class CpuMctsSettings:
    """The tree search's rounds (:mod:`dcoc.search.cpu_mcts`)."""

    simulations: int = 64
    """Simulations of one round's tree (each scores a schedule without measuring it)."""
    measure_per_round: int = 2
    """Schedules of highest predicted score measured after each round."""
    min_model_samples: int = 4
    """Measurements the cost model needs before it ranks instead of the prior."""
    root_draws: int = 256
    """Random points the first root is the prior's best of."""
    branching: int = 8
    exploration: float = 1.0
    rollout_depth: int = 1
    reroot_every: int | None = 16

    def __post_init__(self) -> None:
        if min(self.simulations, self.measure_per_round, self.root_draws) < 1:
            raise ValueError("simulations, measure_per_round and root_draws must be >= 1")
        if self.min_model_samples < 1:
            raise ValueError("min_model_samples must be >= 1")


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
    mcts: CpuMctsSettings = field(default_factory=CpuMctsSettings)
    llm: LlmProposerSettings | None = None
    """``mcts-llm``'s proposer settings; ``None``: the CPU defaults
    (:data:`~dcoc.search.schedule_llm_proposer.CPU_LLM_CALLS`, ``CPU_LLM_EVERY``) and the
    ``DCOC_LLM_*`` environment."""
    resume: bool = False
    """Continue the interrupted run in ``run_dir`` (``random`` only): the trials its records
    hold are not measured again."""

    def __post_init__(self) -> None:
        if self.resume and self.method != CpuMethod.RANDOM:
            raise ValueError(f"only the random cpu search resumes, not {self.method}")

    @property
    def proposer(self) -> str:
        """The tree search's proposer (``mcts`` methods only)."""
        return MCTS_PROPOSERS.get(self.method, "")


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
    return Path("runs") / f"search__{file_name_component(workload)}__{method}__{stamp}"


def workload_description(name: str, spec: EinsumSpec) -> dict[str, Any]:
    return {
        "name": name,
        "dimensions": dict(zip(spec.dimensions, spec.bounds, strict=True)),
        "macs": spec.macs,
        "tensors": {t.name: list(t.shape) for t in (*spec.inputs, spec.output)},
    }


def gflops(spec: EinsumSpec, latency_s: float | None) -> float | None:
    return None if latency_s is None else spec.flops / latency_s / 1e9


def candidate_record(
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


def design_of(space: DesignSpace, point: DesignPoint) -> dict[str, Any]:
    sketch = space.sketches[point.sketch]
    return {**point.to_json(), "slots": [s.name for s in sketch.slots]}


def progress_line(
    config: CpuSearchConfig, records: RecordsDB, method: str, done: int, total: int | None = None
) -> str:
    best = records.best(config.workload, 1, method=method, target=TargetKind.CPU)
    best_s = f"{best[0].latency_s * 1e3:.4f} ms" if best and best[0].latency_s else "none"
    return (
        f"[{method}] {done}/{total or config.trials} trials, best {best_s}, "
        f"{records.failed_count(config.workload, method)} failed"
    )
