"""One co-design search of a whole layer set: build the task, run a searcher, read the result.

The result is read from the run's records database the same way for every method
(:class:`~dcoc.search.network_best.CoDesignBestTracker`, at most ``budget`` of the method's
evaluations, in the order they happened), so a searcher that evaluates in other processes (the
RL agents' EnvRunners) is measured exactly as the in-process baselines are. The best design is
written as Timeloop v0.4 files to ``RUN_DIR/best/`` (``python -m dcoc.accel evaluate`` takes
them as they are), from the mappings stored in its records.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dcoc.accel.spec.design_space import dump_architecture_yaml, load_design_space
from dcoc.objective import DESIGN_OBJECTIVES
from dcoc.records import RECORDS_FILE, RecordsDB, ReplayMismatchError, TargetKind
from dcoc.search.codesign_space import CoDesignSpace
from dcoc.search.network_best import BestCoDesign, CoDesignBestTracker, connect_read_only
from dcoc.search.task import Progress, Searcher, SearchTask
from dcoc.workloads.catalog import LayerSet, resolve_layers
from dcoc.workloads.problem_yaml import problem_to_yaml

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DESIGN_SPACE = "accel_specs/eyeriss_like.space.yaml"
OBJECTIVES = tuple(o.value for o in DESIGN_OBJECTIVES)
"""The objectives a co-design search takes on the command line."""


def resolve_design_space(path: str | Path) -> Path:
    """``path`` as given if it exists, else relative to the repository (shipped specs)."""
    p = Path(path)
    return p if p.is_absolute() or p.exists() else REPO_ROOT / p


@dataclass(frozen=True)
class NetworkSearchConfig:
    workload: str
    """A layer set (``resnet18.vta``, a layer-set YAML file) or one layer (``resnet18/C5``)."""
    method: str
    budget: int
    """Layer-mapping evaluations."""
    run_dir: Path
    design_space: Path = Path(DEFAULT_DESIGN_SPACE)
    seed: int = 0
    objective: str = "edp"
    area_budget_um2: float | None = None
    """``None``: the design space's own budget."""
    energy_budget_pj: float | None = None
    resume: bool = False
    """Continue the interrupted run in ``run_dir``: its records are replayed
    (:class:`~dcoc.search.task.SearchTask`), then the search goes on."""


@dataclass(frozen=True)
class NetworkSearchResult:
    workload: str
    method: str
    seed: int
    objective: str
    best_objective: float | None
    best_edp: float | None
    best_cycles: float | None
    best_energy_pj: float | None
    best_area_um2: float | None
    best_hw: dict[str, Any] | None
    evaluations: int
    failed: int
    wall_s: float
    run_dir: str
    design_space: str
    curve: tuple[float, ...] = field(repr=False, default=())
    """Best network objective after each evaluation (``inf`` before a complete design)."""

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "curve"}
        return out


@dataclass(frozen=True)
class CoDesignProblem:
    """The layer set on the design space, as every method of one comparison sees it."""

    layer_set: LayerSet
    space: CoDesignSpace
    design_space_path: Path


def build_problem(
    workload: str, design_space: str | Path, area_budget_um2: float | None = None
) -> CoDesignProblem:
    """The co-design space of ``workload`` on ``design_space``; :class:`SpecError` for an
    unknown workload, a bad design-space file, or a layer no configuration can map (the space
    checks that itself)."""
    layer_set = resolve_layers(workload)
    path = resolve_design_space(design_space)
    space = CoDesignSpace(
        load_design_space(path), list(layer_set.layers), area_budget_um2=area_budget_um2
    )
    return CoDesignProblem(layer_set, space, path)


