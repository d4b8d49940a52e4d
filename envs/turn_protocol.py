"""What every turn-based dcoc env does the same way under the dict protocol
(:mod:`dcoc.envs.protocol`): its agents' observation spaces, the single-agent view of one
agent's observation, and taking the action of the agent whose turn it is.

Used by :class:`~dcoc.envs.codesign.CoDesignEnv` and
:class:`~dcoc.envs.cpu_schedule.CpuScheduleEnv` and by their single-agent views.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from dcoc.envs.protocol import AgentId, ObsKey

FEATURE_LIMIT = 10.0
"""Observation features (and the rewards fed back as features) lie in ``[-10, 10]``."""

SingleObs = dict[str, np.ndarray]
"""A single-agent view's observation: ``{observations, action_mask}``."""

_SINGLE_KEYS = (ObsKey.OBSERVATIONS.value, ObsKey.ACTION_MASK.value)


def feature_box(n: int, low: float = -FEATURE_LIMIT, high: float = FEATURE_LIMIT) -> gym.spaces.Box:
    """A float32 ``Box`` of ``n`` features in ``[low, high]``."""
    return gym.spaces.Box(low, high, (n,), np.float32)


def agent_observation_space(features: int, mask_size: int, global_size: int) -> gym.spaces.Dict:
    """One agent's ``Dict(observations, action_mask, global_state)`` space."""
    return gym.spaces.Dict(
        {
            ObsKey.OBSERVATIONS.value: feature_box(features),
            ObsKey.ACTION_MASK.value: feature_box(mask_size, 0.0, 1.0),
            ObsKey.GLOBAL_STATE.value: feature_box(global_size),
        }
    )


def single_agent_space(space: gym.Space) -> gym.spaces.Dict:
    """The single-agent view of an agent's observation space: the centralized
    ``global_state`` dropped."""
    assert isinstance(space, gym.spaces.Dict)
    return gym.spaces.Dict({k: space[k] for k in _SINGLE_KEYS})


def single_agent_observation(obs: Mapping[str, np.ndarray]) -> SingleObs:
    """The single-agent view of one agent's observation (see :func:`single_agent_space`)."""
    return {k: obs[k] for k in _SINGLE_KEYS}


def turn_action(turn: AgentId | None, action_dict: Mapping[str, Any]) -> np.ndarray:
    """The int64 action of ``turn``, the agent whose turn it is, from a ``step`` call's
    ``action_dict``; raises if the episode has ended or another agent's action is given."""
    if turn is None:
        raise RuntimeError("the episode has ended; call reset()")
    if set(action_dict) != {turn.value}:
        raise ValueError(f"expected an action of {turn.value!r}, got {sorted(action_dict)}")
    return np.asarray(action_dict[turn.value], dtype=np.int64).reshape(-1)
