"""``CoDesignJointEnv``: the turn-based co-design env seen by ONE agent that takes every
decision (hardware, then each layer's tiling and order), for single-agent PPO over the joint
space (``python -m dcoc.search --method ppo``).

The view wraps any turn-based env of the dict protocol whose agents act one at a time
(:class:`~dcoc.envs.codesign.CoDesignEnv`, or the recorded env of ``dcoc.experiment``) and
forwards every decision to it unchanged, so the wrapped env evaluates, rewards and records
exactly as it does for three agents. It follows the dict protocol itself with the one agent
``joint`` (:data:`JOINT_AGENT`), which is what ``dcoc.agents`` trains; :class:`CoDesignJointGymEnv`
is the same view as a single-agent Gymnasium env (``dcoc/CoDesignJoint-v0``).

Action Space
    ``MultiDiscrete(hw nvec + sw_tile nvec + sw_order nvec)``: every role's sub-actions
    concatenated in turn order. A step uses the sub-actions of the role whose turn it is
    (:attr:`CoDesignJointEnv.current_role`) and ignores the others.

Observation Space
    ``Dict(observations=Box(-10, 10, (f + r,)), action_mask=Box(0, 1, (sum(nvec),)),
    global_state=Box(-10, 10, (g,)))`` with ``f`` the longest role feature vector and ``r`` the
    number of roles: the current role's features zero-padded to ``f`` followed by a one-hot of
    the role; the role's own mask in its block of the mask and, in every other role's block,
    only index 0 allowed per sub-action (so a masked policy puts probability 1 there and the
    log-probability and entropy of a joint action are those of the role's action); the wrapped
    env's ``global_state`` (unused by single-agent PPO, kept for the dict-protocol contract).

Rewards
    The wrapped env's team reward: what it gives the role that acted (the co-design env gives
    every agent the same reward after each round; an over-budget hardware choice rewards
    ``hw`` alone). 0 when that role gets none.

Episode End
    When the wrapped env's episode ends (co-design: ``1 + 2 x layers x rounds`` steps, or one
    after an over-budget hardware choice). The final observation is the last role's, with an
    all-ones mask; ``infos["joint"]`` is the wrapped env's info of the role that observes next
    (at the end, of the role that acted).

Version History
    v0: first version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import gymnasium as gym
import numpy as np
from dcoc.envs.codesign import CoDesignEnv
from dcoc.envs.codesign_config import CoDesignEnvConfig
from dcoc.envs.protocol import ALL_DONE, ObsKey
from dcoc.envs.turn_protocol import (
    SingleObs,
    agent_observation_space,
    single_agent_observation,
    single_agent_space,
)

JOINT_AGENT = "joint"
"""The one agent (and module) id of the joint view."""


class TurnBasedEnv(Protocol):
    """A dict-protocol env whose ``obs`` holds the one agent that acts next."""

    possible_agents: list[str]
    observation_spaces: dict[str, gym.Space]
    action_spaces: dict[str, gym.Space]

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def step(self, action_dict: Mapping[str, Any]) -> tuple[dict[str, Any], ...]: ...

    def close(self) -> None: ...


def _size(space: gym.Space) -> int:
    """Length of a 1-D ``Box``."""
    shape = space.shape
    assert shape is not None and len(shape) == 1
    return int(shape[0])


def _first_only(nvec: Sequence[int]) -> np.ndarray:
    """Mask admitting index 0 only in every sub-action.  # [sum(nvec)]"""
    out = np.zeros(int(sum(nvec)), np.float32)
    out[np.concatenate([[0], np.cumsum(nvec)[:-1]]).astype(int)] = 1.0
    return out


