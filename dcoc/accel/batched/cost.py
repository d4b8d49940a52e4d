"""Bypass masking, reads/fills/updates, cycles, energy and area in the batched evaluator.

Step by step what :mod:`dcoc.accel.model.cost` does for one mapping (``MaskTiles``,
``ProcessOuterMaskedLevels``, ``ComputeReadUpdateReductionAccesses``, bandwidth cycles, energy,
area), on per-element vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dcoc.accel.batched.constants import BatchConstants
from dcoc.accel.batched.inputs import UNBOUNDED, HardwareBatch
from dcoc.accel.batched.nest import BatchNest
from dcoc.accel.batched.report import BatchReport, BatchSummary
from dcoc.accel.batched.vec import Vec


def _std_round(x: np.ndarray) -> np.ndarray:
    """:func:`dcoc.accel.model.cost.std_round` (C++ ``std::round``) of every element, as int64."""
    a = np.abs(x)
    r = np.floor(a)
    r = np.where(a - r >= 0.5, r + 1.0, r)
    with np.errstate(invalid="ignore"):  # NaN/inf rows are masked out by the caller
        return np.copysign(r, x).astype(np.int64)


def final_counts(
    read_write: bool,
    mask: list[np.ndarray],
    size: list[np.ndarray],
    spatial_sizes: list[Vec | None],
    fan: list[Vec],
    ent_m: list[Vec],
    ent_a: list[np.ndarray],
    nb: int,
    links: list[Vec] | None = None,
    replication: list[Vec] | None = None,
) -> tuple[list[Vec], ...]:
    """reads, fills, updates, utilized capacity, partition size per level (cost.py) of one
    data space (``read_write``: read and written, as outputs are). Per level: its keep
    ``mask``, tile ``size``, the tile under the fanout (``spatial_sizes``, None where the
    architecture has no fanout), the fanout used and the multicast entries.

    A level keeps a data space after masking exactly where its keep mask says so
    (``MaskTiles`` zeroes bypassed levels, ``ProcessOuterMaskedLevels`` the levels above
    the outermost keeping one); levels no element keeps are the int 0.

    ``links``: per level, words its children passed over neighbour links (0 or [B]);
    ``ComputePeerAccesses`` adds ``links // replication`` of the level below to that
    level's reads and fills where it is kept and the links survive masking.

    Content accesses scaled by ``MaskTiles`` stay doubles until the final counts, which
    round them as ``std::round`` (the rule in :mod:`dcoc.accel.model.cost`)."""
    nl = len(mask)
    full = [bool(m.all()) for m in mask]
    empty = [not bool(m.any()) for m in mask]
    part: list[Vec] = [size[-1]] * nl
    for li in range(nl - 2, -1, -1):
        sp = spatial_sizes[li + 1]
        if sp is None or (isinstance(fan[li + 1], int) and fan[li + 1] == 1):
            part[li] = part[li + 1]  # (p * size) // size
            continue
        denom = np.where(fan[li + 1] > 1, sp, size[li])
        part[li] = part[li + 1] * size[li] // denom
    ca = [a[0] if a.shape[0] == 1 else a.sum(axis=0) for a in ent_a]
    # MaskTiles scales in doubles and rounds only the final counts (cost.py docstring):
    # caf[li] holds the double content accesses of the elements where scaled[li]
    scaled: list[np.ndarray | None] = [None] * nl
    caf: list[np.ndarray] = [np.zeros(0)] * nl
    for cur in range(nl - 1):  # MaskTiles: children of a bypassed level read the next out
        if full[cur]:
            continue
        outer = cur + 1
        a = ent_a[outer]
        wa = a if isinstance(ent_m[outer], int) and ent_m[outer] == 1 else a * ent_m[outer]
        weighted = wa[0] if wa.shape[0] == 1 else wa.sum(axis=0)
        scale = (weighted != 0) if empty[cur] else ~mask[cur] & (weighted != 0)
        if not scale.any():
            continue
        num = (ca[cur] * fan[outer]).astype(np.float64)
        sc = scaled[cur]
        if sc is not None:  # float(ca * fanout) of a double ca
            num = np.where(sc, caf[cur] * fan[outer], num)
        factor = num / np.where(scale, weighted, 1).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):  # rows not scaled: unused
            rows = a.astype(np.float64) * factor
        total = rows[0]
        for k in range(1, rows.shape[0]):  # TotalAccesses: left to right (double_sum)
            total = total + rows[k]
        scaled[outer] = scale
        caf[outer] = total
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
        peer: Vec = 0
        words = 0 if links is None or li == nl - 1 else links[li + 1]
        if not isinstance(words, int) and replication is not None:
            # ComputePeerAccesses; MaskTiles zeroes the links of a level whose child is
            # bypassed, and ProcessOuterMaskedLevels those above the outermost keeping level
            peer = np.where(live & (kept_idx > li), words // replication[li], 0)
        sc = scaled[li]
        if sc is not None and not full[li]:
            sc = sc & mask[li]
        if read_write:
            r_l, u_l = c_l + peer - p_l, c_l
            if sc is not None:  # std::round(content_accesses + peer - partition)
                r_l = np.where(sc, _std_round(caf[li] + peer - p_l), r_l)
                u_l = np.where(sc, _std_round(caf[li]), u_l)
            reads.append(r_l)
            fills.append(np.where(outermost, pas, pas - p_l) + peer)
            updates.append(u_l)
        else:
            r_l = c_l + peer
            if sc is not None:  # std::round(content_accesses + peer)
                r_l = np.where(sc, _std_round(caf[li] + peer), r_l)
            reads.append(r_l)
            fills.append(pas + peer)
            updates.append(0)
    return reads, fills, updates, used, parts


def batch_cost(
    c: BatchConstants,
    hw: HardwareBatch,
    nest: BatchNest,
    counts: list[tuple[list[Vec], ...]],
    *,
    detail: bool,
) -> BatchReport | BatchSummary:
    """Validity, cycles (bandwidth throttling), energy (with leakage), area and utilization
    from the final ``counts`` per data space (:func:`final_counts`); with ``detail`` the
    per-level arrays of :class:`BatchReport` too."""
    nl, nds, nb = c.num_levels, c.num_ds, nest.size
    mapping_ok, compute_cycles = nest.ok, nest.compute_cycles
    computes, utilized_macs, replication = nest.computes, nest.utilized_macs, nest.replication
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
        level_cycles.append(np.where(slowdown < 1.0, throttled.astype(np.int64), compute_cycles))
    cycles = compute_cycles
    for lc in level_cycles:
        cycles = np.maximum(cycles, lc)
    level_energy, level_leak, level_area, ds_energy, inst_rows = [], [], [], [], []
    total_energy = np.zeros(nb, np.float64)
    total_area = np.zeros(nb, np.float64)
    for li in range(nl):
        inst = np.broadcast_to(np.asarray(replication[li], np.int64), (nb,))
        inst_rows.append(inst)
        if c.cluster[li] > 1:
            inst_f = inst.astype(np.float64)
            clusters = c.instances[li] / c.cluster[li]
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
                    per_instance = term if isinstance(per_instance, int) else per_instance + term
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
        area = np.broadcast_to(hw.area_um2[:, li] * c.instances[li], (nb,))
        total_energy = total_energy + energy
        total_area = total_area + area
        if detail:
            level_energy.append(energy)
            level_leak.append(np.broadcast_to(leak, (nb,)))
            level_area.append(area)
            ds_energy.append(np.stack(row) if row else np.zeros((0, nb)))
    mac_energy = computes * hw.mac_energy_pj
    mac_area = np.broadcast_to(hw.mac_area_um2 * c.mac_instances, (nb,))
    energy = mac_energy + total_energy
    area = mac_area + total_area
    utilization = computes.astype(np.float64) / (c.mac_instances * cycles).astype(np.float64)

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
            out[k] = np.where(bad.reshape((-1,) + (1,) * (x.ndim - 1)), np.zeros((), x.dtype), x)
    return BatchReport(
        valid=mapping_ok & capacity_ok,
        mapping_valid=mapping_ok,
        capacity_valid=capacity_ok | bad,
        **out,
    )
