"""Proposers of co-design transformations for the tree search (:mod:`dcoc.search.mcts`).

A proposer is shown a state's :class:`~dcoc.search.mcts.Lineage` and returns up to ``count``
:class:`~dcoc.search.design_moves.Transformation` of it, every one legal
(:mod:`dcoc.search.design_moves`). Three, by name (:data:`PROPOSERS`, :func:`build_proposer`):

``random``
    Uniform at each step of the choice: with probability ``hw_share`` a knob (uniform), moved to
    a neighbouring allowed value or, half the time, to any allowed value; otherwise a layer
    (uniform), a kind among those it has (tile, order, keep; uniform), a position (uniform), and
    a value: for a tile half the time one prime factor moved between two slots, else any
    allowed entry; for an order any other allowed class; for a keep bit its flip.

``heuristic``
    From the cost numbers the search already has (the measured cycles and energy of every layer
    of the state, :class:`CostLookup`) and an analytical estimate of each move
    (:mod:`dcoc.search.traffic_estimate`; free: no model call). Layers are picked by their weight
    in the network objective, ``count x (energy share + cycle share)`` (the derivative of log
    EDP), invalid layers first. A layer's candidates are every local tile move (one prime
    factor between two slots), other loop-order classes at the two levels the estimate charges
    most energy, and keep flips; each is predicted by scaling the layer's measured cost by the
    estimate's ratio (new / current) and ranked by the predicted network objective. Moves the
    estimate says overflow a buffer are dropped (an invalid layer's are ranked by the overflow
    they leave), and so are moves whose result was measured already (nothing to learn). Knob
    moves follow the per-level numbers (:meth:`HeuristicProposer.knob_moves`): a buffer some
    layer fills grows, one no layer fills shrinks, the mesh grows when the MAC units are busy
    and shrinks when they idle; hardware over the area budget shrinks the knob that saves most.
    An expansion gets the ``count - hw_slots`` best layer moves of the ``layers`` heaviest
    layers and ``hw_slots`` knob moves; a single proposal (a rollout step) is a knob move with
    probability ``hw_share``, else the best of ``rollout_candidates`` moves of one layer drawn
    by weight. A share ``explore`` of an expansion's proposals, and of rollout steps, is left
    to ``random`` (the ranking alone climbs fast, then sticks in a local optimum); short
    lists are filled by ``random``, as is everything for a state without cost numbers.

``llm``
    A language model picks an expansion's transformations among the heuristic's and a few
    random ones; everything else, and every answer it cannot use, is the heuristic's
    (:mod:`dcoc.search.llm_proposer`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from dcoc.objective import Objective
from dcoc.search.design_moves import DesignMoves, DesignState, MoveKind, Transformation
from dcoc.search.mcts import Lineage, Proposer
from dcoc.search.traffic_estimate import Estimate, TrafficEstimator

LAYER_MOVE_KINDS = frozenset({MoveKind.TILE, MoveKind.ORDER, MoveKind.KEEP})
"""The moves of one layer's mapping."""

if TYPE_CHECKING:
    from dcoc.search.llm_proposer import LlmLog, LlmProposerSettings

DesignLineage = Lineage[DesignState, Transformation]
DesignProposer = Proposer[DesignState, Transformation]


@dataclass(frozen=True)
class LayerCost:
    """One layer's measured cost in a state."""

    valid: bool
    cycles: float
    energy_pj: float


class CostLookup(Protocol):
    """The measured costs of states and layer mappings (``None``: not evaluated yet)."""

    def layer_costs(self, state: DesignState) -> Sequence[LayerCost] | None: ...

    def layer_cost(
        self, hw: tuple[int, ...], layer: int, tile: tuple[int, ...], order: tuple[int, ...]
    ) -> LayerCost | None: ...


