"""The layout of a benchmark directory, and reading its runs back.

::

    OUT/bench.json                              the commands that wrote OUT, suites and methods
    OUT/<suite>/<budget>/<method>/<seed>/       one run
        run.json                                what was asked (suite, budget, method, seed,
                                                objective, area budget) and the records' method
                                                names that count as the run's evaluations
        records.sqlite, best/, summary.json     the search's own outputs (summary.json last:
                                                a run is finished when it exists)
        bench_result.json                       the numbers the report needs: best objective,
                                                evaluations, failed evaluations, wall time,
                                                the compact best-so-far curve, complete designs
        error.txt                               a run that raised: the error, then its traceback

A compact curve holds ``(evaluation, best)`` where the best changes, plus the last evaluation:
the best after evaluation ``e`` is that of the last point at or before ``e`` (``inf`` before the
first point).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dcoc.benchmark.suites import Suite

BENCH_FILE = "bench.json"
RUN_FILE = "run.json"
SUMMARY_FILE = "summary.json"
RESULT_FILE = "bench_result.json"
ERROR_FILE = "error.txt"

Point = tuple[int, float]


@dataclass(frozen=True)
class RunSpec:
    """One run of a benchmark: a method with a seed and a budget on a suite."""

    suite: Suite
    budget: int
    method: str
    seed: int
    objective: str
    """``edp``, ``latency`` (cycles) or ``energy`` (pJ) for accelerator suites; ``latency_s``
    for CPU suites."""
    area_budget_um2: float | None = None
    policy: str | None = None
    """A carried method's starting checkpoint (``--policy``; absolute path); ``None`` for
    every other method."""

    def run_dir(self, out: Path) -> Path:
        return out / self.suite.key / str(self.budget) / self.method / str(self.seed)

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite.to_json(),
            "budget": self.budget,
            "method": self.method,
            "seed": self.seed,
            "objective": self.objective,
            "area_budget_um2": self.area_budget_um2,
            "policy": self.policy,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> RunSpec:
        s = data["suite"]
        return RunSpec(
            Suite(s["name"], s["kind"], s["workload"], s.get("design_space")),
            int(data["budget"]),
            str(data["method"]),
            int(data["seed"]),
            str(data["objective"]),
            data.get("area_budget_um2"),
            data.get("policy"),
        )


@dataclass(frozen=True)
class Design:
    """A complete design found by a run (its best mapping per layer on one configuration)."""

    cycles: float
    energy_pj: float
    area_um2: float


@dataclass(frozen=True)
class RunResult:
    spec: RunSpec
    status: Literal["ok", "failed"]
    best_objective: float | None = None
    """``None``: no complete design (or the run failed)."""
    evaluations: int = 0
    failed_evaluations: int = 0
    wall_s: float = 0.0
    curve: tuple[Point, ...] = ()
    designs: tuple[Design, ...] = field(default=(), repr=False)
    best_hw: dict[str, Any] | None = None
    error: str | None = None
    """The first line of the error of a failed run."""

    def to_json(self) -> dict[str, Any]:
        return {
            "best_objective": self.best_objective,
            "evaluations": self.evaluations,
            "failed_evaluations": self.failed_evaluations,
            "wall_s": self.wall_s,
            "best_hw": self.best_hw,
            "curve": [[e, _json_float(v)] for e, v in self.curve],
            "designs": [[d.cycles, d.energy_pj, d.area_um2] for d in self.designs],
        }


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def compact_curve(curve: Sequence[float]) -> tuple[Point, ...]:
    """The points of ``curve`` (best after each evaluation) where the best changes, and the
    last one."""
    points: list[Point] = []
    previous = math.inf
    for i, value in enumerate(curve):
        if value != previous:
            points.append((i + 1, float(value)))
            previous = value
    if curve and (not points or points[-1][0] != len(curve)):
        points.append((len(curve), float(curve[-1])))
    return tuple(points)


def best_at(curve: Sequence[Point], evaluation: int) -> float:
    """The best of a compact curve after ``evaluation`` evaluations."""
    best = math.inf
    for e, value in curve:
        if e > evaluation:
            break
        best = value
    return best


def write_run_file(run_dir: Path, spec: RunSpec, counted_methods: Sequence[str] | None) -> None:
    data = {"spec": spec.to_json(), "counted_methods": counted_methods}
    (run_dir / RUN_FILE).write_text(json.dumps(data, indent=2) + "\n")


def read_run_file(run_dir: Path) -> tuple[RunSpec, tuple[str, ...] | None]:
    data = json.loads((run_dir / RUN_FILE).read_text())
    counted = data.get("counted_methods")
    return RunSpec.from_json(data["spec"]), None if counted is None else tuple(counted)


def is_finished(run_dir: Path) -> bool:
    return (run_dir / SUMMARY_FILE).is_file()


def write_result(run_dir: Path, result: RunResult) -> None:
    (run_dir / RESULT_FILE).write_text(json.dumps(result.to_json(), indent=1) + "\n")


def write_error(run_dir: Path, error: BaseException, traceback_text: str) -> str:
    """``error.txt``: the error on its first line, the traceback after; the first line."""
    line = " ".join(f"{type(error).__name__}: {error}".split())
    (run_dir / ERROR_FILE).write_text(f"{line}\n\n{traceback_text}")
    return line


def read_result(run_dir: Path, spec: RunSpec) -> RunResult | None:
    """The finished or failed run in ``run_dir``; ``None`` if neither (never ran, running,
    interrupted) or if its numbers are not written yet."""
    if not is_finished(run_dir):
        if (run_dir / ERROR_FILE).is_file():
            first = (run_dir / ERROR_FILE).read_text().split("\n", 1)[0]
            return RunResult(spec, "failed", error=first)
        return None
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    return RunResult(
        spec,
        "ok",
        best_objective=data["best_objective"],
        evaluations=int(data["evaluations"]),
        failed_evaluations=int(data["failed_evaluations"]),
        wall_s=float(data["wall_s"]),
        curve=tuple((int(e), math.inf if v is None else float(v)) for e, v in data["curve"]),
        designs=tuple(Design(*map(float, d)) for d in data["designs"]),
        best_hw=data.get("best_hw"),
    )


def run_dirs(out: Path) -> list[Path]:
    """Every run directory under ``out`` (those holding ``run.json``), sorted."""
    return sorted(p.parent for p in out.glob(f"*/*/*/*/{RUN_FILE}"))


def collect(out: Path) -> list[RunResult]:
    """The finished and failed runs under ``out``."""
    results = []
    for run_dir in run_dirs(out):
        spec, _ = read_run_file(run_dir)
        result = read_result(run_dir, spec)
        if result is not None:
            results.append(result)
    return results


@dataclass(frozen=True)
class BenchIndex:
    """What ``OUT/bench.json`` keeps: the commands that wrote OUT, and the order of the
    suites and methods as they were given (the report's order)."""

    commands: tuple[str, ...] = ()
    suites: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()

    def merged(self, command: str, suites: Iterable[str], methods: Iterable[str]) -> BenchIndex:
        def union(a: Iterable[str], b: Iterable[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys([*a, *b]))

        return BenchIndex(
            union(self.commands, [command]),
            union(self.suites, suites),
            union(self.methods, methods),
        )


def read_index(out: Path) -> BenchIndex:
    path = out / BENCH_FILE
    if not path.is_file():
        return BenchIndex()
    data = json.loads(path.read_text())
    return BenchIndex(
        tuple(data.get("commands", ())),
        tuple(data.get("suites", ())),
        tuple(data.get("methods", ())),
    )


def write_index(out: Path, index: BenchIndex) -> None:
    data = {"commands": index.commands, "suites": index.suites, "methods": index.methods}
    (out / BENCH_FILE).write_text(json.dumps(data, indent=2) + "\n")
