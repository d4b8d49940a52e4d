"""Transformations of TVM CPU schedules, a free analytical prior, and their proposers.

A state is a :class:`~dcoc.tvm.design_space.DesignPoint` (a sketch and one decision per
MetaSchedule sampling slot). A transformation (:class:`ScheduleMove`) sets one slot to another
legal value, or switches to another sketch with the same slots. Two proposers, behind the tree
search's :class:`~dcoc.search.mcts.Proposer` interface:

* ``random``: a slot chosen uniformly, set to a uniformly chosen other legal value (a jump);
* ``heuristic``: the *local* moves of a schedule (one prime factor of a tile moved to another
  level of the same loop, an unroll step up or down, another sketch), ranked by
  :class:`SchedulePrior`, with a quarter left to random local moves (``explore``).

:class:`SchedulePrior` reads a schedule's tiles as the CPU executes MetaSchedule's
``SSRSRS`` multi-level tiling (spatial levels 0-3, reduction levels 0-1, the innermost spatial
level vectorized over the output's last dimension) and scores what makes such a loop nest fast:

* the vector: the innermost tile of the output's last dimension fills whole SIMD vectors
  (``lanes`` of 32-bit floats; partial vectors waste lanes);
* the register block: the innermost spatial tiles hold 12 to 28 vector accumulators
  (fewer leave the FMA pipes idle: two pipes of four cycles' latency need eight independent
  accumulators besides the loads; more spill);
* the vector's row: the vectorized dimension is not split again at spatial level 2 (between
  the two reduction levels), so each register block writes one contiguous row of vectors;
* the L1 and L2 tiles: the data the level-2 and level-1 spatial tiles touch fit 32 KiB and
  1 MiB;
* unrolling: some explicit unrolling.

Its value is ``exp`` of a sum of log-scale penalties: 1.0 is a schedule with no penalty. It is
a prior for ranking, not a latency model; the tree search replaces it by the learned cost model
once measurements exist (:mod:`dcoc.search.cpu_mcts`) and keeps it from straying into
schedules the prior penalizes.

The weights (the register range, the level-2 split of the vector) were set from what the
measurements of ``matmul:512,512,512`` (bench seeds 0-2) showed on an AVX-512 core: with the
same tiles otherwise, 8 accumulators ran 3.7x slower than 16, and an ``N`` tile of
``[8, 1, 2, 32]`` 4.9x slower than ``[8, 2, 1, 32]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dcoc.search.mcts import Lineage
from dcoc.tvm.compute import DTYPE, EinsumSpec
from dcoc.tvm.design_space import Decision, DesignPoint, DesignSpace, SlotKind

L1_BYTES = 32 * 1024
L2_BYTES = 1024 * 1024
REGISTERS = (12, 28)
"""Vector accumulators the register block should hold (AVX-512 has 32 registers)."""
EXPLORE = 0.25
"""Share of the heuristic's proposals left to random local moves."""


@dataclass(frozen=True)
class ScheduleMove:
    """Set ``slot`` to ``value`` (``slot is None``: switch to sketch ``sketch``)."""

    slot: int | None
    value: Decision | None
    sketch: int
    description: str


def apply_move(point: DesignPoint, move: ScheduleMove) -> DesignPoint:
    if move.slot is None:
        return DesignPoint(move.sketch, point.decisions)
    decisions = list(point.decisions)
    assert move.value is not None
    decisions[move.slot] = move.value
    return DesignPoint(point.sketch, tuple(decisions))


