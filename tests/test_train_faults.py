"""``python -m dcoc.train`` through faults: an EnvRunner killed by its pid mid-training is
replaced and the run completes; the whole job killed with SIGKILL resumes from its last
checkpoint with every evaluation it recorded before the kill."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TINY = [
    "train.checkpoint_every=1",
    "agents.train_batch_size=90",
    "agents.minibatch_size=45",
    "agents.num_epochs=1",
    "agents.hidden_sizes=[32]",
    "codesign.reference_samples=8",
    "confidence.num_candidates=4",
    "confidence.keep_fraction=0.5",
]


def _command(run: Path, *sets: str) -> list[str]:
    args = [sys.executable, "-m", "dcoc.train", "--config", "experiments/quickstart.yaml"]
    args += ["--run-dir", str(run)]
    return args + [a for s in (*TINY, *sets) for a in ("--set", s)]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    return env


def _iterations(run: Path) -> int:
    try:
        return len(json.loads((run / "progress.json").read_text())["history"])
    except (OSError, ValueError, KeyError):
        return 0


def _records(run: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{run / 'records.sqlite'}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in db.execute("SELECT id, method, design, edp FROM candidates")]
    finally:
        db.close()


def _wait_for(proc: subprocess.Popen[str], done: object, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.2)


def _env_runners(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    """The run's remote EnvRunner processes (Ray workers under its own local cluster)."""
    found = []
    for child in psutil.Process(proc.pid).children(recursive=True):
        try:
            if "EnvRunner" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _stop_leftovers(proc: subprocess.Popen[str], temp_dir: str) -> None:
    """Kill what the killed job's local Ray cluster left running (only this test's)."""
    for p in psutil.process_iter(["cmdline"]):
        try:
            if temp_dir in " ".join(p.info["cmdline"] or []):
                p.kill()
        except psutil.Error:
            continue


def test_a_killed_env_runner_is_replaced_and_the_run_completes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    temp = f"/tmp/dcoc-ray-test-faults-{os.getpid()}"
    sets = ["train.iterations=4", "agents.num_env_runners=1", f"ray.temp_dir={temp}"]
    proc = subprocess.Popen(
        _command(run, *sets), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(), cwd=ROOT,
    )  # fmt: skip
    try:
        _wait_for(proc, lambda: _iterations(run) >= 1, "a first iteration")
        (runner,) = _env_runners(proc)
        runner.kill()  # SIGKILL by its pid
        _out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _stop_leftovers(proc, temp)
    assert proc.returncode == 0, err[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 4 and summary["best"] is not None
    methods = [m for _, m, _, _ in _records(run)]
    assert summary["evaluations"] == sum(m in ("ppo", "confidence") for m in methods)


def test_the_job_killed_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    run = tmp_path / "run"
    temp = f"/tmp/dcoc-ray-test-kill-{os.getpid()}"
    sets = ["train.iterations=20", f"ray.temp_dir={temp}"]
    proc = subprocess.Popen(
        _command(run, *sets), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(), cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(proc, lambda: _iterations(run) >= 2, "two iterations")
        os.killpg(proc.pid, signal.SIGKILL)  # the job and everything it started
        proc.wait(timeout=60)
    finally:
        _stop_leftovers(proc, temp)
    assert proc.returncode == -signal.SIGKILL
    done = _iterations(run)
    assert 2 <= done < 20
    before = _records(run)

    resumed = subprocess.run(
        [sys.executable, "-m", "dcoc.train", "--resume", str(run),
         "--set", f"train.iterations={done + 1}", "--set", f"ray.temp_dir={temp}"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert any(f"iter {done + 1:4d}" in line for line in resumed.stderr.splitlines())
    after = _records(run)
    assert after[: len(before)] == before and len(after) > len(before)  # nothing lost
    history = json.loads((run / "progress.json").read_text())["history"]
    assert [h["iteration"] for h in history] == list(range(1, done + 2))
    assert json.loads((run / "summary.json").read_text())["iterations"] == done + 1
