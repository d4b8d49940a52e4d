"""Loading Timeloop YAML input files: the v0.4 node tags and the merge of several files.

``timeloop-model`` takes several YAML files and merges them by top-level key (``architecture``,
``problem``, ``mapping``, ``ERT``, ``ART``, ...). :func:`load_spec` does the same and remembers
which file each key came from, so that later errors can name the file.

The timeloopfe v0.4 tags ``!Container``, ``!Component``, ``!Parallel``, ``!Nothing`` and
``!Hierarchical`` load as :class:`TaggedNode` (a ``dict`` that knows its tag). Any other tag is
refused with a :class:`~dcoc.errors.SpecError` naming the file and the YAML path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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


class _SpecLoader(yaml.SafeLoader):
    """A safe loader that understands the timeloopfe tags."""


def _construct_tagged(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    line = node.start_mark.line + 1
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


def _check_tags(value: Any, file: str, path: tuple[str | int, ...]) -> None:
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


def load_yaml_text(text: str, file: str = "<memory>") -> dict[str, Any]:
    """Parse one YAML document into a mapping; raise :class:`SpecError` if it is not one."""
    try:
        data = yaml.load(text, Loader=_SpecLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(file, (), f"not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(file, (), "the file must hold a YAML mapping of top-level keys")
    _check_tags(data, file, ())
    return data


def load_yaml_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise SpecError(str(p), (), f"cannot read the file: {exc.strerror or exc}") from None
    return load_yaml_text(text, str(p))


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


def load_spec(paths: Sequence[str | Path]) -> SpecDocument:
    """Load and merge Timeloop YAML files the way ``timeloop-model FILE...`` does."""
    if not paths:
        raise SpecError(None, (), "no input file given")
    return merge_documents((str(p), load_yaml_file(p)) for p in paths)


# -- readers for values inside a spec ---------------------------------------------------------
def spec_number(
    value: Any, file: str | None, path: tuple[str | int, ...], what: str | None = None
) -> float:
    """``value`` as a float (numbers and numeric strings); a :class:`SpecError` otherwise."""
    message = f"{what} must be a number" if what else "must be a number"
    if isinstance(value, bool):
        raise SpecError(file, path, f"{message}, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise SpecError(file, path, f"{message}, got {value!r}")


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
