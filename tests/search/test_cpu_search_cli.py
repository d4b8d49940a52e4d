"""``python -m dcoc.search`` (cpu and accel targets): the JSON contract, records, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dcoc.records import RecordsDB

SUMMARY_KEYS = ("evaluations", "failed", "run_dir", "method", "workload", "wall_s")
"""Keys of every target's ``--json`` summary."""


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "dcoc.search", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
        check=False,
    )


def run_search_json(
    target: str, workload: str, method: str, trials: int, *args: str, cwd: Path | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """A ``--json`` search that must succeed, and the one JSON object it printed on stdout."""
    target_args = ("--target", target, "--workload", workload, "--method", method)
    proc = run_cli(*target_args, "--trials", str(trials), "--json", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(proc.stdout)  # exactly one JSON object on stdout


def test_random_search_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc, out = run_search_json(
        "cpu", "matmul:32,32,32", "random", 3, "--run-dir", str(run_dir), "--seed", "1"
    )
    assert {"best_latency_s", "best_gflops", *SUMMARY_KEYS} <= out.keys()
    assert out["evaluations"] == 3 and out["method"] == "random"
    assert out["workload"] == "matmul:32,32,32"
    assert out["run_dir"] == str(run_dir)
    assert out["best_gflops"] == pytest.approx(2 * 32**3 / out["best_latency_s"] / 1e9)
    assert "[random]" in proc.stderr  # progress on stderr
    assert json.loads((run_dir / "summary.json").read_text()) == out
    with RecordsDB.open(run_dir) as db:
        assert db.count("matmul:32,32,32", "random") == 3
        assert db.failed_count("matmul:32,32,32", "random") == out["failed"]
        (best,) = db.best("matmul:32,32,32", 1)
        assert best.latency_s == out["best_latency_s"] and best.verified
        assert best.trace is not None and "decisions" in best.design


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workload", "nosuch/C1", "--method", "random"], "nosuch"),
        (["--workload", "matmul:1,2", "--method", "random"], "matmul"),
        (["--workload", "matmul:8,8,8", "--method", "annealing"], "unknown method"),
        (["--workload", "matmul:8,8,8", "--method", "random", "--trials", "0"], "positive integer"),
        (["--method", "random"], "--workload"),
        (["--workload", "matmul:8,8,8", "--method", "random", "--seed", "-1"], "integer >= 0"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], message: str) -> None:
    proc = run_cli("--target", "cpu", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_accel_random_search_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "accel"
    _, out = run_search_json(
        "accel", "resnet18/C5", "random", 24, "--run-dir", str(run_dir), "--seed", "2"
    )
    assert {"best_edp", "best_cycles", "best_energy_pj", *SUMMARY_KEYS} <= out.keys()
    assert out["evaluations"] == 24
    assert out["best_edp"] == pytest.approx(out["best_cycles"] * out["best_energy_pj"])
    with RecordsDB.open(run_dir) as db:
        assert db.count("resnet18/C5", "random", "accel") == 24
        assert db.failed_count("resnet18/C5", "random", "accel") == out["failed"]
        records = list(db.iterate("resnet18/C5"))
        valid = [r for r in records if r.valid]
        # network EDP of one layer run 3 times (C5's count): (3 x cycles) x (3 x energy)
        best_layer = min(r.edp for r in valid if r.edp is not None)
        assert out["best_edp"] == pytest.approx(9 * best_layer, rel=1e-12)
        assert all(r.error for r in records if not r.valid)
        assert all({"hw", "hw_action", "mapping", "tile_action"} <= set(r.design) for r in records)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "metaschedule"], "unknown method 'metaschedule' for --target accel"),
        (["--method", "random", "--design-space", "nope.space.yaml"], "nope.space.yaml"),
    ],
)
def test_accel_bad_arguments(args: list[str], message: str, tmp_path: Path) -> None:
    proc = run_cli(
        "--target", "accel", "--workload", "resnet18/C5", "--run-dir", str(tmp_path / "x"), *args
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_default_run_dir(tmp_path: Path) -> None:
    _, out = run_search_json("cpu", "matmul:16,16,16", "random", 1, cwd=tmp_path)
    run_dir = out["run_dir"]
    assert run_dir.startswith("runs/search__matmul_16_16_16__random__")
    assert (tmp_path / run_dir / "records.sqlite").exists()


@pytest.mark.slow
def test_metaschedule_method_records_and_verifies(tmp_path: Path) -> None:
    run_dir = tmp_path / "ms"
    _, out = run_search_json("cpu", "matmul:32,32,32", "metaschedule", 4, "--run-dir", str(run_dir))
    assert 1 <= out["evaluations"] <= 4 and out["method"] == "metaschedule"
    with RecordsDB.open(run_dir) as db:
        assert db.count("matmul:32,32,32", "metaschedule") == out["evaluations"]
        verified = db.best("matmul:32,32,32", 1, method="metaschedule-verify", verified_only=True)
        assert verified and verified[0].latency_s == out["best_latency_s"]
    assert (run_dir / "metaschedule" / "database_tuning_record.json").exists()
