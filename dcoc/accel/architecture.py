"""The flattened accelerator architecture Timeloop evaluates: storage levels and the MAC level.

The v0.4 front end (timeloopfe) flattens a tree of ``!Container``/``!Component``/``!Parallel``
nodes into one list, outer to inner (see ``ref-output/parsed-processed-input.yaml``):

* a node's instance count is the product of the ``spatial`` meshes of everything above it
  (meshX and meshY separately); a ``!Component`` with its own ``spatial`` is itself replicated;
* a Container or Component with a fanout (meshX*meshY != 1) inserts a dummy storage level
  ``inter_<name>_spatial`` where it stands, with the instance count of the level above, width,
  depth and datawidth 1; it keeps nothing and carries the node's spatial constraints;
* ``!Parallel`` children are serialized in the order listed (first = outer), ``!Nothing`` is
  dropped, and Container attributes are inherited by every node that follows.

Storage levels are then numbered inner to outer, as Timeloop does: ``storage[0]`` feeds the
MACs. Buffer geometry follows ``src/model/buffer.cpp``: ``word_bits = datawidth`` (default 16),
``block_size`` = given or ``width/(datawidth*cluster_size)``, ``size = depth*block_size`` words
(no depth: unbounded), effective size ``floor(size/multiple_buffering)``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from dcoc.accel.yaml_loader import TaggedNode, spec_number
from dcoc.errors import SpecError

logger = logging.getLogger(__name__)

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


# ---------------------------------------------------------------------------------------------
# attribute helpers


def _positive_int(value: Any, file: str | None, path: Path, what: str) -> int:
    x = spec_number(value, file, path, what)
    if x != int(x) or x < 1:
        raise SpecError(file, path, f"{what} must be a positive integer, got {value!r}")
    return int(x)


def _opt_number(
    attrs: MappingABC[str, Any], key: str, file: str | None, path: Path
) -> float | None:
    v = attrs.get(key)
    if v is None:
        return None
    return spec_number(v, file, (*path, key), key)


def _is_compute(cls: str) -> bool:
    return cls.lower() in COMPUTE_CLASSES or cls.lower().endswith("mac")


def _make_storage(
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
    word_bits = _positive_int(
        attrs.get("datawidth", attrs.get("word-bits", 16)), file, (*apath, "datawidth"), "datawidth"
    )
    cluster_size = _positive_int(
        attrs.get("cluster_size", attrs.get("cluster-size", 1)),
        file,
        (*apath, "cluster_size"),
        "cluster_size",
    )
    if attrs.get("block_size", attrs.get("block-size")) is not None:
        block_size = _positive_int(
            attrs.get("block_size", attrs.get("block-size")),
            file,
            (*apath, "block_size"),
            "block_size",
        )
    elif attrs.get("width") is not None:
        width = _positive_int(attrs["width"], file, (*apath, "width"), "width")
        block_size = max(1, width // (word_bits * cluster_size))
    else:
        block_size = 1
    depth_raw = attrs.get("depth")
    if cls.upper() == "DRAM" or depth_raw is None:
        depth = None
    else:
        depth = _positive_int(depth_raw, file, (*apath, "depth"), "depth")
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
        read_bandwidth=_opt_number(attrs, "read_bandwidth", file, apath),
        write_bandwidth=_opt_number(attrs, "write_bandwidth", file, apath),
        shared_bandwidth=_opt_number(attrs, "shared_bandwidth", file, apath),
        is_dummy=is_dummy,
        subclass=subclass,
        attributes=dict(attrs),
        constraints=dict(constraints or {}),
    )


# ---------------------------------------------------------------------------------------------
# v0.4


@dataclass
class _Walk:
    file: str | None
    inherited: dict[str, Any]
    mesh_x: int = 1
    mesh_y: int = 1
    entries: list[tuple[str, Any]] = field(default_factory=list)  # outer -> inner
    containers: dict[str, str] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    parallel_keep: dict[str, list[str]] = field(default_factory=dict)
    """Component name -> what its ``!Parallel`` branch keeps (see :data:`PARALLEL_KEEP`)."""


def _node_spatial(node: MappingABC[str, Any], walk: _Walk, path: Path) -> tuple[int, int]:
    spatial = node.get("spatial")
    if spatial is None:
        return 1, 1
    if not isinstance(spatial, MappingABC):
        raise SpecError(walk.file, (*path, "spatial"), "must be a mapping {meshX: N, meshY: M}")
    mx = _positive_int(spatial.get("meshX", 1), walk.file, (*path, "spatial", "meshX"), "meshX")
    my = _positive_int(spatial.get("meshY", 1), walk.file, (*path, "spatial", "meshY"), "meshY")
    return mx, my


def _check_name(node: MappingABC[str, Any], walk: _Walk, path: Path) -> str:
    name = node.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(walk.file, (*path, "name"), "every node needs a 'name' string")
    if name in walk.names:
        raise SpecError(walk.file, (*path, "name"), f"node name {name!r} is used twice")
    walk.names.add(name)
    return name


def _add_dummy(name: str, node: MappingABC[str, Any], walk: _Walk, path: Path) -> None:
    dummy = f"inter_{name}_spatial"
    constraints = {}
    node_constraints = node.get("constraints")
    if isinstance(node_constraints, MappingABC) and "spatial" in node_constraints:
        constraints = {"spatial": node_constraints["spatial"]}
    walk.entries.append(("dummy", (dummy, walk.mesh_x, walk.mesh_y, constraints, path)))
    walk.containers[name] = dummy


def _branch_components(node: Any) -> list[MappingABC[str, Any]]:
    if not isinstance(node, TaggedNode):
        return []
    if node.tag == "Component":
        return [node]
    children = node.get("nodes")
    return (
        [c for child in children for c in _branch_components(child)]
        if isinstance(children, list)
        else []
    )


def _mark_parallel_branches(children: Any, walk: _Walk) -> None:
    """timeloopfe's Dataspace2Branch: each branch of a ``!Parallel`` keeps the union of its
    components' ``dataspace.keep`` lists and bypasses every other data space."""
    if not isinstance(children, list):
        return
    for child in children:
        comps = _branch_components(child)
        kept: list[str] = []
        for comp in comps:
            c = comp.get("constraints")
            ds = c.get("dataspace") if isinstance(c, MappingABC) else None
            keep = ds.get("keep") if isinstance(ds, MappingABC) else None
            if isinstance(keep, list):
                kept += [str(k) for k in keep if str(k) not in kept]
        for comp in comps:
            walk.parallel_keep[str(comp.get("name"))] = kept


