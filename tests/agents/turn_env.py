"""A small turn-based three-agent env with masks, a global state and a known optimum.

It follows the dict protocol that ``dcoc.envs`` environments follow (no ray import), so the
tests exercise ``dcoc.agents.env_adapter`` too.

Action Space
    ``hw``: Discrete(4), action 3 always masked (an "over-budget" configuration).
    ``sw_tile``: MultiDiscrete([4, 3]); sub-action 0 may not exceed the hw action, sub-action 1
    never takes 2.
    ``sw_order``: Discrete(3); order 2 is masked when ``sw_tile[1] == 0``.

Observation Space
    Dict(observations, action_mask, global_state) per agent. ``hw`` sees the round one-hot and
    the previous round's reward; ``sw_tile`` the round and hw's action; ``sw_order`` the round,
    hw's action and both tile sub-actions. ``global_state`` (critic only) is the round and turn
    one-hots plus every action chosen so far in the round.

Rewards
    After ``sw_order`` acts, all three agents get the round score
    ``0.4 [hw = 2] + 0.2 [tile0 = hw] + 0.2 [tile1 = 1] + 0.2 [order = (hw + tile0) mod 3]``,
    or 0 if any agent chose a masked action. The optimum (2, (2, 1), 1) scores 1 per round, so
    the optimal episode return is ``3 * num_rounds`` summed over agents; uniformly random valid
    actions score ``random_round_score()`` per round in expectation.

Episode End
    After ``num_rounds`` rounds (terminated). Infos carry ``{"dcoc": {"score", "best_score",
    "invalid_rounds"}}`` (rounds so far in which some agent chose a masked action).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

HW, SW_TILE, SW_ORDER = "hw", "sw_tile", "sw_order"
AGENTS = (HW, SW_TILE, SW_ORDER)
OPTIMUM = {HW: 2, SW_TILE: (2, 1), SW_ORDER: 1}


def _one_hot(index: int | None, size: int) -> np.ndarray:
    out = np.zeros(size, dtype=np.float32)
    if index is not None:
        out[index] = 1.0
    return out


def _obs_space(n_obs: int, n_mask: int, n_global: int) -> gym.spaces.Dict:
    return gym.spaces.Dict(
        {
            "observations": gym.spaces.Box(0.0, 1.0, (n_obs,), np.float32),
            "action_mask": gym.spaces.Box(0.0, 1.0, (n_mask,), np.float32),
            "global_state": gym.spaces.Box(0.0, 1.0, (n_global,), np.float32),
        }
    )


class TurnEnv:
    """Three agents acting in turns (hw, sw_tile, sw_order) for ``num_rounds`` rounds."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.num_rounds = int((config or {}).get("num_rounds", 2))
        n_round = self.num_rounds
        self.global_size = n_round + 3 + 4 + 4 + 3 + 3
        self.possible_agents = list(AGENTS)
        self.agents = list(AGENTS)
        self.action_spaces: dict[str, gym.Space] = {
            HW: gym.spaces.Discrete(4),
            SW_TILE: gym.spaces.MultiDiscrete([4, 3]),
            SW_ORDER: gym.spaces.Discrete(3),
        }
        self.observation_spaces: dict[str, gym.Space] = {
            HW: _obs_space(n_round + 1, 4, self.global_size),
            SW_TILE: _obs_space(n_round + 4, 7, self.global_size),
            SW_ORDER: _obs_space(n_round + 4 + 4 + 3, 3, self.global_size),
        }
        self._round = 0
        self._hw: int | None = None
        self._tile: tuple[int, int] | None = None
        self._valid = True
        self._last_score = 0.0
        self._best_score = 0.0
        self._invalid_rounds = 0

    # -- masks ----------------------------------------------------------------------------
    def action_mask(self, agent: str) -> np.ndarray:
        if agent == HW:
            return np.array([1, 1, 1, 0], np.float32)
        if agent == SW_TILE:
            assert self._hw is not None
            tile0 = np.array([1.0 if i <= self._hw else 0.0 for i in range(4)], np.float32)
            return np.concatenate([tile0, np.array([1, 1, 0], np.float32)])
        assert self._tile is not None
        return np.array([1, 1, 0 if self._tile[1] == 0 else 1], np.float32)

    @staticmethod
    def score(hw: int, tile: tuple[int, int], order: int) -> float:
        return (
            0.4 * (hw == 2)
            + 0.2 * (tile[0] == hw)
            + 0.2 * (tile[1] == 1)
            + 0.2 * (order == (hw + tile[0]) % 3)
        )

    # -- observations ---------------------------------------------------------------------
    def _global_state(self, turn: int) -> np.ndarray:
        tile = self._tile or (None, None)
        return np.concatenate(
            [
                _one_hot(min(self._round, self.num_rounds - 1), self.num_rounds),
                _one_hot(turn, 3),
                _one_hot(self._hw, 4),
                _one_hot(tile[0], 4),
                _one_hot(tile[1], 3),
                np.zeros(3, np.float32),
            ]
        )

    def _observe(self, agent: str) -> dict[str, np.ndarray]:
        round_1h = _one_hot(min(self._round, self.num_rounds - 1), self.num_rounds)
        if agent == HW:
            own = np.concatenate([round_1h, np.array([self._last_score], np.float32)])
        elif agent == SW_TILE:
            own = np.concatenate([round_1h, _one_hot(self._hw, 4)])
        else:
            assert self._tile is not None
            own = np.concatenate(
                [
                    round_1h,
                    _one_hot(self._hw, 4),
                    _one_hot(self._tile[0], 4),
                    _one_hot(self._tile[1], 3),
                ]
            )
        return {
            "observations": own.astype(np.float32),
            "action_mask": self.action_mask(agent),
            "global_state": self._global_state(AGENTS.index(agent)),
        }

    def _final_observe(self, agent: str) -> dict[str, np.ndarray]:
        space = self.observation_spaces[agent]
        assert isinstance(space, gym.spaces.Dict)
        return {
            "observations": np.zeros(space["observations"].shape, np.float32),
            "action_mask": np.ones(space["action_mask"].shape, np.float32),
            "global_state": np.zeros(self.global_size, np.float32),
        }

    # -- protocol -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        self._round, self._hw, self._tile = 0, None, None
        self._last_score, self._best_score = 0.0, 0.0
        self._invalid_rounds = 0
        return {HW: self._observe(HW)}, {}

    def step(self, action_dict: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        no_done = {"__all__": False}
        if HW in action_dict:
            self._hw = int(action_dict[HW])
            self._valid = bool(self.action_mask(HW)[self._hw])
            return {SW_TILE: self._observe(SW_TILE)}, {}, no_done, dict(no_done), {}
        if SW_TILE in action_dict:
            mask = self.action_mask(SW_TILE)
            tile = np.asarray(action_dict[SW_TILE]).astype(int)
            self._tile = (int(tile[0]), int(tile[1]))
            self._valid = self._valid and bool(mask[tile[0]] and mask[4 + tile[1]])
            return {SW_ORDER: self._observe(SW_ORDER)}, {}, no_done, dict(no_done), {}
        order = int(action_dict[SW_ORDER])
        assert self._hw is not None and self._tile is not None
        valid = self._valid and bool(self.action_mask(SW_ORDER)[order])
        score = self.score(self._hw, self._tile, order) if valid else 0.0
        self._invalid_rounds += 0 if valid else 1
        self._last_score = score
        self._best_score = max(self._best_score, score)
        rewards = dict.fromkeys(AGENTS, score)
        info = {
            "dcoc": {
                "score": score,
                "best_score": self._best_score,
                "invalid_rounds": float(self._invalid_rounds),
            }
        }
        self._round += 1
        self._hw, self._tile = None, None
        if self._round >= self.num_rounds:
            obs = {agent: self._final_observe(agent) for agent in AGENTS}
            infos = {agent: info for agent in AGENTS}
            done = {"__all__": True}
            return obs, rewards, done, {"__all__": False}, infos
        return {HW: self._observe(HW)}, rewards, no_done, dict(no_done), {HW: info}

    def close(self) -> None:
        pass


def random_round_score() -> float:
    """E[round score] when every agent picks uniformly among its valid actions."""
    total = 0.0
    for hw in range(3):
        for tile0 in range(hw + 1):
            for tile1 in range(2):
                orders = [0, 1] if tile1 == 0 else [0, 1, 2]
                for order in orders:
                    p = 1 / 3 / (hw + 1) / 2 / len(orders)
                    total += p * TurnEnv.score(hw, (tile0, tile1), order)
    return total


def make_turn_env(config: Mapping[str, Any]) -> TurnEnv:
    """Factory for ``build_algorithm_config`` (``"turn_env:make_turn_env"`` or the callable)."""
    return TurnEnv(config)
