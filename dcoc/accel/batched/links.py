"""Neighbour link transfers in the batched evaluator: a vectorized detector and an exact patch.

Timeloop lets the children of a spatial fanout take a delta from a mesh neighbour's previous
delta when that cuts the parent's accesses (:func:`dcoc.accel.model.closed_form.link_accesses`).
The batched closed form does not model this; instead

* :meth:`BatchLinks.candidates` flags, vectorized, every element where a link *may* occur, by the
  sufficient no-link condition of :class:`~dcoc.accel.model.closed_form.LinkDetector` without its
  last (per-group) step: at a spatial level L, a temporal loop j of L or above, below every loop
  that moves a one-term data dimension, must translate the child tile by at most the spread of L's
  element offsets along every sliding-window data dimension (and, except under the legacy rule, by a
  non-zero amount);
* :meth:`BatchLinks.patch` computes, vectorized over the flagged elements, the child's
  transitions above the fanout (translation, delta, mode), the visits whose delta has the
  previous visit's mode (:func:`~dcoc.accel.model.closed_form.link_visits`), and looks up, per
  distinct (spatial group, translation), which elements a mesh neighbour serves and the
  multicast histogram of the rest (memoized), then rewrites the flagged elements' multicast
  entries and link words (:func:`~dcoc.accel.model.closed_form.link_accesses`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from dcoc.accel.batched.inputs import MappingBatch
from dcoc.accel.batched.vec import Vec
from dcoc.accel.model.closed_form import element_offsets, link_candidates
from dcoc.workloads.problem import Problem

Projection = tuple[tuple[tuple[int, int], ...], ...]


class BatchLinks:
    """Link-transfer handling of one (architecture template, problem, stride rule)."""

    def __init__(
        self,
        problem: Problem,
        projs: tuple[Projection, ...],
        fanout_xy: Sequence[tuple[int, int]],
        legacy: bool,
    ) -> None:
        self.problem = problem
        self.projs = projs
        self.fanout_xy = tuple(fanout_xy)
        self.legacy = legacy
        self.num_dims = nd = len(problem.dimensions)
        self.spatial_levels = [li for li, (x, y) in enumerate(fanout_xy) if li > 0 and x * y > 1]
        # per data space with sliding windows: single-term dims, window terms
        self.windowed: list[tuple[int, frozenset[int], tuple[tuple[tuple[int, int], ...], ...]]]
        self.windowed = []
        for s, p in enumerate(projs):
            windows = tuple(terms for terms in p if len(terms) > 1)
            if windows:
                single = frozenset(d for terms in p if len(terms) == 1 for d, c in terms if c)
                self.windowed.append((s, single, windows))
        self.reuse: dict[tuple[int, int, bytes], tuple[tuple[tuple[int, int], ...], int] | None]
        self.reuse = {}
        self.groups: dict[
            tuple[int, int, tuple[int, ...]], tuple[list[tuple[int, ...]], dict, int]
        ] = {}
        self.memo: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}
        # per data space: coefficients [K, D], balanced radix bases [K], key of a unit move
        # along each problem dim [D], key bound of a unit spread per dim ([D]: |coef| x the
        # radix multipliers)
        self.encoding: dict[int, tuple[np.ndarray, list[int], np.ndarray, np.ndarray]] = {}
        for s, _, _ in self.windowed:
            proj = projs[s]
            coef = np.zeros((len(proj), nd), np.int64)
            for k, terms in enumerate(proj):
                for d, c in terms:
                    coef[k, d] += c
            radix = [
                2 * int(sum(abs(c) * 2 * problem.bounds[problem.dimensions[d]] for d, c in t)) + 1
                for t in proj
            ]
            mults = np.cumprod([1, *radix[:-1]]).astype(np.int64)
            if float(np.prod(np.array(radix, float))) >= 2.0**62:
                raise ValueError("problem too large for the link-transfer translation keys")
            self.encoding[s] = (coef, radix, mults @ coef, mults @ np.abs(coef))
        self.movable = [[d for d in range(nd) if d not in single] for _, single, _ in self.windowed]

    @property
    def possible(self) -> bool:
        return bool(self.spatial_levels and self.windowed)

    def candidates(
        self,
        tt: list[list[Vec]],
        ss: list[list[Vec]],
        below: list[list[Vec]],
        master: list[list[Vec]],
        nt: list[dict[int, np.ndarray]],
        rank: np.ndarray,
        ranks: list[dict[int, np.ndarray]],
        live: np.ndarray,
    ) -> dict[tuple[int, int], np.ndarray]:
        """Per (spatial level, data space), the indices of the ``live`` elements where a link
        transfer may occur there (elsewhere it certainly does not).

        ``rank``: [B, L, D] loop positions in each level's temporal order (0 innermost);
        ``ranks``: per level, the same as contiguous [B] rows of some dims (optional)."""
        nl = len(tt)
        nb = live.shape[0]
        out: dict[tuple[int, int], np.ndarray] = {}

        def pick(x: Vec, idx: np.ndarray) -> Vec:
            return x if isinstance(x, int) else x[idx]

        for li_sp in self.spatial_levels:
            fan: Vec = 1
            for d in range(self.num_dims):
                fan = fan * ss[li_sp][d]
            if isinstance(fan, int) and fan <= 1:
                continue
            used = live & (fan > 1)
            for (s, single, windows), movable in zip(self.windowed, self.movable, strict=True):
                cand = used
                if not self.legacy:
                    touched = np.zeros(nb, bool)
                    for terms in windows:
                        for d, _ in terms:
                            touched |= np.asarray(ss[li_sp][d]) > 1
                    cand = cand & touched
                idx = np.flatnonzero(cand)
                n = len(idx)
                if not n:
                    continue
                limits = [
                    np.broadcast_to(
                        sum(
                            abs(c) * (pick(master[li_sp][d], idx) - pick(below[li_sp][d], idx))
                            for d, c in terms
                        ),
                        (n,),
                    )
                    for terms in windows
                ]
                hits: list[np.ndarray] = []
                cum = [np.zeros(n, np.int64) for _ in windows]  # moves below, per window
                # legacy rule: a zero translation is a full refetch only after the first loop
                # (the reference) moved the tile
                started = np.zeros(n, bool)
                first_moves = np.zeros(n, bool)
                wdims = {d for terms in windows for d, c in terms if c}
                for li in range(li_sp, nl):
                    if not nt[li]:
                        continue
                    acts = {d: v[idx] for d, v in nt[li].items()}
                    # each used dim's loop rank: contiguous rows when the evaluator has them
                    rows_l = ranks[li]
                    cols_l = {d: (rows_l[d] if d in rows_l else rank[:, li, d])[idx] for d in acts}
                    single_rank: Vec = self.num_dims
                    blocked: Vec = False  # a one-term data dimension moves at this level
                    for d in single:
                        if d in acts:
                            single_rank = np.minimum(single_rank, np.where(acts[d], cols_l[d], 99))
                            blocked = blocked | acts[d]
                    own = [
                        {d: c * pick(master[li][d], idx) * acts[d] for d, c in terms if d in acts}
                        for terms in windows
                    ]
                    found = np.zeros(len(idx), bool)
                    if self.legacy:
                        first_rank: Vec = 99
                        for d, v in acts.items():
                            first_rank = np.minimum(first_rank, np.where(v, cols_l[d], 99))
                        starts_here = ~started & (first_rank < 99)
                        for d, v in acts.items():
                            if d in wdims:
                                first_moves |= starts_here & v & (cols_l[d] == first_rank)
                    for d in movable:
                        if d not in acts:
                            continue
                        rd = cols_l[d]
                        ok = acts[d] & (rd < single_rank)
                        nonzero = np.zeros(len(idx), bool)
                        # the loops below d, once per level and dim (shared by the windows)
                        below_d = {d2: cols_l[d2] < rd for d2 in acts if d2 != d}
                        for k, own_k in enumerate(own):
                            t: Vec = own_k.get(d, 0) - cum[k]
                            for d2, v in own_k.items():
                                if d2 != d:
                                    t = t - v * below_d[d2]
                            nonzero |= np.asarray(t) != 0
                            ok &= np.abs(t) <= limits[k]
                        if self.legacy:
                            not_start = started | (rd != first_rank)
                            found |= ok & (nonzero | (not_start & first_moves))
                        else:
                            found |= ok & nonzero
                    if found.any():
                        hits.append(idx[found])
                    if self.legacy:
                        started |= first_rank < 99
                    # elements found, or blocked from here on, are done
                    rest = ~(found | blocked)
                    if not rest.any():
                        break
                    if not rest.all():
                        idx = idx[rest]
                        limits = [x[rest] for x in limits]
                        cum = [x[rest] for x in cum]
                        started, first_moves = started[rest], first_moves[rest]
                        own = [{d: v[rest] for d, v in own_k.items()} for own_k in own]
                    for k, own_k in enumerate(own):
                        for v in own_k.values():
                            cum[k] = cum[k] + v
                if hits:
                    out[(li_sp, s)] = np.sort(np.concatenate(hits))
        return out

    def patch(
        self,
        batch: MappingBatch,
        flagged: dict[tuple[int, int], np.ndarray],
        base: list[list[np.ndarray]],
        ent_m: list[list[Vec]],
        ent_a: list[list[np.ndarray]],
        nb: int,
    ) -> list[list[Vec]]:
        """Exact multicast entries with link transfers for the ``flagged`` elements
        (:func:`~dcoc.accel.model.closed_form.link_visits` and ``link_accesses``, vectorized over
        the elements; the per-group neighbour analysis is memoized per (group, translation)).
        Overwrites ``ent_m``/``ent_a`` of the spatial levels of sliding-window data spaces and
        returns the link words per level and data space (0 or [B])."""
        nl, nds = len(ent_m), len(self.projs)
        links: list[list[Vec]] = [[0] * nds for _ in range(nl)]
        if not flagged:
            return links
        # the flagged elements of every (level, data space) gathered once, each a row range
        keys = list(flagged)
        index_all = np.concatenate([flagged[k] for k in keys])
        bounds = np.cumsum([0, *(len(flagged[k]) for k in keys)])
        nd = self.num_dims
        t_all = batch.temporal[index_all]
        sx_all = batch.spatial_x[index_all]
        sy_all = batch.spatial_y[index_all]
        s_all = sx_all * sy_all
        # master (below x spatial) and tile extents per level, [F, L, D]
        tiles = np.cumprod(s_all * t_all, axis=1)
        belows = np.empty_like(tiles)
        belows[:, 0] = 1
        belows[:, 1:] = tiles[:, :-1]
        masters = belows * s_all
        # the dim at each loop position (ranks are a permutation per level): a flat scatter
        lo = min(li_sp for li_sp, _ in keys)
        rank = batch.permutation_rank[index_all, lo:]
        nf_all, nlv = rank.shape[0], rank.shape[1]
        order_all = np.empty(nf_all * nlv * nd, np.int64)
        offsets = (np.arange(nf_all * nlv, dtype=np.int64) * nd)[:, None]
        order_all[(rank.reshape(-1, nd) + offsets).ravel()] = np.tile(
            np.arange(nd, dtype=np.int64), nf_all * nlv
        )
        # bounds and steps in loop order: flat gathers from levels lo and up
        at = (order_all.reshape(-1, nd) + offsets).reshape(nf_all, nlv, nd)
        order_all = order_all.reshape(nf_all, nlv, nd)
        n_at_all = np.ascontiguousarray(t_all[:, lo:]).reshape(-1)[at]
        step_at_all = np.ascontiguousarray(masters[:, lo:]).reshape(-1)[at]
        for i, (li_sp, s) in enumerate(keys):
            r = slice(bounds[i], bounds[i + 1])
            order = order_all[r, li_sp - lo :]
            n_at = n_at_all[r, li_sp - lo :]
            step_at = step_at_all[r, li_sp - lo :]
            group = np.concatenate(
                [
                    sx_all[r, li_sp],
                    sy_all[r, li_sp],
                    batch.spatial_rank[flagged[(li_sp, s)], li_sp],
                    belows[r, li_sp],
                ],
                axis=1,
            )
            self._patch_level(
                flagged[(li_sp, s)],
                li_sp,
                s,
                order,
                n_at,
                step_at,
                belows[r],
                masters[r],
                group,
                base,
                ent_m,
                ent_a,
                links,
                nb,
            )
        return links

    def _patch_level(
        self,
        index: np.ndarray,
        li_sp: int,
        s: int,
        order: np.ndarray,
        n_at: np.ndarray,
        step_at: np.ndarray,
        belows: np.ndarray,
        masters: np.ndarray,
        group: np.ndarray,
        base: list[list[np.ndarray]],
        ent_m: list[list[Vec]],
        ent_a: list[list[np.ndarray]],
        links: list[list[Vec]],
        nb: int,
    ) -> None:
        """One (spatial level, data space): ``group`` [F, 4D] is each element's spatial group
        (X factors, Y factors, spatial ranks, child extents) at ``li_sp``."""
        nd = self.num_dims
        nf = len(index)
        coef, radix, key_of_dim, key_bound_of_dim = self.encoding[s]
        child = belows[:, li_sp, :]  # the child's tile extents [F, D]
        extent = (child - 1) @ coef.T + 1  # [F, K]
        size = np.prod(extent, axis=1)
        # the bits above the child, inner to outer: slots (level, rank), trivial ones masked
        n_bits = n_at.reshape(nf, -1)  # [F, J]
        cols = np.flatnonzero((n_bits > 1).any(axis=0))  # loop positions someone uses
        n_bits = n_bits[:, cols]
        dims = order.reshape(nf, -1)[:, cols]
        steps = step_at.reshape(nf, -1)[:, cols]
        nj = n_bits.shape[1]
        real = n_bits > 1
        # translations as one integer each (balanced mixed radix, linear)
        own = key_of_dim[dims] * (steps * real)  # [F, J]
        trans = 2 * own - np.cumsum(own, axis=1)  # own move minus the moves below it
        moves = trans != 0
        rows = np.arange(nf)
        start = np.argmax(real, axis=1)
        has_bits = real[rows, start]
        if self.legacy:
            ref = start
            has_ref = has_bits
        else:
            cand = real & moves
            ref = np.argmax(cand, axis=1)
            has_ref = cand[rows, ref]
        t_ref = trans[rows, ref]  # [F]
        inter_ref = np.prod(np.maximum(extent - np.abs(_decode(t_ref, radix)), 0), axis=1)
        is_ref = (trans == t_ref[:, None]) & has_ref[:, None]
        zero = ~moves if not self.legacy else np.zeros_like(moves)
        # mode codes: 0 nothing moved (current rule), 1 the reference's set difference,
        # 2 a full fetch; deltas accordingly
        code = np.where(is_ref & (inter_ref > 0)[:, None], 1, np.where(zero, 0, 2))
        delta = np.where(is_ref, (size - inter_ref)[:, None], np.where(zero, 0, size[:, None]))
        # weights: (n_j - 1) x product of the bounds above j
        above = np.cumprod(n_bits[:, ::-1], axis=1)[:, ::-1]
        above = np.concatenate([above[:, 1:], np.ones((nf, 1), np.int64)], axis=1)
        weight = np.where(real, (n_bits - 1) * above, 0)
        code_start = code[rows, start]
        d_start = delta[rows, start]
        n_start = n_bits[rows, start]
        after = real & (np.arange(nj)[None, :] > start[:, None])
        same = after & (code == code_start[:, None])
        words = np.where(same & (delta > 0), delta * weight, 0)  # visits j > start
        prev_weight = (code_start == 2).astype(np.int64) + np.where(same, weight, 0).sum(axis=1)
        words_start = np.where(has_bits, d_start * (n_start - 1) * prev_weight, 0)
        words[rows, start] = words_start
        # only translations within the spread of the element offsets can be neighbour shifts;
        # a key within the spread's key bound (sum of spread x radix multiplier) is necessary
        spread_d = masters[:, li_sp, :] - child  # [F, D]
        key_bound = spread_d @ key_bound_of_dim  # [F]
        elem, slot = np.nonzero((words != 0) & (np.abs(trans) <= key_bound[:, None]))
        if not len(elem):
            return
        shifts = _decode(trans[elem, slot], radix)  # [C, K]
        spread = spread_d @ np.abs(coef).T  # [F, K]
        near = (np.abs(shifts) <= spread[elem]).all(axis=1)
        elem, slot, shifts = elem[near], slot[near], shifts[near]
        if not len(elem):
            return
        lvl = li_sp
        config = np.concatenate([group[elem], shifts], axis=1)
        fmax = self.fanout_xy[lvl][0] * self.fanout_xy[lvl][1]
        usable, reused, rest = self._lookup(s, lvl, config, nd, fmax)
        use = usable
        if not use.any():
            return
        elem, slot, reused, rest = elem[use], slot[use], reused[use], rest[use]
        w = words[elem, slot]
        # per element sums: elem is sorted (np.nonzero's row-major order, masks keep it), so
        # each element's rows are one run
        first = np.flatnonzero(np.concatenate([[True], elem[1:] != elem[:-1]]))
        owners = elem[first]
        linked = np.zeros(nf, np.int64)
        linked[owners] = np.add.reduceat(w, first)
        link_words = np.zeros(nf, np.int64)
        link_words[owners] = np.add.reduceat(w * reused, first)
        extra = np.zeros((nf, fmax + 1), np.int64)
        extra[owners] = np.add.reduceat(w[:, None] * rest, first, axis=0)
        touched = np.flatnonzero(linked)
        cols = index[touched]
        # the touched elements' entries, merged per multicast size (masking scales each
        # entry separately, so one entry per size, as the scalar model keeps them)
        a = ent_a[lvl][s]
        if not a.flags.writeable:
            a = a.copy()
        m_old = ent_m[lvl][s]
        if isinstance(m_old, int):
            m_old = np.full((a.shape[0], 1), m_old, np.int64)
        b_ = np.asarray(base[lvl][s])[cols]
        kept = a[:, cols] // np.maximum(b_, 1) * (b_ - linked[touched])  # [K, T]
        m_cols = np.broadcast_to(m_old, a.shape)[:, cols]
        tcol = np.broadcast_to(np.arange(len(cols)), kept.shape)
        dense = extra[touched]
        np.add.at(dense, (tcol, m_cols), kept)
        # in place where every size the element needs has exactly one row of its own
        count = np.zeros_like(dense)
        np.add.at(count, (tcol, np.minimum(m_cols, fmax)), 1)
        fits = ((dense == 0) | (count == 1)).all(axis=1)
        a[:, cols[fits]] = np.take_along_axis(dense[fits], m_cols[:, fits].T, axis=1).T
        ent_a[lvl][s] = a
        if not fits.all():
            out = ~fits
            a[:, cols[out]] = 0
            sizes = np.flatnonzero(dense[out].any(axis=0))
            new_a = np.zeros((len(sizes), nb), np.int64)
            new_a[:, cols[out]] = dense[out][:, sizes].T
            m_new = sizes.astype(np.int64)[:, None]
            if m_old.shape[1] != 1:
                m_new = np.repeat(m_new, nb, axis=1)
            ent_m[lvl][s] = np.concatenate([m_old, m_new])
            ent_a[lvl][s] = np.concatenate([a, new_a])
        words_b = np.zeros(nb, np.int64)
        words_b[cols] = link_words[touched]
        links[lvl][s] = words_b

    def _lookup(
        self, s: int, level: int, config: np.ndarray, nd: int, fmax: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row of ``config`` (spatial group and translation): whether the links cut the
        parent's groups, how many elements a neighbour serves, and the histogram of the rest
        ([C, fmax + 1]); memoized in sorted arrays keyed by a 64-bit hash of the row (rows
        are compared in full, so a collision only costs a recomputation)."""
        ncol = config.shape[1]
        keys = config @ _MIX[:ncol]  # integer array products wrap silently
        memo = self.memo.get((s, level))
        hit = np.zeros(len(keys), bool)
        pos = np.zeros(len(keys), np.int64)
        if memo is not None:
            pos = np.minimum(np.searchsorted(memo[0], keys), len(memo[0]) - 1)
            hit = (memo[0][pos] == keys) & (memo[1][pos] == config).all(axis=1)
        if not hit.all():
            miss_rows = np.unique(config[~hit], axis=0)
            n_new = len(miss_rows)
            usable = np.zeros(n_new, bool)
            reused = np.zeros(n_new, np.int64)
            rest = np.zeros((n_new, fmax + 1), np.int64)
            for u, row in enumerate(miss_rows):
                info = self._neighbour_reuse(s, level, row, nd)
                if info is not None:
                    usable[u] = True
                    reused[u] = info[1]
                    for m, g in info[0]:
                        rest[u, m] = g
            with np.errstate(over="ignore"):
                new_keys = miss_rows @ _MIX[:ncol]
            if memo is not None:
                new_keys = np.concatenate([memo[0], new_keys])
                miss_rows = np.concatenate([memo[1], miss_rows])
                usable = np.concatenate([memo[2], usable])
                reused = np.concatenate([memo[3], reused])
                rest = np.concatenate([memo[4], rest])
            order = np.argsort(new_keys, kind="stable")
            memo = (
                new_keys[order],
                miss_rows[order],
                usable[order],
                reused[order],
                rest[order],
            )
            self.memo[(s, level)] = memo
            pos = np.minimum(np.searchsorted(memo[0], keys), len(memo[0]) - 1)
            hit = (memo[0][pos] == keys) & (memo[1][pos] == config).all(axis=1)
            if not hit.all():  # a hash collision: look the rows up one by one
                for i in np.flatnonzero(~hit):
                    same = np.flatnonzero((memo[1] == config[i]).all(axis=1))
                    pos[i] = same[0]
        assert memo is not None
        return memo[2][pos], memo[3][pos], memo[4][pos]

    def _neighbour_reuse(
        self, s: int, level: int, row: np.ndarray, nd: int
    ) -> tuple[tuple[tuple[int, int], ...], int] | None:
        """For a spatial group (X factors, Y factors, spatial ranks, child extents) and a
        translation: the multicast histogram of the elements left to the parent and the number
        of elements served over links, or None if the links do not cut the parent's groups."""
        key = (s, level, row.tobytes())
        if key in self.reuse:
            return self.reuse[key]
        vals = [int(x) for x in row]
        sx, sy, srank, child = (
            vals[:nd],
            vals[nd : 2 * nd],
            vals[2 * nd : 3 * nd],
            vals[3 * nd : 4 * nd],
        )
        shift = tuple(vals[4 * nd :])
        gkey = (s, level, tuple(vals[: 4 * nd]))
        group = self.groups.get(gkey)
        if group is None:
            perm = sorted(range(nd), key=lambda d: srank[d])
            scale = list(child)
            members = []
            for factors in (sx, sy):
                for d in perm:
                    if factors[d] > 1:
                        members.append((d, factors[d], scale[d]))
                        scale[d] *= factors[d]
            offsets = element_offsets(self.projs[s], tuple(members))
            hist = Counter(Counter(offsets).values())
            group = (offsets, link_candidates(offsets, self.fanout_xy[level]), sum(hist.values()))
            self.groups[gkey] = group
        offsets, cands, groups = group
        out = None
        reused = cands.get(shift)
        if reused:
            rest = Counter(Counter(o for e, o in enumerate(offsets) if e not in reused).values())
            if sum(rest.values()) < groups:
                out = (tuple(sorted(rest.items())), len(reused))
        self.reuse[key] = out
        return out


_MIX = np.random.default_rng(0x5EED).integers(1, 2**62, size=64, dtype=np.int64) | 1


def _decode(keys: np.ndarray, radix: list[int]) -> np.ndarray:
    """Translation vectors [N, K] from their balanced mixed-radix keys [N]."""
    out = np.empty((keys.shape[0], len(radix)), np.int64)
    rest = keys
    for k, base in enumerate(radix):
        digit = (rest + base // 2) % base - base // 2
        out[:, k] = digit
        rest = (rest - digit) // base
    return out
