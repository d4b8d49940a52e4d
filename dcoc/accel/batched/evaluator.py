"""Vectorized evaluation of many mappings (and hardware configurations) of one problem.

``evaluate_batch(arch, problem, batch, tables=...)`` returns a :class:`BatchReport` whose every
element equals what :func:`dcoc.accel.model.evaluate` reports for that mapping: validity,
counts exactly, cycles, utilization, area, energy (the same floating-point operations in the same
order). It vectorizes the closed form of :mod:`dcoc.accel.model.closed_form` over the batch:

* every (level, dimension) loop slot is one int64 vector over the batch, or the Python int 1
  when no element of the batch uses it (bound-1 loops are transparent), so the work grows with
  the loops a batch actually uses, not with levels x dimensions;
* tile extents are running products of the factors; data spaces without sliding windows take
  the classic product ``|tile| x prod(bounds from the innermost relevant loop outward)``;
* sliding windows compare each transition's translation with the reference transition's
  through one integer per slot: a translation vector encoded in a balanced mixed radix, which
  is linear, so the encoded translation of a transition is its own encoded move minus the
  encoded moves of the loops below it (a running sum);
  (:mod:`dcoc.accel.batched.sliding`);
* multicast histograms come from :mod:`dcoc.accel.batched.histogram`;
* bypass masking, reads/fills/updates, bandwidth cycles, energy and area follow
  :mod:`dcoc.accel.model.cost` step by step (:mod:`dcoc.accel.batched.cost`).

``evaluate_summary`` skips the per-level arrays (validity, cycles, energy, area only).

Build a :class:`BatchEvaluator` once per (architecture, problem) and reuse it: it memoizes the
sliding-window histograms.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.batched.cost import BatchCost
from dcoc.accel.batched.histogram import SlidingHistograms
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.batched.links import BatchLinks
from dcoc.accel.batched.report import BatchReport, BatchSummary
from dcoc.accel.batched.sliding import LevelOrder, SlidingAccesses
from dcoc.accel.batched.vec import Vec, batch_slots, vprod
from dcoc.accel.model.delta_engine import projections
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem

__all__ = ["BatchEvaluator", "BatchReport", "BatchSummary", "evaluate_batch"]


class BatchEvaluator(SlidingAccesses, BatchCost):
    """Batched evaluation of mappings of ``problem`` on ``arch``'s template."""

    def __init__(
        self,
        arch: Architecture,
        problem: Problem,
        *,
        legacy_translation: bool = False,
        link_transfers: bool = True,
    ) -> None:
        self.arch = arch
        self.problem = problem
        self.legacy = legacy_translation
        self.link_transfers = link_transfers
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
        self.links = BatchLinks(
            problem,
            self.projs,
            [arch.fanout_xy(li) for li in range(nl)],
            legacy_translation,
        )
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
            ux, uy = vprod(sx[li]), vprod(sy[li])
            fan.append(vprod([ux, uy]))
            ok &= ux <= self.fanout_x[li]
            ok &= uy <= self.fanout_y[li]
            ok &= fan[li] <= self.fanout[li]
        for d in range(nd):
            ok &= ext[-1][d] == self.bounds[d]
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
        compute_cycles = vec(vprod(t_flat))
        computes = vec(vprod(ext[-1]))
        utilized_macs = vec(vprod(fan))

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
        order = LevelOrder(nb, nd, ranks) if any(self.sliding) else None
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
                    masked_rank,
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
                    pre = vprod([*(tt[li][d] for d in acts), pre])
                elif len(acts) == 1:
                    pre = np.where(nt[li][rel_a[0]], 1, pre)
                else:
                    r = ranks[li]
                    mr = masked_rank[li]
                    minrank = mr[rel_a[0]]
                    for d in rel_a[1:]:
                        minrank = np.minimum(minrank, mr[d])
                    lead = vprod(np.where(r[d] < minrank, tt[li][d], 1) for d in irr_a)
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
                    groups = vprod(ss[li][d] for d in range(nd) if rel[d])
                    members = vprod(ss[li][d] for d in range(nd) if not rel[d])
                    row_m.append(members if isinstance(members, int) else members[None, :])
                    row_a.append((b_ * groups)[None, :])
                else:
                    m_, a_ = hist.entries(ss[li], below[li], self.fanout[li], b_)
                    row_m.append(m_)
                    row_a.append(a_)
            ent_m.append(row_m)
            ent_a.append(row_a)

        # neighbour link transfers: exact scalar entries for the elements that may use them
        links: list[list[Vec]] | None = None
        if self.link_transfers and self.links.possible:
            flagged = self.links.candidates(
                tt, ss, below, master, nt, batch.permutation_rank, ranks, ok
            )
            if len(flagged):
                links = self.links.patch(batch, flagged, base, ent_m, ent_a, nb)

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
                None if links is None else [links[li][s] for li in range(nl)],
                replication,
            )
            for s in range(nds)
        ]
        return self._cost(
            hardware, ok, compute_cycles, computes, utilized_macs, replication, counts, nb, detail
        )


def evaluate_batch(
    arch: Architecture,
    problem: Problem,
    batch: MappingBatch,
    *,
    tables: EnergyTables | None = None,
    hardware: HardwareBatch | None = None,
    legacy_translation: bool = False,
    link_transfers: bool = True,
) -> BatchReport:
    """Evaluate every mapping of ``batch``; give ``tables`` (one configuration: ``arch`` and
    its tables) or ``hardware`` (per-element capacities, bandwidths and tables)."""
    if hardware is None:
        if tables is None:
            raise ValueError("give tables= (one configuration) or hardware= (one per element)")
        hardware = HardwareBatch.from_architecture(arch, tables)
    evaluator = BatchEvaluator(
        arch, problem, legacy_translation=legacy_translation, link_transfers=link_transfers
    )
    return evaluator.evaluate(batch, hardware)
