"""Timeloop's delta engine (``src/loop-analysis/nest-analysis.cpp``), reproduced exactly.

The recursion runs from the outermost loop inward. Each loop keeps, per data space, the previous
working set ``last`` and the previous translation ``last_tr``; that state is never reset when an
outer loop advances, which is what makes stationarity work across permutations.

* A temporal loop of bound n runs iteration 0, then iteration 1 with ``epochs *= n-1``
  (iterations 1..n-1 are extrapolated from iteration 1). If the next inner loop is the boundary
  of a storage level, ``(|d0| + (n-1)|d1|) * epochs`` words are charged to this loop; loop 0
  charges ``n * epochs`` (one access per MAC).
* A spatial group (consecutive spatial loops of one level) simulates element 0 only; element
  e's delta is element 0's translated by e's data-space offset, so elements with equal offsets
  receive identical deltas and form one multicast group. The parent is charged ``|delta| *
  epochs`` once per group.
* Each loop returns ``delta = f(W, last)``: W is the data tile of the loop's operation-space box
  (an axis-aligned bounding box), f applies the stride rule (legacy: before Timeloop commit
  a12fff5; current: after it) -- see :func:`_delta`.

Only perfect factorizations are handled (the caller checks). The result is a
:class:`~dcoc.accel.nest_analysis.NestAnalysis`.
"""

from __future__ import annotations

from collections import Counter
from itertools import product as iproduct
from math import prod

from dcoc.accel.nest import LoopNest
from dcoc.accel.nest_analysis import DataSpaceTile, LevelTiles, NestAnalysis
from dcoc.workloads.problem import Problem

# A data-space projection: per data dimension, its (problem dim index, coefficient) terms.
Projection = tuple[tuple[tuple[int, int], ...], ...]


def projections(problem: Problem) -> tuple[Projection, ...]:
    dims = problem.dimensions
    return tuple(
        tuple(
            tuple((dims.index(t.dimension), problem.coefficient_value(t)) for t in terms)
            for terms in ds.projection
        )
        for ds in problem.data_spaces
    )


def box_size(proj: Projection, extents: list[int] | tuple[int, ...]) -> int:
    """Points in the bounding box of an operation-space box of the given extents."""
    return prod(sum(c * (extents[d] - 1) for d, c in terms) + 1 for terms in proj)


def _round_half_away(num: int) -> int:
    """round(num / 2) with C's half-away-from-zero rule."""
    return (num + 1) // 2 if num >= 0 else -((-num + 1) // 2)


