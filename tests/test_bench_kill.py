"""``python -m dcoc.bench run`` killed with SIGKILL at a random moment, then the same command
again: every run ends with the records and the numbers of the benchmark never interrupted."""

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

from dcoc.benchmark.rundirs import RESULT_FILE, run_dirs

ROOT = Path(__file__).resolve().parents[1]
ROW = "workload, method, trial, design, valid, cycles, energy_pj, edp"


def _bench(out: Path) -> list[str]:
    return [
        sys.executable, "-m", "dcoc.bench", "run", "--suite", "resnet18.vta",
        "--methods", "ga,sa", "--budget", "3000", "--seeds", "0-1", "--out", str(out),
    ]  # fmt: skip


def _rows(run: Path) -> list[tuple[object, ...]]:
    path = run / "records.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in db.execute(f"SELECT {ROW} FROM candidates ORDER BY id")]
    except sqlite3.OperationalError:  # the table is not there yet
        return []
    finally:
        db.close()


def _runs(out: Path) -> dict[str, tuple[list[tuple[object, ...]], object]]:
    return {
        str(run.relative_to(out)): (
            _rows(run),
            json.loads((run / RESULT_FILE).read_text())["best_objective"],
        )
        for run in run_dirs(out)
    }


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_bench_killed_at_a_random_moment_then_rerun(seed: int, tmp_path: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    whole = tmp_path / "whole"
    done = subprocess.run(_bench(whole), capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    want = _runs(whole)
    assert len(want) == 4

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        _bench(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    try:
        deadline = time.monotonic() + 300
        while not any(_rows(run) for run in out.glob("resnet18.vta/*/*/*")):
            assert proc.poll() is None, "the benchmark ended before it recorded anything"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(random.Random(seed).uniform(0.0, 6.0))  # any of the four runs
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        code = proc.wait(timeout=60)
    assert code == -signal.SIGKILL, "the benchmark finished before it was killed"
    for run in out.glob("resnet18.vta/*/*/*"):  # what the killed benchmark left is a prefix
        name = str(run.relative_to(out))
        assert _rows(run) == want[name][0][: len(_rows(run))], name

    again = subprocess.run(_bench(out), capture_output=True, text=True, env=env, cwd=ROOT)
    assert again.returncode == 0, again.stderr
    assert _runs(out) == want
    assert not (out / "interrupted").exists()  # the baseline runs resumed in place
