"""The Ray-cluster path: a private head node on 127.0.0.1 with token auth, a job submitted with
``ray job submit`` that trains one PPO iteration through dcoc.agents, and a clean stop of
exactly that node."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from cluster_job import RESULT_PREFIX
from dcoc.agents.cluster import job_status, start_local_head, submit_job
from ray.exceptions import AuthenticationError

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def _pids_using(temp_dir: Path) -> list[int]:
    """Live processes whose command line names ``temp_dir`` (the head's own processes)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
            state = (proc / "stat").read_text().split()[2]
        except OSError:
            continue
        if str(temp_dir) in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def test_job_submission_on_private_token_auth_head() -> None:
    temp_dir = Path(f"/tmp/dcoc-ray-cl-{os.getpid()}")
    head = start_local_head(temp_dir, num_cpus=2)
    try:
        assert _pids_using(temp_dir), "the head's processes should run under its temp dir"
        client_env = head.client_env()
        runtime_env = {"env_vars": {"PYTHONPATH": str(HERE), "OMP_NUM_THREADS": "1"}}
        outcome = submit_job(
            head.dashboard_url,
            [sys.executable, str(HERE / "cluster_job.py")],
            client_env=client_env,
            runtime_env_json=json.dumps(runtime_env),
            timeout_s=240,
        )
        assert outcome.succeeded, outcome.logs[-4000:]
        line = next(x for x in outcome.logs.splitlines() if x.startswith(RESULT_PREFIX))
        summary = json.loads(line[len(RESULT_PREFIX) :])
        assert summary["mode"] == "attached"
        assert summary["num_env_steps_sampled"] >= 300
        assert 0.0 <= summary["episode_return_mean"] <= 6.0
        assert "central_critic" in summary["modules"]
        # Without the token the head refuses the client.
        with pytest.raises(AuthenticationError, match="Missing authentication token"):
            job_status(head.dashboard_url, outcome.submission_id, {"RAY_AUTH_TOKEN_PATH": ""})
    finally:
        head.stop()
    assert head.process.poll() is not None
    assert _pids_using(temp_dir) == []
    shutil.rmtree(temp_dir, ignore_errors=True)
