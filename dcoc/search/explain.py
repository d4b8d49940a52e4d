"""Why a tree search chose its design, from the run's records alone: a Markdown report.

:func:`explain_run` reads ``RUN_DIR/records.sqlite`` (and ``summary.json`` if there): the best
path the tree search stored (:meth:`~dcoc.records.RecordsDB.search_paths`: each transformation
from the random start to the tree's best design, who proposed it, the objective after it), and
every language-model call (:meth:`~dcoc.records.RecordsDB.llm_calls`: prompt, answer,
latency, verdict). The report gives the run, the model's record (calls, kept, fallbacks by
reason, seconds per call), the path as a table, then each LLM call that proposed a step of the
path: the numbered candidates with the picks marked, the answer, and the prompt. The run's own
best design (``summary.json``, ``best/``) may be better than the tree's: per hardware
configuration, the search keeps each layer's best mapping seen anywhere in the tree.

``python -m dcoc.search explain RUN_DIR [--out FILE]`` prints it or writes it.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dcoc.records import RECORDS_FILE, LlmCallRecord, RecordsDB, SearchPathRecord

SHOWN_CALLS = 12
"""LLM calls on the path shown in full (the rest: in the table of calls)."""


class NothingToExplainError(FileNotFoundError):
    """The run directory holds no records, or no tree search stored a path there."""


def explain_run(run_dir: Path) -> str:
    """The Markdown report of the tree search in ``run_dir`` (see the module docstring)."""
    path = Path(run_dir) / RECORDS_FILE
    if not path.is_file():
        raise NothingToExplainError(f"{run_dir}: no {RECORDS_FILE}; give a search's run directory")
    with RecordsDB.open(path) as db:
        paths = db.search_paths()
        calls = db.llm_calls()
    if not paths:
        raise NothingToExplainError(
            f"{run_dir}: no tree-search path in the records; explain reads runs of "
            "--method mcts (or mcts-llm) that finished"
        )
    best = paths[-1]
    calls = [c for c in calls if c.method == best.method and c.seed == best.seed]
    summary_file = Path(run_dir) / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    lines = [f"# Why this design: `{run_dir}`", ""]
    lines += _run_lines(best, summary)
    lines += _llm_lines(calls)
    lines += _path_lines(best)
    lines += _call_details(best, calls)
    return "\n".join(lines).rstrip() + "\n"


def _run_lines(best: SearchPathRecord, summary: Mapping[str, Any]) -> list[str]:
    design = best.design
    objective = design.get("objective", "edp")
    out = [
        f"- method `{best.method}`, proposer `{design.get('proposer', '?')}`, seed {best.seed}"
        + (f", workload `{summary['workload']}`" if "workload" in summary else ""),
        f"- {design.get('simulations', '?')} tree simulations"
        + (f", {summary['evaluations']} model evaluations" if "evaluations" in summary else ""),
        f"- the tree's best design: {objective} {_num(design.get('best_objective'))}, "
        f"{len(best.steps)} transformations from a random start "
        f"({objective} {_num(design.get('root_objective'))})",
    ]
    if summary.get("best_objective") is not None:
        out.append(
            f"- the run's best design (`best/`): {objective} {_num(summary['best_objective'])} "
            "(per hardware configuration, each layer's best mapping found anywhere)"
        )
    hw = design.get("best", {}).get("hw")
    if hw:
        out.append(f"- hardware: {', '.join(f'{k}={v}' for k, v in hw.items())}")
    return [*out, ""]


def _llm_lines(calls: Sequence[LlmCallRecord]) -> list[str]:
    if not calls:
        return ["## The language model", "", "Not asked in this run.", ""]
    verdicts = Counter(c.verdict for c in calls)
    kept = verdicts.pop("kept", 0)
    seconds = [c.latency_s for c in calls]
    reasons = ", ".join(f"{v} {n}" for v, n in verdicts.most_common()) or "none"
    out = [
        "## The language model",
        "",
        f"- backend `{calls[0].backend}`",
        f"- {len(calls)} calls: {kept} answers kept, {len(calls) - kept} fell back to the "
        f"heuristic ({reasons})",
        f"- {statistics.fmean(seconds):.2f} s per call on average (median "
        f"{statistics.median(seconds):.2f} s, max {max(seconds):.2f} s)",
        "",
        "| call | after evaluations | verdict | picks | s | detail |",
        "|---:|---:|---|---|---:|---|",
    ]
    for c in calls:
        picks = ", ".join(str(p) for p in c.context.get("picks", [])) or "-"
        out.append(
            f"| {c.call} | {c.context.get('evaluations', '?')} | {c.verdict} | {picks} | "
            f"{c.latency_s:.2f} | {_cell(c.detail or '')} |"
        )
    return [*out, ""]


def _path_lines(best: SearchPathRecord) -> list[str]:
    objective = best.design.get("objective", "edp")
    out = [
        "## The path to the tree's best design",
        "",
        f"| step | transformation | proposed by | {objective} after |",
        "|---:|---|---|---:|",
    ]
    for i, step in enumerate(best.steps, 1):
        out.append(
            f"| {i} | {_cell(str(step.get('text', '')))} | {_source(step)} | "
            f"{_num(step.get('objective'))} |"
        )
    if not best.steps:
        out.append("| - | the random start was the best design found | | |")
    counts = Counter(str(s.get("source")) for s in best.steps)
    out += ["", "Steps by proposer: " + ", ".join(f"{k} {n}" for k, n in counts.most_common())]
    return [*out, ""]


def _source(step: Mapping[str, Any]) -> str:
    source, call = step.get("source"), step.get("llm_call")
    if source == "llm":
        return f"**LLM** (call {call})"
    if source == "heuristic" and call is not None:
        return f"heuristic (call {call} asked)"
    return str(source)


def _call_details(best: SearchPathRecord, calls: Sequence[LlmCallRecord]) -> list[str]:
    by_call = {c.call: c for c in calls}
    on_path = list(dict.fromkeys(s["llm_call"] for s in best.steps if s.get("llm_call") in by_call))
    if not on_path:
        return []
    out = ["## The LLM calls behind the path", ""]
    for n in on_path[:SHOWN_CALLS]:
        c = by_call[n]
        picks = set(c.context.get("picks", []))
        out += [
            f"### call {n}: {c.verdict} ({c.latency_s:.2f} s)",
            "",
            f"- asked after {c.context.get('evaluations', '?')} evaluations; answer: "
            f"`{(c.answer or '').strip() or '(none)'}`" + (f"; {c.detail}" if c.detail else ""),
        ]
        if c.context.get("why"):
            out.append(f"- why: {c.context['why']}")
        out += ["", "| # | candidate | from | picked |", "|---:|---|---|---|"]
        for cand in c.context.get("candidates", []):
            mark = "yes" if cand.get("number") in picks else ""
            out.append(
                f"| {cand.get('number')} | {_cell(str(cand.get('text')))} | "
                f"{cand.get('from')} | {mark} |"
            )
        out += [
            "",
            "<details><summary>prompt</summary>",
            "",
            "```text",
            c.prompt,
            "```",
            "",
            "</details>",
            "",
        ]
    if len(on_path) > SHOWN_CALLS:
        out.append(f"({len(on_path) - SHOWN_CALLS} more calls on the path: see the table above)")
    return out


def _num(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "n/a"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
