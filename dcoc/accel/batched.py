"""Vectorized evaluation of many mappings (and hardware configurations) of one problem.

``evaluate_batch(arch, problem, batch, tables=...)`` returns a :class:`BatchReport` whose every
element equals what :func:`dcoc.accel.model.evaluate` reports for that mapping: validity, counts
exactly, cycles, utilization, area, energy (the same floating-point operations in the same
order). It vectorizes the closed form of :mod:`dcoc.accel.closed_form` over the batch:

* every (level, dimension) loop slot is one int64 vector over the batch, or the Python int 1
  when no element of the batch uses it (bound-1 loops are transparent), so the work grows with
  the loops a batch actually uses, not with levels x dimensions;
* tile extents are running products of the factors; data spaces without sliding windows take
  the classic product ``|tile| x prod(bounds from the innermost relevant loop outward)``;
* sliding windows compare each transition's translation with the reference transition's
  through one integer per slot: a translation vector encoded in a balanced mixed radix, which
  is linear, so the encoded translation of a transition is its own encoded move minus the
  encoded moves of the loops below it (a running sum);
* multicast histograms come from :mod:`dcoc.accel.batch_histogram`;
* bypass masking, reads/fills/updates, bandwidth cycles, energy and area follow
  :mod:`dcoc.accel.cost` step by step.

Build a :class:`BatchEvaluator` once per (architecture, problem) and reuse it: it memoizes the
sliding-window histograms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.batch_histogram import SlidingHistograms, Vec
from dcoc.accel.batch_inputs import UNBOUNDED, HardwareBatch, MappingBatch
from dcoc.accel.batch_report import BatchReport, BatchSummary
from dcoc.accel.nest_simulation import projections
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem

__all__ = ["BatchEvaluator", "BatchReport", "BatchSummary", "evaluate_batch"]


def _prod(values: Iterable[Vec]) -> Vec:
    out: Vec = 1
    for v in values:
        if not (isinstance(v, int) and v == 1):
            out = out * v
    return out


def _slots(flat: np.ndarray) -> tuple[list[Vec], np.ndarray]:
    """Per column of ``flat`` [B, N]: a contiguous [B] vector, or 1 if every element has 1.

    Also whether every element's factors are positive (factors below 1 are read as 1)."""
    n = flat.shape[1]
    cols = np.flatnonzero((flat != 1).any(axis=0))
    out: list[Vec] = [1] * n
    positive = np.ones(flat.shape[0], bool)
    if not len(cols):
        return out, positive
    sub = flat[:, cols].T.copy()
    if (sub < 1).any():
        positive = np.asarray((sub >= 1).all(axis=0))
        sub = np.maximum(sub, 1)
    for i, c in enumerate(cols):
        out[int(c)] = sub[i]
    return out, positive


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


class _LevelOrder:
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