# -- random ----------------------------------------------------------------------------------
@dataclass
class RandomProposer:
    moves: DesignMoves
    hw_share: float = 0.1
    """Probability that a proposal moves a knob (the SA's hardware-move rate)."""
    local: float = 0.5
    """Probability that a tile or knob move is a local step (else any allowed value)."""

    def propose(
        self, node: DesignLineage, count: int, rng: np.random.Generator
    ) -> list[Transformation]:
        out: list[Transformation] = []
        for _ in range(4 * count):
            if len(out) == count:
                break
            t = self.sample(node.state, rng)
            if t is not None and t not in out:
                out.append(t)
        return out

    def sample(self, state: DesignState, rng: np.random.Generator) -> Transformation | None:
        """One random legal transformation (``None`` if the drawn target has no move)."""
        if rng.random() < self.hw_share:
            return self._knob(state, rng)
        return self.layer_move(state, int(rng.integers(len(state.tiles))), rng)

    def layer_move(
        self, state: DesignState, layer: int, rng: np.random.Generator
    ) -> Transformation | None:
        mv = self.moves
        kinds = []
        positions = mv.tile_positions(layer)
        if positions:
            kinds.append(MoveKind.TILE)
        levels = mv.order_levels(state, layer)
        if levels:
            kinds.append(MoveKind.ORDER)
        bits = mv.keep_bits(state, layer)
        if bits:
            kinds.append(MoveKind.KEEP)
        if not kinds:
            return None
        kind = kinds[int(rng.integers(len(kinds)))]
        if kind == MoveKind.TILE:
            pos = positions[int(rng.integers(len(positions)))]
            if rng.random() < self.local:
                local = mv.factor_moves(state, layer, pos)
                if local:
                    return local[int(rng.integers(len(local)))]
            values = mv.tile_values(state, layer, pos)
            return mv.tile(layer, pos, int(rng.choice(values))) if values.size else None
        if kind == MoveKind.ORDER:
            level = levels[int(rng.integers(len(levels)))]
            values = mv.order_values(state, layer, level)
            return mv.order(state, layer, level, int(rng.choice(values))) if values.size else None
        return mv.keep(state, layer, bits[int(rng.integers(len(bits)))])

    def _knob(self, state: DesignState, rng: np.random.Generator) -> Transformation | None:
        mv = self.moves
        knobs = [k for k in range(len(state.hw)) if mv.knob_values(state, k)]
        if not knobs:
            return None
        k = knobs[int(rng.integers(len(knobs)))]
        values = mv.knob_values(state, k)
        if rng.random() < self.local:
            near = [v for v in values if abs(v - state.hw[k]) == 1]
            values = near or values
        return mv.knob(state, k, values[int(rng.integers(len(values)))])


