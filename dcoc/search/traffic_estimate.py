"""A rough analytical estimate of one layer mapping's cost, to rank moves without the model.

The heuristic proposer (:mod:`dcoc.search.proposers`) shows the accelerator model only the
moves it ranks best; ranking a move must not spend an evaluation, so it is ranked by this
estimate instead (then scaled by the measured cost of the state it starts from). Per data space
kept at level ``j`` with parent ``p`` (the next level out that keeps it):

* fills of ``j`` = tile words x refetches x used instances of ``j``, where the refetches are the
  product of the temporal loops above ``j`` less the innermost run of loops that do not index
  the data space (the tile stays: Timeloop's temporal reuse);
* reads of ``p`` = tile words x refetches x the spatial factors between ``j`` and ``p`` that
  index the data space (multicast of the rest) x used instances of ``p``; written data spaces
  are read and updated (twice);
* every MAC reads each operand from its innermost keeper.

Energy is those counts times the ERT's per-access energies; cycles are the temporal iterations
(full compute throughput, no bandwidth stalls); ``overflow_words`` sums the words by which the
kept tiles exceed each level's capacity (positive: the model will reject the mapping),
``fill`` the share of each level's capacity the kept tiles take, ``utilization`` the share of
MAC units used. This is a ranking aid, not a model: it ignores bandwidth, halos and network
costs, and :mod:`dcoc.accel.model.evaluation` remains the only judge.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from dcoc.accel.mapping import Mapping
from dcoc.accel.tables import EnergyTables
from dcoc.search.codesign_space import CoDesignSpace, HardwareContext


@dataclass(frozen=True)
class Estimate:
    cycles: float
    energy_pj: float
    overflow_words: float
    per_level_pj: tuple[float, ...]
    """Access energy charged to each level of the configuration (reads served and fills)."""
    fill: tuple[float, ...]
    """Per level of the configuration: kept tile words / capacity (0 where unbounded)."""
    utilization: float
    """Used MAC units / MAC units (the product of the spatial factors over the PEs)."""


@dataclass(frozen=True)
class _LayerOnHardware:
    """What the estimate of one layer on one configuration reads, gathered once."""

    projections: tuple[tuple[tuple[tuple[int, int], ...], ...], ...]
    relevant: tuple[frozenset[int], ...]
    twice: tuple[float, ...]
    """Per data space: 2 if written (read and updated), else 1."""
    macs: int
    fill_pj: tuple[float, ...]
    read_pj: tuple[float, ...]
    """Per level: energy of a fill, of a read (an update for written data)."""
    capacity: tuple[float | None, ...]
    """Per level: words (``None``: unbounded or a dummy level)."""
    compute_pj: float
    pes: int


class TrafficEstimator:
    """:meth:`estimate` for the layers of ``space`` (what each configuration gives, cached)."""

    def __init__(self, space: CoDesignSpace) -> None:
        self.space = space
        self._static: dict[tuple[tuple[int, ...], int], _LayerOnHardware] = {}

    def _of(self, ctx: HardwareContext, layer: int) -> _LayerOnHardware:
        key = (ctx.indices, layer)
        st = self._static.get(key)
        if st is None:
            if len(self._static) > 4096:
                self._static.clear()
            ms = self.space.layer_context(ctx, layer).mapspace
            problem = self.space.problems[layer]
            arch, tables = ctx.arch, ctx.tables
            st = _LayerOnHardware(
                ms.projections,
                tuple(frozenset(d for terms in proj for d, _ in terms) for proj in ms.projections),
                tuple(2.0 if ds.read_write else 1.0 for ds in problem.data_spaces),
                problem.macs,
                tuple(_energy(tables, lv.name, "fill", "write") for lv in arch.storage),
                tuple(_energy(tables, lv.name, "read", "update") for lv in arch.storage),
                tuple(None if lv.is_dummy else lv.effective_size_words for lv in arch.storage),
                _energy(tables, arch.arithmetic.name, "compute", "mac_random"),
                max(arch.arithmetic.instances, 1),
            )
            self._static[key] = st
        return st

    def estimate(self, ctx: HardwareContext, layer: int, mapping: Mapping) -> Estimate:
        """The estimate of ``mapping`` of ``layer`` on ``ctx`` (see the module docstring)."""
        st = self._of(ctx, layer)
        levels = mapping.levels
        nl, nd = len(levels), len(levels[0].temporal)
        spatial = [
            [x * y for x, y in zip(lm.spatial_x, lm.spatial_y, strict=True)] for lm in levels
        ]
        ext = [1] * nd  # extent of each dimension within one tile of the level
        tiles = []  # [levels][data spaces] words
        for j, lm in enumerate(levels):
            ext = [e * t * s for e, t, s in zip(ext, lm.temporal, spatial[j], strict=True)]
            row = []
            for proj in st.projections:
                size = 1
                for terms in proj:
                    size *= 1 + sum(c * (ext[d] - 1) for d, c in terms)
                row.append(size)
            tiles.append(row)
        used = [1] * nl  # used instances of each level
        for j in range(nl - 2, -1, -1):
            used[j] = used[j + 1] * math.prod(spatial[j + 1])
        loops: list[list[tuple[int, int]]] = [[] for _ in range(nl)]
        above: list[tuple[int, int]] = []  # (dim, factor) of the loops above, innermost first
        for j in range(nl - 1, -1, -1):
            loops[j] = above
            lm = levels[j]
            above = [(d, lm.temporal[d]) for d in lm.permutation if lm.temporal[d] > 1] + above
        per_level = [0.0] * nl
        fill = [0.0] * nl
        overflow = 0.0
        for j, lm in enumerate(levels):
            capacity = st.capacity[j]
            if capacity is not None:
                kept = sum(tiles[j][ds] for ds, keep in enumerate(lm.keep) if keep)
                overflow += max(0, kept - capacity)
                fill[j] = kept / max(capacity, 1)
        for ds, rel in enumerate(st.relevant):
            keepers = [j for j in range(nl) if levels[j].keep[ds]]
            twice = st.twice[ds]
            for j, p in itertools.pairwise(keepers):
                refetch = math.prod(f for _, f in loops[j])
                for d, f in loops[j]:
                    if d in rel:
                        break
                    refetch //= f
                words = float(tiles[j][ds] * refetch)
                fanout = math.prod(spatial[lv][d] for lv in range(j + 1, p + 1) for d in rel)
                per_level[j] += words * used[j] * st.fill_pj[j]
                per_level[p] += twice * words * fanout * used[p] * st.read_pj[p]
            if keepers:
                per_level[keepers[0]] += twice * st.macs * st.read_pj[keepers[0]]
        cycles = float(math.prod(math.prod(lm.temporal) for lm in levels))
        utilization = used[0] * math.prod(spatial[0]) / st.pes
        return Estimate(
            cycles,
            st.macs * st.compute_pj + sum(per_level),
            overflow,
            tuple(per_level),
            tuple(fill),
            utilization,
        )


def _energy(tables: EnergyTables, level: str, *actions: str) -> float:
    for action in actions:
        e = tables.energy_pj(level, action)
        if e is not None:
            return e
    return 0.0
