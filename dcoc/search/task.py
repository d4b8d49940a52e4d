"""The search interface: a co-design task, its one evaluation counter, and the searcher protocol.

Every co-design method (random, GA, SA, TPE, nevergrad, decoupled, MCTS, the RL agents) is a
:class:`Searcher`: ``searcher.search(task)`` with the collaborators passed in, in the manner of
mctx's search functions. The task holds the co-design space (one hardware configuration, one
mapping per layer: :class:`~dcoc.search.codesign_space.CoDesignSpace`), the objective, the
budget, the random generator and the records. In-process searchers propose
:class:`DesignProposal` batches to :meth:`SearchTask.evaluate` and are told a
:class:`DesignOutcome` per proposal (MetaSchedule's generate/notify pair as one call).

The budget is counted in *layer-mapping evaluations*: every call of the accelerator model is
one, valid or not. :meth:`SearchTask.evaluate` stops evaluating when the budget is spent (a
proposal cut short comes back incomplete) and writes every evaluation to the records (method,
seed, the hardware configuration, the mapping as Timeloop YAML, the cost). Ranking candidates
with a critic or a surrogate without calling the model is free.

A design is valid if the model accepts every mapping and the hardware fits the area budget; the
task's :attr:`~SearchTask.best` is the best complete design seen (per hardware configuration the
best mapping of each layer, :class:`~dcoc.search.network_best.NetworkBest`).

A task given ``replay`` (the records of an interrupted run of the same seeded search, in order)
resumes it: its first ``len(replay)`` evaluations must be those records, design and numbers
(they are checked, not written again), so the searcher reaches the state it had when it was
killed and goes on from there; anything else is a :class:`ReplayMismatchError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dcoc.accel.mapping import Mapping
from dcoc.accel.report import CostSummary
from dcoc.accel.spec.mapping import mapping_to_yaml
from dcoc.objective import Objective
from dcoc.records import (
    CandidateRecord,
    RecordsDB,
    ReplayMismatchError,
    TargetKind,
    design_json,
)
from dcoc.search.codesign_space import CoDesignSpace, HardwareContext
from dcoc.search.network_best import BestCoDesign, LayerChoice, NetworkBest

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LayerProposal:
    """One layer's mapping: vocabulary actions (decoded by the space) or a ready mapping."""

    layer: int
    tile: tuple[int, ...] = ()
    order: tuple[int, ...] = ()
    mapping: Mapping | None = None
    """Given (a mapper's result): evaluated as it is; ``tile``/``order`` may be empty."""


@dataclass(frozen=True)
class DesignProposal:
    """A hardware configuration (knob indices) and mappings for some or all layers."""

    hw: tuple[int, ...]
    layers: tuple[LayerProposal, ...]


@dataclass(frozen=True)
class LayerOutcome:
    layer: int
    valid: bool
    cycles: int
    energy_pj: float
    objective: float
    """The layer objective (``inf`` if invalid)."""
    mapping: Mapping

    @property
    def edp(self) -> float:
        """Energy-delay product in pJ x cycles (as :attr:`~dcoc.accel.report.CostReport.edp`)."""
        return self.energy_pj * self.cycles


@dataclass(frozen=True)
class DesignOutcome:
    """What the model said of one proposal (only the layers it evaluated)."""

    proposal: DesignProposal
    layers: tuple[LayerOutcome, ...]
    fits_budget: bool
    area_um2: float
    complete: bool
    """Every layer of the network evaluated, all valid, the hardware within the area budget."""
    cycles: float
    """Network cycles (``count x cycles`` summed over the evaluated layers)."""
    energy_pj: float
    objective: float
    """The network objective of this proposal alone (``inf`` unless complete and within the
    energy budget)."""


class Searcher(Protocol):
    """A co-design search method: spends ``task``'s budget through ``task.evaluate``."""

    def search(self, task: SearchTask) -> None: ...


