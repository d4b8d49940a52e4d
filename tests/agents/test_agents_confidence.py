"""Confidence sampling with real actor modules and the real centralized critic."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from dcoc.agents.central_critic import CentralCriticMultiRLModule
from dcoc.agents.confidence import (
    Candidates,
    ConfidenceConfig,
    ConfidenceSampler,
    JointAction,
    agreement_scores,
    confidence_scores,
    critic_values,
    distinct_first,
    sample_candidates,
    sample_joint_candidates,
    select_top,
)
from dcoc.agents.config import build_module_spec
from hypothesis import given, settings
from hypothesis import strategies as st
from ray.rllib.core.columns import Columns
from turn_env import AGENTS, TurnEnv


def _multi_module() -> CentralCriticMultiRLModule:
    env = TurnEnv()
    module = build_module_spec(
        env.observation_spaces, env.action_spaces, critic="centralized"
    ).build()
    assert isinstance(module, CentralCriticMultiRLModule)
    return module


def _observations() -> dict[str, dict[str, np.ndarray]]:
    """One observation per agent, as each would see it in round 0 after hw=1, tile=(1, 0)."""
    env = TurnEnv()
    env.reset(seed=0)
    obs = {"hw": env._observe("hw")}
    env.step({"hw": 1})
    obs["sw_tile"] = env._observe("sw_tile")
    env.step({"sw_tile": np.array([1, 0])})
    obs["sw_order"] = env._observe("sw_order")
    return obs


def _sharpen(module: CentralCriticMultiRLModule, agent: str, favourite: int) -> None:
    """Make ``agent``'s policy prefer ``favourite`` (first sub-action) strongly."""
    last = module[agent]._pi[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[favourite] = 4.0


def test_candidates_respect_masks_and_match_rllib_logp() -> None:
    module = _multi_module()
    obs = _observations()
    cands = sample_candidates(module, obs, 400, generator=torch.Generator().manual_seed(1))
    assert cands.num_candidates == 400
    assert cands.actions["hw"].shape == (400,) and cands.actions["sw_tile"].shape == (400, 2)
    assert set(np.unique(cands.actions["hw"])) == {0, 1, 2}  # 3 is masked
    assert set(np.unique(cands.actions["sw_tile"][:, 0])) == {0, 1}  # tile0 <= hw = 1
    assert set(np.unique(cands.actions["sw_tile"][:, 1])) == {0, 1}
    assert set(np.unique(cands.actions["sw_order"])) == {0, 1}  # order 2 masked: tile1 = 0
    # Nearly uniform fresh policies: logp ~ -log(#valid choices).
    np.testing.assert_allclose(cands.logp["hw"], -math.log(3), atol=0.05)
    np.testing.assert_allclose(cands.logp["sw_tile"], -2 * math.log(2), atol=0.05)
    np.testing.assert_allclose(cands.entropy["hw"], math.log(3), atol=0.05)
    np.testing.assert_allclose(cands.joint_logp, sum(cands.logp[a] for a in AGENTS))
    # The same generator seed draws the same candidates.
    again = sample_candidates(module, obs, 400, generator=torch.Generator().manual_seed(1))
    for agent in AGENTS:
        np.testing.assert_array_equal(cands.actions[agent], again.actions[agent])
    with torch.no_grad():
        batch = {Columns.OBS: {k: torch.as_tensor(v)[None] for k, v in obs["sw_tile"].items()}}
        logits = module["sw_tile"].forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
        dist = module["sw_tile"].get_inference_action_dist_cls().from_logits(logits)
        ref = dist.logp(torch.as_tensor(cands.actions["sw_tile"][:3])).numpy()
    np.testing.assert_allclose(cands.logp["sw_tile"][:3], ref, rtol=1e-6)


def test_agreement_scores_exact() -> None:
    actions = {
        "a": np.array([0, 0, 1, 2]),
        "b": np.array([[1, 0], [1, 0], [1, 0], [0, 0]]),
    }
    # a: shares 2/4, 2/4, 1/4, 1/4; b: 3/4, 3/4, 3/4, 1/4
    np.testing.assert_allclose(agreement_scores(actions), [0.625, 0.625, 0.5, 0.25])


def test_confidence_scores_weighting() -> None:
    logp = np.array([-1.0, -2.0, -3.0])
    agreement = np.array([0.1, 0.5, 0.9])
    only_logp = confidence_scores(logp, agreement, ConfidenceConfig(logp_weight=1.0))
    np.testing.assert_allclose(only_logp, [math.sqrt(1.5), 0.0, -math.sqrt(1.5)])
    only_agree = confidence_scores(
        logp, agreement, ConfidenceConfig(logp_weight=0.0, agreement_weight=1.0)
    )
    assert list(np.argsort(-only_agree)) == [2, 1, 0]
    with pytest.raises(ValueError, match="one value per candidate"):
        confidence_scores(logp, agreement, ConfidenceConfig(value_weight=1.0))
    with_values = confidence_scores(
        logp, agreement, ConfidenceConfig(logp_weight=0.0, value_weight=2.0), np.array([0, 0, 3])
    )
    assert int(np.argmax(with_values)) == 2


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-100, 100), min_size=1, max_size=64),
    st.floats(0.01, 1.0),
)
def test_select_top_keeps_ceil_share_of_highest(scores: list[float], fraction: float) -> None:
    kept = select_top(np.array(scores), fraction)
    assert len(kept) == max(1, math.ceil(fraction * len(scores) - 1e-9))
    assert len(set(kept.tolist())) == len(kept)
    threshold = min(scores[i] for i in kept)
    others = [s for i, s in enumerate(scores) if i not in set(kept.tolist())]
    assert all(s <= threshold for s in others)
    assert [scores[i] for i in kept] == sorted((scores[i] for i in kept), reverse=True)


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="keep_fraction"):
        ConfidenceConfig(keep_fraction=0.0)
    with pytest.raises(ValueError, match="num_candidates"):
        ConfidenceConfig(num_candidates=0)
    with pytest.raises(ValueError, match="weights"):
        ConfidenceConfig(logp_weight=0.0)


