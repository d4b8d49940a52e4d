"""Timeloop's nest analysis in closed form: the numbers of the delta engine, without running it.

:func:`analyze` returns exactly the :class:`~dcoc.accel.nest_analysis.NestAnalysis` that
:func:`dcoc.accel.nest_simulation.simulate` computes, in time linear in the number of loops.

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
"""

from __future__ import annotations

from collections import Counter
from math import prod

from dcoc.accel.nest import LoopNest
from dcoc.accel.nest_analysis import DataSpaceTile, LevelTiles, NestAnalysis
from dcoc.accel.nest_simulation import Projection, box_size, projections
from dcoc.workloads.problem import Problem

# A spatial loop as the multicast histogram needs it: (problem dim, bound, stride).
SpatialMember = tuple[int, int, int]
Histogram = tuple[tuple[int, int], ...]


def multicast_histogram(proj: Projection, members: tuple[SpatialMember, ...]) -> Histogram:
    """((group size m, number of groups of that size), ...) of one spatial group, sorted by m.

    Element offsets in data space are accumulated loop by loop; elements with equal offsets
    form one multicast group.
    """
    counts: dict[tuple[int, ...], int] = {(0,) * len(proj): 1}
    for d, n, s in members:
        contrib = tuple(sum(c * s for dd, c in terms if dd == d) for terms in proj)
        if not any(contrib):
            counts = {k: v * n for k, v in counts.items()}
            continue
        new: dict[tuple[int, ...], int] = {}
        for key, v in counts.items():
            for i in range(n):
                k2 = tuple(a + i * b for a, b in zip(key, contrib, strict=True))
                new[k2] = new.get(k2, 0) + v
        counts = new
    return tuple(sorted(Counter(counts.values()).items()))


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
    """
    ext = [sum(c * (tile_extents[d] - 1) for d, c in terms) + 1 for terms in proj]
    size = prod(ext)
    nb = len(bits)
    if nb == 0:
        return size
    ndims = len(tile_extents)
    reset = [0] * ndims  # sum of the steps of the bits below j, per problem dim
    trans: list[tuple[int, ...]] = []
    for d, _, s in bits:
        move = [-r for r in reset]
        move[d] += s
        trans.append(tuple(sum(c * move[dd] for dd, c in terms) for terms in proj))
        reset[d] += s
    if legacy:
        ref = 0
    else:
        ref = next((j for j, t in enumerate(trans) if any(t)), -1)
        if ref < 0:
            return size
    t_ref = trans[ref]
    total = size
    weight = 1  # product of the bounds of the bits above j
    for j in range(nb - 1, ref - 1, -1):
        n = bits[j][1]
        t = trans[j]
        if j == ref or t == t_ref:
            inter = 1
            for e, x in zip(ext, t, strict=True):
                w = e - abs(x)
                if w <= 0:
                    inter = 0
                    break
                inter *= w
            delta = size - inter
        elif not legacy and not any(t):
            delta = 0
        else:
            delta = size
        total += (n - 1) * weight * delta
        weight *= n
    return total


def analyze(nest: LoopNest, problem: Problem, *, legacy_translation: bool = False) -> NestAnalysis:
    """The :class:`NestAnalysis` of ``nest``: equal to
    :func:`~dcoc.accel.nest_simulation.simulate`, in time linear in the number of loops."""
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
    levels_info = []
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
        sizes = [box_size(p, extents[b]) for p in projs]
        spatial_sizes = [box_size(p, extents[master]) for p in projs] if members else None
        if prev_boundary < 0:
            bases = [compute_cycles] * nds
        else:
            bits = [
                (lp.dim, lp.bound, stride[k])
                for k, lp in enumerate(loops[prev_boundary + 1 :], prev_boundary + 1)
                if lp.bound > 1 and not lp.axis.is_spatial
            ]
            bases = [
                content_accesses(p, extents[prev_boundary], bits, legacy_translation) for p in projs
            ]
        accesses: list[tuple[tuple[int, int], ...]] = []
        for ds in range(nds):
            base = bases[ds]
            if not base:
                accesses.append(())
            elif members:
                hist = multicast_histogram(projs[ds], members)
                accesses.append(tuple((m, base * g) for m, g in hist))
            else:
                accesses.append(((1, base),))
        levels_info.append((fanout, replication, sizes, spatial_sizes, accesses))
        start = b + 1
        prev_boundary = b
    return collapse(levels_info, nds, computes, computes // compute_cycles, compute_cycles)


LevelInfo = tuple[int, int, list[int], list[int] | None, list[tuple[tuple[int, int], ...]]]


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
                DataSpaceTile(info[2][ds], info[4][ds], partitions[li][ds], pas[li][ds])
                for ds in range(nds)
            ),
        )
        for li, info in enumerate(levels_info)
    )
    return NestAnalysis(levels, computes, compute_instances, compute_cycles)
