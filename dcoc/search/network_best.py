"""The best complete network design of a co-design search, from its layer evaluations.

Every method's evaluations are *layer* evaluations: one hardware configuration (knob indices),
one layer, one mapping. A *design* is one hardware configuration with, per layer, the best
valid mapping evaluated on it (best by the layer objective). A design is complete when every
layer has a valid mapping; its network cost sums ``count x cycles`` and ``count x energy`` over
layers (EDP = total energy x total cycles). The best complete design within the energy budget
(and on hardware within the area budget) is the search's result.

:class:`NetworkBest` keeps that incrementally in memory (the search task feeds it);
:class:`CoDesignBestTracker` feeds one from a run's records database, so a run in another
process (the RL agents' EnvRunners) is read the same way.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.objective import Objective

SEED_METHOD = "mcts_seed"
"""Record method of the tree search that seeds the agents (:mod:`dcoc.experiment.seeding`)."""
COUNTED_METHODS = ("ppo", "confidence", SEED_METHOD)
"""Record methods that are the agents' budgeted evaluations in co-design mode."""


@dataclass(frozen=True)
class LayerChoice:
    """The best valid evaluation of one layer on one hardware configuration."""

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


class NetworkBest:
    """Per hardware configuration the best valid choice of each layer, and the best complete
    design; :meth:`add` one layer evaluation at a time."""

    def __init__(
        self,
        counts: Sequence[int],
        *,
        objective: Objective | str,
        energy_budget_pj: float | None = None,
    ) -> None:
        self.counts = list(counts)
        self.objective = Objective.parse(objective)
        self.energy_budget_pj = energy_budget_pj
        self.best: BestCoDesign | None = None
        self._designs: dict[tuple[int, ...], dict[int, LayerChoice]] = {}
        self._hw: dict[tuple[int, ...], tuple[dict[str, Any], float]] = {}

    def add(
        self,
        hw_action: tuple[int, ...],
        hw: dict[str, Any],
        area_um2: float,
        layer: int,
        choice: LayerChoice,
    ) -> bool:
        """Take one valid layer evaluation; ``True`` if the best design improved."""
        layers = self._designs.setdefault(hw_action, {})
        self._hw.setdefault(hw_action, (hw, area_um2))
        if layer in layers and choice.objective >= layers[layer].objective:
            return False
        layers[layer] = choice
        return self._consider(hw_action)

    def _consider(self, key: tuple[int, ...]) -> bool:
        layers = self._designs[key]
        if len(layers) < len(self.counts):
            return False
        choices = tuple(layers[i] for i in range(len(self.counts)))
        cycles = float(sum(c * ch.cycles for c, ch in zip(self.counts, choices, strict=True)))
        energy = float(sum(c * ch.energy_pj for c, ch in zip(self.counts, choices, strict=True)))
        if self.energy_budget_pj is not None and energy > self.energy_budget_pj:
            return False
        value = self.objective.of(cycles, energy)
        if self.best is not None and value >= self.best.objective:
            return False
        hw, area = self._hw[key]
        self.best = BestCoDesign(key, hw, area, choices, cycles, energy, value)
        return True


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to a records file (another process may be writing it)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
    db.row_factory = sqlite3.Row
    return db


class CoDesignBestTracker:
    """Reads new records since the last :meth:`update` and keeps the best complete design.

    Only the methods in ``counted_methods`` count (the reward's reference search and the
    confidence filter's out-of-budget measurements do not). ``curve`` holds, per counted
    evaluation in record order, the best network objective so far (``inf`` before the first
    complete design)."""

    def __init__(
        self,
        records_path: Path,
        layer_keys: Sequence[str],
        counts: Sequence[int],
        *,
        objective: Objective | str,
        energy_budget_pj: float | None = None,
        counted_methods: Sequence[str] = COUNTED_METHODS,
        max_evaluations: int | None = None,
    ) -> None:
        self.path = records_path
        self.keys = list(layer_keys)
        self.methods = tuple(counted_methods)
        self.max_evaluations = max_evaluations
        """Stop reading after this many counted evaluations (a budget), ``None``: all."""
        self.evaluations = 0
        """Counted evaluations (valid or not) read so far."""
        self.failed = 0
        self.curve: list[float] = []
        self._network = NetworkBest(counts, objective=objective, energy_budget_pj=energy_budget_pj)
        self._last_id = 0

    @property
    def best(self) -> BestCoDesign | None:
        return self._network.best

    def update(self) -> BestCoDesign | None:
        if not self.path.exists():
            return self.best
        if self.max_evaluations is not None and self.evaluations >= self.max_evaluations:
            return self.best
        marks = ", ".join("?" for _ in self.methods)
        db = connect_read_only(self.path)
        try:
            rows = db.execute(
                f"SELECT id, valid, design, cycles, energy_pj, area_um2 FROM candidates "
                f"WHERE id > ? AND target = 'accel' AND method IN ({marks}) ORDER BY id",
                (self._last_id, *self.methods),
            ).fetchall()
        finally:
            db.close()
        for row in rows:
            if self.max_evaluations is not None and self.evaluations >= self.max_evaluations:
                break
            self._last_id = int(row["id"])
            self.evaluations += 1
            if row["valid"] and row["cycles"] is not None:
                self._take(row)
            else:
                self.failed += 1
            best = self._network.best
            self.curve.append(math.inf if best is None else best.objective)
        return self.best

    def _take(self, row: sqlite3.Row) -> None:
        design = json.loads(row["design"])
        choice = LayerChoice(
            int(row["id"]),
            self._network.objective.of(row["cycles"], row["energy_pj"]),
            int(row["cycles"]),
            float(row["energy_pj"]),
            tuple(design.get("tile_action", ())),
            tuple(design.get("order_action", ())),
        )
        self._network.add(
            tuple(int(a) for a in design["hw_action"]),
            dict(design["hw"]),
            float(row["area_um2"] if row["area_um2"] is not None else math.nan),
            int(design["layer_index"]),
            choice,
        )