def test_sampler_keeps_confident_distinct_candidates_and_counts_savings() -> None:
    module = _multi_module()
    _sharpen(module, "hw", favourite=2)  # hw now picks 2 with p ~ e^4 / (e^4 + 2)
    sampler = ConfidenceSampler(ConfidenceConfig(num_candidates=32, keep_fraction=0.25), seed=3)
    selection = sampler.propose(module, _observations())
    assert len(selection.kept_indices) == 8
    assert selection.evaluations_saved == 32 - 8
    kept = selection.kept
    keys = {(j["hw"], *j["sw_tile"].tolist(), j["sw_order"]) for j in kept}
    assert len(keys) == len(kept)  # each distinct joint action at most once
    scores = selection.scores[selection.kept_indices]
    assert list(scores) == sorted(scores, reverse=True)
    # The sharpened agent's favourite dominates the most confident candidates.
    assert all(j["hw"] == 2 for j in kept)


def test_sampler_uses_critic_values() -> None:
    module = _multi_module()
    critic = module.critic
    assert critic is not None
    rng = np.random.default_rng(0)
    states = rng.random((16, TurnEnv().global_size)).astype(np.float32)

    def value_fn(cands: Candidates) -> np.ndarray:
        return critic_values(critic, states[: cands.num_candidates], "hw")

    config = ConfidenceConfig(num_candidates=16, keep_fraction=0.25, logp_weight=0, value_weight=1)
    selection = ConfidenceSampler(config, seed=0).propose(
        module, _observations(), value_fn=value_fn
    )
    values = critic_values(critic, states, "hw")
    best = distinct_first(selection.candidates, np.argsort(-values, kind="stable"))[:4]
    np.testing.assert_array_equal(selection.kept_indices, best)


def _replay_observe(agent: str, prefix: JointAction) -> dict[str, np.ndarray]:
    """The observation ``agent`` gets in round 0 of the turn env after ``prefix`` was played."""
    env = TurnEnv()
    obs, _ = env.reset(seed=0)
    for earlier in AGENTS[: AGENTS.index(agent)]:
        obs, *_ = env.step({earlier: np.asarray(prefix[earlier])})
    return obs[agent]


def test_joint_candidates_condition_each_agent_on_earlier_choices() -> None:
    module = _multi_module()
    cands = sample_joint_candidates(
        module, _replay_observe, 300, generator=torch.Generator().manual_seed(5)
    )
    hw, tile, order = cands.actions["hw"], cands.actions["sw_tile"], cands.actions["sw_order"]
    assert hw.shape == (300,) and tile.shape == (300, 2) and order.shape == (300,)
    assert set(np.unique(hw)) == {0, 1, 2}
    # Per candidate: tile0 <= that candidate's hw, order 2 only when tile1 != 0.
    assert np.all(tile[:, 0] <= hw)
    assert np.all((order != 2) | (tile[:, 1] != 0))
    assert np.any(tile[:, 0] == 2) and np.any(order == 2)
    # Fresh near-uniform policies: logp ~ -log(#valid choices) given each candidate's mask.
    np.testing.assert_allclose(cands.logp["sw_tile"], -np.log(hw + 1) - np.log(2), atol=0.05)
    n_orders = np.where(tile[:, 1] == 0, 2, 3)
    np.testing.assert_allclose(cands.logp["sw_order"], -np.log(n_orders), atol=0.05)
    selection = ConfidenceSampler(ConfidenceConfig(num_candidates=24, keep_fraction=0.5)).select(
        cands
    )
    assert len(selection.kept_indices) <= 150
    assert selection.evaluations_saved == 300 - len(selection.kept_indices)


def test_propose_joint_prefers_the_sharpened_agents_choice() -> None:
    module = _multi_module()
    _sharpen(module, "hw", favourite=1)
    sampler = ConfidenceSampler(ConfidenceConfig(num_candidates=40, keep_fraction=0.1), seed=2)
    selection = sampler.propose_joint(module, _replay_observe)
    assert len(selection.kept_indices) == 4
    assert all(j["hw"] == 1 and j["sw_tile"][0] <= 1 for j in selection.kept)
