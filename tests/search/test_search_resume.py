"""``python -m dcoc.search --resume``: a search killed with SIGKILL at a random moment and
resumed ends with the records and the result of the same search never interrupted."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ROW = "workload, method, trial, design, valid, cycles, energy_pj, edp, latency_s"
"""What must survive: every evaluation's candidate and numbers (not its time stamp)."""


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1")


def _search(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcoc.search", *args],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=ROOT,
        timeout=600,
        check=False,
    )


def _rows(run_dir: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{run_dir / 'records.sqlite'}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in db.execute(f"SELECT {ROW} FROM candidates ORDER BY id")]
    except sqlite3.OperationalError:  # the table is not there yet
        return []
    finally:
        db.close()


def _killed_at_random(args: list[str], run_dir: Path, seed: int) -> int:
    """Start the search, SIGKILL it a random moment after its first records are committed;
    the number of records it left."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcoc.search", *args, "--run-dir", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "records.sqlite").exists() or not _rows(run_dir):
            assert proc.poll() is None, "the search ended before it recorded anything"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(random.Random(seed).uniform(0.0, 1.0))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        code = proc.wait(timeout=60)
    assert code == -signal.SIGKILL, "the search finished before it was killed: raise --trials"
    return len(_rows(run_dir))


@pytest.mark.slow
@pytest.mark.parametrize(("method", "seed"), [("ga", 3), ("sa", 4), ("mcts", 5)])
def test_accel_search_killed_and_resumed_equals_the_uninterrupted_run(
    method: str, seed: int, tmp_path: Path
) -> None:
    args = ["--target", "accel", "--workload", "resnet18.vta", "--method", method]
    args += ["--trials", "4000", "--seed", str(seed), "--json"]
    whole = _search(*args, "--run-dir", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr

    run = tmp_path / "killed"
    left = _killed_at_random(args, run, seed)
    assert 0 < left < 4000
    assert _rows(run) == _rows(tmp_path / "whole")[:left]  # a prefix, nothing half-written
    assert not (run / "summary.json").exists()

    again = _search(*args, "--run-dir", str(run))  # not silently written into
    assert again.returncode == 2 and f"--resume {run}" in again.stderr

    resumed = _search("--resume", str(run), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert f"replaying {left} recorded evaluations" in resumed.stderr
    assert _rows(run) == _rows(tmp_path / "whole")
    got, want = json.loads(resumed.stdout), json.loads(whole.stdout)
    for key in ("best_edp", "best_hw", "evaluations", "failed", "best_cycles"):
        assert got[key] == want[key], key
    assert (run / "best" / "design.json").is_file()

    finished = _search("--resume", str(run))
    assert finished.returncode == 2 and "nothing to resume" in finished.stderr


def test_resume_refusals(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = ["--target", "accel", "--workload", "resnet18/C5", "--method", "random"]
    first = _search(*args, "--trials", "20", "--run-dir", str(run))
    assert first.returncode == 0, first.stderr
    saved = json.loads((run / "search.json").read_text())["arguments"]
    assert saved["method"] == "random" and saved["trials"] == 20

    def refused(*argv: str) -> str:
        proc = _search(*argv)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        return proc.stderr.strip().splitlines()[-1]

    (run / "summary.json").unlink()  # as if killed after its last evaluation
    assert "give only --resume RUN_DIR and --json" in refused("--resume", str(run), "--seed", "1")
    assert "no such file" in refused("--resume", str(tmp_path / "nowhere"))

    # Another seed asks for other evaluations than the records hold.
    (run / "search.json").write_text(json.dumps({"arguments": {**saved, "seed": 9}}))
    assert "cannot resume: evaluation 1 of this search differs" in refused("--resume", str(run))
    (run / "search.json").write_text(json.dumps({"arguments": {**saved, "trials": "20"}}))
    assert "not the arguments of a dcoc.search run" in refused("--resume", str(run))
    (run / "search.json").write_text(json.dumps({"arguments": {**saved, "method": "mappo"}}))
    assert "not replayable" in refused("--resume", str(run))
    (run / "search.json").write_text(
        json.dumps({"arguments": {**saved, "method": "mcts", "proposer": "llm"}})
    )
    assert "language model" in refused("--resume", str(run))

    (run / "search.json").write_text(json.dumps({"arguments": saved}))
    resumed = _search("--resume", str(run), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["evaluations"] == 20
    assert len(_rows(run)) == 20  # replayed, not written again


@pytest.mark.slow
def test_cpu_random_search_killed_and_resumed_measures_each_trial_once(tmp_path: Path) -> None:
    args = ["--target", "cpu", "--workload", "matmul:64,64,64", "--method", "random"]
    args += ["--trials", "40", "--seed", "2"]
    run = tmp_path / "run"
    left = _killed_at_random(args, run, seed=2)
    assert 0 < left < 40
    before = _rows(run)

    resumed = _search("--resume", str(run), "--json")
    assert resumed.returncode == 0, resumed.stderr
    after = _rows(run)
    assert after[:left] == before  # what was measured before the kill is kept as it was
    assert sorted(int(str(r[2])) for r in after) == list(range(40))  # each trial once
    assert json.loads(resumed.stdout)["evaluations"] == 40
