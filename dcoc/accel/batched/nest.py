"""The loop nest of a batch of mappings, as per-element vectors over the batch.

:func:`batch_nest` turns a :class:`~dcoc.accel.batched.inputs.MappingBatch` into
:class:`BatchNest`: per (level, dimension) the temporal and spatial factors, the tile extents
below, at and above each fanout, and per level the temporal loops a batch uses with their ranks
in each element's loop order. Every (level, dimension) slot is one int64 vector over the batch,
or the Python int 1 when no element uses it (bound-1 loops are transparent), so the work grows
with the loops a batch actually uses. The sliding-window accesses, the link detector and the
classic accesses all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcoc.accel.batched.constants import BatchConstants
from dcoc.accel.batched.inputs import MappingBatch
from dcoc.accel.batched.vec import Vec, batch_slots, vprod


class LevelOrder:
    """Cumulative sums and products over one level's loops in each element's loop order.

    Values are scattered to rows indexed by loop rank (a permutation of the dimensions), so a
    running sum or product is a handful of row operations, then gathered back per dimension.
    """

    def __init__(self, nb: int, nd: int, ranks: list[dict[int, np.ndarray]]) -> None:
        self.nb, self.nd = nb, nd
        cols = np.arange(nb)
        self.index = [{d: r * nb + cols for d, r in level.items()} for level in ranks]

    def exclusive_prefix_sums(
        self, level: int, values: dict[int, Vec], dims: list[int]
    ) -> dict[int, Vec]:
        """Per dim: the sum of the values of the dims that run inside it."""
        nb, nd = self.nb, self.nd
        rows = np.zeros(nd * nb, np.int64)
        idx = self.index[level]
        for d in dims:
            v = values[d]
            if not (isinstance(v, int) and v == 0):
                rows[idx[d]] = v
        rows2 = rows.reshape(nd, nb)
        acc = np.zeros((nd, nb), np.int64)
        for k in range(1, nd):
            acc[k] = acc[k - 1] + rows2[k - 1]
        flat = acc.reshape(-1)
        return {d: flat[idx[d]] for d in dims}

    def exclusive_suffix_products(
        self, level: int, values: dict[int, Vec], dims: list[int]
    ) -> dict[int, Vec]:
        """Per dim: the product of the values of the dims that run outside it."""
        nb, nd = self.nb, self.nd
        rows = np.ones(nd * nb, np.int64)
        idx = self.index[level]
        for d in dims:
            rows[idx[d]] = values[d]
        rows2 = rows.reshape(nd, nb)
        acc = np.ones((nd, nb), np.int64)
        for k in range(nd - 2, -1, -1):
            acc[k] = acc[k + 1] * rows2[k + 1]
        flat = acc.reshape(-1)
        return {d: flat[idx[d]] for d in dims}


@dataclass(frozen=True)
class BatchNest:
    """One batch's loop nest; lists are per level (inner to outer), then per dimension."""

    size: int
    """B, the number of elements."""
    ok: np.ndarray
    """[B] bool: factors, fanouts, products and keep masks are legal."""
    temporal: list[list[Vec]]
    """Temporal factors."""
    spatial: list[list[Vec]]
    """Spatial factors (X times Y)."""
    spatial_x: list[list[Vec]]
    spatial_y: list[list[Vec]]
    below: list[list[Vec]]
    """Tile extents under the level (the child's tile)."""
    master: list[list[Vec]]
    """Tile extents at the fanout (below times spatial)."""
    extents: list[list[Vec]]
    """The level's tile extents (master times temporal)."""
    fan: list[Vec]
    """Per level: the spatial fanout used."""
    keep: list[list[np.ndarray]]
    """[L][S] of [B] bool keep masks."""
    replication: list[Vec]
    """Per level: instances of it that hold a tile (the fanouts above multiplied)."""
    compute_cycles: np.ndarray
    """[B] the product of all temporal factors."""
    computes: np.ndarray
    """[B] MACs: the product of the outermost extents."""
    utilized_macs: np.ndarray
    """[B] the product of all fanouts."""
    active: list[list[int]]
    """Per level: the dimensions whose temporal factor some element has above 1."""
    ranks: list[dict[int, np.ndarray]]
    """Per level with two or more active dims: each one's loop rank, [B] contiguous."""
    nontrivial: list[dict[int, np.ndarray]]
    """Per level and active dim: [B] bool, the factor is above 1."""
    masked_rank: list[dict[int, np.ndarray]]
    """Per level with ranks: the rank where the loop is nontrivial, else D."""
    n_above: list[Vec]
    """Per level (and one past the last): the product of the temporal factors from it out."""
    first_used: list[int | None]
    """Per level (and one past the last): the first level at or above it with an active dim."""
    order: LevelOrder | None
    """Running sums and products in loop order (when some data space slides)."""


