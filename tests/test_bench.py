"""``python -m dcoc.bench convergence``: best-so-far curves read back from records databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcoc.bench import Curve, convergence_curves, format_table, main, natural_key
from dcoc.objective import Objective
from dcoc.records import CandidateRecord, RecordsDB, TargetKind


def _run(path: Path, rows: list[tuple[str, bool, float | None]]) -> Path:
    path.mkdir()
    with RecordsDB.open(path / "records.sqlite") as db:
        db.add_workload("resnet18/C5", {})
        for trial, (method, valid, edp) in enumerate(rows):
            db.add(
                CandidateRecord(
                    target=TargetKind.ACCEL,
                    workload="resnet18/C5",
                    method=method,
                    trial=trial,
                    design={},
                    valid=valid,
                    edp=edp,
                    error=None if valid else "capacity",
                )
            )
    return path


def test_best_so_far_skips_bookkeeping_and_invalid_records(tmp_path: Path) -> None:
    run = _run(
        tmp_path / "a",
        [
            ("reference", True, 1.0),
            ("ppo", True, 50.0),
            ("ppo", False, None),
            ("ppo", True, 20.0),
            ("confidence_skipped", True, 2.0),
            ("ppo", True, 30.0),
        ],
    )
    (curve,) = convergence_curves(run, Objective.EDP)
    assert curve.best == (50.0, 50.0, 20.0, 20.0)
    assert curve.valid == 3
    assert curve.evaluations_to_within(0.01) == 3
    (everything,) = convergence_curves(run, Objective.EDP, skip_methods=())
    assert everything.final == 1.0 and everything.evaluations == 6


def test_cli_prints_table_and_writes_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run(tmp_path / "mappo", [("ppo", True, 9.0), ("ppo", True, 3.0)])
    b = _run(tmp_path / "random", [("random", True, 5.0), ("random", True, 4.0)])
    out = tmp_path / "c.png"
    assert main(["convergence", str(a), str(b), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "mappo" in table and "random" in table
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["convergence", str(tmp_path / "missing")]) == 2
    assert "no records.sqlite" in capsys.readouterr().err
    bad = _run(tmp_path / "bad", [("ppo", False, None)])
    assert main(["convergence", str(bad), "--out", str(tmp_path / "x.png")]) == 1


def test_table_groups_by_workload_in_natural_order(tmp_path: Path) -> None:
    assert sorted(["resnet18/C10", "resnet18/C2", "resnet18/C9"], key=natural_key) == [
        "resnet18/C2",
        "resnet18/C9",
        "resnet18/C10",
    ]
    curves = [
        Curve("b", "net/C10", (1.0,), 1),
        Curve("b", "net/C2", (2.0,), 1),
        Curve("a", "net/C2", (3.0,), 1),
    ]
    rows = format_table(curves, Objective.EDP).splitlines()[2:]
    assert [r.split()[:2] for r in rows] == [["b", "net/C2"], ["a", "net/C2"], ["b", "net/C10"]]
