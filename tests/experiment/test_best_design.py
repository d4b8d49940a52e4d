"""The best-so-far read from the records: per hardware configuration the best mapping of each
layer, the network cost weighted by layer counts, only complete designs, only the agents'
budgeted methods, incremental reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcoc.experiment.best_design import CoDesignBestTracker, CpuBestTracker
from dcoc.records import CandidateRecord, RecordsDB, TargetKind

KEYS = ("resnet18/C5", "resnet18/C8")
COUNTS = (3, 2)


def _add(
    db: RecordsDB,
    hw: tuple[int, ...],
    layer: int,
    cycles: int,
    energy: float,
    *,
    method: str = "ppo",
    valid: bool = True,
) -> None:
    db.add_workload(KEYS[layer], {})
    db.add(
        CandidateRecord(
            target=TargetKind.ACCEL,
            workload=KEYS[layer],
            method=method,
            trial=0,
            design={
                "hw": {"pe": hw[0]},
                "hw_action": list(hw),
                "layer_index": layer,
                "tile_action": [layer, cycles],
                "order_action": [0],
            },
            valid=valid,
            cycles=cycles if valid else None,
            energy_pj=energy if valid else None,
            area_um2=1000.0 + hw[0],
            edp=cycles * energy if valid else None,
        )
    )


def test_best_complete_design_with_count_weighted_totals(tmp_path: Path) -> None:
    db = RecordsDB.open(tmp_path)
    tracker = CoDesignBestTracker(db.path, KEYS, COUNTS, objective="edp")
    _add(db, (1,), 0, 100, 10.0)
    assert tracker.update() is None  # layer C8 not mapped yet on hw (1,)
    _add(db, (1,), 1, 50, 4.0)
    best = tracker.update()
    assert best is not None
    # cycles 3*100 + 2*50 = 400; energy 3*10 + 2*4 = 38; EDP 15200
    assert (best.cycles, best.energy_pj, best.objective) == (400.0, 38.0, 15200.0)
    # A better C5 mapping on the same hardware improves that design.
    _add(db, (1,), 0, 80, 10.0)
    best = tracker.update()
    assert best is not None and best.objective == (3 * 80 + 100) * 38.0
    assert best.layers[0].tile_action == (0, 80)
    # A worse one does not replace it; an invalid record and other methods do not count.
    _add(db, (1,), 0, 90, 10.0)
    _add(db, (1,), 0, 1, 0.1, valid=False)
    _add(db, (2,), 0, 1, 1.0, method="reference")
    _add(db, (2,), 1, 1, 1.0, method="confidence_skipped")
    best = tracker.update()
    assert best is not None and best.objective == 340 * 38.0
    assert tracker.evaluations == 5  # ppo records, valid or not
    # Another hardware configuration, complete and better, takes over.
    _add(db, (3,), 0, 10, 1.0, method="confidence")
    _add(db, (3,), 1, 10, 1.0)
    best = tracker.update()
    assert best is not None and best.hw_action == (3,) and best.hw == {"pe": 3}
    assert best.objective == 50.0 * 5.0 and best.area_um2 == 1003.0
    assert tracker.evaluations == 7
    db.close()


@pytest.mark.parametrize(("objective", "expected"), [("latency", 400.0), ("energy", 38.0)])
def test_other_objectives(tmp_path: Path, objective: str, expected: float) -> None:
    db = RecordsDB.open(tmp_path)
    _add(db, (1,), 0, 100, 10.0)
    _add(db, (1,), 1, 50, 4.0)
    best = CoDesignBestTracker(db.path, KEYS, COUNTS, objective=objective).update()
    assert best is not None and best.objective == expected
    db.close()


def test_energy_budget_excludes_designs(tmp_path: Path) -> None:
    db = RecordsDB.open(tmp_path)
    _add(db, (1,), 0, 100, 10.0)
    _add(db, (1,), 1, 50, 4.0)  # energy 38
    tracker = CoDesignBestTracker(db.path, KEYS, COUNTS, objective="edp", energy_budget_pj=37.0)
    assert tracker.update() is None
    db.close()


def test_a_fresh_tracker_restores_the_best_of_an_existing_run(tmp_path: Path) -> None:
    db = RecordsDB.open(tmp_path)
    for hw, c in (((1,), 100), ((2,), 60), ((3,), 70)):
        _add(db, hw, 0, c, 1.0)
        _add(db, hw, 1, c, 1.0)
    db.close()
    best = CoDesignBestTracker(tmp_path / "records.sqlite", KEYS, COUNTS, objective="edp").update()
    assert best is not None and best.hw_action == (2,)


def test_cpu_tracker_keeps_the_fastest_valid_record(tmp_path: Path) -> None:
    db = RecordsDB.open(tmp_path)
    db.add_workload("matmul:8,8,8", {})
    for latency, valid in ((3e-3, True), (1e-4, False), (2e-3, True), (2.5e-3, True)):
        db.add(
            CandidateRecord(
                target=TargetKind.CPU,
                workload="matmul:8,8,8",
                method="cpu_schedule_env",
                trial=0,
                design={"d": latency},
                valid=valid,
                latency_s=latency,
            )
        )
    tracker = CpuBestTracker(db.path)
    best = tracker.update()
    assert best is not None and best.latency_s == 2e-3 and best.design == {"d": 2e-3}
    assert (tracker.evaluations, tracker.failed) == (4, 1)
    db.close()
