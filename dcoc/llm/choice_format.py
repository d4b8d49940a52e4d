"""A "pick from this numbered list" answer: its constraint, and its reading.

The question shows ``choices`` numbered 1..n; the answer is the JSON object
``{"picks": [i, j, ...]}``, one to ``max_picks`` distinct numbers of the list, best first
(with ``why_chars`` > 0 also ``"why"``, a short string after the picks). The constraint is
given two ways, for the servers that take either: a JSON schema (an ``enum`` of the numbers, so
a constrained decoder can only write legal ones) and the equivalent llama.cpp GBNF grammar.

:meth:`ChoiceFormat.read` parses and validates an answer whatever produced it (a server may
ignore the constraint): a :class:`Reading` with the picks (0-based) if kept, else the
:class:`~dcoc.llm.backend.Verdict` saying why not, and a one-line detail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dcoc.llm.backend import Verdict

WHY_CHARACTERS = " a-zA-Z0-9.,;:%()+-"
"""Characters the grammar allows in ``why`` (no quote, no backslash: nothing to escape)."""


@dataclass(frozen=True)
class Reading:
    verdict: Verdict
    picks: tuple[int, ...] = ()
    """0-based indices into the choices, in the answer's order (empty unless kept)."""
    detail: str = ""
    why: str = ""


@dataclass(frozen=True)
class ChoiceFormat:
    choices: int
    """Length of the numbered list (numbers 1..choices)."""
    max_picks: int
    why_chars: int = 0
    """Length of the optional ``why`` string (0: no ``why``)."""

    def __post_init__(self) -> None:
        if self.choices < 1 or self.max_picks < 1 or self.why_chars < 0:
            raise ValueError("choices >= 1, max_picks >= 1 and why_chars >= 0")

    @property
    def picks_allowed(self) -> int:
        return min(self.max_picks, self.choices)

    def json_schema(self) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "picks": {
                "type": "array",
                "items": {"type": "integer", "enum": list(range(1, self.choices + 1))},
                "minItems": 1,
                "maxItems": self.picks_allowed,
            }
        }
        required = ["picks"]
        if self.why_chars:
            properties["why"] = {"type": "string", "maxLength": self.why_chars}
            required.append("why")
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }

    def grammar(self) -> str:
        """The llama.cpp GBNF grammar of exactly the answers :meth:`json_schema` allows
        (without the distinctness, which :meth:`read` checks)."""
        numbers = " | ".join(f'"{i}"' for i in range(self.choices, 0, -1))
        more = self.picks_allowed - 1
        rest = f' (ws "," ws pick){{0,{more}}}' if more else ""
        why = (
            f' ws "," ws "\\"why\\"" ws ":" ws "\\"" [{WHY_CHARACTERS}]{{0,{self.why_chars}}} "\\""'
            if self.why_chars
            else ""
        )
        return (
            f'root ::= "{{" ws "\\"picks\\"" ws ":" ws "[" ws pick{rest} ws "]"{why} ws "}}"\n'
            f"pick ::= {numbers}\n"
            'ws ::= " "?\n'
        )

    def read(self, text: str | None) -> Reading:
        """Parse and validate an answer (see the module docstring)."""
        body = (text or "").strip()
        if body.startswith("```"):  # a fenced block: ```json ... ```
            body = body.strip("`").removeprefix("json").strip()
        if not body:
            return Reading(Verdict.EMPTY, detail="the answer is empty")
        try:
            doc = json.loads(body)
        except json.JSONDecodeError as error:
            return Reading(Verdict.NOT_JSON, detail=f"not JSON ({error.msg} at {error.pos})")
        if not isinstance(doc, dict) or "picks" not in doc:
            return Reading(Verdict.WRONG_SHAPE, detail='expected an object with "picks"')
        picks = doc["picks"]
        if not isinstance(picks, list) or not all(
            isinstance(p, int) and not isinstance(p, bool) for p in picks
        ):
            return Reading(Verdict.WRONG_SHAPE, detail='"picks" must be a list of integers')
        if not picks:
            return Reading(Verdict.EMPTY, detail='"picks" is empty')
        if len(picks) > self.picks_allowed:
            return Reading(
                Verdict.WRONG_SHAPE,
                detail=f"{len(picks)} picks, at most {self.picks_allowed} allowed",
            )
        outside = [p for p in picks if not 1 <= p <= self.choices]
        if outside:
            return Reading(
                Verdict.ILLEGAL,
                detail=f"picks {outside} are not in the list 1..{self.choices}",
            )
        if len(set(picks)) < len(picks):
            return Reading(Verdict.ILLEGAL, detail=f"picks {picks} repeat a choice")
        why = doc.get("why", "")
        return Reading(
            Verdict.KEPT,
            picks=tuple(p - 1 for p in picks),
            why=why if isinstance(why, str) else "",
        )