def _walk_nodes(nodes: Any, walk: _Walk, path: Path) -> None:
    if not isinstance(nodes, list):
        raise SpecError(walk.file, path, "'nodes' must be a list of tagged nodes")
    for i, node in enumerate(nodes):
        npath = (*path, i)
        if not isinstance(node, TaggedNode):
            raise SpecError(
                walk.file,
                npath,
                "each node needs a tag: !Container, !Component, "
                "!Parallel, !Nothing or !Hierarchical",
            )
        if node.tag == "Nothing":
            continue
        if node.tag in ("Parallel", "Hierarchical"):
            if node.tag == "Parallel":
                _mark_parallel_branches(node.get("nodes", []), walk)
            _walk_nodes(node.get("nodes", []), walk, (*npath, "nodes"))
            continue
        name = _check_name(node, walk, npath)
        attrs = node.get("attributes") or {}
        if not isinstance(attrs, MappingABC):
            raise SpecError(walk.file, (*npath, "attributes"), "must be a mapping")
        mx, my = _node_spatial(node, walk, npath)
        if node.tag == "Container":
            walk.inherited.update(attrs)
            if mx * my != 1:
                _add_dummy(name, node, walk, npath)
            walk.mesh_x *= mx
            walk.mesh_y *= my
            continue
        # Component
        cls = node.get("class")
        if not isinstance(cls, str):
            raise SpecError(walk.file, (*npath, "class"), "a !Component needs a 'class'")
        if mx * my != 1:
            _add_dummy(name, node, walk, npath)
            walk.mesh_x *= mx
            walk.mesh_y *= my
        merged = {**walk.inherited, **attrs}
        walk.entries.append(
            ("component", (name, cls, merged, walk.mesh_x, walk.mesh_y, node, npath))
        )


