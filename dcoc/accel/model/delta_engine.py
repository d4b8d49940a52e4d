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
:class:`~dcoc.accel.model.nest_analysis.NestAnalysis`.
"""

from __future__ import annotations

from collections import Counter
from itertools import product as iproduct
from math import prod

from dcoc.accel.model.nest import LoopNest
from dcoc.accel.model.nest_analysis import LevelInfo, NestAnalysis, collapse
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


Vec = tuple[int, ...]
# per (loop, data space): last corner (relative), last translation, last delta mode, and for
# master spatial loops the previous element-0 delta (corner, mode) used by link transfers
Entry = tuple[Vec | None, Vec | None, Vec | None, Vec | None, Vec | None]
State = tuple[Entry, ...]
Increments = dict[tuple[int, int, int], int]
LINK = 0  # multicast key under which link-transfer words are counted

_FULL = None  # delta mode: the whole working set was delivered


class _Engine:
    """The recursion of ``NestAnalysis::ComputeDeltas``.

    ``run(l)`` returns the per-data-space delta sizes of loop ``l`` and the access counts it
    charged, per unit of epochs, keyed ``(loop, data space, multicast)`` (multicast ``LINK`` =
    words moved over neighbour links). Because the engine is translation invariant, a call's
    effect depends only on ``l`` and on the state of loops ``0..l`` relative to the current
    transform; ``memoize`` caches on exactly that, which keeps the result identical while
    avoiding the 2^loops blow-up.

    A delta is described by its working set's corner and its *mode*: ``_FULL`` (the whole set)
    or the translation from the previous set (the set difference). Two deltas of equal-span
    boxes are equal exactly when corner and mode are equal (or both are empty).
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
        owner = [0] * n
        start = 0
        for li, b in enumerate(nest.boundaries):
            for k in range(start, b + 1):
                owner[k] = li
            start = b + 1
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
        self.offsets: dict[int, list[list[Vec]]] = {}
        self.hist: dict[int, list[tuple[tuple[int, int], ...]]] = {}
        self.links: dict[int, list[dict[Vec, frozenset[int]]]] = {}
        for i in range(n):
            if self.master[i]:
                self.offsets[i] = [self._element_offsets(i, p) for p in self.projs]
                self.hist[i] = [_histogram(offs) for offs in self.offsets[i]]
                if nest.fanout_xy:
                    self.links[i] = self._link_candidates(i, nest.fanout_xy[owner[i]])
        self.transform = [0] * ndims
        nds = self.nds
        self.last_lo: list[list[Vec | None]] = [[None] * nds for _ in range(n)]
        self.last_tr: list[list[Vec | None]] = [[None] * nds for _ in range(n)]
        self.last_mode: list[list[Vec | None]] = [[None] * nds for _ in range(n)]
        self.prev_lo: list[list[Vec | None]] = [[None] * nds for _ in range(n)]
        self.prev_mode: list[list[Vec | None]] = [[None] * nds for _ in range(n)]
        self.memo: dict[tuple[int, State], tuple[list[int], Increments, State]] | None = (
            {} if memoize else None
        )

    # -- spatial groups ---------------------------------------------------------------------
    def _element_offsets(self, master: int, proj: Projection) -> list[Vec]:
        """Data-space offset of every element of a spatial group, in Timeloop's linear order
        (the innermost spatial loop varies fastest)."""
        members = list(range(master, master - self.group_len[master], -1))  # outer -> inner
        ranges = [range(self.loops[k].bound) for k in members]
        steps = [(self.loops[k].dim, self.stride[k]) for k in members]
        return [
            tuple(
                sum(
                    c * s * i
                    for (d, s), i in zip(steps, idx, strict=True)
                    for dd, c in terms
                    if dd == d
                )
                for terms in proj
            )
            for idx in iproduct(*ranges)
        ]

    def _link_candidates(
        self, master: int, fanout_xy: tuple[int, int]
    ) -> list[dict[Vec, frozenset[int]]]:
        """Per data space: translation v -> elements e having a mesh neighbour e' whose
        previous delta, moved by v, is e's current one (``ComputeNetworkLinkTransfers``)."""
        h_size, v_size = fanout_xy
        n_elems = len(self.offsets[master][0])
        pairs: list[tuple[int, int]] = []

        def index(h: int, v: int) -> int:
            return v * h_size + h

        if v_size > 1:
            pairs += [
                (index(h, v), index(h, v - 1)) for h in range(h_size) for v in range(1, v_size)
            ]
            pairs += [
                (index(h, v), index(h, v + 1)) for h in range(h_size) for v in range(v_size - 1)
            ]
        if h_size > 1:
            pairs += [
                (index(h, v), index(h - 1, v)) for v in range(v_size) for h in range(1, h_size)
            ]
            pairs += [
                (index(h, v), index(h + 1, v)) for v in range(v_size) for h in range(h_size - 1)
            ]
        pairs = [(c, p) for c, p in pairs if c < n_elems and p < n_elems]
        out = []
        for offs in self.offsets[master]:
            by_shift: dict[Vec, set[int]] = {}
            for cur, prev in pairs:
                shift = tuple(a - b for a, b in zip(offs[prev], offs[cur], strict=True))
                by_shift.setdefault(shift, set()).add(cur)
            out.append({k: frozenset(v) for k, v in by_shift.items()})
        return out

    # -- memoization ------------------------------------------------------------------------
    def _projected_transform(self) -> list[Vec]:
        t = self.transform
        return [tuple(sum(c * t[d] for d, c in terms) for terms in proj) for proj in self.projs]

    def _relative_state(self, level: int, pt: list[Vec]) -> State:
        out: list[Entry] = []
        for k in range(level + 1):
            for ds in range(self.nds):
                base = pt[ds]
                lo = self.last_lo[k][ds]
                plo = self.prev_lo[k][ds]
                out.append(
                    (
                        None if lo is None else tuple(a - b for a, b in zip(lo, base, strict=True)),
                        self.last_tr[k][ds],
                        self.last_mode[k][ds],
                        None
                        if plo is None
                        else tuple(a - b for a, b in zip(plo, base, strict=True)),
                        self.prev_mode[k][ds],
                    )
                )
        return tuple(out)

    def _restore(self, level: int, state: State, pt: list[Vec]) -> None:
        i = 0
        for k in range(level + 1):
            for ds in range(self.nds):
                rel, tr, mode, prel, pmode = state[i]
                i += 1
                base = pt[ds]
                self.last_lo[k][ds] = (
                    None if rel is None else tuple(a + b for a, b in zip(rel, base, strict=True))
                )
                self.last_tr[k][ds] = tr
                self.last_mode[k][ds] = mode
                self.prev_lo[k][ds] = (
                    None if prel is None else tuple(a + b for a, b in zip(prel, base, strict=True))
                )
                self.prev_mode[k][ds] = pmode

    # -- one working set --------------------------------------------------------------------
    def _delta(self, level: int, ds: int, lo: Vec) -> int:
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
        subtract = True
        if self.legacy or (tr is not None and any(tr)):
            last_tr = self.last_tr[level][ds]
            if last_tr is None:
                self.last_tr[level][ds] = tr
            elif tr != last_tr:
                self.last_tr[level][ds] = None
                subtract = False
        if subtract and inter:
            self.last_mode[level][ds] = tr
            return size - inter
        self.last_mode[level][ds] = _FULL
        return size

    # -- the recursion ----------------------------------------------------------------------
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

    def _spatial(self, level: int) -> tuple[list[int], Increments]:
        nds = self.nds
        inner = level - self.group_len[level]
        inc: Increments
        if inner < 0:
            d0, inc = [1] * nds, {}
        else:
            d0, inc0 = self.run(inner)
            inc = dict(inc0)
        for ds in range(nds):
            hist = self.hist[level][ds]
            if inner >= 0 and level in self.links:
                lo, mode = self.last_lo[inner][ds], self.last_mode[inner][ds]
                plo, pmode = self.prev_lo[level][ds], self.prev_mode[level][ds]
                self.prev_lo[level][ds], self.prev_mode[level][ds] = lo, mode
                if d0[ds] > 0 and plo is not None and lo is not None and mode == pmode:
                    shift = tuple(a - b for a, b in zip(lo, plo, strict=True))
                    reused = self.links[level][ds].get(shift)
                    if reused:
                        offs = self.offsets[level][ds]
                        rest = _histogram([o for e, o in enumerate(offs) if e not in reused])
                        if sum(g for _, g in rest) < sum(g for _, g in hist):
                            hist = rest
                            key = (level, ds, LINK)
                            inc[key] = inc.get(key, 0) + d0[ds] * len(reused)
            if d0[ds] > 0:
                for m, groups in hist:
                    key = (level, ds, m)
                    inc[key] = inc.get(key, 0) + d0[ds] * groups
        return d0, inc

    def _run(self, level: int) -> tuple[list[int], Increments]:
        loop = self.loops[level]
        nds = self.nds
        inc: Increments
        if loop.axis.is_spatial:
            _, inc = self._spatial(level)
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


