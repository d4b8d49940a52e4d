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


State = tuple[tuple[tuple[int, ...] | None, tuple[int, ...] | None], ...]
Increments = dict[tuple[int, int, int], int]


class _Engine:
    """The recursion of ``NestAnalysis::ComputeDeltas``.

    ``run(l)`` returns the per-data-space delta sizes of loop ``l`` and the access counts it
    charged, per unit of epochs, keyed ``(loop, data space, multicast)``. Because the engine is
    translation invariant, a call's effect depends only on ``l`` and on the state of loops
    ``0..l`` relative to the current transform; ``memoize`` caches on exactly that, which keeps
    the result identical while avoiding the 2^loops blow-up.
    """

    def __init__(self, nest: LoopNest, problem: Problem, legacy: bool, memoize: bool) -> None:
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
        # data-space spans (hi - lo per data dimension) and sizes of every loop's working set
        self.span = [
            [
                tuple(sum(c * (ext[d] - 1) for d, c in terms) for terms in proj)
                for proj in self.projs
            ]
            for ext in self.extents
        ]
        self.size = [[prod(w + 1 for w in sp) for sp in row] for row in self.span]
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
        self.last_lo: list[list[tuple[int, ...] | None]] = [[None] * self.nds for _ in range(n)]
        self.last_tr: list[list[tuple[int, ...] | None]] = [[None] * self.nds for _ in range(n)]
        self.memo: dict[tuple[int, State], tuple[list[int], Increments, State]] | None = (
            {} if memoize else None
        )

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

    def _projected_transform(self) -> list[tuple[int, ...]]:
        t = self.transform
        return [tuple(sum(c * t[d] for d, c in terms) for terms in proj) for proj in self.projs]

    def _relative_state(self, level: int, pt: list[tuple[int, ...]]) -> State:
        out = []
        for k in range(level + 1):
            for ds in range(self.nds):
                lo = self.last_lo[k][ds]
                rel = None if lo is None else tuple(a - b for a, b in zip(lo, pt[ds], strict=True))
                out.append((rel, self.last_tr[k][ds]))
        return tuple(out)

    def _restore(self, level: int, state: State, pt: list[tuple[int, ...]]) -> None:
        i = 0
        for k in range(level + 1):
            for ds in range(self.nds):
                rel, tr = state[i]
                i += 1
                self.last_lo[k][ds] = (
                    None if rel is None else tuple(a + b for a, b in zip(rel, pt[ds], strict=True))
                )
                self.last_tr[k][ds] = tr

    def _delta(self, level: int, ds: int, lo: tuple[int, ...]) -> int:
        """Delta size of loop ``level``'s working set at ``lo`` for ``ds``; updates state."""
        size = self.size[level][ds]
        last = self.last_lo[level][ds]
        self.last_lo[level][ds] = lo
        if last is None:
            tr = None
            inter = 0
        else:
            # equal spans: the centroid difference is exactly the corner difference
            tr = tuple(a - b for a, b in zip(lo, last, strict=True))
            inter = 1
            for w, t in zip(self.span[level][ds], tr, strict=True):
                overlap = w + 1 - abs(t)
                if overlap <= 0:
                    inter = 0
                    break
                inter *= overlap
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

    def run(self, level: int) -> tuple[list[int], Increments]:
        memo = self.memo
        if memo is not None:
            pt = self._projected_transform()
            key = (level, self._relative_state(level, pt))
            hit = memo.get(key)
            if hit is not None:
                self._restore(level, hit[2], pt)
                return hit[0], hit[1]
        deltas, inc = self._run(level)
        if memo is not None:
            memo[key] = (deltas, inc, self._relative_state(level, pt))
        return deltas, inc

    def _run(self, level: int) -> tuple[list[int], Increments]:
        loop = self.loops[level]
        nds = self.nds
        inc: Increments
        if loop.axis.is_spatial:
            inner = level - self.group_len[level]
            if inner < 0:
                d0, inc = [1] * nds, {}
            else:
                d0, inc0 = self.run(inner)
                inc = dict(inc0)
            for ds in range(nds):
                if d0[ds] > 0:
                    for m, groups in self.hist[level][ds]:
                        key = (level, ds, m)
                        inc[key] = inc.get(key, 0) + d0[ds] * groups
        elif level == 0:
            inc = {(0, ds, 1): loop.bound for ds in range(nds)}
        else:
            n = loop.bound
            total, inc0 = self.run(level - 1)
            inc = dict(inc0)
            if n >= 2:
                step = self.stride[level]
                self.transform[loop.dim] += step
                d1, inc1 = self.run(level - 1)
                self.transform[loop.dim] -= step
                total = [a + (n - 1) * b for a, b in zip(total, d1, strict=True)]
                for key, v in inc1.items():
                    inc[key] = inc.get(key, 0) + (n - 1) * v
            if self.boundary[level - 1]:
                for ds in range(nds):
                    if total[ds]:
                        key = (level, ds, 1)
                        inc[key] = inc.get(key, 0) + total[ds]
        pt = self._projected_transform()
        return [self._delta(level, ds, pt[ds]) for ds in range(nds)], inc


def simulate(
    nest: LoopNest, problem: Problem, *, legacy_translation: bool = False, memoize: bool = True
) -> NestAnalysis:
    """Run the delta engine over ``nest`` and collapse per-loop results to storage levels.

    ``memoize=False`` runs the plain exponential recursion (same numbers; for testing)."""
    eng = _Engine(nest, problem, legacy_translation, memoize)
    loops = nest.loops
    _, increments = eng.run(len(loops) - 1)
    acc: list[list[dict[int, int]]] = [[{} for _ in range(eng.nds)] for _ in loops]
    for (k, ds, m), value in increments.items():
        acc[k][ds][m] = value
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
        sizes = list(eng.size[b])
        spatial_sizes = (
            [box_size(p, eng.extents[innermost]) for p in eng.projs]
            if eng.master[innermost]
            else None
        )
        accesses = [
            tuple(sorted((m, a) for m, a in acc[innermost][ds].items() if a)) for ds in range(nds)
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
