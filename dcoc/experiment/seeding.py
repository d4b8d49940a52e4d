"""Seeding the co-design agents with the tree search (``seeding.method: mcts``).

Before training, :func:`seed_design` runs the tree search (:class:`~dcoc.search.methods.
mcts_search.MctsSearch`, proposer ``seeding.proposer``) on the run's layer set, design space
and objective for ``seeding.evaluations`` model evaluations. Its evaluations go to the run's
records as method :data:`SEED_METHOD`, which counts against ``train.max_evaluations`` like the
agents' own (:data:`~dcoc.search.network_best.COUNTED_METHODS`), and its best path is stored
there (:meth:`~dcoc.records.RecordsDB.add_search_path`, which ``python -m dcoc.search explain
RUN_DIR`` reads). Under ``codesign.formulation: refine`` the env's first episode then starts
from the tree's best design (``env_config["start_design"]``) instead of a random one, so the
agents refine what the search found; under ``turns`` the design's hardware joins the kept
candidates of every confidence-gated proposal round (:func:`~dcoc.experiment.proposals.
confidence_round`), mapped by the software policies.

A resumed run reads the stored path back instead of searching again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dcoc.envs.codesign_config import CoDesignEnvConfig, build_space
from dcoc.experiment.config import ExperimentConfig, SeedMethod
from dcoc.experiment.recorded_env import RECORDS_METHOD_KEY, RECORDS_PATH_KEY, workload_keys
from dcoc.records import RecordsDB
from dcoc.search.methods.mcts_search import MctsSearch
from dcoc.search.network_best import SEED_METHOD
from dcoc.search.task import Progress, SearchTask

__all__ = ["SEED_METHOD", "SeedDesign", "seed_design"]


@dataclass(frozen=True)
class SeedDesign:
    """The tree search's best design, as the refine env takes it."""

    state: Mapping[str, Any]
    """``hw_action``, ``tiles``, ``orders`` (and ``hw``, the knob values), as stored."""
    objective: float | None
    """Its network objective (``None``: the tree scored no complete design)."""
    evaluations: int
    """Model evaluations the seeding search spent."""
    proposer: str
    resumed: bool
    """Read back from the records of a resumed run."""

    @property
    def env_value(self) -> dict[str, list[Any]]:
        """The design as ``env_config["start_design"]`` of the refine env."""
        return {k: list(self.state[k]) for k in ("hw_action", "tiles", "orders")}

    def summary(self) -> dict[str, Any]:
        return {
            "method": "mcts",
            "proposer": self.proposer,
            "evaluations": self.evaluations,
            "objective": self.objective,
            "hw": dict(self.state.get("hw", {})),
        }


def seed_design(
    config: ExperimentConfig, env_config: Mapping[str, Any], progress: Progress | None = None
) -> SeedDesign | None:
    """The seed of a run (``None`` for ``seeding.method: none``): searched now, or read back
    from the records at ``env_config["records_path"]`` if a seeding search finished there;
    ``progress`` gets the search's progress lines."""
    if config.seeding.method == SeedMethod.NONE:
        return None
    values = {
        k: v for k, v in env_config.items() if k not in (RECORDS_PATH_KEY, RECORDS_METHOD_KEY)
    }
    path = env_config[RECORDS_PATH_KEY]
    proposer = config.seeding.proposer
    with RecordsDB.open(path) as records:
        stored = records.search_paths(SEED_METHOD)
        if stored:
            return _from_path(stored[-1].design, records.count(method=SEED_METHOD), proposer, True)
        env = CoDesignEnvConfig.from_mapping(values)
        space = build_space(env)
        task = SearchTask(
            space,
            [layer.count for layer in space.layers],
            workload_keys(env.workload, space.layers),
            budget=config.seeding.evaluations,
            method=SEED_METHOD,
            workload=config.env.workload,
            seed=config.experiment.seed,
            objective=config.env.objective,
            energy_budget_pj=config.codesign.energy_budget_pj,
            records=records,
            progress=progress,
        )
        MctsSearch(proposer=proposer).search(task)
        records.commit()
        path_record = records.search_paths(SEED_METHOD)[-1]
        return _from_path(path_record.design, task.evaluations, proposer, False)


def _from_path(
    design: Mapping[str, Any], evaluations: int, proposer: str, resumed: bool
) -> SeedDesign:
    objective = design.get("best_objective")
    return SeedDesign(
        state=dict(design["best"]),
        objective=float(objective) if objective is not None and math.isfinite(objective) else None,
        evaluations=int(evaluations),
        proposer=proposer,
        resumed=resumed,
    )
