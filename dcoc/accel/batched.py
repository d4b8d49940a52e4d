"""Vectorized evaluation of many mappings (and hardware configurations) of one problem.

``evaluate_batch(arch, problem, batch, tables=...)`` returns a :class:`BatchReport` whose every
element equals what :func:`dcoc.accel.model.evaluate` reports for that mapping: validity, counts
exactly, cycles, utilization, area, energy (the same floating-point operations in the same
order). It vectorizes the closed form of :mod:`dcoc.accel.closed_form` with numpy:

* tile extents are cumulative products of the factors over levels; loop slots are the levels'
  dimensions sorted by permutation rank, trivial loops last, and only slots that some element
  uses are kept (bound-1 loops are transparent);
* data spaces without sliding windows take the classic product ``|tile| x prod(bounds from
  the innermost relevant loop outward)``; sliding windows compare each transition's
  translation with the reference transition's through an integer key per slot;
* multicast histograms come from :mod:`dcoc.accel.batch_histogram`;
* bypass masking, reads/fills/updates, bandwidth cycles, energy and area follow
  :mod:`dcoc.accel.cost` step by step.

Build a :class:`BatchEvaluator` once per (architecture, problem) and reuse it: it memoizes the
sliding-window histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.batch_histogram import SlidingHistograms
from dcoc.accel.batch_inputs import UNBOUNDED, HardwareBatch, MappingBatch
from dcoc.accel.nest_simulation import projections
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem


@dataclass(frozen=True)
class BatchReport:
    """Per element what :class:`~dcoc.accel.report.CostReport` holds (counts per instance)."""

    valid: np.ndarray
    """[B] bool."""
    mapping_valid: np.ndarray
    """[B] bool: factors, fanout and keep checks pass (else every number below is 0)."""
    capacity_valid: np.ndarray
    """[B] bool: every level's tiles fit its capacity."""
    cycles: np.ndarray
    """[B] int64."""
    computes: np.ndarray
    """[B] int64 MACs."""
    utilized_macs: np.ndarray
    """[B] int64."""
    utilization: np.ndarray
    """[B] float64."""
    energy_pj: np.ndarray
    """[B] float64."""
    area_um2: np.ndarray
    """[B] float64."""
    mac_energy_pj: np.ndarray
    mac_area_um2: np.ndarray
    level_energy_pj: np.ndarray
    """[B, L] float64, all instances, with leakage."""
    level_leakage_pj: np.ndarray
    level_area_um2: np.ndarray
    level_cycles: np.ndarray
    """[B, L] int64."""
    reads: np.ndarray
    """[B, L, S] int64."""
    fills: np.ndarray
    updates: np.ndarray
    utilized_capacity: np.ndarray
    partition_size: np.ndarray
    utilized_instances: np.ndarray
    """[B, L] int64."""
    dataspace_energy_pj: np.ndarray
    """[B, L, S] float64."""

    @property
    def edp(self) -> np.ndarray:
        """[B] energy x cycles (pJ x cycles)."""
        return self.energy_pj * self.cycles


def _suffix_products(x: np.ndarray) -> np.ndarray:
    """[B, P] -> [B, P+1]: column p is the product of x[:, p:] (last column 1)."""
    out = np.ones((x.shape[0], x.shape[1] + 1), np.int64)
    if x.shape[1]:
        out[:, :-1] = np.cumprod(x[:, ::-1], axis=1)[:, ::-1]
    return out