class SearchTask:
    """One search: the space, the objective, the budget, the records, the random generator."""

    def __init__(
        self,
        space: CoDesignSpace,
        counts: Sequence[int],
        keys: Sequence[str],
        *,
        budget: int,
        method: str,
        workload: str | None = None,
        seed: int = 0,
        objective: Objective | str = "edp",
        energy_budget_pj: float | None = None,
        records: RecordsDB | None = None,
        progress: Progress | None = None,
        progress_every_s: float = 10.0,
        replay: Sequence[CandidateRecord] = (),
    ) -> None:
        if len(counts) != len(space.layers) or len(keys) != len(space.layers):
            raise ValueError("give one count and one key per layer of the space")
        if replay and records is None:
            raise ValueError("replay needs the records it came from")
        self.space = space
        self.counts = tuple(int(c) for c in counts)
        self.keys = tuple(keys)
        self.budget = int(budget)
        self.method = method
        self.workload = workload if workload is not None else ",".join(self.keys)
        """The layer set as the user named it (``resnet18.vta``, a layer-set file)."""
        self.seed = seed
        self.objective = Objective.parse(objective)
        self.energy_budget_pj = energy_budget_pj
        self.records = records
        if records is not None:
            for key, layer in zip(self.keys, space.layers, strict=True):
                records.add_workload(
                    key,
                    {
                        "name": layer.name,
                        "macs": layer.macs,
                        "count": layer.count,
                        "design_space": space.design_space.file,
                    },
                )
        self.rng = np.random.default_rng(seed)
        self.evaluations = 0
        self.failed = 0
        self.curve: list[float] = []
        """Best network objective after each evaluation (``inf`` before a complete design)."""
        self._network = NetworkBest(
            self.counts, objective=objective, energy_budget_pj=energy_budget_pj
        )
        self._replay = tuple(replay)
        self._progress = progress
        self._progress_every_s = progress_every_s
        self._last_progress = time.perf_counter()
        self.started = time.perf_counter()

    # -- state -----------------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        return max(0, self.budget - self.evaluations)

    @property
    def exhausted(self) -> bool:
        return self.evaluations >= self.budget

    @property
    def best(self) -> BestCoDesign | None:
        return self._network.best

    @property
    def best_objective(self) -> float:
        best = self._network.best
        return math.inf if best is None else best.objective

    @property
    def num_layers(self) -> int:
        return len(self.space.layers)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, proposals: Sequence[DesignProposal]) -> list[DesignOutcome]:
        """Evaluate the proposals in order until the budget is spent; one outcome each for
        the proposals that got at least one evaluation (the last may be incomplete).

        The mappings are decoded first and evaluated together (:meth:`CoDesignSpace.summaries`:
        many mappings of one layer on designs of one template take the batched engine), then
        counted and recorded in proposal order, as if one at a time."""
        space = self.space
        planned: list[tuple[DesignProposal, HardwareContext, list[tuple[LayerProposal, Mapping]]]]
        planned = []
        left = self.remaining
        for proposal in proposals:
            if left <= 0:
                break
            ctx = space.hardware_context(proposal.hw)
            layers = []
            for lp in proposal.layers[:left]:
                mapping = lp.mapping
                if mapping is None:
                    mapping = space.decode(ctx, lp.layer, lp.tile, lp.order)
                layers.append((lp, mapping))
            left -= len(layers)
            planned.append((proposal, ctx, layers))
        summaries = iter(
            space.summaries([(ctx, lp.layer, m) for _, ctx, layers in planned for lp, m in layers])
        )
        outcomes = [
            self._outcome(
                proposal,
                ctx,
                [self._count(ctx, lp, m, next(summaries)) for lp, m in layers],
            )
            for proposal, ctx, layers in planned
        ]
        if self.records is not None:
            self.records.commit()
        return outcomes

    def _outcome(
        self, proposal: DesignProposal, ctx: HardwareContext, results: list[LayerOutcome]
    ) -> DesignOutcome:
        done = {r.layer for r in results}
        valid = all(r.valid for r in results)
        complete = valid and ctx.fits_budget and done == set(range(self.num_layers))
        cycles = float(sum(self.counts[r.layer] * r.cycles for r in results))
        energy = float(sum(self.counts[r.layer] * r.energy_pj for r in results))
        within = self.energy_budget_pj is None or energy <= self.energy_budget_pj
        value = self.objective.of(cycles, energy) if complete and within else math.inf
        return DesignOutcome(
            proposal, tuple(results), ctx.fits_budget, ctx.area_um2, complete, cycles, energy, value
        )

    def _count(
        self, ctx: HardwareContext, lp: LayerProposal, mapping: Mapping, summary: CostSummary
    ) -> LayerOutcome:
        valid = summary.valid and ctx.fits_budget
        value = self.objective.of(summary.cycles, summary.energy_pj) if valid else math.inf
        record_id = self.evaluations
        if self.records is not None:
            record = self._record(ctx, lp, mapping, summary, valid)
            if self.evaluations < len(self._replay):
                record_id = self._replayed(self._replay[self.evaluations], record)
            else:
                record_id = self.records.add(record, commit=False)
        self.evaluations += 1
        if valid:
            self._network.add(
                ctx.indices,
                ctx.config.as_dict(),
                ctx.area_um2,
                lp.layer,
                LayerChoice(record_id, value, summary.cycles, summary.energy_pj, lp.tile, lp.order),
            )
        else:
            self.failed += 1
        self.curve.append(self.best_objective)
        self._maybe_report()
        return LayerOutcome(lp.layer, valid, summary.cycles, summary.energy_pj, value, mapping)

    def _record(
        self,
        ctx: HardwareContext,
        lp: LayerProposal,
        mapping: Mapping,
        summary: CostSummary,
        valid: bool,
    ) -> CandidateRecord:
        problem = self.space.problems[lp.layer]
        reasons = []
        if not summary.valid:
            reasons.append("the model rejects the mapping (capacity, fanout or factors)")
        if not ctx.fits_budget:
            reasons.append(
                f"area {ctx.area_um2:.4g} um^2 exceeds the budget "
                f"{self.space.area_budget_um2:.4g} um^2"
            )
        return CandidateRecord(
            target=TargetKind.ACCEL,
            workload=self.keys[lp.layer],
            method=self.method,
            trial=self.evaluations,
            design={
                "hw": ctx.config.as_dict(),
                "hw_action": list(ctx.indices),
                "layer": self.space.layers[lp.layer].name,
                "layer_index": lp.layer,
                "tile_action": list(lp.tile),
                "order_action": list(lp.order),
                "mapping": mapping_to_yaml(mapping, ctx.arch, problem),
                "seed": self.seed,
            },
            valid=valid,
            verified=valid,
            error="; ".join(reasons) or None,
            cycles=int(summary.cycles) if summary.valid else None,
            energy_pj=float(summary.energy_pj) if summary.valid else None,
            area_um2=float(ctx.area_um2),
            edp=float(summary.edp) if summary.valid else None,
            metrics={"utilization": float(summary.utilization)},
        )

    @property
    def replayed(self) -> int:
        """Evaluations read back from the interrupted run's records (0 for a fresh run)."""
        return min(self.evaluations, len(self._replay))

    def _replayed(self, stored: CandidateRecord, record: CandidateRecord) -> int:
        """The id of ``stored``, which must be ``record`` (the same evaluation)."""
        for what, a, b in (
            ("method", stored.method, record.method),
            ("layer", stored.workload, record.workload),
            ("design", design_json(stored.design), design_json(record.design)),
            ("valid", stored.valid, record.valid),
            ("cycles", stored.cycles, record.cycles),
            ("energy", stored.energy_pj, record.energy_pj),
        ):
            if a != b:
                raise ReplayMismatchError(
                    f"cannot resume: evaluation {self.evaluations + 1} of this search differs "
                    f"from the records in its {what} (the code, the inputs or the seed changed "
                    "since the run started); start a new run directory"
                )
        assert stored.id is not None
        return stored.id

    def _maybe_report(self) -> None:
        if self._progress is None:
            return
        now = time.perf_counter()
        if now - self._last_progress < self._progress_every_s and not self.exhausted:
            return
        self._last_progress = now
        best = self.best_objective
        self._progress(
            f"[{self.method} seed {self.seed}] {self.evaluations}/{self.budget} evaluations, "
            f"best {self.objective} {'none' if math.isinf(best) else f'{best:.4g}'}, "
            f"{self.failed} failed, {now - self.started:.0f} s"
        )
