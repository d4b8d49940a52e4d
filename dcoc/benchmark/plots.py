"""The benchmark's plots, one set per suite and budget (matplotlib's Agg canvas, no pyplot):

* ``best_so_far_<suite>_<budget>.png``: best objective against evaluations per method, the
  median over seeds as a line, the band between the best and the worst seed, log y;
* ``pareto_<suite>_<budget>.png`` (accelerator suites): latency against energy of every complete
  design the runs found (per run and hardware configuration its best mappings), the Pareto
  front of all of them, area as colour, one marker per method, each method's best outlined;
* ``hardware_<suite>_<budget>.png`` (accelerator suites): the hardware of each method's best
  design (its best seed), one row per method and one column per knob, coloured by the value's
  position among the knob's choices and annotated with the value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from dcoc.accel.spec.design_space import load_design_space
from dcoc.benchmark.report import OBJECTIVE_LABELS, Group, suite_title
from dcoc.benchmark.rundirs import RunResult
from dcoc.objective import Objective
from dcoc.search.network_search import resolve_design_space

MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
GRID_POINTS = 400


def write_plots(groups: Sequence[Group], out: Path) -> list[Path]:
    written = []
    for g in groups:
        stem = f"{g.suite.key}_{g.budget}"
        written.append(plot_best_so_far(g, out / f"best_so_far_{stem}.png"))
        if g.suite.kind == "accel":
            written.append(plot_pareto(g, out / f"pareto_{stem}.png"))
            written.append(plot_hardware(g, out / f"hardware_{stem}.png"))
    return written


def _steps(runs: Sequence[RunResult], xs: np.ndarray) -> np.ndarray:
    """Best-so-far of each run at the evaluations ``xs``: ``[runs, len(xs)]`` (``inf`` before
    a run's first complete design)."""
    out = np.full((len(runs), len(xs)), np.inf)
    for i, r in enumerate(runs):
        if not r.curve:
            continue
        evals = np.array([e for e, _ in r.curve])  # [points]
        values = np.array([v for _, v in r.curve])  # [points]
        at = np.searchsorted(evals, xs, side="right") - 1  # [len(xs)]
        out[i] = np.where(at >= 0, values[np.maximum(at, 0)], np.inf)
    return out


def _finite_or_nan(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, np.nan)


def plot_best_so_far(g: Group, path: Path) -> Path:
    fig = Figure(figsize=(7.0, 4.5))
    ax = fig.subplots()
    last = max((r.curve[-1][0] for row in g.rows for r in row.ok if r.curve), default=1)
    xs = np.unique(np.linspace(1, last, min(GRID_POINTS, last)).astype(int))  # [X]
    drawn = False
    for row in g.rows:
        runs = [r for r in row.ok if r.curve]
        if not runs:
            continue
        values = _steps(runs, xs)  # [seeds, X]
        median = _finite_or_nan(np.median(values, axis=0))
        lo = _finite_or_nan(values.min(axis=0))
        hi = _finite_or_nan(values.max(axis=0))
        (line,) = ax.step(xs, median, where="post", label=f"{row.method} ({len(runs)} seeds)")
        ax.fill_between(
            xs, lo, np.where(np.isnan(hi), lo, hi), step="post", alpha=0.2,
            color=line.get_color(), linewidth=0,
        )  # fmt: skip
        drawn = drawn or bool(np.isfinite(median).any())
    ax.set_xlabel("trials" if g.suite.kind == "cpu" else "evaluations")
    ax.set_ylabel(f"best {OBJECTIVE_LABELS.get(g.objective, g.objective)}")
    if drawn:
        ax.set_yscale("log")
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no complete design", ha="center", transform=ax.transAxes)
    ax.set_title(
        f"{suite_title(g.suite)}, budget {g.budget}\nmedian over seeds, band: min to max",
        fontsize="medium",
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both coordinates (lower is better), by the first."""
    front: list[tuple[float, float]] = []
    best_y = math.inf
    for x, y in sorted(points):
        if y < best_y:
            front.append((x, y))
            best_y = y
    return front


def plot_pareto(g: Group, path: Path) -> Path:
    fig = Figure(figsize=(7.0, 5.0))
    ax = fig.subplots()
    per_method = [(row.method, [d for r in row.ok for d in r.designs]) for row in g.rows]
    areas = [d.area_um2 for _, ds in per_method for d in ds if math.isfinite(d.area_um2)]
    norm = Normalize(min(areas), max(areas)) if areas else Normalize(0.0, 1.0)
    scatter = None
    for i, (method, designs) in enumerate(per_method):
        if not designs:
            continue
        scatter = ax.scatter(
            [d.cycles for d in designs], [d.energy_pj for d in designs],
            c=[d.area_um2 for d in designs], cmap="viridis", norm=norm,
            marker=MARKERS[i % len(MARKERS)], s=22, alpha=0.8, edgecolors="none",
            label=f"{method} ({len(designs)})",
        )  # fmt: skip
        best = min(designs, key=lambda d: Objective.parse(g.objective).of(d.cycles, d.energy_pj))
        ax.scatter(
            [best.cycles], [best.energy_pj], c=[best.area_um2], cmap="viridis", norm=norm,
            marker=MARKERS[i % len(MARKERS)], s=110, edgecolors="red", linewidths=1.5,
        )  # fmt: skip
    points = [(d.cycles, d.energy_pj) for _, ds in per_method for d in ds]
    if points:
        front = pareto_front(points)
        xs = [p[0] for p in front]
        ys = [p[1] for p in front]
        ax.step(xs, ys, where="post", color="black", linewidth=1.2, label="Pareto front")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no complete design", ha="center", transform=ax.transAxes)
    if scatter is not None:
        fig.colorbar(scatter, ax=ax, label="area (um^2)")
    ax.set_xlabel("latency (cycles)")
    ax.set_ylabel("energy (pJ)")
    ax.set_title(
        f"{suite_title(g.suite)}, budget {g.budget}\n"
        "complete designs (per run and configuration), red: each method's best",
        fontsize="medium",
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _best_run(runs: Sequence[RunResult]) -> RunResult | None:
    found = [r for r in runs if r.best_objective is not None and r.best_hw]
    return min(found, key=lambda r: (r.best_objective, r.spec.seed)) if found else None


def plot_hardware(g: Group, path: Path) -> Path:
    assert g.suite.design_space is not None
    knobs = load_design_space(resolve_design_space(g.suite.design_space)).knobs
    methods = [row.method for row in g.rows]
    grid = np.full((len(methods), len(knobs)), np.nan)  # [methods, knobs]
    labels = [["—"] * len(knobs) for _ in methods]
    for i, row in enumerate(g.rows):
        best = _best_run(row.ok)
        if best is None or best.best_hw is None:
            continue
        for j, knob in enumerate(knobs):
            value = best.best_hw.get(knob.name)
            if value is None:
                continue
            choices = [float(c) for c in knob.choices]
            position = int(np.argmin([abs(c - float(value)) for c in choices]))
            grid[i, j] = position / (len(choices) - 1) if len(choices) > 1 else 0.5
            labels[i][j] = f"{value:g}" if isinstance(value, float) else str(value)
    fig = Figure(figsize=(max(6.0, 1.1 * len(knobs) + 2.5), 2.4 + 0.45 * max(len(methods), 1)))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="YlGnBu", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(len(methods)):
        for j in range(len(knobs)):
            shade = grid[i, j]
            ax.text(
                j, i, labels[i][j], ha="center", va="center", fontsize="small",
                color="white" if np.isfinite(shade) and shade > 0.6 else "black",
            )  # fmt: skip
    ax.set_xticks(range(len(knobs)), [k.name for k in knobs], rotation=30, ha="right")
    ax.set_yticks(range(len(methods)), methods)
    fig.colorbar(image, ax=ax, label="rank among choices")
    ax.set_title(
        f"{suite_title(g.suite)}, budget {g.budget}: each method's best hardware",
        fontsize="medium",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
