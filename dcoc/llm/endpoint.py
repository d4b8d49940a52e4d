"""Any OpenAI-compatible chat endpoint (llama.cpp's servers, vLLM, Ollama, hosted APIs), through
the ``openai`` client.

The answer's constraint goes the way the server takes it (:class:`~dcoc.llm.settings.Constraint`:
OpenAI's ``response_format`` ``json_schema``; ``json_object`` with a ``schema``, as
llama-cpp-python's server takes it; a GBNF ``grammar``; or none). Nothing is retried: a
question that gets no answer in time, finds no server, or gets an error status or a malformed
response raises :class:`~dcoc.llm.backend.LlmError` (timeout, unreachable, backend error), and
the caller falls back. With no model name, the first model the server lists is asked.
"""

from __future__ import annotations

import time
from typing import Any

from dcoc.llm.backend import ChatRequest, LlmError, Verdict
from dcoc.llm.settings import Constraint


class EndpointBackend:
    def __init__(
        self,
        base_url: str,
        *,
        model: str = "",
        api_key: str | None = None,
        constraint: Constraint = Constraint.JSON_SCHEMA,
    ) -> None:
        from openai import OpenAI

        self.base_url = base_url
        self.model = model
        self.constraint = Constraint(constraint)
        self._client = OpenAI(base_url=base_url, api_key=api_key or "none", max_retries=0)

    @property
    def name(self) -> str:
        return f"openai:{self.base_url}:{self.model or '?'}"

    def complete(self, request: ChatRequest) -> str:
        import openai

        start = time.perf_counter()
        try:
            if not self.model:
                self.model = self._client.models.list(timeout=request.timeout_s).data[0].id
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[
                    {"role": "system", "content": request.system},
                    {"role": "user", "content": request.user},
                ],
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
                timeout=request.timeout_s,
                **self._constraint(request),
            )
        except openai.APITimeoutError:
            raise LlmError(
                Verdict.TIMEOUT, f"no answer from {self.base_url} in {request.timeout_s:g} s"
            ) from None
        except openai.APIConnectionError as error:
            raise LlmError(
                Verdict.UNREACHABLE, f"cannot reach {self.base_url}: {error.__cause__ or error}"
            ) from None
        except openai.APIStatusError as error:
            raise LlmError(
                Verdict.BACKEND_ERROR, f"{self.base_url} answered HTTP {error.status_code}: {error}"
            ) from None
        except (openai.OpenAIError, IndexError, ValueError, TypeError, AttributeError) as error:
            raise LlmError(
                Verdict.BACKEND_ERROR, f"malformed response from {self.base_url}: {error!r}"
            ) from None
        elapsed = time.perf_counter() - start
        if elapsed > request.timeout_s:
            raise LlmError(Verdict.TIMEOUT, f"answered after {elapsed:.1f} s")
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise LlmError(Verdict.BACKEND_ERROR, f"no choices in the response: {response!r:.200}")
        return choices[0].message.content or ""

    def _constraint(self, request: ChatRequest) -> dict[str, Any]:
        if self.constraint == Constraint.JSON_SCHEMA:
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "picks", "schema": request.json_schema, "strict": True},
                }
            }
        if self.constraint == Constraint.JSON_OBJECT:
            return {"response_format": {"type": "json_object", "schema": request.json_schema}}
        if self.constraint == Constraint.GRAMMAR:
            return {"extra_body": {"grammar": request.grammar}}
        return {}