@dataclass(frozen=True)
class JointSpace:
    """The joint encoding of per-role observations and actions (no env state): the joint view
    uses it, and so does whatever asks the joint policy for one role's decision (the
    proposal phase of ``dcoc.experiment``)."""

    roles: tuple[str, ...]
    """Role ids in turn order (their blocks in the joint action, in this order)."""
    feature_sizes: tuple[int, ...]
    nvecs: tuple[tuple[int, ...], ...]
    global_size: int

    @classmethod
    def of(cls, env: TurnBasedEnv) -> JointSpace:
        """The joint space of ``env``'s agents (roles in ``possible_agents`` order)."""
        roles = tuple(str(a) for a in env.possible_agents)
        features, nvecs, globals_ = [], [], set()
        for role in roles:
            obs_space = env.observation_spaces[role]
            action_space = env.action_spaces[role]
            assert isinstance(obs_space, gym.spaces.Dict)
            if not isinstance(action_space, gym.spaces.MultiDiscrete):
                raise ValueError(f"role {role!r}: expected a MultiDiscrete action space")
            features.append(_size(obs_space[ObsKey.OBSERVATIONS.value]))
            nvecs.append(tuple(int(n) for n in action_space.nvec))
            globals_.add(_size(obs_space[ObsKey.GLOBAL_STATE.value]))
        if len(globals_) != 1:
            raise ValueError(f"roles' global states differ in size: {sorted(globals_)}")
        return cls(roles, tuple(features), tuple(nvecs), globals_.pop())

    @property
    def nvec(self) -> tuple[int, ...]:
        """Every role's sub-action sizes, concatenated in turn order."""
        return tuple(n for nvec in self.nvecs for n in nvec)

    @property
    def feature_size(self) -> int:
        return max(self.feature_sizes) + len(self.roles)

    @property
    def action_space(self) -> gym.spaces.MultiDiscrete:
        return gym.spaces.MultiDiscrete(list(self.nvec))

    @property
    def observation_space(self) -> gym.spaces.Dict:
        return agent_observation_space(self.feature_size, int(sum(self.nvec)), self.global_size)

    def action_slice(self, role: str) -> slice:
        """The role's sub-actions in a joint action."""
        i = self.roles.index(role)
        start = sum(len(n) for n in self.nvecs[:i])
        return slice(start, start + len(self.nvecs[i]))

    def mask_slice(self, role: str) -> slice:
        """The role's block in a joint mask."""
        i = self.roles.index(role)
        start = sum(sum(n) for n in self.nvecs[:i])
        return slice(start, start + sum(self.nvecs[i]))

    def observation(
        self, role: str, obs: Mapping[str, np.ndarray], *, final: bool = False
    ) -> dict[str, np.ndarray]:
        """The joint observation when ``role`` acts and observes ``obs`` (its own Dict
        observation); ``final``: the episode's last observation (all-ones mask)."""
        i = self.roles.index(role)
        features = np.zeros(self.feature_size, np.float32)
        own = np.asarray(obs[ObsKey.OBSERVATIONS.value], np.float32)
        features[: len(own)] = own
        features[max(self.feature_sizes) + i] = 1.0
        if final:
            mask = np.ones(int(sum(self.nvec)), np.float32)
        else:
            mask = _first_only(self.nvec)
            mask[self.mask_slice(role)] = np.asarray(obs[ObsKey.ACTION_MASK.value], np.float32)
        return {
            ObsKey.OBSERVATIONS.value: features,
            ObsKey.ACTION_MASK.value: mask,
            ObsKey.GLOBAL_STATE.value: np.asarray(obs[ObsKey.GLOBAL_STATE.value], np.float32),
        }

    def role_action(self, role: str, joint_action: Any) -> np.ndarray:
        """The role's sub-actions of a joint action ``[..., len(nvec)]`` (int64)."""
        return np.asarray(joint_action, np.int64)[..., self.action_slice(role)].copy()

    def joint_action(self, role: str, action: Any) -> np.ndarray:
        """The joint action that takes ``role``'s ``action`` (index 0 elsewhere)."""
        out = np.zeros(len(self.nvec), np.int64)
        out[self.action_slice(role)] = np.asarray(action, np.int64).reshape(-1)
        return out


