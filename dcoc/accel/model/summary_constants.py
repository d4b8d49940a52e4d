"""What a cached evaluator precomputes from (architecture, problem, tables): numbers only.

:class:`SummaryConstants` holds, per storage level and data space, everything the headline
cost of a mapping needs that does not depend on the mapping (fanouts, capacities, bandwidths,
per-action energies, projections, sliding-window encodings, the link detector). Both the
generic summary (:class:`~dcoc.accel.model.cached_evaluator.Evaluator`) and the specialized
code written from it (:mod:`~dcoc.accel.model.summary_codegen`) read these fields; no spec
string is among them. The projection functions are compiled once per projection and shared
by every evaluator of the same problem.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from dcoc.accel.architecture import Architecture
from dcoc.accel.model.closed_form import LinkDetector
from dcoc.accel.model.cost import MAC_ACTIONS
from dcoc.accel.model.delta_engine import projections
from dcoc.accel.model.source_literals import literal
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem


@functools.lru_cache(maxsize=4096)
def size_function(proj: tuple[tuple[tuple[int, int], ...], ...]) -> Callable[[list[int]], int]:
    """A compiled ``extents -> bounding-box size`` for one projection (generated source: the
    projection's dimension indices and integer coefficients, written by ``literal``)."""
    factors = []
    for terms in proj:
        parts = [f"{literal(c)} * (e[{literal(d)}] - 1)" for d, c in terms if c]
        factors.append(f"({' + '.join(parts)} + 1)" if parts else "1")
    fn: Callable[[list[int]], int] = eval(f"lambda e: {' * '.join(factors) or '1'}")
    return fn


@functools.lru_cache(maxsize=1024)
def all_sizes_function(
    projs: tuple[tuple[tuple[tuple[int, int], ...], ...], ...],
) -> Callable[[list[int]], tuple[int, ...]]:
    """A compiled ``extents -> (bounding-box size per data space)``."""
    sizes = []
    for proj in projs:
        factors = []
        for terms in proj:
            parts = [f"{literal(c)} * (e[{literal(d)}] - 1)" for d, c in terms if c]
            factors.append(f"({' + '.join(parts)} + 1)" if parts else "1")
        sizes.append(" * ".join(factors) or "1")
    fn: Callable[[list[int]], tuple[int, ...]] = eval(f"lambda e: ({', '.join(sizes)},)")
    return fn


@functools.lru_cache(maxsize=4096)
def span_function(
    proj: tuple[tuple[tuple[int, int], ...], ...],
) -> Callable[[list[int]], list[int]]:
    """A compiled ``extents -> [span per data dimension]`` for one projection."""
    spans = []
    for terms in proj:
        parts = [f"{literal(c)} * (e[{literal(d)}] - 1)" for d, c in terms if c]
        spans.append(f"{' + '.join(parts)} + 1" if parts else "1")
    fn: Callable[[list[int]], list[int]] = eval(f"lambda e: [{', '.join(spans)}]")
    return fn


class SummaryConstants:
    """The mapping-independent numbers of one (architecture, problem, tables)."""

    def __init__(
        self,
        arch: Architecture,
        problem: Problem,
        tables: EnergyTables,
        *,
        legacy_translation: bool = False,
        link_transfers: bool = True,
    ) -> None:
        self.arch = arch
        self.link_transfers = link_transfers
        self.problem = problem
        self.tables = tables
        self.legacy = legacy_translation
        self.nl = nl = len(arch.storage)
        self.nd = nd = len(problem.dimensions)
        self.projs = projections(problem)
        self.nds = len(self.projs)
        self.bounds = tuple(problem.bounds[d] for d in problem.dimensions)
        self.fanout_xy = tuple(arch.fanout_xy(li) for li in range(nl))
        self.fanout = tuple(arch.fanout(li) for li in range(nl))
        self.read_write = tuple(ds.read_write for ds in problem.data_spaces)
        self.relevant = tuple(
            tuple(any(dd == d and c for terms in p for dd, c in terms) for d in range(nd))
            for p in self.projs
        )
        self.sliding = tuple(any(len(t) > 1 for t in p) for p in self.projs)
        self.links = LinkDetector(self.projs, nd, self.fanout_xy, legacy_translation)
        self.capacity = tuple(lv.effective_size_words for lv in arch.storage)
        self.block = tuple(lv.block_size for lv in arch.storage)
        self.bandwidth = tuple(
            (lv.read_bandwidth, lv.write_bandwidth, lv.shared_bandwidth) for lv in arch.storage
        )
        self.e_read = tuple(tables.action_energy(lv.name, "read") for lv in arch.storage)
        self.e_fill = tuple(tables.action_energy(lv.name, "fill", "write") for lv in arch.storage)
        self.e_update = tuple(
            tables.action_energy(lv.name, "update", "write") for lv in arch.storage
        )
        self.e_leak = tuple(tables.action_energy(lv.name, "leak") for lv in arch.storage)
        self.clusters = tuple(
            lv.instances / lv.cluster_size if lv.cluster_size > 1 else None for lv in arch.storage
        )
        mac = arch.arithmetic
        self.e_mac = tables.action_energy(mac.name, *MAC_ACTIONS)
        self.mac_instances = mac.instances
        area = 0.0
        for lv in arch.storage:
            area += tables.area_um2(lv.name) * lv.instances
        self.area = tables.area_um2(mac.name) * mac.instances + area
        self.hist_cache: dict[tuple[int, tuple[int, ...], tuple[int, ...]], tuple] = {}
        self.size_fns = tuple(size_function(p) for p in self.projs)
        self.all_sizes_fn = all_sizes_function(self.projs)
        self.span_fns = tuple(span_function(p) for p in self.projs)
        # sliding windows: translations encoded as one int (balanced mixed radix, linear)
        self.kappa: list[tuple[int, ...]] = []
        self.touch: list[tuple[tuple[tuple[int, int], ...], ...]] = []  # per dim: (dd, |c|)
        for p in self.projs:
            mult = 1
            kappa = [0] * nd
            touch: list[list[tuple[int, int]]] = [[] for _ in range(nd)]
            for k, terms in enumerate(p):
                bound = sum(abs(c) * 2 * self.bounds[d] for d, c in terms) + 1
                for d, c in terms:
                    kappa[d] += c * mult
                    touch[d].append((k, abs(c)))
                mult *= 2 * bound + 1
            self.kappa.append(tuple(kappa))
            self.touch.append(tuple(tuple(t) for t in touch))
