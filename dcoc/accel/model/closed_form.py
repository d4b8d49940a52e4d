"""Timeloop's nest analysis in closed form: the numbers of the delta engine, without running it.

:func:`analyze` returns exactly the :class:`~dcoc.accel.model.nest_analysis.NestAnalysis` that
:func:`dcoc.accel.model.delta_engine.simulate` computes, in time linear in the number of loops.

Why a closed form exists. The accesses of storage level L are charged at L's innermost loop and
are the deltas of the child boundary loop ``c`` (the outermost loop of level L-1). Loop ``c`` is
visited once per combination of iteration 0/1 of the non-trivial temporal loops above it
("bits" ``j = 0..K-1``, inner to outer); spatial loops above ``c`` run element 0 only and do not
move it. The visits come in binary-counter order; a visit whose lowest set bit is ``j`` has
weight ``(n_j - 1) * prod(n_k, k > j)`` summed over all higher bits, and moves the operation
space by ``step_j - sum(step_k, k < j)`` (the loops below ``j`` reset from iteration 1 to 0). Its
data-space translation ``t_j`` is that move projected, and the delta of two equal boxes is
``|W| - prod(max(0, extent - |t|))``.

The stride rule's ``last_tr`` state follows a fixed pattern in that order (every transition on
bit ``j > 0`` follows one on bit 0, every bit-0 transition follows one on a higher bit): with
``ref`` the first transition that sets the state (bit 0 under the legacy rule; under the current
rule, which ignores zero translations, the lowest bit with ``t != 0``), the state after every
``ref`` transition is ``t_ref``. Hence:

* the first visit charges ``|W|``;
* a transition on bit ``j`` charges ``|W| - inter(t_j)`` if ``j == ref`` or ``t_j == t_ref``
  (or, current rule only, ``t_j == 0``, which charges 0), else ``|W|`` (pattern change: full
  refetch);
* under the current rule, bits below ``ref`` have ``t = 0`` and charge nothing.

A spatial fanout multiplies each child delta by the multicast histogram of its group: spatial
elements whose data-space offsets coincide receive equal deltas and form one group.

Neighbour link transfers (when ``nest.fanout_xy`` is given, as ``timeloop-model`` by default).
At every visit the engine compares element 0's delta with its delta at the previous visit of the
same spatial group: when their modes (full fetch, or set difference by the same translation)
agree, an element whose mesh neighbour held, one visit earlier, exactly the delta it needs now
(the translation equals the neighbour's offset minus its own) may take it over the link; the
links are used when the elements left to the parent form fewer multicast groups. The delta modes
follow the same fixed pattern as ``last_tr``, and the previous visit of a bit-``j`` visit is a
bit-0 visit (``j >= 1``), the first visit, or a bit-``k`` visit (:func:`link_visits`), so the
link words and the parent's remaining multicast entries are again sums over the bits
(:func:`link_accesses`). :class:`LinkDetector` is a cheap sufficient condition for "no link can
occur", which lets the fast evaluators skip this analysis for most mappings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from math import prod
from operator import add

from dcoc.accel.mapping import LevelMapping
from dcoc.accel.model.delta_engine import Projection, projections
from dcoc.accel.model.nest import LoopNest
from dcoc.accel.model.nest_analysis import LevelInfo, NestAnalysis, collapse
from dcoc.workloads.problem import Problem

# A spatial loop as the multicast histogram needs it: (problem dim, bound, stride).
SpatialMember = tuple[int, int, int]
Vec = tuple[int, ...]
Histogram = tuple[tuple[int, int], ...]


def multicast_histogram(proj: Projection, members: tuple[SpatialMember, ...]) -> Histogram:
    """((group size m, number of groups of that size), ...) of one spatial group, sorted by m.

    Element offsets in data space are accumulated loop by loop; elements with equal offsets
    form one multicast group.
    """
    counts: dict[tuple[int, ...], int] = {(0,) * len(proj): 1}
    for d, n, s in members:
        contrib = [0] * len(proj)
        for k, terms in enumerate(proj):
            for dd, c in terms:
                if dd == d:
                    contrib[k] += c * s
        if not any(contrib):
            counts = {k: v * n for k, v in counts.items()}
            continue
        shifts = [tuple([i * b for b in contrib]) for i in range(n)]
        new: dict[tuple[int, ...], int] = {}
        for key, v in counts.items():
            for shift in shifts:
                k2 = tuple(map(add, key, shift))
                new[k2] = new.get(k2, 0) + v
        counts = new
    return tuple(sorted(Counter(counts.values()).items()))


def _box_size(proj: Projection, extents: Sequence[int]) -> int:
    """:func:`~dcoc.accel.model.delta_engine.box_size` without generator overhead."""
    size = 1
    for terms in proj:
        span = 1
        for d, c in terms:
            span += c * (extents[d] - 1)
        size *= span
    return size


def _transitions(
    proj: Projection,
    tile_extents: tuple[int, ...],
    bits: list[tuple[int, int, int]],
    legacy: bool,
) -> tuple[int, list[tuple[Vec, int, Vec | None]]]:
    """The child tile's size and, per bit (inner to outer), its transition: the data-space
    translation ``t_j``, the delta charged, and the delta's *mode* (the engine's
    ``last_mode``: ``t_j`` when the set difference was delivered, ``None`` for a full refetch).
    """
    ext = []
    for terms in proj:
        span = 1
        for d, c in terms:
            span += c * (tile_extents[d] - 1)
        ext.append(span)
    size = prod(ext)
    # t_j = own move of bit j minus the moves of the bits below it (they reset), projected:
    # kept incrementally as ``running`` = projected sum of the moves below j
    nk = len(proj)
    coefs: dict[int, list[int]] = {}  # per problem dim: its coefficient in each data dim
    for k, terms in enumerate(proj):
        for d, c in terms:
            if d not in coefs:
                coefs[d] = [0] * nk
            coefs[d][k] += c
    zero = [0] * nk
    running = zero
    trans: list[Vec] = []
    for d, _, s in bits:
        own = [c * s for c in coefs.get(d, zero)]
        trans.append(tuple([o - r for o, r in zip(own, running, strict=True)]))
        running = [r + o for r, o in zip(running, own, strict=True)]
    # the reference transition: bit 0 (legacy) or the lowest bit that moves (current rule)
    ref = 0 if legacy else next((j for j, t in enumerate(trans) if any(t)), -1)
    t_ref = trans[ref] if trans and ref >= 0 else None
    out: list[tuple[Vec, int, Vec | None]] = []
    for j, t in enumerate(trans):
        if not legacy and not any(t):
            out.append((t, 0, t))  # stationary step: nothing moves, last_tr untouched
            continue
        if j == ref or t == t_ref:
            inter = 1
            for e, x in zip(ext, t, strict=True):
                w = e - abs(x)
                if w <= 0:
                    inter = 0
                    break
                inter *= w
            out.append((t, size - inter, t if inter else None))
        else:
            out.append((t, size, None))  # pattern change: full refetch
    return size, out


def content_accesses(
    proj: Projection,
    tile_extents: tuple[int, ...],
    bits: list[tuple[int, int, int]],
    legacy: bool,
) -> int:
    """Words charged to the parent of a child boundary loop over the whole run.

    ``tile_extents`` are the operation-space extents of the child tile (per problem dim);
    ``bits`` the non-trivial temporal loops above the boundary, inner to outer, as
    ``(dim, bound, step)``.

    Without sliding windows (one positive term per data dimension) every loop above moves
    the tile by at least its whole extent along the dimensions it touches: a transition
    charges 0 below the first bit on a relevant dimension (nothing moves) and the full tile
    from there on, under either stride rule.
    """
    if all(len(terms) == 1 and terms[0][1] > 0 for terms in proj):
        relevant = {terms[0][0] for terms in proj}
        total = _box_size(proj, tile_extents)
        moving = False
        for d, n, _ in bits:
            moving = moving or d in relevant
            if moving:
                total *= n
        return total
    size, trans = _transitions(proj, tile_extents, bits, legacy)
    total = size
    weight = 1  # product of the bounds of the bits above j
    for j in range(len(bits) - 1, -1, -1):
        n = bits[j][1]
        total += (n - 1) * weight * trans[j][1]
        weight *= n
    return total


def link_visits(
    proj: Projection,
    tile_extents: tuple[int, ...],
    bits: list[tuple[int, int, int]],
    legacy: bool,
) -> tuple[int, list[tuple[Vec, int]]]:
    """The child's total content accesses and the visits that could take their delta over
    neighbour links: ``(translation, delta x weight)`` for every class of visits whose delta is
    non-empty and has the same mode as the previous visit's.

    Visits of the child boundary come in binary-counter order over ``bits``; a visit whose
    lowest set bit is ``j >= 1`` follows one on bit 0; a bit-0 visit follows the first visit
    (weight ``n_0 - 1``) or one on bit ``k >= 1`` (weight ``(n_0 - 1)(n_k - 1) prod(n, > k)``).
    The first visit's mode is a full fetch.
    """
    size, trans = _transitions(proj, tile_extents, bits, legacy)
    nb = len(bits)
    suffix = [1] * (nb + 1)
    for i in range(nb - 1, -1, -1):
        suffix[i] = suffix[i + 1] * bits[i][1]
    total = size
    for j in range(nb):
        total += (bits[j][1] - 1) * suffix[j + 1] * trans[j][1]
    visits: list[tuple[Vec, int]] = []
    if nb == 0:
        return total, visits
    t0, d0, mode0 = trans[0]
    n0 = bits[0][1]
    if d0:
        if mode0 is None:  # previous: the first visit (a full fetch)
            visits.append((t0, d0 * (n0 - 1)))
        for k in range(1, nb):
            if trans[k][2] == mode0:
                visits.append((t0, d0 * (n0 - 1) * (bits[k][1] - 1) * suffix[k + 1]))
    for j in range(1, nb):
        t, d, mode = trans[j]
        if d and mode == mode0:
            visits.append((t, d * (bits[j][1] - 1) * suffix[j + 1]))
    return total, visits


def element_offsets(proj: Projection, members: tuple[SpatialMember, ...]) -> list[Vec]:
    """Data-space offset of every element of a spatial group (``members`` inner to outer), in
    Timeloop's linear order: the innermost spatial loop varies fastest."""
    offsets: list[Vec] = [(0,) * len(proj)]
    for d, n, s in members:  # inner to outer: each outer loop repeats the inner block
        contrib = tuple(sum(c * s for dd, c in terms if dd == d) for terms in proj)
        offsets = [
            tuple(a + i * b for a, b in zip(o, contrib, strict=True))
            for i in range(n)
            for o in offsets
        ]
    return offsets


