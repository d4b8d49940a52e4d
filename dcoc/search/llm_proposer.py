"""The LLM proposer: a language model chooses an expansion's transformations from a numbered
list of legal ones (REASONING COMPILER's expansion step, on the accelerator co-design).

At an expansion (a proposal of more than one transformation) that the budget allows
(:class:`LlmProposerSettings`: at most ``calls`` questions per search, one at every
``every``-th expansion), the proposer

1. lists candidates: the heuristic proposer's ``count`` proposals (its ranking, best first,
   with a quarter left to exploration) and ``extra`` random legal transformations;
2. asks the model (:mod:`dcoc.llm`) with the hierarchical context (:func:`prompt`): the
   current design's score, hardware and per-layer measured cost (the numbers the heuristic
   ranks with, :class:`~dcoc.search.proposers.CostLookup`), its parent and grandparent with
   their scores and the transformations between them, the transformation history, and the
   numbered candidates with the heuristic's predicted change of the objective;
3. constrains the answer to ``{"picks": [...]}``, up to ``count`` distinct numbers of the list
   (:class:`~dcoc.llm.choice_format.ChoiceFormat`: a JSON schema with an ``enum`` of the
   numbers, or the equivalent grammar), parses and validates it;
4. proposes the picks in the model's order, then the heuristic's proposals it did not pick, up
   to ``count``. Any answer that is not kept (timeout, unreachable, backend error, empty, not
   JSON, wrong shape, illegal numbers: :class:`~dcoc.llm.backend.Verdict`) falls back to the
   heuristic's proposals, and is counted with its reason (:class:`LlmStats`).

Every other proposal (rollout steps, expansions past the budget) is the heuristic's. Each
question, answer, latency and verdict goes to the run's records
(:meth:`~dcoc.records.RecordsDB.add_llm_call`), and the proposer remembers who proposed each
transformation of each state (:meth:`LlmProposer.provenance`), so the best design's path can
be explained (:mod:`dcoc.search.explain`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dcoc.llm.asking import ask_for_picks
from dcoc.llm.backend import Backend, Verdict
from dcoc.llm.choice_format import ChoiceFormat, Reading
from dcoc.llm.settings import LlmSettings
from dcoc.records import LlmCallRecord, RecordsDB
from dcoc.search.design_moves import DesignMoves, DesignState, MoveKind, Transformation
from dcoc.search.proposers import (
    CostLookup,
    DesignLineage,
    HeuristicProposer,
    LayerCost,
    RandomProposer,
)

SYSTEM = (
    "You are an expert in DNN accelerator design (Timeloop-style dataflow, buffers, PE "
    "arrays). You choose which design transformations to try next in a tree search that "
    "minimizes the network's {objective}. Answer only with a JSON object "
    '{{"picks": [numbers]}}: numbers from the list of legal transformations, the most '
    "promising first."
)
HISTORY_STEPS = 6
"""Transformations of the history shown (the latest)."""
PROVENANCE_ENTRIES = 200_000
"""Entries of the provenance map before it starts anew."""


@dataclass(frozen=True)
class LlmProposerSettings:
    """The LLM proposer's numbers and its model."""

    calls: int = 64
    """Questions to the model in one search at most (then the heuristic alone)."""
    every: int = 1
    """Ask at every ``every``-th expansion (the others: the heuristic)."""
    extra: int = 4
    """Random legal transformations listed besides the heuristic's proposals."""
    why_chars: int = 0
    """Length of a ``why`` the answer also gives (0: picks only, the fastest)."""
    llm: LlmSettings = field(default_factory=LlmSettings.from_env)

    def __post_init__(self) -> None:
        if self.calls < 0 or self.every < 1 or self.extra < 0 or self.why_chars < 0:
            raise ValueError("calls >= 0, every >= 1, extra >= 0 and why_chars >= 0")


