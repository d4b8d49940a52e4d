"""A Timeloop-mapper-like search over a :class:`~dcoc.accel.mapper.mapspace.MapSpace`.

Three strategies, all pure functions of (mapspace, evaluator, config, seed):

* ``random-pruned`` (Timeloop's ``random_pruned``, its default): draw a random index
  factorization that passes the cheap coupling checks (mesh fanout, buffer capacity of the
  forced keeps, minimum utilization; rejected draws are *pruned*, never evaluated), then evaluate
  up to ``max_permutations_per_if_visit`` distinct (permutation, bypass) choices of it, the bypass
  drawn among those that fit every buffer. Stop when ``victory_condition`` consecutive valid
  evaluations did not improve the best, after ``max_evaluations`` evaluations, after ``timeout_s``
  seconds, or after ``max_consecutive_rejections`` pruned draws in a row (Timeloop's ``timeout``).
* ``exhaustive`` (Timeloop's ``linear_pruned``): every legal point up to permutation
  equivalence, in the enumerator's pruned depth-first order, until ``max_evaluations``.
* ``random-pruned-climb`` (dcoc's extension, not in Timeloop): random-pruned for
  ``explore_fraction`` of the budget, then steepest descent over single moves
  (:meth:`MapSpace.neighbors`: a prime factor to another slot, two adjacent loops swapped, a
  keep bit flipped) from the ``climb_starts`` best samples.

The evaluator is a parameter: any ``Callable[[Sequence[Mapping]], Sequence[CostReport]]``, e.g.
:func:`model_evaluator` (dcoc's exact model, one mapping at a time) or a batched one. The search
reads only validity, cycles, energy and EDP of a report (:class:`Scored`), so an evaluator may
return any such object (a co-design search task's layer outcomes, which count every call against
the task's budget); the result then carries that object as its ``best_report``. Metrics are
compared lexicographically, as Timeloop's ``optimization_metrics`` list.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapper.mapspace import MapPoint, MapSpace
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostReport, DataSpaceCost, LevelCost
from dcoc.accel.tables import EnergyTables
from dcoc.objective import Objective
from dcoc.workloads.problem import Problem

logger = logging.getLogger(__name__)

BatchMappingEvaluator = Callable[[Sequence[Mapping]], Sequence[CostReport]]
"""What the mapper calls: a batch of mappings of its layer -> their full reports, in order
(:func:`model_evaluator` one by one, :func:`batched_evaluator` in one numpy pass)."""


class Scored(Protocol):
    """What the search reads of an evaluation (a :class:`CostReport` is one)."""

    @property
    def valid(self) -> bool: ...
    @property
    def cycles(self) -> float: ...
    @property
    def energy_pj(self) -> float: ...
    @property
    def edp(self) -> float: ...


R = TypeVar("R", bound=Scored)


class SearchAlgorithm(StrEnum):
    RANDOM_PRUNED = "random-pruned"
    EXHAUSTIVE = "exhaustive"
    CLIMB = "random-pruned-climb"
    """dcoc's extension: random-pruned, then hill climbing from the best samples."""


def objective_values(report: Scored, objectives: Sequence[Objective]) -> tuple[float, ...]:
    """The report's value of each objective, in order (compared lexicographically, as
    Timeloop's ``optimization_metrics``)."""
    if isinstance(report, CostReport):
        return tuple(report.objective(o) for o in objectives)
    return tuple(o.of(report.cycles, report.energy_pj) for o in objectives)


@dataclass(frozen=True)
class MapperConfig:
    algorithm: SearchAlgorithm = SearchAlgorithm.RANDOM_PRUNED
    metrics: tuple[Objective, ...] = (Objective.EDP,)
    """Compared lexicographically: the first decides, the next break ties."""
    max_evaluations: int | None = 2000
    """Evaluation budget (``None``: no limit)."""
    victory_condition: int | None = 100
    """Stop after this many consecutive valid, non-improving evaluations (``None``/0: never)."""
    timeout_s: float | None = None
    """Wall-clock limit in seconds."""
    max_consecutive_rejections: int = 10_000
    """Random-pruned: give up after this many pruned draws in a row (Timeloop's ``timeout``)."""
    max_permutations_per_if_visit: int = 16
    batch_size: int = 64
    seed: int = 0
    explore_fraction: float = 0.5
    """Climb: share of ``max_evaluations`` spent on random-pruned sampling before climbing."""
    climb_starts: int = 4
    """Climb: how many of the best distinct samples to climb from, best first."""


@dataclass(frozen=True)
class MapperProgress:
    evaluations: int
    valid_evaluations: int
    pruned: int
    best_objective: tuple[float, ...] | None
    elapsed_s: float


