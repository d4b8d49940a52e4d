"""Single-agent views: Gymnasium's own env checker, registered ids, episode lengths and the
fixed policies of the other roles."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from dcoc.envs import ENV_IDS, HardwareEnv, OrderEnv, TilingEnv
from gymnasium.utils.env_checker import check_env

from dcoc.search.action_masks import sample_masked

CONFIG = {"workload": ("resnet18/C4", "resnet18/C7"), "reference_samples": 6}


@pytest.mark.parametrize("env_id", sorted(ENV_IDS))
def test_registered_env_passes_gymnasium_check_env(env_id: str) -> None:
    env = gym.make(env_id, config=CONFIG, software_samples=4)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def _play(env: gym.Env, seed: int) -> tuple[int, float, dict]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    steps, total, done, info = 0, 0.0, False, {}
    while not done:
        action = sample_masked(obs["action_mask"], env.action_space.nvec, rng)
        obs, reward, done, truncated, info = env.step(action)
        assert not truncated and env.observation_space.contains(obs)
        steps, total = steps + 1, total + reward
    return steps, total, info


def test_tiling_and_order_envs_take_one_step_per_layer_round() -> None:
    for cls in (TilingEnv, OrderEnv):
        env = cls({**CONFIG, "rounds_per_layer": 2}, software_samples=4)
        steps, total, info = _play(env, seed=0)
        assert steps == 2 * 2
        assert info["dcoc"]["layer"] == 2.0 and np.isfinite(total)


def test_order_env_replays_the_fixed_tilings() -> None:
    env = OrderEnv(CONFIG, software_samples=4)
    env.reset(seed=0)
    assert env.codesign.current_agent == "sw_order"
    codesign = env.codesign
    ctx = codesign.hardware_context
    assert ctx is not None and codesign.tile_factors is not None
    expected = codesign.space.decode_tile(ctx, 0, env.tiles[0])
    np.testing.assert_array_equal(codesign.tile_factors, expected)


def test_hardware_env_is_one_step_and_deterministic_per_seed() -> None:
    env = HardwareEnv(CONFIG, software_samples=3)
    a = _play(env, seed=4)
    b = _play(env, seed=4)
    assert a[0] == 1 and a[1] == b[1]
    # the template hardware is inside the budget and its software is valid
    env.reset(seed=0)
    _, reward, done, _, info = env.step(np.asarray(env.codesign.space.default_hw_action()))
    assert done and info["dcoc"]["valid"] == 1.0
    codesign = env.codesign
    design = codesign.episode_design
    assert design is not None
    expected = sum(
        w * (ref - math.log(d.report.edp))
        for w, ref, d in zip(
            codesign.weights, codesign.reference.log_objective, design.layers, strict=True
        )
        if d is not None
    )
    assert reward == pytest.approx(expected)
