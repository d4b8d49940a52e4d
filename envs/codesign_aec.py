"""PettingZoo AEC view of :class:`~dcoc.envs.codesign.CoDesignEnv` (agents act in turns).

The env, rewards and episode are the co-design env's. PettingZoo's conventions differ in two
places: an observation is ``Dict(observations, global_state)`` and the action mask travels in
``infos[agent]["action_mask"]`` as a tuple of ``int8`` arrays, one per sub-action, which is what
``MultiDiscrete.sample(mask)`` takes (the flat float mask of the dict protocol cannot be used
there). When the episode ends every agent is terminated, even the ones that never acted (a
hardware choice over budget ends the episode at once).

Version History
    v0: first version.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from dcoc.envs.codesign import CoDesignEnv
from dcoc.envs.codesign_config import CoDesignEnvConfig
from dcoc.envs.protocol import ALL_DONE, ObsKey
from pettingzoo import AECEnv

from dcoc.search.action_masks import split_mask

AECObs = dict[str, np.ndarray]
MASK_INFO_KEY = "action_mask"


class CoDesignAECEnv(AECEnv[str, AECObs, np.ndarray]):
    """The co-design env under PettingZoo's AEC API."""

    metadata: ClassVar[dict[str, Any]] = {
        "render_modes": [],
        "name": "dcoc_codesign_v0",
        "is_parallelizable": False,
    }

    def __init__(
        self,
        config: CoDesignEnvConfig | Mapping[str, Any] | None = None,
        *,
        env: CoDesignEnv | None = None,
    ) -> None:
        super().__init__()
        self.codesign = env or CoDesignEnv(config)
        self.possible_agents = list(self.codesign.possible_agents)
        self.agents = list(self.possible_agents)
        self.observation_spaces = {}
        for agent in self.possible_agents:
            space = self.codesign.observation_spaces[agent]
            assert isinstance(space, gym.spaces.Dict)
            self.observation_spaces[agent] = gym.spaces.Dict(
                {k: space[k] for k in (ObsKey.OBSERVATIONS.value, ObsKey.GLOBAL_STATE.value)}
            )
        self.action_spaces = dict(self.codesign.action_spaces)
        self.rewards: dict[str, float] = {}
        self._cumulative_rewards: dict[str, float] = {}
        self.terminations: dict[str, bool] = {}
        self.truncations: dict[str, bool] = {}
        self.infos: dict[str, dict[str, Any]] = {}
        self.agent_selection = self.possible_agents[0]

    def observation_space(self, agent: str) -> gym.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.action_spaces[agent]

    def observe(self, agent: str) -> AECObs:
        obs = self.codesign.observe(agent)
        return {k: obs[k] for k in (ObsKey.OBSERVATIONS.value, ObsKey.GLOBAL_STATE.value)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        obs, _ = self.codesign.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {agent: {} for agent in self.agents}
        self._select(obs)

    def _select(self, obs: Mapping[str, Mapping[str, np.ndarray]]) -> None:
        ((agent, o),) = obs.items()
        self.agent_selection = agent
        space = self.action_spaces[agent]
        assert isinstance(space, gym.spaces.MultiDiscrete)
        blocks = split_mask(np.asarray(o[ObsKey.ACTION_MASK.value]), space.nvec.tolist())
        self.infos[agent] = {
            **self.infos[agent],
            MASK_INFO_KEY: tuple(b.astype(np.int8) for b in blocks),
        }

    def step(self, action: np.ndarray | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        obs, rewards, terminated, truncated, infos = self.codesign.step({agent: action})
        self.rewards = {a: float(rewards.get(a, 0.0)) for a in self.agents}
        for a, info in infos.items():
            self.infos[a] = dict(info)
        if terminated[ALL_DONE] or truncated[ALL_DONE]:
            for a in self.agents:
                self.terminations[a] = bool(terminated[ALL_DONE])
                self.truncations[a] = bool(truncated[ALL_DONE])
            self.agent_selection = self.agents[0]
        else:
            self._select(obs)
        self._accumulate_rewards()
