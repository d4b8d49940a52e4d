"""The RL methods' training overrides: a starting checkpoint becomes train.init_checkpoint,
and mappo-frozen acts without learning (and needs one)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcoc.experiment.rl_search import AgentsSearch
from dcoc.search.network_search import build_problem
from dcoc.search.task import SearchTask


def _task() -> SearchTask:
    problem = build_problem("resnet18/C5", "accel_specs/eyeriss_like.space.yaml")
    ls = problem.layer_set
    return SearchTask(problem.space, ls.counts, ls.keys, budget=100, method="m")


def test_policy_overrides(tmp_path: Path) -> None:
    task = _task()
    fresh = AgentsSearch("mappo", tmp_path / "a").overrides_for(task)
    assert not any(o.startswith(("train.init_checkpoint", "train.learn")) for o in fresh)
    tuned = AgentsSearch("mappo", tmp_path / "b", policy=tmp_path / "ck").overrides_for(task)
    assert f"train.init_checkpoint={(tmp_path / 'ck').resolve()}" in tuned
    assert "train.learn=false" not in tuned
    frozen = AgentsSearch("mappo-frozen", tmp_path / "c", policy=tmp_path / "ck")
    overrides = frozen.overrides_for(task)
    assert "train.learn=false" in overrides and "agents.critic=centralized" in overrides
    with pytest.raises(ValueError, match="checkpoint"):
        AgentsSearch("mappo-frozen", tmp_path / "d").overrides_for(task)
