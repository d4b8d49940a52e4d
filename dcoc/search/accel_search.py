"""One search for an accelerator design (hardware configuration + mapping) of one layer.

Method ``random``: per trial, a hardware configuration drawn uniformly from the knob values
that can still fit the area budget (the co-design vocabulary's hardware mask), then a
uniformly random masked tiling and loop order for the layer on it
(:class:`~dcoc.search.codesign_space.CoDesignSpace`), evaluated by the accelerator model.
A design is valid if the model accepts the mapping and the hardware fits the area budget.
Every evaluation lands in the records database; the best is the lowest energy-delay product.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from dcoc.accel.design_space import load_design_space
from dcoc.records import CandidateRecord, Metric, RecordsDB, TargetKind
from dcoc.search.action_masks import sample_masked
from dcoc.search.codesign_space import CoDesignSpace
from dcoc.workloads.catalog import resolve_workload

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DESIGN_SPACE = "accel_specs/eyeriss_like.space.yaml"


class AccelMethod(StrEnum):
    RANDOM = "random"


def resolve_design_space(path: str | Path) -> Path:
    """``path`` as given if it exists, else relative to the repository (shipped specs)."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p


@dataclass(frozen=True)
class AccelSearchConfig:
    workload: str
    method: AccelMethod
    trials: int
    run_dir: Path
    design_space: Path = Path(DEFAULT_DESIGN_SPACE)
    seed: int = 0
    area_budget_um2: float | None = None  # None: the design space's own budget
    progress_every: int = 16


@dataclass(frozen=True)
class AccelSearchResult:
    workload: str
    method: str
    best_edp: float | None
    best_cycles: int | None
    best_energy_pj: float | None
    best_area_um2: float | None
    evaluations: int
    failed: int
    run_dir: str
    wall_s: float
    best_record_id: int | None
    design_space: str

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_accel_search(
    config: AccelSearchConfig, progress: Progress | None = None
) -> AccelSearchResult:
    """Run one accelerator search; every evaluation goes to ``run_dir/records.sqlite``.

    Raises :class:`~dcoc.errors.SpecError` for an unknown workload or a bad design space."""
    report = progress or (lambda line: logger.info("%s", line))
    start = time.perf_counter()
    layer = resolve_workload(config.workload)
    space_path = resolve_design_space(config.design_space)
    space = CoDesignSpace(
        load_design_space(space_path), [layer], area_budget_um2=config.area_budget_um2
    )
    rng = np.random.default_rng(config.seed)
    method = str(config.method)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    report(
        f"[{method}] {config.workload} on {space_path.name}: {space.design_space.size:.3g} "
        f"hardware configurations, area budget {space.area_budget_um2:.4g} um^2"
    )
    with RecordsDB.open(config.run_dir) as records:
        records.add_workload(
            config.workload,
            {"name": config.workload, "macs": layer.problem.macs, "design_space": str(space_path)},
        )
        for trial in range(config.trials):
            hw = sample_masked(space.hw_mask(), space.hw_nvec, rng)
            ctx = space.hardware_context(hw)
            tile, order = space.sample_layer_actions(ctx, 0, rng)
            design = space.evaluate(ctx, 0, tile, order)
            cost = design.report
            reasons = list(cost.reasons)
            if not ctx.fits_budget:
                reasons.append(
                    f"area {ctx.area_um2:.4g} um^2 exceeds the budget "
                    f"{space.area_budget_um2:.4g} um^2"
                )
            valid = cost.valid and ctx.fits_budget
            records.add(
                CandidateRecord(
                    target=TargetKind.ACCEL,
                    workload=config.workload,
                    method=method,
                    trial=trial,
                    design={
                        "hardware": ctx.config.as_dict(),
                        "hw_action": list(ctx.indices),
                        "tile_action": list(design.tile_action),
                        "order_action": list(design.order_action),
                    },
                    valid=valid,
                    verified=valid,
                    error="; ".join(reasons) or None,
                    cycles=int(cost.cycles) if cost.valid else None,
                    energy_pj=float(cost.energy_pj) if cost.valid else None,
                    area_um2=float(ctx.area_um2),
                    edp=float(cost.edp) if cost.valid else None,
                    metrics={"utilization": float(cost.utilization)},
                )
            )
            if (trial + 1) % config.progress_every == 0 or trial + 1 == config.trials:
                best = records.best(config.workload, 1, Metric.EDP, method, TargetKind.ACCEL)
                best_s = f"{best[0].edp:.4g}" if best and best[0].edp is not None else "none"
                report(
                    f"[{method}] {trial + 1}/{config.trials} trials, best EDP {best_s} "
                    f"pJ*cycles, {records.failed_count(config.workload, method)} failed"
                )
        best = records.best(config.workload, 1, Metric.EDP, method, TargetKind.ACCEL)
        evaluations = records.count(config.workload, method, TargetKind.ACCEL)
        failed = records.failed_count(config.workload, method, TargetKind.ACCEL)
    top = best[0] if best else None
    return AccelSearchResult(
        workload=config.workload,
        method=method,
        best_edp=None if top is None else top.edp,
        best_cycles=None if top is None else top.cycles,
        best_energy_pj=None if top is None else top.energy_pj,
        best_area_um2=None if top is None else top.area_um2,
        evaluations=evaluations,
        failed=failed,
        run_dir=str(config.run_dir),
        wall_s=time.perf_counter() - start,
        best_record_id=None if top is None else top.id,
        design_space=str(space_path),
    )
