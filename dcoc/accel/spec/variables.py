"""timeloopfe's ``variables`` and expressions, resolved in its order and with its scopes.

timeloopfe (``v4/specification.py`` ``Specification.parse_expressions`` and
``common/nodes.py`` ``Node.parse_expressions``) resolves a spec like this, and so does
:func:`resolve_document`:

1. ``variables`` first, top to bottom; each variable sees ``spec`` and the variables above it.
2. Then ``architecture``, ``problem``, ``mapper`` and the constraint files, with the resolved
   variables and ``variables`` itself in scope. Inside a mapping, each key sees its parent's
   scope plus its siblings above it (``width: datawidth * 3`` after ``datawidth:``); in the
   architecture every leaf is in scope by name, and the ``attributes`` of a ``!Container``
   are in scope for the nodes after it.
3. Which strings are expressions: every unquoted string in ``variables`` and directly in an
   architecture node's ``attributes`` (timeloopfe's ``_default_parse``); elsewhere a string
   in parentheses or one under a key timeloopfe types as a number (:data:`NUMERIC_KEYS`,
   the values of ``problem.instance``). A quoted string (``type: "LPDDR4"``) is never one.

Expressions go through :mod:`dcoc.accel.spec.expressions`, never ``eval``. A string that is
not Python syntax (``45nm``) or is a single unknown name (``LPDDR4``) stays a string, as in
timeloopfe before v0.4; an expression that is refused or fails is a
:class:`~dcoc.errors.SpecError` naming the file and the YAML path. ``components`` (compound
components: Accelergy evaluates them, dcoc reads the ERT/ART), ``ERT``, ``ART`` and
``mapping`` are left as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dcoc.accel.spec.documents import QuotedStr, SpecDocument, TaggedNode, plain_strings
from dcoc.accel.spec.expressions import (
    CONSTANTS,
    ExpressionFailed,
    ExpressionRefused,
    UnknownName,
    evaluate_expression,
    parse_expression,
)
from dcoc.errors import SpecError

RESOLVED_SECTIONS = (
    "architecture",
    "problem",
    "mapper",
    "mapspace",
    "mapspace_constraints",
    "constraints",
)
NUMERIC_KEYS = frozenset(
    {
        "meshX",
        "meshY",
        "split",
        "min_utilization",
        "area_scale",
        "energy_scale",
        "search_size",
        "victory_condition",
        "timeout",
        "max_permutations_per_if_visit",
        "max_temporal_loops_in_a_mapping",
        "num_threads",
    }
)
"""Keys whose values timeloopfe types as numbers, so that a string there fails its type check
and is parsed as an expression (``split: len(spec.problem.instance)``)."""

Path = tuple[str | int, ...]


class _Resolver:
    def __init__(self, doc: SpecDocument) -> None:
        self.doc = doc
        self.file = "<memory>"

    def fail(self, path: Path, message: str) -> SpecError:
        return SpecError(self.file, path, message)

    def string(self, text: str, scope: Mapping[str, Any], path: Path, parse: bool) -> Any:
        if isinstance(text, QuotedStr):
            return str(text)
        stripped = text.strip()
        parse = parse or (stripped.startswith("(") and stripped.endswith(")"))
        if not parse:
            return text
        if stripped.lower() in ("true", "false"):
            return stripped.lower() == "true"
        if stripped.isidentifier() and stripped not in scope and stripped not in CONSTANTS:
            return text  # one name that names nothing here (LPDDR4, or a function's name)
        try:
            parse_expression(stripped)
        except SyntaxError:
            return text  # not an expression: a plain string (45nm, 1..8)
        except ExpressionRefused as exc:
            raise self.fail(path, f"expression {text!r} refused: {exc}") from None
        try:
            value = evaluate_expression(stripped, scope)
        except UnknownName as exc:
            if exc.name == stripped:
                return text  # one unknown name: a plain string (LPDDR4)
            known = ", ".join(sorted(k for k in scope if not k.startswith("_"))[:40])
            raise self.fail(
                path,
                f"expression {text!r}: {exc}; define it under variables or as an attribute "
                f"above this one (names in scope: {known})",
            ) from None
        except ExpressionRefused as exc:
            raise self.fail(path, f"expression {text!r} refused: {exc}") from None
        except ExpressionFailed as exc:
            raise self.fail(path, f"expression {text!r} does not evaluate: {exc}") from None
        if isinstance(value, dict | list) and stripped.isidentifier():
            return text  # a leaf's name, not an expression for its whole node
        return str(value) if isinstance(value, str) else value

    def node(self, value: Any, scope: Mapping[str, Any], path: Path, parse: bool) -> Any:
        """``value`` resolved in place (mappings and lists) or its resolved copy (strings)."""
        if isinstance(value, str):
            return self.string(value, scope, path, parse)
        if isinstance(value, dict):
            local = dict(scope)
            for key, child in list(value.items()):
                key_s = str(key)
                child_parse = key_s in NUMERIC_KEYS or path[-1:] == ("instance",)
                if isinstance(child, str):
                    new = self.string(child, local, (*path, key_s), parse or child_parse)
                else:
                    in_arch = bool(path) and path[0] == "architecture"
                    default = in_arch and key_s == "attributes"
                    new = self.node(child, local, (*path, key_s), default)
                value[key] = new
                local[key_s] = new
            return value
        if isinstance(value, list):
            local = dict(scope)
            for i, child in enumerate(value):
                value[i] = self.node(child, local, (*path, i), parse)
                # timeloopfe's ArchNodes callfunc; its _in_parallel flag is set on a copy of
                # the table that is never used, so a !Parallel does not stop this either.
                if (
                    isinstance(child, TaggedNode)
                    and child.tag == "Container"
                    and isinstance(child.get("attributes"), dict)
                ):
                    local.update({str(k): v for k, v in child["attributes"].items()})
            return value
        return value

    def variables(self, scope: dict[str, Any]) -> dict[str, Any]:
        raw = self.doc.get("variables")
        if raw is None:
            return {}
        self.file = self.doc.file_of("variables")
        if not isinstance(raw, dict):
            raise self.fail(("variables",), f"must be a mapping of names to values, got {raw!r}")
        local = dict(scope)
        for key, value in list(raw.items()):
            key_s = str(key)
            path: Path = ("variables", key_s)
            if isinstance(value, str):
                new = self.string(value, local, path, True)
            else:
                new = self.node(value, local, path, False)
            raw[key] = new
            local[key_s] = new
        return {str(k): v for k, v in raw.items()}


def _leaves(value: Any, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) and "class" in value:
            out.setdefault(str(value["name"]), value)
        for child in value.values():
            _leaves(child, out)
    elif isinstance(value, list):
        for child in value:
            _leaves(child, out)
    return out


def resolve_document(doc: SpecDocument) -> SpecDocument:
    """``doc`` with its variables and expressions resolved (in place) and every string plain."""
    resolver = _Resolver(doc)
    scope: dict[str, Any] = {"spec": doc.values}
    variables = resolver.variables(scope)
    scope.update(variables)
    scope["variables"] = variables
    for key in RESOLVED_SECTIONS:
        if key not in doc:
            continue
        resolver.file = doc.file_of(key)
        local = dict(scope)
        if key == "architecture":
            local.update({k: v for k, v in _leaves(doc.get(key), {}).items() if k not in local})
        doc.values[key] = resolver.node(doc.get(key), local, (key,), False)
    plain_strings(doc.values)
    return doc


def resolved_variables(doc: SpecDocument) -> dict[str, Any]:
    """The resolved ``variables`` block (JSON-friendly values only), for reports."""
    raw = doc.get("variables")
    if not isinstance(raw, dict):
        return {}
    return {
        str(k): v for k, v in raw.items() if isinstance(v, int | float | str | bool) or v is None
    }


__all__ = ["NUMERIC_KEYS", "RESOLVED_SECTIONS", "resolve_document", "resolved_variables"]
