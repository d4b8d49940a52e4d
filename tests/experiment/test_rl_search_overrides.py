"""The RL methods' training overrides: the carried methods start from a checkpoint
(train.init_checkpoint, which they need), mappo-frozen without learning; the others ignore it."""

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
    fresh = AgentsSearch("mappo", tmp_path / "a", policy=tmp_path / "ck").overrides_for(task)
    assert not any(o.startswith(("train.init_checkpoint", "train.learn")) for o in fresh)
    for method, learn in (("mappo-finetune", "true"), ("mappo-frozen", "false")):
        carried = AgentsSearch(method, tmp_path / method, policy=tmp_path / "ck")
        overrides = carried.overrides_for(task)
        assert f"train.init_checkpoint={(tmp_path / 'ck').resolve()}" in overrides
        assert f"train.learn={learn}" in overrides and "agents.critic=centralized" in overrides
        with pytest.raises(ValueError, match="checkpoint"):
            AgentsSearch(method, tmp_path / "d").overrides_for(task)


def test_untrained_agents_never_learn(tmp_path: Path) -> None:
    overrides = AgentsSearch("mappo-untrained", tmp_path / "u").overrides_for(_task())
    assert "train.learn=false" in overrides
    assert not any(o.startswith("train.init_checkpoint") for o in overrides)