@dataclass(frozen=True)
class MapperResult(Generic[R]):
    best_mapping: Mapping | None
    best_report: R | None
    best_point: MapPoint | None
    best_objective: tuple[float, ...] | None
    metrics: tuple[Objective, ...]
    evaluations: int
    valid_evaluations: int
    pruned: int
    """Draws (random-pruned) rejected by the cheap checks before any evaluation."""
    elapsed_s: float
    stop_reason: str
    exhausted: bool
    """True if the exhaustive search visited every legal class."""

    @property
    def found(self) -> bool:
        return self.best_report is not None


def model_evaluator(
    arch: Architecture, problem: Problem, tables: EnergyTables, *, legacy_translation: bool = False
) -> BatchMappingEvaluator:
    """dcoc's exact model (:func:`dcoc.accel.model.evaluation.evaluate`) as an evaluator."""

    def run(mappings: Sequence[Mapping]) -> list[CostReport]:
        return [
            evaluate(arch, problem, m, tables=tables, legacy_translation=legacy_translation)
            for m in mappings
        ]

    return run


def batched_evaluator(
    arch: Architecture, problem: Problem, tables: EnergyTables, *, legacy_translation: bool = False
) -> BatchMappingEvaluator:
    """The vectorized model (:mod:`dcoc.accel.batched`, equal to :func:`evaluate` element by
    element) as an evaluator: one numpy pass per batch, then one :class:`CostReport` each."""
    from dcoc.accel.batched.evaluator import BatchEvaluator, BatchReport
    from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch

    engine = BatchEvaluator(arch, problem, legacy_translation=legacy_translation)
    hardware = HardwareBatch.from_architecture(arch, tables)
    shape = (len(arch.storage), len(problem.dimensions), len(problem.data_spaces))
    names = [ds.name for ds in problem.data_spaces]

    def run(mappings: Sequence[Mapping]) -> list[CostReport]:
        if not mappings:
            return []
        r = engine.evaluate(MappingBatch.from_mappings(mappings, *shape), hardware)
        return _reports(r, mappings)

    def _reports(r: BatchReport, mappings: Sequence[Mapping]) -> list[CostReport]:
        # plain Python numbers, converted once per batch
        valid, mapping_valid = r.valid.tolist(), r.mapping_valid.tolist()
        lv_e, lv_leak = r.level_energy_pj.tolist(), r.level_leakage_pj.tolist()
        lv_area, lv_cycles = r.level_area_um2.tolist(), r.level_cycles.tolist()
        reads, fills, updates = r.reads.tolist(), r.fills.tolist(), r.updates.tolist()
        cap, part = r.utilized_capacity.tolist(), r.partition_size.tolist()
        inst, ds_e = r.utilized_instances.tolist(), r.dataspace_energy_pj.tolist()
        cycles, computes, util = r.cycles.tolist(), r.computes.tolist(), r.utilization.tolist()
        energy, area = r.energy_pj.tolist(), r.area_um2.tolist()
        mac_e, mac_a, macs = r.mac_energy_pj.tolist(), r.mac_area_um2.tolist(), r.utilized_macs
        out = []
        for b, mapping in enumerate(mappings):
            if not valid[b]:
                why = "tiles exceed a level's capacity" if mapping_valid[b] else "factors/fanout"
                out.append(CostReport(valid=False, reasons=(f"invalid mapping ({why})",)))
                continue
            levels = tuple(
                LevelCost(
                    level.name,
                    level.instances,
                    lv_e[b][li],
                    lv_leak[b][li],
                    lv_area[b][li],
                    lv_cycles[b][li],
                    tuple(
                        DataSpaceCost(
                            name,
                            mapping.levels[li].keep[ds],
                            reads[b][li][ds],
                            fills[b][li][ds],
                            updates[b][li][ds],
                            cap[b][li][ds],
                            inst[b][li],
                            part[b][li][ds],
                            ds_e[b][li][ds],
                        )
                        for ds, name in enumerate(names)
                    ),
                )
                for li, level in enumerate(arch.storage)
            )
            out.append(
                CostReport(
                    valid=True,
                    cycles=cycles[b],
                    computes=computes[b],
                    utilization=util[b],
                    energy_pj=energy[b],
                    area_um2=area[b],
                    mac_energy_pj=mac_e[b],
                    mac_area_um2=mac_a[b],
                    utilized_macs=int(macs[b]),
                    levels=levels,
                )
            )
        return out

    return run


