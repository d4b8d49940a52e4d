"""Deterministic repair of a tiling whose spatial factors overflow a mesh.

A per-dimension action mask cannot express that the spatial factors of *all* dimensions on one
mesh axis must multiply to at most its fanout; decoding repairs the joint overflow instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.model.nest import LoopAxis


def repair_fanout(arch: Architecture, ms: MapSpace, f: np.ndarray, exact: Sequence[int]) -> None:
    """Make the factors ``f`` ``[dims, slots]`` of ``ms``'s slots fit every mesh, in place.

    For each spatial slot whose factors overflow its fanout, dimensions are visited in order
    (``exact``: those with constraint-fixed spatial factors, first, then the rest): a factor
    that does not fit the room left shrinks to its largest divisor that fits (and that the
    spatial constraint allows) and the rest moves to the temporal loop of the nearest
    non-dummy level at or above the slot that allows it. Products per dimension are kept; a
    factor that has nowhere to go stays (the model then reports the overflow).
    """
    nd = f.shape[0]
    order = [*exact, *(d for d in range(nd) if d not in exact)]
    temporal_col = {s.level: i for i, s in enumerate(ms.slots) if s.axis == LoopAxis.TEMPORAL}
    for col, slot in enumerate(ms.slots):
        if slot.axis == LoopAxis.TEMPORAL:
            continue
        fx, fy = arch.fanout_xy(slot.level)
        limit = fx if slot.axis == LoopAxis.SPATIAL_X else fy
        if int(np.prod(f[:, col])) <= limit:
            continue
        room = limit
        bounds = ms.constraints.levels[slot.level].spatial.factors
        other = [
            c
            for c, s in enumerate(ms.slots)
            if s.level == slot.level and s.axis not in (slot.axis, LoopAxis.TEMPORAL)
        ]
        for d in order:
            want = int(f[d, col])
            sibling = int(np.prod(f[d, other])) if other else 1
            g = want
            if want > room:
                fits = [
                    x for x in range(room, 0, -1) if want % x == 0 and bounds[d].allows(x * sibling)
                ]
                target = (
                    _temporal_home(arch, ms, slot.level, d, f, temporal_col, want // fits[0])
                    if fits
                    else None
                )
                if target is not None:
                    g = fits[0]
                    f[d, col] = g
                    f[d, target] *= want // g
            room = max(1, room // g)


def _temporal_home(
    arch: Architecture,
    ms: MapSpace,
    level: int,
    d: int,
    f: np.ndarray,
    temporal_col: dict[int, int],
    extra: int,
) -> int | None:
    """Column of the nearest non-dummy level at or above ``level`` whose temporal loop of
    ``d`` may grow by ``extra``."""
    for li in range(level, ms.num_levels):
        col = temporal_col.get(li)
        if arch.storage[li].is_dummy or col is None:
            continue
        if ms.constraints.levels[li].temporal.factors[d].allows(int(f[d, col]) * extra):
            return col
    return None