def run_network_search(
    config: NetworkSearchConfig,
    searcher: Searcher,
    *,
    problem: CoDesignProblem | None = None,
    progress: Progress | None = None,
    counted_methods: tuple[str, ...] | None = None,
) -> NetworkSearchResult:
    """Run ``searcher`` on the task of ``config``; every evaluation goes to
    ``run_dir/records.sqlite``. ``counted_methods``: the records' method names that are the
    searcher's evaluations (default: ``config.method``)."""
    start = time.perf_counter()
    problem = problem or build_problem(config.workload, config.design_space, config.area_budget_um2)
    space, layer_set = problem.space, problem.layer_set
    config.run_dir.mkdir(parents=True, exist_ok=True)
    with RecordsDB.open(config.run_dir) as records:
        replay = (
            list(records.iterate(method=config.method, target=TargetKind.ACCEL))
            if config.resume
            else []
        )
        task = SearchTask(
            space,
            layer_set.counts,
            layer_set.keys,
            budget=config.budget,
            method=config.method,
            workload=config.workload,
            seed=config.seed,
            objective=config.objective,
            energy_budget_pj=config.energy_budget_pj,
            records=records,
            progress=progress,
            replay=replay,
        )
        if replay and progress is not None:
            progress(
                f"[{config.method} seed {config.seed}] resuming: replaying {len(replay)} "
                "recorded evaluations"
            )
        searcher.search(task)
        if task.replayed < len(replay):
            raise ReplayMismatchError(
                f"cannot resume: the search ended after {task.evaluations} evaluations and "
                f"the records hold {len(replay)}; start a new run directory"
            )
    tracker = CoDesignBestTracker(
        config.run_dir / RECORDS_FILE,
        layer_set.keys,
        layer_set.counts,
        objective=config.objective,
        energy_budget_pj=config.energy_budget_pj,
        counted_methods=counted_methods or (config.method,),
        max_evaluations=config.budget,
    )
    best = tracker.update()
    if best is not None:
        write_best_design(config.run_dir, problem, best)
    result = NetworkSearchResult(
        workload=config.workload,
        method=config.method,
        seed=config.seed,
        objective=config.objective,
        best_objective=None if best is None else best.objective,
        best_edp=None if best is None else best.edp,
        best_cycles=None if best is None else best.cycles,
        best_energy_pj=None if best is None else best.energy_pj,
        best_area_um2=None if best is None else best.area_um2,
        best_hw=None if best is None else best.hw,
        evaluations=tracker.evaluations,
        failed=tracker.failed,
        wall_s=time.perf_counter() - start,
        run_dir=str(config.run_dir),
        design_space=str(problem.design_space_path),
        curve=tuple(tracker.curve),
    )
    (config.run_dir / "summary.json").write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def write_best_design(run_dir: Path, problem: CoDesignProblem, best: BestCoDesign) -> Path:
    """``RUN_DIR/best/``: ``architecture.yaml`` (the template with the knobs applied) and per
    layer ``<i>.problem.yaml`` and ``<i>.mapping.yaml`` (files named by layer index, never by
    a name from an input), plus ``design.json`` naming the layers."""
    out = run_dir / "best"
    out.mkdir(parents=True, exist_ok=True)
    space = problem.space
    config = space.hardware_context(best.hw_action).config
    (out / "architecture.yaml").write_text(dump_architecture_yaml(space.design_space.apply(config)))
    ids = [choice.record_id for choice in best.layers]
    db = connect_read_only(run_dir / RECORDS_FILE)
    try:
        rows = {
            int(r["id"]): json.loads(r["design"])
            for r in db.execute(
                f"SELECT id, design FROM candidates WHERE id IN ({', '.join('?' for _ in ids)})",
                ids,
            )
        }
    finally:
        db.close()
    layers = []
    for li, (layer, record_id) in enumerate(zip(space.layers, ids, strict=True)):
        mapping = rows.get(record_id, {}).get("mapping")
        (out / f"{li}.problem.yaml").write_text(
            yaml.safe_dump({"problem": problem_to_yaml(space.problems[li])}, sort_keys=False)
        )
        if mapping is not None:
            (out / f"{li}.mapping.yaml").write_text(
                yaml.safe_dump({"mapping": mapping}, sort_keys=False)
            )
        layers.append({"index": li, "name": layer.name, "count": layer.count, "record": record_id})
    summary = {
        "hw": best.hw,
        "area_um2": best.area_um2,
        "cycles": best.cycles,
        "energy_pj": best.energy_pj,
        "edp": best.edp,
        "objective": best.objective,
        "layers": layers,
        "evaluate": "python -m dcoc.accel evaluate architecture.yaml I.problem.yaml I.mapping.yaml",
    }
    (out / "design.json").write_text(json.dumps(summary, indent=2, default=_finite) + "\n")
    return out


def _finite(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)