def parse_architecture_v4(
    raw: MappingABC[str, Any], file: str | None, path: Path = ("architecture",)
) -> Architecture:
    walk = _Walk(file, {})
    _walk_nodes(raw.get("nodes"), walk, (*path, "nodes"))
    comps = [e for e in walk.entries if e[0] == "component"]
    if not comps:
        raise SpecError(
            file,
            (*path, "nodes"),
            "no !Component found; the last node must be the compute unit (class intmac/mac/...)",
        )
    last = comps[-1][1]
    name, cls, attrs, mx, my, node, npath = last
    if not _is_compute(cls) or walk.entries[-1][0] != "component":
        raise SpecError(
            file,
            npath,
            f"the last node must be the compute unit (class intmac, "
            f"mac, fpmac or compute), got class {cls!r}",
        )
    arithmetic = ArithmeticLevel(
        name=name,
        component_class=cls,
        instances=mx * my,
        mesh_x=mx,
        mesh_y=my,
        word_bits=_positive_int(
            attrs.get("datawidth", 16), file, (*npath, "attributes", "datawidth"), "datawidth"
        ),
        attributes=dict(attrs),
    )
    storage: list[StorageLevel] = []
    for kind, data in walk.entries[:-1]:
        if kind == "dummy":
            dname, dx, dy, constraints, dpath = data
            storage.append(
                _make_storage(
                    dname,
                    DUMMY_CLASS,
                    {**ATTRIBUTE_DEFAULTS, **DUMMY_ATTRIBUTES},
                    dx * dy,
                    dx,
                    dy,
                    file,
                    dpath,
                    constraints=constraints,
                    is_dummy=True,
                )
            )
        else:
            name, cls, attrs, mx, my, node, npath = data
            if _is_compute(cls):
                raise SpecError(file, npath, f"compute class {cls!r} must be the last node")
            full = {**ATTRIBUTE_DEFAULTS, **attrs}
            constraints = node.get("constraints") or {}
            if not isinstance(constraints, MappingABC):
                raise SpecError(file, (*npath, "constraints"), "must be a mapping")
            sub = node.get("subclass")
            constraints = dict(constraints)
            if name in walk.parallel_keep:
                constraints[PARALLEL_KEEP] = list(walk.parallel_keep[name])
            storage.append(
                _make_storage(
                    name,
                    cls,
                    full,
                    mx * my,
                    mx,
                    my,
                    file,
                    npath,
                    subclass=str(sub) if sub is not None else None,
                    constraints=dict(constraints),
                )
            )
    storage.reverse()
    return Architecture(tuple(storage), arithmetic, dict(walk.containers))


# ---------------------------------------------------------------------------------------------
# v0.3

_RANGE = re.compile(r"^(?P<base>[^\[]+)\[(?P<lo>\d+)\.\.(?P<hi>\d+)\]$")


def _split_range(name: str) -> tuple[str, int]:
    m = _RANGE.match(name.strip())
    if not m:
        return name.strip(), 1
    return m.group("base"), int(m.group("hi")) - int(m.group("lo")) + 1


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
            attrs = {**inherited, **(sub.get("attributes") or {})}
            for j, local in enumerate(sub.get("local") or []):
                lpath = (*spath, "local", j)
                if not isinstance(local, MappingABC) or "name" not in local:
                    raise SpecError(file, lpath, "a local element needs a 'name'")
                lname, lcount = _split_range(str(local["name"]))
                cls = local.get("class")
                if not isinstance(cls, str):
                    raise SpecError(file, (*lpath, "class"), "a local element needs a 'class'")
                lattrs = {**attrs, **(local.get("attributes") or {})}
                flat.append((lname, cls, lattrs, mult * count * lcount, lpath))
            walk(sub.get("subtree") or [], mult * count, attrs, (*spath, "subtree"))

    walk(raw.get("subtree"), 1, {}, (*path, "subtree"))
    if not flat:
        raise SpecError(file, (*path, "subtree"), "no local element found")
    levels: list[tuple[str, str, dict[str, Any], int, int, int, Path]] = []
    for name, cls, attrs, n, lpath in flat:
        mx = _positive_int(attrs.get("meshX", n), file, (*lpath, "attributes", "meshX"), "meshX")
        my = _positive_int(
            attrs.get("meshY", max(1, n // mx)), file, (*lpath, "attributes", "meshY"), "meshY"
        )
        levels.append((name, cls, attrs, n, mx, my, lpath))
    name, cls, attrs, n, mx, my, lpath = levels[-1]
    if not _is_compute(cls):
        raise SpecError(file, lpath, f"the last element must be the compute unit, got {cls!r}")
    arithmetic = ArithmeticLevel(name, cls, n, mx, my, int(attrs.get("datawidth", 16)), dict(attrs))
    storage = [
        _make_storage(
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
