"""The contract between a dcoc multi-agent environment and the RLlib glue.

Every agent's observation is a ``gymnasium.spaces.Dict`` with three keys (:class:`ObsKey`):

* ``observations``: ``Box(float32, (n,))``, what the actor of that agent sees;
* ``action_mask``: ``Box(0, 1, (m,))`` with ``m = n`` for ``Discrete(n)`` actions and
  ``m = sum(nvec)`` for ``MultiDiscrete(nvec)`` actions (one 0/1 block per sub-action,
  concatenated in ``nvec`` order; each block has at least one 1);
* ``global_state``: ``Box(float32, (g,))``, the same space for every agent. Only the learner-side
  centralized critic reads it; actor modules drop it before their networks see anything.

Agents act in turns (:data:`TURN_ORDER`); see ``agents/README.md`` for the full contract. The
protocol's names (:class:`ObsKey`, :class:`AgentId`, :data:`TURN_ORDER`, :data:`INFO_KEY`) are
defined once, ray-free, in :mod:`dcoc.envs.protocol` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping

import gymnasium as gym
import numpy as np
from dcoc.envs.protocol import INFO_KEY, TURN_ORDER, AgentId, ObsKey

__all__ = [
    "CRITIC_MODULE_ID",
    "INFO_KEY",
    "TURN_ORDER",
    "AgentId",
    "ObsKey",
    "check_agent_spaces",
    "mask_size",
    "sub_action_sizes",
]


CRITIC_MODULE_ID = "central_critic"
"""Module id of the learner-only shared critic inside the centralized MultiRLModule."""


def mask_size(action_space: gym.Space) -> int:
    """Length of the 0/1 action mask for ``action_space`` (Discrete or MultiDiscrete)."""
    if isinstance(action_space, gym.spaces.Discrete):
        return int(action_space.n)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        if action_space.nvec.ndim != 1:
            raise ValueError(f"MultiDiscrete action spaces must be 1-D, got {action_space.nvec}")
        return int(np.sum(action_space.nvec))
    raise ValueError(
        f"action space {action_space} is not supported: use Discrete or 1-D MultiDiscrete"
    )


def sub_action_sizes(action_space: gym.Space) -> list[int]:
    """Number of choices of each sub-action: ``[n]`` for Discrete, ``nvec`` for MultiDiscrete."""
    if isinstance(action_space, gym.spaces.Discrete):
        return [int(action_space.n)]
    mask_size(action_space)  # raises for unsupported spaces
    assert isinstance(action_space, gym.spaces.MultiDiscrete)
    return [int(v) for v in action_space.nvec]


def check_agent_spaces(
    observation_spaces: Mapping[str, gym.Space], action_spaces: Mapping[str, gym.Space]
) -> None:
    """Raise ``ValueError`` naming the agent and the fix when the spaces break the contract."""
    if set(observation_spaces) != set(action_spaces):
        raise ValueError(
            f"observation agents {sorted(observation_spaces)} differ from action agents "
            f"{sorted(action_spaces)}"
        )
    global_shapes: set[tuple[int, ...]] = set()
    for agent, obs_space in observation_spaces.items():
        if not isinstance(obs_space, gym.spaces.Dict):
            raise ValueError(
                f"agent {agent!r}: observation space must be a Dict with keys "
                f"{[k.value for k in ObsKey]}, got {obs_space}"
            )
        missing = [k.value for k in ObsKey if k.value not in obs_space.spaces]
        if missing:
            raise ValueError(f"agent {agent!r}: observation Dict lacks keys {missing}")
        for key in ObsKey:
            space = obs_space[key.value]
            if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
                raise ValueError(f"agent {agent!r}: {key.value} must be a 1-D Box, got {space}")
        expected = mask_size(action_spaces[agent])
        mask_shape = obs_space[ObsKey.ACTION_MASK.value].shape
        global_shape = obs_space[ObsKey.GLOBAL_STATE.value].shape
        assert mask_shape is not None and global_shape is not None
        got = mask_shape[0]
        if got != expected:
            raise ValueError(
                f"agent {agent!r}: action_mask has {got} entries, the action space "
                f"{action_spaces[agent]} needs {expected}"
            )
        global_shapes.add(global_shape)
    if len(global_shapes) > 1:
        raise ValueError(f"global_state must have one shape for all agents, got {global_shapes}")
