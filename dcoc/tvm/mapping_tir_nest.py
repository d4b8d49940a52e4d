"""The loop nest a mapping program is emitted from: named loops outer→inner, and their checks.

:class:`MappedLoop` is the small explicit input of :func:`dcoc.tvm.mapping_tir.emit_tir`: one
loop per (storage level, dimension, temporal or spatial X/Y) factor, listed outermost first.
:func:`as_mapped_loops` builds it from the accelerator model's :class:`~dcoc.accel.Mapping`
(through :func:`dcoc.accel.model.nest.lower`) or :class:`~dcoc.accel.model.nest.LoopNest`, and
:func:`validate_nest` rejects a nest whose factors do not tile the problem before TVM sees it.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from math import prod

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.nest import LoopAxis, LoopNest, lower
from dcoc.errors import SpecError
from dcoc.workloads.problem import Problem


class LoopKind(StrEnum):
    """What a loop of the mapping is: a temporal loop or a spatial loop along X or Y."""

    TEMPORAL = "temporal"
    SPATIAL_X = "X"
    SPATIAL_Y = "Y"


def identifier(name: str) -> str:
    """``name`` made a valid TIR/Python identifier: ASCII letters, digits and ``_`` only (any
    other character, a newline or a quote say, becomes ``_``), never starting with a digit and
    never a Python keyword. Every name from a spec enters TIR text through this function."""
    out = re.sub(r"[^0-9A-Za-z_]", "_", name)
    out = out if out and not out[0].isdigit() else f"_{out}"
    return f"{out}_" if keyword.iskeyword(out) else out


@dataclass(frozen=True)
class MappedLoop:
    """One loop of a mapping's nest: ``extent`` iterations of ``dimension`` owned by ``level``."""

    level: str
    dimension: str
    extent: int
    kind: LoopKind = LoopKind.TEMPORAL

    @property
    def loop_name(self) -> str:
        """The loop variable's name in the TIR program: ``<level>_<dim>[_sX|_sY]``."""
        base = f"{identifier(self.level)}_{identifier(self.dimension)}"
        return base if self.kind is LoopKind.TEMPORAL else f"{base}_s{self.kind.value}"


NestLike = Sequence[MappedLoop] | Mapping | LoopNest
"""What the emitter accepts: loops outer→inner, an accelerator :class:`Mapping`, or its
lowered :class:`LoopNest`."""


def validate_nest(problem: Problem, loops: Sequence[MappedLoop]) -> None:
    """Raise :class:`SpecError` unless ``loops`` tile every dimension of ``problem`` exactly:
    known dimensions, positive integer extents, and per dimension the product of its loops'
    extents equal to its bound."""
    dims = set(problem.dimensions)
    factors: dict[str, list[MappedLoop]] = {d: [] for d in problem.dimensions}
    for i, loop in enumerate(loops):
        if loop.dimension not in dims:
            raise SpecError(
                None,
                ("mapping", i),
                f"level {loop.level!r} has a loop over {loop.dimension!r}, which is not a "
                f"dimension of {problem.name!r} (dimensions: {list(problem.dimensions)})",
            )
        if not isinstance(loop.extent, int) or isinstance(loop.extent, bool) or loop.extent < 1:
            raise SpecError(
                None,
                ("mapping", i),
                f"level {loop.level!r}: factor of {loop.dimension!r} must be a positive "
                f"integer, got {loop.extent!r}",
            )
        factors[loop.dimension].append(loop)
    for d in problem.dimensions:
        got = prod(lp.extent for lp in factors[d])
        if got != problem.bounds[d]:
            parts = " x ".join(f"{lp.level} {lp.extent}" for lp in factors[d]) or "no loops"
            raise SpecError(
                None,
                ("mapping",),
                f"the factors of dimension {d!r} multiply to {got} ({parts}) but its bound is "
                f"{problem.bounds[d]}; make the factors of {d!r} multiply to "
                f"{problem.bounds[d]}",
            )


def as_mapped_loops(
    problem: Problem, loops: NestLike, *, architecture: Architecture | None = None
) -> list[MappedLoop]:
    """The loops of ``loops`` outer→inner, as :class:`MappedLoop` s.

    An accelerator :class:`Mapping` is lowered with :func:`dcoc.accel.model.nest.lower` (Timeloop's
    order, outer→inner: per level, outermost level first, its temporal loops in permutation
    order, then its Y and X spatial loops; loops of bound 1 dropped, one trivial loop where a
    level has no temporal loop). Levels are named after ``architecture.storage`` when given,
    ``L<index>`` (0 = innermost) otherwise. A sequence of :class:`MappedLoop` is returned as is.
    """
    if isinstance(loops, Mapping):
        loops = lower(loops, len(problem.dimensions))
    if isinstance(loops, LoopNest):
        return _from_loop_nest(problem, loops, architecture)
    if isinstance(loops, Sequence) and all(isinstance(lp, MappedLoop) for lp in loops):
        return list(loops)
    raise TypeError(
        f"cannot read a loop nest from {type(loops).__name__}; pass a sequence of MappedLoop "
        f"(outer to inner), a dcoc.accel Mapping or a LoopNest"
    )


_AXIS_KIND = {
    LoopAxis.TEMPORAL: LoopKind.TEMPORAL,
    LoopAxis.SPATIAL_X: LoopKind.SPATIAL_X,
    LoopAxis.SPATIAL_Y: LoopKind.SPATIAL_Y,
}


def _from_loop_nest(
    problem: Problem, nest: LoopNest, architecture: Architecture | None
) -> list[MappedLoop]:
    if nest.num_dims != len(problem.dimensions):
        raise SpecError(
            None,
            ("mapping",),
            f"the loop nest has {nest.num_dims} dimensions, {problem.name!r} has "
            f"{len(problem.dimensions)} {list(problem.dimensions)}",
        )
    if architecture is not None and len(architecture.storage) != nest.num_levels:
        raise SpecError(
            None,
            ("mapping",),
            f"the mapping has {nest.num_levels} storage levels, the architecture "
            f"{len(architecture.storage)} {list(architecture.names)}",
        )
    names = (
        architecture.names
        if architecture is not None
        else tuple(f"L{i}" for i in range(nest.num_levels))
    )
    return [
        MappedLoop(names[lp.level], problem.dimensions[lp.dim], lp.bound, _AXIS_KIND[lp.axis])
        for lp in reversed(nest.loops)
    ]
