"""The run directory of ``python -m dcoc.train`` and the progress state ``--resume`` reads.

Layout (:class:`RunDirectory`)::

    RUN/config.yaml            the resolved experiment config
    RUN/progress.json          iteration, env steps, wall time, confidence totals, checkpoint
    RUN/tensorboard/           TensorBoard event files
    RUN/checkpoints/iter_NNNN/ RLlib checkpoints
    RUN/records.sqlite         every evaluation (dcoc.records)
    RUN/best/                  the best design's files (written at the end)
    RUN/summary.json           the result (written at the end)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dcoc.errors import ConfigError
from dcoc.file_names import file_name_component
from dcoc.records import RECORDS_FILE

PROGRESS_FILE = "progress.json"
CONFIG_FILE = "config.yaml"
POLICY_COMPONENT = "learner_group/learner/rl_module"
"""Where an RLlib Algorithm checkpoint keeps the agents' modules (policies and critic):
``train.init_checkpoint`` loads only this part."""


def policy_problem(policy: str | Path | None, *, required: bool) -> str | None:
    """What is wrong with ``policy`` (a checkpoint the agents start from, or ``None``), in
    words; ``None`` if nothing. ``required``: the method acts with loaded agents only."""
    if policy is None:
        return "the method acts with loaded agents: name a checkpoint" if required else None
    if not is_policy_checkpoint(policy):
        return (
            f"{policy} is not a checkpoint of dcoc.train (RUN/checkpoints/iter_NNNN holding "
            f"{POLICY_COMPONENT}/)"
        )
    return None


def is_policy_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is a checkpoint of ``dcoc.train`` (``RUN/checkpoints/iter_NNNN``) whose
    agents can be loaded."""
    return (Path(path) / POLICY_COMPONENT).is_dir()


def default_run_dir(name: str, seed: int, root: Path = Path("runs")) -> Path:
    """``runs/{name}__{seed}__{YYYYmmdd-HHMMSS}`` (CleanRL's run naming), the name made one
    path-safe component (:func:`~dcoc.file_names.file_name_component`)."""
    return root / f"{file_name_component(name)}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"


@dataclass(frozen=True)
class RunDirectory:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def progress(self) -> Path:
        return self.root / PROGRESS_FILE

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def records(self) -> Path:
        return self.root / RECORDS_FILE

    @property
    def best(self) -> Path:
        return self.root / "best"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    def checkpoint(self, iteration: int) -> Path:
        return self.checkpoints / f"iter_{iteration:04d}"

    def create(self) -> None:
        """Make a fresh run directory; an existing non-empty one is an error (use --resume)."""
        if self.root.exists() and any(self.root.iterdir()):
            raise ConfigError(
                str(self.root),
                (),
                "the run directory exists and is not empty: pass --resume to continue it "
                "or choose another --run-dir",
            )
        for path in (self.root, self.tensorboard, self.checkpoints):
            path.mkdir(parents=True, exist_ok=True)


@dataclass
class Progress:
    """What ``--resume`` continues from (written after every iteration)."""

    iteration: int = 0
    env_steps: int = 0
    wall_time_s: float = 0.0
    checkpoint: str | None = None
    """Relative path of the last checkpoint (``None`` before the first)."""
    checkpoint_iteration: int = 0
    confidence_drawn: int = 0
    confidence_kept: int = 0
    confidence_evaluations: int = 0
    confidence_evaluations_saved: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    """One small dict per iteration (iteration, env steps, mean return, best objective)."""

    def save(self, run: RunDirectory) -> None:
        tmp = run.progress.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(run.progress)

    @staticmethod
    def load(run: RunDirectory) -> Progress:
        if not run.progress.exists():
            raise ConfigError(
                str(run.root), (PROGRESS_FILE,), "not a dcoc run directory (no progress.json)"
            )
        data = json.loads(run.progress.read_text())
        return Progress(**data)
