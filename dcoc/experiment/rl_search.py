"""The RL agents as co-design searchers (``mappo``, ``ippo``, ``ppo``, and ``mappo-mcts``:
mappo seeded by the tree search, :mod:`dcoc.experiment.seeding`) behind the search interface,
so ``python -m dcoc.search`` and ``python -m dcoc.bench`` treat them as every baseline.

``searcher.search(task)`` trains the agents (:func:`dcoc.experiment.runner.run`) on the task's
layer set, design space, objective, budgets and seed, with the PPO settings of
``experiments/resnet18_eyeriss.yaml`` (or ``base_config``), stopping at the first iteration whose
budgeted evaluations (PPO rollouts and confidence-gated proposals) reach ``task.budget``. The
training run lives in ``RUN_DIR/train/`` (TensorBoard, checkpoints, its records); when it ends,
its records are copied in order into the task's records, where the result is read as for every
method (at most ``task.budget`` of the methods :data:`COUNTED_METHODS`: the reward's reference
search and out-of-budget measurements do not count).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from dcoc.experiment.loader import load_config
from dcoc.records import RecordsDB
from dcoc.search.methods import CARRIED_METHODS, RL_METHODS
from dcoc.search.network_best import COUNTED_METHODS
from dcoc.search.task import Searcher, SearchTask

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RL_CONFIG = REPO_ROOT / "experiments" / "resnet18_eyeriss.yaml"
CRITICS = {
    "mappo": "centralized",
    "ippo": "independent",
    "ppo": "independent",
    "mappo-mcts": "centralized",
    "mappo-frozen": "centralized",
    "mappo-finetune": "centralized",
    "mappo-untrained": "centralized",
}
SEEDED = {"mappo-mcts": "heuristic"}
"""RL methods whose agents start from the tree search's best design, with its proposer."""
SEED_SHARE = 0.25
"""Share of a seeded method's budget the seeding tree search spends."""


@dataclass(frozen=True)
class AgentsSearch:
    """Train the co-design agents for ``task.budget`` evaluations."""

    method: str
    run_dir: Path
    """The training run's directory (must not exist yet, or be empty)."""
    base_config: Path | None = None
    """Experiment config whose agents/confidence/train settings are used (default: the shipped
    ``experiments/resnet18_eyeriss.yaml`` if present, else the built-in defaults)."""
    ray_temp_dir: Path | None = None
    overrides: tuple[str, ...] = ()
    """Further ``--set`` style overrides (``agents.lr=0.001``)."""
    policy: Path | None = None
    """The checkpoint the agents of a carried method (:data:`CARRIED_METHODS`) start from
    (``train.init_checkpoint``): agents trained on another layer set, carried to this one."""

    def overrides_for(self, task: SearchTask) -> list[str]:
        space = task.space
        out = [
            f"experiment.name={self.method}",
            f"experiment.seed={task.seed}",
            "mode=codesign",
            f"env.workload={task.workload}",
            f"env.objective={task.objective}",
            f"codesign.design_space={Path(space.design_space.file).resolve()}",
            f"agents.critic={CRITICS[self.method]}",
            f"train.max_evaluations={task.budget}",
            "train.iterations=1000000",
            "train.checkpoint_every=1000000",
            f"ray.temp_dir={self.ray_temp_dir or f'/tmp/dcoc-ray-search-{os.getpid()}'}",
        ]
        if math.isfinite(space.area_budget_um2):
            out.append(f"codesign.area_budget_um2={space.area_budget_um2!r}")
        if task.energy_budget_pj is not None:
            out.append(f"codesign.energy_budget_pj={task.energy_budget_pj!r}")
        if self.method == "ppo":  # one joint policy: the turns formulation's joint view
            out += ["agents.single_policy=true", "codesign.formulation=turns"]
        if self.method in CARRIED_METHODS:
            if self.policy is None:
                raise ValueError(f"{self.method} starts from loaded agents: give a checkpoint")
            out.append(f"train.init_checkpoint={self.policy.resolve()}")
            out.append(f"train.learn={str(CARRIED_METHODS[self.method]).lower()}")
        if self.method == "mappo-untrained":
            out.append("train.learn=false")
        if self.method in SEEDED:
            out += [
                "seeding.method=mcts",
                f"seeding.proposer={SEEDED[self.method]}",
                f"seeding.evaluations={max(1, int(SEED_SHARE * task.budget))}",
            ]
        return [*out, *self.overrides]

    def search(self, task: SearchTask) -> None:
        from dcoc.experiment.runner import RunRequest, run  # imports ray and torch

        base = self.base_config
        if base is None and DEFAULT_RL_CONFIG.exists():
            base = DEFAULT_RL_CONFIG
        config = load_config(base, self.overrides_for(task))
        run(RunRequest(config=config, config_file=str(base or "<defaults>"), run_dir=self.run_dir))
        copy_records(self.run_dir, task)


def copy_records(train_dir: Path, task: SearchTask) -> int:
    """Append the training run's records, in order, to the task's records; their number."""
    if task.records is None:
        return 0
    copied = 0
    with RecordsDB.open(train_dir) as source:
        for key in source.workloads():
            task.records.add_workload(key, source.workload(key))
        for record in source.iterate():
            task.records.add(record, commit=False)
            copied += 1
    task.records.commit()
    return copied


def build_rl_searcher(
    name: str,
    *,
    run_dir: Path,
    ray_temp_dir: Path | None = None,
    policy: str | Path | None = None,
) -> tuple[Searcher, tuple[str, ...]]:
    """The searcher of RL method ``name`` training in ``run_dir/train`` (a carried method's
    agents loaded from the checkpoint ``policy``) and the records' method names that are its
    budgeted evaluations."""
    if name not in RL_METHODS:
        raise KeyError(f"unknown RL method {name!r}; known: {sorted(RL_METHODS)}")
    searcher = AgentsSearch(
        name,
        run_dir / "train",
        ray_temp_dir=ray_temp_dir,
        policy=None if policy is None else Path(policy),
    )
    return searcher, COUNTED_METHODS
