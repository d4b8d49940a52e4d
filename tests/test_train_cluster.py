"""``ray job submit`` of the main job onto a private token-auth head node (the README's cluster
recipe): the driver attaches through $RAY_ADDRESS and writes the run directory."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from dcoc.agents.cluster import start_local_head, submit_job

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_train_job_on_a_cluster(tmp_path: Path) -> None:
    temp_dir = Path(f"/tmp/dcoc-ray-train-cl-{os.getpid()}")
    run = tmp_path / "run"
    head = start_local_head(temp_dir, num_cpus=2)
    try:
        overrides = [
            "train.iterations=1",
            "agents.train_batch_size=60",
            "agents.minibatch_size=30",
            "agents.num_epochs=1",
            "agents.hidden_sizes=[16]",
            "codesign.reference_samples=4",
            "confidence.num_candidates=2",
        ]
        entrypoint = [
            sys.executable, "-m", "dcoc.train",
            "--config", str(ROOT / "experiments" / "quickstart.yaml"),
            "--run-dir", str(run),
            *[arg for o in overrides for arg in ("--set", o)],
        ]  # fmt: skip
        outcome = submit_job(
            head.dashboard_url,
            entrypoint,
            client_env=head.client_env(),
            runtime_env_json=json.dumps({"env_vars": {"OMP_NUM_THREADS": "1"}}),
            timeout_s=400,
        )
        assert outcome.succeeded, outcome.logs[-4000:]
        assert "attached to Ray cluster" in outcome.logs
        summary = json.loads((run / "summary.json").read_text())
        assert summary["iterations"] == 1 and summary["best"] is not None
        assert (run / "records.sqlite").is_file()
        assert (run / "checkpoints" / "iter_0001").is_dir()
    finally:
        head.stop()
        shutil.rmtree(temp_dir, ignore_errors=True)
