"""CoDesignJointEnv: one agent takes every co-design decision. Gymnasium's and RLlib's env
checkers, masks and observations against the wrapped env turn by turn, the same evaluations
and rewards as the three-agent env for the same decisions, unmasked actions, errors."""

from __future__ import annotations

from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from dcoc.agents import contract
from dcoc.envs import CoDesignEnv, CoDesignJointEnv, CoDesignJointGymEnv
from dcoc.envs.codesign_joint import JOINT_AGENT, JointSpace, make_joint_codesign_env
from gymnasium.utils.env_checker import check_env

from dcoc.accel.evaluator import CachedEvaluators
from dcoc.accel.report import CostSummary
from dcoc.search.action_masks import sample_masked, split_mask

SMALL = {"workload": ("resnet18/C4", "resnet18/C5"), "reference_samples": 8, "rounds_per_layer": 2}


class LoggingEvaluator:
    """The accelerator model, every report it returns kept in order."""

    def __init__(self) -> None:
        self.base = CachedEvaluators()
        self.reports: list[CostSummary] = []

    def __call__(self, *args: Any) -> CostSummary:
        report = self.base(*args)
        self.reports.append(report)
        return report


@cache
def _env() -> CoDesignEnv:
    return CoDesignEnv(SMALL)


def _pair() -> tuple[CoDesignJointEnv, LoggingEvaluator, CoDesignEnv, LoggingEvaluator]:
    """A joint view and a three-agent env, each on its own logging evaluator (same reference:
    it is computed before the evaluator is logged)."""
    base = _env()
    log_a, log_b = LoggingEvaluator(), LoggingEvaluator()
    a = CoDesignEnv(SMALL, space=_space_with(base, log_a), reference=base.reference)
    b = CoDesignEnv(SMALL, space=_space_with(base, log_b), reference=base.reference)
    return CoDesignJointEnv(a), log_a, b, log_b


def _space_with(env: CoDesignEnv, evaluator: LoggingEvaluator) -> Any:
    from dcoc.envs.codesign_config import build_space

    return build_space(env.config, evaluator)


def test_spaces_concatenate_the_roles_and_meet_the_contract() -> None:
    env = CoDesignJointEnv(_env())
    space = env.space
    assert env.possible_agents == [JOINT_AGENT] and space.roles == ("hw", "sw_tile", "sw_order")
    inner = _env()
    nvec = [n for role in space.roles for n in inner.action_spaces[role].nvec]
    action_space = env.action_spaces[JOINT_AGENT]
    assert isinstance(action_space, gym.spaces.MultiDiscrete)
    assert action_space.nvec.tolist() == nvec
    sizes = [inner.observation_spaces[r]["observations"].shape[0] for r in space.roles]
    obs_space = env.observation_spaces[JOINT_AGENT]
    assert obs_space["observations"].shape == (max(sizes) + 3,)
    assert obs_space["global_state"].shape == (inner.global_size,)
    contract.check_agent_spaces(env.observation_spaces, env.action_spaces)
    for role in space.roles:  # a role's action round-trips through the joint action
        action = inner.action_spaces[role].sample()
        joint = space.joint_action(role, action)
        np.testing.assert_array_equal(space.role_action(role, joint), action)
        assert joint.sum() == action.sum()


def test_gymnasium_env_checker_and_registered_id() -> None:
    env = gym.make("dcoc/CoDesignJoint-v0", config=SMALL)
    assert isinstance(env.unwrapped, CoDesignJointGymEnv)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    np.testing.assert_array_equal(env.unwrapped.action_masks(), obs["action_mask"] > 0)
    env.close()