# -- heuristic -------------------------------------------------------------------------------
@dataclass
class HeuristicProposer:
    moves: DesignMoves
    costs: CostLookup
    objective: str = "edp"
    counts: tuple[int, ...] = ()
    """Per layer its count in the network (default 1 each)."""
    layers: int = 2
    """Layers (by weight) whose moves are ranked for an expansion."""
    order_samples: int = 6
    """Other loop-order classes tried per level."""
    hw_slots: int = 1
    """Knob moves among an expansion's proposals."""
    hw_share: float = 0.1
    """Probability that a single proposal (a rollout step) is a knob move."""
    rollout_candidates: int = 12
    """Layer moves ranked for a single proposal (drawn from one layer's)."""
    explore: float = 0.25
    """Share of an expansion's proposals, and probability of a rollout step, left to the
    ``random`` proposer (diversity the ranking lacks)."""
    grow_fill: float = 0.8
    """A buffer whose kept tiles take more than this share (in some layer) should grow."""
    shrink_fill: float = 0.25
    """A buffer whose kept tiles take less than this share (in every layer) may shrink."""
    grow_utilization: float = 0.75
    shrink_utilization: float = 0.4
    """Cycle-weighted MAC-unit use above which the mesh should grow, below which shrink."""

    def __post_init__(self) -> None:
        self._random = RandomProposer(self.moves)
        self._estimates: dict[tuple[object, ...], Estimate] = {}
        self._after: dict[tuple[object, ...], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        self._estimator = TrafficEstimator(self.moves.space)

    def propose(
        self, node: DesignLineage, count: int, rng: np.random.Generator
    ) -> list[Transformation]:
        state = node.state
        costs = self.costs.layer_costs(state)
        if costs is None:
            return self._random.propose(node, count, rng)
        if not self.moves.context(state).fits_budget:
            out = self.shrinking(state)[:count]
        elif count == 1:
            if rng.random() < self.explore:
                out = []
            elif rng.random() < self.hw_share:
                knobs = self.knob_moves(state, costs)
                out = [knobs[int(rng.integers(len(knobs)))]] if knobs else []
            else:
                layer = self.focus_layers(costs, 1, rng)[0]
                out = self.layer_moves(state, costs, [layer], rng, self.rollout_candidates)[:1]
        else:
            ranked = count - round(self.explore * count)
            hw = self.knob_moves(state, costs)[: min(self.hw_slots, ranked)]
            out = self.layer_moves(state, costs, self.focus_layers(costs, self.layers, rng), rng)
            out = out[: ranked - len(hw)] + hw
        if len(out) < count:
            extra = self._random.propose(node, count - len(out), rng)
            out += [t for t in extra if t not in out]
        return out

    def layer_moves(
        self,
        state: DesignState,
        costs: Sequence[LayerCost],
        layers: Sequence[int],
        rng: np.random.Generator,
        sample: int | None = None,
        kinds: Collection[MoveKind] = LAYER_MOVE_KINDS,
    ) -> list[Transformation]:
        """Moves of ``layers`` of the given ``kinds``, best predicted network objective first
        (at most ``sample`` candidates drawn per layer, all by default); an invalid layer's by
        the overflow they leave; moves that the estimate says overflow a valid layer's buffers
        are dropped."""
        counts = self.counts or (1,) * len(costs)
        base = self._network(costs, counts)
        scored: list[tuple[float, int, Transformation]] = []
        for li in layers:
            current = self._estimate(state, li)
            candidates = self._layer_candidates(state, li, current, rng, kinds)
            if sample is not None and len(candidates) > sample:
                pick = rng.choice(len(candidates), size=sample, replace=False)
                candidates = [candidates[int(i)] for i in pick]
            for t in candidates:
                if self.costs.layer_cost(state.hw, li, *self._moved(state, li, t)) is not None:
                    continue  # measured already: nothing to learn
                est = self._estimate(state, li, t)
                if not costs[li].valid:
                    if est.overflow_words < current.overflow_words:
                        scored.append((-1e9 + est.overflow_words, len(scored), t))
                    continue
                if est.overflow_words > 0:
                    continue
                changed = list(costs)
                changed[li] = _scaled(costs[li], current, est)
                scored.append((self._network(changed, counts) - base, len(scored), t))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [t for _, _, t in scored]

    def predicted_change(
        self, state: DesignState, costs: Sequence[LayerCost], move: Transformation
    ) -> float | None:
        """The change of ``log`` network objective the ranking predicts for a layer ``move``
        (negative: better); ``None`` for a knob move, a move of an invalid layer, or one the
        estimate says overflows a buffer."""
        li = move.layer
        if li is None or not costs[li].valid:
            return None
        current, est = self._estimate(state, li), self._estimate(state, li, move)
        if est.overflow_words > 0:
            return None
        counts = self.counts or (1,) * len(costs)
        changed = list(costs)
        changed[li] = _scaled(costs[li], current, est)
        return self._network(changed, counts) - self._network(costs, counts)

    def knob_moves(self, state: DesignState, costs: Sequence[LayerCost]) -> list[Transformation]:
        """Neighbouring knob values the per-level numbers ask for, strongest first: a buffer
        that some layer fills beyond ``grow_fill`` grows, one every layer fills below
        ``shrink_fill`` shrinks; the mesh grows when the MAC units are busy beyond
        ``grow_utilization`` (cycle-weighted over the layers) and shrinks below
        ``shrink_utilization``. Only moves whose hardware fits the area budget."""
        mv = self.moves
        ctx = mv.context(state)
        names = {lv.name: j for j, lv in enumerate(ctx.arch.storage)}
        estimates = [self._estimate(state, li) for li in range(len(state.tiles))]
        counts = self.counts or (1,) * len(costs)
        weights = np.array([n * c.cycles for n, c in zip(counts, costs, strict=True)], float)
        weights = weights / max(weights.sum(), 1e-300)
        use = float(sum(w * e.utilization for w, e in zip(weights, estimates, strict=True)))
        wanted: list[tuple[float, int, int]] = []  # (strength, knob, step)
        for k, knob in enumerate(mv.space.design_space.knobs):
            target = knob.target
            if target.section == "spatial":
                if use > self.grow_utilization:
                    wanted.append((use - self.grow_utilization, k, 1))
                elif use < self.shrink_utilization:
                    wanted.append((self.shrink_utilization - use, k, -1))
            elif target.key == "depth" and target.node in names:
                j = names[target.node]
                fill = max(e.fill[j] for e in estimates)
                if fill > self.grow_fill:
                    wanted.append((fill - self.grow_fill, k, 1))
                elif fill < self.shrink_fill:
                    wanted.append((self.shrink_fill - fill, k, -1))
        out = []
        for _, k, step in sorted(wanted, key=lambda w: -w[0]):
            value = state.hw[k] + step
            if value in mv.knob_values(state, k):
                t = mv.knob(state, k, value)
                if not mv.space.hardware_context(_with(state.hw, k, value)).fits_budget:
                    continue
                if self.costs.layer_costs(mv.apply(state, t)) is None:  # not measured yet
                    out.append(t)
        return out

    def shrinking(self, state: DesignState) -> list[Transformation]:
        """Knob steps down, the one leaving the least area first (hardware over budget)."""
        mv = self.moves
        steps = []
        for k in range(len(state.hw)):
            value = state.hw[k] - 1
            if value in mv.knob_values(state, k):
                area = mv.space.hardware_context(_with(state.hw, k, value)).area_um2
                steps.append((area, k, mv.knob(state, k, value)))
        return [t for _, _, t in sorted(steps, key=lambda s: (s[0], s[1]))]

    def focus_layers(
        self, costs: Sequence[LayerCost], how_many: int, rng: np.random.Generator
    ) -> list[int]:
        """Invalid layers first; else the heaviest ``how_many - 1`` and one drawn by weight
        (``count x (energy share + cycle share)``) among the rest."""
        invalid = [li for li, c in enumerate(costs) if not c.valid]
        if invalid:
            return invalid[:how_many]
        counts = self.counts or (1,) * len(costs)
        energy = sum(n * c.energy_pj for n, c in zip(counts, costs, strict=True))
        cycles = sum(n * c.cycles for n, c in zip(counts, costs, strict=True))
        weights = np.array(
            [
                n * (c.energy_pj / max(energy, 1e-300) + c.cycles / max(cycles, 1e-300))
                for n, c in zip(counts, costs, strict=True)
            ]
        )
        top = [int(i) for i in np.argsort(-weights, kind="stable")[: how_many - 1]]
        rest = [li for li in range(len(costs)) if li not in top]
        if rest:
            top.append(int(rng.choice(rest, p=weights[rest] / weights[rest].sum())))
        return top

    def _layer_candidates(
        self,
        state: DesignState,
        layer: int,
        current: Estimate,
        rng: np.random.Generator,
        kinds: Collection[MoveKind] = LAYER_MOVE_KINDS,
    ) -> list[Transformation]:
        """Of ``kinds``: every local tile move, other order classes at the two levels charged
        most, keep flips."""
        mv = self.moves
        out: list[Transformation] = []
        if MoveKind.TILE in kinds:
            for pos in mv.tile_positions(layer):
                out += mv.factor_moves(state, layer, pos)
        if MoveKind.ORDER in kinds:
            level_map = mv.context(state).level_map

            def charged(level: int) -> float:
                j = level_map[level]
                return 0.0 if j is None else current.per_level_pj[j]

            for level in sorted(mv.order_levels(state, layer), key=charged, reverse=True)[:2]:
                values = mv.order_values(state, layer, level)
                if values.size > self.order_samples:
                    values = rng.choice(values, size=self.order_samples, replace=False)
                out += [mv.order(state, layer, level, int(v)) for v in values]
        if MoveKind.KEEP in kinds:
            out += [mv.keep(state, layer, bit) for bit in mv.keep_bits(state, layer)]
        return out

    def _estimate(
        self, state: DesignState, layer: int, move: Transformation | None = None
    ) -> Estimate:
        """The estimate of ``layer`` in ``state``, or after the layer ``move``."""
        tile, order = self._moved(state, layer, move)
        key = (state.hw, layer, tile, order)
        est = self._estimates.get(key)
        if est is None:
            space = self.moves.space
            ctx = space.hardware_context(state.hw)
            factors = self.moves.tile_factors(state.hw, layer, tile)
            mapping = space.mapping(ctx, layer, factors, order)
            est = self._estimator.estimate(ctx, layer, mapping)
            if len(self._estimates) > 100_000:
                self._estimates.clear()
            self._estimates[key] = est
        return est

    def _moved(
        self, state: DesignState, layer: int, move: Transformation | None
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``layer``'s tile and order actions after the layer ``move`` (as
        :meth:`~dcoc.search.design_moves.DesignMoves.apply` makes them)."""
        if move is None:
            return state.tiles[layer], state.orders[layer]
        key = (state.hw, layer, state.tiles[layer], state.orders[layer], move)
        out = self._after.get(key)
        if out is None:
            tile, order = list(state.tiles[layer]), list(state.orders[layer])
            if move.kind == MoveKind.TILE:
                tile[move.position] = move.value
            elif move.kind == MoveKind.ORDER:
                order[move.position] = move.value
            else:
                order[self.moves.space.num_levels + move.position] = move.value
            ctx = self.moves.context(state)
            out = self.moves.legalize(ctx, layer, tuple(tile), tuple(order))
            if len(self._after) > 100_000:
                self._after.clear()
            self._after[key] = out
        return out

    def _network(self, costs: Sequence[LayerCost], counts: Sequence[int]) -> float:
        cycles = sum(n * c.cycles for n, c in zip(counts, costs, strict=True))
        energy = sum(n * c.energy_pj for n, c in zip(counts, costs, strict=True))
        return math.log(max(Objective.parse(self.objective).of(cycles, energy), 1e-300))


def _with(hw: tuple[int, ...], knob: int, value: int) -> tuple[int, ...]:
    return (*hw[:knob], value, *hw[knob + 1 :])


def _scaled(measured: LayerCost, current: Estimate, new: Estimate) -> LayerCost:
    """``measured`` scaled by the estimate's ratios ``new / current``."""
    return LayerCost(
        True,
        measured.cycles * new.cycles / max(current.cycles, 1e-300),
        measured.energy_pj * new.energy_pj / max(current.energy_pj, 1e-300),
    )


# -- registry --------------------------------------------------------------------------------
PROPOSERS: dict[str, str] = {
    "random": "uniform among legal transformations (kind, position, value)",
    "heuristic": "the moves the measured costs and an analytical estimate rank best",
    "llm": "a language model picks among the heuristic's and random moves "
    "(dcoc.search.llm_proposer)",
}


def build_proposer(
    name: str,
    moves: DesignMoves,
    costs: CostLookup,
    *,
    objective: str = "edp",
    counts: tuple[int, ...] = (),
    llm: LlmProposerSettings | None = None,
    log: LlmLog | None = None,
) -> DesignProposer:
    """The proposer ``name`` (:data:`PROPOSERS`) over ``moves``; ``llm`` and ``log``: the LLM
    proposer's settings (default: its defaults and the ``DCOC_LLM_*`` environment) and where
    its calls are recorded. :class:`~dcoc.errors.ConfigError` if the LLM backend cannot be set
    up."""
    if name == "random":
        return RandomProposer(moves)
    if name == "heuristic":
        return HeuristicProposer(moves, costs, objective=objective, counts=counts)
    if name == "llm":
        from dcoc.llm.settings import build_backend
        from dcoc.search.llm_proposer import LlmProposer, LlmProposerSettings

        settings = llm or LlmProposerSettings()
        return LlmProposer(
            moves,
            costs,
            build_backend(settings.llm),
            settings,
            objective=objective,
            counts=counts,
            log=log,
        )
    raise KeyError(f"unknown proposer {name!r}; known: {sorted(PROPOSERS)}")