class BatchEvaluator:
    """Batched evaluation of mappings of ``problem`` on ``arch``'s template."""

    def __init__(
        self, arch: Architecture, problem: Problem, *, legacy_translation: bool = False
    ) -> None:
        self.arch = arch
        self.problem = problem
        self.legacy = legacy_translation
        self.projs = projections(problem)
        self.num_levels = len(arch.storage)
        self.num_dims = len(problem.dimensions)
        self.num_ds = len(problem.data_spaces)
        self.bounds = np.array([problem.bounds[d] for d in problem.dimensions], np.int64)
        self.fanout_x = np.array([arch.fanout_xy(li)[0] for li in range(self.num_levels)])
        self.fanout_y = np.array([arch.fanout_xy(li)[1] for li in range(self.num_levels)])
        self.fanout = np.array([arch.fanout(li) for li in range(self.num_levels)])
        self.read_write = [ds.read_write for ds in problem.data_spaces]
        self.relevant = [
            np.array(
                [
                    any(d == dd and c != 0 for terms in p for dd, c in terms)
                    for d in range(self.num_dims)
                ]
            )
            for p in self.projs
        ]
        self.sliding = [any(len(terms) > 1 for terms in p) for p in self.projs]
        self.histograms = [
            SlidingHistograms(p, self.num_dims) if s else None
            for p, s in zip(self.projs, self.sliding, strict=True)
        ]
        # translation keys: per data dim an offset and a radix covering every translation
        self.key_radix: list[list[tuple[int, int]]] = []
        for p in self.projs:
            radices = []
            for terms in p:
                r = sum(abs(c) * 2 * int(self.bounds[d]) for d, c in terms) + 1
                radices.append((r, 2 * r + 1))
            total = 1
            for _, base in radices:
                total *= base
            if total >= 2**62:
                raise ValueError("problem too large for the batched translation keys")
            self.key_radix.append(radices)
        self.instances = np.array([lv.instances for lv in arch.storage], np.int64)
        self.cluster = np.array([lv.cluster_size for lv in arch.storage], np.int64)
        self.mac_instances = arch.arithmetic.instances
        self.level_instances_f = self.instances.astype(np.float64)

    # -- helpers -------------------------------------------------------------------------
    def _box(self, ds: int, extents: np.ndarray) -> np.ndarray:
        """Bounding-box size of data space ``ds`` for operation-space extents [..., D]."""
        out = None
        for terms in self.projs[ds]:
            span = np.ones(extents.shape[:-1], np.int64)
            for d, c in terms:
                span = span + c * (extents[..., d] - 1)
            out = span if out is None else out * span
        return out if out is not None else np.ones(extents.shape[:-1], np.int64)

    def _key(self, ds: int, vec: list[np.ndarray]) -> np.ndarray:
        key = np.zeros_like(vec[0])
        for (off, base), v in zip(self.key_radix[ds], vec, strict=True):
            key = key * base + (v + off)
        return key

    # -- main ----------------------------------------------------------------------------
    def evaluate(self, batch: MappingBatch, hardware: HardwareBatch) -> BatchReport:
        nl, nd, nds = self.num_levels, self.num_dims, self.num_ds
        nb = batch.size
        if batch.temporal.shape[1:] != (nl, nd) or batch.keep.shape[1:] != (nl, nds):
            raise ValueError(
                f"batch has shape {batch.temporal.shape[1:]}/{batch.keep.shape[1:]}, the "
                f"architecture and problem need ({nl}, {nd})/({nl}, {nds})"
            )
        if hardware.size not in (1, nb):
            raise ValueError(f"hardware batch has {hardware.size} elements, mappings {nb}")
        t_raw, sx_raw, sy_raw = batch.temporal, batch.spatial_x, batch.spatial_y
        positive = (
            (t_raw >= 1).all(axis=(1, 2))
            & (sx_raw >= 1).all(axis=(1, 2))
            & (sy_raw >= 1).all(axis=(1, 2))
        )
        t = np.maximum(t_raw, 1)
        sx = np.maximum(sx_raw, 1)
        sy = np.maximum(sy_raw, 1)
        s = sx * sy  # [B, L, D]
        ext = np.cumprod(t * s, axis=1)  # boundary extents [B, L, D]
        below = np.ones_like(ext)
        below[:, 1:] = ext[:, :-1]
        master = below * s
        ux = sx.prod(axis=2)
        uy = sy.prod(axis=2)
        fan_used = ux * uy  # [B, L]
        mapping_ok = (
            positive
            & ~batch.conflicts
            & (ext[:, -1, :] == self.bounds).all(axis=1)
            & (ux <= self.fanout_x).all(axis=1)
            & (uy <= self.fanout_y).all(axis=1)
            & (fan_used <= self.fanout).all(axis=1)
            & batch.keep.any(axis=1).all(axis=1)
        )
        replication = np.ones_like(fan_used)
        if nl > 1:
            replication[:, :-1] = np.cumprod(fan_used[:, ::-1], axis=1)[:, ::-1][:, 1:]
        compute_cycles = t.reshape(nb, nl * nd).prod(axis=1)
        computes = ext[:, -1, :].prod(axis=1)
        utilized_macs = fan_used.prod(axis=1)
        has_spatial = fan_used > 1

        # temporal loop slots: dims by rank, trivial loops last, unused slots dropped
        trivial = t == 1
        order = np.argsort(batch.permutation_rank + nd * trivial, axis=2, kind="stable")
        tb = np.take_along_axis(t, order, axis=2)
        step = np.take_along_axis(master, order, axis=2)
        used = (tb > 1).any(axis=0)  # [L, D]
        counts = [int(c) for c in used.sum(axis=1)]  # nontrivial slots are a prefix
        start = np.concatenate([[0], np.cumsum(counts)]).astype(int)
        pos_tb = np.concatenate([tb[:, li, : counts[li]] for li in range(nl)], axis=1)
        pos_dim = np.concatenate([order[:, li, : counts[li]] for li in range(nl)], axis=1)
        pos_step = np.concatenate([step[:, li, : counts[li]] for li in range(nl)], axis=1)
        npos = pos_tb.shape[1]
        suffix = _suffix_products(pos_tb)  # [B, P+1]
        weight = (pos_tb - 1) * suffix[:, 1:]  # [B, P]
        nontrivial = pos_tb > 1

        sizes = np.stack([self._box(ds, ext) for ds in range(nds)], axis=2)  # [B, L, S]
        spatial_sizes = np.stack([self._box(ds, master) for ds in range(nds)], axis=2)

        # content accesses charged at each level's innermost loop, before multicast
        base = np.zeros((nb, nl, nds), np.int64)
        base[:, 0, :] = compute_cycles[:, None]
        cols = np.arange(npos + 1)
        for ds in range(nds):
            rel = self.relevant[ds][pos_dim] & nontrivial  # [B, P]
            if not self.sliding[ds]:
                nxt = np.where(rel, cols[None, :npos], npos)
                if npos:
                    nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1]
                nxt = np.concatenate([nxt, np.full((nb, 1), npos)], axis=1)
                for li in range(1, nl):
                    r = nxt[:, start[li]]
                    base[:, li, ds] = (
                        sizes[:, li - 1, ds] * np.take_along_axis(suffix, r[:, None], axis=1)[:, 0]
                    )
                continue
            self._sliding_accesses(
                ds, base, sizes, ext, pos_dim, pos_step, nontrivial, weight, suffix, start
            )

        # multicast entries per (level, data space): m [B, K] and accesses [B, K]
        entries_m: list[list[np.ndarray]] = []
        entries_a: list[list[np.ndarray]] = []
        for li in range(nl):
            row_m, row_a = [], []
            for ds in range(nds):
                b_ = base[:, li, ds]
                if self.fanout[li] <= 1:
                    row_m.append(np.ones((nb, 1), np.int64))
                    row_a.append(b_[:, None].copy())
                    continue
                hist = self.histograms[ds]
                if hist is None:
                    rel = self.relevant[ds]
                    groups = s[:, li, :][:, rel].prod(axis=1)
                    members = s[:, li, :][:, ~rel].prod(axis=1)
                    row_m.append(members[:, None])
                    row_a.append((b_ * groups)[:, None])
                else:
                    fmax = int(self.fanout[li])
                    table = hist.group_counts(s[:, li, :], below[:, li, :], fmax)
                    row_m.append(np.broadcast_to(np.arange(fmax + 1), (nb, fmax + 1)))
                    row_a.append(b_[:, None] * table)
            entries_m.append(row_m)
            entries_a.append(row_a)

        reads = np.zeros((nb, nl, nds), np.int64)
        fills = np.zeros_like(reads)
        updates = np.zeros_like(reads)
        cap_used = np.zeros_like(reads)
        partition_out = np.zeros_like(reads)
        keep = batch.keep
        for ds in range(nds):
            self._final_counts(
                ds,
                keep[:, :, ds],
                sizes[:, :, ds],
                spatial_sizes[:, :, ds],
                has_spatial,
                fan_used,
                [entries_m[li][ds] for li in range(nl)],
                [entries_a[li][ds] for li in range(nl)],
                reads[:, :, ds],
                fills[:, :, ds],
                updates[:, :, ds],
                cap_used[:, :, ds],
                partition_out[:, :, ds],
            )
        return self._cost(
            hardware,
            mapping_ok,
            compute_cycles,
            computes,
            utilized_macs,
            replication,
            reads,
            fills,
            updates,
            cap_used,
            partition_out,
        )

    def _sliding_accesses(
        self,
        ds: int,
        base: np.ndarray,
        sizes: np.ndarray,
        ext: np.ndarray,
        pos_dim: np.ndarray,
        pos_step: np.ndarray,
        nontrivial: np.ndarray,
        weight: np.ndarray,
        suffix: np.ndarray,
        start: np.ndarray,
    ) -> None:
        """Content accesses of a sliding-window data space (see closed_form's docstring)."""
        nb, npos = pos_dim.shape
        proj = self.projs[ds]
        # per data dim: v_p (the slot's own move), q_p (moves of the nontrivial slots below p)
        v_dd = []
        q_dd = []
        for terms in proj:
            v = np.zeros((nb, npos), np.int64)
            for d, c in terms:
                v = v + np.where(pos_dim == d, c * pos_step, 0)
            v = np.where(nontrivial, v, 0)
            q = np.zeros((nb, npos + 1), np.int64)
            if npos:
                q[:, 1:] = np.cumsum(v, axis=1)
            v_dd.append(v)
            q_dd.append(q)
        u_key = self._key(ds, [v - q[:, :-1] for v, q in zip(v_dd, q_dd, strict=True)])
        rows = np.arange(nb)
        for li in range(1, self.num_levels):
            st = int(start[li])
            c = li - 1
            size = sizes[:, c, ds]
            # tile extents of the child per data dim
            span = []
            for terms in proj:
                e = np.ones(nb, np.int64)
                for d, co in terms:
                    e = e + co * (ext[:, c, d] - 1)
                span.append(e)
            n_above = suffix[:, st]
            if st >= npos:
                base[:, li, ds] = size
                continue
            active = nontrivial[:, st:]
            if self.legacy:
                candidate = active
            else:
                zero_key = self._key(ds, [-q[:, st] for q in q_dd])
                is_zero = u_key[:, st:] == zero_key[:, None]
                candidate = active & ~is_zero
            found = candidate.any(axis=1)
            ref = st + np.argmax(candidate, axis=1)
            ref_key = u_key[rows, ref]
            inter = np.ones(nb, np.int64)
            for k, (v, q) in enumerate(zip(v_dd, q_dd, strict=True)):
                tr = v[rows, ref] - q[rows, ref] + q[:, st]
                inter = inter * np.maximum(span[k] - np.abs(tr), 0)
            same = (u_key[:, st:] == ref_key[:, None]) & active
            e_sum = np.where(same, weight[:, st:], 0).sum(axis=1)
            if self.legacy:
                ca = size * n_above - inter * e_sum
            else:
                z_sum = np.where(is_zero & active, weight[:, st:], 0).sum(axis=1)
                ca = size * (n_above - z_sum) - inter * e_sum
            base[:, li, ds] = np.where(found, ca, size)

    def _final_counts(
        self,
        ds: int,
        mask: np.ndarray,
        size_in: np.ndarray,
        spatial_size: np.ndarray,
        has_spatial: np.ndarray,
        fan_used: np.ndarray,
        ent_m: list[np.ndarray],
        ent_a: list[np.ndarray],
        reads: np.ndarray,
        fills: np.ndarray,
        updates: np.ndarray,
        cap_used: np.ndarray,
        partition_out: np.ndarray,
    ) -> None:
        nl = self.num_levels
        nb = size_in.shape[0]
        size = size_in.copy()
        # partition sizes, outer to inner
        part = np.zeros_like(size)
        part[:, -1] = size[:, -1]
        for li in range(nl - 2, -1, -1):
            denom = np.where(has_spatial[:, li + 1], spatial_size[:, li + 1], size[:, li])
            part[:, li] = part[:, li + 1] * size[:, li] // denom
        # parent access share, before masking
        pas = np.zeros_like(size)
        for li in range(nl - 1):
            pas[:, li] = ((ent_a[li + 1] * ent_m[li + 1]) // fan_used[:, li + 1, None]).sum(axis=1)
        ca = np.stack([a.sum(axis=1) for a in ent_a], axis=1)
        stats = [a.copy() for a in ent_a]
        # MaskTiles: a bypassed level's children read from the next level out
        alive = np.ones((nb, nl), bool)
        for cur in range(nl - 1):
            byp = ~mask[:, cur]
            if not byp.any():
                continue
            outer = cur + 1
            a = stats[outer]
            weighted = (a * ent_m[outer]).sum(axis=1)
            scale = byp & (weighted != 0)
            factor = (ca[:, cur] * fan_used[:, outer]).astype(np.float64) / np.where(
                scale, weighted, 1
            ).astype(np.float64)
            with np.errstate(invalid="ignore", over="ignore"):  # rows not scaled: unused
                scaled = (a.astype(np.float64) * factor[:, None]).astype(np.int64)
            stats[outer] = np.where(scale[:, None] & (a != 0), scaled, a)
            ca[:, outer] = np.where(byp, stats[outer].sum(axis=1), ca[:, outer])
            alive[:, cur] &= ~byp
        alive[:, -1] &= mask[:, -1]
        # ProcessOuterMaskedLevels: levels above the outermost keeping level hold nothing
        kept_idx = np.where(mask, np.arange(nl), -1).max(axis=1)  # [B]
        above = np.arange(nl)[None, :] > kept_idx[:, None]
        alive &= ~above
        pas = np.where(np.arange(nl)[None, :] == kept_idx[:, None], 0, pas)
        size = np.where(alive, size, 0)
        part = np.where(alive, part, 0)
        ca = np.where(alive, ca, 0)
        pas = np.where(alive, pas, 0)
        outermost = np.arange(nl)[None, :] == kept_idx[:, None]
        if self.read_write[ds]:
            reads[...] = np.where(alive, ca - part, 0)
            fills[...] = np.where(alive, np.where(outermost, pas, pas - part), 0)
            updates[...] = ca
        else:
            reads[...] = ca
            fills[...] = pas
        cap_used[...] = size
        partition_out[...] = part

    def _cost(
        self,
        hw: HardwareBatch,
        mapping_ok: np.ndarray,
        compute_cycles: np.ndarray,
        computes: np.ndarray,
        utilized_macs: np.ndarray,
        replication: np.ndarray,
        reads: np.ndarray,
        fills: np.ndarray,
        updates: np.ndarray,
        cap_used: np.ndarray,
        partition: np.ndarray,
    ) -> BatchReport:
        nl, nds = self.num_levels, self.num_ds
        nb = reads.shape[0]
        used = cap_used.sum(axis=2)  # [B, L]
        cap = hw.capacity_words
        capacity_ok = ((cap == UNBOUNDED) | (used <= cap)).all(axis=1)
        cc_f = compute_cycles.astype(np.float64)
        level_reads = reads.sum(axis=2).astype(np.float64)
        level_writes = (fills + updates).sum(axis=2).astype(np.float64)
        slowdown = np.ones((nb, nl), np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            for bw, demand in (
                (hw.read_bandwidth, level_reads),
                (hw.write_bandwidth, level_writes),
                (hw.shared_bandwidth, level_reads + level_writes),
            ):
                limit = bw * cc_f[:, None] / demand
                ok = ~np.isnan(bw) & (demand > 0)
                slowdown = np.where(ok, np.minimum(slowdown, limit), slowdown)
            throttled = np.ceil(cc_f[:, None] / slowdown).astype(np.int64)
        level_cycles = np.where(slowdown < 1.0, throttled, compute_cycles[:, None])
        cycles = np.maximum(compute_cycles, level_cycles.max(axis=1))
        inst = replication
        clusters = self.level_instances_f / self.cluster
        inst_f = inst.astype(np.float64)
        cu = np.where(self.cluster > 1, inst_f / np.minimum(inst_f, clusters), 1.0)
        block = hw.block_size
        dyn = np.zeros((nb, nl), np.float64)
        ds_energy = np.zeros((nb, nl, nds), np.float64)
        for ds in range(nds):
            per_instance = (
                np.ceil(reads[:, :, ds] / block) * hw.read_energy_pj
                + np.ceil(fills[:, :, ds] / block) * hw.fill_energy_pj
                + np.ceil(updates[:, :, ds] / block) * hw.update_energy_pj
            ) / cu
            e = per_instance * inst
            ds_energy[:, :, ds] = e
            dyn = dyn + e
        leak = hw.leak_energy_pj * cycles[:, None] * np.maximum(1, inst)
        level_energy = dyn + leak
        level_area = np.broadcast_to(hw.area_um2 * self.instances, (nb, nl))
        mac_energy = computes * hw.mac_energy_pj
        mac_area = np.broadcast_to(hw.mac_area_um2 * self.mac_instances, (nb,))
        total_energy = np.zeros(nb, np.float64)
        total_area = np.zeros(nb, np.float64)
        for li in range(nl):
            total_energy = total_energy + level_energy[:, li]
            total_area = total_area + level_area[:, li]
        energy = mac_energy + total_energy
        area = mac_area + total_area
        utilization = computes.astype(np.float64) / (self.mac_instances * cycles).astype(np.float64)
        ok = mapping_ok
        z = ~ok

        def zi(x: np.ndarray) -> np.ndarray:
            return np.where(z.reshape((-1,) + (1,) * (x.ndim - 1)), np.zeros((), x.dtype), x)

        return BatchReport(
            valid=ok & capacity_ok,
            mapping_valid=ok,
            capacity_valid=capacity_ok | z,
            cycles=zi(cycles),
            computes=zi(computes),
            utilized_macs=zi(utilized_macs),
            utilization=zi(utilization),
            energy_pj=zi(energy),
            area_um2=zi(area),
            mac_energy_pj=zi(mac_energy),
            mac_area_um2=zi(mac_area),
            level_energy_pj=zi(level_energy),
            level_leakage_pj=zi(leak),
            level_area_um2=zi(level_area),
            level_cycles=zi(level_cycles),
            reads=zi(reads),
            fills=zi(fills),
            updates=zi(updates),
            utilized_capacity=zi(cap_used),
            partition_size=zi(partition),
            utilized_instances=zi(inst),
            dataspace_energy_pj=zi(ds_energy),
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
