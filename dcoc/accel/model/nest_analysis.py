"""The result of nest analysis: what every storage level would see if it kept every tensor.

This is the interface between the access-count engine (:mod:`dcoc.accel.model.delta_engine`, or a
closed-form replacement that must give identical numbers) and the cost arithmetic
(:mod:`dcoc.accel.model.cost`), which applies the keep masks (bypass), derives reads/fills/updates,
cycles, energy and area. It corresponds to Timeloop's collapsed tile nest *before*
``MaskTiles`` (``src/loop-analysis/tiling.cpp``):

* ``size`` -- the data tile at the level's boundary (Timeloop ``max_size``): the utilized
  capacity if the level keeps the data space;
* ``accesses`` -- the level's content accesses per instance, split by multicast factor:
  ``((multicast, accesses), ...)``, sorted by multicast factor, zero entries omitted. At a level
  with a spatial fanout, an entry ``(m, a)`` means ``a`` words were read once and delivered to
  ``m`` children each (for read-write data, ``m`` children's updates were reduced into one);
* ``partition_size`` -- distinct elements one instance handles over the whole run;
* ``parent_access_share`` -- the average words one instance receives from the next outer level:
  ``sum((a * m) // fanout(parent))`` over the parent's entries; 0 at the outermost level.
* ``link_transfers`` -- words this level's children passed to each other over neighbour links
  (per instance of this level) instead of reading them from this level; Timeloop uses them only
  where they cut this level's accesses. ``accesses`` already excludes them.

All counts are per instance and exact integers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataSpaceTile:
    size: int
    accesses: tuple[tuple[int, int], ...]
    partition_size: int
    parent_access_share: int
    link_transfers: int = 0

    @property
    def content_accesses(self) -> int:
        return sum(a for _, a in self.accesses)

    @property
    def weighted_accesses(self) -> int:
        """Sum of accesses times multicast factor (words delivered to children)."""
        return sum(a * m for m, a in self.accesses)


@dataclass(frozen=True)
class LevelTiles:
    fanout: int
    """Logical fanout used by the mapping at this level: product of its spatial loop bounds."""
    replication: int
    """Utilized instances of the level: product of the spatial loop bounds above it."""
    tiles: tuple[DataSpaceTile, ...]
    """Indexed like ``Problem.data_spaces``."""


@dataclass(frozen=True)
class NestAnalysis:
    levels: tuple[LevelTiles, ...]
    """Storage levels inner to outer, aligned with ``Architecture.storage``."""
    computes: int
    """Total MACs (product of all loop bounds)."""
    compute_instances: int
    """Utilized MAC units (product of all spatial loop bounds)."""
    compute_cycles: int
    """Temporal iterations (product of all temporal loop bounds)."""


LevelInfo = tuple[
    int, int, list[int], list[int] | None, list[tuple[tuple[int, int], ...]], list[int]
]


def collapse(
    levels_info: list[LevelInfo],
    nds: int,
    computes: int,
    compute_instances: int,
    compute_cycles: int,
) -> NestAnalysis:
    """Partition sizes and parent access shares from per-level sizes and accesses."""
    n_levels = len(levels_info)
    partitions = [[0] * nds for _ in range(n_levels)]
    pas = [[0] * nds for _ in range(n_levels)]
    for ds in range(nds):
        part = levels_info[-1][2][ds]
        partitions[-1][ds] = part
        for li in range(n_levels - 2, -1, -1):
            parent = levels_info[li + 1]
            child_size = levels_info[li][2][ds]
            spatial_sizes = parent[3]
            denom = spatial_sizes[ds] if spatial_sizes is not None else child_size
            part = (part * child_size) // denom
            partitions[li][ds] = part
        for li in range(n_levels - 1):
            parent = levels_info[li + 1]
            pas[li][ds] = sum((a * m) // parent[0] for m, a in parent[4][ds])
    levels = tuple(
        LevelTiles(
            fanout=info[0],
            replication=info[1],
            tiles=tuple(
                DataSpaceTile(
                    info[2][ds], info[4][ds], partitions[li][ds], pas[li][ds], info[5][ds]
                )
                for ds in range(nds)
            ),
        )
        for li, info in enumerate(levels_info)
    )
    return NestAnalysis(levels, computes, compute_instances, compute_cycles)