def _histogram(offsets: list[Vec]) -> tuple[tuple[int, int], ...]:
    """((group size m, number of groups of that size), ...): elements with equal offsets
    receive identical deltas and form one multicast group."""
    return tuple(sorted(Counter(Counter(offsets).values()).items()))


def simulate(
    nest: LoopNest, problem: Problem, *, legacy_translation: bool = False, memoize: bool = True
) -> NestAnalysis:
    """Run the delta engine over ``nest`` and collapse per-loop results to storage levels.

    ``memoize=False`` runs the plain exponential recursion (same numbers; for testing)."""
    eng = _Engine(nest, problem, legacy_translation, memoize)
    loops = nest.loops
    _, increments = eng.run(len(loops) - 1)
    acc: list[list[dict[int, int]]] = [[{} for _ in range(eng.nds)] for _ in loops]
    links = [[0] * eng.nds for _ in loops]
    for (k, ds, m), value in increments.items():
        if m == LINK:
            links[k][ds] = value
        else:
            acc[k][ds][m] = value
    nds = eng.nds
    levels_info: list[LevelInfo] = []
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
        levels_info.append((fanout, replication, sizes, spatial_sizes, accesses, links[innermost]))
        start = b + 1
    computes = prod(lp.bound for lp in loops)
    spatial = prod(lp.bound for lp in loops if lp.axis.is_spatial)
    return collapse(levels_info, nds, computes, spatial, computes // spatial)
