"""Vectorized evaluation of many mappings (and hardware configurations) of one problem.

``evaluate_batch(arch, problem, batch, tables=...)`` returns a :class:`BatchReport` whose every
element equals what :func:`dcoc.accel.model.evaluate` reports for that mapping: validity,
counts exactly, cycles, utilization, area, energy (the same floating-point operations in the same
order). It vectorizes the closed form of :mod:`dcoc.accel.model.closed_form` over the batch:

* every (level, dimension) loop slot is one int64 vector over the batch, or the Python int 1
  when no element of the batch uses it (bound-1 loops are transparent), so the work grows with
  the loops a batch actually uses, not with levels x dimensions
  (:mod:`dcoc.accel.batched.nest`);
* tile extents are running products of the factors; data spaces without sliding windows take
  the classic product ``|tile| x prod(bounds from the innermost relevant loop outward)``;
* sliding windows compare each transition's translation with the reference transition's
  through one integer per slot: a translation vector encoded in a balanced mixed radix, which
  is linear, so the encoded translation of a transition is its own encoded move minus the
  encoded moves of the loops below it, a running sum (:mod:`dcoc.accel.batched.sliding`);
* multicast histograms come from :mod:`dcoc.accel.batched.histogram`;
* bypass masking, reads/fills/updates, bandwidth cycles, energy and area follow
  :mod:`dcoc.accel.model.cost` step by step (:mod:`dcoc.accel.batched.cost`).

``evaluate_summary`` skips the per-level arrays (validity, cycles, energy, area only).

Build a :class:`BatchEvaluator` once per (architecture, problem) and reuse it: it holds the
numbers every batch shares (:class:`~dcoc.accel.batched.constants.BatchConstants`) and memoizes
the sliding-window histograms and link analyses; each step is a function of those and the batch.
"""

from __future__ import annotations

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.batched.constants import BatchConstants
from dcoc.accel.batched.cost import batch_cost, final_counts
from dcoc.accel.batched.histogram import SlidingHistograms
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.batched.links import BatchLinks
from dcoc.accel.batched.nest import BatchNest, batch_nest
from dcoc.accel.batched.report import BatchReport, BatchSummary
from dcoc.accel.batched.sliding import sliding_accesses
from dcoc.accel.batched.vec import Vec, tile_size, vprod
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem

__all__ = ["BatchEvaluator", "BatchReport", "BatchSummary", "evaluate_batch"]


class BatchEvaluator:
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
        self.link_transfers = link_transfers
        self.constants = c = BatchConstants.of(arch, problem, legacy_translation=legacy_translation)
        self.histograms = [
            SlidingHistograms(p, c.num_dims) if s else None
            for p, s in zip(c.projs, c.sliding, strict=True)
        ]
        self.links = BatchLinks(
            problem, c.projs, [arch.fanout_xy(li) for li in range(c.num_levels)], legacy_translation
        )

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
        c = self.constants
        nl, nd, nds = c.num_levels, c.num_dims, c.num_ds
        nb = batch.size
        if batch.temporal.shape[1:] != (nl, nd) or batch.keep.shape[1:] != (nl, nds):
            raise ValueError(
                f"batch has shape {batch.temporal.shape[1:]}/{batch.keep.shape[1:]}, the "
                f"architecture and problem need ({nl}, {nd})/({nl}, {nds})"
            )
        if hardware.size not in (1, nb):
            raise ValueError(f"hardware batch has {hardware.size} elements, mappings {nb}")
        nest = batch_nest(c, batch)
        sizes, spatial_sizes = tile_sizes(c, nest)
        # content accesses charged at each level's innermost loop, before multicast
        base: list[list[np.ndarray]] = [[nest.compute_cycles] * nds for _ in range(nl)]
        for s in range(nds):
            accesses = (sliding_accesses if c.sliding[s] else classic_accesses)(c, nest, s, sizes)
            for li, a in enumerate(accesses, start=1):
                base[li][s] = a
        ent_m, ent_a = multicast_entries(c, nest, self.histograms, base)
        # neighbour link transfers: exact scalar entries for the elements that may use them
        links: list[list[Vec]] | None = None
        if self.link_transfers and self.links.possible:
            flagged = self.links.candidates(
                nest.temporal,
                nest.spatial,
                nest.below,
                nest.master,
                nest.nontrivial,
                batch.permutation_rank,
                nest.ranks,
                nest.ok,
            )
            if len(flagged):
                links = self.links.patch(batch, flagged, base, ent_m, ent_a, nb)
        counts = [
            final_counts(
                c.read_write[s],
                [nest.keep[li][s] for li in range(nl)],
                [np.broadcast_to(np.asarray(sizes[li][s], np.int64), (nb,)) for li in range(nl)],
                [None if sp is None else sp[s] for sp in spatial_sizes],
                nest.fan,
                [ent_m[li][s] for li in range(nl)],
                [ent_a[li][s] for li in range(nl)],
                nb,
                None if links is None else [links[li][s] for li in range(nl)],
                nest.replication,
            )
            for s in range(nds)
        ]
        return batch_cost(c, hardware, nest, counts, detail=detail)


