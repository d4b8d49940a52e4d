"""From a nest analysis to the final numbers: bypass, reads/fills/updates, cycles, energy, area.

This is the one place where the arithmetic after nest analysis lives (Timeloop's
``tiling.cpp`` ``MaskTiles`` .. ``ComputeReadUpdateReductionAccesses_Legacy`` and
``model/buffer.cpp``/``topology.cpp``). Any engine producing a
:class:`~dcoc.accel.model.nest_analysis.NestAnalysis` (the delta simulation or a closed form)
feeds it.

Bypass keeps fractional accesses until the final count (issue 8)
----------------------------------------------------------------
When a level bypasses a data space, ``MaskTiles`` (``src/loop-analysis/tiling.cpp``) makes the
next outer level serve the bypassing level's children::

    double all_children_content_accesses =
        tile_nest[cur].content_accesses * tile_nest[outer].fanout;
    child_temporal_factor =
        all_children_content_accesses / tile_nest[outer].access_stats.WeightedAccesses();
    for (auto& x: tile_nest[outer].access_stats.stats)
        x.second.accesses *= child_temporal_factor;  // (zero entries skipped)
    tile_nest[outer].content_accesses = tile_nest[outer].access_stats.TotalAccesses();

``AccessStats::accesses``, ``DataMovementInfo::content_accesses`` and the factor are all
``double`` (``include/loop-analysis/nest-analysis-tile-info.hpp``,
``include/loop-analysis/tiling-tile-info.hpp``): nothing is truncated while masking, and a chain
of bypassed levels feeds the scaled double inward-to-outward. The count is made an integer only
once, in ``ComputeReadUpdateReductionAccesses_Legacy``::

    reads = std::round(content_accesses + peer_accesses);                  // read-only
    updates = std::round(content_accesses);                                // read-write
    reads = std::round(content_accesses + peer_accesses - partition_size); // read-write

So Timeloop prints the *nearest* integer to the scaled count, not its floor. The exact value
is usually an integer (the children's accesses x fanout / multicast) that the doubles land an
ulp or so below: 677376 / 1330560 x 1330560 gives 677375.9999999999. dcoc used to truncate
every scaled entry, losing up to 1 per entry, and a loss at an inner bypassed level is
multiplied further out (``tests/data/disputed/ex-simple_weight_stationary.2``: the 903168 MAC
reads that pe_spad serves became 903167, so shared_glb served 903167 x 12 / 4 = 2709501 instead
of 2709504; the README there lists all four). :func:`final_counts` therefore repeats the
double arithmetic operation by operation (same operands, same order; Python floats are IEEE
doubles) and rounds with :func:`std_round` at the end; counts of levels that were never scaled
stay exact Python ints. Every engine applies the same expressions in the same order: the delta
engine and the closed form through this module, :mod:`dcoc.accel.model.cached_evaluator`,
:mod:`dcoc.accel.batched.cost`.

One difference remains: Timeloop keys the access stats by (multicast, scatter), dcoc by
multicast alone, so the scaled entries of one multicast factor are added up as one product
instead of one per scatter. That moves the sum by ulps, which changes the printed count only if
the exact scaled value lies within ulps of a half (it needs several multicast factors at one
fanout, i.e. a sliding window across the fanout, and an exact half).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from dcoc.accel.architecture import Architecture, StorageLevel
from dcoc.accel.model.nest_analysis import NestAnalysis
from dcoc.accel.report import CostReport, DataSpaceCost, LevelCost
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem

MAC_ACTIONS = ("mac_random", "mult_random", "mac", "mult", "compute")


def std_round(x: float) -> int:
    """C++ ``std::round`` of a double: the nearest integer, halves away from zero."""
    a = abs(x)
    r = math.floor(a)
    if a - r >= 0.5:  # exact: a - floor(a) is representable for every double a >= 0
        r += 1
    return r if x >= 0 else -r


def double_sum(values: Iterable[int | float]) -> int | float:
    """``AccessStatMatrix::TotalAccesses``: a left-to-right sum (``sum()`` of Python >= 3.12
    compensates the rounding of float sums, C++ does not)."""
    total: int | float = 0
    for v in values:
        total += v
    return total


@dataclass(frozen=True)
class FinalCounts:
    """Per-instance counts of one (level, data space) after bypass masking."""

    size: int
    partition_size: int
    reads: int
    fills: int
    updates: int


def final_counts(
    analysis: NestAnalysis, keep: tuple[tuple[bool, ...], ...], ds: int, read_write: bool
) -> list[FinalCounts]:
    """Apply the keep masks of data space ``ds`` (inner to outer) and derive the counts
    (``MaskTiles``, ``ProcessOuterMaskedLevels``, ``ComputePeerAccesses`` and
    ``ComputeReadUpdateReductionAccesses_Legacy`` with first-read elision)."""
    n = len(analysis.levels)
    tiles = [lv.tiles[ds] for lv in analysis.levels]
    fanout = [lv.fanout for lv in analysis.levels]
    replication = [lv.replication for lv in analysis.levels]
    size = [t.size for t in tiles]
    part = [t.partition_size for t in tiles]
    pas = [t.parent_access_share for t in tiles]
    links = [t.link_transfers for t in tiles]
    # accesses and content accesses: exact ints, or doubles once MaskTiles scaled them
    stats: list[dict[int, int | float]] = [dict(t.accesses) for t in tiles]
    ca: list[int | float] = [sum(s.values()) for s in stats]
    mask = [keep[li][ds] for li in range(n)]
    # MaskTiles
    for cur in range(n):
        if size[cur] == 0 or mask[cur]:
            continue
        outer = cur + 1
        while outer < n and size[outer] == 0:
            outer += 1
        if outer == n:
            size[cur] = part[cur] = ca[cur] = pas[cur] = 0
            break
        weighted = sum(a * m for m, a in stats[outer].items())
        if weighted:
            # double arithmetic of MaskTiles, no truncation (module docstring)
            factor = float(ca[cur] * fanout[outer]) / float(weighted)
            for m, a in stats[outer].items():
                if a:
                    stats[outer][m] = float(a) * factor
                    links[outer] = 0
        ca[outer] = double_sum(stats[outer].values())
        size[cur] = part[cur] = ca[cur] = pas[cur] = 0
    # ProcessOuterMaskedLevels
    for cur in range(n - 1, -1, -1):
        if not mask[cur]:
            size[cur] = part[cur] = ca[cur] = pas[cur] = links[cur] = 0
        else:
            pas[cur] = 0
            break
    # ComputePeerAccesses: a level's link transfers become its children's extra reads/fills
    peer = [0] * n
    for cur in range(n - 1, 0, -1):
        if links[cur] and replication[cur - 1]:
            peer[cur - 1] += links[cur] // replication[cur - 1]
    out = []
    for cur in range(n):
        if size[cur] == 0:
            out.append(FinalCounts(0, 0, 0, 0, 0))
            continue
        c = ca[cur]
        if read_write:
            outermost = all(size[lv] == 0 for lv in range(cur + 1, n))
            fills = pas[cur] + peer[cur] - (0 if outermost else part[cur])
            if isinstance(c, float):  # std::round(content_accesses + peer - partition)
                reads, updates = std_round(c + peer[cur] - part[cur]), std_round(c)
            else:
                reads, updates = c + peer[cur] - part[cur], c
            out.append(FinalCounts(size[cur], part[cur], reads, fills, updates))
        else:
            reads = std_round(c + peer[cur]) if isinstance(c, float) else c + peer[cur]
            out.append(FinalCounts(size[cur], part[cur], reads, pas[cur] + peer[cur], 0))
    return out


def _cluster_utilization(level: StorageLevel, utilized_instances: int) -> float:
    if level.cluster_size <= 1:
        return 1.0
    clusters = level.instances / level.cluster_size
    return utilized_instances / min(utilized_instances, clusters)


def _level_cycles(level: StorageLevel, compute_cycles: int, reads: int, writes: int) -> int:
    slowdown = 1.0
    if level.read_bandwidth and reads:
        slowdown = min(slowdown, level.read_bandwidth * compute_cycles / reads)
    if level.write_bandwidth and writes:
        slowdown = min(slowdown, level.write_bandwidth * compute_cycles / writes)
    if level.shared_bandwidth and reads + writes:
        slowdown = min(slowdown, level.shared_bandwidth * compute_cycles / (reads + writes))
    return math.ceil(compute_cycles / slowdown) if slowdown < 1.0 else compute_cycles


def cost_report(
    arch: Architecture,
    problem: Problem,
    keep: tuple[tuple[bool, ...], ...],
    analysis: NestAnalysis,
    tables: EnergyTables,
) -> CostReport:
    """Final counts, cycles, energy and area; capacity overflow makes the report invalid."""
    nds = len(problem.data_spaces)
    counts = [
        final_counts(analysis, keep, ds, problem.data_spaces[ds].read_write) for ds in range(nds)
    ]
    compute_cycles = analysis.compute_cycles
    reasons: list[str] = []
    level_cycles = []
    for li, level in enumerate(arch.storage):
        used = sum(counts[ds][li].size for ds in range(nds))
        cap = level.effective_size_words
        if cap is not None and used > cap:
            mb = (
                f" (size {level.size_words} / multiple_buffering {level.multiple_buffering:g})"
                if level.multiple_buffering != 1
                else ""
            )
            reasons.append(f"{level.name}: tiles need {used} words, capacity is {cap}{mb}")
        reads = sum(counts[ds][li].reads for ds in range(nds))
        writes = sum(counts[ds][li].fills + counts[ds][li].updates for ds in range(nds))
        level_cycles.append(_level_cycles(level, compute_cycles, reads, writes))
    cycles = max([compute_cycles, *level_cycles])
    levels = []
    for li, level in enumerate(arch.storage):
        lt = analysis.levels[li]
        inst = lt.replication
        e_read = tables.action_energy(level.name, "read")
        e_fill = tables.action_energy(level.name, "fill", "write")
        e_update = tables.action_energy(level.name, "update", "write")
        cu = _cluster_utilization(level, inst)
        ds_costs = []
        dynamic = 0.0
        for ds in range(nds):
            c = counts[ds][li]
            b = level.block_size
            per_instance = (
                math.ceil(c.reads / b) * e_read
                + math.ceil(c.fills / b) * e_fill
                + math.ceil(c.updates / b) * e_update
            ) / cu
            energy = per_instance * inst
            dynamic += energy
            ds_costs.append(
                DataSpaceCost(
                    name=problem.data_spaces[ds].name,
                    kept=keep[li][ds],
                    reads=c.reads,
                    fills=c.fills,
                    updates=c.updates,
                    utilized_capacity=c.size,
                    utilized_instances=inst,
                    partition_size=c.partition_size,
                    energy_pj=energy,
                )
            )
        leak = tables.action_energy(level.name, "leak") * cycles * max(1, inst)
        levels.append(
            LevelCost(
                name=level.name,
                instances=level.instances,
                energy_pj=dynamic + leak,
                leakage_pj=leak,
                area_um2=tables.area_um2(level.name) * level.instances,
                cycles=level_cycles[li],
                dataspaces=tuple(ds_costs),
            )
        )
    mac = arch.arithmetic
    mac_energy = analysis.computes * tables.action_energy(mac.name, *MAC_ACTIONS)
    mac_area = tables.area_um2(mac.name) * mac.instances
    energy = mac_energy + sum(lv.energy_pj for lv in levels)
    area = mac_area + sum(lv.area_um2 for lv in levels)
    return CostReport(
        valid=not reasons,
        reasons=tuple(reasons),
        cycles=cycles,
        computes=analysis.computes,
        utilization=analysis.computes / (mac.instances * cycles) if cycles else 0.0,
        energy_pj=energy,
        area_um2=area,
        mac_energy_pj=mac_energy,
        mac_area_um2=mac_area,
        utilized_macs=analysis.compute_instances,
        levels=tuple(levels),
    )
