"""The v0.3 architecture parser: ``subtree`` / ``local`` lists with ``name[lo..hi]`` ranges."""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from typing import Any

from dcoc.accel.architecture import (
    ATTRIBUTE_DEFAULTS,
    DUMMY_CLASS,
    Architecture,
    ArithmeticLevel,
    Path,
)
from dcoc.accel.spec.storage_attributes import is_compute, make_storage, positive_int
from dcoc.errors import SpecError

_RANGE = re.compile(r"^(?P<base>[^\[]+)\[(?P<lo>\d+)\.\.(?P<hi>\d+)\]$")


def _split_range(name: str) -> tuple[str, int]:
    m = _RANGE.match(name.strip())
    if not m:
        return name.strip(), 1
    return m.group("base"), int(m.group("hi")) - int(m.group("lo")) + 1


def _attributes(node: MappingABC[str, Any], file: str | None, path: Path) -> dict[str, Any]:
    attrs = node.get("attributes") or {}
    if not isinstance(attrs, MappingABC):
        raise SpecError(file, (*path, "attributes"), "'attributes' must be a mapping of names")
    return dict(attrs)


def parse_architecture_v3(
    raw: MappingABC[str, Any], file: str | None, path: Path = ("architecture",)
) -> Architecture:
    flat: list[tuple[str, str, dict[str, Any], int, Path]] = []

    def walk(tree: Any, mult: int, inherited: dict[str, Any], tpath: Path) -> None:
        if not isinstance(tree, list):
            raise SpecError(file, tpath, "'subtree' must be a list")
        for i, sub in enumerate(tree):
            spath = (*tpath, i)
            if not isinstance(sub, MappingABC) or "name" not in sub:
                raise SpecError(file, spath, "a subtree needs a 'name'")
            _, count = _split_range(str(sub["name"]))
            attrs = {**inherited, **_attributes(sub, file, spath)}
            locals_ = sub.get("local") or []
            if not isinstance(locals_, list):
                raise SpecError(file, (*spath, "local"), "'local' must be a list")
            for j, local in enumerate(locals_):
                lpath = (*spath, "local", j)
                if not isinstance(local, MappingABC) or "name" not in local:
                    raise SpecError(file, lpath, "a local element needs a 'name'")
                lname, lcount = _split_range(str(local["name"]))
                cls = local.get("class")
                if not isinstance(cls, str):
                    raise SpecError(file, (*lpath, "class"), "a local element needs a 'class'")
                lattrs = {**attrs, **_attributes(local, file, lpath)}
                flat.append((lname, cls, lattrs, mult * count * lcount, lpath))
            walk(sub.get("subtree") or [], mult * count, attrs, (*spath, "subtree"))

    walk(raw.get("subtree"), 1, {}, (*path, "subtree"))
    if not flat:
        raise SpecError(file, (*path, "subtree"), "no local element found")
    levels: list[tuple[str, str, dict[str, Any], int, int, int, Path]] = []
    for name, cls, attrs, n, lpath in flat:
        mx = positive_int(attrs.get("meshX", n), file, (*lpath, "attributes", "meshX"), "meshX")
        my = positive_int(
            attrs.get("meshY", max(1, n // mx)), file, (*lpath, "attributes", "meshY"), "meshY"
        )
        levels.append((name, cls, attrs, n, mx, my, lpath))
    name, cls, attrs, n, mx, my, lpath = levels[-1]
    if not is_compute(cls):
        raise SpecError(file, lpath, f"the last element must be the compute unit, got {cls!r}")
    datawidth = positive_int(
        attrs.get("datawidth", 16), file, (*lpath, "attributes", "datawidth"), "datawidth"
    )
    arithmetic = ArithmeticLevel(name, cls, n, mx, my, datawidth, dict(attrs))
    storage = [
        make_storage(
            name,
            cls,
            {**ATTRIBUTE_DEFAULTS, **attrs},
            n,
            mx,
            my,
            file,
            lpath,
            is_dummy=cls == DUMMY_CLASS,
        )
        for name, cls, attrs, n, mx, my, lpath in levels[:-1]
    ]
    storage.reverse()
    return Architecture(tuple(storage), arithmetic, {})
