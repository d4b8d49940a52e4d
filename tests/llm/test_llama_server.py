"""The endpoint backend through a real llama.cpp server: ``python -m llama_cpp.server`` on
127.0.0.1 with the shipped SmolLM2 GGUF, asked with the constraint sent both ways that server
takes it (``response_format`` json_object with a schema, and a GBNF ``grammar``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dcoc.llm.backend import ChatRequest, Verdict
from dcoc.llm.choice_format import ChoiceFormat
from dcoc.llm.endpoint import EndpointBackend
from dcoc.llm.gguf import resolve_gguf
from dcoc.llm.settings import Constraint

pytestmark = pytest.mark.slow
STARTUP_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("llama_server") / "server.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(resolve_gguf("smollm2")),
                "--model_alias",
                "smollm2",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_threads",
                "1",
                "--n_threads_batch",
                "1",
                "--n_ctx",
                "2048",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc, log)
        yield f"{url}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"llama_cpp.server not ready in {STARTUP_S:g} s:\n{log.read_text()[-2000:]}")


QUESTION = (
    "Legal transformations:\n"
    "1. C5 M: factor 2 from DRAM to shared_glb (estimated EDP -4.0%)\n"
    "2. C5 C: factor 2 from DRAM to shared_glb (estimated EDP -2.5%)\n"
    "3. glb_depth 4096 -> 8192 (hardware: every layer is re-mapped)\n"
    "4. C8 shared_glb: bypass Weights (estimated EDP +3.0%)\n\n"
    'Pick up to 2 numbers from 1 to 4, the most promising first. Answer as {"picks": [...]}.'
)


@pytest.mark.parametrize("constraint", [Constraint.JSON_OBJECT, Constraint.GRAMMAR])
def test_the_llama_cpp_server_answers_within_the_constraint(
    server: str, constraint: Constraint
) -> None:
    backend = EndpointBackend(server, constraint=constraint)  # model: the one the server lists
    fmt = ChoiceFormat(4, 2)
    answer = backend.complete(
        ChatRequest(
            "Answer only with JSON.",
            QUESTION,
            fmt.json_schema(),
            fmt.grammar(),
            max_tokens=24,
            timeout_s=60,
        )
    )
    reading = fmt.read(answer)
    assert reading.verdict == Verdict.KEPT, answer
    assert backend.model == "smollm2"
