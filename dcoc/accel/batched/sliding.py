"""Content accesses of sliding-window data spaces in the batched evaluator.

Per temporal loop slot, ``key`` encodes the translation of its transition (own move minus the
moves of the nontrivial loops inside it, in a balanced mixed radix, so translations compare as
integers) and ``weight`` is ``(n - 1) * prod(bounds of the loops outside it)``. A child level's
reference transition is the first candidate above it (see :mod:`dcoc.accel.model.closed_form`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dcoc.accel.batched.vec import Vec, vprod

Projection = tuple[tuple[tuple[int, int], ...], ...]


@dataclass(frozen=True)
class _Reference:
    """The reference transition above a level and the weights of the transitions like it."""

    found: np.ndarray
    """[B] bool: some transition moves the tile."""
    amount: list[Vec]
    """Per data dimension, how far the reference transition moves the tile."""
    e_sum: Vec
    """Weight of the transitions whose translation equals the reference's."""
    z_sum: Vec
    """Weight of the transitions that do not move the tile (current rule)."""


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


class SlidingAccesses:
    """Mixin of :class:`~dcoc.accel.batched.evaluator.BatchEvaluator`: sliding-window accesses."""

    num_levels: int
    num_dims: int
    legacy: bool
    projs: tuple[Projection, ...]
    kappa: list[list[int]]

    def _spans(self, ds: int, extents: Sequence[Vec]) -> list[Vec]:
        out = []
        for terms in self.projs[ds]:
            span: Vec = 1
            for d, c in terms:
                e = extents[d]
                if not (isinstance(e, int) and e == 1):
                    span = span + c * (e - 1)
            out.append(span)
        return out

    def _sliding(
        self,
        s: int,
        base: list[list[np.ndarray]],
        sizes: list[list[Vec]],
        ext: list[list[Vec]],
        master: list[list[Vec]],
        tt: list[list[Vec]],
        active: list[list[int]],
        ranks: list[dict[int, np.ndarray]],
        nt: list[dict[int, np.ndarray]],
        masked_rank: list[dict[int, np.ndarray]],
        order: LevelOrder | None,
        n_above: list[Vec],
        first_used: list[int | None],
        nb: int,
    ) -> None:
        """Content accesses of a sliding-window data space (see closed_form's docstring).

        Per temporal slot: ``key`` encodes the translation of its transition relative to the
        level boundary below everything (own move minus the moves of the nontrivial loops
        inside it), ``weight`` is ``(n - 1) * prod(bounds of the loops outside it)``. Per level
        the reference candidate is its innermost nontrivial loop (current rule: the innermost
        one that moves the data space); a child's reference is the first candidate above it.
        """
        assert order is not None
        nl, nd = self.num_levels, self.num_dims
        kappa = self.kappa[s]
        touch = [
            [
                (k, sum(abs(c) for dd, c in terms if dd == d))
                for k, terms in enumerate(self.projs[s])
            ]
            for d in range(nd)
        ]
        touch = [[(k, c) for k, c in t if c] for t in touch]
        ndd = len(self.projs[s])
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
            cands = [d for d in acts if self.legacy or kappa[d]]
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
                for k, c in touch[d]:
                    amount[k] = amount[k] + c * master[li][d] * sel[d]
            level_ref.append((has, ref_key, amount))
        groups: dict[int, _Reference] = {}
        for li in range(1, nl):
            c = li - 1
            g = first_used[li]
            size = sizes[c][s]
            if g is None:
                base[li][s] = np.broadcast_to(np.asarray(size, np.int64), (nb,))
                continue
            if g not in groups:
                groups[g] = self._reference(g, key, weight, level_ref, start_sum[g], ndd, nb)
            grp = groups[g]
            inter: Vec = 1
            for span, amount_k in zip(self._spans(s, ext[c]), grp.amount, strict=True):
                if isinstance(amount_k, int) and amount_k == 0:
                    inter = span if isinstance(inter, int) and inter == 1 else inter * span
                else:
                    inter = inter * np.maximum(span - amount_k, 0)
            e_sum = grp.e_sum
            if self.legacy:
                ca = size * n_above[g] - inter * e_sum
            else:
                ca = np.where(grp.found, size * (n_above[g] - grp.z_sum) - inter * e_sum, size)
            base[li][s] = np.broadcast_to(np.asarray(ca, np.int64), (nb,))

    def _reference(
        self,
        g: int,
        key: list[dict[int, Vec]],
        weight: list[dict[int, Vec]],
        level_ref: list[tuple[np.ndarray, Vec, list[Vec]] | None],
        start_sum: Vec,
        ndd: int,
        nb: int,
    ) -> _Reference:
        """The reference transition above level ``g - 1`` and the weights that match it."""
        found: np.ndarray | None = None
        ref_key: Vec = 0
        amount: list[Vec] = [0] * ndd
        for li in range(g, self.num_levels):
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
        for li in range(g, self.num_levels):
            for d, k in key[li].items():
                w = weight[li][d]
                # (bool masks multiply: faster than np.where and the same integers)
                e_sum = e_sum + w * (k == ref_key)  # w = 0 if trivial
                if not self.legacy:
                    z_sum = z_sum + w * (k == zero_key)
        if found is None:
            found = np.zeros(nb, bool)
        return _Reference(found, amount, e_sum, z_sum)
