"""The benchmark's table: per suite and budget, per method, over seeds.

* **best**: the geometric mean over seeds of each run's best objective at the budget, with a
  95 % bootstrap interval of that geometric mean (10 000 resamples of the seeds, generator
  seeded, so the same runs give the same table);
* **/ random**, **/ best baseline**: the ratio of the method's geometric mean to random
  search's and to the best baseline's (the baseline with the lowest geometric mean: any method
  but an RL agent on the accelerator, random search or MetaSchedule on the CPU,
  :func:`~dcoc.benchmark.suites.is_baseline`); below 1 is better;
* **evals to best baseline**: evaluations until a run's best first reached the best baseline's
  geometric mean, median over seeds ("—" if the median seed never did), and how many seeds
  did (the best baseline's own seeds reach their geometric mean about half the time);
* mean wall time, mean invalid evaluations per run, seeds;

then, per budget, the geometric means over suites of the two ratios. Written as
``results.md``, ``results.json`` (every number, per seed) and ``curves.csv`` (every compact
best-so-far curve, see :mod:`~dcoc.benchmark.rundirs`).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dcoc.benchmark.llm_usage import llm_usage, render_llm_usage
from dcoc.benchmark.rundirs import BenchIndex, RunResult, collect, read_index
from dcoc.benchmark.suites import CPU_METHODS, Suite, design_space_label, is_baseline
from dcoc.search.methods import ACCEL_METHODS

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0
OBJECTIVE_LABELS = {
    "edp": "EDP (pJ x cycles)",
    "latency": "latency (cycles)",
    "energy": "energy (pJ)",
    "latency_s": "latency (s)",
}


def _natural_key(text: str) -> list[int | str]:
    """``C2`` before ``C10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def geometric_mean(values: Sequence[float]) -> float:
    return float(np.exp(np.mean(np.log(np.asarray(values, dtype=float)))))