def _primes(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return sorted(set(out))


class ScheduleMoves:
    """The legal transformations of the schedules of one design space."""

    def __init__(self, space: DesignSpace) -> None:
        self.space = space
        first = space.sketches[0].slots
        # sketches a point can switch to keeping its decisions: the same slots and choices
        self._twins = tuple(
            s.index
            for s in space.sketches
            if [(x.name, x.choices) for x in s.slots] == [(x.name, x.choices) for x in first]
        )

    def local(self, point: DesignPoint) -> list[ScheduleMove]:
        """One prime factor moved between two levels of one tile; a categorical one step up or
        down; another sketch with the same slots."""
        sketch = self.space.sketches[point.sketch]
        out: list[ScheduleMove] = []
        for i, slot in enumerate(sketch.slots):
            value = point.decisions[i]
            if slot.kind is SlotKind.PERFECT_TILE:
                assert isinstance(value, tuple)
                legal = set(slot.choices)
                for src, factor in enumerate(value):
                    for p in _primes(factor):
                        for dst in range(len(value)):
                            if dst == src:
                                continue
                            new = list(value)
                            new[src] //= p
                            new[dst] *= p
                            tiles = tuple(new)
                            if tiles in legal:
                                out.append(
                                    ScheduleMove(
                                        i,
                                        tiles,
                                        point.sketch,
                                        f"{slot.name}: {list(value)} -> {list(tiles)}",
                                    )
                                )
            else:
                assert isinstance(value, int) and slot.candidates is not None
                for step in (-1, 1):
                    new_index = value + step
                    if 0 <= new_index < len(slot.choices):
                        out.append(
                            ScheduleMove(
                                i,
                                new_index,
                                point.sketch,
                                f"{slot.name}: {slot.candidates[value]} -> "
                                f"{slot.candidates[new_index]}",
                            )
                        )
        if point.sketch in self._twins:
            out.extend(
                ScheduleMove(None, None, s, f"sketch {point.sketch} -> {s}")
                for s in self._twins
                if s != point.sketch
            )
        return out

    def jump(self, point: DesignPoint, rng: np.random.Generator) -> ScheduleMove | None:
        """A uniformly chosen slot set to a uniformly chosen other legal value."""
        sketch = self.space.sketches[point.sketch]
        slots = [i for i, s in enumerate(sketch.slots) if len(s.choices) > 1]
        if not slots:
            return None
        i = slots[int(rng.integers(len(slots)))]
        slot = sketch.slots[i]
        others = [c for c in slot.choices if c != point.decisions[i]]
        value = others[int(rng.integers(len(others)))]
        shown = slot.candidates[value] if isinstance(value, int) and slot.candidates else value
        return ScheduleMove(i, value, point.sketch, f"{slot.name}: -> {shown}")


def _dimension(slot_name: str, dimensions: Sequence[str]) -> str | None:
    """The problem dimension a ``tile:<loop>`` slot splits (``tile:k_r`` splits ``K``)."""
    loop = slot_name.removeprefix("tile:").split("#")[0].removesuffix("_r")
    by_lower = {d.lower(): d for d in dimensions}
    return by_lower.get(loop.lower())


class SchedulePrior:
    """The analytical prior of the module docstring, for one design space and SIMD width."""

    def __init__(self, space: DesignSpace, vector_bits: int) -> None:
        self.spec: EinsumSpec = space.spec
        self.space = space
        self.lanes = max(1, vector_bits // 32)
        self.element_bytes = int(DTYPE.removeprefix("float")) // 8
        self.vector_dimension = self.spec.output.projection[-1][0][0]
        self._spatial = set(self.spec.output_dimensions)

    def tiles(self, point: DesignPoint) -> dict[str, tuple[int, ...]]:
        """Problem dimension -> its tile factors, outermost first."""
        sketch = self.space.sketches[point.sketch]
        out: dict[str, tuple[int, ...]] = {}
        for slot, value in zip(sketch.slots, point.decisions, strict=True):
            if slot.kind is SlotKind.PERFECT_TILE:
                dim = _dimension(slot.name, self.spec.dimensions)
                if dim is not None and isinstance(value, tuple):
                    out[dim] = value
        return out

    def _footprint(self, extents: dict[str, int]) -> int:
        total = 0
        for tensor in (*self.spec.inputs, self.spec.output):
            size = 1
            for terms in tensor.projection:
                size *= 1 + sum(abs(c) * (extents.get(d, 1) - 1) for d, c in terms)
            total += size
        return total * self.element_bytes

    def log_score(self, point: DesignPoint) -> float:
        tiles = self.tiles(point)
        spatial = {d: t for d, t in tiles.items() if d in self._spatial}
        reduction = {d: t for d, t in tiles.items() if d not in self._spatial}
        penalty = 0.0
        vector = spatial.get(self.vector_dimension, (1,))[-1]
        vectors = math.ceil(vector / self.lanes)
        penalty += math.log(vectors * self.lanes / vector)  # lanes left empty
        accumulators = vectors * math.prod(
            t[-1] for d, t in spatial.items() if d != self.vector_dimension
        )
        low, high = REGISTERS
        penalty += 1.0 * max(0.0, math.log2(low / accumulators))
        penalty += 1.0 * max(0.0, math.log2(accumulators / high))
        vector_tiles = spatial.get(self.vector_dimension, ())
        if len(vector_tiles) >= 2 and vector_tiles[-2] > 1:
            penalty += 1.0  # the vector's row split between the reduction levels
        l1 = {d: math.prod(t[-2:]) for d, t in spatial.items()}
        l1.update({d: t[-1] for d, t in reduction.items()})
        penalty += 0.5 * max(0.0, math.log2(self._footprint(l1) / L1_BYTES))
        l2 = {d: math.prod(t[-3:]) for d, t in spatial.items()}
        l2.update({d: math.prod(t) for d, t in reduction.items()})
        penalty += 0.3 * max(0.0, math.log2(self._footprint(l2) / L2_BYTES))
        sketch = self.space.sketches[point.sketch]
        for slot, value in zip(sketch.slots, point.decisions, strict=True):
            if slot.kind is SlotKind.CATEGORICAL and slot.name.startswith("unroll"):
                assert slot.candidates is not None and isinstance(value, int)
                penalty += 0.1 if slot.candidates[value] == 0 else 0.0
        return -penalty

    def __call__(self, point: DesignPoint) -> float:
        return math.exp(self.log_score(point))

    def describe(self, point: DesignPoint) -> str:
        """What the prior reads in a schedule, in words (the LLM proposer's prompt)."""
        spatial = {d: t for d, t in self.tiles(point).items() if d in self._spatial}
        vector = spatial.get(self.vector_dimension, (1,))[-1]
        vectors = math.ceil(vector / self.lanes)
        others = math.prod(t[-1] for d, t in spatial.items() if d != self.vector_dimension)
        used = 100 * vector / (vectors * self.lanes)
        return f"vector {vector} ({used:.0f}% of lanes), {vectors * others} accumulators"


class RandomScheduleProposer:
    """Jumps: a random slot set to a random other legal value."""

    def __init__(self, moves: ScheduleMoves) -> None:
        self.moves = moves

    def propose(
        self, node: Lineage[DesignPoint, ScheduleMove], count: int, rng: np.random.Generator
    ) -> list[ScheduleMove]:
        out: dict[DesignPoint, ScheduleMove] = {}
        for _ in range(4 * count):
            move = self.moves.jump(node.state, rng)
            if move is None:
                break
            out.setdefault(apply_move(node.state, move), move)
            if len(out) == count:
                break
        return list(out.values())


class HeuristicScheduleProposer:
    """Local moves ranked by the prior, ``explore`` of them random local moves."""

    def __init__(
        self, moves: ScheduleMoves, prior: SchedulePrior, explore: float = EXPLORE
    ) -> None:
        self.moves = moves
        self.prior = prior
        self.explore = explore

    def propose(
        self, node: Lineage[DesignPoint, ScheduleMove], count: int, rng: np.random.Generator
    ) -> list[ScheduleMove]:
        local = self.moves.local(node.state)
        if not local:
            return []
        scores = np.array([self.prior.log_score(apply_move(node.state, m)) for m in local])
        # stable best-first order; ties in the prior keep the generator's shuffle
        shuffled = rng.permutation(len(local))
        ranked = [int(i) for i in shuffled[np.argsort(-scores[shuffled], kind="stable")]]
        explore = min(len(ranked), round(count * self.explore))
        chosen = ranked[: count - explore]
        rest = [i for i in ranked if i not in chosen]
        if explore and rest:
            picks = rng.choice(len(rest), size=min(explore, len(rest)), replace=False)
            chosen += [rest[int(j)] for j in picks]
        return [local[i] for i in chosen]


ScheduleProposer = RandomScheduleProposer | HeuristicScheduleProposer
PROPOSERS = ("heuristic", "random", "llm")
"""``llm``: :class:`~dcoc.search.schedule_llm_proposer.ScheduleLlmProposer`."""


def build_schedule_proposer(
    name: str, moves: ScheduleMoves, prior: SchedulePrior
) -> ScheduleProposer:
    """``heuristic`` or ``random`` (the ``llm`` proposer needs a backend:
    :mod:`dcoc.search.schedule_llm_proposer`)."""
    if name == "random":
        return RandomScheduleProposer(moves)
    if name == "heuristic":
        return HeuristicScheduleProposer(moves, prior)
    raise ValueError(f"unknown schedule proposer {name!r}; known: {', '.join(PROPOSERS)}")