@dataclass(frozen=True)
class Provenance:
    """Who proposed one transformation of one state."""

    source: str
    """``llm`` (the model picked it), ``heuristic`` (listed by the heuristic, the model not
    asked, failed or not picking it), ``rollout`` (a rollout step, heuristic)."""
    call: int | None = None
    """The LLM call that was asked about this expansion (``None``: none)."""


@dataclass
class LlmStats:
    """What the model was asked and what became of it, in one search."""

    expansions: int = 0
    calls: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.verdicts[Verdict.KEPT]

    @property
    def fallbacks(self) -> int:
        return self.calls - self.kept

    def add(self, call: LlmCallRecord) -> None:
        """Count one recorded call."""
        self.calls += 1
        self.verdicts[call.verdict] += 1
        self.seconds.append(call.latency_s)

    @classmethod
    def of(cls, calls: Iterable[LlmCallRecord]) -> LlmStats:
        """The tally of recorded calls (a finished run's, read from its records)."""
        stats = cls()
        for call in calls:
            stats.add(call)
        return stats


@dataclass
class LlmLog:
    """Where the calls go: the run's records, with the search's method and seed."""

    records: RecordsDB | None
    method: str
    seed: int
    evaluations: Callable[[], int] = lambda: 0
    """The search's evaluations so far (stored with each call)."""


class LlmProposer:
    """See the module docstring; ``backend`` is built by the caller
    (:func:`dcoc.llm.settings.build_backend`)."""

    def __init__(
        self,
        moves: DesignMoves,
        costs: CostLookup,
        backend: Backend,
        settings: LlmProposerSettings,
        *,
        objective: str = "edp",
        counts: tuple[int, ...] = (),
        log: LlmLog | None = None,
    ) -> None:
        self.moves = moves
        self.costs = costs
        self.backend = backend
        self.settings = settings
        self.objective = objective
        self.counts = counts or (1,) * len(moves.space.layers)
        self.log = log
        self.heuristic = HeuristicProposer(moves, costs, objective=objective, counts=counts)
        self.random = RandomProposer(moves)
        self.stats = LlmStats()
        self._provenance: dict[tuple[DesignState, Transformation], Provenance] = {}

    # -- the Proposer protocol ---------------------------------------------------------------
    def propose(
        self, node: DesignLineage, count: int, rng: np.random.Generator
    ) -> list[Transformation]:
        proposed = self.heuristic.propose(node, count, rng)
        if count <= 1:
            self._note(node.state, proposed, Provenance("rollout"))
            return proposed
        self.stats.expansions += 1
        asked = (self.stats.expansions - 1) % self.settings.every == 0
        if not asked or self.stats.calls >= self.settings.calls or not proposed:
            self._note(node.state, proposed, Provenance("heuristic"))
            return proposed
        extra = [
            t for t in self.random.propose(node, self.settings.extra, rng) if t not in proposed
        ]
        candidates = [*proposed, *extra]
        call = self.stats.calls
        reading, picked = self._ask(node, candidates, len(proposed), count)
        if reading.verdict == Verdict.KEPT:
            chosen = [candidates[i] for i in reading.picks]
            out = (chosen + [t for t in proposed if t not in chosen])[:count]
            self._note(node.state, chosen, Provenance("llm", call))
            self._note(node.state, out, Provenance("heuristic", call))
        else:
            out = proposed
            self._note(node.state, out, Provenance("heuristic", call))
        self._record(node, candidates, len(proposed), reading, picked, out, call)
        return out

    def provenance(self, state: DesignState, move: Transformation) -> Provenance | None:
        """Who proposed ``move`` of ``state`` (``None``: never proposed by this proposer, or
        forgotten)."""
        return self._provenance.get((state, move))

    # -- asking -------------------------------------------------------------------------------
    def _ask(
        self,
        node: DesignLineage,
        candidates: Sequence[Transformation],
        ranked: int,
        count: int,
    ) -> tuple[Reading, tuple[str | None, float, str]]:
        """The model's reading of ``candidates`` and (answer text, latency, prompt)."""
        fmt = ChoiceFormat(len(candidates), count, self.settings.why_chars)
        text = prompt(
            node,
            candidates,
            ranked,
            fmt.picks_allowed,
            moves=self.moves,
            costs=self.costs,
            heuristic=self.heuristic,
            counts=self.counts,
            objective=self.objective,
        )
        self.stats.calls += 1
        asked = ask_for_picks(
            self.backend,
            self.settings.llm,
            system=SYSTEM.format(objective=_objective_name(self.objective)),
            user=text,
            choice_format=fmt,
            seed=self.settings.llm.seed + self.stats.calls - 1,
        )
        reading, answer, latency = asked.reading, asked.answer, asked.latency_s
        self.stats.verdicts[reading.verdict] += 1
        self.stats.seconds.append(latency)
        return reading, (answer, latency, text)

    def _record(
        self,
        node: DesignLineage,
        candidates: Sequence[Transformation],
        ranked: int,
        reading: Reading,
        asked: tuple[str | None, float, str],
        out: Sequence[Transformation],
        call: int,
    ) -> None:
        log = self.log
        if log is None or log.records is None:
            return
        answer, latency, text = asked
        costs = self.costs.layer_costs(node.state)
        listed = []
        for i, t in enumerate(candidates):
            change = (
                None if costs is None else self.heuristic.predicted_change(node.state, costs, t)
            )
            listed.append(
                {
                    "number": i + 1,
                    "text": str(t),
                    "kind": str(t.kind),
                    "layer": t.layer,
                    "position": t.position,
                    "value": t.value,
                    "from": "heuristic" if i < ranked else "random",
                    "predicted_change": change,
                }
            )
        context = {
            "evaluations": log.evaluations(),
            "value": node.value,
            "hw_action": list(node.state.hw),
            "path_length": len(node.transformations),
            "history": [str(t) for t in node.transformations[-HISTORY_STEPS:]],
            "candidates": listed,
            "picks": [i + 1 for i in reading.picks],
            "proposed": [str(t) for t in out],
            "why": reading.why,
        }
        log.records.add_llm_call(
            LlmCallRecord(
                method=log.method,
                seed=log.seed,
                call=call,
                backend=self.backend.name,
                prompt=text,
                answer=answer,
                latency_s=latency,
                verdict=str(reading.verdict),
                detail=reading.detail or None,
                context=context,
            )
        )

    def _note(
        self, state: DesignState, moves: Sequence[Transformation], provenance: Provenance
    ) -> None:
        if len(self._provenance) > PROVENANCE_ENTRIES:
            self._provenance.clear()
        for t in moves:
            self._provenance.setdefault((state, t), provenance)