class _Engine:
    def __init__(self, nest: LoopNest, problem: Problem, legacy: bool) -> None:
        self.legacy = legacy
        self.loops = nest.loops
        self.projs = projections(problem)
        self.nds = len(self.projs)
        n = len(self.loops)
        ndims = nest.num_dims
        boundary = [False] * n
        for b in nest.boundaries:
            boundary[b] = True
        self.boundary = boundary
        # vector strides and per-loop extents (mold_high + 1)
        scale = [1] * ndims
        self.stride = [0] * n
        self.extents: list[tuple[int, ...]] = []
        for i, loop in enumerate(self.loops):
            self.stride[i] = scale[loop.dim]
            scale[loop.dim] *= loop.bound
            self.extents.append(tuple(scale))
        # spatial groups: master = outermost of a run of consecutive spatial loops
        self.master = [False] * n
        self.group_len = [0] * n
        i = n - 1
        while i >= 0:
            if self.loops[i].axis.is_spatial:
                j = i
                while j >= 0 and self.loops[j].axis.is_spatial:
                    j -= 1
                self.master[i] = True
                self.group_len[i] = i - j
                i = j
            else:
                i -= 1
        self.hist: dict[int, list[tuple[tuple[int, int], ...]]] = {}
        for i in range(n):
            if self.master[i]:
                self.hist[i] = [self._multicast_histogram(i, p) for p in self.projs]
        self.transform = [0] * ndims
        self.last_box: list[list[tuple[tuple[int, ...], tuple[int, ...]] | None]] = [
            [None] * self.nds for _ in range(n)
        ]
        self.last_tr: list[list[tuple[int, ...] | None]] = [[None] * self.nds for _ in range(n)]
        self.acc: list[list[dict[int, int]]] = [[{} for _ in range(self.nds)] for _ in range(n)]

    def _multicast_histogram(self, master: int, proj: Projection) -> tuple[tuple[int, int], ...]:
        """((group size m, number of groups with that size), ...) for one spatial group."""
        members = range(master - self.group_len[master] + 1, master + 1)
        ranges = [range(self.loops[k].bound) for k in members]
        steps = [(self.loops[k].dim, self.stride[k]) for k in members]
        offsets: Counter[tuple[int, ...]] = Counter()
        for idx in iproduct(*ranges):
            offsets[
                tuple(
                    sum(
                        c * s * i
                        for (d, s), i in zip(steps, idx, strict=True)
                        for dd, c in terms
                        if dd == d
                    )
                    for terms in proj
                )
            ] += 1
        return tuple(sorted(Counter(offsets.values()).items()))

    def _delta(self, level: int, ds: int) -> int:
        """Delta size of loop ``level``'s working set for data space ``ds``; updates state."""
        proj = self.projs[ds]
        ext = self.extents[level]
        t = self.transform
        lo = tuple(sum(c * t[d] for d, c in terms) for terms in proj)
        hi = tuple(sum(c * (t[d] + ext[d] - 1) for d, c in terms) for terms in proj)
        size = prod(h - lo_ + 1 for lo_, h in zip(lo, hi, strict=True))
        last = self.last_box[level][ds]
        self.last_box[level][ds] = (lo, hi)
        if last is None:
            tr = None
            inter = 0
        else:
            llo, lhi = last
            tr = tuple(_round_half_away(lo[j] + hi[j] - llo[j] - lhi[j]) for j in range(len(lo)))
            inter = 1
            for j in range(len(lo)):
                w = min(hi[j], lhi[j]) - max(lo[j], llo[j]) + 1
                if w <= 0:
                    inter = 0
                    break
                inter *= w
        last_tr = self.last_tr[level][ds]
        if not self.legacy and (tr is None or not any(tr)):
            return size - inter
        if last_tr is None:
            self.last_tr[level][ds] = tr
            return size - inter
        if tr == last_tr:
            return size - inter
        self.last_tr[level][ds] = None
        return size

    def run(self, level: int, epochs: int) -> list[int]:
        loop = self.loops[level]
        nds = self.nds
        if loop.axis.is_spatial:
            inner = level - self.group_len[level]
            d0 = [1] * nds if inner < 0 else self.run(inner, epochs)
            for ds in range(nds):
                if d0[ds] > 0:
                    acc = self.acc[level][ds]
                    for m, groups in self.hist[level][ds]:
                        acc[m] = acc.get(m, 0) + d0[ds] * epochs * groups
        elif level == 0:
            for ds in range(nds):
                acc = self.acc[0][ds]
                acc[1] = acc.get(1, 0) + loop.bound * epochs
        else:
            n = loop.bound
            total = self.run(level - 1, epochs)
            if n >= 2:
                step = self.stride[level]
                self.transform[loop.dim] += step
                d1 = self.run(level - 1, epochs * (n - 1))
                self.transform[loop.dim] -= step
                total = [a + (n - 1) * b for a, b in zip(total, d1, strict=True)]
            if self.boundary[level - 1]:
                for ds in range(nds):
                    if total[ds]:
                        acc = self.acc[level][ds]
                        acc[1] = acc.get(1, 0) + total[ds] * epochs
        return [self._delta(level, ds) for ds in range(nds)]


def simulate(nest: LoopNest, problem: Problem, *, legacy_translation: bool = False) -> NestAnalysis:
    """Run the delta engine over ``nest`` and collapse per-loop results to storage levels."""
    eng = _Engine(nest, problem, legacy_translation)
    loops = nest.loops
    eng.run(len(loops) - 1, 1)
    nds = eng.nds
    levels_info = []
    start = 0
    for b in nest.boundaries:
        innermost = start
        # the innermost *valid* loop of the level: a master spatial loop or a temporal loop
        while innermost <= b and loops[innermost].axis.is_spatial and not eng.master[innermost]:
            innermost += 1
        fanout = 1
        if eng.master[innermost]:
            fanout = prod(
                loops[k].bound
                for k in range(innermost - eng.group_len[innermost] + 1, innermost + 1)
            )
        replication = prod(lp.bound for lp in loops[b + 1 :] if lp.axis.is_spatial)
        sizes = [box_size(p, eng.extents[b]) for p in eng.projs]
        spatial_sizes = (
            [box_size(p, eng.extents[innermost]) for p in eng.projs]
            if eng.master[innermost]
            else None
        )
        accesses = [
            tuple(sorted((m, a) for m, a in eng.acc[innermost][ds].items() if a))
            for ds in range(nds)
        ]
        levels_info.append((fanout, replication, sizes, spatial_sizes, accesses))
        start = b + 1
    n_levels = len(levels_info)
    partitions = [[0] * nds for _ in range(n_levels)]
    pas = [[0] * nds for _ in range(n_levels)]
    for ds in range(nds):
        part = levels_info[-1][2][ds]
        partitions[-1][ds] = part
        for li in range(n_levels - 2, -1, -1):
            parent = levels_info[li + 1]
            child_size = levels_info[li][2][ds]
            denom = parent[3][ds] if parent[3] is not None else child_size
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
                DataSpaceTile(info[2][ds], info[4][ds], partitions[li][ds], pas[li][ds])
                for ds in range(nds)
            ),
        )
        for li, info in enumerate(levels_info)
    )
    computes = prod(lp.bound for lp in loops)
    spatial = prod(lp.bound for lp in loops if lp.axis.is_spatial)
    return NestAnalysis(levels, computes, spatial, computes // spatial)
