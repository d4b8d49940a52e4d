"""Hostile network, layer and experiment names (path separators, ``..``, absolute paths,
newlines, quotes, shell and template syntax, unicode) through ``dcoc.train``, ``dcoc.bench``
and ``dcoc.search``: every file they write is inside their run directory, nothing the names
say is run, and the names come back intact in the records."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

NETWORK = "../../net\n#x"
LAYERS = ["../../../escape", "/tmp/abs\"'; $(touch pwned) {{7*7}}", "层 ..\\..\\x"]
SHAPES = [
    {"op": "conv2d", "C": 64, "K": 64, "H": 14, "W": 14, "kernel": 3, "pad": 1},
    {"op": "conv2d", "C": 64, "K": 128, "H": 14, "W": 14, "kernel": 1},
    {"op": "conv2d", "C": 32, "K": 64, "H": 14, "W": 14, "kernel": 3, "stride": 2, "pad": 1},
]
LAYER_SET = {
    "name": NETWORK,
    "batch": 1,
    "layers": [{"name": n, **shape} for n, shape in zip(LAYERS, SHAPES, strict=True)],
}


def _run(cwd: Path, *args: str) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


def _files(top: Path, skip: Path) -> list[Path]:
    return [p for p in top.rglob("*") if p.is_file() and skip not in p.parents]


def _layer_names(db_path: Path) -> set[str]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {row[0] for row in db.execute("SELECT DISTINCT workload FROM candidates")}
    finally:
        db.close()


def test_hostile_names_stay_names(tmp_path: Path) -> None:
    layers = tmp_path / "layers.yaml"
    layers.write_text(yaml.safe_dump(LAYER_SET, allow_unicode=True), encoding="utf-8")
    work = tmp_path / "a" / "b" / "c" / "work"  # room for ../../.. to climb inside tmp_path
    work.mkdir(parents=True)
    ray_temp = Path(f"/tmp/dcoc-ray-test-names-{os.getpid()}")
    train = ["dcoc.train", "--config", str(ROOT / "experiments/quickstart.yaml")]
    for key, value in {
        "env.workload": str(layers), "experiment.name": "../../../esc", "train.iterations": 1,
        "agents.train_batch_size": 90, "agents.minibatch_size": 45, "agents.num_epochs": 1,
        "codesign.reference_samples": 8, "ray.temp_dir": str(ray_temp),
    }.items():  # fmt: skip
        train += ["--set", f"{key}={value}"]
    _run(work, *train)
    bench = ["dcoc.bench", "run", "--suite", str(layers), "--methods", "random,ga"]
    _run(work, *bench, "--budget", "300", "--seeds", "0", "--out", "bench")
    _run(work, "dcoc.search", "--target", "accel", "--workload", str(layers),
         "--method", "sa", "--trials", "300")  # fmt: skip

    written = [p for p in _files(tmp_path, ray_temp) if p != layers]
    runs = {p.relative_to(work).parts[:2] for p in written if p.is_relative_to(work / "runs")}
    assert len(runs) == 2  # the training run and the search run, each in one directory
    outside = [p for p in written if not (p.is_relative_to(work / "runs") or
               p.is_relative_to(work / "bench"))]  # fmt: skip
    assert outside == []
    assert not any(p.name == "pwned" for p in tmp_path.rglob("*"))  # what $(touch) would make
    assert not (ROOT / "pwned").exists() and not Path("/tmp/abs").exists()
    expected = {f"{NETWORK.partition('.')[0]}/{name}" for name in LAYERS}  # NETWORK.SUBSET
    for db in [p for p in written if p.name == "records.sqlite"]:
        assert _layer_names(db) == expected, db
