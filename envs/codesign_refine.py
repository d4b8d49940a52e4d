"""``CoDesignRefineEnv``: three agents refine one whole co-design, move by move.

The agents act as improvement operators (the sequential-transformation view of ConfuciuX and
REASONING COMPILER): the state is a whole design (hardware knobs and every layer's tiling,
loop orders and keep bits, :class:`~dcoc.search.design_moves.DesignState`), and each step the
acting agent picks one of ``refine_candidates`` layer-agnostic moves
(:mod:`dcoc.search.design_moves`) that the heuristic proposer ranks by the analytical estimate
(:class:`~dcoc.search.proposers.HeuristicProposer`, free: no model call), plus a few random
ones. The same index means the same kind of choice on every layer and network: candidate ``i``
is the ``i``-th best predicted move (random ones last), described by its features.

Dict protocol of RLlib by duck typing, as :class:`~dcoc.envs.codesign.CoDesignEnv`; it never
imports ray.

Turns
    Step ``t`` of an episode belongs to ``hw`` when ``t % refine_hw_every == 0``, else to
    ``sw_tile`` and ``sw_order`` in alternation. ``sw_tile`` chooses among tile moves (one prime
    factor of a dimension moved between two slots, or another factorization) of the layers that
    weigh most in the network objective; ``sw_order`` among loop-order and keep/bypass moves of
    those layers; ``hw`` among *keep the hardware* and knob steps (the per-level numbers'
    suggestions first, then every neighbouring value that fits the area budget).

Action Space
    ``MultiDiscrete([refine_candidates])`` per agent, masked: only listed candidates.

Observation Space
    Every agent ``Dict(observations=Box(-10, 10, (n,)), action_mask=Box(0, 1, (K,)),
    global_state=Box(-10, 10, (n,)))``, the same layout for all three (so one policy can serve
    every role): context (progress ``t / T``; ``log J`` of the state minus that at the episode
    start and minus the incumbent's; knob indices normalized; area over budget; share of invalid
    layers; a one-hot of the acting role), then :data:`CANDIDATE_FEATURES` numbers per candidate
    (see :func:`candidate_features`). ``global_state`` is the acting agent's observation.

Rewards
    ``J`` is the network objective of the state (count-weighted totals; an invalid layer is
    charged :data:`~dcoc.search.methods.mcts_search.INVALID_CYCLES_PER_MAC` cycles and
    :data:`~dcoc.search.methods.mcts_search.INVALID_PJ_PER_MAC` pJ per MAC). A software move is
    evaluated (one model call unless measured before) and kept only if it lowers ``J``; its
    agent is paid ``clip(REWARD_SCALE x (log J_before - log J_after), REWARD_MIN, REWARD_MAX)``.
    A knob move is always taken (every layer re-evaluated on the new hardware, its mappings made
    legal) and the software agents adapt the layers to it until the next ``hw`` turn; then the
    state returns to the incumbent (the best state of this env) if it is worse. ``hw`` is paid
    at the end of its period the same clipped log improvement from the period's start to its
    best state, so keeping the hardware is credited with what the software agents gain on it.

Episode End
    Terminated after ``refine_steps`` steps; never truncated. The first episode starts from
    ``start`` if given (a seed design, e.g. the tree search's best: :mod:`dcoc.experiment.
    seeding`), else from a uniformly random design whose hardware fits the area budget; every
    later one from the incumbent, except that after ``refine_patience`` episodes in a row
    without a better incumbent the next starts from a perturbed incumbent (:meth:`_kick`: a
    knob step to an unmeasured neighbour, then :data:`KICK_LAYER_MOVES` random layer moves),
    whose periods end back at that episode's own best rather than the incumbent (iterated
    local search: once the incumbent's neighbourhood is measured, steps would stop finding
    anything new). ``info[agent]["dcoc"]`` holds ``objective`` (of the state; ``inf`` unless
    every layer is valid), ``best_so_far`` (the incumbent's), ``evaluations``, ``accepted``
    and ``restarts`` (perturbed restarts so far).

Every model call goes through a :class:`~dcoc.search.task.SearchTask` (records, counts), each
layer outcome evaluated once (:class:`~dcoc.search.methods.mcts_search.DesignScorer`).

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
from dcoc.envs.codesign_config import CoDesignEnvConfig, build_space
from dcoc.envs.protocol import ALL_DONE, INFO_KEY, TURN_ORDER, AgentId, ObsKey
from dcoc.envs.turn_protocol import FEATURE_LIMIT, agent_observation_space, turn_action

from dcoc.records import RecordsDB
from dcoc.search.codesign_space import CoDesignSpace
from dcoc.search.design_moves import (
    DesignMoves,
    DesignState,
    MoveKind,
    Transformation,
    is_legal,
)
from dcoc.search.methods.mcts_search import ROOT_DRAWS, DesignScorer
from dcoc.search.proposers import HeuristicProposer, RandomProposer
from dcoc.search.task import SearchTask

HW, SW_TILE, SW_ORDER = AgentId.HW, AgentId.SW_TILE, AgentId.SW_ORDER

REWARD_SCALE = 10.0
"""Reward per unit of log improvement (a 10 % better design pays about 1)."""
REWARD_MIN, REWARD_MAX = -2.0, 5.0
KICK_LAYER_MOVES = 4
"""Random layer moves of a perturbed restart (after a knob step to an unmeasured neighbour)."""
RANDOM_CANDIDATES = 2
"""Candidates of a software turn left to the random proposer (diversity the ranking lacks)."""
FOCUS_LAYERS = 2
"""Layers whose moves a software turn ranks (the heaviest and one drawn by weight)."""
TILE_KINDS = frozenset({MoveKind.TILE})
ORDER_KINDS = frozenset({MoveKind.ORDER, MoveKind.KEEP})
"""The move kinds of ``sw_tile``'s and ``sw_order``'s turns."""
UNLIMITED = 10**15
"""The env's task budget: the training loop stops on the records' count."""
CANDIDATE_FEATURES = 15
_KINDS = (MoveKind.TILE, MoveKind.ORDER, MoveKind.KEEP, MoveKind.KNOB)


@dataclass(frozen=True)
class Candidate:
    """One choice of a step: a move (``None``: keep the hardware) and what is known of it."""

    move: Transformation | None
    predicted: float | None
    """The estimate's change of ``log J`` (negative: better); ``None`` if it has none."""
    rank: float
    """Position in the heuristic's order over the list length (random ones: 1)."""
    random: bool


