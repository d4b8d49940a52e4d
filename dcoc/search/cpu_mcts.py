"""Monte Carlo tree search over TVM CPU schedules: the cost model ranks, few are measured.

The tree search is :func:`dcoc.search.mcts.search` with these collaborators:

* states are design points (a sketch and its MetaSchedule decisions), transformations
  :class:`~dcoc.search.schedule_moves.ScheduleMove` from a proposer by name (``heuristic``,
  ``random``: :mod:`dcoc.search.schedule_moves`; ``llm``:
  :mod:`dcoc.search.schedule_llm_proposer`);
* rollouts are scored without measuring (:class:`PredictedScore`): by the free analytical
  prior (:class:`~dcoc.search.schedule_moves.SchedulePrior`) until MetaSchedule's XGBoost
  model trained online on this search's measurements
  (:class:`~dcoc.tvm.cost_model.ScheduleCostModel`) holds
  :attr:`~dcoc.search.cpu_trials.CpuMctsSettings.min_model_samples` of them, then by the
  model's predicted throughput times the prior (the model ranks; the prior, in (0, 1], keeps
  a model trained on a few dozen measurements from straying into schedules it penalizes).

The search runs in rounds until ``config.trials`` candidates are measured. Each round grows a
tree of ``simulations`` simulations from the incumbent (the fastest measured schedule; in the
first round the best of ``root_draws`` random points by the prior), then builds, runs and
verifies the ``measure_per_round`` schedules with the highest predicted score that were not
measured before, records them, and trains the model on them. Only those are trials: the
predictions are free.

Every state a tree reaches remembers the state and move it was first reached from
(:class:`Origins`), so at the end the path from the first root to the fastest measured schedule
goes to the records (:meth:`~dcoc.records.RecordsDB.add_search_path`): each move, who proposed
it (the LLM, or the heuristic at an expansion it was or was not asked about) and the measured
latency after it where that state was measured; ``python -m dcoc.search explain RUN_DIR``
reads it with the LLM calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dcoc.llm.settings import build_backend
from dcoc.records import RecordsDB, SearchPathRecord
from dcoc.search.cpu_trials import (
    CpuSearchConfig,
    Progress,
    candidate_record,
    design_of,
    progress_line,
)
from dcoc.search.llm_proposer import LlmLog, LlmProposerSettings
from dcoc.search.mcts import MctsSettings, search
from dcoc.search.schedule_llm_proposer import (
    CPU_LLM_CALLS,
    CPU_LLM_EVERY,
    ScheduleLlmProposer,
)
from dcoc.search.schedule_moves import (
    ScheduleMove,
    ScheduleMoves,
    SchedulePrior,
    ScheduleProposer,
    apply_move,
    build_schedule_proposer,
)
from dcoc.tvm.cost_model import ScheduleCostModel
from dcoc.tvm.design_space import (
    DesignPoint,
    DesignSpace,
    IllegalDecisionError,
    PostprocRejectedError,
)
from dcoc.tvm.measure import ErrorKind, MeasureInput, Measurer, MeasureResult
from dcoc.tvm.target import vector_bits
from dcoc.tvm.traces import trace_to_json


@dataclass
class PredictedScore:
    """The rollout scorer: the prior, or the cost model's prediction times the prior; cached
    per round."""

    space: DesignSpace
    prior: SchedulePrior
    model: ScheduleCostModel
    use_model: bool
    scores: dict[DesignPoint, float] = field(default_factory=dict)
    """Every point scored this round (``-inf``: TVM rejects its decisions)."""

    def __call__(self, point: DesignPoint) -> float:
        if point in self.scores:
            return self.scores[point]
        if not self.use_model:
            value = self.prior(point)
        else:
            try:
                value = float(self.model.predict([self.space.apply(point)])[0]) * self.prior(point)
            except (IllegalDecisionError, PostprocRejectedError):
                value = -math.inf
        self.scores[point] = value
        return value


@dataclass
class Origins:
    """The state and move each state was first reached from (roots have none)."""

    roots: set[DesignPoint] = field(default_factory=set)
    parents: dict[DesignPoint, tuple[DesignPoint, ScheduleMove]] = field(default_factory=dict)

    def apply(self, point: DesignPoint, move: ScheduleMove) -> DesignPoint:
        """:func:`~dcoc.search.schedule_moves.apply_move`, remembering where the result came
        from the first time it is reached."""
        child = apply_move(point, move)
        if child != point and child not in self.parents and child not in self.roots:
            self.parents[child] = (point, move)
        return child

    def path(
        self, point: DesignPoint
    ) -> tuple[DesignPoint, list[tuple[DesignPoint, ScheduleMove]]]:
        """The root ``point`` descends from and the (state, move) steps from it to ``point``.
        Each entry points to a state reached earlier, so the walk ends."""
        steps: list[tuple[DesignPoint, ScheduleMove]] = []
        seen = {point}
        while point in self.parents:
            parent, move = self.parents[point]
            if parent in seen:
                break
            steps.append((parent, move))
            seen.add(parent)
            point = parent
        return point, steps[::-1]


def _root(
    space: DesignSpace, prior: SchedulePrior, draws: int, rng: np.random.Generator
) -> DesignPoint:
    points = [space.random_point(rng) for _ in range(draws)]
    return max(points, key=prior)


def mcts_search(
    config: CpuSearchConfig,
    space: DesignSpace,
    measurer: Measurer,
    records: RecordsDB,
    progress: Progress,
) -> None:
    """Measure up to ``config.trials`` schedules chosen by the tree search (module docstring)."""
    settings = config.mcts
    rng = np.random.default_rng(config.seed)
    prior = SchedulePrior(space, vector_bits(space.target))
    moves = ScheduleMoves(space)
    measured: dict[DesignPoint, float | None] = {}
    proposer: ScheduleProposer | ScheduleLlmProposer
    if config.proposer == "llm":
        llm = config.llm or LlmProposerSettings(calls=CPU_LLM_CALLS, every=CPU_LLM_EVERY)
        proposer = ScheduleLlmProposer(
            moves,
            prior,
            build_backend(llm.llm),
            llm,
            measured=measured.get,
            log=LlmLog(records, str(config.method), config.seed, lambda: len(measured)),
        )
    else:
        proposer = build_schedule_proposer(config.proposer, moves, prior)
    model = ScheduleCostModel(space.mod, space.target, seed=config.seed)
    tree_settings = MctsSettings(
        branching=settings.branching,
        exploration=settings.exploration,
        rollout_depth=settings.rollout_depth,
        num_simulations=settings.simulations,
        reroot_every=settings.reroot_every,
    )
    incumbent = _root(space, prior, settings.root_draws, rng)
    origins = Origins(roots={incumbent})
    trial = simulations = 0
    while trial < config.trials:
        scorer = PredictedScore(
            space, prior, model, use_model=model.samples >= settings.min_model_samples
        )
        tree = search(
            incumbent, tree_settings, proposer=proposer, apply=origins.apply, score=scorer, rng=rng
        )
        simulations += tree.simulations
        ranked = sorted(
            (p for p, v in scorer.scores.items() if p not in measured and v > -math.inf),
            key=lambda p: -scorer.scores[p],
        )
        picks = ranked[: min(settings.measure_per_round, config.trials - trial)]
        if not picks:  # the round found nothing new: climb elsewhere
            incumbent = space.random_point(rng)
            if incumbent not in origins.parents:
                origins.roots.add(incumbent)
            picks = [incumbent] if incumbent not in measured else []
            if not picks:
                continue
        trial = _measure(config, space, measurer, records, model, measured, picks, scorer, trial)
        valid = [(t, p) for p, t in measured.items() if t is not None]
        if valid:
            incumbent = min(valid, key=lambda tp: tp[0])[1]
        asked = ""
        if isinstance(proposer, ScheduleLlmProposer):
            stats = proposer.stats
            asked = f", LLM {stats.calls} calls ({stats.fallbacks} fell back)"
        progress(
            progress_line(config, records, config.method, trial)
            + f", model on {model.samples} measurements"
            + ("" if scorer.use_model else " (prior ranked this round)")
            + asked
        )
    path = search_path(config, space, origins, measured, proposer, simulations)
    if path is not None:
        records.add_search_path(path)


def search_path(
    config: CpuSearchConfig,
    space: DesignSpace,
    origins: Origins,
    measured: dict[DesignPoint, float | None],
    proposer: ScheduleProposer | ScheduleLlmProposer,
    simulations: int,
) -> SearchPathRecord | None:
    """The path from the first root to the fastest measured schedule (``None``: none ran)."""
    valid = [(p, t) for p, t in measured.items() if t is not None]
    if not valid:
        return None
    best, latency = min(valid, key=lambda pt: pt[1])
    root, moves = origins.path(best)
    steps = []
    for parent, move in moves:
        source, call = config.proposer, None
        if isinstance(proposer, ScheduleLlmProposer):
            provenance = proposer.provenance(parent, move)
            source = "heuristic" if provenance is None else provenance.source
            call = None if provenance is None else provenance.call
        after = apply_move(parent, move)
        steps.append(
            {
                "text": move.description,
                "kind": "sketch" if move.slot is None else "decision",
                "slot": move.slot,
                "point": after.to_json(),
                "source": source,
                "llm_call": call,
                "objective": measured.get(after),
            }
        )
    return SearchPathRecord(
        method=str(config.method),
        seed=config.seed,
        value=-math.log(latency),
        design={
            "objective": "latency_s",
            "proposer": config.proposer,
            "workload": config.workload,
            "simulations": simulations,
            "best": design_of(space, best),
            "best_objective": latency,
            "root": design_of(space, root),
            "root_objective": measured.get(root),
        },
        steps=tuple(steps),
    )


def _measure(
    config: CpuSearchConfig,
    space: DesignSpace,
    measurer: Measurer,
    records: RecordsDB,
    model: ScheduleCostModel,
    measured: dict[DesignPoint, float | None],
    picks: list[DesignPoint],
    scorer: PredictedScore,
    trial: int,
) -> int:
    """Build, run and record ``picks``; train the model on them; the next trial number."""
    inputs: list[MeasureInput] = []
    pending: list[tuple[int, DesignPoint, dict[str, Any]]] = []
    schedules = []
    for point in picks:
        design = {
            **design_of(space, point),
            "proposer": config.proposer,
            "predicted": scorer.scores.get(point),
            "ranked_by": "cost_model" if scorer.use_model else "prior",
        }
        try:
            sch = space.apply(point)
        except (IllegalDecisionError, PostprocRejectedError) as error:
            result = MeasureResult(error_kind=ErrorKind.SCHEDULE_ERROR, error=str(error))
            records.add(candidate_record(config, config.method, trial, design, result, None))
            measured[point] = None
            trial += 1
            continue
        inputs.append(MeasureInput.from_schedule(sch, space.spec))
        pending.append((trial, point, design))
        schedules.append(sch)
        trial += 1
    latencies: list[float | None] = [None] * len(inputs)
    for i, result in measurer.measure_iter(inputs):
        index, point, design = pending[i]
        trace = trace_to_json(schedules[i].trace)
        records.add(candidate_record(config, config.method, index, design, result, trace))
        measured[point] = result.latency_s if result.valid else None
        latencies[i] = measured[point]
    model.update(schedules, latencies)
    return trial
