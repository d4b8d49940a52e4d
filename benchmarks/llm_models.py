"""Language models as the tree search's proposer, compared: validity, what they pick, speed.

Run (one core):  OMP_NUM_THREADS=1 python benchmarks/llm_models.py
                 [--models smollm2,gemma3] [--workload resnet18.vta] [--budget 1000]
                 [--seeds 0-1] [--llm-calls 20] [--out-dir DIR]

For each model (a shipped model's short name, :data:`dcoc.llm.gguf.SHIPPED`, or the path of
any ``.gguf`` file), the accelerator MCTS with the LLM proposer (the bench method
``mcts-llm``, built by :func:`dcoc.search.methods.build_baseline`) runs on the same workload,
design space, budget and seeds, embedded llama.cpp with ``--threads`` threads (default 1: one
core per model), after the same search with the heuristic proposer (``mcts``), the reference.
Everything per model is read back from the runs' records (every call's prompt, answer,
latency, verdict and candidate list, :meth:`~dcoc.records.RecordsDB.llm_calls`) and printed as
one table row:

* ``calls``, ``kept``, ``fallbacks`` by reason (the verdict of each answer not kept), and
  ``valid`` = kept / calls;
* ``s/call`` median and mean (the first call of a run also loads the model);
* ``differs``: kept answers whose proposal is not the heuristic's own (the picks are not the
  first numbers of the heuristic's ranking in order, ``[1, 2, ...]``), i.e. how often the
  model changed what the search tries; ``pick rank``: the mean number of the picks in the
  candidate list (1-8 the heuristic's ranking, best first, then the random ones), of the
  first pick and of all picks; ``random``: picks that are one of the listed random moves;
* ``best EDP``: the geometric mean over seeds of each run's best network EDP.

Run directories go to ``--out-dir`` (kept: ``python -m dcoc.search explain DIR`` reads them) or
to a temporary directory.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dcoc.benchmark.suites import parse_seeds
from dcoc.llm.gguf import resolve_gguf
from dcoc.llm.settings import BackendKind, LlmSettings
from dcoc.records import LlmCallRecord, RecordsDB
from dcoc.search.llm_proposer import LlmProposerSettings
from dcoc.search.methods import build_baseline
from dcoc.search.network_search import (
    DEFAULT_DESIGN_SPACE,
    NetworkSearchConfig,
    build_problem,
    run_network_search,
)

LLM_METHOD = "mcts-llm"
REFERENCE_METHOD = "mcts"
"""The same tree search with the heuristic proposer."""


@dataclass(frozen=True)
class CallSummary:
    """What a model's answers were, from its calls in the records."""

    calls: int
    kept: int
    fallbacks: Counter[str] = field(default_factory=Counter)
    """Answers not kept, by verdict."""
    seconds: tuple[float, ...] = ()
    differs: int = 0
    """Kept answers whose proposal is not the heuristic's own order."""
    first_pick_ranks: tuple[int, ...] = ()
    """Per kept answer, the number (1-based) of its first pick in the candidate list."""
    pick_ranks: tuple[int, ...] = ()
    """Every pick's number, over all kept answers."""
    random_picks: int = 0
    """Picks of a listed random move (not in the heuristic's ranking)."""

    @property
    def valid(self) -> float | None:
        return self.kept / self.calls if self.calls else None


def summarize_calls(calls: Sequence[LlmCallRecord]) -> CallSummary:
    """The :class:`CallSummary` of ``calls`` (records of :mod:`dcoc.search.llm_proposer`)."""
    fallbacks: Counter[str] = Counter()
    differs = random_picks = 0
    first: list[int] = []
    ranks: list[int] = []
    for c in calls:
        if c.verdict != "kept":
            fallbacks[c.verdict] += 1
            continue
        picks = [int(p) for p in c.context.get("picks", ())]
        candidates = c.context.get("candidates", ())
        ranked = sum(1 for x in candidates if x.get("from") == "heuristic")
        if picks != list(range(1, len(picks) + 1)) or len(picks) > ranked:
            differs += 1
        random_picks += sum(1 for p in picks if p > ranked)
        if picks:
            first.append(picks[0])
        ranks += picks
    return CallSummary(
        calls=len(calls),
        kept=len(calls) - sum(fallbacks.values()),
        fallbacks=fallbacks,
        seconds=tuple(c.latency_s for c in calls),
        differs=differs,
        first_pick_ranks=tuple(first),
        pick_ranks=tuple(ranks),
        random_picks=random_picks,
    )


@dataclass(frozen=True)
class Row:
    name: str
    best_edps: tuple[float | None, ...]
    wall_s: float
    calls: CallSummary | None = None
    """``None``: the heuristic reference (no model)."""