def link_candidates(offsets: list[Vec], fanout_xy: tuple[int, int]) -> dict[Vec, frozenset[int]]:
    """Translation v -> elements e having a mesh neighbour e' whose previous delta, moved by
    v, is e's current one (Timeloop's ``ComputeNetworkLinkTransfers``; element e sits at
    ``(e mod X, e div X)`` of the X x Y mesh)."""
    h_size, v_size = fanout_xy
    n = len(offsets)
    by_shift: dict[Vec, set[int]] = {}
    for cur in range(n):
        h, v = cur % h_size, cur // h_size
        for dh, dv in ((0, -1), (0, 1), (-1, 0), (1, 0)):
            hh, vv = h + dh, v + dv
            if not (0 <= hh < h_size and 0 <= vv < v_size):
                continue
            prev = vv * h_size + hh
            if prev >= n:
                continue
            shift = tuple(a - b for a, b in zip(offsets[prev], offsets[cur], strict=True))
            by_shift.setdefault(shift, set()).add(cur)
    return {k: frozenset(v) for k, v in by_shift.items()}


def _groups(hist: Histogram) -> int:
    return sum(g for _, g in hist)


def link_accesses(
    proj: Projection,
    members: tuple[SpatialMember, ...],
    fanout_xy: tuple[int, int],
    total: int,
    visits: list[tuple[Vec, int]],
) -> tuple[tuple[tuple[int, int], ...], int]:
    """A spatial level's multicast entries and link words for one data space, given the
    child's total accesses and its link-eligible visits (:func:`link_visits`). A visit uses
    the links when the elements left without a neighbour's copy form fewer multicast groups
    than all elements do; those elements then read from the parent, the others over links."""
    hist = multicast_histogram(proj, members)
    entries: dict[int, int] = {}
    rest_words = total
    link_words = 0
    # element offsets differ by at most the group's spread along each data dimension
    spread = [
        sum(abs(c) * (n - 1) * st for d, n, st in members for dd, c in terms if dd == d)
        for terms in proj
    ]
    visits = [
        (shift, words)
        for shift, words in visits
        if all(abs(x) <= w for x, w in zip(shift, spread, strict=True))
    ]
    if visits:
        offsets = element_offsets(proj, members)
        cands = link_candidates(offsets, fanout_xy)
        groups = _groups(hist)
        for shift, words in visits:
            reused = cands.get(shift)
            if not reused:
                continue
            rest = tuple(
                sorted(
                    Counter(
                        Counter(o for e, o in enumerate(offsets) if e not in reused).values()
                    ).items()
                )
            )
            if _groups(rest) >= groups:
                continue
            rest_words -= words
            link_words += words * len(reused)
            for m, g in rest:
                entries[m] = entries.get(m, 0) + words * g
    if rest_words:
        for m, g in hist:
            entries[m] = entries.get(m, 0) + rest_words * g
    return tuple(sorted((m, a) for m, a in entries.items() if a)), link_words


