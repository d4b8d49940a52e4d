"""The language model's record in a benchmark, read from each run's records.

Per (suite, budget, method) whose runs asked a language model (``mcts-llm``, ``mcts
--proposer llm``, a seeded agent whose tree search asked one): the calls over the runs, the
answers kept, the fallbacks by reason (invalid, empty, illegal, late, the endpoint failing) and
the seconds per call, so the fallback rate and the cost of a proposal stand beside the result.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcoc.benchmark.rundirs import RunResult
from dcoc.llm.backend import Verdict
from dcoc.records import RECORDS_FILE, RecordsDB
from dcoc.search.llm_proposer import LlmStats

KEPT = Verdict.KEPT.value


@dataclass
class LlmUsage:
    """Every language-model call of one method's runs on one suite and budget."""

    suite: str
    budget: int
    method: str
    runs: int = 0
    stats: LlmStats = field(default_factory=LlmStats)
    backends: set[str] = field(default_factory=set)

    @property
    def fallback_rate(self) -> float:
        return self.stats.fallbacks / self.stats.calls if self.stats.calls else 0.0

    def to_json(self) -> dict[str, Any]:
        seconds = self.stats.seconds
        return {
            "suite": self.suite,
            "budget": self.budget,
            "method": self.method,
            "runs": self.runs,
            "calls": self.stats.calls,
            "verdicts": dict(sorted(self.stats.verdicts.items())),
            "fallback_rate": self.fallback_rate,
            "s_per_call_median": statistics.median(seconds) if seconds else None,
            "s_per_call_mean": statistics.fmean(seconds) if seconds else None,
            "backends": sorted(self.backends),
        }


def llm_usage(results: Sequence[RunResult], out: Path) -> list[LlmUsage]:
    """The usage of every (suite, budget, method) with at least one call, in ``results``'
    order."""
    rows: dict[tuple[str, int, str], LlmUsage] = {}
    for result in results:
        spec = result.spec
        path = spec.run_dir(out) / RECORDS_FILE
        if not path.is_file():
            continue
        with RecordsDB.open(path) as db:
            calls = db.llm_calls()
        if not calls:
            continue
        key = (spec.suite.name, spec.budget, spec.method)
        row = rows.setdefault(key, LlmUsage(*key))
        row.runs += 1
        for call in calls:
            row.stats.add(call)
            row.backends.add(call.backend)
    return list(rows.values())


def render_llm_usage(rows: Sequence[LlmUsage]) -> list[str]:
    """The Markdown section of :func:`llm_usage` (nothing if no run asked a model)."""
    if not rows:
        return []
    lines = [
        "## The language model",
        "",
        "Calls over all seeds of a method; *fallbacks*: answers not used (the heuristic's "
        "proposals stood), by reason; *s per call*: median (mean).",
        "",
        "| suite | budget | method | runs | calls | kept | fallbacks | s per call | model |",
        "|---|---:|---|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        reasons = Counter({v: n for v, n in r.stats.verdicts.items() if v != KEPT})
        fallbacks = ", ".join(f"{v} {n}" for v, n in reasons.most_common()) or "0"
        seconds = r.stats.seconds
        shown = (
            f"{statistics.median(seconds):.2f} ({statistics.fmean(seconds):.2f})"
            if seconds
            else "—"
        )
        lines.append(
            f"| {r.suite} | {r.budget} | {r.method} | {r.runs} | {r.stats.calls} | "
            f"{r.stats.kept} | {fallbacks} | {shown} | {', '.join(sorted(r.backends))} |"
        )
    return [*lines, ""]
