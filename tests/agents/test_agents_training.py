"""Short PPO runs on the turn env: the centralized critic learns, the independent ablation runs,
metrics reach the results dict, checkpoints round-trip."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ray
import torch
from dcoc.agents.config import build_algorithm_config
from dcoc.agents.contract import CRITIC_MODULE_ID
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core.columns import Columns
from turn_env import AGENTS, TurnEnv, make_turn_env, random_round_score

pytestmark = pytest.mark.slow

NUM_ROUNDS = 2
RANDOM_RETURN = len(AGENTS) * NUM_ROUNDS * random_round_score()  # 2.55
OPTIMAL_RETURN = len(AGENTS) * NUM_ROUNDS * 1.0


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    temp_dir = f"/tmp/dcoc-ray-agents-{os.getpid()}"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=temp_dir,
        log_to_driver=False,
    )
    yield
    ray.shutdown()
    shutil.rmtree(temp_dir, ignore_errors=True)


def _config(critic: str, **overrides: Any) -> Any:
    settings: dict[str, Any] = {
        "critic": critic,
        "env_config": {"num_rounds": NUM_ROUNDS},
        "lr": 3e-3,
        "train_batch_size": 600,
        "minibatch_size": 200,
        "num_epochs": 6,
        "entropy_coeff": 0.0,
        "seed": 0,
    }
    settings.update(overrides)
    return build_algorithm_config(make_turn_env, **settings)


def _learner_weights(algo: Algorithm, module_id: str) -> dict[str, np.ndarray]:
    state = algo.learner_group.get_weights(module_ids=[module_id])[module_id]
    return {k: np.array(v) for k, v in state.items()}


def test_centralized_critic_ppo_improves_return(ray_session: None) -> None:
    algo = _config("centralized").build_algo()
    try:
        # The critic is built on the learner only; EnvRunners hold the three actors.
        assert set(algo.env_runner.module.keys()) == set(AGENTS)
        critic_before = _learner_weights(algo, CRITIC_MODULE_ID)
        returns = []
        for _ in range(8):
            result = algo.train()
            returns.append(result["env_runners"]["episode_return_mean"])
        critic_after = _learner_weights(algo, CRITIC_MODULE_ID)
    finally:
        algo.stop()
    assert returns[0] < RANDOM_RETURN + 0.5
    assert returns[-1] > returns[0] + 1.0, returns
    assert returns[-1] > 4.0, returns
    assert returns[-1] <= OPTIMAL_RETURN + 1e-9
    assert any(not np.array_equal(critic_before[k], critic_after[k]) for k in critic_before)
    # Metrics from dcoc.agents.callbacks reach the results dict.
    dcoc = result["env_runners"]["dcoc"]
    assert set(dcoc["agent_return"]) == set(AGENTS)
    for agent in AGENTS:  # every agent receives the team reward
        assert dcoc["agent_return"][agent] == pytest.approx(returns[-1] / len(AGENTS))
        assert 0.0 <= dcoc["behavior_entropy"][agent] < 3.0
    assert 0.0 <= dcoc["info"]["score"] <= dcoc["info"]["best_score"] <= 1.0
    assert dcoc["info"]["best_score_min"] <= dcoc["info"]["best_score"]
    # Sampling through RLlib's EnvRunner never sends a masked action to the env.
    assert dcoc["info"]["invalid_rounds"] == 0.0
    assert set(result["dcoc"]["policy_entropy"]) == set(AGENTS)
    assert set(result["learners"]) >= {*AGENTS, CRITIC_MODULE_ID}


def test_independent_critic_ablation_runs(ray_session: None) -> None:
    algo = _config("independent").build_algo()
    try:
        results = [algo.train() for _ in range(2)]
    finally:
        algo.stop()
    learners = results[-1]["learners"]
    assert CRITIC_MODULE_ID not in learners
    for agent in AGENTS:
        assert np.isfinite(learners[agent]["vf_loss"])
        assert learners[agent]["vf_loss"] > 0.0
    assert results[-1]["env_runners"]["num_episodes"] > 0


def test_checkpoint_round_trip(ray_session: None, tmp_path: Path) -> None:
    algo = _config("centralized", train_batch_size=300, num_epochs=2).build_algo()
    try:
        algo.train()
        path = algo.save_to_path(str(tmp_path / "ckpt"))
        critic = _learner_weights(algo, CRITIC_MODULE_ID)
        actors = {a: _learner_weights(algo, a) for a in AGENTS}
    finally:
        algo.stop()
    restored = Algorithm.from_checkpoint(path)
    try:
        restored_critic = _learner_weights(restored, CRITIC_MODULE_ID)
        for key, value in critic.items():
            np.testing.assert_array_equal(restored_critic[key], value)
        for agent in AGENTS:
            for key, value in _learner_weights(restored, agent).items():
                np.testing.assert_array_equal(value, actors[agent][key])
        # The EnvRunner's actor computes the same logits as the saved learner weights.
        env = TurnEnv({"num_rounds": NUM_ROUNDS})
        obs, _ = env.reset(seed=0)
        module = restored.get_module("hw")
        assert module is not None
        batch = {Columns.OBS: {k: torch.as_tensor(v)[None] for k, v in obs["hw"].items()}}
        with torch.no_grad():
            logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
        hidden = obs["hw"]["observations"]
        weights = actors["hw"]
        layer = 0
        while f"_pi.{layer}.weight" in weights:
            hidden = hidden @ weights[f"_pi.{layer}.weight"].T + weights[f"_pi.{layer}.bias"]
            if f"_pi.{layer + 2}.weight" in weights:
                hidden = np.tanh(hidden)
            layer += 2
        np.testing.assert_allclose(logits[0, :3].numpy(), hidden[:3], rtol=1e-4, atol=1e-5)
        result = restored.train()
        assert result["env_runners"]["num_episodes"] > 0
    finally:
        restored.stop()
