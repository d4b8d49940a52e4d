"""``CoDesignEnv``: three agents co-design one accelerator and the mapping of every layer.

The env follows the multi-agent dict protocol of RLlib (``possible_agents``, ``agents``,
``observation_spaces``, ``action_spaces``, ``reset(*, seed, options)``, ``step(action_dict)``
with ``"__all__"`` in the done dicts) by duck typing: it never imports ray.
``dcoc.agents.env_adapter.DcocRLlibEnv`` wraps it for RLlib; ``make_codesign_env(env_config)``
is the factory to give it. Agents act in turns, which PettingZoo's ``ParallelEnv`` cannot express
without fake no-op actions; :class:`dcoc.envs.codesign_aec.CoDesignAECEnv` is the PettingZoo
view (the turn-based AEC API).

Action Space
    The vocabulary of :mod:`dcoc.search.codesign_space`:
    ``hw``: ``MultiDiscrete(choices per knob)``; ``sw_tile``: ``MultiDiscrete(factorization
    vocabulary size per problem dimension)``; ``sw_order``: ``MultiDiscrete(permutations per
    storage level + [2] per free keep/bypass pair)``. A layer set of several operator kinds
    (a whole network: convolutions, depthwise convolutions, fully connected GEMMs) shares
    these spaces: a layer's ``d``-th dimension is tile position ``d``, and positions or keep
    pairs a layer does not have admit only 0. Masks (``action_mask``) hide illegal
    choices: knob values with no completion inside the area budget, factorizations the chosen
    hardware cannot run (mesh limits, fixed factors) or whose forced tiles overflow a buffer
    even with every other dimension untiled, redundant permutations (one per equivalence
    class) and keeps that overflow a buffer on their own. A joint mesh overflow of the chosen
    factorizations is repaired when decoding; a joint capacity overflow is reported as invalid.

Observation Space
    Per agent ``Dict(observations=Box(-10, 10, (n,)), action_mask=Box(0, 1, (sum(nvec),)),
    global_state=Box(-10, 10, (g,)))``. Features (all scaled to [0, 1] unless noted):
    the layer's dimensions as ``log2(bound) / log2(largest bound)`` (per tile position; 0
    past the layer's own dimensions) and its weight (count share);
    for ``hw`` the count-weighted mean and the maximum of those over layers instead;
    the hardware as ``knob index / (choices - 1)``, a chosen flag and ``area / budget``;
    progress (layer / layers, round / rounds). ``sw_tile`` also sees its previous tiling of
    this layer (normalized indices), the previous round's reward and the layer's best log
    improvement so far (both clipped to [-10, 10]); ``sw_order`` sees the current tiling and
    ``log2(temporal factor) / log2(bound)`` per (level, dimension). ``global_state`` is the
    concatenation of the three agents' features and a one-hot of whose turn it is.

Rewards
    A shared team reward, given to all three agents after every ``sw_order`` action (one
    *round*). With ``w = count / total count`` of the layer, ``R`` rounds per layer and the
    gain ``g = log J_ref - log J``, where ``J`` is the layer objective (EDP in pJ x cycles,
    cycles or pJ) and ``J_ref`` that of the reference design (the template hardware with, per
    layer, the best of a fixed seeded random search of masked actions, computed once per env):
    ``reward="log_improvement"`` (default) pays ``w / R * g`` every round;
    ``reward="best_improvement"`` pays ``w * (max(b, g) - b)`` with ``b`` the layer's best
    gain so far (at least 0), so a layer's rounds sum to ``w * max(0, best g)``.
    An invalid mapping (buffer capacity, a masked action) gives ``w / R * invalid_reward`` and
    is recorded, never raised. A hardware choice over the area budget ends the episode at once
    with ``invalid_reward`` to ``hw``; a finished design over the energy budget adds
    ``invalid_reward`` to the last round's reward.

Episode End
    Terminated after the last round of the last layer (``1 + 2 x layers x rounds`` agent
    steps) or after an over-budget hardware choice. Never truncated. At the end every agent
    that acted gets a final observation (all-ones masks) and infos. ``info[agent]["dcoc"]``
    holds ``objective``, ``cycles``, ``energy_pj``, ``area_um2``, ``edp``, ``valid`` and
    ``best_so_far`` (lowest network objective of a complete valid design this env has seen;
    ``inf`` before one), plus ``layer``: after each round the layer's numbers, for the agent
    that observes next; at the end, for every agent, the network's (count-weighted sums;
    EDP = total energy x total cycles; ``objective`` is ``inf`` unless every layer has a
    valid mapping and the budgets hold) and ``invalid_rounds``. :attr:`CoDesignEnv.episode_design`
    is the design of the current episode, :attr:`CoDesignEnv.best_design` the best complete
    valid design this env has seen.

Version History
    v0: first version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from dcoc.envs.codesign_config import (
    CoDesignEnvConfig,
    NetworkCost,
    Reference,
    RewardKind,
    build_reference,
    build_space,
    network_cost,
)
from dcoc.envs.protocol import ALL_DONE, INFO_KEY, TURN_ORDER, AgentId, ObsKey
from dcoc.envs.turn_protocol import FEATURE_LIMIT, agent_observation_space, turn_action

from dcoc.accel.evaluator import MappingEvaluator
from dcoc.accel.report import CostSummary
from dcoc.accel.spec.design_space import HardwareConfig
from dcoc.search.action_masks import mask_allows
from dcoc.search.codesign_space import CoDesignSpace, HardwareContext, LayerDesign
from dcoc.search.design_files import design_files

HW, SW_TILE, SW_ORDER = AgentId.HW, AgentId.SW_TILE, AgentId.SW_ORDER


@dataclass(frozen=True)
class CoDesign:
    """A hardware configuration with the best mapping found for every layer."""

    hw_action: tuple[int, ...]
    config: HardwareConfig
    area_um2: float
    layers: tuple[LayerDesign | None, ...]
    """Per layer the best valid design of its rounds (``None``: no valid round)."""
    cost: NetworkCost | None
    """``None`` unless every layer has a valid mapping."""
    objective: float
    """Network objective (``inf`` when incomplete or invalid)."""
    valid: bool


def _norm(index: np.ndarray, nvec: tuple[int, ...]) -> np.ndarray:
    den = np.maximum(np.asarray(nvec, dtype=np.float32) - 1.0, 1.0)
    return (np.asarray(index, dtype=np.float32) / den).astype(np.float32)


class CoDesignEnv:
    """Hardware agent, tiling agent and ordering agent in turns (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        config: CoDesignEnvConfig | Mapping[str, Any] | None = None,
        *,
        evaluator: MappingEvaluator | None = None,
        space: CoDesignSpace | None = None,
        reference: Reference | None = None,
    ) -> None:
        cfg = (
            config
            if isinstance(config, CoDesignEnvConfig)
            else CoDesignEnvConfig.from_mapping(config)
        )
        self.config = cfg
        self.space = space or build_space(cfg, evaluator)
        self.reference = reference or build_reference(self.space, cfg)
        sp = self.space
        self.num_layers = len(sp.layers)
        self.rounds = cfg.rounds_per_layer
        counts = np.array([layer.count for layer in sp.layers], dtype=np.float64)
        self.weights = counts / counts.sum()
        nd, nk, nl = len(sp.tile_nvec), len(sp.hw_nvec), sp.num_levels
        bounds = np.ones((self.num_layers, nd), dtype=np.float64)  # [L, nd], padding: 1
        for li, (problem, dims) in enumerate(zip(sp.problems, sp.layer_dims, strict=True)):
            bounds[li, : len(dims)] = [problem.bounds[d] for d in dims]
        scale = max(1.0, float(np.log2(bounds.max())))
        self._layer_dims = (np.log2(bounds) / scale).astype(np.float32)  # [L, nd]
        self._log_bounds = np.log2(bounds)  # [L, nd]
        self._sizes = {
            HW: 2 * nd + nk + 4,
            SW_TILE: (nd + 1) + (nk + 2) + 2 + nd + 2,
            SW_ORDER: (nd + 1) + (nk + 2) + 2 + nd + nl * nd,
        }
        self.global_size = sum(self._sizes.values()) + len(TURN_ORDER)
        nvecs = {HW: sp.hw_nvec, SW_TILE: sp.tile_nvec, SW_ORDER: sp.order_nvec}
        self.action_spaces: dict[str, gym.Space] = {
            a.value: gym.spaces.MultiDiscrete(list(nvecs[a])) for a in TURN_ORDER
        }
        self.observation_spaces: dict[str, gym.Space] = {
            a.value: agent_observation_space(self._sizes[a], int(sum(nvecs[a])), self.global_size)
            for a in TURN_ORDER
        }
        self._nvecs = nvecs
        self.possible_agents = [a.value for a in TURN_ORDER]
        self.agents = list(self.possible_agents)
        self.np_random = np.random.default_rng(cfg.seed)
        self.best_design: CoDesign | None = None
        self._best_value = math.inf
        self._reset_state()

    # -- state ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._turn: AgentId | None = HW
        self._ctx: HardwareContext | None = None
        self._hw_action: np.ndarray | None = None
        self._layer, self._round = 0, 0
        self._tile: np.ndarray | None = None
        self._factors: np.ndarray | None = None
        self._order_mask: np.ndarray | None = None
        self._tile_ok = False
        self._prev_tile = np.zeros((self.num_layers, len(self.space.tile_nvec)), np.int64)
        self._prev_reward = np.zeros(self.num_layers, np.float64)
        self._best_gain = np.full(self.num_layers, -FEATURE_LIMIT, np.float64)
        self._best: list[LayerDesign | None] = [None] * self.num_layers
        self._invalid_rounds = 0

    @property
    def current_agent(self) -> str | None:
        """The agent whose action the next ``step`` expects (``None`` after the end)."""
        return None if self._turn is None else self._turn.value

    @property
    def hardware_context(self) -> HardwareContext | None:
        """The chosen hardware (``None`` before ``hw`` acts)."""
        return self._ctx

    @property
    def layer_index(self) -> int:
        """Index of the layer being mapped (``num_layers`` after the last one)."""
        return self._layer

    @property
    def tile_factors(self) -> np.ndarray | None:
        """Decoded factors ``[dims, slots]`` of the current round's tiling (``None`` before
        ``sw_tile`` acts or when its action was masked out)."""
        return self._factors

    @property
    def episode_design(self) -> CoDesign | None:
        """The design of this episode so far (``None`` before the hardware choice)."""
        if self._ctx is None or self._hw_action is None:
            return None
        complete = all(d is not None for d in self._best)
        cost = None
        if complete:
            cost = network_cost(self.space.layers, [d.report for d in self._best if d])
        value = cost.objective(self.config.objective) if cost else math.inf
        valid = complete and self._ctx.fits_budget and self._within_energy(cost)
        return CoDesign(
            tuple(int(a) for a in self._hw_action),
            self._ctx.config,
            self._ctx.area_um2,
            tuple(self._best),
            cost,
            value if valid else math.inf,
            valid,
        )

    def design_files(self, design: CoDesign) -> dict[str, str]:
        """Timeloop v0.4 YAML texts of ``design`` (architecture, per layer problem and mapping),
        e.g. to save :attr:`best_design` in a run directory."""
        ctx = self.space.hardware_context(design.hw_action)
        return design_files(self.space, ctx, design.layers)

    def _within_energy(self, cost: NetworkCost | None) -> bool:
        budget = self.config.energy_budget_pj
        return cost is not None and (budget is None or cost.energy_pj <= budget)

    # -- masks and features ---------------------------------------------------------------
    def action_mask(self, agent: str) -> np.ndarray:
        sp = self.space
        if agent == HW:
            return sp.hw_mask()
        assert self._ctx is not None
        if agent == SW_TILE:
            return sp.tile_mask(self._ctx, self._layer)
        if self._order_mask is None:
            self._order_mask = (
                sp.order_mask(self._ctx, self._layer, self._factors)
                if self._factors is not None
                else self._first_only(sp.order_nvec)
            )
        return self._order_mask

    @staticmethod
    def _first_only(nvec: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(int(sum(nvec)), np.float32)
        out[np.concatenate([[0], np.cumsum(nvec)[:-1]]).astype(int)] = 1.0
        return out

    def _hw_features(self) -> np.ndarray:
        sp = self.space
        if self._hw_action is None or self._ctx is None:
            return np.zeros(len(sp.hw_nvec) + 2, np.float32)
        area = min(FEATURE_LIMIT, self._ctx.area_um2 / sp.area_budget_um2)
        return np.concatenate([_norm(self._hw_action, sp.hw_nvec), [1.0, area]]).astype(np.float32)

    def _progress(self) -> np.ndarray:
        return np.array([self._layer / self.num_layers, self._round / self.rounds], np.float32)

    def _layer_features(self) -> np.ndarray:
        li = min(self._layer, self.num_layers - 1)
        return np.concatenate([self._layer_dims[li], [self.weights[li]]]).astype(np.float32)

    def _features(self, agent: AgentId, hw: np.ndarray, progress: np.ndarray) -> np.ndarray:
        sp = self.space
        if agent == HW:
            mean = (self.weights[:, None] * self._layer_dims).sum(axis=0)
            parts = [mean, self._layer_dims.max(axis=0), hw, progress]
        elif agent == SW_TILE:
            li = min(self._layer, self.num_layers - 1)
            parts = [
                self._layer_features(),
                hw,
                progress,
                _norm(self._prev_tile[li], sp.tile_nvec),
                np.clip([self._prev_reward[li], self._best_gain[li]], -10, 10),
            ]
        else:
            tile = (
                _norm(self._tile, sp.tile_nvec)
                if self._tile is not None and self._tile_ok
                else np.zeros(len(sp.tile_nvec), np.float32)
            )
            temporal = np.zeros((sp.num_levels, len(sp.tile_nvec)), np.float32)
            if self._factors is not None and self._ctx is not None:
                t = np.asarray(sp.temporal_factors(self._ctx, self._layer, self._factors))
                logb = self._log_bounds[self._layer]
                temporal = np.where(logb > 0, np.log2(t) / np.maximum(logb, 1e-9), 0.0)
            parts = [self._layer_features(), hw, progress, tile, temporal.ravel()]
        return np.concatenate(parts).astype(np.float32)

    def _global_state(self, feats: Mapping[AgentId, np.ndarray]) -> np.ndarray:
        turn = np.zeros(len(TURN_ORDER), np.float32)
        if self._turn is not None:
            turn[TURN_ORDER.index(self._turn)] = 1.0
        return np.concatenate([*(feats[a] for a in TURN_ORDER), turn]).astype(np.float32)

    def observe(self, agent: str) -> dict[str, np.ndarray]:
        """The Dict observation of any agent now (for turn-based views such as PettingZoo's
        AEC API); an agent whose turn it is not gets an all-ones mask."""
        return self._observe([AgentId(agent)])[agent]

    def _observe(self, agents: list[AgentId], *, final: bool = False) -> dict[str, Any]:
        hw, progress = self._hw_features(), self._progress()
        feats = {a: self._features(a, hw, progress) for a in TURN_ORDER}
        state = self._global_state(feats)
        out = {}
        for a in agents:
            idle = final or a != self._turn
            mask = np.ones(int(sum(self._nvecs[a])), np.float32) if idle else self.action_mask(a)
            out[a.value] = {
                ObsKey.OBSERVATIONS.value: feats[a],
                ObsKey.ACTION_MASK.value: mask,
                ObsKey.GLOBAL_STATE.value: state.copy(),
            }
        return out

    # -- protocol -------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self._reset_state()
        self.agents = list(self.possible_agents)
        return self._observe([HW]), {}

    def step(self, action_dict: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        action = turn_action(self._turn, action_dict)
        if self._turn == HW:
            return self._step_hw(action)
        if self._turn == SW_TILE:
            return self._step_tile(action)
        return self._step_order(action)

    def _not_done(self) -> dict[str, bool]:
        return {ALL_DONE: False}

    def _step_hw(self, action: np.ndarray) -> tuple[dict[str, Any], ...]:
        sp = self.space
        allowed = mask_allows(sp.hw_mask(), sp.hw_nvec, action)
        if allowed:
            self._ctx = sp.hardware_context(action)
            self._hw_action = action.copy()
        if not allowed or self._ctx is None or not self._ctx.fits_budget:
            area = self._ctx.area_um2 if self._ctx is not None else math.nan
            self._turn = None
            info = self._info(
                objective=math.inf, cycles=0, energy_pj=0, area_um2=area, edp=math.inf, valid=0
            )
            obs = self._observe([HW], final=True)
            reward = {HW.value: float(self.config.invalid_reward)}
            return obs, reward, {ALL_DONE: True}, {ALL_DONE: False}, {HW.value: info}
        self._turn = SW_TILE
        return self._observe([SW_TILE]), {}, self._not_done(), self._not_done(), {}

    def _step_tile(self, action: np.ndarray) -> tuple[dict[str, Any], ...]:
        sp = self.space
        assert self._ctx is not None
        self._tile = action.copy()
        self._tile_ok = mask_allows(sp.tile_mask(self._ctx, self._layer), sp.tile_nvec, action)
        self._factors = sp.decode_tile(self._ctx, self._layer, action) if self._tile_ok else None
        if self._tile_ok:
            self._prev_tile[self._layer] = action
        self._turn = SW_ORDER
        return self._observe([SW_ORDER]), {}, self._not_done(), self._not_done(), {}

    def _step_order(self, action: np.ndarray) -> tuple[dict[str, Any], ...]:
        sp, li = self.space, self._layer
        assert self._ctx is not None and self._tile is not None
        ok = self._tile_ok and mask_allows(self.action_mask(SW_ORDER), sp.order_nvec, action)
        w = self.weights[li] / self.rounds
        report: CostSummary | None = None
        if ok:
            design = sp.evaluate(self._ctx, li, self._tile, action)
            report = design.report
        if report is not None and report.valid:
            value = report.objective(self.config.objective)
            gain = self.reference.log_objective[li] - math.log(value)
            if self.config.reward == RewardKind.BEST_IMPROVEMENT:
                before = max(0.0, self._best_gain[li])
                reward = self.weights[li] * (max(before, gain) - before)
            else:
                reward = w * gain
            best = self._best[li]
            if best is None or value < best.report.objective(self.config.objective):
                self._best[li] = design
            self._best_gain[li] = max(self._best_gain[li], gain)
            metrics = {
                "objective": value,
                "cycles": report.cycles,
                "energy_pj": report.energy_pj,
                "edp": report.edp,
                "valid": 1,
            }
        else:
            self._invalid_rounds += 1
            reward = w * self.config.invalid_reward
            metrics = {"objective": math.inf, "cycles": 0, "energy_pj": 0, "edp": math.inf}
            metrics["valid"] = 0
        self._prev_reward[li] = reward
        self._round += 1
        if self._round == self.rounds:
            self._layer, self._round = self._layer + 1, 0
        self._tile, self._factors, self._tile_ok = None, None, False
        self._order_mask = None
        if self._layer < self.num_layers:
            self._turn = SW_TILE
            info = self._info(area_um2=self._ctx.area_um2, layer=li, **metrics)
            rewards = dict.fromkeys(self.possible_agents, float(reward))
            return (
                self._observe([SW_TILE]),
                rewards,
                self._not_done(),
                self._not_done(),
                {SW_TILE.value: info},
            )
        return self._finish(reward)

    def _finish(self, reward: float) -> tuple[dict[str, Any], ...]:
        self._turn = None
        design = self.episode_design
        assert design is not None
        if design.cost is not None and not self._within_energy(design.cost):
            reward += self.config.invalid_reward
        if design.valid and design.objective < self._best_value:
            self._best_value, self.best_design = design.objective, design
        cost = design.cost
        info = self._info(
            objective=design.objective,
            cycles=cost.cycles if cost else 0,
            energy_pj=cost.energy_pj if cost else 0,
            area_um2=design.area_um2,
            edp=cost.edp if cost else math.inf,
            valid=int(design.valid),
            layer=self.num_layers,
            invalid_rounds=self._invalid_rounds,
        )
        agents = list(TURN_ORDER)
        return (
            self._observe(agents, final=True),
            dict.fromkeys(self.possible_agents, float(reward)),
            {ALL_DONE: True},
            {ALL_DONE: False},
            {a.value: {INFO_KEY: dict(info[INFO_KEY])} for a in agents},
        )

    def _info(self, **metrics: float) -> dict[str, dict[str, float]]:
        out = {k: float(v) for k, v in metrics.items()}
        out["best_so_far"] = float(self._best_value)
        return {INFO_KEY: out}

    def close(self) -> None:
        pass


def make_codesign_env(env_config: Mapping[str, Any] | None = None) -> CoDesignEnv:
    """Factory ``env_config -> CoDesignEnv`` (for ``dcoc.agents``: ``"dcoc.envs.codesign:
    make_codesign_env"``)."""
    return CoDesignEnv(CoDesignEnvConfig.from_mapping(env_config))
