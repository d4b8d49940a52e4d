"""Parse an ``architecture:`` value: v0.4 ``nodes`` or v0.3 ``subtree``."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

from dcoc.accel.architecture import (
    Architecture,
    Path,
)
from dcoc.accel.spec.architecture_v3 import parse_architecture_v3
from dcoc.accel.spec.architecture_v4 import parse_architecture_v4
from dcoc.errors import SpecError


def parse_architecture(
    raw: Any, file: str | None = None, path: Path = ("architecture",)
) -> Architecture:
    """Parse an ``architecture:`` value (v0.4 ``nodes`` or v0.3 ``subtree``)."""
    if not isinstance(raw, MappingABC):
        raise SpecError(
            file, path, "architecture must be a mapping with 'nodes' (v0.4) or 'subtree' (v0.3)"
        )
    if "nodes" in raw:
        return parse_architecture_v4(raw, file, path)
    if "subtree" in raw:
        return parse_architecture_v3(raw, file, path)
    raise SpecError(file, path, "architecture needs 'nodes' (v0.4) or 'subtree' (v0.3)")
