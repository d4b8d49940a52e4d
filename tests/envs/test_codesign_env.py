"""CoDesignEnv: the dict-protocol contract of dcoc.agents, determinism, rewards, penalties,
a random-policy episode over ResNet-18 C2-C11 and the no-ray rule."""

from __future__ import annotations

import math
import subprocess
import sys
from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from dcoc.agents import contract
from dcoc.envs import CoDesignEnv, CoDesignEnvConfig, make_codesign_env, protocol

from dcoc.search.action_masks import sample_masked, split_mask

SMALL = {"workload": ("resnet18/C4", "resnet18/C5"), "reference_samples": 8, "rounds_per_layer": 2}


@cache
def _env() -> CoDesignEnv:
    return CoDesignEnv(SMALL)


def _random_episode(
    env: CoDesignEnv, seed: int, check: bool = True
) -> tuple[list[str], list[dict[str, Any]], list[dict[str, float]], dict[str, Any]]:
    """Play masked random actions; check every step against the contract."""
    rng = np.random.default_rng(seed)
    obs, infos = env.reset(seed=seed)
    order, observations, rewards = [], [], []
    done = False
    while not done:
        assert len(obs) == 1
        ((agent, o),) = obs.items()
        assert agent == env.current_agent
        if check:
            assert env.observation_spaces[agent].contains(o), agent
            nvec = env.action_spaces[agent].nvec
            for block in split_mask(o["action_mask"], nvec):
                assert block.sum() >= 1
        order.append(agent)
        observations.append(o)
        action = sample_masked(o["action_mask"], env.action_spaces[agent].nvec, rng)
        obs, rew, term, trunc, infos = env.step({agent: action})
        assert set(term) >= {"__all__"} and set(trunc) >= {"__all__"}
        assert not trunc["__all__"]
        rewards.append(rew)
        done = term["__all__"]
    for agent, o in obs.items():
        assert env.observation_spaces[agent].contains(o)
    return order, observations, rewards, infos


def test_spaces_meet_the_contract() -> None:
    env = _env()
    contract.check_agent_spaces(env.observation_spaces, env.action_spaces)
    assert env.possible_agents == ["hw", "sw_tile", "sw_order"]
    for agent in env.possible_agents:
        assert isinstance(env.action_spaces[agent], gym.spaces.MultiDiscrete)


def test_turn_order_rewards_and_final_infos() -> None:
    env = _env()
    order, _, rewards, infos = _random_episode(env, seed=1)
    if order == ["hw"]:  # over budget: the episode ended at once
        assert rewards[0] == {"hw": env.config.invalid_reward}
        return
    rounds = env.num_layers * env.rounds
    assert order == ["hw"] + ["sw_tile", "sw_order"] * rounds
    team = [r for r in rewards if r]
    assert len(team) == rounds
    assert all(set(r) == set(env.possible_agents) and len(set(r.values())) == 1 for r in team)
    for agent in env.possible_agents:
        metrics = infos[agent][protocol.INFO_KEY]
        assert {"objective", "cycles", "energy_pj", "area_um2", "edp", "valid"} <= set(metrics)
        assert "best_so_far" in metrics
    design = env.episode_design
    assert design is not None and len(design.layers) == env.num_layers


def test_same_seed_same_episode() -> None:
    env_a, env_b = CoDesignEnv(SMALL), _env()
    for seed in (0, 5):
        a = _random_episode(env_a, seed, check=False)
        b = _random_episode(env_b, seed, check=False)
        assert a[0] == b[0]
        assert a[2] == b[2]
        for oa, ob in zip(a[1], b[1], strict=True):
            for key in oa:
                np.testing.assert_array_equal(oa[key], ob[key])


