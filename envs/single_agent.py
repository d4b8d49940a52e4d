"""Single-agent Gymnasium views of :class:`~dcoc.envs.codesign.CoDesignEnv`: one role learns,
fixed policies play the other two. Each wraps the multi-agent env, so the reward, masks and
model are exactly the co-design env's.

Action Space
    The learning role's ``MultiDiscrete`` of the co-design env.

Observation Space
    ``Dict(observations, action_mask)``: the role's own features and mask in the co-design env
    (the centralized ``global_state`` is dropped).

Rewards
    The co-design env's team reward of the steps the role's action leads to (summed).

Episode End
    ``HardwareEnv``: after one step (the software of every layer is then played to the end).
    ``TilingEnv`` and ``OrderEnv``: after ``layers x rounds`` steps. Never truncated.

Fixed policies
    * hardware (``TilingEnv``, ``OrderEnv``): the knob indices ``hw_action`` (default: the
      template's own configuration);
    * software (``HardwareEnv``): per layer the best of ``software_samples`` masked random
      (tile, order) actions on the chosen hardware, drawn from the co-design env's generator
      (``config.seed``, reseeded by ``reset(seed=...)``);
    * ordering (``TilingEnv``): :meth:`CoDesignSpace.default_order_action` (first distinct
      permutation per level, keep free pairs greedily while they fit);
    * tiling (``OrderEnv``): per layer the tiling of the best of ``software_samples`` masked
      random actions on the fixed hardware (seeded by ``reference_seed``, computed once).

Version History
    v0: first version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from dcoc.envs.codesign import CoDesignEnv
from dcoc.envs.codesign_config import CoDesignEnvConfig
from dcoc.envs.protocol import ALL_DONE, AgentId, ObsKey
from dcoc.envs.turn_protocol import SingleObs, single_agent_observation, single_agent_space


class _RoleEnv(gym.Env[SingleObs, np.ndarray]):
    """Shared machinery: drive the co-design env, let ``role`` act, play the others."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's own attribute)
    role: ClassVar[AgentId]

    def __init__(
        self,
        config: CoDesignEnvConfig | Mapping[str, Any] | None = None,
        *,
        hw_action: Sequence[int] | None = None,
        software_samples: int = 16,
    ) -> None:
        self.codesign = CoDesignEnv(config)
        space = single_agent_space(self.codesign.observation_spaces[self.role.value])
        self.observation_space = space
        self._obs_size = space[ObsKey.OBSERVATIONS.value].shape
        self._mask_size = space[ObsKey.ACTION_MASK.value].shape
        self.action_space = self.codesign.action_spaces[self.role.value]
        sp = self.codesign.space
        self.hw_action = tuple(hw_action) if hw_action is not None else sp.default_hw_action()
        self.software_samples = software_samples
        self._obs: dict[str, Any] = {}
        self._done = True

    def _fixed_action(self, agent: str) -> np.ndarray:
        raise NotImplementedError

    def _advance(self, action_dict: Mapping[str, Any]) -> tuple[float, bool, dict[str, Any]]:
        """Step with ``action_dict``, then play the fixed roles until ``role`` must act or the
        episode ends. Returns the reward summed over those steps, done, the last infos."""
        total, infos = 0.0, {}
        obs, rewards, terminated, _, infos = self.codesign.step(action_dict)
        total += rewards.get(self.role.value, 0.0)
        while not terminated[ALL_DONE] and self.role.value not in obs:
            ((agent, _),) = obs.items()
            obs, rewards, terminated, _, infos = self.codesign.step(
                {agent: self._fixed_action(agent)}
            )
            total += rewards.get(self.role.value, 0.0)
        self._obs = obs
        self._done = bool(terminated[ALL_DONE])
        return total, self._done, infos

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[SingleObs, dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self.codesign.reset(seed=seed)
        self._obs, self._done = obs, False
        if self.role.value not in obs:
            self._advance({AgentId.HW.value: np.asarray(self.hw_action)})
        return single_agent_observation(self._obs[self.role.value]), {}

    def step(self, action: np.ndarray) -> tuple[SingleObs, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode has ended; call reset()")
        reward, done, infos = self._advance({self.role.value: np.asarray(action)})
        obs = self._obs.get(self.role.value)
        if obs is None:  # ended before the role's turn came back
            obs = {
                ObsKey.OBSERVATIONS.value: np.zeros(self._obs_size, np.float32),
                ObsKey.ACTION_MASK.value: np.ones(self._mask_size, np.float32),
            }
        info: Mapping[str, Any] = next(iter(infos.values()), {}) if infos else {}
        return single_agent_observation(obs), float(reward), done, False, dict(info)

    def action_masks(self) -> np.ndarray:
        """The current action mask (sb3-contrib's ``MaskablePPO`` convention)."""
        return np.asarray(self._obs[self.role.value][ObsKey.ACTION_MASK.value]).astype(bool)


class HardwareEnv(_RoleEnv):
    """The hardware role alone; every layer's software is a seeded quick random search."""

    role = AgentId.HW

    def _fixed_action(self, agent: str) -> np.ndarray:
        env = self.codesign
        ctx = env.hardware_context
        assert ctx is not None
        li = env.layer_index
        if agent == AgentId.SW_TILE:
            best = env.space.random_search(
                ctx,
                li,
                env.np_random,
                self.software_samples,
                env.config.objective,
            )
            if best is None:
                tile, order = env.space.sample_layer_actions(ctx, li, env.np_random)
                self._pending_order = order
                return tile
            self._pending_order = np.asarray(best.order_action)
            return np.asarray(best.tile_action)
        return self._pending_order


class TilingEnv(_RoleEnv):
    """The tiling role alone on fixed hardware, with the heuristic ordering."""

    role = AgentId.SW_TILE

    def _fixed_action(self, agent: str) -> np.ndarray:
        env = self.codesign
        ctx, factors = env.hardware_context, env.tile_factors
        assert ctx is not None
        if factors is None:  # the tiling was masked out: any in-range order
            return np.zeros(len(env.space.order_nvec), np.int64)
        return env.space.default_order_action(ctx, env.layer_index, factors)


class OrderEnv(_RoleEnv):
    """The ordering/bypass role alone on fixed hardware with fixed tilings."""

    role = AgentId.SW_ORDER

    def __init__(
        self,
        config: CoDesignEnvConfig | Mapping[str, Any] | None = None,
        *,
        hw_action: Sequence[int] | None = None,
        software_samples: int = 16,
    ) -> None:
        super().__init__(config, hw_action=hw_action, software_samples=software_samples)
        env = self.codesign
        sp = env.space
        ctx = sp.hardware_context(self.hw_action)
        rng = np.random.default_rng(env.config.reference_seed)
        objective = env.config.objective
        tiles = []
        for li in range(len(sp.layers)):
            best = sp.random_search(ctx, li, rng, software_samples, objective)
            tile = best.tile_action if best else sp.sample_layer_actions(ctx, li, rng)[0]
            tiles.append(np.asarray(tile, np.int64))
        self.tiles = tuple(tiles)

    def _fixed_action(self, agent: str) -> np.ndarray:
        return self.tiles[self.codesign.layer_index]
