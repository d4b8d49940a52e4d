"""The interface every language-model backend implements, and what can become of an answer.

A backend answers one :class:`ChatRequest` (a system and a user message, the JSON schema and
grammar the answer must follow, a token and a time limit) with the answer's text, or raises
:class:`LlmError` naming why none came (:class:`Verdict`). Backends are blocking and
single-threaded; a caller that asks many questions counts and bounds them itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Verdict(StrEnum):
    """What became of one question: the answer was kept, or why it was not."""

    KEPT = "kept"
    TIMEOUT = "timeout"
    """No complete answer within the time limit."""
    UNREACHABLE = "unreachable"
    """The endpoint could not be reached (nothing listening, refused, DNS)."""
    BACKEND_ERROR = "backend_error"
    """The backend failed otherwise (an HTTP error status, a malformed response, a crash)."""
    EMPTY = "empty"
    """An empty answer, or one that picks nothing."""
    NOT_JSON = "not_json"
    """The answer is not a JSON document."""
    WRONG_SHAPE = "wrong_shape"
    """JSON, but not the object the schema asks for."""
    ILLEGAL = "illegal"
    """Picks outside the numbered list of legal choices (or repeated)."""


@dataclass(frozen=True)
class ChatRequest:
    system: str
    user: str
    json_schema: dict[str, Any]
    """The answer's JSON schema (servers that take one constrain the answer by it)."""
    grammar: str
    """The same constraint as a llama.cpp GBNF grammar (for servers that take ``grammar``)."""
    max_tokens: int = 64
    timeout_s: float = 30.0
    seed: int = 0
    temperature: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    """Backend-specific options (unused by the built-in backends)."""


class LlmError(Exception):
    """No answer: ``verdict`` says why (timeout, unreachable, backend error)."""

    def __init__(self, verdict: Verdict, message: str) -> None:
        super().__init__(message)
        self.verdict = verdict


class Backend(Protocol):
    """A language model answering chat requests."""

    @property
    def name(self) -> str:
        """Which model answers, for the records (``llama.cpp:FILE``, ``openai:URL:MODEL``)."""
        ...

    def complete(self, request: ChatRequest) -> str:
        """The answer text; :class:`LlmError` if none came."""
        ...
