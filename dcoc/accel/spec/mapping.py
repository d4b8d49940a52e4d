"""Timeloop mapping YAML: ``mapping:`` parsed into a :class:`~dcoc.accel.mapping.Mapping`, and
written back."""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from typing import Any

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import LevelMapping, Mapping
from dcoc.accel.spec.documents import data_space_names
from dcoc.errors import SpecError
from dcoc.workloads.problem import Problem

Path = tuple[str | int, ...]

# ---------------------------------------------------------------------------------------------
# YAML parsing

_TOKEN = re.compile(r"[\s,]+")


def _parse_factor_token(
    token: str, dims: Sequence[str], file: str | None, path: Path
) -> tuple[str, int]:
    if "=" in token:
        name, _, value = token.partition("=")
    else:
        match = None
        for d in sorted(dims, key=len, reverse=True):
            if token.startswith(d) and len(token) > len(d):
                match = d
                break
        if match is None:
            m = re.match(r"^([A-Za-z_]+)(.*)$", token)
            name, value = (m.group(1), m.group(2)) if m else (token, "")
        else:
            name, value = match, token[len(match) :]
    name = name.strip()
    if name not in dims:
        raise SpecError(
            file,
            path,
            f"{name!r} in factor {token!r} is not a problem dimension (dimensions: {list(dims)})",
        )
    if not re.fullmatch(r"\d+", value.strip()):
        raise SpecError(file, path, f"factor {token!r} must be a positive integer, e.g. {name}=4")
    n = int(value)
    if n < 1:
        raise SpecError(file, path, f"factor {token!r} must be at least 1")
    return name, n


def parse_factors(raw: Any, dims: Sequence[str], file: str | None, path: Path) -> dict[str, int]:
    """``"R=3 P=16"``, ``"R3 P16"``, ``"R=1,P=1"``, ``["R=3", "P=16"]`` or ``{R: 3}``."""
    out: dict[str, int] = {}
    items: list[tuple[str, int]] = []
    if isinstance(raw, str):
        items = [_parse_factor_token(t, dims, file, path) for t in _TOKEN.split(raw.strip()) if t]
    elif isinstance(raw, list):
        for i, t in enumerate(raw):
            if isinstance(t, MappingABC):
                items.extend(parse_factors(t, dims, file, (*path, i)).items())
            elif isinstance(t, str):
                items.append(_parse_factor_token(t.strip(), dims, file, (*path, i)))
            else:
                raise SpecError(file, (*path, i), f"factor must be a string like 'R=3', got {t!r}")
    elif isinstance(raw, MappingABC):
        for k, v in raw.items():
            if str(k) not in dims:
                raise SpecError(
                    file,
                    (*path, str(k)),
                    f"{k!r} is not a problem dimension (dimensions: {list(dims)})",
                )
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SpecError(
                    file, (*path, str(k)), f"factor must be a positive integer, got {v!r}"
                )
            items.append((str(k), v))
    else:
        raise SpecError(file, path, f"factors must be a string like 'R=3 P=16', got {raw!r}")
    for name, n in items:
        if name in out:
            raise SpecError(file, path, f"dimension {name!r} is given two factors")
        out[name] = n
    return out


def parse_permutation(raw: Any, dims: Sequence[str], file: str | None, path: Path) -> list[str]:
    """``"RPK"`` (first letter innermost), ``"R P K"`` or ``[R, P, K]``."""
    if isinstance(raw, list):
        names = [str(x) for x in raw]
    elif isinstance(raw, str):
        text = raw.strip()
        if _TOKEN.search(text):
            names = [t for t in _TOKEN.split(text) if t]
        elif all(len(d) == 1 for d in dims):
            names = list(text)
        else:
            names = []
            rest = text
            while rest:
                for d in sorted(dims, key=len, reverse=True):
                    if rest.startswith(d):
                        names.append(d)
                        rest = rest[len(d) :]
                        break
                else:
                    raise SpecError(
                        file,
                        path,
                        f"cannot split permutation {raw!r} into "
                        f"dimensions {list(dims)}; separate them with spaces",
                    )
    else:
        raise SpecError(file, path, f"permutation must be a string like 'RPK', got {raw!r}")
    for n in names:
        if n not in dims:
            raise SpecError(
                file,
                path,
                f"{n!r} in permutation is not a problem dimension (dimensions: {list(dims)})",
            )
    if len(set(names)) != len(names):
        raise SpecError(file, path, f"permutation {raw!r} repeats a dimension")
    return names + [d for d in dims if d not in names]


