"""What a cached evaluator precomputes from (architecture, problem, tables): numbers only.

:class:`SummaryConstants` holds, per storage level and data space, everything the headline
cost of a mapping needs that does not depend on the mapping (fanouts, capacities, bandwidths,
per-action energies, projections, sliding-window encodings, the link detector); the cached
evaluator (:class:`~dcoc.accel.model.cached_evaluator.Evaluator`) reads these fields. No spec
string is among them. The projection functions (tile extents to bounding-box sizes or spans)
are plain closures over the projection's dimension indices and coefficients, built once per
projection and shared by every evaluator of the same problem: dcoc writes and runs no Python
source (``SECURITY.md``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from math import prod
from operator import itemgetter

from dcoc.accel.architecture import Architecture
from dcoc.accel.model.closed_form import LinkDetector
from dcoc.accel.model.cost import MAC_ACTIONS
from dcoc.accel.model.delta_engine import Projection, projections
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem

Extents = Sequence[int]
Span = Callable[[Extents], int]


def _one(e: Extents) -> int:
    return 1


def _axis_span(terms: tuple[tuple[int, int], ...]) -> int | Span:
    """One data dimension's span ``sum(c * (e[d] - 1)) + 1`` as a function of the extents, or,
    for the common single term with coefficient 1 (span ``e[d]``), just the index ``d``."""
    nz = tuple((d, c) for d, c in terms if c)
    const = 1 - sum(c for _, c in nz)  # sum(c * (e - 1)) + 1 = sum(c * e) + const
    if not nz:
        return _one
    if len(nz) == 1:
        ((d, c),) = nz
        if c == 1:
            return d
        return lambda e: c * e[d] + const
    if len(nz) == 2:
        (d0, c0), (d1, c1) = nz
        if c0 == 1 and c1 == 1:
            return lambda e: e[d0] + e[d1] + const
        return lambda e: c0 * e[d0] + c1 * e[d1] + const
    return lambda e: sum([c * e[d] for d, c in nz]) + const


def _axis_functions(proj: Projection) -> list[Span]:
    return [itemgetter(a) if isinstance(a, int) else a for a in map(_axis_span, proj)]


@functools.lru_cache(maxsize=4096)
def size_function(proj: Projection) -> Span:
    """``extents -> bounding-box size`` of one projection (the product of its spans)."""
    axes = [_axis_span(terms) for terms in proj]
    dims = tuple(a for a in axes if isinstance(a, int))
    spans = tuple(a for a in axes if not isinstance(a, int) and a is not _one)
    if not spans:
        if not dims:
            return _one
        if len(dims) == 1:
            return itemgetter(dims[0])
        whole = itemgetter(*dims)
        return lambda e: prod(whole(e))
    if not dims:
        return lambda e: prod([f(e) for f in spans])
    if len(dims) == 1:
        d = dims[0]
        return lambda e: prod([f(e) for f in spans], start=e[d])
    part = itemgetter(*dims)
    return lambda e: prod([f(e) for f in spans], start=prod(part(e)))


@functools.lru_cache(maxsize=1024)
def all_sizes_function(projs: tuple[Projection, ...]) -> Callable[[Extents], tuple[int, ...]]:
    """``extents -> (bounding-box size per data space)``."""
    fns = tuple(size_function(p) for p in projs)
    return lambda e: tuple([f(e) for f in fns])


@functools.lru_cache(maxsize=4096)
def span_function(proj: Projection) -> Callable[[Extents], list[int]]:
    """``extents -> [span per data dimension]`` of one projection (a new list each call)."""
    fns = _axis_functions(proj)
    return lambda e: [f(e) for f in fns]


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
