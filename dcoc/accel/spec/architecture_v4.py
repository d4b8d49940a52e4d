"""The v0.4 architecture parser: a tree of ``!Container``/``!Component``/``!Parallel`` nodes.

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

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from dcoc.accel.architecture import (
    ATTRIBUTE_DEFAULTS,
    DUMMY_ATTRIBUTES,
    DUMMY_CLASS,
    PARALLEL_KEEP,
    Architecture,
    ArithmeticLevel,
    Path,
    StorageLevel,
)
from dcoc.accel.spec.documents import TaggedNode
from dcoc.accel.spec.storage_attributes import is_compute, make_storage, positive_int
from dcoc.errors import SpecError


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
    mx = positive_int(spatial.get("meshX", 1), walk.file, (*path, "spatial", "meshX"), "meshX")
    my = positive_int(spatial.get("meshY", 1), walk.file, (*path, "spatial", "meshY"), "meshY")
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
    if not is_compute(cls) or walk.entries[-1][0] != "component":
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
        word_bits=positive_int(
            attrs.get("datawidth", 16), file, (*npath, "attributes", "datawidth"), "datawidth"
        ),
        attributes=dict(attrs),
    )
    storage: list[StorageLevel] = []
    for kind, data in walk.entries[:-1]:
        if kind == "dummy":
            dname, dx, dy, constraints, dpath = data
            storage.append(
                make_storage(
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
            if is_compute(cls):
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
                make_storage(
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
