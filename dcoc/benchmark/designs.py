"""A co-design run's complete designs and best-so-far curve, read back from its records.

A design is one hardware configuration with, per layer, the best valid mapping evaluated on
it (best by the layer objective), as :class:`~dcoc.search.network_best.NetworkBest` keeps it;
it is complete when every layer has one. Only the records of the run's own methods count, and
only the first ``budget`` of them, as the run's result was read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from dcoc.benchmark.rundirs import Design
from dcoc.objective import Objective
from dcoc.search.network_best import CoDesignBestTracker, connect_read_only


def complete_designs(
    records_path: Path,
    counts: Sequence[int],
    *,
    objective: str,
    counted_methods: Sequence[str],
    max_evaluations: int,
) -> tuple[Design, ...]:
    """Every complete design (one per hardware configuration), in the order of the
    configurations' first evaluation."""
    if not records_path.is_file():
        return ()
    marks = ", ".join("?" for _ in counted_methods)
    db = connect_read_only(records_path)
    try:
        rows = db.execute(
            f"SELECT valid, design, cycles, energy_pj, area_um2 FROM candidates "
            f"WHERE target = 'accel' AND method IN ({marks}) ORDER BY id LIMIT ?",
            (*counted_methods, max_evaluations),
        ).fetchall()
    finally:
        db.close()
    best: dict[tuple[int, ...], dict[int, tuple[float, float, float]]] = {}
    area: dict[tuple[int, ...], float] = {}
    for row in rows:
        design = json.loads(row["design"])
        key = tuple(int(a) for a in design["hw_action"])
        layers = best.setdefault(key, {})
        if not row["valid"] or row["cycles"] is None:
            continue
        if row["area_um2"] is not None:
            area.setdefault(key, float(row["area_um2"]))
        value = Objective.parse(objective).of(row["cycles"], row["energy_pj"])
        layer = int(design["layer_index"])
        if layer not in layers or value < layers[layer][0]:
            layers[layer] = (value, float(row["cycles"]), float(row["energy_pj"]))
    out = []
    for key, layers in best.items():
        if len(layers) < len(counts):
            continue
        cycles = sum(c * layers[i][1] for i, c in enumerate(counts))
        energy = sum(c * layers[i][2] for i, c in enumerate(counts))
        out.append(Design(float(cycles), float(energy), area.get(key, math.nan)))
    return tuple(out)


def best_curve(
    records_path: Path,
    keys: Sequence[str],
    counts: Sequence[int],
    *,
    objective: str,
    counted_methods: Sequence[str],
    max_evaluations: int,
) -> list[float]:
    """The best network objective after each counted evaluation, as the run was measured."""
    tracker = CoDesignBestTracker(
        records_path,
        keys,
        counts,
        objective=objective,
        counted_methods=counted_methods,
        max_evaluations=max_evaluations,
    )
    tracker.update()
    return tracker.curve