# -- the prompt ---------------------------------------------------------------------------------
def prompt(
    node: DesignLineage,
    candidates: Sequence[Transformation],
    ranked: int,
    picks: int,
    *,
    moves: DesignMoves,
    costs: CostLookup,
    heuristic: HeuristicProposer,
    counts: Sequence[int],
    objective: str,
) -> str:
    """The question about ``node``: the hierarchical context, then the numbered candidates
    (the first ``ranked`` are the heuristic's, best first)."""
    space = moves.space
    name = _objective_name(objective)
    state = node.state
    layer_costs = costs.layer_costs(state)
    lines = [
        f"Network: {len(space.layers)} layers "
        f"({', '.join(f'{n}x {layer.name}' for n, layer in zip(counts, space.layers, strict=True))}"
        f"). Lower {name} is better.",
        "",
        f"Current design: {_score(node.value, objective)}, "
        f"{len(node.transformations)} transformations from a random start.",
        f"  hardware: {_hardware(moves, state)}",
    ]
    if node.transformations:
        steps = node.transformations[-HISTORY_STEPS:]
        lines.append(f"  latest transformations: {'; '.join(str(t) for t in steps)}")
    if layer_costs is not None:
        lines.append("  layers (measured; share = weight in the objective):")
        lines += [f"    {line}" for line in _layer_lines(moves, layer_costs, counts)]
    ancestor: DesignLineage | None = node.parent
    child: DesignLineage = node
    for label in ("Parent", "Grandparent"):
        if ancestor is None:
            break
        move = child.transformations[-1] if child.transformations else None
        lines.append(
            f"{label} design: {_score(ancestor.value, objective)}; "
            f"it became the {'current' if label == 'Parent' else 'parent'} design by: {move}"
        )
        changed = _changes(moves, costs, ancestor.state, child.state)
        if changed:
            lines.append(f"  what changed: {changed}")
        child = ancestor
        ancestor = ancestor.parent
    random_part = f"; {ranked + 1}-{len(candidates)}: random" if ranked < len(candidates) else ""
    lines += [
        "",
        f"Legal transformations (1-{ranked}: an analytical estimate's ranking, best first"
        f"{random_part}):",
    ]
    short = objective.upper() if objective == "edp" else objective
    for i, t in enumerate(candidates):
        notes = ["random"] if i >= ranked else []
        change = None if layer_costs is None else heuristic.predicted_change(state, layer_costs, t)
        if t.kind == MoveKind.KNOB:
            notes.append("hardware: all layers re-mapped")
        elif change is not None:
            notes.append(f"est. {short} {100 * math.expm1(change):+.1f}%")
        lines.append(f"{i + 1}. {t}" + (f" ({'; '.join(notes)})" if notes else ""))
    lines += [
        "",
        f"Pick up to {picks} numbers from 1 to {len(candidates)}, the most promising first. "
        'Answer as {"picks": [...]}.',
    ]
    return "\n".join(lines)


