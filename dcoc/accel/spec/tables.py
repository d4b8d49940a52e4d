"""Accelergy's ERT and ART as Timeloop reads them: per-level action energies and areas."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

import numpy as np

from dcoc.accel.spec.documents import spec_number
from dcoc.accel.tables import table_level_name
from dcoc.errors import SpecError

Path = tuple[str | int, ...]


def _tables(raw: Any, file: str | None, path: Path) -> list[Any]:
    if not isinstance(raw, MappingABC):
        raise SpecError(file, path, "must be a mapping with 'tables'")
    tables = raw.get("tables")
    if not isinstance(tables, list):
        raise SpecError(file, (*path, "tables"), "must be a list of {name, ...} tables")
    return tables


def parse_ert(
    raw: Any, file: str | None = None, path: Path = ("ERT",)
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for i, table in enumerate(_tables(raw, file, path)):
        tpath = (*path, "tables", i)
        if not isinstance(table, MappingABC) or not isinstance(table.get("name"), str):
            raise SpecError(file, tpath, "each ERT table needs a 'name'")
        actions = table.get("actions")
        if not isinstance(actions, list):
            raise SpecError(file, (*tpath, "actions"), "must be a list of {name, energy}")
        level = table_level_name(table["name"])
        entry = out.setdefault(level, {})
        for j, action in enumerate(actions):
            apath = (*tpath, "actions", j)
            if not isinstance(action, MappingABC) or not isinstance(action.get("name"), str):
                raise SpecError(file, apath, "each action needs a 'name'")
            if "energy" in action:
                energy = spec_number(action["energy"], file, (*apath, "energy"))
            elif isinstance(action.get("arguments"), list):  # old ERT: variants in a list
                energies = [
                    spec_number(v.get("energy"), file, (*apath, "arguments", k, "energy"))
                    for k, v in enumerate(action["arguments"])
                ]
                energy = max(energies) if energies else 0.0
            else:
                raise SpecError(file, apath, "an action needs an 'energy'")
            name = action["name"]
            entry[name] = max(entry.get(name, energy), energy)
    return out


def parse_art(raw: Any, file: str | None = None, path: Path = ("ART",)) -> dict[str, float]:
    out: dict[str, float] = {}
    for i, table in enumerate(_tables(raw, file, path)):
        tpath = (*path, "tables", i)
        if not isinstance(table, MappingABC) or not isinstance(table.get("name"), str):
            raise SpecError(file, tpath, "each ART table needs a 'name'")
        if "area" not in table:
            raise SpecError(file, (*tpath, "area"), "missing; give the area per instance")
        area = spec_number(table["area"], file, (*tpath, "area"))
        out[table_level_name(table["name"])] = float(np.float32(area))
    return out