class LinkDetector:
    """A cheap, sufficient condition for "no neighbour-link transfer can occur in this mapping".

    A link at spatial level L needs the child tile's translation ``t_j`` at some visit (a
    temporal loop j of L or above, moving the tile; loops below j reset) to equal the
    data-space offset between two mesh-neighbour elements of L (:func:`link_candidates`).

    * Along a data dimension with one term ``c * d``, a loop that moves d at all moves the
      tile by at least ``|c|`` times L's whole spatial extent in d (the steps of the loops
      above L at least double), more than any element offset ``|c| (master_d - below_d)``: from
      the first loop moving such a dimension on, no visit can link.
    * A zero translation delivers nothing under the current rule; under the legacy rule it is
      a full refetch only when the first loop moved the tile, and then stays a candidate.
    * Otherwise ``t_j`` (non-zero only in sliding-window dimensions) must be at most the
      offsets' range there and, finally, one of the neighbour shifts of L's element offsets
      (cached per spatial group).
    """

    def __init__(
        self,
        projs: tuple[Projection, ...],
        num_dims: int,
        fanout_xy: tuple[tuple[int, int], ...],
        legacy: bool,
    ) -> None:
        self.projs = projs
        self.fanout_xy = fanout_xy
        self.legacy = legacy
        self.single = tuple(
            frozenset(d for terms in p if len(terms) == 1 for d, c in terms if c) for p in projs
        )
        self.windows = tuple(tuple(k for k, terms in enumerate(p) if len(terms) > 1) for p in projs)
        self.windowed = tuple(ds for ds, w in enumerate(self.windows) if w)
        self.window_dims = tuple(
            tuple(sorted({d for k in w for d, c in p[k] if c}))
            for p, w in zip(projs, self.windows, strict=True)
        )
        # per data space and problem dim: its coefficient in each window (None: in none)
        self.window_coefs: tuple[tuple[tuple[int, ...] | None, ...], ...] = tuple(
            tuple(
                (
                    tuple(sum(c for dd, c in p[k] if dd == d) for k in w)
                    if any(c for k in w for dd, c in p[k] if dd == d)
                    else None
                )
                for d in range(num_dims)
            )
            for p, w in zip(projs, self.windows, strict=True)
        )
        # per (data space, level, spatial group): element offsets, neighbour candidates per
        # translation, multicast histogram; per translation the links' outcome
        self.group_cache: dict[
            tuple[int, int, tuple[SpatialMember, ...]],
            tuple[list[Vec], dict[Vec, frozenset[int]], Histogram],
        ] = {}
        self.outcome_cache: dict[
            tuple[int, int, tuple[SpatialMember, ...], Vec], tuple[Histogram, int] | None
        ] = {}

    def _group(
        self, ds: int, li: int, members: tuple[SpatialMember, ...]
    ) -> tuple[list[Vec], dict[Vec, frozenset[int]], Histogram]:
        key = (ds, li, members)
        found = self.group_cache.get(key)
        if found is None:
            offsets = element_offsets(self.projs[ds], members)
            found = (
                offsets,
                link_candidates(offsets, self.fanout_xy[li]),
                multicast_histogram(self.projs[ds], members),
            )
            self.group_cache[key] = found
        return found

    def accesses(
        self,
        ds: int,
        li: int,
        members: tuple[SpatialMember, ...],
        total: int,
        visits: list[tuple[Vec, int]],
    ) -> tuple[tuple[tuple[int, int], ...], int]:
        """:func:`link_accesses`, with the per-group and per-translation work memoized."""
        offsets, cands, hist = self._group(ds, li, members)
        entries: dict[int, int] = {}
        rest_words = total
        link_words = 0
        for shift, words in visits:
            key = (ds, li, members, shift)
            if key in self.outcome_cache:
                outcome = self.outcome_cache[key]
            else:
                outcome = None
                reused = cands.get(shift)
                if reused:
                    rest = tuple(
                        sorted(
                            Counter(
                                Counter(
                                    o for e, o in enumerate(offsets) if e not in reused
                                ).values()
                            ).items()
                        )
                    )
                    if _groups(rest) < _groups(hist):
                        outcome = (rest, len(reused))
                self.outcome_cache[key] = outcome
            if outcome is None:
                continue
            rest_words -= words
            link_words += words * outcome[1]
            for m, g in outcome[0]:
                entries[m] = entries.get(m, 0) + words * g
        if rest_words:
            for m, g in hist:
                entries[m] = entries.get(m, 0) + rest_words * g
        return tuple(sorted((m, a) for m, a in entries.items() if a)), link_words

    def pairs(self, levels: Sequence[LevelMapping]) -> set[tuple[int, int]]:
        """:meth:`may_link` of a valid mapping, given as its levels (inner to outer)."""
        nd = len(levels[0].temporal)
        ext = [1] * nd
        bits: list[tuple[int, int, int, int]] = []
        level_start: list[int] = []
        belows: list[list[int]] = []
        masters: list[list[int]] = []
        fans: list[int] = []
        for li, lm in enumerate(levels):
            spatial = [x * y for x, y in zip(lm.spatial_x, lm.spatial_y, strict=True)]
            master = [e * x for e, x in zip(ext, spatial, strict=True)]
            level_start.append(len(bits))
            for d in lm.permutation:
                if lm.temporal[d] > 1:
                    bits.append((li, d, lm.temporal[d], master[d]))
            belows.append(ext)
            masters.append(master)
            fans.append(prod(spatial))
            ext = [m * t for m, t in zip(master, lm.temporal, strict=True)]
        level_start.append(len(bits))
        return self.may_link(levels, bits, level_start, belows, masters, fans)

    def may_link(
        self,
        levels: Sequence[LevelMapping],
        bits: list[tuple[int, int, int, int]],
        level_start: list[int],
        belows: list[list[int]],
        masters: list[list[int]],
        fans: list[int],
    ) -> set[tuple[int, int]]:
        """The (spatial level, data space) pairs where a link transfer may occur; none can
        occur elsewhere. ``bits``: the non-trivial temporal loops inner to outer as
        ``(level, dim, bound, step)``, ``level_start[L]`` the first of level L;
        ``belows``/``masters``: per level, the operation-space extents below and including its
        spatial loops; ``fans``: per level, the product of its spatial factors."""
        out: set[tuple[int, int]] = set()
        nbits = len(bits)
        legacy = self.legacy
        for li in range(1, len(levels)):
            start = level_start[li]
            if fans[li] <= 1 or start == nbits:
                continue
            below, master = belows[li], masters[li]
            members: tuple[SpatialMember, ...] | None = None
            lm = levels[li]
            first_dim = bits[start][1]
            for ds in self.windowed:
                single = self.single[ds]
                if first_dim in single:
                    continue  # the first loop above already moves a one-term dimension
                if not legacy:
                    sx, sy = lm.spatial_x, lm.spatial_y
                    for d in self.window_dims[ds]:
                        if sx[d] > 1 or sy[d] > 1:
                            break
                    else:
                        continue  # offsets coincide along the windows: only zero shifts
                proj = self.projs[ds]
                windows = self.windows[ds]
                coefs = self.window_coefs[ds]
                limits: list[int] | None = None
                run = [0] * len(windows)  # minus the projected moves of the loops below
                first_moves = False
                for j in range(start, nbits):
                    d, step = bits[j][1], bits[j][3]
                    if d in single:
                        break
                    cd = coefs[d]
                    if cd is None:
                        t = run
                    else:
                        t = [r + c * step for r, c in zip(run, cd, strict=True)]
                        run = [r - c * step for r, c in zip(run, cd, strict=True)]
                    moved = any(t)
                    if j == start:
                        first_moves = moved
                    if not moved and not (legacy and j > start and first_moves):
                        continue
                    if limits is None:
                        limits = []
                        for k in windows:
                            lim = 0
                            for d2, c in proj[k]:
                                lim += abs(c) * (master[d2] - below[d2])
                            limits.append(lim)
                    beyond = False
                    for x, lim in zip(t, limits, strict=True):
                        if x > lim or -x > lim:
                            beyond = True
                            break
                    if beyond:
                        continue
                    if members is None:
                        members = spatial_members(lm, below)
                    shift = [0] * len(proj)
                    for k, x in zip(windows, t, strict=True):
                        shift[k] = x
                    if tuple(shift) in self._group(ds, li, members)[1]:
                        out.add((li, ds))
                        break
        return out