class _Tracker(Generic[R]):
    """Best-so-far, counters and the stopping rules shared by both strategies."""

    def __init__(
        self,
        space: MapSpace,
        evaluator: Callable[[Sequence[Mapping]], Sequence[R]],
        config: MapperConfig,
        progress: Callable[[MapperProgress], None] | None,
    ) -> None:
        self.space, self.evaluator, self.config, self.progress = space, evaluator, config, progress
        self.start = time.perf_counter()
        self.evaluations = self.valid = self.pruned = self.non_improving = 0
        self.best: tuple[tuple[float, ...], MapPoint, Mapping, R] | None = None
        self.stop_reason = ""
        self.use_victory = True
        self.top: dict[MapPoint, tuple[float, ...]] = {}
        """The ``climb_starts`` best valid points seen (canonical permutations)."""
        self.last_objectives: list[tuple[float, ...] | None] = []

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> int | None:
        b = self.config.max_evaluations
        return None if b is None else b - self.evaluations

    def should_stop(self) -> bool:
        c = self.config
        if self.stop_reason:
            return True
        if c.max_evaluations is not None and self.evaluations >= c.max_evaluations:
            self.stop_reason = f"evaluation budget of {c.max_evaluations} reached"
        elif c.timeout_s is not None and self.elapsed() >= c.timeout_s:
            self.stop_reason = f"time limit of {c.timeout_s:g} s reached"
        elif self.use_victory and c.victory_condition and self.non_improving >= c.victory_condition:
            self.stop_reason = (
                f"victory: {c.victory_condition} consecutive valid mappings did not improve"
            )
        return bool(self.stop_reason)

    def run(self, points: Sequence[MapPoint]) -> int:
        """Evaluate ``points`` (within the budget); return how many were evaluated."""
        left = self.remaining()
        if left is not None:
            points = points[: max(0, left)]
        self.last_objectives = [None] * len(points)
        if not points:
            return 0
        done = 0
        mappings = [self.space.mapping(p) for p in points]
        reports = self.evaluator(mappings)
        for p, m, r in zip(points, mappings, reports, strict=True):
            self.evaluations += 1
            done += 1
            if not r.valid:
                continue
            self.valid += 1
            obj = objective_values(r, self.config.metrics)
            self.last_objectives[done - 1] = obj
            self._remember(p, obj)
            if self.best is None or obj < self.best[0]:
                self.best = (obj, p, m, r)
                self.non_improving = 0
            else:
                self.non_improving += 1
            if (
                self.use_victory
                and self.config.victory_condition
                and self.non_improving >= self.config.victory_condition
            ):
                break
        if self.progress is not None:
            self.progress(
                MapperProgress(
                    self.evaluations,
                    self.valid,
                    self.pruned,
                    None if self.best is None else self.best[0],
                    self.elapsed(),
                )
            )
        return done

    def _remember(self, point: MapPoint, obj: tuple[float, ...]) -> None:
        k = self.config.climb_starts
        if self.config.algorithm != SearchAlgorithm.CLIMB or k <= 0:
            return
        point = self.space.canonical(point)
        if point in self.top or (len(self.top) >= k and obj >= max(self.top.values())):
            return
        self.top[point] = obj
        if len(self.top) > k:
            del self.top[max(self.top, key=self.top.__getitem__)]

    def result(self, exhausted: bool = False) -> MapperResult[R]:
        best = self.best
        return MapperResult(
            best_mapping=None if best is None else best[2],
            best_report=None if best is None else best[3],
            best_point=None if best is None else best[1],
            best_objective=None if best is None else best[0],
            metrics=self.config.metrics,
            evaluations=self.evaluations,
            valid_evaluations=self.valid,
            pruned=self.pruned,
            elapsed_s=self.elapsed(),
            stop_reason=self.stop_reason or ("mapspace exhausted" if exhausted else "stopped"),
            exhausted=exhausted,
        )


MAX_REPEATED_DRAWS = 1000
"""Random-pruned: stop drawing (permutation, bypass) choices for one factorization after this
many repeats in a row (never reached at Timeloop's default of 16 draws per visit)."""