def _objective_name(objective: str) -> str:
    return {"edp": "EDP (energy x cycles)", "latency": "latency (cycles)"}.get(objective, objective)


def _score(value: float | None, objective: str) -> str:
    """A state's score (``-log`` objective) as the objective's value."""
    if value is None:
        return "not scored yet"
    return f"{objective} {math.exp(-value):.4g}"


def _hardware(moves: DesignMoves, state: DesignState) -> str:
    knobs = moves.space.design_space.knobs
    return ", ".join(f"{k.name}={k.choices[i]}" for k, i in zip(knobs, state.hw, strict=True))


def _layer_lines(
    moves: DesignMoves, costs: Sequence[LayerCost], counts: Sequence[int]
) -> list[str]:
    energy = sum(n * c.energy_pj for n, c in zip(counts, costs, strict=True) if c.valid)
    cycles = sum(n * c.cycles for n, c in zip(counts, costs, strict=True) if c.valid)
    out = []
    for layer, n, c in zip(moves.space.layers, counts, costs, strict=True):
        if not c.valid:
            out.append(f"{layer.name}: INVALID mapping (a buffer overflows or a fanout)")
            continue
        share = n * (c.energy_pj / max(energy, 1e-300) + c.cycles / max(cycles, 1e-300)) / 2
        out.append(
            f"{layer.name}: {c.cycles:.3g} cycles, {c.energy_pj:.3g} pJ, share {100 * share:.0f}%"
        )
    return out


def _changes(moves: DesignMoves, costs: CostLookup, before: DesignState, after: DesignState) -> str:
    """Per layer whose measured cost changed from ``before`` to ``after``: the change."""
    a, b = costs.layer_costs(before), costs.layer_costs(after)
    if a is None or b is None:
        return ""
    parts = []
    for layer, x, y in zip(moves.space.layers, a, b, strict=True):
        if x == y:
            continue
        if x.valid and y.valid:
            parts.append(
                f"{layer.name} cycles {_pct(x.cycles, y.cycles)}, "
                f"energy {_pct(x.energy_pj, y.energy_pj)}"
            )
        else:
            parts.append(f"{layer.name} {'valid' if y.valid else 'invalid'} now")
    return "; ".join(parts[:4]) + ("; ..." if len(parts) > 4 else "")


def _pct(old: float, new: float) -> str:
    return f"{100 * (new / old - 1):+.1f}%" if old > 0 else "n/a"