def tile_sizes(
    c: BatchConstants, nest: BatchNest
) -> tuple[list[list[Vec]], list[list[Vec] | None]]:
    """[L][S] tile sizes, and per level with a fanout the [S] sizes of the tiles under it
    (computed once per distinct extents: a level that changes no extent shares its child's)."""
    cache: dict[tuple[object, ...], Vec] = {}
    keepalive: list[object] = []

    def box(ds: int, extents: list[Vec]) -> Vec:
        key = (ds, *(id(e) if isinstance(e, np.ndarray) else ("i", e) for e in extents))
        got = cache.get(key)
        if got is None:
            got = tile_size(c.projs[ds], extents)
            cache[key] = got
            keepalive.append(extents)
        return got

    nl, nds = c.num_levels, c.num_ds
    sizes = [[box(s, nest.extents[li]) for s in range(nds)] for li in range(nl)]
    spatial_sizes = [
        [box(s, nest.master[li]) for s in range(nds)] if c.fanout[li] > 1 else None
        for li in range(nl)
    ]
    return sizes, spatial_sizes


def classic_accesses(
    c: BatchConstants, nest: BatchNest, s: int, sizes: list[list[Vec]]
) -> list[np.ndarray]:
    """Content accesses of data space ``s`` without sliding windows at levels 1 to L-1, each
    [B]: the child's tile times the bounds from the innermost relevant loop outward."""
    nl, nd, nb = c.num_levels, c.num_dims, nest.size
    tt, active, nt = nest.temporal, nest.active, nest.nontrivial
    rel = c.relevant[s]
    out: list[np.ndarray] = [np.zeros(0, np.int64)] * (nl - 1)
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
            r = nest.ranks[li]
            mr = nest.masked_rank[li]
            minrank = mr[rel_a[0]]
            for d in rel_a[1:]:
                minrank = np.minimum(minrank, mr[d])
            lead = vprod(np.where(r[d] < minrank, tt[li][d], 1) for d in irr_a)
            pre = lead * np.where(minrank < nd, 1, pre)
        a = sizes[li - 1][s] * nest.n_above[li] // pre
        out[li - 1] = np.broadcast_to(np.asarray(a, np.int64), (nb,))
    return out


def multicast_entries(
    c: BatchConstants,
    nest: BatchNest,
    histograms: list[SlidingHistograms | None],
    base: list[list[np.ndarray]],
) -> tuple[list[list[Vec]], list[list[np.ndarray]]]:
    """Per (level, data space) the multicast entries of the content accesses ``base``:
    multicast factors m ([K, B], [K, 1] or an int) and accesses [K, B]."""
    nl, nd, nds = c.num_levels, c.num_dims, c.num_ds
    ss = nest.spatial
    ent_m: list[list[Vec]] = []
    ent_a: list[list[np.ndarray]] = []
    for li in range(nl):
        row_m: list[Vec] = []
        row_a: list[np.ndarray] = []
        for s in range(nds):
            b_ = base[li][s]
            hist = histograms[s]
            if c.fanout[li] <= 1:
                row_m.append(1)
                row_a.append(b_[None, :])
            elif hist is None:
                rel = c.relevant[s]
                groups = vprod(ss[li][d] for d in range(nd) if rel[d])
                members = vprod(ss[li][d] for d in range(nd) if not rel[d])
                row_m.append(members if isinstance(members, int) else members[None, :])
                row_a.append((b_ * groups)[None, :])
            else:
                m_, a_ = hist.entries(ss[li], nest.below[li], c.fanout[li], b_)
                row_m.append(m_)
                row_a.append(a_)
        ent_m.append(row_m)
        ent_a.append(row_a)
    return ent_m, ent_a


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