def _random_pruned(
    space: MapSpace, t: _Tracker[R], limit: int | None = None, seed: int | None = None
) -> MapperResult[R]:
    """Random-pruned sampling; ``limit`` stops it once that many evaluations are done."""
    c = t.config
    rng = np.random.default_rng(c.seed if seed is None else seed)
    radices = [len(f) for f in space.factorizations]
    rejections = 0
    batch: list[MapPoint] = []

    def room() -> int | None:
        """Evaluations left before ``limit`` or the budget (``None``: no bound)."""
        bounds = (t.remaining(), None if limit is None else limit - t.evaluations)
        known = [b for b in bounds if b is not None]
        return min(known) if known else None

    while not t.should_stop() and (limit is None or t.evaluations < limit):
        choice = tuple(int(rng.integers(r)) for r in radices)
        f = np.array([space.factorizations[d][i] for d, i in enumerate(choice)], dtype=np.int64)
        options = space.legal_bypass_choices(f) if not space.factor_violations(f) else []
        if not options or any(not o for o in options):
            t.pruned += 1
            rejections += 1
            if rejections >= c.max_consecutive_rejections:
                t.stop_reason = (
                    f"{c.max_consecutive_rejections} consecutive draws were pruned "
                    "(no legal factorization found)"
                )
            continue
        rejections = 0
        temporal = space.temporal_of(f)
        seen: set[tuple[tuple[int, ...], tuple[bool, ...]]] = set()
        repeats = 0
        for _ in range(c.max_permutations_per_if_visit):
            left = room()
            if left is not None and len(batch) >= left:
                break  # the rest would be cut off: a huge setting must not spin here
            perms = tuple(
                space.canonical_permutation(li, int(rng.integers(n)), temporal[li])
                for li, n in enumerate(space.permutation_counts)
            )
            bits = tuple(b for lv in options for b in lv[int(rng.integers(len(lv)))])
            if (perms, bits) in seen:
                repeats += 1
                if repeats >= MAX_REPEATED_DRAWS:
                    break  # every choice of this visit is likely drawn already
                continue
            repeats = 0
            seen.add((perms, bits))
            batch.append(MapPoint(choice, perms, bits))
        space_left = room()
        if len(batch) >= c.batch_size or (space_left is not None and len(batch) >= space_left):
            t.run(batch if limit is None else batch[: max(0, limit - t.evaluations)])
            batch = []
    if batch and not t.stop_reason:
        t.run(batch if limit is None else batch[: max(0, limit - t.evaluations)])
    return t.result()


def _climb(space: MapSpace, t: _Tracker[R]) -> MapperResult[R]:
    """Rounds of: random-pruned for ``explore_fraction`` of the remaining budget (or until its
    victory condition), then steepest descent over :meth:`MapSpace.neighbors` from each of the
    round's best samples (all legal unvisited neighbours evaluated in one batch, the best taken
    while it improves). Rounds repeat while budget or time remains; without either, one round."""
    c = t.config
    visited: set[MapPoint] = set()
    seed_step = 0
    while True:
        left = t.remaining()
        limit = None if left is None else t.evaluations + max(1, int(left * c.explore_fraction))
        # each round's sampling has its own victory count: carried over from the last round's
        # climb it would end this round's sampling before it drew a point, and every later
        # round's too (the search looped without evaluating)
        t.use_victory, t.top, t.non_improving = True, {}, 0
        _random_pruned(space, t, limit, seed=c.seed + seed_step)
        seed_step += 1
        if t.stop_reason and not t.stop_reason.startswith("victory"):
            return t.result()
        t.stop_reason, t.use_victory = "", False
        visited.update(t.top)
        for start, start_obj in sorted(t.top.items(), key=lambda kv: kv[1]):
            current, current_obj = start, start_obj
            while not t.should_stop():
                candidates = [
                    n
                    for n in space.neighbors(current)
                    if n not in visited and not space.violations(n)
                ]
                visited.update(candidates)
                if not candidates:
                    break
                t.run(candidates)
                scored = [
                    (obj, n)
                    for obj, n in zip(t.last_objectives, candidates, strict=False)
                    if obj is not None
                ]
                if not scored:
                    break
                obj, n = min(scored, key=lambda on: on[0])
                if obj >= current_obj:
                    break
                current, current_obj = n, obj
            if t.should_stop():
                return t.result()
        if c.max_evaluations is None and c.timeout_s is None:
            t.stop_reason = "local optima of every start reached"
            return t.result()


def _exhaustive(space: MapSpace, t: _Tracker[R]) -> MapperResult[R]:
    batch: list[MapPoint] = []
    for point in space.enumerate_legal():
        batch.append(point)
        if len(batch) >= t.config.batch_size:
            done = t.run(batch)
            if done < len(batch) or t.should_stop():
                t.should_stop()
                return t.result()
            batch = []
    exhausted = t.run(batch) == len(batch)
    if not exhausted:
        t.should_stop()
    return t.result(exhausted=exhausted)


def search_mapspace(
    space: MapSpace,
    evaluator: Callable[[Sequence[Mapping]], Sequence[R]],
    config: MapperConfig = MapperConfig(),
    *,
    progress: Callable[[MapperProgress], None] | None = None,
) -> MapperResult[R]:
    """Search ``space`` with ``config.algorithm``; ``progress`` is called after every batch."""
    tracker = _Tracker(space, evaluator, config, progress)
    if config.algorithm == SearchAlgorithm.EXHAUSTIVE:
        result = _exhaustive(space, tracker)
    elif config.algorithm == SearchAlgorithm.CLIMB:
        result = _climb(space, tracker)
    else:
        result = _random_pruned(space, tracker)
    logger.debug(
        "mapper %s: %d evaluations (%d valid), %d pruned, %.2f s: %s",
        config.algorithm,
        result.evaluations,
        result.valid_evaluations,
        result.pruned,
        result.elapsed_s,
        result.stop_reason,
    )
    return result