def spatial_members(lm: LevelMapping, below: list[int]) -> tuple[SpatialMember, ...]:
    """The spatial loops of one level as the nest orders them (X then Y, each in the spatial
    permutation, inner to outer) with their strides."""
    scale = list(below)
    out = []
    for factors in (lm.spatial_x, lm.spatial_y):
        for d in lm.spatial_permutation:
            n = factors[d]
            if n > 1:
                out.append((d, n, scale[d]))
                scale[d] *= n
    return tuple(out)


def analyze(
    nest: LoopNest,
    problem: Problem,
    *,
    legacy_translation: bool = False,
    link_pairs: Collection[tuple[int, int]] | None = None,
) -> NestAnalysis:
    """The :class:`NestAnalysis` of ``nest``: equal to
    :func:`~dcoc.accel.model.delta_engine.simulate`, in time linear in the number of loops.

    With ``nest.fanout_xy``, link transfers are analysed at every (spatial level, data space),
    or only at ``link_pairs`` when given (:meth:`LinkDetector.pairs`: no link can occur
    elsewhere)."""
    projs = projections(problem)
    nds = len(projs)
    loops = nest.loops
    nloops = len(loops)
    ndims = nest.num_dims
    scale = [1] * ndims
    stride = [0] * nloops
    extents: list[tuple[int, ...]] = []
    for i, lp in enumerate(loops):
        stride[i] = scale[lp.dim]
        scale[lp.dim] *= lp.bound
        extents.append(tuple(scale))
    compute_cycles = prod(lp.bound for lp in loops if not lp.axis.is_spatial)
    computes = prod(scale)
    levels_info: list[LevelInfo] = []
    start = 0
    prev_boundary = -1
    for b in nest.boundaries:
        members = tuple(
            (loops[k].dim, loops[k].bound, stride[k])
            for k in range(start, b + 1)
            if loops[k].axis.is_spatial
        )
        master = start + len(members) - 1
        fanout = prod(m[1] for m in members)
        replication = prod(lp.bound for lp in loops[b + 1 :] if lp.axis.is_spatial)
        sizes = [_box_size(p, extents[b]) for p in projs]
        spatial_sizes = [_box_size(p, extents[master]) for p in projs] if members else None
        linked: dict[int, tuple[tuple[tuple[int, int], ...], int]] = {}
        bases: list[int] = []
        if prev_boundary < 0:
            bases = [compute_cycles] * nds
        else:
            bits = [
                (lp.dim, lp.bound, stride[k])
                for k, lp in enumerate(loops[prev_boundary + 1 :], prev_boundary + 1)
                if lp.bound > 1 and not lp.axis.is_spatial
            ]
            if members and nest.fanout_xy:
                li = len(levels_info)
                for ds, p in enumerate(projs):
                    if link_pairs is not None and (li, ds) not in link_pairs:
                        bases.append(
                            content_accesses(p, extents[prev_boundary], bits, legacy_translation)
                        )
                        continue
                    total, visits = link_visits(p, extents[prev_boundary], bits, legacy_translation)
                    bases.append(total)
                    if visits:
                        linked[ds] = link_accesses(
                            p, members, nest.fanout_xy[len(levels_info)], total, visits
                        )
            else:
                bases = [
                    content_accesses(p, extents[prev_boundary], bits, legacy_translation)
                    for p in projs
                ]
        accesses: list[tuple[tuple[int, int], ...]] = []
        links = [0] * nds
        for ds in range(nds):
            base = bases[ds]
            if ds in linked:
                accesses.append(linked[ds][0])
                links[ds] = linked[ds][1]
            elif not base:
                accesses.append(())
            elif members:
                hist = multicast_histogram(projs[ds], members)
                accesses.append(tuple((m, base * g) for m, g in hist))
            else:
                accesses.append(((1, base),))
        levels_info.append((fanout, replication, sizes, spatial_sizes, accesses, links))
        start = b + 1
        prev_boundary = b
    return collapse(levels_info, nds, computes, computes // compute_cycles, compute_cycles)
