"""``CpuScheduleEnv``: the two software agents tune a real TVM schedule, rewarded by latency.

A layer's MetaSchedule design space (dcoc's CPU rules, :mod:`dcoc.tvm.design_space`) is
split between two agents (:mod:`dcoc.envs.cpu_schedule_space`): ``sw_tile`` picks the loop
tilings, then ``sw_order`` picks the sketch and the unroll depth. Each such pair is one
*candidate*: its schedule is applied in this process, then built, run, checked against numpy
and timed in a measurement worker process, and recorded in the records database. There is no
hardware agent. The env follows the multi-agent dict protocol of RLlib by duck typing (like
:class:`~dcoc.envs.codesign.CoDesignEnv`; it never imports ray); factory
``dcoc.envs.cpu_schedule:make_cpu_schedule_env``.

Action Space
    ``sw_tile``: ``MultiDiscrete([W] * tiling slots)``, sub-action ``i`` the index of slot
    ``i``'s ordered factorization (``W`` = the largest legal count; entries past a slot's count
    are masked). ``sw_order``: ``MultiDiscrete([V] * (1 + categorical slots))``, the sketch
    index, then one index per ``SampleCategorical`` slot (the unroll depth), padded likewise.
    Masks are constant: every legal value of a slot is legal with any value of the others.

Observation Space
    Per agent ``Dict(observations=Box(-10, 10, (n,)), action_mask=Box(0, 1, (sum(nvec),)),
    global_state=Box(-10, 10, (g,)))``. Both agents see the workload (``log2(bound) /
    log2(largest bound)`` per dimension, ``log10(FLOPs) / 12``), progress (candidate /
    candidates per episode), the best valid latency of the episode as ``[found?,
    log(reference / best)]`` and the previous candidate as ``[valid?, reward]`` (clipped to
    [-10, 10]). ``sw_tile`` also sees its previous tiling and the best candidate's tiling,
    ``sw_order`` the tiling just chosen and the best candidate's order; a tiling is given per
    slot as ``index / (count - 1)`` and ``log2(factor) / log2(extent)`` per part.
    ``global_state`` is both agents' features and a one-hot of whose turn it is.

Rewards
    A shared team reward, to both agents after every ``sw_order`` action:
    ``log(reference_latency_s / latency_s)``, where the reference is the configured
    ``reference_latency_s`` or the measured latency of the first sketch with MetaSchedule's own
    sampled decisions (measured once per env, with the first candidates; if it fails, the first
    valid candidate's latency). A candidate that fails (masked index, schedule rejected by a
    postprocessor, build or run error, timeout, crashed worker, result differing from numpy)
    gets ``invalid_reward`` (default -5) and is recorded as failed; nothing is raised.

Episode End
    Terminated after ``candidates_per_episode`` candidates (twice as many agent steps). Never
    truncated. At the end both agents get a final observation (all-ones masks) and infos.
    ``info[agent]["dcoc"]`` holds ``latency_s`` (``inf`` if failed), ``gflops``,
    ``best_latency_s`` (of the episode; ``inf`` before a valid one), ``valid``, ``reward``,
    ``candidate`` (index in the episode) and ``reference_latency_s``;
    ``info[agent]["error"]`` the error (``""`` if none) and ``info[agent]["error_kind"]``.

Example
    A masked random episode, then a batch of candidates measured at once::

        env = CpuScheduleEnv({"workload": "matmul:64,64,64", "records_path": "run/records.sqlite"})
        obs, _ = env.reset(seed=0)
        while env.current_agent is not None:
            agent = env.current_agent
            obs, rewards, terminated, truncated, infos = env.step({agent: env.sample_action(agent)})
        results = env.measure_candidates([(tile_action, order_action), design_point, ...])
        env.close()

Version History
    v0: first version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from dcoc.envs.cpu_schedule_config import CpuScheduleEnvConfig
from dcoc.envs.cpu_schedule_measure import Candidate, CandidateResult, ScheduleEvaluator
from dcoc.envs.protocol import ALL_DONE, INFO_KEY, AgentId, ObsKey
from dcoc.envs.turn_protocol import FEATURE_LIMIT, agent_observation_space, turn_action

from dcoc.search.codesign_space import sample_masked
from dcoc.tvm.design_space import DesignPoint

SW_TILE, SW_ORDER = AgentId.SW_TILE, AgentId.SW_ORDER
CPU_TURN_ORDER: tuple[AgentId, ...] = (SW_TILE, SW_ORDER)
"""``sw_tile`` acts first, then ``sw_order``; there is no hardware agent."""


class CpuScheduleEnv:
    """Tiling agent and ordering agent in turns on one layer (see the module docstring).

    ``evaluator``: share a :class:`ScheduleEvaluator` (design space, workers, records) between
    envs or with a batch caller; its config then replaces ``config`` and the env does not
    close it."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        config: CpuScheduleEnvConfig | Mapping[str, Any] | None = None,
        *,
        evaluator: ScheduleEvaluator | None = None,
    ) -> None:
        self._owns_evaluator = evaluator is None
        self.evaluator = evaluator or ScheduleEvaluator(CpuScheduleEnvConfig.coerce(config))
        cfg = self.config = self.evaluator.config
        self.space = self.evaluator.space
        sp, spec = self.space, self.evaluator.spec
        log_bounds = np.log2(np.asarray(spec.bounds, np.float64))
        scale = max(1.0, float(log_bounds.max()))
        self._workload = np.concatenate(
            [log_bounds / scale, [math.log10(spec.flops) / 12.0]]
        ).astype(np.float32)
        common = len(self._workload) + 1 + 2 + 2
        tile_features = len(sp.tile_features(None))
        self._sizes = {
            SW_TILE: common + 2 * tile_features,
            SW_ORDER: common + tile_features + len(sp.order_slots),
        }
        self.global_size = sum(self._sizes.values()) + len(CPU_TURN_ORDER)
        self._nvecs = {SW_TILE: sp.tile_nvec, SW_ORDER: sp.order_nvec}
        self.action_spaces: dict[str, gym.Space] = {
            a.value: gym.spaces.MultiDiscrete(list(self._nvecs[a])) for a in CPU_TURN_ORDER
        }
        self.observation_spaces: dict[str, gym.Space] = {
            a.value: agent_observation_space(
                self._sizes[a], int(sum(self._nvecs[a])), self.global_size
            )
            for a in CPU_TURN_ORDER
        }
        self.possible_agents = [a.value for a in CPU_TURN_ORDER]
        self.agents = list(self.possible_agents)
        self.np_random = np.random.default_rng(cfg.seed)
        self.best_result: CandidateResult | None = None
        """The fastest valid candidate this env has measured."""
        self._reset_state()

    # -- state ----------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._turn: AgentId | None = SW_TILE
        self._candidate = 0
        self._tile: np.ndarray | None = None
        self._prev_tile: np.ndarray | None = None
        self._best: tuple[CandidateResult, np.ndarray, np.ndarray] | None = None
        self._prev: tuple[bool, float] | None = None
        self.history: list[CandidateResult] = []
        """The candidates of this episode, in order."""

    @property
    def current_agent(self) -> str | None:
        """The agent whose action the next ``step`` expects (``None`` after the end)."""
        return None if self._turn is None else self._turn.value

    @property
    def episode_best(self) -> CandidateResult | None:
        """The fastest valid candidate of this episode."""
        return self._best[0] if self._best is not None else None

    def action_mask(self, agent: str) -> np.ndarray:
        return self.space.tile_mask() if agent == SW_TILE else self.space.order_mask()

    def sample_action(self, agent: str) -> np.ndarray:
        """A uniformly random legal action of ``agent``, drawn from :attr:`np_random`."""
        return sample_masked(self.action_mask(agent), self._nvecs[AgentId(agent)], self.np_random)

    def decode(self, tile_action: np.ndarray, order_action: np.ndarray) -> DesignPoint:
        """The design point of an action pair (raises ``IllegalDecisionError`` if masked)."""
        return self.space.decode(tile_action, order_action)

    def measure_candidates(self, candidates: Sequence[Candidate]) -> list[CandidateResult]:
        """Measure several candidates at once on the worker pool and record them (outside
        any episode: no reward, no state change). See
        :meth:`ScheduleEvaluator.measure_candidates`."""
        return self.evaluator.measure_candidates(candidates)

    # -- features -------------------------------------------------------------------------
    def _common(self) -> np.ndarray:
        progress = self._candidate / self.config.candidates_per_episode
        best = [0.0, 0.0]
        reference = self.evaluator.reference_latency_s
        if self._best is not None and reference is not None:
            latency = self._best[0].latency_s
            assert latency is not None
            best = [1.0, math.log(reference / latency)]
        prev = [0.0, 0.0] if self._prev is None else [float(self._prev[0]), self._prev[1]]
        return np.concatenate([self._workload, [progress], best, prev])

    def _features(self) -> dict[AgentId, np.ndarray]:
        sp, common = self.space, self._common()
        best_tile = self._best[1] if self._best is not None else None
        best_order = self._best[2] if self._best is not None else None
        tile = [common, sp.tile_features(self._prev_tile), sp.tile_features(best_tile)]
        order = [common, sp.tile_features(self._tile), sp.order_features(best_order)]
        return {
            SW_TILE: np.clip(np.concatenate(tile), -FEATURE_LIMIT, FEATURE_LIMIT),
            SW_ORDER: np.clip(np.concatenate(order), -FEATURE_LIMIT, FEATURE_LIMIT),
        }

    def _observe(self, agents: Sequence[AgentId], *, final: bool = False) -> dict[str, Any]:
        feats = self._features()
        turn = np.zeros(len(CPU_TURN_ORDER), np.float32)
        if self._turn is not None:
            turn[CPU_TURN_ORDER.index(self._turn)] = 1.0
        state = np.concatenate([feats[SW_TILE], feats[SW_ORDER], turn]).astype(np.float32)
        out = {}
        for a in agents:
            size = int(sum(self._nvecs[a]))
            out[a.value] = {
                ObsKey.OBSERVATIONS.value: feats[a].astype(np.float32),
                ObsKey.ACTION_MASK.value: (
                    np.ones(size, np.float32) if final else self.action_mask(a)
                ),
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
        return self._observe([SW_TILE]), {}

    def step(self, action_dict: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        action = turn_action(self._turn, action_dict)
        not_done = {ALL_DONE: False}
        if self._turn == SW_TILE:
            self._tile = action.copy()
            self._turn = SW_ORDER
            return self._observe([SW_ORDER]), {}, not_done, dict(not_done), {}
        assert self._tile is not None
        tile, order = self._tile, action.copy()
        (result,) = self.evaluator.measure_candidates(
            [(tile, order)], [{"candidate": self._candidate}]
        )
        reward = self.evaluator.reward(result)
        self.history.append(result)
        if result.valid:
            assert result.latency_s is not None
            if self._best is None or result.latency_s < (self._best[0].latency_s or math.inf):
                self._best = (result, tile, order)
            best = self.best_result
            if best is None or result.latency_s < (best.latency_s or math.inf):
                self.best_result = result
        self._prev = (result.valid, float(np.clip(reward, -FEATURE_LIMIT, FEATURE_LIMIT)))
        self._prev_tile = tile if self.space.tile_allows(tile) else None
        self._tile = None
        self._candidate += 1
        info = self._info(result, reward)
        rewards = dict.fromkeys(self.possible_agents, float(reward))
        if self._candidate < self.config.candidates_per_episode:
            self._turn = SW_TILE
            return (
                self._observe([SW_TILE]),
                rewards,
                not_done,
                dict(not_done),
                {SW_TILE.value: info},
            )
        self._turn = None
        agents = list(CPU_TURN_ORDER)
        return (
            self._observe(agents, final=True),
            rewards,
            {ALL_DONE: True},
            {ALL_DONE: False},
            {a.value: self._info(result, reward) for a in agents},
        )

    def _info(self, result: CandidateResult, reward: float) -> dict[str, Any]:
        best = self.episode_best
        metrics = {
            "latency_s": result.latency_s if result.latency_s is not None else math.inf,
            "gflops": result.gflops,
            "best_latency_s": best.latency_s if best and best.latency_s else math.inf,
            "valid": float(result.valid),
            "reward": float(reward),
            "candidate": float(self._candidate - 1),
            "reference_latency_s": self.evaluator.reference_latency_s or math.inf,
        }
        return {
            INFO_KEY: metrics,
            "error": result.error or "",
            "error_kind": str(result.error_kind) if result.error_kind else "",
        }

    def close(self) -> None:
        if self._owns_evaluator:
            self.evaluator.close()


def make_cpu_schedule_env(env_config: Mapping[str, Any] | None = None) -> CpuScheduleEnv:
    """Factory ``env_config -> CpuScheduleEnv`` (for ``dcoc.agents``: ``"dcoc.envs.cpu_schedule:
    make_cpu_schedule_env"``)."""
    return CpuScheduleEnv(CpuScheduleEnvConfig.from_mapping(env_config))
