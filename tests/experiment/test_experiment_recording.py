"""The recorded co-design env writes every evaluation (and nothing else) to the records with
the numbers the env saw; the confidence-gated proposal phase evaluates only the kept share and
accounts for the rest."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dcoc.agents.actor_module import MaskedActorModule
from dcoc.agents.confidence import ConfidenceConfig
from dcoc.agents.trainer import PolicySampler
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from dcoc.experiment.best_design import CoDesignBestTracker
from dcoc.experiment.proposals import KEPT_METHOD, SKIPPED_METHOD, confidence_round
from dcoc.experiment.recorded_env import make_recorded_codesign_env
from dcoc.search.action_masks import sample_masked

ENV = {
    "workload": ("resnet18/C5", "resnet18/C8"),
    "reference_samples": 4,
    "seed": 0,
}


def _rows(path: Path) -> list[sqlite3.Row]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM candidates ORDER BY id").fetchall()
    finally:
        db.close()


def test_every_evaluation_is_recorded_with_the_env_numbers(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite"
    env = make_recorded_codesign_env({**ENV, "records_path": str(path)})
    reference = len(_rows(path))
    assert reference == 2 * 4  # the reference search, once
    rng = np.random.default_rng(1)
    infos: list[dict[str, float]] = []
    for episode in range(6):
        obs, _ = env.reset(seed=episode)
        while True:
            agent = env.unwrapped.current_agent
            assert agent is not None
            nvec = tuple(env.action_spaces[agent].nvec)
            action = sample_masked(obs[agent]["action_mask"], nvec, rng)
            obs, _, term, _, info = env.step({agent: action})
            if agent == "sw_order" and not term["__all__"]:
                infos.append(info["sw_tile"]["dcoc"])
            if term["__all__"]:
                break
    rows = _rows(path)[reference:]
    assert len(rows) == env.evaluator.calls - reference
    assert {r["method"] for r in rows} == {"ppo"}
    # Mid-episode infos are the first layer's rounds: they match the records one to one.
    firsts = [r for r in rows if json.loads(r["design"])["layer_index"] == 0]
    assert len(firsts) == len(infos)
    for row, info in zip(firsts, infos, strict=True):
        assert bool(row["valid"]) == bool(info["valid"])
        if row["valid"]:
            assert row["cycles"] == info["cycles"]
            assert row["energy_pj"] == pytest.approx(info["energy_pj"], rel=1e-12)
            assert row["edp"] == pytest.approx(info["edp"], rel=1e-12)
    # A second env on the same database does not record the reference again.
    make_recorded_codesign_env({**ENV, "records_path": str(path)}).close()
    assert len(_rows(path)) == len(rows) + reference
    # The env's own best design is the tracker's best.
    best = CoDesignBestTracker(path, ["resnet18/C5", "resnet18/C8"], [3, 2], objective="edp")
    found = best.update()
    own = env.unwrapped.best_design
    if own is None:
        assert found is None
    else:
        assert found is not None and found.objective <= own.objective * (1 + 1e-12)
    env.close()


def _modules(env: Any) -> dict[str, Any]:
    return {
        agent: RLModuleSpec(
            module_class=MaskedActorModule,
            observation_space=env.observation_spaces[agent],
            action_space=env.action_spaces[agent],
            model_config={"hidden_sizes": [16], "value_head": False},
        ).build()
        for agent in env.possible_agents
    }


@pytest.mark.parametrize("enabled", [True, False])
def test_confidence_round_evaluates_only_the_kept_share(tmp_path: Path, enabled: bool) -> None:
    path = tmp_path / "records.sqlite"
    env = make_recorded_codesign_env({**ENV, "records_path": str(path)})
    start = len(_rows(path))
    modules = _modules(env)
    sampler = PolicySampler(
        lambda: modules,
        env.possible_agents,
        ConfidenceConfig(num_candidates=8, keep_fraction=0.25),
        3,
    )
    rnd = confidence_round(env, sampler, enabled=enabled, measure_skipped=True, seed=5)
    rows = _rows(path)[start:]
    kept = [r for r in rows if r["method"] == KEPT_METHOD]
    skipped = [r for r in rows if r["method"] == SKIPPED_METHOD]
    assert rnd.drawn == 8
    assert rnd.evaluations == len(kept)
    assert rnd.evaluations_saved == len(skipped)
    if enabled:
        assert rnd.kept == 2 and rnd.acceptance == 0.25
        assert len({tuple(json.loads(r["design"])["hw_action"]) for r in kept}) <= 2
    else:
        assert rnd.kept == 8 and rnd.evaluations_saved == 0 and not skipped
    assert rnd.best_all is not None and rnd.best_all <= rnd.best_kept
    gap = rnd.quality_gap
    assert gap is None or gap >= 0.0 or math.isinf(gap)
    env.close()


def test_value_weighted_round_keeps_the_candidates_the_critic_values_most(tmp_path: Path) -> None:
    from dcoc.agents.central_critic import CentralCriticModule
    from dcoc.agents.confidence import critic_values

    from dcoc.experiment.proposals import states_after_hw

    env = make_recorded_codesign_env({**ENV, "records_path": str(tmp_path / "r.sqlite")})
    modules = _modules(env)
    critic = RLModuleSpec(
        module_class=CentralCriticModule,
        observation_space=env.observation_spaces["hw"]["global_state"],
        action_space=env.action_spaces["hw"],
        model_config={"agent_ids": list(env.possible_agents), "hidden_sizes": [16]},
    ).build()
    config = ConfidenceConfig(
        num_candidates=8, keep_fraction=0.25, logp_weight=0.0, value_weight=1.0
    )
    sampler = PolicySampler(lambda: modules, env.possible_agents, config, 11, critic=lambda: critic)
    seen: list[Any] = []
    original = sampler.sampler.propose

    def spy(*args: Any, **kwargs: Any) -> Any:
        selection = original(*args, **kwargs)
        seen.append(selection)
        return selection

    sampler.sampler.propose = spy  # type: ignore[method-assign]
    rnd = confidence_round(env, sampler, enabled=True, measure_skipped=False, seed=2)
    (selection,) = seen
    cands = selection.candidates
    states = np.stack([states_after_hw(env, cands.joint_action(i)["hw"], 2) for i in range(8)])
    values = critic_values(critic, states, "hw")
    order = np.lexsort((np.arange(8), -values))
    assert rnd.kept == len(selection.kept_indices) >= 1
    assert int(selection.kept_indices[0]) == int(order[0])  # the highest value is kept first
    env.close()