def test_rllib_env_checker_accepts_the_joint_env() -> None:
    from dcoc.agents.env_adapter import make_rllib_env
    from ray.rllib.utils.pre_checks.env import check_multiagent_environments

    env = make_rllib_env("dcoc.envs.codesign_joint:make_joint_codesign_env", SMALL)
    assert env.possible_agents == [JOINT_AGENT]
    check_multiagent_environments(env)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_masked_random_episode_matches_the_three_agent_env(seed: int) -> None:
    """Masked random joint actions: at every turn the mask is the role's in its block and
    index 0 only elsewhere, the features are the role's padded plus its one-hot; replaying the
    roles' actions on the three-agent env gives the same evaluations, rewards and infos."""
    joint, log_joint, multi, log_multi = _pair()
    space: JointSpace = joint.space
    obs_space = joint.observation_spaces[JOINT_AGENT]
    rng = np.random.default_rng(seed)
    obs, _ = joint.reset(seed=seed)
    inner_obs, _ = multi.reset(seed=seed)
    roles: list[str] = []
    done = False
    while not done:
        o = obs[JOINT_AGENT]
        assert obs_space.contains(o)
        ((role, own),) = inner_obs.items()
        assert role == joint.current_role
        roles.append(role)
        i = space.roles.index(role)
        width = len(own["observations"])
        np.testing.assert_array_equal(o["observations"][:width], own["observations"])
        assert not o["observations"][width : max(space.feature_sizes)].any()
        np.testing.assert_array_equal(o["observations"][-3:], np.eye(3, dtype=np.float32)[i])
        np.testing.assert_array_equal(o["global_state"], own["global_state"])
        for other, nvec in zip(space.roles, space.nvecs, strict=True):
            block = o["action_mask"][space.mask_slice(other)]
            if other == role:
                np.testing.assert_array_equal(block, own["action_mask"])
            else:
                assert all(b[0] == 1 and b.sum() == 1 for b in split_mask(block, nvec))
        action = sample_masked(o["action_mask"], space.nvec, rng)
        assert not np.delete(action, np.arange(len(space.nvec))[space.action_slice(role)]).any()
        obs, rewards, term, trunc, infos = joint.step({JOINT_AGENT: action})
        inner_obs, inner_rewards, inner_term, _, inner_infos = multi.step(
            {role: space.role_action(role, action)}
        )
        assert rewards == {JOINT_AGENT: inner_rewards.get(role, 0.0)}
        assert term == inner_term and not trunc["__all__"]
        done = term["__all__"]
        if inner_infos:
            assert infos[JOINT_AGENT] == next(iter(inner_infos.values()))
        else:
            assert infos == {}
    assert joint.current_role is None
    final = obs[JOINT_AGENT]
    assert obs_space.contains(final) and final["action_mask"].all()
    rounds = multi.num_layers * multi.rounds
    assert roles in (["hw"], ["hw"] + ["sw_tile", "sw_order"] * rounds)
    assert len(log_joint.reports) == len(log_multi.reports) == roles.count("sw_order")
    assert log_joint.reports == log_multi.reports
    design_a, design_b = joint.unwrapped.episode_design, multi.episode_design
    assert design_a == design_b


def test_unmasked_actions_do_not_crash() -> None:
    """RLlib's checker and exploration can send any in-range joint action: the other roles'
    sub-actions are ignored, masked ones of the acting role are invalid designs."""
    env = make_joint_codesign_env(SMALL)
    action_space = env.action_spaces[JOINT_AGENT]
    action_space.seed(0)
    for seed in range(3):
        env.reset(seed=seed)
        steps, done = 0, False
        while not done:
            _, rewards, term, _, _ = env.step({JOINT_AGENT: action_space.sample()})
            assert np.isfinite(rewards[JOINT_AGENT])
            done, steps = term["__all__"], steps + 1
        assert steps <= 1 + 2 * 2 * 2


def test_step_errors_name_the_fix() -> None:
    env = CoDesignJointEnv(_env())
    env.reset(seed=0)
    with pytest.raises(ValueError, match="joint"):
        env.step({"hw": np.zeros(len(env.space.nvecs[0]), np.int64)})
    largest = np.asarray(env.space.nvec) - 1  # the largest hardware is over the area budget
    _, rewards, term, _, infos = env.step({JOINT_AGENT: largest})
    assert term["__all__"] and rewards[JOINT_AGENT] == env.unwrapped.config.invalid_reward
    assert infos[JOINT_AGENT]["dcoc"]["valid"] == 0.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step({JOINT_AGENT: largest})