def bootstrap_interval(
    values: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the geometric mean of ``values``."""
    logs = np.log(np.asarray(values, dtype=float))  # [n]
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(logs), size=(resamples, len(logs)))  # [resamples, n]
    means = logs[picks].mean(axis=1)  # [resamples]
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [tail, 1.0 - tail])
    return float(np.exp(lo)), float(np.exp(hi))


@dataclass(frozen=True)
class MethodRow:
    method: str
    runs: tuple[RunResult, ...]
    """Finished and failed runs, by seed."""
    geomean: float | None
    interval: tuple[float, float] | None
    ratio_random: float | None
    ratio_best_baseline: float | None
    evals_to_best_baseline: tuple[int | None, ...]
    """Per finished run with a complete design."""

    @property
    def ok(self) -> tuple[RunResult, ...]:
        return tuple(r for r in self.runs if r.status == "ok")

    @property
    def values(self) -> list[float]:
        return [r.best_objective for r in self.ok if r.best_objective is not None]

    @property
    def failed_runs(self) -> tuple[RunResult, ...]:
        return tuple(r for r in self.runs if r.status == "failed")

    @property
    def evals_median(self) -> float | None:
        if not self.evals_to_best_baseline:
            return None
        values = [math.inf if e is None else e for e in self.evals_to_best_baseline]
        median = float(np.median(values))
        return median if math.isfinite(median) else None

    @property
    def wall_s_mean(self) -> float | None:
        return float(np.mean([r.wall_s for r in self.ok])) if self.ok else None

    @property
    def invalid_mean(self) -> float | None:
        return float(np.mean([r.failed_evaluations for r in self.ok])) if self.ok else None


@dataclass(frozen=True)
class Group:
    """One suite at one budget."""

    suite: Suite
    budget: int
    objective: str
    best_baseline: str | None
    rows: tuple[MethodRow, ...]

    def row(self, method: str) -> MethodRow | None:
        return next((r for r in self.rows if r.method == method), None)


@dataclass(frozen=True)
class OverallRow:
    method: str
    budget: int
    ratio_random: float | None
    ratio_best_baseline: float | None
    suites: int


def _first_reach(result: RunResult, target: float) -> int | None:
    for evaluation, value in result.curve:
        if value <= target * (1.0 + 1e-12):
            return evaluation
    return None


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def _method_order(index: BenchIndex, methods: set[str]) -> list[str]:
    known = [*index.methods, *ACCEL_METHODS, *CPU_METHODS]
    order = [m for m in dict.fromkeys(known) if m in methods]
    return order + sorted(methods - set(order))


def build_groups(results: Sequence[RunResult], index: BenchIndex) -> list[Group]:
    """One group per (suite, budget), suites in the order given to the benchmark."""
    by_group: dict[tuple[str, int], list[RunResult]] = {}
    suites: dict[str, Suite] = {}
    for r in results:
        by_group.setdefault((r.spec.suite.key, r.spec.budget), []).append(r)
        suites.setdefault(r.spec.suite.key, r.spec.suite)
    position = {name: i for i, name in enumerate(index.suites)}

    def group_key(key: tuple[str, int]) -> tuple[int, list[int | str], int]:
        suite = suites[key[0]]
        return (position.get(suite.name, len(position)), _natural_key(suite.name), key[1])

    groups = []
    for key in sorted(by_group, key=group_key):
        runs = by_group[key]
        groups.append(_group(suites[key[0]], key[1], runs, index))
    return groups


def _seed(result: RunResult) -> int:
    return result.spec.seed


def _group(suite: Suite, budget: int, runs: Sequence[RunResult], index: BenchIndex) -> Group:
    methods = _method_order(index, {r.spec.method for r in runs})
    stats: dict[str, tuple[tuple[RunResult, ...], float | None, tuple[float, float] | None]] = {}
    for method in methods:
        mine = tuple(sorted((r for r in runs if r.spec.method == method), key=_seed))
        values = [
            r.best_objective for r in mine if r.status == "ok" and r.best_objective is not None
        ]
        if values:
            stats[method] = (mine, geometric_mean(values), bootstrap_interval(values))
        else:
            stats[method] = (mine, None, None)
    baselines = {
        m: s[1] for m, s in stats.items() if is_baseline(m, suite.kind) and s[1] is not None
    }
    best_baseline = min(baselines, key=lambda m: (baselines[m], m)) if baselines else None
    reference = baselines.get(best_baseline) if best_baseline else None
    random_gm = stats.get("random", ((), None, None))[1]
    rows = []
    for method in methods:
        mine, gm, interval = stats[method]
        reach: tuple[int | None, ...] = ()
        if reference is not None:
            reach = tuple(
                _first_reach(r, reference)
                for r in mine
                if r.status == "ok" and r.best_objective is not None
            )
        rows.append(
            MethodRow(
                method, mine, gm, interval, _ratio(gm, random_gm), _ratio(gm, reference), reach
            )
        )
    objective = runs[0].spec.objective
    return Group(suite, budget, objective, best_baseline, tuple(rows))


def overall(groups: Sequence[Group]) -> list[OverallRow]:
    """Per budget and method, the geometric means over suites of the ratios."""
    out = []
    for budget in sorted({g.budget for g in groups}):
        mine = [g for g in groups if g.budget == budget]
        methods: list[str] = list(dict.fromkeys(r.method for g in mine for r in g.rows))
        for method in methods:
            rows = [row for g in mine if (row := g.row(method)) is not None]
            to_random = [r.ratio_random for r in rows if r.ratio_random is not None]
            to_best = [r.ratio_best_baseline for r in rows if r.ratio_best_baseline is not None]
            out.append(
                OverallRow(
                    method,
                    budget,
                    geometric_mean(to_random) if to_random else None,
                    geometric_mean(to_best) if to_best else None,
                    len(to_best),
                )
            )
    return out


# -- Markdown -------------------------------------------------------------------------------
DASH = "—"


def _g(value: float | None) -> str:
    return DASH if value is None else f"{value:.3g}"


def _ratio_text(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def _cell(text: str, limit: int = 90) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def suite_title(suite: Suite) -> str:
    if suite.kind == "cpu":
        return f"{suite.name} (TVM schedules measured on this CPU)"
    space = design_space_label(suite.design_space or "")
    return f"{suite.workload} on {space}"


def _seeds_text(row: MethodRow) -> str:
    text = str(len(row.ok))
    notes = []
    no_design = sum(1 for r in row.ok if r.best_objective is None)
    if no_design:
        notes.append(f"{no_design} without a complete design")
    if row.failed_runs:
        first = row.failed_runs[0]
        seeds = ", ".join(str(r.spec.seed) for r in row.failed_runs)
        notes.append(f"failed: seed {seeds}: {first.error}")
    return _cell(f"{text} ({'; '.join(notes)})" if notes else text)


def render_markdown(groups: Sequence[Group], index: BenchIndex) -> str:
    lines = ["# Benchmark results", ""]
    if index.commands:
        lines += ["Made with:", ""]
        lines += [f"    {command}" for command in index.commands]
        lines.append("")
    lines += [
        "Lower is better. *best*: geometric mean over seeds of each run's best objective at "
        f"the budget, with a 95 % bootstrap interval ({BOOTSTRAP_RESAMPLES} resamples of the "
        "seeds, seeded). */ random*, */ best baseline*: ratios of geometric means (below 1: "
        "better). *evals to best baseline*: evaluations until a run's best reached the best "
        f"baseline's geometric mean, median over seeds ({DASH}: the median seed never did), "
        "and the seeds that did. "
        "*invalid*: invalid evaluations per run, mean. *wall s*: per run, mean.",
        "",
    ]
    for g in groups:
        unit = "trials" if g.suite.kind == "cpu" else "evaluations"
        lines += [
            f"## {suite_title(g.suite)}: budget {g.budget} {unit}, "
            f"{OBJECTIVE_LABELS.get(g.objective, g.objective)}",
            "",
            f"Best baseline: {g.best_baseline or DASH}.",
            "",
            "| method | best | 95 % interval | / random | / best baseline | "
            "evals to best baseline | wall s | invalid | seeds |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in g.rows:
            if not r.ok:
                best, interval = "failed", DASH
            else:
                best = _g(r.geomean)
                interval = (
                    DASH if r.interval is None else f"{_g(r.interval[0])}–{_g(r.interval[1])}"
                )
            median = r.evals_median
            reach = DASH if median is None else f"{median:.0f}"
            if r.evals_to_best_baseline:
                reached = sum(e is not None for e in r.evals_to_best_baseline)
                reach += f" ({reached}/{len(r.evals_to_best_baseline)})"
            lines.append(
                f"| {r.method} | {best} | {interval} | {_ratio_text(r.ratio_random)} | "
                f"{_ratio_text(r.ratio_best_baseline)} | "
                f"{reach} | "
                f"{DASH if r.wall_s_mean is None else f'{r.wall_s_mean:.1f}'} | "
                f"{DASH if r.invalid_mean is None else f'{r.invalid_mean:.0f}'} | "
                f"{_seeds_text(r)} |"
            )
        lines.append("")
    rows = overall(groups)
    if rows:
        lines += [
            "## All suites: geometric mean over suites",
            "",
            "| budget | method | / random | / best baseline | suites |",
            "|---:|---|---:|---:|---:|",
        ]
        for o in rows:
            lines.append(
                f"| {o.budget} | {o.method} | {_ratio_text(o.ratio_random)} | "
                f"{_ratio_text(o.ratio_best_baseline)} | {o.suites} |"
            )
        lines.append("")
    return "\n".join(lines)


# -- JSON and CSV ---------------------------------------------------------------------------
def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def report_json(groups: Sequence[Group], index: BenchIndex) -> dict[str, Any]:
    out_groups = []
    for g in groups:
        methods = {}
        for r in g.rows:
            methods[r.method] = {
                "seeds": [x.spec.seed for x in r.runs],
                "status": [x.status for x in r.runs],
                "best_objective": [_finite(x.best_objective) for x in r.runs],
                "evaluations": [x.evaluations for x in r.runs],
                "invalid_evaluations": [x.failed_evaluations for x in r.runs],
                "wall_s": [x.wall_s for x in r.runs],
                "best_hw": [x.best_hw for x in r.runs],
                "errors": {str(x.spec.seed): x.error for x in r.failed_runs},
                "geometric_mean": r.geomean,
                "interval_95": None if r.interval is None else list(r.interval),
                "ratio_random": r.ratio_random,
                "ratio_best_baseline": r.ratio_best_baseline,
                "evals_to_best_baseline": list(r.evals_to_best_baseline),
                "evals_to_best_baseline_median": r.evals_median,
                "wall_s_mean": r.wall_s_mean,
                "invalid_evaluations_mean": r.invalid_mean,
            }
        out_groups.append(
            {
                "suite": g.suite.to_json(),
                "budget": g.budget,
                "objective": g.objective,
                "best_baseline": g.best_baseline,
                "methods": methods,
            }
        )
    return {
        "commands": list(index.commands),
        "bootstrap": {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "level": 0.95},
        "groups": out_groups,
        "overall": [o.__dict__ for o in overall(groups)],
    }


def write_curves_csv(groups: Sequence[Group], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["suite", "budget", "method", "seed", "evaluation", "best_objective"])
        for g in groups:
            for row in g.rows:
                for r in row.ok:
                    head = [g.suite.name, g.budget, row.method, r.spec.seed]
                    writer.writerows([*head, e, repr(v)] for e, v in r.curve)


RESULTS_MD = "results.md"
RESULTS_JSON = "results.json"
CURVES_CSV = "curves.csv"


def write_report(out: Path) -> list[Path]:
    """``results.md``, ``results.json``, ``curves.csv`` and the plots of the runs under
    ``out``; the files written. Raises :class:`FileNotFoundError` if ``out`` holds no
    finished or failed run."""
    from dcoc.benchmark.plots import write_plots

    results = collect(out)
    if not results:
        raise FileNotFoundError(f"{out}: no finished or failed benchmark run found")
    index = read_index(out)
    groups = build_groups(results, index)
    usage = llm_usage(results, out)
    written = [out / RESULTS_MD, out / RESULTS_JSON, out / CURVES_CSV]
    markdown = render_markdown(groups, index)
    written[0].write_text("\n".join([markdown.rstrip("\n"), "", *render_llm_usage(usage)]))
    report = report_json(groups, index)
    report["llm"] = [u.to_json() for u in usage]
    written[1].write_text(json.dumps(report, indent=1) + "\n")
    write_curves_csv(groups, written[2])
    written += write_plots(groups, out)
    return written
