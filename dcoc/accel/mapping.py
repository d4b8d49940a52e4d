"""A mapping: per storage level, loop factors, loop orders and which tensors the level keeps.

:class:`Mapping` is compact on purpose (searches build millions of them): per storage level
(aligned with :attr:`Architecture.storage`, inner to outer) a :class:`LevelMapping` holds
integer tuples indexed by problem dimension (``Problem.dimensions`` order) and a keep mask
indexed by data space (``Problem.data_spaces`` order). Use :func:`level_mapping` or
:meth:`Mapping.uniform` to build one in code; :mod:`dcoc.accel.spec.mapping` reads and writes
Timeloop YAML.

The spatial factors of level ``i`` describe its fanout to level ``i-1`` (or to the MACs).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from math import prod

from dcoc.workloads.problem import Problem

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class LevelMapping:
    """Loops and keep mask of one storage level. Orders list dimension indices, innermost first."""

    temporal: tuple[int, ...]
    spatial_x: tuple[int, ...]
    spatial_y: tuple[int, ...]
    permutation: tuple[int, ...]
    spatial_permutation: tuple[int, ...]
    keep: tuple[bool, ...]

    def spatial(self, dim: int) -> int:
        return self.spatial_x[dim] * self.spatial_y[dim]

    @property
    def fanout_used(self) -> int:
        return prod(self.spatial_x) * prod(self.spatial_y)


@dataclass(frozen=True)
class Mapping:
    """Per storage level (inner to outer) loops and keep masks, plus parse-time conflicts."""

    levels: tuple[LevelMapping, ...]
    conflicts: tuple[str, ...] = ()
    """Keep/bypass contradictions found while parsing; they make the mapping invalid."""

    @staticmethod
    def uniform(levels: Iterable[LevelMapping]) -> Mapping:
        return Mapping(tuple(levels))


def level_mapping(
    problem: Problem,
    *,
    temporal: MappingABC[str, int] | None = None,
    spatial_x: MappingABC[str, int] | None = None,
    spatial_y: MappingABC[str, int] | None = None,
    permutation: str | Sequence[str] = (),
    spatial_permutation: str | Sequence[str] = (),
    keep: Iterable[str] | None = None,
) -> LevelMapping:
    """Build a :class:`LevelMapping` from names: ``level_mapping(p, temporal={"R": 3},
    permutation="RP", keep=["Weights"])``. Missing factors are 1, missing loop-order dims go
    outermost in problem order, ``keep=None`` keeps every data space."""
    dims = problem.dimensions

    def factors(d: MappingABC[str, int] | None) -> tuple[int, ...]:
        d = d or {}
        unknown = set(d) - set(dims)
        if unknown:
            raise KeyError(f"unknown dimension(s) {sorted(unknown)}; dimensions are {dims}")
        return tuple(int(d.get(n, 1)) for n in dims)

    def order(p: str | Sequence[str]) -> tuple[int, ...]:
        names = list(p)
        idx = [dims.index(n) for n in names]
        return tuple(idx + [i for i in range(len(dims)) if i not in idx])

    names = [ds.name for ds in problem.data_spaces]
    kept = set(names) if keep is None else set(keep)
    return LevelMapping(
        factors(temporal),
        factors(spatial_x),
        factors(spatial_y),
        order(permutation),
        order(spatial_permutation),
        tuple(n in kept for n in names),
    )
