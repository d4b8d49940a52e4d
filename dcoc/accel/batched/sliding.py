"""Content accesses of sliding-window data spaces in the batched evaluator.

Per temporal loop slot, ``key`` encodes the translation of its transition (own move minus the
moves of the nontrivial loops inside it, in a balanced mixed radix, so translations compare as
integers) and ``weight`` is ``(n - 1) * prod(bounds of the loops outside it)``. A child level's
reference transition is the first candidate above it (see :mod:`dcoc.accel.model.closed_form`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcoc.accel.batched.constants import BatchConstants
from dcoc.accel.batched.nest import BatchNest
from dcoc.accel.batched.vec import Vec, spans, vprod


@dataclass(frozen=True)
class Reference:
    """The reference transition above a level and the weights of the transitions like it."""

    found: np.ndarray
    """[B] bool: some transition moves the tile."""
    amount: list[Vec]
    """Per data dimension, how far the reference transition moves the tile."""
    e_sum: Vec
    """Weight of the transitions whose translation equals the reference's."""
    z_sum: Vec
    """Weight of the transitions that do not move the tile (current rule)."""


def sliding_accesses(
    c: BatchConstants, nest: BatchNest, s: int, sizes: list[list[Vec]]
) -> list[np.ndarray]:
    """Content accesses of sliding-window data space ``s`` at levels 1 to L-1, each [B]
    (see closed_form's docstring); ``sizes``: [L][S] tile sizes.

    Per temporal slot: ``key`` encodes the translation of its transition relative to the
    level boundary below everything (own move minus the moves of the nontrivial loops
    inside it), ``weight`` is ``(n - 1) * prod(bounds of the loops outside it)``. Per level
    the reference candidate is its innermost nontrivial loop (current rule: the innermost
    one that moves the data space); a child's reference is the first candidate above it.
    """
    order = nest.order
    assert order is not None
    nl, nd, nb = c.num_levels, c.num_dims, nest.size
    tt, master, ext, active = nest.temporal, nest.master, nest.extents, nest.active
    ranks, nt, masked_rank = nest.ranks, nest.nontrivial, nest.masked_rank
    n_above, first_used = nest.n_above, nest.first_used
    kappa = c.kappa[s]
    touch = [
        [(k, sum(abs(cf) for dd, cf in terms if dd == d)) for k, terms in enumerate(c.projs[s])]
        for d in range(nd)
    ]
    touch = [[(k, cf) for k, cf in t if cf] for t in touch]
    ndd = len(c.projs[s])
    key: list[dict[int, Vec]] = []
    weight: list[dict[int, Vec]] = []
    start_sum: list[Vec] = []
    level_ref: list[tuple[np.ndarray, Vec, list[Vec]] | None] = []
    running: Vec = 0
    for li in range(nl):
        acts = active[li]
        start_sum.append(running)
        if not acts:
            key.append({})
            weight.append({})
            level_ref.append(None)
            continue
        move: dict[int, Vec] = {
            d: (kappa[d] * master[li][d] * nt[li][d] if kappa[d] else 0) for d in acts
        }
        if len(acts) == 1:
            d = acts[0]
            inside_moves: dict[int, Vec] = {d: 0}
            outside: dict[int, Vec] = {d: 1}
        else:
            inside_moves = order.exclusive_prefix_sums(li, move, acts)
            outside = order.exclusive_suffix_products(li, {d: tt[li][d] for d in acts}, acts)
        k_l = {d: move[d] - running - inside_moves[d] for d in acts}
        w_l = {d: (tt[li][d] - 1) * vprod([outside[d], n_above[li + 1]]) for d in acts}
        for d in acts:
            running = running + move[d]
        key.append(k_l)
        weight.append(w_l)
        # this level's reference candidate: innermost candidate loop
        cands = [d for d in acts if c.legacy or kappa[d]]
        if not cands:
            level_ref.append(None)
            continue
        if len(acts) == 1:
            sel = {cands[0]: nt[li][cands[0]]}
            has = nt[li][cands[0]]
        else:
            r = ranks[li]
            mr = masked_rank[li]  # rank where nontrivial, else nd
            minrank = mr[cands[0]]
            for d in cands[1:]:
                minrank = np.minimum(minrank, mr[d])
            sel = {d: nt[li][d] & (r[d] == minrank) for d in cands}
            has = np.asarray(minrank < nd)
        ref_key: Vec = 0
        amount: list[Vec] = [0] * ndd
        for d in cands:
            ref_key = ref_key + k_l[d] * sel[d]
            for k, cf in touch[d]:
                amount[k] = amount[k] + cf * master[li][d] * sel[d]
        level_ref.append((has, ref_key, amount))
    groups: dict[int, Reference] = {}
    out: list[np.ndarray] = []
    for li in range(1, nl):
        child = li - 1
        g = first_used[li]
        size = sizes[child][s]
        if g is None:
            out.append(np.broadcast_to(np.asarray(size, np.int64), (nb,)))
            continue
        if g not in groups:
            groups[g] = reference_transition(c, g, key, weight, level_ref, start_sum[g], ndd, nb)
        grp = groups[g]
        inter: Vec = 1
        for span, amount_k in zip(spans(c.projs[s], ext[child]), grp.amount, strict=True):
            if isinstance(amount_k, int) and amount_k == 0:
                inter = span if isinstance(inter, int) and inter == 1 else inter * span
            else:
                inter = inter * np.maximum(span - amount_k, 0)
        e_sum = grp.e_sum
        if c.legacy:
            ca = size * n_above[g] - inter * e_sum
        else:
            ca = np.where(grp.found, size * (n_above[g] - grp.z_sum) - inter * e_sum, size)
        out.append(np.broadcast_to(np.asarray(ca, np.int64), (nb,)))
    return out


def reference_transition(
    c: BatchConstants,
    g: int,
    key: list[dict[int, Vec]],
    weight: list[dict[int, Vec]],
    level_ref: list[tuple[np.ndarray, Vec, list[Vec]] | None],
    start_sum: Vec,
    ndd: int,
    nb: int,
) -> Reference:
    """The reference transition above level ``g - 1`` and the weights that match it."""
    found: np.ndarray | None = None
    ref_key: Vec = 0
    amount: list[Vec] = [0] * ndd
    for li in range(g, c.num_levels):
        lr = level_ref[li]
        if lr is None:
            continue
        has, k_l, a_l = lr
        if found is None:
            ref_key = np.where(has, k_l, 0)
            amount = [np.where(has, a, 0) if not isinstance(a, int) else a for a in a_l]
            found = has
            continue
        take = has & ~found
        ref_key = np.where(take, k_l, ref_key)
        amount = [
            a if isinstance(a, int) and isinstance(b, int) else np.where(take, b, a)
            for a, b in zip(amount, a_l, strict=True)
        ]
        found = found | has
    e_sum: Vec = 0
    z_sum: Vec = 0
    zero_key = -start_sum
    for li in range(g, c.num_levels):
        for d, k in key[li].items():
            w = weight[li][d]
            # (bool masks multiply: faster than np.where and the same integers)
            e_sum = e_sum + w * (k == ref_key)  # w = 0 if trivial
            if not c.legacy:
                z_sum = z_sum + w * (k == zero_key)
    if found is None:
        found = np.zeros(nb, bool)
    return Reference(found, amount, e_sum, z_sum)