def test_reward_is_weighted_log_improvement_over_the_reference() -> None:
    env = CoDesignEnv({**SMALL, "rounds_per_layer": 1})
    sp = env.space
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step({"hw": np.asarray(sp.default_hw_action())})
    ref = env.reference.designs[0]  # replay the reference mapping of layer 0
    obs, *_ = env.step({"sw_tile": np.asarray(ref.tile_action)})
    mask = obs["sw_order"]["action_mask"]
    order = np.asarray(ref.order_action)
    # the reference may use a non-canonical permutation: map it to its class representative
    ms = sp.layer_context(env.hardware_context, 0).mapspace
    temporal = ms.temporal_of(env.tile_factors)
    for li in range(sp.num_levels):
        order[li] = ms.canonical_permutation(li, int(order[li]), temporal[li])
    assert all(b[a] for b, a in zip(split_mask(mask, sp.order_nvec), order, strict=True))
    _, rewards, _, _, infos = env.step({"sw_order": order})
    assert rewards["hw"] == pytest.approx(0.0, abs=1e-12)
    metrics = infos["sw_tile"]["dcoc"]
    assert metrics["valid"] == 1.0
    assert math.log(metrics["objective"]) == pytest.approx(env.reference.log_objective[0])
    assert metrics["edp"] == pytest.approx(metrics["energy_pj"] * metrics["cycles"])


def test_invalid_mapping_and_masked_action_give_the_penalty() -> None:
    env = CoDesignEnv({**SMALL, "rounds_per_layer": 1})
    sp = env.space
    ctx = sp.hardware_context(sp.default_hw_action())
    rng = np.random.default_rng(0)
    for _ in range(200):  # a masked-in tiling whose forced tiles overflow a buffer
        tile, order = sp.sample_layer_actions(ctx, 0, rng)
        if not sp.evaluate(ctx, 0, tile, order).report.valid:
            break
    else:
        pytest.fail("no capacity failure among 200 random mappings")
    w = env.weights[0]
    env.reset(seed=0)
    env.step({"hw": np.asarray(sp.default_hw_action())})
    env.step({"sw_tile": tile})
    _, rewards, _, _, infos = env.step({"sw_order": order})
    assert rewards["sw_order"] == pytest.approx(w * env.config.invalid_reward)
    assert infos["sw_tile"]["dcoc"]["valid"] == 0.0
    # a masked-out order (a non-canonical permutation or out of range) is penalized too
    env.step({"sw_tile": tile})
    bad = np.asarray(order).copy()
    bad[-3] = 5  # out of range for a keep bit
    _, rewards, term, _, infos = env.step({"sw_order": bad})
    assert rewards["sw_order"] == pytest.approx(env.weights[1] * env.config.invalid_reward)
    assert term["__all__"]
    assert infos["hw"]["dcoc"]["valid"] == 0.0
    assert infos["hw"]["dcoc"]["invalid_rounds"] == 2.0


def test_hardware_over_budget_ends_the_episode_with_the_penalty() -> None:
    env = _env()
    env.reset(seed=0)
    largest = np.asarray(env.space.hw_nvec) - 1
    assert not env.space.hardware_context(largest).fits_budget
    obs, rewards, term, _, infos = env.step({"hw": largest})
    assert term["__all__"] and list(obs) == ["hw"]
    assert rewards == {"hw": env.config.invalid_reward}
    assert infos["hw"]["dcoc"]["valid"] == 0.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step({"sw_tile": np.zeros(len(env.space.tile_nvec), np.int64)})


def test_resnet18_c2_to_c11_random_episode_reports_infos() -> None:
    env = make_codesign_env({"workload": "resnet18.vta", "reference_samples": 6})
    assert env.num_layers == 10
    assert env.reference.cost.edp > 0
    seen_full = False
    for seed in range(6):
        order, _, rewards, infos = _random_episode(env, seed)
        if len(order) > 1:
            seen_full = True
            assert len(order) == 1 + 2 * 10
            metrics = infos["hw"]["dcoc"]
            assert metrics["layer"] == 10.0
            total = sum(r["hw"] for r in rewards if r)
            assert math.isfinite(total)
    assert seen_full


def test_config_from_mapping_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown env config keys"):
        CoDesignEnvConfig.from_mapping({"workloads": "resnet18/C5"})
    assert CoDesignEnvConfig.from_mapping({"objective": "latency"}).objective == "latency"


