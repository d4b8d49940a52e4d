"""llama.cpp in this process, through ``llama-cpp-python``: the default backend.

The model (any GGUF file; :mod:`dcoc.llm.gguf` finds the shipped ones) is loaded at the first
question and kept; one thread by default (small machines run one model per core). The answer
is decoded under the request's GBNF grammar (:class:`~dcoc.llm.backend.ChatRequest`), so it
can only be a legal answer or a truncated one; it is streamed, and a stream still going at the
time limit is cut (:attr:`~dcoc.llm.backend.Verdict.TIMEOUT`). The prompt itself is evaluated
before the first token, uninterruptibly; llama.cpp reuses the longest common prefix of
consecutive prompts (the system message and the fixed head of the question).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dcoc.llm.backend import ChatRequest, LlmError, Verdict


class EmbeddedBackend:
    def __init__(
        self, model_path: Path, *, threads: int = 1, context_tokens: int = 4096, seed: int = 0
    ) -> None:
        self.model_path = Path(model_path)
        self.threads = threads
        self.context_tokens = context_tokens
        self.seed = seed
        self._llama: Any = None
        self._grammars: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return f"llama.cpp:{self.model_path.name}"

    def load(self) -> None:
        """Load the model now (else at the first question); :class:`LlmError` if it cannot."""
        if self._llama is not None:
            return
        try:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.context_tokens,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                seed=self.seed,
                verbose=False,
            )
        except (ImportError, OSError, ValueError, RuntimeError) as error:
            raise LlmError(
                Verdict.BACKEND_ERROR, f"cannot load {self.model_path}: {error}"
            ) from None

    def complete(self, request: ChatRequest) -> str:
        self.load()
        deadline = time.perf_counter() + request.timeout_s
        try:
            from llama_cpp import LlamaGrammar

            grammar = self._grammars.get(request.grammar)
            if grammar is None:
                grammar = LlamaGrammar.from_string(request.grammar, verbose=False)
                self._grammars[request.grammar] = grammar
            stream = self._llama.create_chat_completion(
                messages=[
                    {"role": "system", "content": request.system},
                    {"role": "user", "content": request.user},
                ],
                grammar=grammar,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
                stream=True,
            )
            parts: list[str] = []
            for chunk in stream:
                content = chunk["choices"][0]["delta"].get("content")
                if content:
                    parts.append(content)
                if time.perf_counter() > deadline:
                    stream.close()
                    raise LlmError(
                        Verdict.TIMEOUT,
                        f"no complete answer in {request.timeout_s:g} s "
                        f"(so far {''.join(parts)!r})",
                    )
        except (ValueError, RuntimeError) as error:  # e.g. a prompt longer than the context
            raise LlmError(Verdict.BACKEND_ERROR, f"llama.cpp: {error}") from None
        return "".join(parts)
