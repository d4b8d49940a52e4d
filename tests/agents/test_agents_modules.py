"""Masked actor modules, the learner-only centralized critic, the env contract and adapter."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from dcoc.agents.actor_module import MaskedActorModule
from dcoc.agents.central_critic import CentralCriticMultiRLModule
from dcoc.agents.config import build_module_spec
from dcoc.agents.contract import CRITIC_MODULE_ID, check_agent_spaces
from dcoc.agents.env_adapter import DcocRLlibEnv, make_rllib_env, rllib_env_config
from hypothesis import given, settings
from hypothesis import strategies as st
from ray.rllib.core.columns import Columns
from ray.rllib.utils.pre_checks.env import check_multiagent_environments
from ray.rllib.utils.torch_utils import FLOAT_MIN
from turn_env import AGENTS, OPTIMUM, TurnEnv, make_turn_env, random_round_score


def _spaces() -> tuple[dict[str, gym.Space], dict[str, gym.Space]]:
    env = TurnEnv()
    return env.observation_spaces, env.action_spaces


def _batch(space: gym.spaces.Dict, mask: np.ndarray, batch_size: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n_obs = space["observations"].shape[0]
    n_global = space["global_state"].shape[0]
    return {
        Columns.OBS: {
            "observations": torch.as_tensor(rng.random((batch_size, n_obs), np.float32)),
            "action_mask": torch.as_tensor(np.tile(mask.astype(np.float32), (batch_size, 1))),
            "global_state": torch.as_tensor(rng.random((batch_size, n_global), np.float32)),
        }
    }


def _actor(agent: str, *, value_head: bool = False) -> MaskedActorModule:
    obs_spaces, act_spaces = _spaces()
    spec = build_module_spec(
        obs_spaces, act_spaces, critic="independent" if value_head else "centralized"
    )
    module = spec.rl_module_specs[agent].build()
    assert isinstance(module, MaskedActorModule)
    return module


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.booleans(), min_size=4, max_size=4).filter(any),
    st.lists(st.booleans(), min_size=3, max_size=3).filter(any),
    st.integers(0, 2**31 - 1),
)
def test_masked_sub_actions_are_never_sampled(
    tile0_mask: list[bool], tile1_mask: list[bool], seed: int
) -> None:
    """MultiDiscrete([4, 3]): over 2000 exploration samples no masked sub-action appears,
    every allowed one does, and greedy actions are allowed."""
    torch.manual_seed(seed)
    actor = _actor("sw_tile")
    mask = np.array(tile0_mask + tile1_mask, dtype=np.float32)
    batch = _batch(actor.observation_space, mask, 2000, seed)
    with torch.no_grad():
        logits = actor.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    dist = actor.get_exploration_action_dist_cls().from_logits(logits)
    actions = dist.sample().numpy()  # [2000, 2]
    assert set(np.unique(actions[:, 0])) == {i for i, ok in enumerate(tile0_mask) if ok}
    assert set(np.unique(actions[:, 1])) == {i for i, ok in enumerate(tile1_mask) if ok}
    greedy = dist.to_deterministic().sample().numpy()
    assert all(tile0_mask[a] and tile1_mask[b] for a, b in greedy)
    assert torch.isfinite(dist.entropy()).all()


def test_discrete_mask_sets_float_min_and_never_samples_masked() -> None:
    actor = _actor("hw")
    mask = np.array([0, 1, 0, 1], np.float32)
    with torch.no_grad():
        out = actor.forward_inference(_batch(actor.observation_space, mask, 5000, 0))
    logits = out[Columns.ACTION_DIST_INPUTS]
    assert torch.all(logits[:, [0, 2]] == FLOAT_MIN)
    assert torch.all(logits[:, [1, 3]] > -10)
    torch.manual_seed(0)
    sampled = actor.get_inference_action_dist_cls().from_logits(logits).sample().numpy()
    assert set(np.unique(sampled)) == {1, 3}


def test_actor_ignores_global_state() -> None:
    actor = _actor("sw_order")
    batch = _batch(actor.observation_space, np.ones(3, np.float32), 8, 1)
    with torch.no_grad():
        before = actor.forward_inference(batch)[Columns.ACTION_DIST_INPUTS].clone()
        batch[Columns.OBS]["global_state"] = batch[Columns.OBS]["global_state"] * 7.0 + 3.0
        after = actor.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
        batch[Columns.OBS]["observations"] = batch[Columns.OBS]["observations"] + 1.0
        changed = actor.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    assert torch.equal(before, after)
    assert not torch.allclose(before, changed)


def test_centralized_values_come_from_shared_critic_per_agent() -> None:
    obs_spaces, act_spaces = _spaces()
    spec = build_module_spec(obs_spaces, act_spaces, critic="centralized")
    multi = spec.build()
    assert isinstance(multi, CentralCriticMultiRLModule)
    critic = multi.critic
    assert critic is not None and critic.agent_ids == list(AGENTS)
    space = obs_spaces["hw"]
    batch = _batch(space, np.array([1, 1, 1, 0], np.float32), 6, 2)
    gs = batch[Columns.OBS]["global_state"]
    values = {}
    with torch.no_grad():
        for index, agent in enumerate(AGENTS):
            values[agent] = multi[agent].compute_values(batch)
            expected = critic.values(gs, torch.full((6,), index, dtype=torch.int64))
            assert torch.equal(values[agent], expected)
    # The agent one-hot matters: the same state gives different values per agent.
    assert not torch.allclose(values["hw"], values["sw_order"])
    # The critic's weights live once, in the critic module only.
    critic_params = {id(p) for p in critic.parameters()}
    for agent in AGENTS:
        assert not critic_params & {id(p) for p in multi[agent].parameters()}
        assert all(not k.startswith("_vf") for k in multi[agent].get_state())
    assert set(multi.get_state()) == {*AGENTS, CRITIC_MODULE_ID}
    assert spec.rl_module_specs[CRITIC_MODULE_ID].learner_only


def test_independent_actors_use_own_value_head() -> None:
    actor = _actor("sw_tile", value_head=True)
    assert actor.has_own_value_head
    batch = _batch(actor.observation_space, np.ones(7, np.float32), 4, 3)
    with torch.no_grad():
        v1 = actor.compute_values(batch)
        batch[Columns.OBS]["global_state"] += 5.0
        v2 = actor.compute_values(batch)
    assert v1.shape == (4,)
    assert torch.equal(v1, v2)


def test_actor_without_value_source_refuses_values() -> None:
    actor = _actor("hw")
    with pytest.raises(RuntimeError, match="no value head"):
        actor.compute_values(_batch(actor.observation_space, np.ones(4, np.float32), 2, 0))


def test_contract_rejects_wrong_mask_size_and_missing_keys() -> None:
    obs_spaces, act_spaces = _spaces()
    check_agent_spaces(obs_spaces, act_spaces)
    bad = dict(act_spaces)
    bad["sw_tile"] = gym.spaces.MultiDiscrete([4, 4])
    with pytest.raises(ValueError, match=r"sw_tile.*7 entries.*needs 8"):
        check_agent_spaces(obs_spaces, bad)
    no_global = dict(obs_spaces)
    hw_space = obs_spaces["hw"]
    assert isinstance(hw_space, gym.spaces.Dict)
    no_global["hw"] = gym.spaces.Dict(
        {k: v for k, v in hw_space.spaces.items() if k != "global_state"}
    )
    with pytest.raises(ValueError, match="lacks keys \\['global_state'\\]"):
        check_agent_spaces(no_global, act_spaces)


def test_adapter_passes_rllib_env_checker_and_resolves_import_strings() -> None:
    env = make_rllib_env("turn_env:make_turn_env", {"num_rounds": 3})
    assert isinstance(env, DcocRLlibEnv)
    assert isinstance(env.env, TurnEnv) and env.env.num_rounds == 3
    check_multiagent_environments(env)
    with pytest.raises(ValueError, match="module:callable"):
        DcocRLlibEnv(rllib_env_config("turn_env.make_turn_env", {}))


def test_turn_env_optimum_and_turn_order() -> None:
    env = make_turn_env({"num_rounds": 2})
    obs, _ = env.reset(seed=0)
    total = dict.fromkeys(AGENTS, 0.0)
    order = []
    done = False
    while not done:
        (agent,) = obs
        order.append(agent)
        action = OPTIMUM[agent]
        assert np.all(np.asarray(obs[agent]["action_mask"]) >= 0)
        obs, rewards, terminateds, _, infos = env.step({agent: np.asarray(action)})
        for a, r in rewards.items():
            total[a] += r
        done = terminateds["__all__"]
    assert order == list(AGENTS) * 2
    assert infos["hw"]["dcoc"] == {"score": 1.0, "best_score": 1.0, "invalid_rounds": 0.0}
    assert total == dict.fromkeys(AGENTS, 2.0)
    assert random_round_score() == pytest.approx(0.425)
    # A masked action (hw = 3) voids the round and is counted.
    env.reset(seed=0)
    env.step({"hw": 3})
    env.step({"sw_tile": np.array([0, 0])})
    _, rewards, _, _, infos = env.step({"sw_order": 0})
    assert rewards == dict.fromkeys(AGENTS, 0.0)
    assert infos["hw"]["dcoc"]["invalid_rounds"] == 1.0
