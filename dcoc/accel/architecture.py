"""The flattened accelerator architecture Timeloop evaluates: storage levels and the MAC level.

Storage levels are numbered inner to outer, as Timeloop does: ``storage[0]`` feeds the MACs.
Buffer geometry follows ``src/model/buffer.cpp``: ``word_bits = datawidth`` (default 16),
``block_size`` = given or ``width/(datawidth*cluster_size)``, ``size = depth*block_size`` words
(no depth: unbounded), effective size ``floor(size/multiple_buffering)``. The parsers that build
it from YAML are in :mod:`dcoc.accel.spec.architecture`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dcoc.errors import SpecError

Path = tuple[str | int, ...]

COMPUTE_CLASSES = (
    "intmac",
    "mac",
    "fpmac",
    "compute",
    "intmultiplier",
    "fpmultiplier",
    "multiplier",
    "aladdin_multiplier",
    "aladdin_adder",
    "adder",
)
DUMMY_CLASS = "dummy_storage"
PARALLEL_KEEP = "parallel_branch_keep"
"""Key added to ``StorageLevel.constraints`` of a component inside a ``!Parallel`` branch: the
data spaces its branch keeps; the mapspace bypasses every other one there (timeloopfe)."""
DUMMY_ATTRIBUTES: dict[str, Any] = {"width": 1, "depth": 1, "datawidth": 1}
ATTRIBUTE_DEFAULTS: dict[str, Any] = {
    "n_banks": 2,
    "cluster_size": 1,
    "reduction_supported": True,
    "multiple_buffering": 1,
    "min_utilization": 0,
}


@dataclass(frozen=True)
class StorageLevel:
    """One storage level of the flattened architecture (all its instances)."""

    name: str
    component_class: str
    instances: int
    mesh_x: int
    mesh_y: int
    word_bits: int
    block_size: int
    cluster_size: int
    depth: int | None
    """Rows; ``None`` for an unbounded level (DRAM or no depth given)."""
    multiple_buffering: float = 1.0
    read_bandwidth: float | None = None
    """Words per cycle per instance; ``None`` means no limit."""
    write_bandwidth: float | None = None
    shared_bandwidth: float | None = None
    is_dummy: bool = False
    subclass: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    constraints: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def size_words(self) -> int | None:
        return None if self.depth is None else self.depth * self.block_size

    @property
    def effective_size_words(self) -> int | None:
        size = self.size_words
        return None if size is None else math.floor(size / self.multiple_buffering)


@dataclass(frozen=True)
class ArithmeticLevel:
    """The MAC units: their count and mesh."""

    name: str
    component_class: str
    instances: int
    mesh_x: int
    mesh_y: int
    word_bits: int = 16
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Architecture:
    """Flattened architecture: ``storage`` inner to outer, then the arithmetic level."""

    storage: tuple[StorageLevel, ...]
    arithmetic: ArithmeticLevel
    container_levels: dict[str, str] = field(default_factory=dict, compare=False)
    """Container name -> name of the dummy level that carries its fanout."""

    def level_index(self, name: str) -> int:
        for i, level in enumerate(self.storage):
            if level.name == name:
                return i
        raise KeyError(name)

    def target_level(self, target: Any, file: str | None, path: Path, what: str) -> int:
        """The storage level a mapping or constraint ``target`` names (a container with a
        fanout means its dummy level); ``what`` names the directive in the error."""
        if not isinstance(target, str):
            raise SpecError(file, (*path, "target"), f"each {what} needs a 'target' level name")
        try:
            return self.level_index(self.container_levels.get(target, target))
        except KeyError:
            raise SpecError(
                file,
                (*path, "target"),
                f"unknown level {target!r}; storage levels are {list(self.names)}, containers "
                f"with a fanout {sorted(self.container_levels)}",
            ) from None

    def child_instances(self, index: int) -> tuple[int, int, int]:
        child: StorageLevel | ArithmeticLevel = (
            self.arithmetic if index == 0 else self.storage[index - 1]
        )
        return child.instances, child.mesh_x, child.mesh_y

    def fanout(self, index: int) -> int:
        """Children per instance of storage level ``index``."""
        n, _, _ = self.child_instances(index)
        return max(1, n // self.storage[index].instances)

    def fanout_xy(self, index: int) -> tuple[int, int]:
        _, cx, cy = self.child_instances(index)
        level = self.storage[index]
        return max(1, cx // level.mesh_x), max(1, cy // level.mesh_y)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(level.name for level in self.storage)
