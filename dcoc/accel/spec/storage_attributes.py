"""Storage-level attributes read from a spec node (shared by the v0.4 and v0.3 parsers)."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

from dcoc.accel.architecture import (
    COMPUTE_CLASSES,
    Path,
    StorageLevel,
)
from dcoc.accel.spec.documents import spec_number
from dcoc.errors import SpecError

MAX_SPEC_INT = 2**53
"""The largest count, size or width a spec may give: beyond it products of sizes leave exact
(float64 and int64) arithmetic, and no buffer or array is that large."""


def positive_int(value: Any, file: str | None, path: Path, what: str) -> int:
    x = spec_number(value, file, path, what)
    if x != int(x) or x < 1:
        raise SpecError(file, path, f"{what} must be a positive integer, got {value!r}")
    if x > MAX_SPEC_INT:
        raise SpecError(file, path, f"{what} must be at most 2**53, got {value!r}")
    return int(x)


def opt_number(attrs: MappingABC[str, Any], key: str, file: str | None, path: Path) -> float | None:
    v = attrs.get(key)
    if v is None:
        return None
    return spec_number(v, file, (*path, key), key)


def is_compute(cls: str) -> bool:
    return cls.lower() in COMPUTE_CLASSES or cls.lower().endswith("mac")


def make_storage(
    name: str,
    cls: str,
    attrs: dict[str, Any],
    instances: int,
    mesh_x: int,
    mesh_y: int,
    file: str | None,
    path: Path,
    *,
    subclass: str | None = None,
    constraints: dict[str, Any] | None = None,
    is_dummy: bool = False,
) -> StorageLevel:
    apath = (*path, "attributes")
    word_bits = positive_int(
        attrs.get("datawidth", attrs.get("word-bits", 16)), file, (*apath, "datawidth"), "datawidth"
    )
    cluster_size = positive_int(
        attrs.get("cluster_size", attrs.get("cluster-size", 1)),
        file,
        (*apath, "cluster_size"),
        "cluster_size",
    )
    if attrs.get("block_size", attrs.get("block-size")) is not None:
        block_size = positive_int(
            attrs.get("block_size", attrs.get("block-size")),
            file,
            (*apath, "block_size"),
            "block_size",
        )
    elif attrs.get("width") is not None:
        width = positive_int(attrs["width"], file, (*apath, "width"), "width")
        block_size = max(1, width // (word_bits * cluster_size))
    else:
        block_size = 1
    depth_raw = attrs.get("depth")
    if cls.upper() == "DRAM" or depth_raw is None:
        depth = None
    else:
        depth = positive_int(depth_raw, file, (*apath, "depth"), "depth")
        if depth * block_size > MAX_SPEC_INT:
            raise SpecError(
                file, (*apath, "depth"), "depth x block size exceeds 2**53 words; is it a typo?"
            )
    mb = spec_number(
        attrs.get("multiple_buffering", 1),
        file,
        (*apath, "multiple_buffering"),
        "multiple_buffering",
    )
    if mb < 1:
        raise SpecError(file, (*apath, "multiple_buffering"), "must be at least 1")
    return StorageLevel(
        name=name,
        component_class=cls,
        instances=instances,
        mesh_x=mesh_x,
        mesh_y=mesh_y,
        word_bits=word_bits,
        block_size=block_size,
        cluster_size=cluster_size,
        depth=depth,
        multiple_buffering=mb,
        read_bandwidth=opt_number(attrs, "read_bandwidth", file, apath),
        write_bandwidth=opt_number(attrs, "write_bandwidth", file, apath),
        shared_bandwidth=opt_number(attrs, "shared_bandwidth", file, apath),
        is_dummy=is_dummy,
        subclass=subclass,
        attributes=dict(attrs),
        constraints=dict(constraints or {}),
    )
