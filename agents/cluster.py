"""Ray cluster plumbing: attach to a cluster or run embedded, start a private local head node,
and submit jobs with ``ray job submit``.

Token authentication (Ray 2.60): a head started with ``RAY_AUTH_MODE=token`` refuses clients
without the token, and ``ray start`` does not create one (``create_token_if_missing=False``);
``ray.init()`` of a new local cluster writes ``~/.ray/auth_token`` if none exists. The token is
looked up in ``RAY_AUTH_TOKEN``, then the file named by ``RAY_AUTH_TOKEN_PATH``, then
``~/.ray/auth_token``. :func:`start_local_head` writes a fresh token into the head's temp
directory and :meth:`LocalHead.client_env` gives the variables every client (``ray job
submit``, ``ray.init(address=...)``, job drivers) needs, so nothing in ``~/.ray`` is touched.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import ray

logger = logging.getLogger(__name__)

RAY_ADDRESS_ENV = "RAY_ADDRESS"


def ray_cli() -> str:
    """The ``ray`` executable next to this Python interpreter (falls back to PATH)."""
    candidate = Path(sys.executable).with_name("ray")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("ray")
    if found is None:
        raise FileNotFoundError("the `ray` CLI is not installed next to this Python")
    return found


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    temp_dir: str | Path | None = None,
) -> Literal["attached", "embedded"]:
    """Attach to ``address`` (or ``$RAY_ADDRESS``, set inside ``ray job submit`` drivers);
    otherwise start an embedded single-node Ray without dashboard. Idempotent."""
    if ray.is_initialized():
        return "attached" if (address or os.environ.get(RAY_ADDRESS_ENV)) else "embedded"
    target = address or os.environ.get(RAY_ADDRESS_ENV)
    if target:
        ray.init(address=target)
        logger.info("attached to Ray cluster at %s", target)
        return "attached"
    ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        _temp_dir=str(temp_dir) if temp_dir is not None else None,
    )
    logger.info("started embedded Ray (num_cpus=%s)", num_cpus)
    return "embedded"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalHead:
    """A head node started by :func:`start_local_head`; stop it with :meth:`stop`."""

    process: subprocess.Popen[bytes]
    gcs_address: str
    dashboard_url: str
    temp_dir: Path
    token_path: Path
    log_path: Path
    stopped: bool = field(default=False)

    def client_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for clients of this head: token auth on, token file, no usage stats."""
        env = dict(os.environ if base is None else base)
        env.update(
            {
                "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(self.token_path),
                "RAY_USAGE_STATS_ENABLED": "0",
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            }
        )
        env.pop("RAY_AUTH_TOKEN", None)
        env.pop(RAY_ADDRESS_ENV, None)
        return env

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM the ``ray start --block`` process (pid ``process.pid``); it shuts down its
        own node's processes (GCS, raylet, dashboard, workers) and nothing else. Returns its
        exit code (Ray 2.60 exits with 1 after a clean SIGTERM drain); SIGKILLs it after
        ``timeout_s``."""
        if self.stopped:
            return int(self.process.returncode or 0)
        self.process.terminate()
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning(
                "ray head pid %d did not stop in %.0f s, killing", self.process.pid, timeout_s
            )
            self.process.kill()
            code = self.process.wait(timeout=timeout_s)
        self.stopped = True
        return int(code)


def start_local_head(
    temp_dir: str | Path,
    *,
    num_cpus: int = 2,
    startup_timeout_s: float = 60.0,
    extra_env: Mapping[str, str] | None = None,
) -> LocalHead:
    """Start a private head node on 127.0.0.1 with token auth and a job-submission dashboard.

    ``ray start --head --block`` runs in the foreground of a child process so that stopping
    that one pid stops the whole node. All ports are chosen free; ``temp_dir`` holds Ray's
    session files, the token and the head's log.
    """
    temp = Path(temp_dir)
    temp.mkdir(parents=True, exist_ok=True)
    token_path = temp / "auth_token"
    token_path.write_text(secrets.token_hex(32))
    token_path.chmod(0o600)
    gcs_port, dashboard_port = free_port(), free_port()
    ports = {
        "--port": gcs_port,
        "--dashboard-port": dashboard_port,
        "--ray-client-server-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
    }
    command = [
        ray_cli(),
        "start",
        "--head",
        "--block",
        "--node-ip-address",
        "127.0.0.1",
        "--dashboard-host",
        "127.0.0.1",
        "--include-dashboard",
        "true",
        "--num-cpus",
        str(num_cpus),
        "--temp-dir",
        str(temp),
        "--disable-usage-stats",
    ]
    for flag, port in ports.items():
        command += [flag, str(port)]
    head_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path)}
    log_path = temp / "ray-start.log"
    env = dict(os.environ)
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop(RAY_ADDRESS_ENV, None)
    env.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **head_env, **(extra_env or {})})
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    head = LocalHead(
        process=process,
        gcs_address=f"127.0.0.1:{gcs_port}",
        dashboard_url=f"http://127.0.0.1:{dashboard_port}",
        temp_dir=temp,
        token_path=token_path,
        log_path=log_path,
    )
    try:
        _wait_for_dashboard(head, startup_timeout_s)
    except BaseException:
        head.stop()
        raise
    return head


def _wait_for_dashboard(head: LocalHead, timeout_s: float) -> None:
    token = head.token_path.read_text().strip()
    request = urllib.request.Request(
        f"{head.dashboard_url}/api/version", headers={"Authorization": f"Bearer {token}"}
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if head.process.poll() is not None:
            raise RuntimeError(
                f"`ray start` exited with {head.process.returncode}; see {head.log_path}"
            )
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"Ray dashboard at {head.dashboard_url} not up after {timeout_s:.0f} s")


@dataclass(frozen=True)
class JobOutcome:
    """Result of :func:`submit_job`."""

    submission_id: str
    status: str
    """Final job status as ``ray job status`` reports it (``SUCCEEDED``, ``FAILED``, ...)."""
    logs: str
    """Output of ``ray job submit`` (the streamed job logs)."""

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


def submit_job(
    dashboard_url: str,
    entrypoint: Sequence[str],
    *,
    client_env: Mapping[str, str],
    submission_id: str | None = None,
    runtime_env_json: str | None = None,
    timeout_s: float = 600.0,
) -> JobOutcome:
    """``ray job submit`` (waits and streams logs), then ``ray job status`` for the verdict."""
    job_id = submission_id or f"dcoc-{secrets.token_hex(4)}"
    command = [ray_cli(), "job", "submit", "--address", dashboard_url, "--submission-id", job_id]
    if runtime_env_json is not None:
        command += ["--runtime-env-json", runtime_env_json]
    command += ["--", *entrypoint]
    submitted = subprocess.run(
        command, env=dict(client_env), capture_output=True, text=True, timeout=timeout_s
    )
    logs = submitted.stdout + submitted.stderr
    return JobOutcome(
        submission_id=job_id, status=job_status(dashboard_url, job_id, client_env), logs=logs
    )


def job_status(dashboard_url: str, submission_id: str, client_env: Mapping[str, str]) -> str:
    """Status of a submitted job (``SUCCEEDED``, ``FAILED``, ``RUNNING``, ...), asked through
    the job SDK with the token of ``client_env`` as a bearer header."""
    from ray.job_submission import JobSubmissionClient

    headers: dict[str, str] = {}
    token_path = client_env.get("RAY_AUTH_TOKEN_PATH")
    if token_path:
        headers["Authorization"] = f"Bearer {Path(token_path).read_text().strip()}"
    client = JobSubmissionClient(dashboard_url, headers=headers)
    return str(client.get_job_status(submission_id).value)
