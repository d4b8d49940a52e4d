"""Loading Timeloop YAML input files: the v0.4 node tags and the merge of several files.

``timeloop-model`` takes several YAML files and merges them by top-level key (``architecture``,
``problem``, ``mapping``, ``ERT``, ``ART``, ...). :func:`load_spec` does the same and remembers
which file each key came from, so that later errors can name the file.

The timeloopfe v0.4 tags ``!Container``, ``!Component``, ``!Parallel``, ``!Nothing`` and
``!Hierarchical`` load as :class:`TaggedNode` (a ``dict`` that knows its tag). Any other tag is
refused with a :class:`~dcoc.errors.SpecError` naming the file and the YAML path.

Every file is rendered with Jinja2 first (:mod:`dcoc.accel.spec.templates`: timeloopfe's
helpers, in a sandbox, includes confined to the file's directory tree); ``!include_loaded``
is the tag the rendered ``include(...)`` leaves. :func:`load_spec` then resolves timeloopfe's
``variables`` and expressions (:mod:`dcoc.accel.spec.variables`). Quoted YAML strings load as
:class:`QuotedStr`, which expressions leave alone (as timeloopfe does).
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dcoc.accel.spec.templates import (
    IncludedAll,
    IncludeTable,
    TemplateContext,
    read_text,
    render_text,
)
from dcoc.errors import SpecError

KNOWN_TAGS = ("Container", "Component", "Parallel", "Nothing", "Hierarchical")


class TaggedNode(dict[str, Any]):
    """A YAML mapping carrying a timeloopfe tag (``!Component`` -> ``tag == "Component"``)."""

    def __init__(self, tag: str, value: dict[str, Any]) -> None:
        super().__init__(value)
        self.tag = tag


class _UnknownTag:
    """Placeholder for a tag dcoc does not know; reported with its YAML path after loading."""

    def __init__(self, tag: str, line: int) -> None:
        self.tag = tag
        self.line = line


class QuotedStr(str):
    """A string that was quoted in the YAML (``type: "LPDDR4"``): never an expression."""


class _SpecLoader(yaml.SafeLoader):
    """A safe loader that understands the timeloopfe tags and ``!include_loaded``."""

    includes: IncludeTable | None = None


class _IncludeError:
    """An ``!include_loaded`` that names nothing; reported with its YAML path after loading."""

    def __init__(self, message: str, line: int) -> None:
        self.message = message
        self.line = line


def _construct_str(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    value = loader.construct_scalar(node)  # type: ignore[arg-type]
    if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"'):
        return QuotedStr(value)
    return value


def _included(loader: _SpecLoader, node: yaml.Node, line: int) -> Any:
    ref = str(loader.construct_scalar(node)) if isinstance(node, yaml.ScalarNode) else ""
    name, _, keys = ref.partition(".")
    table = loader.includes.values if loader.includes is not None else {}
    if name not in table:
        return _IncludeError(f"!include_loaded {ref!r} names no included file", line)
    value = table[name]
    parts = [value] if not isinstance(value, IncludedAll) else list(value)
    for key in filter(None, keys.split(".")):
        for i, part in enumerate(parts):
            if isinstance(part, Mapping) and key in part:
                parts[i] = part[key]
            elif isinstance(part, list) and key.isdigit() and int(key) < len(part):
                parts[i] = part[int(key)]
            else:
                return _IncludeError(f"an included file has no {key!r} in {ref!r}", line)
    return copy.deepcopy(parts if isinstance(value, IncludedAll) else parts[0])


def _construct_tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    line = node.start_mark.line + 1
    if tag_suffix == "include_loaded":
        return _included(loader, node, line)  # type: ignore[arg-type]
    if tag_suffix not in KNOWN_TAGS:
        return _UnknownTag(tag_suffix, line)
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    elif isinstance(node, yaml.ScalarNode) and loader.construct_scalar(node) in ("", None):
        value = {}
    elif isinstance(node, yaml.SequenceNode):
        # ``!Parallel [a, b]`` is shorthand for ``!Parallel {nodes: [a, b]}``.
        value = {"nodes": loader.construct_sequence(node, deep=True)}
    else:
        return _UnknownTag(f"{tag_suffix} (on a scalar)", line)
    return TaggedNode(tag_suffix, dict(value))


_SpecLoader.add_multi_constructor("!", _construct_tagged)
_SpecLoader.add_constructor("tag:yaml.org,2002:str", _construct_str)


def _check_tags(value: Any, file: str, path: tuple[str | int, ...]) -> None:
    if isinstance(value, _IncludeError):
        raise SpecError(file, path, f"{value.message} (line {value.line})")
    if isinstance(value, _UnknownTag):
        raise SpecError(
            file,
            path,
            f"unknown YAML tag !{value.tag} (line {value.line}); "
            f"use one of {', '.join('!' + t for t in KNOWN_TAGS)}",
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _check_tags(v, file, (*path, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_tags(v, file, (*path, i))


def load_yaml_text(
    text: str, file: str = "<memory>", includes: IncludeTable | None = None
) -> dict[str, Any]:
    """Parse one YAML document (already rendered) into a mapping; raise :class:`SpecError` if
    it is not one. ``includes`` holds the values the rendered ``include(...)`` calls name."""
    loader: _SpecLoader | None = None
    try:
        loader = _SpecLoader(text)  # a SafeLoader subclass; its reader refuses control chars
        loader.includes = includes
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(file, (), f"not valid YAML{where}: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(file, (), "the file must hold a YAML mapping of top-level keys")
    _check_tags(data, file, ())
    return data


def _parse_included(path: Path, text: str, includes: IncludeTable) -> Any:
    return load_yaml_text(text, str(path), includes)


def load_yaml_file(
    path: str | Path, jinja_data: Mapping[str, Any] | None = None, *, plain: bool = True
) -> dict[str, Any]:
    """One input file: rendered with Jinja2 (``jinja_data`` as its variables; includes stay in
    the file's directory tree), then parsed. ``plain=False`` keeps :class:`QuotedStr`."""
    p = Path(path)
    real = Path(os.path.realpath(p))
    ctx = TemplateContext(real.parent, dict(jinja_data or {}), _parse_included)
    table = IncludeTable()
    text = render_text(read_text(p), real, ctx, table)
    data = load_yaml_text(text, str(p), table)
    return plain_strings(data) if plain else data


def plain_strings(value: Any) -> Any:
    """``value`` with every :class:`QuotedStr` a plain ``str`` (so that YAML dumpers and
    ``type(x) is str`` checks see ordinary strings); mappings and lists are changed in place."""
    if isinstance(value, QuotedStr):
        return str(value)
    if isinstance(value, dict):
        items = list(value.items())
        value.clear()
        for k, v in items:
            value[str(k) if isinstance(k, QuotedStr) else k] = plain_strings(v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = plain_strings(v)
    return value


@dataclass(frozen=True)
class SpecDocument:
    """Top-level keys merged from several YAML files, each remembering its source file."""

    values: dict[str, Any]
    sources: dict[str, str]

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def file_of(self, key: str) -> str:
        return self.sources.get(key, "<memory>")

    def __contains__(self, key: str) -> bool:
        return key in self.values


def merge_documents(documents: Iterable[tuple[str, dict[str, Any]]]) -> SpecDocument:
    """Merge ``(file, mapping)`` pairs by top-level key; a key given twice is an error."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for file, doc in documents:
        for key, value in doc.items():
            key = str(key)
            if key in values:
                raise SpecError(
                    file,
                    (key,),
                    f"top-level key {key!r} is also given in {sources[key]}; give it once",
                )
            values[key] = value
            sources[key] = file
    return SpecDocument(values, sources)


def load_spec(
    paths: Sequence[str | Path], jinja_data: Mapping[str, Any] | None = None
) -> SpecDocument:
    """Load and merge Timeloop YAML files the way ``timeloop-model FILE...`` does (after
    timeloopfe's Jinja2 rendering), then resolve ``variables`` and expressions."""
    from dcoc.accel.spec.variables import resolve_document

    if not paths:
        raise SpecError(None, (), "no input file given")
    merged = merge_documents((str(p), load_yaml_file(p, jinja_data, plain=False)) for p in paths)
    return resolve_document(merged)


# -- readers for values inside a spec ---------------------------------------------------------
def spec_number(
    value: Any, file: str | None, path: tuple[str | int, ...], what: str | None = None
) -> float:
    """``value`` as a finite float (numbers and numeric strings); a :class:`SpecError`
    otherwise (NaN and infinities included: no spec quantity takes them)."""
    message = f"{what} must be a finite number" if what else "must be a finite number"
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            number = None
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise SpecError(file, path, f"{message}, got {_shown(value)}")
    return number


def _shown(value: Any) -> str:
    """``value`` for an error message: its repr, shortened past 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def data_space_names(
    raw: Any, names: Sequence[str], file: str | None, path: tuple[str | int, ...]
) -> list[str]:
    """A ``keep:``/``bypass:`` list (or a single name) checked against the problem's data
    spaces; ``None`` is the empty list."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise SpecError(file, path, f"must be a list of data space names, got {raw!r}")
    out = []
    for i, n in enumerate(raw):
        if str(n) not in names:
            raise SpecError(
                file, (*path, i), f"{n!r} is not a data space (data spaces: {list(names)})"
            )
        out.append(str(n))
    return out