HEADER = (
    "model",
    "calls",
    "kept",
    "fallbacks",
    "valid",
    "s/call med",
    "s/call mean",
    "differs",
    "pick rank 1st/all",
    "random",
    "best EDP (gmean)",
    "wall s",
)


def geomean(values: Sequence[float | None]) -> float | None:
    """The geometric mean of ``values``; ``None`` if any is ``None`` (a run found nothing)."""
    if not values or any(v is None or v <= 0 for v in values):
        return None
    return math.exp(sum(math.log(v) for v in values if v is not None) / len(values))


def table_cells(row: Row) -> tuple[str, ...]:
    """One table row: the figures of :data:`HEADER` as text (``-``: not applicable)."""
    edp = geomean(row.best_edps)
    tail = ("none" if edp is None else f"{edp:.3e}", f"{row.wall_s:.0f}")
    s = row.calls
    if s is None:
        return (row.name, *("-",) * (len(HEADER) - 3), *tail)
    valid = "-" if s.valid is None else f"{100 * s.valid:.0f}%"
    fallbacks = ", ".join(f"{k} {n}" for k, n in sorted(s.fallbacks.items())) or "0"
    ranks = (
        f"{statistics.fmean(s.first_pick_ranks):.2f}/{statistics.fmean(s.pick_ranks):.2f}"
        if s.pick_ranks
        else "-"
    )
    return (
        row.name,
        str(s.calls),
        str(s.kept),
        fallbacks,
        valid,
        f"{statistics.median(s.seconds):.2f}" if s.seconds else "-",
        f"{statistics.fmean(s.seconds):.2f}" if s.seconds else "-",
        f"{s.differs}/{s.kept}",
        ranks,
        f"{s.random_picks}/{len(s.pick_ranks)}",
        *tail,
    )


def format_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table."""
    lines = [HEADER, *(table_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    ]
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="smollm2,gemma3", help="short names or .gguf paths")
    parser.add_argument("--workload", default="resnet18.vta")
    parser.add_argument("--design-space", default=DEFAULT_DESIGN_SPACE)
    parser.add_argument("--budget", type=int, default=1000, help="evaluations per run")
    parser.add_argument("--seeds", default="0-1", help="0-4, 0,1,2 or both")
    parser.add_argument("--llm-calls", type=int, default=20, help="questions per run at most")
    parser.add_argument("--threads", type=int, default=1, help="threads of each model")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="seconds per answer")
    parser.add_argument("--out-dir", type=Path, default=None, help="keep the run directories")
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    models = [m for m in args.models.split(",") if m]
    for model in models:  # a missing model fails here, before any search runs
        print(f"{model}: {resolve_gguf(model)}")
    problem = build_problem(args.workload, args.design_space)
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = args.out_dir or Path(tmp)

        def run(name: str, key: str, method: str, llm: LlmProposerSettings | None) -> Row:
            edps: list[float | None] = []
            calls: list[LlmCallRecord] = []
            start = time.perf_counter()
            for seed in seeds:
                run_dir = out_dir / f"{method}__{key}__{seed}"
                config = NetworkSearchConfig(
                    workload=args.workload,
                    method=method,
                    budget=args.budget,
                    run_dir=run_dir,
                    design_space=Path(args.design_space),
                    seed=seed,
                )
                searcher = build_baseline(method, llm=llm)
                result = run_network_search(config, searcher, problem=problem)
                edps.append(result.best_edp)
                with RecordsDB.open(run_dir) as db:
                    calls += db.llm_calls(method)
                print(f"  {name} seed {seed}: best EDP {result.best_edp}, {result.wall_s:.0f} s")
            summary = summarize_calls(calls) if llm is not None else None
            return Row(name, tuple(edps), time.perf_counter() - start, summary)

        rows = [run("heuristic (no LLM)", "heuristic", REFERENCE_METHOD, None)]
        for model in models:
            llm = LlmSettings(
                backend=BackendKind.EMBEDDED,
                model=model,
                threads=args.threads,
                timeout_s=args.timeout_s,
            )
            settings = LlmProposerSettings(calls=args.llm_calls, llm=llm)
            rows.append(run(model, Path(model).stem, LLM_METHOD, settings))
    print(
        f"\n{args.workload} / {Path(args.design_space).name}, budget {args.budget}, "
        f"seeds {args.seeds}, at most {args.llm_calls} LLM calls per run, "
        f"{args.threads} thread(s)\n"
    )
    print(format_table(rows))


if __name__ == "__main__":
    main()