def _clip(x: float) -> float:
    return float(np.clip(x, -FEATURE_LIMIT, FEATURE_LIMIT))


class CoDesignRefineEnv:
    """Hardware, tiling and ordering agents refine one design (see the module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        config: CoDesignEnvConfig | Mapping[str, Any] | None = None,
        *,
        space: CoDesignSpace | None = None,
        keys: tuple[str, ...] | None = None,
        records: RecordsDB | None = None,
        method: str = "ppo",
        start: DesignState | None = None,
    ) -> None:
        cfg = (
            config
            if isinstance(config, CoDesignEnvConfig)
            else CoDesignEnvConfig.from_mapping(config)
        )
        self.config = cfg
        self.space = space or build_space(cfg)
        sp = self.space
        layer_keys = keys or tuple(layer.name for layer in sp.layers)
        self.task = SearchTask(
            sp,
            [layer.count for layer in sp.layers],
            layer_keys,
            budget=UNLIMITED,
            method=method,
            seed=cfg.seed or 0,
            objective=cfg.objective,
            energy_budget_pj=cfg.energy_budget_pj,
            records=records,
        )
        self.moves = DesignMoves(sp)
        self.scorer = DesignScorer(self.task)
        self.heuristic = HeuristicProposer(
            self.moves, self.scorer, objective=cfg.objective.value, counts=self.task.counts
        )
        self.random = RandomProposer(self.moves)
        self.k = cfg.refine_candidates
        self.steps = cfg.refine_steps
        self.hw_every = cfg.refine_hw_every
        self.patience = cfg.refine_patience
        self.restarts = 0
        """Episodes started from a perturbed incumbent so far."""
        self._stale = 0
        self._kicked = False
        self._episode_incumbent = math.inf
        self._context_size = 3 + len(sp.hw_nvec) + 2 + len(TURN_ORDER)
        size = self._context_size + self.k * CANDIDATE_FEATURES
        self.action_spaces: dict[str, gym.Space] = {
            a.value: gym.spaces.MultiDiscrete([self.k]) for a in TURN_ORDER
        }
        self.observation_spaces: dict[str, gym.Space] = {
            a.value: agent_observation_space(size, self.k, size) for a in TURN_ORDER
        }
        self.possible_agents = [a.value for a in TURN_ORDER]
        self.agents = list(self.possible_agents)
        self.np_random = np.random.default_rng(cfg.seed)
        if start is not None and not (len(start.tiles) == len(sp.layers) and is_legal(sp, start)):
            raise ValueError(
                "the start design does not belong to this space (layer count or a masked-out "
                "action); seed the env with a design of the same layer set and design space"
            )
        self.start = start
        """Where the first episode starts (a seed, e.g. the tree search's best design);
        ``None``: a random design."""
        self.incumbent: DesignState | None = None
        self._incumbent_log = math.inf
        self.accepted = 0
        self._state: DesignState | None = None
        self._t = 0
        self._candidates: list[Candidate] = []

    # -- state ------------------------------------------------------------------------------
    @property
    def current_agent(self) -> str | None:
        return None if self._t >= self.steps else self._role(self._t).value

    @property
    def state(self) -> DesignState | None:
        """The design being refined (``None`` before the first reset)."""
        return self._state

    def _role(self, t: int) -> AgentId:
        r = t % self.hw_every
        if r == 0:
            return HW
        return SW_TILE if r % 2 == 1 else SW_ORDER

    def _log_objective(self, state: DesignState) -> float | None:
        """``log J`` of ``state``, evaluating the layers not measured yet (``None``: the
        task's budget ran out)."""
        score = self.scorer(state)
        if score is None:
            return None
        log_j = -score
        if log_j < self._incumbent_log:
            self.incumbent, self._incumbent_log = state, log_j
        return log_j

    def _current_log(self) -> float:
        """``log J`` of the current state (measured: every state the env holds is)."""
        assert self._state is not None
        score = self.scorer(self._state)
        return math.inf if score is None else -score

    def _root(self) -> DesignState:
        root = self.moves.random_state(self.np_random)
        for _ in range(ROOT_DRAWS - 1):
            if self.moves.context(root).fits_budget:
                break
            root = self.moves.random_state(self.np_random)
        return root

    # -- candidates -------------------------------------------------------------------------
    def _build_candidates(self, role: AgentId) -> list[Candidate]:
        assert self._state is not None
        state, rng = self._state, self.np_random
        costs = self.scorer.layer_costs(state)
        assert costs is not None
        out: list[Candidate] = []
        if role == HW:
            if not self.moves.context(state).fits_budget:
                moves = self.heuristic.shrinking(state)
            else:
                out.append(Candidate(None, None, 0.0, False))
                moves = self.heuristic.knob_moves(state, costs)
                moves += [t for t in self._neighbour_knobs(state) if t not in moves]
            moves = moves[: self.k - len(out)]
            n = max(1, len(moves))
            out += [Candidate(t, None, i / n, False) for i, t in enumerate(moves)]
            return out
        kinds = TILE_KINDS if role == SW_TILE else ORDER_KINDS
        layers = self.heuristic.focus_layers(costs, FOCUS_LAYERS, rng)
        ranked = self.heuristic.layer_moves(state, costs, layers, rng, kinds=kinds)
        ranked = ranked[: self.k - RANDOM_CANDIDATES]
        n = max(1, len(ranked))
        for i, t in enumerate(ranked):
            out.append(Candidate(t, self.heuristic.predicted_change(state, costs, t), i / n, False))
        for _ in range(8 * self.k):
            if len(out) >= self.k:
                break
            layer = int(rng.integers(len(state.tiles)))
            drawn = self.random.layer_move(state, layer, rng)
            if drawn is None or drawn.kind not in kinds or any(c.move == drawn for c in out):
                continue
            if not self._measured(state, drawn):
                predicted = self.heuristic.predicted_change(state, costs, drawn)
                out.append(Candidate(drawn, predicted, 1.0, True))
        return out

    def _kick(self, state: DesignState) -> DesignState:
        """``state`` perturbed: a step of one knob to an unmeasured neighbouring value that
        fits the area budget (if any), then :data:`KICK_LAYER_MOVES` random layer moves."""
        rng = self.np_random
        knobs = self._neighbour_knobs(state)
        if knobs:
            state = self.moves.apply(state, knobs[int(rng.integers(len(knobs)))])
        for _ in range(KICK_LAYER_MOVES):
            layer = int(rng.integers(len(state.tiles)))
            move = self.random.layer_move(state, layer, rng)
            if move is not None:
                state = self.moves.apply(state, move)
        return state

    def _measured(self, state: DesignState, t: Transformation) -> bool:
        """Whether the layer ``t`` moves has been evaluated in the form ``t`` gives it."""
        assert t.layer is not None
        new = self.moves.apply(state, t)
        li = t.layer
        return self.scorer.layer_cost(new.hw, li, new.tiles[li], new.orders[li]) is not None

    def _neighbour_knobs(self, state: DesignState) -> list[Transformation]:
        """Every knob one step up or down that fits the area budget and is not measured."""
        mv, out = self.moves, []
        for k in range(len(state.hw)):
            for value in (state.hw[k] - 1, state.hw[k] + 1):
                if value not in mv.knob_values(state, k):
                    continue
                hw = (*state.hw[:k], value, *state.hw[k + 1 :])
                if not mv.space.hardware_context(hw).fits_budget:
                    continue
                t = mv.knob(state, k, value)
                if self.scorer.layer_costs(mv.apply(state, t)) is None:
                    out.append(t)
        return out

    def candidate_features(self, state: DesignState, c: Candidate) -> np.ndarray:
        """:data:`CANDIDATE_FEATURES` numbers: present; predicted change x 10 and whether there
        is one; rank; random; kind one-hot (tile, order, keep, knob, keep-the-hardware); the
        layer's share of the objective and whether it is invalid; for a tile move ``log2`` of
        the factor moved / 4 and the levels it leaves and enters / levels; for a knob step its
        direction, whether it sizes the mesh and the level whose depth it sets / levels."""
        f = np.zeros(CANDIDATE_FEATURES, np.float32)
        f[0] = 1.0
        if c.predicted is not None:
            f[1], f[2] = _clip(REWARD_SCALE * c.predicted), 1.0
        f[3], f[4] = c.rank, float(c.random)
        t = c.move
        if t is None:
            f[9] = 1.0
            return f
        f[5 + _KINDS.index(t.kind)] = 1.0
        levels = max(1, self.space.num_levels)
        if t.layer is None:
            knob = self.space.design_space.knobs[t.position]
            f[12] = float(np.sign(t.value - state.hw[t.position]))
            f[13] = float(knob.target.section == "spatial")
            names = [lv.name for lv in self.space.largest_arch.storage]
            if knob.target.node in names:
                f[14] = names.index(knob.target.node) / levels
            return f
        costs = self.scorer.layer_costs(state)
        assert costs is not None
        f[10], f[11] = self._share(costs, t.layer), float(not costs[t.layer].valid)
        if t.kind == MoveKind.TILE:
            vocab = self.space.vocab[t.layer][t.position]
            old = np.log2(np.asarray(vocab[state.tiles[t.layer][t.position]], np.float64))
            new = np.log2(np.asarray(vocab[t.value], np.float64))
            delta = new - old
            slots = self.moves.slots
            f[12] = float(np.abs(delta).sum() / 8.0)
            f[13] = slots[int(np.argmin(delta))][0] / levels
            f[14] = slots[int(np.argmax(delta))][0] / levels
        return f

    def _share(self, costs: Any, layer: int) -> float:
        counts = self.task.counts
        energy = sum(n * c.energy_pj for n, c in zip(counts, costs, strict=True))
        cycles = sum(n * c.cycles for n, c in zip(counts, costs, strict=True))
        c = costs[layer]
        n = counts[layer]
        return 0.5 * n * (c.energy_pj / max(energy, 1e-300) + c.cycles / max(cycles, 1e-300))

    # -- observations -----------------------------------------------------------------------
    def _context(self, role: AgentId | None) -> np.ndarray:
        assert self._state is not None
        state, sp = self._state, self.space
        log_j = self._current_log()
        ctx = self.moves.context(state)
        costs = self.scorer.layer_costs(state) or ()
        den = np.maximum(np.asarray(sp.hw_nvec, np.float32) - 1.0, 1.0)
        turn = np.zeros(len(TURN_ORDER), np.float32)
        if role is not None:
            turn[TURN_ORDER.index(role)] = 1.0
        parts = [
            [
                self._t / self.steps,
                _clip(log_j - self._start_log),
                _clip(log_j - self._incumbent_log),
            ],
            np.asarray(state.hw, np.float32) / den,
            [
                min(FEATURE_LIMIT, ctx.area_um2 / sp.area_budget_um2),
                sum(not c.valid for c in costs) / max(1, len(costs)),
            ],
            turn,
        ]
        return np.concatenate([np.asarray(p, np.float32) for p in parts])

    def _observe(self, agents: list[AgentId], *, final: bool = False) -> dict[str, Any]:
        assert self._state is not None
        role = None if final else self._role(self._t)
        cand = np.zeros((self.k, CANDIDATE_FEATURES), np.float32)
        mask = np.ones(self.k, np.float32)
        if not final:
            mask[:] = 0.0
            for i, c in enumerate(self._candidates):
                cand[i] = self.candidate_features(self._state, c)
                mask[i] = 1.0
        obs = np.concatenate([self._context(role), cand.ravel()]).astype(np.float32)
        out = {}
        for a in agents:
            idle = final or a != role
            out[a.value] = {
                ObsKey.OBSERVATIONS.value: obs,
                ObsKey.ACTION_MASK.value: np.ones(self.k, np.float32) if idle else mask,
                ObsKey.GLOBAL_STATE.value: obs.copy(),
            }
        return out

    def _prepare_turn(self) -> None:
        """Candidates of the step about to be taken (at least one: keep the hardware, or the
        state as it is when a software role has no move)."""
        role = self._role(self._t)
        self._candidates = self._build_candidates(role) or [Candidate(None, None, 0.0, False)]

    # -- protocol ---------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        state = self.incumbent or self.start or self._root()
        self._kicked = False
        if self.incumbent is not None:
            improved = self._incumbent_log < self._episode_incumbent
            self._stale = 0 if improved else self._stale + 1
            if self.patience and self._stale >= self.patience:
                state, self._kicked, self._stale = self._kick(self.incumbent), True, 0
                self.restarts += 1
        log_j = self._log_objective(state)
        if log_j is None:
            raise RuntimeError("the env's evaluation budget is spent")
        self._state, self._t, self.accepted = state, 0, 0
        self._start_log = self._period_start = self._period_best = log_j
        self._episode_incumbent = self._incumbent_log
        self._episode_best, self._episode_best_log = state, log_j
        self.agents = list(self.possible_agents)
        self._prepare_turn()
        return self._observe([self._role(0)]), {}

    def step(self, action_dict: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        assert self._state is not None
        role = self._role(self._t) if self._t < self.steps else None
        action = turn_action(role, action_dict)
        index = int(action[0])
        if not 0 <= index < len(self._candidates):
            index = 0
        move = self._candidates[index].move
        before = self._current_log()
        rewards: dict[str, float] = {}
        if role == HW:
            self._period_start = before
            if move is not None:
                new = self.moves.apply(self._state, move)
                after = self._log_objective(new)
                if after is not None:
                    self._state = new
                    self.accepted += 1
            self._period_best = self._current_log()
            rewards[HW.value] = 0.0
        else:
            reward = 0.0
            if move is not None:
                new = self.moves.apply(self._state, move)
                after = self._log_objective(new)
                if after is not None:
                    gain = before - after
                    reward = float(np.clip(REWARD_SCALE * gain, REWARD_MIN, REWARD_MAX))
                    if gain > 0:
                        self._state = new
                        self.accepted += 1
            assert role is not None
            rewards[role.value] = reward
            self._period_best = min(self._period_best, self._current_log())
        self._t += 1
        period_over = self._t >= self.steps or self._role(self._t) == HW
        if period_over:
            gain = self._period_start - self._period_best
            hw_reward = float(np.clip(REWARD_SCALE * gain, REWARD_MIN, REWARD_MAX))
            rewards[HW.value] = rewards.get(HW.value, 0.0) + hw_reward
            current = self._current_log()
            if current < self._episode_best_log:
                self._episode_best, self._episode_best_log = self._state, current
            if self._kicked:  # a perturbed restart explores from its own best
                self._state = self._episode_best
            elif self.incumbent is not None and current > self._incumbent_log:
                self._state = self.incumbent  # the branch lost: back to the best design
        if self._t >= self.steps:
            return self._finish(rewards)
        self._prepare_turn()
        nxt = self._role(self._t)
        return self._observe([nxt]), rewards, {ALL_DONE: False}, {ALL_DONE: False}, {}

    def _finish(self, rewards: dict[str, float]) -> tuple[dict[str, Any], ...]:
        agents = list(TURN_ORDER)
        info = {a.value: {INFO_KEY: self._metrics()} for a in agents}
        full = {a.value: rewards.get(a.value, 0.0) for a in agents}
        return self._observe(agents, final=True), full, {ALL_DONE: True}, {ALL_DONE: False}, info

    def _metrics(self) -> dict[str, float]:
        assert self._state is not None
        costs = self.scorer.layer_costs(self._state)
        complete = costs is not None and all(c.valid for c in costs)
        objective = self.scorer.objective(costs) if costs is not None and complete else math.inf
        return {
            "objective": float(objective),
            "best_so_far": float(math.exp(self._incumbent_log)),
            "evaluations": float(self.task.evaluations),
            "accepted": float(self.accepted),
            "restarts": float(self.restarts),
        }

    def close(self) -> None:
        if self.task.records is not None:
            self.task.records.commit()
            self.task.records.close()
            self.task.records = None
