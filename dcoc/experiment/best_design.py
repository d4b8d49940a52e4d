"""Best-so-far of a run, read incrementally from its records database.

Co-design: records are per layer evaluations; a *design* is one hardware configuration (knob
indices) with, per layer, the best valid mapping recorded on it (best by the layer objective,
as the env keeps it). A design is complete when every layer has a valid mapping; its network
cost sums ``count x cycles`` and ``count x energy`` over layers (EDP = total energy x total
cycles). The best complete design within the energy budget is the run's result. Only the
agents' own evaluations count (methods in ``counted_methods``); the reference search and the
confidence filter's out-of-budget measurements do not.

CPU schedules: the fastest valid measured candidate.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.records import RECORDS_FILE

COUNTED_METHODS = ("ppo", "confidence")
"""Record methods that are the agents' budgeted evaluations in co-design mode."""


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    db.row_factory = sqlite3.Row
    return db


def records_file(run_dir: Path) -> Path:
    return run_dir / RECORDS_FILE


@dataclass(frozen=True)
class LayerChoice:
    """The best valid record of one layer on one hardware configuration."""

    record_id: int
    objective: float
    cycles: int
    energy_pj: float
    tile_action: tuple[int, ...]
    order_action: tuple[int, ...]


@dataclass(frozen=True)
class BestCoDesign:
    hw_action: tuple[int, ...]
    hw: dict[str, Any]
    area_um2: float
    layers: tuple[LayerChoice, ...]
    cycles: float
    """Network total: sum over layers of count x cycles."""
    energy_pj: float
    objective: float

    @property
    def edp(self) -> float:
        return self.cycles * self.energy_pj


def layer_objective(objective: str, cycles: float, energy_pj: float) -> float:
    if objective == "latency":
        return float(cycles)
    if objective == "energy":
        return float(energy_pj)
    return float(cycles) * float(energy_pj)


class CoDesignBestTracker:
    """Reads new records since the last :meth:`update` and keeps the best complete design."""

    def __init__(
        self,
        records_path: Path,
        layer_keys: Sequence[str],
        counts: Sequence[int],
        *,
        objective: str,
        energy_budget_pj: float | None = None,
        counted_methods: Sequence[str] = COUNTED_METHODS,
    ) -> None:
        self.path = records_path
        self.keys = list(layer_keys)
        self.counts = list(counts)
        self.objective = objective
        self.energy_budget_pj = energy_budget_pj
        self.methods = tuple(counted_methods)
        self.evaluations = 0
        """Counted evaluations (valid or not) read so far."""
        self.best: BestCoDesign | None = None
        self._last_id = 0
        self._designs: dict[tuple[int, ...], dict[int, LayerChoice]] = {}
        self._hw: dict[tuple[int, ...], tuple[dict[str, Any], float]] = {}

    def update(self) -> BestCoDesign | None:
        if not self.path.exists():
            return self.best
        marks = ", ".join("?" for _ in self.methods)
        db = _connect(self.path)
        try:
            rows = db.execute(
                f"SELECT id, valid, design, cycles, energy_pj, area_um2 FROM candidates "
                f"WHERE id > ? AND target = 'accel' AND method IN ({marks}) ORDER BY id",
                (self._last_id, *self.methods),
            ).fetchall()
        finally:
            db.close()
        touched: set[tuple[int, ...]] = set()
        for row in rows:
            self._last_id = int(row["id"])
            self.evaluations += 1
            if not row["valid"] or row["cycles"] is None:
                continue
            design = json.loads(row["design"])
            key = tuple(int(a) for a in design["hw_action"])
            layer = int(design["layer_index"])
            choice = LayerChoice(
                int(row["id"]),
                layer_objective(self.objective, row["cycles"], row["energy_pj"]),
                int(row["cycles"]),
                float(row["energy_pj"]),
                tuple(design["tile_action"]),
                tuple(design["order_action"]),
            )
            layers = self._designs.setdefault(key, {})
            if layer not in layers or choice.objective < layers[layer].objective:
                layers[layer] = choice
                touched.add(key)
            self._hw.setdefault(key, (dict(design["hw"]), float(row["area_um2"] or math.nan)))
        for key in touched:
            self._consider(key)
        return self.best

    def _consider(self, key: tuple[int, ...]) -> None:
        layers = self._designs[key]
        if len(layers) < len(self.keys):
            return
        choices = tuple(layers[i] for i in range(len(self.keys)))
        cycles = float(sum(c * ch.cycles for c, ch in zip(self.counts, choices, strict=True)))
        energy = float(sum(c * ch.energy_pj for c, ch in zip(self.counts, choices, strict=True)))
        if self.energy_budget_pj is not None and energy > self.energy_budget_pj:
            return
        value = layer_objective(self.objective, cycles, energy)
        if self.best is None or value < self.best.objective:
            hw, area = self._hw[key]
            self.best = BestCoDesign(key, hw, area, choices, cycles, energy, value)


@dataclass(frozen=True)
class BestSchedule:
    record_id: int
    workload: str
    latency_s: float
    design: dict[str, Any]
    trace: Any
    metrics: dict[str, Any]


class CpuBestTracker:
    """The fastest valid record (every method) and the number of records."""

    def __init__(self, records_path: Path) -> None:
        self.path = records_path
        self.evaluations = 0
        self.failed = 0
        self.best: BestSchedule | None = None
        self._last_id = 0

    def update(self) -> BestSchedule | None:
        if not self.path.exists():
            return self.best
        db = _connect(self.path)
        try:
            rows = db.execute(
                "SELECT id, workload, valid, latency_s, design, trace, metrics FROM candidates "
                "WHERE id > ? AND target = 'cpu' ORDER BY id",
                (self._last_id,),
            ).fetchall()
        finally:
            db.close()
        for row in rows:
            self._last_id = int(row["id"])
            self.evaluations += 1
            if not row["valid"] or row["latency_s"] is None:
                self.failed += 1
                continue
            if self.best is None or row["latency_s"] < self.best.latency_s:
                self.best = BestSchedule(
                    int(row["id"]),
                    str(row["workload"]),
                    float(row["latency_s"]),
                    json.loads(row["design"]),
                    None if row["trace"] is None else json.loads(row["trace"]),
                    json.loads(row["metrics"]),
                )
        return self.best