def test_envs_import_no_ray() -> None:
    code = (
        "import sys, dcoc.envs, dcoc.search.codesign_space\n"
        "bad = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')"
        " or m.startswith('dcoc.agents'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rllib_adapter_accepts_the_env() -> None:
    from dcoc.agents.env_adapter import make_rllib_env
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = make_rllib_env("dcoc.envs.codesign:make_codesign_env", SMALL)
    check_multiagent_environments(env)
    obs, _ = env.reset(seed=0)
    assert list(obs) == ["hw"]


def _replay_reference(env: CoDesignEnv) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Play the template hardware and every layer's reference mapping (canonical orders)."""
    sp = env.space
    env.reset(seed=0)
    env.step({"hw": np.asarray(sp.default_hw_action())})
    ctx = env.hardware_context
    assert ctx is not None
    rewards, infos = [], {}
    for li, ref in enumerate(env.reference.designs):
        for _ in range(env.rounds):
            tile, order = sp.actions_of(ctx, li, ref.mapping)
            env.step({"sw_tile": tile})
            _, rew, _, _, infos = env.step({"sw_order": order})
            rewards.append(rew)
    return rewards, infos


@pytest.mark.parametrize("objective", ["edp", "latency", "energy"])
def test_replaying_the_reference_scores_zero_and_reports_network_totals(objective: str) -> None:
    env = CoDesignEnv({**SMALL, "objective": objective, "rounds_per_layer": 1})
    rewards, infos = _replay_reference(env)
    assert all(r["hw"] == pytest.approx(0.0, abs=1e-12) for r in rewards)
    metrics = infos["hw"]["dcoc"]
    ref = env.reference.cost
    assert metrics["cycles"] == ref.cycles and metrics["energy_pj"] == pytest.approx(ref.energy_pj)
    assert metrics["objective"] == pytest.approx(ref.objective(env.config.objective))
    assert metrics["best_so_far"] == metrics["objective"]
    counts = [layer.count for layer in env.space.layers]
    reports = [d.report for d in env.reference.designs]
    assert ref.cycles == sum(c * r.cycles for c, r in zip(counts, reports, strict=True))
    design = env.best_design
    assert design is not None and design.valid
    assert [d.mapping for d in design.layers if d] == [d.mapping for d in env.reference.designs]
    files = env.design_files(design)
    assert len(files) == 1 + 2 * env.num_layers and "architecture.yaml" in files


def test_energy_budget_violation_adds_the_penalty_at_the_end() -> None:
    env = CoDesignEnv({**SMALL, "rounds_per_layer": 1, "energy_budget_pj": 1.0})
    rewards, infos = _replay_reference(env)
    assert rewards[-1]["hw"] == pytest.approx(env.config.invalid_reward)
    assert infos["hw"]["dcoc"]["valid"] == 0.0
    assert env.best_design is None


def test_best_improvement_reward_pays_only_new_bests() -> None:
    env = CoDesignEnv({**SMALL, "reward": "best_improvement", "rounds_per_layer": 3})
    sp = env.space
    rng = np.random.default_rng(7)
    env.reset(seed=0)
    env.step({"hw": np.asarray(sp.default_hw_action())})
    ctx = env.hardware_context
    assert ctx is not None
    for li in range(env.num_layers):
        best, paid = 0.0, 0.0
        for _ in range(env.rounds):
            tile, order = sp.sample_layer_actions(ctx, li, rng)
            design = sp.evaluate(ctx, li, tile, order)
            env.step({"sw_tile": tile})
            _, rewards, *_ = env.step({"sw_order": order})
            if design.report.valid:
                gain = env.reference.log_objective[li] - math.log(design.report.edp)
                assert rewards["hw"] == pytest.approx(env.weights[li] * (max(best, gain) - best))
                assert rewards["hw"] >= 0.0
                best = max(best, gain)
            else:
                assert rewards["hw"] < 0.0
                continue
            paid += rewards["hw"]
        assert paid == pytest.approx(env.weights[li] * best)
