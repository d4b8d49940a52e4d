"""The LLM proposer of TVM CPU schedules: a language model picks an expansion's transformations
from a numbered list of legal ones (REASONING COMPILER's expansion step, on MetaSchedule's
decisions).

At the expansion of a tree's root (each round's tree and each re-rooted one: the
transformations of the incumbent) that the budget allows
(:class:`~dcoc.search.llm_proposer.LlmProposerSettings`: at most ``calls`` questions per
search, one at every ``every``-th root expansion; :data:`CPU_LLM_EVERY`), the proposer lists
the heuristic proposer's local moves (best first by the analytical prior) and ``extra`` random
jumps, and asks the model with the hierarchical context (:func:`schedule_prompt`): the
workload, the current schedule's tiles and score (measured latency when it was measured, else
the cost model's or the prior's predicted throughput), its parent and grandparent with their
scores and the transformations between them, and the numbered candidates with what the prior
reads in each (vector lanes used, register accumulators). The answer is constrained to
``{"picks": [...]}`` (:func:`~dcoc.llm.asking.ask_for_picks`); the picks come first, then the
heuristic's other proposals. An answer that is not kept falls back to the heuristic's proposals
and is counted with its reason (:class:`~dcoc.search.llm_proposer.LlmStats`). Every question
goes to the run's records (:meth:`~dcoc.records.RecordsDB.add_llm_call`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from dcoc.llm.asking import ask_for_picks
from dcoc.llm.backend import Backend, Verdict
from dcoc.llm.choice_format import ChoiceFormat
from dcoc.records import LlmCallRecord
from dcoc.search.llm_proposer import (
    PROVENANCE_ENTRIES,
    LlmLog,
    LlmProposerSettings,
    LlmStats,
    Provenance,
)
from dcoc.search.mcts import Lineage
from dcoc.search.schedule_moves import (
    HeuristicScheduleProposer,
    RandomScheduleProposer,
    ScheduleMove,
    ScheduleMoves,
    SchedulePrior,
    apply_move,
)
from dcoc.tvm.design_space import DesignPoint, SlotKind

SYSTEM = (
    "You are an expert in optimizing tensor programs for CPUs (loop tiling, SIMD "
    "vectorization, register blocking, cache locality, unrolling). You choose which schedule "
    "transformations to try next in a tree search that minimizes the program's latency. "
    'Answer only with a JSON object {"picks": [numbers]}: numbers from the list of legal '
    "transformations, the most promising first."
)
HISTORY_STEPS = 6
CPU_LLM_CALLS = 32
CPU_LLM_EVERY = 4
"""The CPU search's defaults: a question at every 4th root expansion (about one per round of
the default :class:`~dcoc.search.cpu_trials.CpuMctsSettings`), 32 at most (a small embedded
model answers in seconds, about as long as a measurement)."""

ScheduleLineage = Lineage[DesignPoint, ScheduleMove]
MeasuredLatency = Callable[[DesignPoint], float | None]
"""The measured latency of a schedule in seconds, ``None`` if it was not measured."""


class ScheduleLlmProposer:
    """See the module docstring; ``backend`` is built by the caller
    (:func:`dcoc.llm.settings.build_backend`)."""

    def __init__(
        self,
        moves: ScheduleMoves,
        prior: SchedulePrior,
        backend: Backend,
        settings: LlmProposerSettings,
        *,
        measured: MeasuredLatency,
        log: LlmLog | None = None,
    ) -> None:
        self.moves = moves
        self.prior = prior
        self.backend = backend
        self.settings = settings
        self.measured = measured
        self.log = log
        self.heuristic = HeuristicScheduleProposer(moves, prior)
        self.random = RandomScheduleProposer(moves)
        self.stats = LlmStats()
        self._provenance: dict[tuple[DesignPoint, ScheduleMove], Provenance] = {}

    def provenance(self, point: DesignPoint, move: ScheduleMove) -> Provenance | None:
        """Who proposed ``move`` of ``point`` at an expansion the model was asked about
        (``None``: the heuristic, the model not asked)."""
        return self._provenance.get((point, move))

    def propose(
        self, node: ScheduleLineage, count: int, rng: np.random.Generator
    ) -> list[ScheduleMove]:
        proposed = self.heuristic.propose(node, count, rng)
        if count <= 1 or node.parent is not None:
            return proposed
        self.stats.expansions += 1
        asked = (self.stats.expansions - 1) % self.settings.every == 0
        if not asked or self.stats.calls >= self.settings.calls or not proposed:
            return proposed
        extra = [
            m for m in self.random.propose(node, self.settings.extra, rng) if m not in proposed
        ]
        candidates = [*proposed, *extra]
        fmt = ChoiceFormat(len(candidates), count, self.settings.why_chars)
        text = schedule_prompt(
            node, candidates, len(proposed), fmt.picks_allowed, self.prior, self.measured
        )
        call = self.stats.calls
        self.stats.calls += 1
        answer = ask_for_picks(
            self.backend,
            self.settings.llm,
            system=SYSTEM,
            user=text,
            choice_format=fmt,
            seed=self.settings.llm.seed + call,
        )
        reading = answer.reading
        self.stats.verdicts[reading.verdict] += 1
        self.stats.seconds.append(answer.latency_s)
        out = proposed
        chosen: list[ScheduleMove] = []
        if reading.verdict == Verdict.KEPT:
            chosen = [candidates[i] for i in reading.picks]
            out = (chosen + [m for m in proposed if m not in chosen])[:count]
        if len(self._provenance) > PROVENANCE_ENTRIES:
            self._provenance.clear()
        for m in out:
            source = "llm" if m in chosen else "heuristic"
            self._provenance.setdefault((node.state, m), Provenance(source, call))
        log = self.log
        if log is not None and log.records is not None:
            log.records.add_llm_call(
                LlmCallRecord(
                    method=log.method,
                    seed=log.seed,
                    call=call,
                    backend=self.backend.name,
                    prompt=text,
                    answer=answer.answer,
                    latency_s=answer.latency_s,
                    verdict=str(reading.verdict),
                    detail=reading.detail or None,
                    context={
                        "evaluations": log.evaluations(),
                        "value": node.value,
                        "decisions": node.state.to_json(),
                        "candidates": [
                            {
                                "number": i + 1,
                                "text": m.description,
                                "from": "heuristic" if i < len(proposed) else "random",
                            }
                            for i, m in enumerate(candidates)
                        ],
                        "picks": [i + 1 for i in reading.picks],
                        "proposed": [m.description for m in out],
                    },
                )
            )
        return out


def _tiles(prior: SchedulePrior, point: DesignPoint) -> str:
    sketch = prior.space.sketches[point.sketch]
    parts = []
    for slot, value in zip(sketch.slots, point.decisions, strict=True):
        if slot.kind is SlotKind.PERFECT_TILE:
            parts.append(f"{slot.name}={list(value) if isinstance(value, tuple) else value}")
        elif slot.candidates is not None and isinstance(value, int):
            parts.append(f"{slot.name}={slot.candidates[value]}")
    return f"sketch {point.sketch}: " + ", ".join(parts)


def _score(node: ScheduleLineage, measured: MeasuredLatency) -> str:
    latency = measured(node.state)
    if latency is not None:
        return f"measured {latency * 1e3:.3f} ms"
    if node.value is None or not math.isfinite(node.value):
        return "not scored"
    return f"predicted throughput {node.value:.2f} (1.0 = the best measured so far)"


def schedule_prompt(
    node: ScheduleLineage,
    candidates: Sequence[ScheduleMove],
    ranked: int,
    picks: int,
    prior: SchedulePrior,
    measured: MeasuredLatency,
) -> str:
    """The question about ``node``: the hierarchical context, then the numbered candidates
    (the first ``ranked`` are the heuristic's, best first)."""
    spec = prior.spec
    dims = ", ".join(f"{d}={b}" for d, b in zip(spec.dimensions, spec.bounds, strict=True))
    lines = [
        f"Program: {spec.name} ({dims}; output dimensions {', '.join(spec.output_dimensions)}), "
        f"float32, on one CPU core with {prior.lanes}-lane SIMD. Lower latency is better.",
        "Tiles list factors outermost first: spatial loops have 4 levels (the innermost is "
        "vectorized for the last output dimension and kept in registers), reduction loops 2.",
        "",
        f"Current schedule: {_score(node, measured)}; {_tiles(prior, node.state)} "
        f"({prior.describe(node.state)}).",
    ]
    if node.transformations:
        steps = node.transformations[-HISTORY_STEPS:]
        lines.append(f"  latest transformations: {'; '.join(m.description for m in steps)}")
    ancestor, child = node.parent, node
    for label in ("Parent", "Grandparent"):
        if ancestor is None:
            break
        step = child.transformations[-1].description if child.transformations else "none"
        lines.append(
            f"{label} schedule: {_score(ancestor, measured)}; it became the "
            f"{'current' if label == 'Parent' else 'parent'} schedule by: {step}"
        )
        child, ancestor = ancestor, ancestor.parent
    random_part = f"; {ranked + 1}-{len(candidates)}: random" if ranked < len(candidates) else ""
    lines += ["", f"Legal transformations (1-{ranked}: a heuristic's ranking{random_part}):"]
    for i, move in enumerate(candidates):
        after = apply_move(node.state, move)
        lines.append(f"{i + 1}. {move.description} (then {prior.describe(after)})")
    lines += [
        "",
        f"Pick up to {picks} numbers from 1 to {len(candidates)}, the most promising first. "
        'Answer as {"picks": [...]}.',
    ]
    return "\n".join(lines)