class CoDesignJointEnv:
    """One agent, ``joint``, takes every decision of a turn-based env (see the module
    docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, env: TurnBasedEnv) -> None:
        self.env = env
        self.space = JointSpace.of(env)
        self.possible_agents = [JOINT_AGENT]
        self.agents = [JOINT_AGENT]
        self.observation_spaces: dict[str, gym.Space] = {JOINT_AGENT: self.space.observation_space}
        self.action_spaces: dict[str, gym.Space] = {JOINT_AGENT: self.space.action_space}
        self._role: str | None = None

    @property
    def current_role(self) -> str | None:
        """The role whose decision the next ``step`` takes (``None`` after the end)."""
        return self._role

    @property
    def unwrapped(self) -> Any:
        """The innermost env (e.g. the :class:`CoDesignEnv`)."""
        return getattr(self.env, "unwrapped", self.env)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        ((role, own),) = obs.items()
        self._role = str(role)
        joint_infos = {JOINT_AGENT: infos[role]} if role in infos else {}
        return {JOINT_AGENT: self.space.observation(self._role, own)}, joint_infos

    def step(self, action_dict: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        role = self._role
        if role is None:
            raise RuntimeError("the episode has ended; call reset()")
        if set(action_dict) != {JOINT_AGENT}:
            raise ValueError(f"expected an action of {JOINT_AGENT!r}, got {sorted(action_dict)}")
        joint = np.asarray(action_dict[JOINT_AGENT], np.int64).reshape(-1)
        obs, rewards, terminateds, truncateds, infos = self.env.step(
            {role: self.space.role_action(role, joint)}
        )
        done = bool(terminateds.get(ALL_DONE, False) or truncateds.get(ALL_DONE, False))
        if done:
            self._role = None
            observer = role if role in obs else str(next(iter(obs)))
            out = self.space.observation(observer, obs[observer], final=True)
        else:
            ((next_role, own),) = obs.items()
            self._role = observer = str(next_role)
            out = self.space.observation(observer, own)
        info = infos.get(observer, next(iter(infos.values()), None))
        return (
            {JOINT_AGENT: out},
            {JOINT_AGENT: float(rewards.get(role, 0.0))},
            {ALL_DONE: bool(terminateds.get(ALL_DONE, False))},
            {ALL_DONE: bool(truncateds.get(ALL_DONE, False))},
            {JOINT_AGENT: info} if info is not None else {},
        )

    def close(self) -> None:
        self.env.close()


def make_joint_codesign_env(env_config: Mapping[str, Any] | None = None) -> CoDesignJointEnv:
    """Factory ``env_config -> CoDesignJointEnv`` over a :class:`CoDesignEnv` (for
    ``dcoc.agents``: ``"dcoc.envs.codesign_joint:make_joint_codesign_env"``)."""
    return CoDesignJointEnv(CoDesignEnv(CoDesignEnvConfig.from_mapping(env_config)))


class CoDesignJointGymEnv(gym.Env[SingleObs, np.ndarray]):
    """:class:`CoDesignJointEnv` over a :class:`CoDesignEnv` as a single-agent Gymnasium env
    (``dcoc/CoDesignJoint-v0``): ``Dict(observations, action_mask)`` observations (the
    ``global_state`` dropped), the joint ``MultiDiscrete`` action."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's own attribute)

    def __init__(self, config: CoDesignEnvConfig | Mapping[str, Any] | None = None) -> None:
        self.joint = CoDesignJointEnv(CoDesignEnv(config))
        self.observation_space = single_agent_space(self.joint.observation_spaces[JOINT_AGENT])
        self.action_space = self.joint.action_spaces[JOINT_AGENT]
        self._obs: dict[str, np.ndarray] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[SingleObs, dict[str, Any]]:
        super().reset(seed=seed)
        obs, infos = self.joint.reset(seed=seed, options=options)
        self._obs = obs[JOINT_AGENT]
        return single_agent_observation(self._obs), dict(infos.get(JOINT_AGENT, {}))

    def step(self, action: np.ndarray) -> tuple[SingleObs, float, bool, bool, dict[str, Any]]:
        obs, rewards, terminateds, truncateds, infos = self.joint.step({JOINT_AGENT: action})
        self._obs = obs[JOINT_AGENT]
        return (
            single_agent_observation(self._obs),
            float(rewards[JOINT_AGENT]),
            bool(terminateds[ALL_DONE]),
            bool(truncateds[ALL_DONE]),
            dict(infos.get(JOINT_AGENT, {})),
        )

    def action_masks(self) -> np.ndarray:
        """The current action mask (sb3-contrib's ``MaskablePPO`` convention)."""
        return np.asarray(self._obs[ObsKey.ACTION_MASK.value]).astype(bool)
