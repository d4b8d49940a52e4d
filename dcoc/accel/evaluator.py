"""The one single-mapping evaluator protocol, and its fast exact implementation.

A :class:`MappingEvaluator` is called as ``evaluator(arch, problem, mapping, tables)`` and
returns the mapping's :class:`~dcoc.accel.report.CostSummary` (validity, cycles, energy, area,
utilization), exactly the numbers :func:`dcoc.accel.model.evaluate` reports. Everything that
evaluates mappings one at a time takes one: the co-design space and its envs, the search task,
the reward's reference search, the export of a best design.

:class:`CachedEvaluators` is the implementation every caller gets by default: it keeps one
cached :class:`~dcoc.accel.model.cached_evaluator.Evaluator` per (architecture, problem,
tables), least recently used first out, so a configuration seen again costs nothing to set up.
When several candidates are known at once, the batched engine (:mod:`dcoc.accel.batched`) is
the faster path.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostSummary
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem


class MappingEvaluator(Protocol):
    """``evaluator(arch, problem, mapping, tables) -> CostSummary``; exact and pure."""

    def __call__(
        self, arch: Architecture, problem: Problem, mapping: Mapping, tables: EnergyTables
    ) -> CostSummary: ...


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
    ) -> None:
        self.legacy_translation = legacy_translation
        self.link_transfers = link_transfers
        self.capacity = capacity
        self._cache: OrderedDict[tuple[int, int, int], Evaluator] = OrderedDict()

    def evaluator(self, arch: Architecture, problem: Problem, tables: EnergyTables) -> Evaluator:
        """The cached evaluator of (``arch``, ``problem``, ``tables``)."""
        key = (id(arch), id(problem), id(tables))
        ev = self._cache.get(key)
        if (
            ev is None
            or ev.arch is not arch
            or ev.problem is not problem
            or ev.tables is not tables
        ):
            ev = Evaluator(
                arch,
                problem,
                tables,
                legacy_translation=self.legacy_translation,
                link_transfers=self.link_transfers,
            )
            self._cache[key] = ev
            if len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return ev

    def __call__(
        self, arch: Architecture, problem: Problem, mapping: Mapping, tables: EnergyTables
    ) -> CostSummary:
        return self.evaluator(arch, problem, tables).summary(mapping)
