"""A mapping lowered to Timeloop's loop nest (``src/mapping/parser.cpp``).

Loops are listed inner to outer. Per storage level (inner to outer) come first its spatial loops
(its fanout to the level below), then its temporal loops, each in permutation order. Loops with
bound 1 are dropped; a level left without a temporal loop gets one trivial loop (bound 1, last
problem dimension), so that every level has a *boundary*: its outermost loop, always temporal.
The tile of level L covers every loop up to and including L's boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from dcoc.accel.mapping import Mapping


class LoopAxis(IntEnum):
    """Where a loop runs: in time, or across the X or Y axis of a fanout."""

    TEMPORAL = 0
    SPATIAL_X = 1
    SPATIAL_Y = 2

    @property
    def is_spatial(self) -> bool:
        return self != LoopAxis.TEMPORAL


@dataclass(frozen=True)
class Loop:
    dim: int
    """Index into ``Problem.dimensions``."""
    bound: int
    axis: LoopAxis
    level: int
    """Storage level (index into ``Architecture.storage``) that owns the loop."""


@dataclass(frozen=True)
class LoopNest:
    """Loops inner to outer, each storage level's boundary loop index, and its keep mask."""

    loops: tuple[Loop, ...]
    boundaries: tuple[int, ...]
    keep: tuple[tuple[bool, ...], ...]
    num_dims: int
    fanout_xy: tuple[tuple[int, int], ...] = ()
    """Per storage level, the hardware's X and Y fanout (``Architecture.fanout_xy``); the
    neighbour-link analysis needs the physical array shape. Empty: no link transfers."""

    @property
    def num_levels(self) -> int:
        return len(self.boundaries)

    def level_loops(self, level: int) -> tuple[Loop, ...]:
        start = 0 if level == 0 else self.boundaries[level - 1] + 1
        return self.loops[start : self.boundaries[level] + 1]


def lower(mapping: Mapping, num_dims: int, fanout_xy: tuple[tuple[int, int], ...] = ()) -> LoopNest:
    """Lower ``mapping`` to its loop nest; ``num_dims`` is ``len(problem.dimensions)``,
    ``fanout_xy`` the architecture's per-level X/Y fanouts (for link transfers)."""
    loops: list[Loop] = []
    boundaries: list[int] = []
    for li, lm in enumerate(mapping.levels):
        for d in lm.spatial_permutation:
            if lm.spatial_x[d] > 1:
                loops.append(Loop(d, lm.spatial_x[d], LoopAxis.SPATIAL_X, li))
        for d in lm.spatial_permutation:
            if lm.spatial_y[d] > 1:
                loops.append(Loop(d, lm.spatial_y[d], LoopAxis.SPATIAL_Y, li))
        added = 0
        for d in lm.permutation:
            if lm.temporal[d] > 1:
                loops.append(Loop(d, lm.temporal[d], LoopAxis.TEMPORAL, li))
                added += 1
        if added == 0:
            loops.append(Loop(num_dims - 1, 1, LoopAxis.TEMPORAL, li))
        boundaries.append(len(loops) - 1)
    return LoopNest(
        tuple(loops),
        tuple(boundaries),
        tuple(lm.keep for lm in mapping.levels),
        num_dims,
        tuple(fanout_xy),
    )