def batch_nest(c: BatchConstants, batch: MappingBatch) -> BatchNest:
    """The loop nest of every element of ``batch``, and which elements are legal mappings."""
    nl, nd, nds = c.num_levels, c.num_dims, c.num_ds
    nb = batch.size
    ld = nl * nd
    t_flat, pos_t = batch_slots(batch.temporal.reshape(nb, ld))
    x_flat, pos_x = batch_slots(batch.spatial_x.reshape(nb, ld))
    y_flat, pos_y = batch_slots(batch.spatial_y.reshape(nb, ld))
    tt = [t_flat[li * nd : (li + 1) * nd] for li in range(nl)]
    sx = [x_flat[li * nd : (li + 1) * nd] for li in range(nl)]
    sy = [y_flat[li * nd : (li + 1) * nd] for li in range(nl)]
    ok = np.ones(nb, bool)
    ok &= pos_t
    ok &= pos_x
    ok &= pos_y
    ok &= ~batch.conflicts
    # extents
    ss: list[list[Vec]] = []
    ext: list[list[Vec]] = []
    below: list[list[Vec]] = []
    master: list[list[Vec]] = []
    prev: list[Vec] = [1] * nd
    fan: list[Vec] = []
    for li in range(nl):
        s_l = [
            a if isinstance(b, int) and b == 1 else (b if isinstance(a, int) and a == 1 else a * b)
            for a, b in zip(sx[li], sy[li], strict=True)
        ]
        ss.append(s_l)
        m_l = [
            p if isinstance(s, int) and s == 1 else p * s for p, s in zip(prev, s_l, strict=True)
        ]
        e_l = [
            m if isinstance(t, int) and t == 1 else m * t for m, t in zip(m_l, tt[li], strict=True)
        ]
        below.append(prev)
        master.append(m_l)
        ext.append(e_l)
        prev = e_l
        ux, uy = vprod(sx[li]), vprod(sy[li])
        fan.append(vprod([ux, uy]))
        ok &= ux <= c.fanout_x[li]
        ok &= uy <= c.fanout_y[li]
        ok &= fan[li] <= c.fanout[li]
    for d in range(nd):
        ok &= ext[-1][d] == c.bounds[d]
    keep_rows = np.ascontiguousarray(batch.keep.reshape(nb, nl * nds).T)  # [L*S, B]
    keep = [[keep_rows[li * nds + s] for s in range(nds)] for li in range(nl)]
    for s in range(nds):
        anywhere = np.zeros(nb, bool)
        for li in range(nl):
            anywhere |= keep[li][s]
        ok &= anywhere
    replication: list[Vec] = [1] * nl
    for li in range(nl - 2, -1, -1):
        replication[li] = vprod([replication[li + 1], fan[li + 1]])

    def vec(x: Vec) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, np.int64), (nb,))

    # temporal loops: per level the used dims, their ranks and weights
    rank_flat = batch.permutation_rank.reshape(nb, ld)
    active = [[d for d in range(nd) if isinstance(tt[li][d], np.ndarray)] for li in range(nl)]
    ranks: list[dict[int, np.ndarray]] = []
    for li in range(nl):
        if len(active[li]) >= 2:
            cols = [li * nd + d for d in active[li]]
            sub = np.ascontiguousarray(rank_flat.T[cols])
            ranks.append({d: sub[i] for i, d in enumerate(active[li])})
        else:
            ranks.append({})
    nt = [{d: np.asarray(tt[li][d]) > 1 for d in active[li]} for li in range(nl)]
    # per level with ranks: each dim's rank where its loop is nontrivial, else nd (shared
    # by the data spaces' innermost-relevant-loop searches; read only)
    masked_rank = [
        {d: np.where(nt[li][d], r_d, nd) for d, r_d in ranks[li].items()} for li in range(nl)
    ]
    n_above: list[Vec] = [1] * (nl + 1)
    for li in range(nl - 1, -1, -1):
        n_above[li] = vprod([n_above[li + 1], *(tt[li][d] for d in active[li])])
    return BatchNest(
        size=nb,
        ok=ok,
        temporal=tt,
        spatial=ss,
        spatial_x=sx,
        spatial_y=sy,
        below=below,
        master=master,
        extents=ext,
        fan=fan,
        keep=keep,
        replication=replication,
        compute_cycles=vec(vprod(t_flat)),
        computes=vec(vprod(ext[-1])),
        utilized_macs=vec(vprod(fan)),
        active=active,
        ranks=ranks,
        nontrivial=nt,
        masked_rank=masked_rank,
        n_above=n_above,
        first_used=[next((k for k in range(li, nl) if active[k]), None) for li in range(nl + 1)],
        order=LevelOrder(nb, nd, ranks) if any(c.sliding) else None,
    )
