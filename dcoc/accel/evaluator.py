"""The one single-mapping evaluator protocol, and its fast exact implementation.

A :class:`MappingEvaluator` is called as ``evaluator(arch, problem, mapping, tables)`` and
returns the mapping's :class:`~dcoc.accel.report.CostSummary` (validity, cycles, energy, area,
utilization), exactly the numbers :func:`dcoc.accel.model.evaluate` reports. Everything that
evaluates mappings one at a time takes one: the co-design space and its envs, the search task,
the reward's reference search, the export of a best design.

:class:`CachedEvaluators` is the implementation every caller gets by default: it keeps one
cached :class:`~dcoc.accel.model.cached_evaluator.Evaluator` per (architecture, problem,
tables), least recently used first out, so a configuration seen again costs nothing to set up.
When several candidates are known at once, :meth:`CachedEvaluators.summaries` takes them
together: the mappings of one problem on designs of one template (the same levels, instance
counts, meshes and MAC count; capacities, bandwidths and tables may differ) go through the
batched engine (:mod:`dcoc.accel.batched`) once there are at least ``min_batch`` of them, the
rest through the cached scalar evaluators. Both give the same numbers, bit for bit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from dcoc.accel.architecture import Architecture
from dcoc.accel.batched.evaluator import BatchEvaluator
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import INVALID_SUMMARY, CostSummary
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem


class MappingEvaluator(Protocol):
    """``evaluator(arch, problem, mapping, tables) -> CostSummary``; exact and pure."""

    def __call__(
        self, arch: Architecture, problem: Problem, mapping: Mapping, tables: EnergyTables
    ) -> CostSummary: ...


EvaluationItem = tuple[Architecture, Problem, Mapping, EnergyTables]
"""One evaluation: the design's architecture, the problem, the mapping, the design's tables."""

MIN_BATCH = 32
"""Mappings of one (template, problem) from which the batched engine beats the scalar one.

Measured with ``benchmarks/batch_crossover.py`` (ResNet-18 C5 on eyeriss_like designs, one
core): the batched engine pays its per-call overhead (about 1.5 ms) back from about 16
mappings when each is on a new design (0.87x the scalar time at 16, 0.59x at 32, 0.22x at
256) and from about 32 when they share one design whose scalar evaluator is already built."""


K = TypeVar("K")
V = TypeVar("V")


def _lru(
    cache: OrderedDict[K, V],
    key: K,
    current: Callable[[V], bool],
    build: Callable[[], V],
    capacity: int,
) -> V:
    """The entry of ``key`` if ``current`` says it still serves, else a new one from
    ``build``; the least recently used entry goes past ``capacity``."""
    entry = cache.get(key)
    if entry is not None and current(entry):
        cache.move_to_end(key)
        return entry
    entry = build()
    cache[key] = entry
    if len(cache) > capacity:
        cache.popitem(last=False)
    return entry


def invalid_reasons(
    arch: Architecture, problem: Problem, mapping: Mapping, tables: EnergyTables
) -> str:
    """Why the model rejects ``mapping``: the full report's reasons, ``"; "``-joined (the
    summary says only that it does; ask for the reasons of the invalid ones)."""
    return "; ".join(evaluate(arch, problem, mapping, tables=tables).reasons) or "invalid"


class CachedEvaluators:
    """The fast exact :class:`MappingEvaluator`: a cached evaluator per (architecture,
    problem, tables), keyed by identity (the objects are kept alive while cached)."""

    def __init__(
        self,
        *,
        legacy_translation: bool = False,
        link_transfers: bool = True,
        capacity: int = 512,
        min_batch: int = MIN_BATCH,
    ) -> None:
        self.legacy_translation = legacy_translation
        self.link_transfers = link_transfers
        self.capacity = capacity
        self.min_batch = min_batch
        """Mappings of one (template, problem) in a :meth:`summaries` call from which they go
        through the batched engine."""
        self._cache: OrderedDict[tuple[int, int, int], Evaluator] = OrderedDict()
        self._engines: OrderedDict[tuple[object, ...], BatchEvaluator] = OrderedDict()
        self.batched = 0
        """Evaluations :meth:`summaries` sent through the batched engine."""

    def evaluator(self, arch: Architecture, problem: Problem, tables: EnergyTables) -> Evaluator:
        """The cached evaluator of (``arch``, ``problem``, ``tables``)."""
        return _lru(
            self._cache,
            (id(arch), id(problem), id(tables)),
            lambda ev: ev.arch is arch and ev.problem is problem and ev.tables is tables,
            lambda: Evaluator(
                arch,
                problem,
                tables,
                legacy_translation=self.legacy_translation,
                link_transfers=self.link_transfers,
            ),
            self.capacity,
        )

    def __call__(
        self, arch: Architecture, problem: Problem, mapping: Mapping, tables: EnergyTables
    ) -> CostSummary:
        return self.evaluator(arch, problem, tables).summary(mapping)

    def summaries(self, items: Sequence[EvaluationItem]) -> list[CostSummary]:
        """The summary of every item, in order; groups of at least :attr:`min_batch` mappings
        of one problem on one template go through the batched engine."""
        groups: dict[tuple[object, ...], list[int]] = {}
        for i, (arch, problem, _, _) in enumerate(items):
            groups.setdefault((id(problem), HardwareBatch.template_key(arch)), []).append(i)
        out = [INVALID_SUMMARY] * len(items)  # every index is one group's member
        for key, members in groups.items():
            if len(members) < self.min_batch:
                for i in members:
                    out[i] = self(*items[i])
                continue
            batch = self._batch(key, [items[i] for i in members])
            for i, summary in zip(members, batch, strict=True):
                out[i] = summary
        return out

    def _batch(self, key: tuple[object, ...], items: Sequence[EvaluationItem]) -> list[CostSummary]:
        template, problem = items[0][0], items[0][1]
        engine = _lru(
            self._engines,
            key,
            lambda e: e.problem is problem,
            lambda: BatchEvaluator(
                template,
                problem,
                legacy_translation=self.legacy_translation,
                link_transfers=self.link_transfers,
            ),
            self.capacity,
        )
        shape = (len(template.storage), len(problem.dimensions), len(problem.data_spaces))
        mappings = MappingBatch.from_mappings([m for _, _, m, _ in items], *shape)
        hardware = HardwareBatch.from_architectures(template, [(a, t) for a, _, _, t in items])
        r = engine.evaluate_summary(mappings, hardware)
        self.batched += len(items)
        rows = zip(
            r.mapping_valid.tolist(),
            r.valid.tolist(),
            r.cycles.tolist(),
            r.energy_pj.tolist(),
            r.area_um2.tolist(),
            r.utilization.tolist(),
            strict=True,
        )
        return [
            CostSummary(valid, cycles, energy, area, util) if mapping_ok else INVALID_SUMMARY
            for mapping_ok, valid, cycles, energy, area, util in rows
        ]
