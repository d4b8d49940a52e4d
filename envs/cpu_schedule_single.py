"""``CpuTilingEnv``: the tiling agent of :class:`~dcoc.envs.cpu_schedule.CpuScheduleEnv` alone,
as a single-agent Gymnasium env (``dcoc/CpuSchedule-v0``), with a fixed ``sw_order`` action.

Action Space
    ``sw_tile``'s ``MultiDiscrete`` of the multi-agent env: one index per tiling slot.

Observation Space
    ``Dict(observations, action_mask)``: ``sw_tile``'s features and mask in the multi-agent env
    (the centralized ``global_state`` is dropped).

Rewards
    The multi-agent env's: ``log(reference_latency_s / latency_s)`` of the measured candidate,
    ``invalid_reward`` if it fails.

Episode End
    After ``candidates_per_episode`` steps (one measured candidate each). Never truncated.

Fixed ordering
    ``order_action`` (default: the first sketch with its own unroll decision, the reference
    point's order). Measured latencies vary from run to run, so the env is registered as
    ``nondeterministic``.

Version History
    v0: first version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from dcoc.envs.cpu_schedule import CpuScheduleEnv
from dcoc.envs.cpu_schedule_config import CpuScheduleEnvConfig
from dcoc.envs.cpu_schedule_measure import ScheduleEvaluator
from dcoc.envs.protocol import ALL_DONE, AgentId, ObsKey
from dcoc.envs.turn_protocol import SingleObs, single_agent_observation, single_agent_space


class CpuTilingEnv(gym.Env[SingleObs, np.ndarray]):
    """The tiling role alone; ``sw_order`` plays ``order_action`` every candidate."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}  # type: ignore[misc]

    def __init__(
        self,
        config: CpuScheduleEnvConfig | Mapping[str, Any] | None = None,
        *,
        order_action: Sequence[int] | None = None,
        evaluator: ScheduleEvaluator | None = None,
    ) -> None:
        self.multi = CpuScheduleEnv(config, evaluator=evaluator)
        self.observation_space = single_agent_space(
            self.multi.observation_spaces[AgentId.SW_TILE.value]
        )
        self.action_space = self.multi.action_spaces[AgentId.SW_TILE.value]
        sp = self.multi.space
        order = (
            np.asarray(order_action, np.int64)
            if order_action is not None
            else sp.default_order_action()
        )
        if not sp.order_allows(order):
            raise ValueError(
                f"order_action {order.tolist()} is not legal: sub-actions "
                f"{[s.name for s in sp.order_slots]} have "
                f"{[len(s.choices) for s in sp.order_slots]} values"
            )
        self.order_action = order
        self._obs: SingleObs = {}
        self._done = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[SingleObs, dict[str, Any]]:
        super().reset(seed=seed)
        obs, _ = self.multi.reset(seed=seed)
        self._obs, self._done = single_agent_observation(obs[AgentId.SW_TILE.value]), False
        return self._obs, {}

    def step(self, action: np.ndarray) -> tuple[SingleObs, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("the episode has ended; call reset()")
        self.multi.step({AgentId.SW_TILE.value: np.asarray(action)})
        obs, rewards, terminated, _, infos = self.multi.step(
            {AgentId.SW_ORDER.value: self.order_action}
        )
        self._done = bool(terminated[ALL_DONE])
        self._obs = single_agent_observation(obs[AgentId.SW_TILE.value])
        info = dict(infos[AgentId.SW_TILE.value])
        return self._obs, float(rewards[AgentId.SW_TILE.value]), self._done, False, info

    def action_masks(self) -> np.ndarray:
        """The current action mask (sb3-contrib's ``MaskablePPO`` convention)."""
        return np.asarray(self._obs[ObsKey.ACTION_MASK.value]).astype(bool)

    def close(self) -> None:
        self.multi.close()