def parse_mapping(
    raw: Any,
    arch: Architecture,
    problem: Problem,
    file: str | None = None,
    path: Path = ("mapping",),
) -> Mapping:
    """Parse a Timeloop ``mapping:`` list against a flattened architecture and a problem.

    Unmentioned (level, data space) pairs are kept, except at dummy ``inter_*_spatial`` levels,
    which keep nothing (timeloopfe adds that bypass). Missing factors are 1.
    """
    if isinstance(raw, MappingABC) and "mapping" in raw:
        raw = raw["mapping"]
    if not isinstance(raw, list):
        raise SpecError(file, path, "mapping must be a list of directives with 'target' and 'type'")
    dims = problem.dimensions
    ds_names = [ds.name for ds in problem.data_spaces]
    n_levels = len(arch.storage)
    temporal: list[dict[str, int]] = [{} for _ in range(n_levels)]
    spatial: list[dict[str, int]] = [{} for _ in range(n_levels)]
    perm: list[list[str]] = [list(dims) for _ in range(n_levels)]
    sperm: list[list[str]] = [list(dims) for _ in range(n_levels)]
    split: list[int | None] = [None] * n_levels
    keep: list[list[bool | None]] = [[None] * len(ds_names) for _ in range(n_levels)]
    seen: set[tuple[int, str]] = set()
    conflicts: list[str] = []
    for i, d in enumerate(raw):
        dpath = (*path, i)
        if not isinstance(d, MappingABC):
            raise SpecError(file, dpath, "a mapping directive must be a mapping")
        level = arch.target_level(d.get("target"), file, dpath, "mapping directive")
        kind = d.get("type")
        if kind not in ("temporal", "spatial", "dataspace", "bypass", "datatype"):
            raise SpecError(
                file,
                (*dpath, "type"),
                f"type must be temporal, spatial, dataspace, bypass or datatype, got {kind!r}",
            )
        key_kind = "dataspace" if kind in ("bypass", "datatype") else kind
        if (level, key_kind) in seen:
            raise SpecError(
                file,
                dpath,
                f"a second {kind} directive for level "
                f"{arch.storage[level].name!r}; merge them into one",
            )
        seen.add((level, key_kind))
        if kind in ("temporal", "spatial"):
            factors = parse_factors(d.get("factors", {}), dims, file, (*dpath, "factors"))
            order = (
                parse_permutation(d["permutation"], dims, file, (*dpath, "permutation"))
                if d.get("permutation") is not None
                else list(dims)
            )
            if kind == "temporal":
                temporal[level], perm[level] = factors, order
            else:
                spatial[level], sperm[level] = factors, order
                if d.get("split") is not None:
                    s = d["split"]
                    if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                        raise SpecError(
                            file,
                            (*dpath, "split"),
                            f"split must be a non-negative integer, got {s!r}",
                        )
                    split[level] = s
        else:
            k = data_space_names(d.get("keep"), ds_names, file, (*dpath, "keep"))
            b = data_space_names(d.get("bypass"), ds_names, file, (*dpath, "bypass"))
            for n in set(k) & set(b):
                conflicts.append(
                    f"{arch.storage[level].name}: data space {n} is both kept and bypassed"
                )
            for n in k:
                keep[level][ds_names.index(n)] = True
            for n in b:
                if n not in k:
                    keep[level][ds_names.index(n)] = False
    levels = []
    for li in range(n_levels):
        is_dummy = arch.storage[li].is_dummy
        mask = tuple((not is_dummy) if k is None else k for k in keep[li])
        fx, fy = arch.fanout_xy(li)
        s = split[li]
        if s is None:
            s = 0 if (fx == 1 and fy > 1) else len(dims)
        sx = [1] * len(dims)
        sy = [1] * len(dims)
        for pos, name in enumerate(sperm[li]):
            f = spatial[li].get(name, 1)
            if pos < s:
                sx[dims.index(name)] = f
            else:
                sy[dims.index(name)] = f
        levels.append(
            LevelMapping(
                temporal=tuple(temporal[li].get(n, 1) for n in dims),
                spatial_x=tuple(sx),
                spatial_y=tuple(sy),
                permutation=tuple(dims.index(n) for n in perm[li]),
                spatial_permutation=tuple(dims.index(n) for n in sperm[li]),
                keep=mask,
            )
        )
    return Mapping(tuple(levels), tuple(conflicts))


def mapping_to_yaml(mapping: Mapping, arch: Architecture, problem: Problem) -> list[dict[str, Any]]:
    """The Timeloop mapper-output form of ``mapping`` (round-trips through parse_mapping)."""
    dims = problem.dimensions
    ds = [d.name for d in problem.data_spaces]
    out: list[dict[str, Any]] = []
    for level, lm in zip(arch.storage, mapping.levels, strict=True):
        out.append(
            {
                "target": level.name,
                "type": "datatype",
                "keep": [n for n, k in zip(ds, lm.keep, strict=True) if k],
                "bypass": [n for n, k in zip(ds, lm.keep, strict=True) if not k],
            }
        )
    for level, lm in zip(arch.storage, mapping.levels, strict=True):
        if lm.fanout_used > 1:
            order = list(lm.spatial_permutation)
            xs = [d for d in order if lm.spatial_y[d] == 1]
            ys = [d for d in order if lm.spatial_y[d] != 1]
            out.append(
                {
                    "target": level.name,
                    "type": "spatial",
                    "factors": " ".join(f"{dims[d]}{lm.spatial(d)}" for d in range(len(dims))),
                    "permutation": "".join(dims[d] for d in xs + ys)
                    if all(len(x) == 1 for x in dims)
                    else " ".join(dims[d] for d in xs + ys),
                    "split": len(xs),
                }
            )
        out.append(
            {
                "target": level.name,
                "type": "temporal",
                "factors": " ".join(f"{dims[d]}{lm.temporal[d]}" for d in range(len(dims))),
                "permutation": "".join(dims[d] for d in lm.permutation)
                if all(len(x) == 1 for x in dims)
                else " ".join(dims[d] for d in lm.permutation),
            }
        )
    return out
