"""A cached scalar evaluator: one (architecture, problem, tables), many mappings, fast.

``Evaluator(arch, problem, tables).summary(mapping)`` returns the headline numbers of
:func:`dcoc.accel.model.evaluate` (validity, cycles, energy, area, utilization) in tens of
microseconds of pure Python: the closed form of :mod:`dcoc.accel.model.closed_form` and the cost
arithmetic of :mod:`dcoc.accel.model.cost` fused, with everything that depends only on the
architecture, problem and tables precomputed (:mod:`dcoc.accel.model.summary_constants`).
Neighbour link transfers are on by default (as in ``timeloop-model``); the mappings where
:class:`~dcoc.accel.model.closed_form.LinkDetector` cannot rule them out get their linked
entries and peer accesses from the closed form. ``Evaluator.evaluate(mapping)`` returns the full
:class:`~dcoc.accel.report.CostReport` (same numbers, per-level detail, slower).
"""

from __future__ import annotations

import math
from math import prod
from operator import mul

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.closed_form import (
    link_visits,
    multicast_histogram,
    spatial_members,
)
from dcoc.accel.model.cost import double_sum, std_round
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.model.summary_constants import SummaryConstants
from dcoc.accel.report import INVALID_SUMMARY, CostReport, CostSummary
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem


class Evaluator(SummaryConstants):
    """Evaluate many mappings of one problem on one architecture with one set of tables."""

    SIZES_MEMO = 4096
    """Tile extents whose sizes per data space :meth:`summary` remembers (emptied when full)."""

    def __init__(
        self,
        arch: Architecture,
        problem: Problem,
        tables: EnergyTables,
        *,
        legacy_translation: bool = False,
        link_transfers: bool = True,
    ) -> None:
        super().__init__(
            arch,
            problem,
            tables,
            legacy_translation=legacy_translation,
            link_transfers=link_transfers,
        )
        self.sizes_memo: dict[tuple[int, ...], tuple[int, ...]] = {}

    def evaluate(self, mapping: Mapping) -> CostReport:
        """The full cost report (the model's own cost arithmetic, closed-form analysis)."""
        return evaluate(
            self.arch,
            self.problem,
            mapping,
            tables=self.tables,
            legacy_translation=self.legacy,
            link_transfers=self.link_transfers,
        )

    def _reference(
        self,
        ds: int,
        bits: list[tuple[int, int, int, int]],
        keys: list[int],
        weights: list[int],
        start: int,
    ) -> tuple[int, int, int, int, int] | None:
        """For the bits from ``start`` on: the reference transition's dim and step, and the
        weights of the transitions matching it and of the zero translations (encoded ints;
        see closed_form.content_accesses). None when nothing moves."""
        nbits = len(bits)
        if start == nbits:
            return None
        offset = keys[start] - self.kappa[ds][bits[start][1]] * bits[start][3]
        ref = start
        if not self.legacy:
            while ref < nbits and keys[ref] == offset:
                ref += 1
            if ref == nbits:
                return None
        ref_key = keys[ref]
        matched = zero = 0
        for k, w in zip(keys[start:], weights[start:], strict=True):
            if k == ref_key:
                matched += w
            elif k == offset:
                zero += w
        return bits[ref][1], bits[ref][3], matched, zero, 0

    def _tile_sizes(self, extents: list[int]) -> tuple[int, ...]:
        """The size of every data space's tile of ``extents`` (memoized)."""
        key = tuple(extents)
        memo = self.sizes_memo
        got = memo.get(key)
        if got is None:
            if len(memo) >= self.SIZES_MEMO:
                memo.clear()
            got = memo[key] = self.all_sizes_fn(key)
        return got

    def summary(self, mapping: Mapping) -> CostSummary:
        """Validity, cycles, energy, area and utilization of ``mapping``, equal bit for bit to
        ``evaluate(...).summary()``."""
        nl, nd, nds = self.nl, self.nd, self.nds
        levels = mapping.levels
        if mapping.conflicts or len(levels) != nl:
            return INVALID_SUMMARY
        # -- validity (model.mapping_violations) and extents ----------------------------
        ext = [1] * nd
        belows = []
        masters = []
        exts = []
        spatials = []
        fans = []
        bits: list[tuple[int, int, int, int]] = []  # (level, dim, bound, step) inner to outer
        level_start = []
        compute_cycles = 1
        for li in range(nl):
            lm = levels[li]
            fx, fy = self.fanout_xy[li]
            if min(lm.spatial_x) < 1 or min(lm.spatial_y) < 1:
                return INVALID_SUMMARY
            ux = prod(lm.spatial_x)
            uy = prod(lm.spatial_y)
            if ux > fx or uy > fy or ux * uy > self.fanout[li]:
                return INVALID_SUMMARY
            below = ext
            if ux * uy > 1:
                sp = list(map(mul, lm.spatial_x, lm.spatial_y))
                master = list(map(mul, below, sp))
            else:
                sp = list(lm.spatial_x)  # all 1
                master = below
            t = lm.temporal
            ext = list(map(mul, master, t))
            level_start.append(len(bits))
            for d in lm.permutation:
                n = t[d]
                if n > 1:
                    bits.append((li, d, n, master[d]))
                    compute_cycles *= n
                elif n < 1:
                    return INVALID_SUMMARY
            belows.append(below)
            masters.append(master)
            exts.append(ext)
            spatials.append(sp)
            fans.append(ux * uy)
        if tuple(ext) != self.bounds:
            return INVALID_SUMMARY
        for ds in range(nds):
            if not any(lm.keep[ds] for lm in levels):
                return INVALID_SUMMARY
        level_start.append(len(bits))
        linked = (
            self.links.may_link(levels, bits, level_start, belows, masters, fans)
            if self.link_transfers
            else ()
        )
        computes = math.prod(ext)
        nbits = len(bits)
        suffix = [1] * (nbits + 1)
        for i in range(nbits - 1, -1, -1):
            suffix[i] = suffix[i + 1] * bits[i][2]
        replication = [1] * nl
        for li in range(nl - 2, -1, -1):
            replication[li] = replication[li + 1] * fans[li + 1]
        # -- per data space: tile sizes, accesses, bypass, counts -------------------------
        tile_sizes = self._tile_sizes
        level_sizes = list(map(tile_sizes, exts))
        spatial_levels = [li for li in range(nl) if fans[li] > 1]
        # the tiles under each fanout (the partition divides by them)
        master_sizes = {li: tile_sizes(masters[li]) for li in spatial_levels}
        weights: list[int] | None = None  # per bit: (n - 1) * product of the bounds above
        reads_l = [0] * nl
        writes_l = [0] * nl
        used_l = [0] * nl
        dynamic = [0.0] * nl
        cus = [
            1.0 if c is None else replication[li] / min(replication[li], c)
            for li, c in enumerate(self.clusters)
        ]
        blocks, e_read, e_fill, e_update = self.block, self.e_read, self.e_fill, self.e_update
        ceil = math.ceil
        for ds in range(nds):
            sizes = [ls[ds] for ls in level_sizes]
            rel = self.relevant[ds]
            sliding = self.sliding[ds]
            bases = [compute_cycles] * nl
            if sliding:
                if weights is None:
                    weights = [(b[2] - 1) * suffix[i + 1] for i, b in enumerate(bits)]
                kappa = self.kappa[ds]
                keys = []
                running = 0
                for _, d, _, st in bits:
                    v = kappa[d] * st
                    keys.append(v - running)
                    running += v
                refs: dict[int, tuple[int, int, int, int, int] | None] = {}
                span_fn = self.span_fns[ds]
                touch = self.touch[ds]
                legacy = self.legacy
                for li in range(1, nl):
                    start = level_start[li]
                    if start in refs:
                        found = refs[start]
                    else:
                        found = refs[start] = self._reference(ds, bits, keys, weights, start)
                    size = sizes[li - 1]
                    if found is None:
                        bases[li] = size
                        continue
                    d, step, matched, zero, _ = found
                    spans = span_fn(exts[li - 1])
                    for k, c in touch[d]:
                        spans[k] = max(0, spans[k] - c * step)
                    inter = prod(spans)
                    n_above = suffix[start]
                    bases[li] = (
                        size * n_above - inter * matched
                        if legacy
                        else size * (n_above - zero) - inter * matched
                    )
            else:
                nxt = nbits
                firsts = [nbits] * (nbits + 1)
                for i in range(nbits - 1, -1, -1):
                    if rel[bits[i][1]]:
                        nxt = i
                    firsts[i] = nxt
                for li in range(1, nl):
                    bases[li] = sizes[li - 1] * suffix[firsts[level_start[li]]]
            # multicast entries per level: one (m, a) pair, or a list of them (sliding windows)
            mult = [1] * nl
            acc = list(bases)
            multi: dict[int, list[tuple[int, int]]] = {}
            link_words: dict[int, int] = {}
            for li in spatial_levels:
                base = bases[li]
                sp = spatials[li]
                if (li, ds) in linked:
                    # exact entries with neighbour links (closed_form.link_accesses)
                    above = [(b[1], b[2], b[3]) for b in bits[level_start[li] :]]
                    total, visits = link_visits(
                        self.projs[ds], tuple(exts[li - 1]), above, self.legacy
                    )
                    members = spatial_members(levels[li], belows[li])
                    entries, words = self.links.accesses(ds, li, members, total, visits)
                    multi[li] = list(entries)
                    acc[li] = sum(a for _, a in entries)
                    if words:
                        link_words[li] = words
                elif sliding:
                    key = (ds, tuple(sp), tuple(belows[li]))
                    hist = self.hist_cache.get(key)
                    if hist is None:
                        members = tuple((d, sp[d], belows[li][d]) for d in range(nd) if sp[d] > 1)
                        hist = multicast_histogram(self.projs[ds], members)
                        self.hist_cache[key] = hist
                    if len(hist) == 1:
                        mult[li] = hist[0][0]
                        acc[li] = base * hist[0][1]
                    else:
                        multi[li] = [(m, base * g) for m, g in hist]
                        acc[li] = sum(a for _, a in multi[li])
                else:
                    groups = members_ = 1
                    for d, x in enumerate(sp):
                        if rel[d]:
                            groups *= x
                        else:
                            members_ *= x
                    mult[li] = members_
                    acc[li] = base * groups
            keep = [lm.keep[ds] for lm in levels]
            ca: list[int | float] = list(acc)  # floats once MaskTiles scaled them
            # parent access shares, from the accesses before masking
            pas = [0] * nl
            for li in range(nl - 1):
                if keep[li]:
                    f = fans[li + 1]
                    if li + 1 in multi:
                        pas[li] = sum(a * m // f for m, a in multi[li + 1])
                    else:
                        pas[li] = acc[li + 1] * mult[li + 1] // f
            for cur in range(nl - 1):  # MaskTiles
                if keep[cur]:
                    continue
                outer = cur + 1
                if outer in multi:
                    st_ = multi[outer]
                    weighted = sum(a * m for m, a in st_)
                    if weighted:
                        link_words.pop(outer, None)
                        factor = float(ca[cur] * fans[outer]) / float(weighted)
                        # doubles, rounded at the end (cost.py docstring)
                        ca[outer] = double_sum(float(a) * factor if a else a for _, a in st_)
                    else:
                        ca[outer] = sum(a for _, a in st_)
                else:
                    a = acc[outer]
                    if a:  # doubles, rounded at the end (cost.py docstring)
                        factor = float(ca[cur] * fans[outer]) / float(a * mult[outer])
                        ca[outer] = float(a) * factor
                    else:
                        ca[outer] = a
            outermost = nl - 1
            while not keep[outermost]:
                outermost -= 1
            read_write = self.read_write[ds]
            p = sizes[-1]  # partition, carried inward; divided below a spatial fanout
            for li in range(nl - 1, -1, -1):
                if li < nl - 1 and fans[li + 1] > 1:
                    p = p * sizes[li] // master_sizes[li + 1][ds]
                if not keep[li]:
                    continue
                fill = 0 if li == outermost else pas[li]
                c_l = ca[li]
                peer = 0
                if link_words and li + 1 in link_words and li + 1 <= outermost:
                    # ComputePeerAccesses: words from neighbours are extra reads and fills
                    peer = link_words[li + 1] // replication[li]
                if read_write:
                    f = (fill if li == outermost else fill - p) + peer
                    if isinstance(c_l, float):  # scaled by MaskTiles: std::round at the end
                        r, u = std_round(c_l + peer - p), std_round(c_l)
                    else:
                        r, u = c_l + peer - p, c_l
                else:
                    r = std_round(c_l + peer) if isinstance(c_l, float) else c_l + peer
                    f, u = fill + peer, 0
                reads_l[li] += r
                writes_l[li] += f + u
                used_l[li] += sizes[li]
                if r or f or u:
                    b = blocks[li]
                    per_instance = (
                        ceil(r / b) * e_read[li]
                        + ceil(f / b) * e_fill[li]
                        + ceil(u / b) * e_update[li]
                    ) / cus[li]
                    dynamic[li] += per_instance * replication[li]
        # -- capacity, cycles, energy (cost.cost_report) --------------------------------
        valid = True
        cycles = compute_cycles
        for li in range(nl):
            cap = self.capacity[li]
            if cap is not None and used_l[li] > cap:
                valid = False
            rbw, wbw, sbw = self.bandwidth[li]
            reads, writes = reads_l[li], writes_l[li]
            slowdown = 1.0
            if rbw and reads:
                slowdown = min(slowdown, rbw * compute_cycles / reads)
            if wbw and writes:
                slowdown = min(slowdown, wbw * compute_cycles / writes)
            if sbw and reads + writes:
                slowdown = min(slowdown, sbw * compute_cycles / (reads + writes))
            if slowdown < 1.0:
                cycles = max(cycles, ceil(compute_cycles / slowdown))
        level_energy = 0.0
        e_leak = self.e_leak
        for li in range(nl):
            level_energy += dynamic[li] + e_leak[li] * cycles * max(1, replication[li])
        energy = computes * self.e_mac + level_energy
        return CostSummary(
            valid, cycles, energy, self.area, computes / (self.mac_instances * cycles)
        )
