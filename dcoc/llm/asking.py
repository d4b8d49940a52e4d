"""One question to a model: "pick up to N of these numbered choices", asked and read.

:func:`ask_for_picks` builds the constrained request
(:class:`~dcoc.llm.choice_format.ChoiceFormat`), sends it to a
:class:`~dcoc.llm.backend.Backend` and reads the answer. It never raises for a bad
model: a backend error (timeout, unreachable, failure), an answer that is not the object asked
for, or one that came later than ``settings.timeout_s`` is a :class:`Reading` whose verdict says
why, which the caller counts as a fallback. Both tree-search proposers that ask a model (the
accelerator's and the CPU schedules') ask through it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from dcoc.llm.backend import Backend, ChatRequest, LlmError, Verdict
from dcoc.llm.choice_format import ChoiceFormat, Reading
from dcoc.llm.settings import LlmSettings


@dataclass(frozen=True)
class Asked:
    """What became of one question."""

    reading: Reading
    answer: str | None
    """The answer text (``None``: no answer came)."""
    latency_s: float


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def ask_for_picks(
    backend: Backend,
    settings: LlmSettings,
    *,
    system: str,
    user: str,
    choice_format: ChoiceFormat,
    seed: int,
) -> Asked:
    """Ask ``user`` (which lists ``choice_format.choices`` numbered choices) and read the
    answer; see the module docstring."""
    fmt = choice_format
    request = ChatRequest(
        system=system,
        user=user,
        json_schema=fmt.json_schema(),
        grammar=fmt.grammar(),
        max_tokens=settings.max_tokens + 2 * fmt.picks_allowed + fmt.why_chars,
        timeout_s=settings.timeout_s,
        seed=seed,
        temperature=settings.temperature,
    )
    start = time.perf_counter()
    answer: str | None = None
    try:
        answer = backend.complete(request)
        reading = fmt.read(answer)
    except LlmError as error:
        reading = Reading(error.verdict, detail=one_line(str(error)))
    latency = time.perf_counter() - start
    if reading.verdict == Verdict.KEPT and latency > settings.timeout_s:
        reading = Reading(
            Verdict.TIMEOUT, detail=f"answered after {latency:.1f} s > {settings.timeout_s:g} s"
        )
    return Asked(reading, answer, latency)