class BatchEvaluator:
    """Batched evaluation of mappings of ``problem`` on ``arch``'s template."""

    def __init__(
        self, arch: Architecture, problem: Problem, *, legacy_translation: bool = False
    ) -> None:
        self.arch = arch
        self.problem = problem
        self.legacy = legacy_translation
        self.projs = projections(problem)
        self.num_levels = nl = len(arch.storage)
        self.num_dims = nd = len(problem.dimensions)
        self.num_ds = len(problem.data_spaces)
        self.bounds = [int(problem.bounds[d]) for d in problem.dimensions]
        self.fanout_x = [arch.fanout_xy(li)[0] for li in range(nl)]
        self.fanout_y = [arch.fanout_xy(li)[1] for li in range(nl)]
        self.fanout = [arch.fanout(li) for li in range(nl)]
        self.read_write = [ds.read_write for ds in problem.data_spaces]
        self.relevant = [
            [any(dd == d and c != 0 for terms in p for dd, c in terms) for d in range(nd)]
            for p in self.projs
        ]
        self.sliding = [any(len(terms) > 1 for terms in p) for p in self.projs]
        self.histograms = [
            SlidingHistograms(p, nd) if s else None
            for p, s in zip(self.projs, self.sliding, strict=True)
        ]
        # balanced mixed radix per data space: translation vector -> one integer (linear)
        self.kappa: list[list[int]] = []
        for p in self.projs:
            mult = 1
            kappa = [0] * nd
            for terms in p:
                bound = sum(abs(c) * 2 * self.bounds[d] for d, c in terms) + 1
                for d, c in terms:
                    kappa[d] += c * mult
                mult *= 2 * bound + 1
            if mult >= 2**62:
                raise ValueError("problem too large for the batched translation keys")
            self.kappa.append(kappa)
        self.instances = [lv.instances for lv in arch.storage]
        self.cluster = [lv.cluster_size for lv in arch.storage]
        self.mac_instances = arch.arithmetic.instances

    def _box(self, ds: int, extents: Sequence[Vec]) -> Vec:
        out: Vec = 1
        for terms in self.projs[ds]:
            span: Vec = 1
            for d, c in terms:
                e = extents[d]
                if not (isinstance(e, int) and e == 1):
                    span = span + c * (e - 1)
            out = out * span if not (isinstance(span, int) and span == 1) else out
        return out

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

    # -- main ----------------------------------------------------------------------------
    def evaluate(self, batch: MappingBatch, hardware: HardwareBatch) -> BatchReport:
        """Every number of the scalar report, per element (counts per level and data space)."""
        report = self._run(batch, hardware, detail=True)
        assert isinstance(report, BatchReport)
        return report

    def evaluate_summary(self, batch: MappingBatch, hardware: HardwareBatch) -> BatchSummary:
        """Validity, cycles, energy, area and utilization only (faster: no per-level arrays)."""
        summary = self._run(batch, hardware, detail=False)
        assert isinstance(summary, BatchSummary)
        return summary

    def _run(
        self, batch: MappingBatch, hardware: HardwareBatch, *, detail: bool
    ) -> BatchReport | BatchSummary:
        nl, nd, nds = self.num_levels, self.num_dims, self.num_ds
        nb = batch.size
        if batch.temporal.shape[1:] != (nl, nd) or batch.keep.shape[1:] != (nl, nds):
            raise ValueError(
                f"batch has shape {batch.temporal.shape[1:]}/{batch.keep.shape[1:]}, the "
                f"architecture and problem need ({nl}, {nd})/({nl}, {nds})"
            )
        if hardware.size not in (1, nb):
            raise ValueError(f"hardware batch has {hardware.size} elements, mappings {nb}")

        def vec(x: Vec) -> np.ndarray:
            return np.broadcast_to(np.asarray(x, np.int64), (nb,))

        ld = nl * nd
        t_flat, pos_t = _slots(batch.temporal.reshape(nb, ld))
        x_flat, pos_x = _slots(batch.spatial_x.reshape(nb, ld))
        y_flat, pos_y = _slots(batch.spatial_y.reshape(nb, ld))
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
                a
                if isinstance(b, int) and b == 1
                else (b if isinstance(a, int) and a == 1 else a * b)
                for a, b in zip(sx[li], sy[li], strict=True)
            ]
            ss.append(s_l)
            m_l = [
                p if isinstance(s, int) and s == 1 else p * s
                for p, s in zip(prev, s_l, strict=True)
            ]
            e_l = [
                m if isinstance(t, int) and t == 1 else m * t
                for m, t in zip(m_l, tt[li], strict=True)
            ]
            below.append(prev)
            master.append(m_l)
            ext.append(e_l)
            prev = e_l
            ux, uy = _prod(sx[li]), _prod(sy[li])
            fan.append(_prod([ux, uy]))
            ok &= ux <= self.fanout_x[li]
            ok &= uy <= self.fanout_y[li]
            ok &= fan[li] <= self.fanout[li]
        for d in range(nd):
            ok &= ext[-1][d] == self.bounds[d]
        keep_rows = batch.keep.reshape(nb, nl * nds).T.copy()  # [L*S, B]
        keep = [[keep_rows[li * nds + s] for s in range(nds)] for li in range(nl)]
        for s in range(nds):
            anywhere = np.zeros(nb, bool)
            for li in range(nl):
                anywhere |= keep[li][s]
            ok &= anywhere
        replication: list[Vec] = [1] * nl
        for li in range(nl - 2, -1, -1):
            replication[li] = _prod([replication[li + 1], fan[li + 1]])
        compute_cycles = vec(_prod(t_flat))
        computes = vec(_prod(ext[-1]))
        utilized_macs = vec(_prod(fan))

        # tile sizes (cached when a level does not change a data space's extents)
        cache: dict[tuple[object, ...], Vec] = {}
        keepalive: list[object] = []

        def box(ds: int, extents: list[Vec]) -> Vec:
            key = (ds, *(id(e) if isinstance(e, np.ndarray) else ("i", e) for e in extents))
            got = cache.get(key)
            if got is None:
                got = self._box(ds, extents)
                cache[key] = got
                keepalive.append(extents)
            return got

        sizes = [[box(s, ext[li]) for s in range(nds)] for li in range(nl)]
        spatial_sizes = [
            [box(s, master[li]) for s in range(nds)] if self.fanout[li] > 1 else None
            for li in range(nl)
        ]

        # temporal loops: per level the used dims, their ranks and weights
        rank_flat = batch.permutation_rank.reshape(nb, ld)
        active = [[d for d in range(nd) if isinstance(tt[li][d], np.ndarray)] for li in range(nl)]
        ranks: list[dict[int, np.ndarray]] = []
        for li in range(nl):
            if len(active[li]) >= 2:
                cols = [li * nd + d for d in active[li]]
                sub = rank_flat[:, cols].T.copy()
                ranks.append({d: sub[i] for i, d in enumerate(active[li])})
            else:
                ranks.append({})
        nt = [{d: np.asarray(tt[li][d]) > 1 for d in active[li]} for li in range(nl)]
        n_above: list[Vec] = [1] * (nl + 1)
        for li in range(nl - 1, -1, -1):
            n_above[li] = _prod([n_above[li + 1], *(tt[li][d] for d in active[li])])
        order = _LevelOrder(nb, nd, ranks) if any(self.sliding) else None
        first_used = [next((k for k in range(li, nl) if active[k]), None) for li in range(nl + 1)]

        # content accesses charged at each level's innermost loop, before multicast
        base: list[list[np.ndarray]] = [[vec(compute_cycles)] * nds]
        base += [[compute_cycles] * nds for _ in range(nl - 1)]
        for s in range(nds):
            if self.sliding[s]:
                self._sliding(
                    s,
                    base,
                    sizes,
                    ext,
                    master,
                    tt,
                    active,
                    ranks,
                    nt,
                    order,
                    n_above,
                    first_used,
                    nb,
                )
                continue
            rel = self.relevant[s]
            pre: Vec = 1
            for li in range(nl - 1, 0, -1):
                acts = active[li]
                rel_a = [d for d in acts if rel[d]]
                irr_a = [d for d in acts if not rel[d]]
                if not acts:
                    pass
                elif not rel_a:
                    pre = _prod([*(tt[li][d] for d in acts), pre])
                elif len(acts) == 1:
                    pre = np.where(nt[li][rel_a[0]], 1, pre)
                else:
                    r = ranks[li]
                    minrank: Vec = nd
                    for d in rel_a:
                        minrank = np.minimum(minrank, np.where(nt[li][d], r[d], nd))
                    lead = _prod(np.where(r[d] < minrank, tt[li][d], 1) for d in irr_a)
                    pre = lead * np.where(minrank < nd, 1, pre)
                base[li][s] = vec(sizes[li - 1][s] * n_above[li] // pre)

        # multicast entries per (level, data space): m [K, B] or [K, 1] or int, accesses [K, B]
        ent_m: list[list[Vec]] = []
        ent_a: list[list[np.ndarray]] = []
        for li in range(nl):
            row_m: list[Vec] = []
            row_a: list[np.ndarray] = []
            for s in range(nds):
                b_ = base[li][s]
                hist = self.histograms[s]
                if self.fanout[li] <= 1:
                    row_m.append(1)
                    row_a.append(b_[None, :])
                elif hist is None:
                    rel = self.relevant[s]
                    groups = _prod(ss[li][d] for d in range(nd) if rel[d])
                    members = _prod(ss[li][d] for d in range(nd) if not rel[d])
                    row_m.append(members if isinstance(members, int) else members[None, :])
                    row_a.append((b_ * groups)[None, :])
                else:
                    m_, a_ = hist.entries(ss[li], below[li], self.fanout[li], b_)
                    row_m.append(m_)
                    row_a.append(a_)
            ent_m.append(row_m)
            ent_a.append(row_a)

        counts = [
            self._final_counts(
                s,
                [keep[li][s] for li in range(nl)],
                [vec(sizes[li][s]) for li in range(nl)],
                spatial_sizes,
                fan,
                [ent_m[li][s] for li in range(nl)],
                [ent_a[li][s] for li in range(nl)],
                nb,
            )
            for s in range(nds)
        ]
        return self._cost(
            hardware, ok, compute_cycles, computes, utilized_macs, replication, counts, nb, detail
        )

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
        order: _LevelOrder | None,
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
                d: (np.where(nt[li][d], kappa[d] * master[li][d], 0) if kappa[d] else 0)
                for d in acts
            }
            if len(acts) == 1:
                d = acts[0]
                inside_moves: dict[int, Vec] = {d: 0}
                outside: dict[int, Vec] = {d: 1}
            else:
                inside_moves = order.exclusive_prefix_sums(li, move, acts)
                outside = order.exclusive_suffix_products(li, {d: tt[li][d] for d in acts}, acts)
            k_l = {d: move[d] - running - inside_moves[d] for d in acts}
            w_l = {d: (tt[li][d] - 1) * _prod([outside[d], n_above[li + 1]]) for d in acts}
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
                minrank: Vec = nd
                for d in cands:
                    minrank = np.minimum(minrank, np.where(nt[li][d], r[d], nd))
                sel = {d: nt[li][d] & (r[d] == minrank) for d in cands}
                has = np.asarray(minrank < nd)
            ref_key: Vec = 0
            amount: list[Vec] = [0] * ndd
            for d in cands:
                ref_key = ref_key + np.where(sel[d], k_l[d], 0)
                for k, c in touch[d]:
                    amount[k] = amount[k] + np.where(sel[d], c * master[li][d], 0)
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
                e_sum = e_sum + np.where(k == ref_key, w, 0)  # w = 0 if trivial
                if not self.legacy:
                    z_sum = z_sum + np.where(k == zero_key, w, 0)
        if found is None:
            found = np.zeros(nb, bool)
        return _Reference(found, amount, e_sum, z_sum)

    def _final_counts(
        self,
        s: int,
        mask: list[np.ndarray],
        size: list[np.ndarray],
        spatial_sizes: list[list[Vec] | None],
        fan: list[Vec],
        ent_m: list[Vec],
        ent_a: list[np.ndarray],
        nb: int,
    ) -> tuple[list[Vec], ...]:
        """reads, fills, updates, utilized capacity, partition size per level (cost.py).

        A level keeps a data space after masking exactly where its keep mask says so
        (``MaskTiles`` zeroes bypassed levels, ``ProcessOuterMaskedLevels`` the levels above
        the outermost keeping one); levels no element keeps are the int 0."""
        nl = self.num_levels
        full = [bool(m.all()) for m in mask]
        empty = [not bool(m.any()) for m in mask]
        part: list[Vec] = [size[-1]] * nl
        for li in range(nl - 2, -1, -1):
            sp = spatial_sizes[li + 1]
            if sp is None or (isinstance(fan[li + 1], int) and fan[li + 1] == 1):
                part[li] = part[li + 1]  # (p * size) // size
                continue
            denom = np.where(fan[li + 1] > 1, sp[s], size[li])
            part[li] = part[li + 1] * size[li] // denom
        ca = [a[0] if a.shape[0] == 1 else a.sum(axis=0) for a in ent_a]
        stats = list(ent_a)
        for cur in range(nl - 1):  # MaskTiles: children of a bypassed level read the next out
            if full[cur]:
                continue
            outer = cur + 1
            a = stats[outer]
            wa = a if isinstance(ent_m[outer], int) and ent_m[outer] == 1 else a * ent_m[outer]
            weighted = wa[0] if wa.shape[0] == 1 else wa.sum(axis=0)
            scale = (weighted != 0) if empty[cur] else ~mask[cur] & (weighted != 0)
            factor = (ca[cur] * fan[outer]).astype(np.float64) / np.where(
                scale, weighted, 1
            ).astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):  # rows not scaled: unused
                scaled = (a.astype(np.float64) * factor).astype(np.int64)
            stats[outer] = np.where(scale & (a != 0), scaled, a)
            total = stats[outer][0] if a.shape[0] == 1 else stats[outer].sum(axis=0)
            ca[outer] = total if empty[cur] else np.where(mask[cur], ca[outer], total)
        kept_idx: Vec
        if all(f or e for f, e in zip(full, empty, strict=True)):
            kept_idx = max((li for li in range(nl) if full[li]), default=-1)
        else:
            kept_idx = np.full(nb, -1)
            for li in range(nl):
                kept_idx = np.where(mask[li], li, kept_idx)
        reads: list[Vec] = []
        fills: list[Vec] = []
        updates: list[Vec] = []
        used: list[Vec] = []
        parts: list[Vec] = []
        for li in range(nl):
            if empty[li]:
                for out in (reads, fills, updates, used, parts):
                    out.append(0)
                continue
            live = True if full[li] else mask[li]
            outermost = kept_idx == li
            pas: Vec = 0
            if li < nl - 1:
                pa = ent_a[li + 1]
                if not (isinstance(ent_m[li + 1], int) and ent_m[li + 1] == 1):
                    pa = pa * ent_m[li + 1]
                if not (isinstance(fan[li + 1], int) and fan[li + 1] == 1):
                    pa = pa // fan[li + 1]
                pas = np.where(live & ~outermost, pa[0] if pa.shape[0] == 1 else pa.sum(axis=0), 0)
            p_l = part[li] if full[li] else np.where(live, part[li], 0)
            c_l = ca[li] if full[li] else np.where(live, ca[li], 0)
            used.append(size[li] if full[li] else np.where(live, size[li], 0))
            parts.append(p_l)
            if self.read_write[s]:
                reads.append(c_l - p_l)
                fills.append(np.where(outermost, pas, pas - p_l))
                updates.append(c_l)
            else:
                reads.append(c_l)
                fills.append(pas)
                updates.append(0)
        return reads, fills, updates, used, parts

    def _cost(
        self,
        hw: HardwareBatch,
        mapping_ok: np.ndarray,
        compute_cycles: np.ndarray,
        computes: np.ndarray,
        utilized_macs: np.ndarray,
        replication: list[Vec],
        counts: list[tuple[list[Vec], ...]],
        nb: int,
        detail: bool,
    ) -> BatchReport | BatchSummary:
        nl, nds = self.num_levels, self.num_ds
        cc_f = compute_cycles.astype(np.float64)
        capacity_ok = np.ones(nb, bool)
        level_cycles = []
        for li in range(nl):
            used: Vec = sum(counts[s][3][li] for s in range(nds))
            cap = hw.capacity_words[:, li]
            if hw.size == 1:
                if cap[0] != UNBOUNDED and not isinstance(used, int):
                    capacity_ok &= used <= cap[0]
            else:
                capacity_ok &= (cap == UNBOUNDED) | (used <= cap)
            bandwidths = (
                hw.read_bandwidth[:, li],
                hw.write_bandwidth[:, li],
                hw.shared_bandwidth[:, li],
            )
            if all(np.isnan(bw).all() for bw in bandwidths):
                level_cycles.append(compute_cycles)  # no limit: compute cycles
                continue
            reads = np.asarray(sum(counts[s][0][li] for s in range(nds)), np.float64)
            writes = np.asarray(
                sum(counts[s][1][li] + counts[s][2][li] for s in range(nds)), np.float64
            )
            slowdown = np.ones(nb, np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                for bw, demand in zip(bandwidths, (reads, writes, reads + writes), strict=True):
                    if np.isnan(bw).all():
                        continue
                    limit = bw * cc_f / demand
                    ok = (demand > 0) if hw.size == 1 else ~np.isnan(bw) & (demand > 0)
                    slowdown = np.where(ok, np.minimum(slowdown, limit), slowdown)
                throttled = np.ceil(cc_f / slowdown)
            level_cycles.append(
                np.where(slowdown < 1.0, throttled.astype(np.int64), compute_cycles)
            )
        cycles = compute_cycles
        for lc in level_cycles:
            cycles = np.maximum(cycles, lc)
        level_energy, level_leak, level_area, ds_energy, inst_rows = [], [], [], [], []
        total_energy = np.zeros(nb, np.float64)
        total_area = np.zeros(nb, np.float64)
        for li in range(nl):
            inst = np.broadcast_to(np.asarray(replication[li], np.int64), (nb,))
            inst_rows.append(inst)
            if self.cluster[li] > 1:
                inst_f = inst.astype(np.float64)
                clusters = self.instances[li] / self.cluster[li]
                cu: np.ndarray | float = inst_f / np.minimum(inst_f, clusters)
            else:
                cu = 1.0
            block = hw.block_size[:, li]
            dyn: np.ndarray | float = 0.0
            row = []
            for s in range(nds):
                r, f, u = counts[s][0][li], counts[s][1][li], counts[s][2][li]
                if isinstance(r, int) and isinstance(f, int) and isinstance(u, int):
                    e = np.zeros(nb)  # bypassed by every element: no accesses
                    row.append(e)
                    dyn = dyn + e
                    continue
                per_instance: Any = 0
                for count, energy_row in (
                    (r, hw.read_energy_pj),
                    (f, hw.fill_energy_pj),
                    (u, hw.update_energy_pj),
                ):
                    if not (isinstance(count, int) and count == 0):  # 0 words add 0.0
                        term = np.ceil(count / block) * energy_row[:, li]
                        per_instance = (
                            term if isinstance(per_instance, int) else per_instance + term
                        )
                if isinstance(per_instance, int):
                    per_instance = np.zeros(nb)
                if not isinstance(cu, float):
                    per_instance = per_instance / cu
                e = (
                    per_instance
                    if isinstance(replication[li], int) and replication[li] == 1
                    else per_instance * inst
                )
                if detail:
                    row.append(e)
                dyn = dyn + e
            leak = hw.leak_energy_pj[:, li] * cycles * np.maximum(1, inst)
            energy = dyn + leak
            area = np.broadcast_to(hw.area_um2[:, li] * self.instances[li], (nb,))
            total_energy = total_energy + energy
            total_area = total_area + area
            if detail:
                level_energy.append(energy)
                level_leak.append(np.broadcast_to(leak, (nb,)))
                level_area.append(area)
                ds_energy.append(np.stack(row) if row else np.zeros((0, nb)))
        mac_energy = computes * hw.mac_energy_pj
        mac_area = np.broadcast_to(hw.mac_area_um2 * self.mac_instances, (nb,))
        energy = mac_energy + total_energy
        area = mac_area + total_area
        utilization = computes.astype(np.float64) / (self.mac_instances * cycles).astype(np.float64)

        def per_level(rows: list[np.ndarray]) -> np.ndarray:  # [B, L] view of [L, B]
            return np.stack(rows).T if rows else np.zeros((nb, 0))

        def per_ds(k: int) -> np.ndarray:  # [B, L, S] view of [S, L, B]
            out = np.zeros((nds, nl, nb), np.int64)
            for s in range(nds):
                for li, x in enumerate(counts[s][k]):
                    if not (isinstance(x, int) and x == 0):
                        out[s, li] = x
            return out.transpose(2, 1, 0)

        out = {
            "cycles": cycles,
            "computes": computes,
            "utilized_macs": utilized_macs,
            "utilization": utilization,
            "energy_pj": energy,
            "area_um2": area,
        }
        bad = ~mapping_ok
        if not detail:
            if bad.any():
                for k, x in out.items():
                    out[k] = np.where(bad, np.zeros((), x.dtype), x)
            return BatchSummary(
                valid=mapping_ok & capacity_ok,
                mapping_valid=mapping_ok,
                capacity_valid=capacity_ok | bad,
                **out,
            )
        out |= {
            "mac_energy_pj": mac_energy,
            "mac_area_um2": mac_area,
            "level_energy_pj": per_level(level_energy),
            "level_leakage_pj": per_level(level_leak),
            "level_area_um2": per_level(level_area),
            "level_cycles": per_level(level_cycles),
            "reads": per_ds(0),
            "fills": per_ds(1),
            "updates": per_ds(2),
            "utilized_capacity": per_ds(3),
            "partition_size": per_ds(4),
            "utilized_instances": per_level(inst_rows),
            "dataspace_energy_pj": np.stack(ds_energy).transpose(2, 0, 1),
        }
        if bad.any():
            for k, x in out.items():
                out[k] = np.where(
                    bad.reshape((-1,) + (1,) * (x.ndim - 1)), np.zeros((), x.dtype), x
                )
        return BatchReport(
            valid=mapping_ok & capacity_ok,
            mapping_valid=mapping_ok,
            capacity_valid=capacity_ok | bad,
            **out,
        )


def evaluate_batch(
    arch: Architecture,
    problem: Problem,
    batch: MappingBatch,
    *,
    tables: EnergyTables | None = None,
    hardware: HardwareBatch | None = None,
    legacy_translation: bool = False,
) -> BatchReport:
    """Evaluate every mapping of ``batch``; give ``tables`` (one configuration: ``arch`` and
    its tables) or ``hardware`` (per-element capacities, bandwidths and tables)."""
    if hardware is None:
        if tables is None:
            raise ValueError("give tables= (one configuration) or hardware= (one per element)")
        hardware = HardwareBatch.from_architecture(arch, tables)
    evaluator = BatchEvaluator(arch, problem, legacy_translation=legacy_translation)
    return evaluator.evaluate(batch, hardware)
