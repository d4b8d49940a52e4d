"""Hardware design spaces: which attributes of a Timeloop v0.4 template may vary, and how far.

A space file (``accel_specs/<name>.space.yaml``) names a template, the knobs and an area budget::

    design_space:
      version: 1
      template: eyeriss_like.yaml          # relative to the space file
      area_budget: {relative_to_template: 1.5}   # or {um2: 2.0e6}
      knobs:
      - name: pe_rows
        target: PE.spatial.meshY           # <node name>.spatial.<meshX|meshY>
        values: [4, 8, 12, 16]
      - name: glb_depth
        target: shared_glb.attributes.depth   # <node name>.attributes.<key>
        powers_of_two: {min: 4096, max: 65536}
      - name: glb_read_bandwidth
        target: shared_glb.attributes.read_bandwidth
        range: {min: 8, max: 32, step: 8}

Each knob offers a finite list of choices; the hardware agent picks one index per knob. The
template's own value must be one of the choices, so :meth:`DesignSpace.default` is the template.
Every knob that may be set (meshes, depth, width, datawidth, banks, bandwidths) can only grow
the estimated area when its value grows, so the smallest configuration is the all-minimum one
and :meth:`DesignSpace.check_feasible` can tell up front whether any configuration meets the
budget.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dcoc.accel.architecture import Architecture
from dcoc.accel.spec.architecture import parse_architecture
from dcoc.accel.spec.documents import TaggedNode, load_yaml_file
from dcoc.accel.spec.estimator import estimate_tables
from dcoc.errors import SpecError

Number = int | float
YamlPath = tuple[str | int, ...]

SPACE_VERSION = 1
SPATIAL_KEYS = ("meshX", "meshY")
ATTRIBUTE_KEYS = (
    "depth",
    "width",
    "datawidth",
    "n_banks",
    "read_bandwidth",
    "write_bandwidth",
    "shared_bandwidth",
)
MAX_CHOICES_PER_KNOB = 4096


@dataclass(frozen=True)
class KnobTarget:
    """Where a knob writes: ``node`` name, ``section`` (spatial|attributes) and ``key``."""

    node: str
    section: str
    key: str

    def __str__(self) -> str:
        return f"{self.node}.{self.section}.{self.key}"


@dataclass(frozen=True)
class Knob:
    name: str
    target: KnobTarget
    choices: tuple[Number, ...]
    """Ascending, distinct."""
    default_index: int
    """Index of the template's own value."""


@dataclass(frozen=True)
class HardwareConfig:
    """One value per knob, in the space's knob order."""

    values: tuple[tuple[str, Number], ...]

    def __getitem__(self, name: str) -> Number:
        for key, value in self.values:
            if key == name:
                return value
        raise KeyError(name)

    def as_dict(self) -> dict[str, Number]:
        return dict(self.values)


@dataclass(frozen=True)
class DesignSpace:
    file: str
    template_path: Path
    knobs: tuple[Knob, ...]
    area_budget_um2: float
    template: Mapping[str, Any] = field(compare=False, repr=False)
    """The template document (``{"architecture": ...}``); never modified."""

    @property
    def size(self) -> int:
        """Number of configurations."""
        return math.prod(len(k.choices) for k in self.knobs)

    @property
    def choice_counts(self) -> tuple[int, ...]:
        return tuple(len(k.choices) for k in self.knobs)

    def default(self) -> HardwareConfig:
        return self.decode([k.default_index for k in self.knobs])

    def smallest(self) -> HardwareConfig:
        """Every knob at its smallest choice: the configuration of least area."""
        return self.decode([0] * len(self.knobs))

    def sample(self, rng: np.random.Generator) -> HardwareConfig:
        return self.decode([int(rng.integers(len(k.choices))) for k in self.knobs])

    def decode(self, indices: Sequence[int]) -> HardwareConfig:
        """Choice index per knob -> configuration."""
        if len(indices) != len(self.knobs):
            raise ValueError(f"expected {len(self.knobs)} indices, got {len(indices)}")
        values = []
        for knob, index in zip(self.knobs, indices, strict=True):
            if not 0 <= index < len(knob.choices):
                raise ValueError(
                    f"knob {knob.name!r}: index {index} not in [0, {len(knob.choices)})"
                )
            values.append((knob.name, knob.choices[index]))
        return HardwareConfig(tuple(values))

    def encode(self, config: HardwareConfig) -> tuple[int, ...]:
        """Configuration -> choice index per knob."""
        out = []
        for knob in self.knobs:
            value = config[knob.name]
            if value not in knob.choices:
                raise ValueError(f"knob {knob.name!r}: {value!r} is not one of {knob.choices}")
            out.append(knob.choices.index(value))
        return tuple(out)

    def flat_index(self, config: HardwareConfig) -> int:
        """Configuration -> one integer in [0, size), first knob most significant."""
        index = 0
        for count, i in zip(self.choice_counts, self.encode(config), strict=True):
            index = index * count + i
        return index

    def from_flat_index(self, index: int) -> HardwareConfig:
        if not 0 <= index < self.size:
            raise ValueError(f"index {index} not in [0, {self.size})")
        indices = []
        for count in reversed(self.choice_counts):
            index, i = divmod(index, count)
            indices.append(i)
        return self.decode(indices[::-1])

    def apply(self, config: HardwareConfig) -> dict[str, Any]:
        """The template document with every knob set to its value in ``config``."""
        self.encode(config)  # validates
        doc = copy.deepcopy(dict(self.template))
        nodes = _nodes_by_name(doc["architecture"]["nodes"])
        for knob in self.knobs:
            node = nodes[knob.target.node]
            section = node.get(knob.target.section)
            if not isinstance(section, dict):
                section = {}
                node[knob.target.section] = section
            section[knob.target.key] = config[knob.name]
        return doc

    def architecture(self, config: HardwareConfig) -> Architecture:
        return parse_architecture(self.apply(config)["architecture"], self.file)

    def area_um2(self, config: HardwareConfig) -> float:
        """Estimated area of all instances (dummy levels count 1 um^2 each, as in Timeloop)."""
        return _total_area_um2(self.architecture(config), str(self.template_path))

    def fits_budget(self, config: HardwareConfig) -> bool:
        return self.area_um2(config) <= self.area_budget_um2

    def check_feasible(self) -> None:
        """Raise :class:`SpecError` if no configuration meets the area budget."""
        smallest = self.smallest()
        area = self.area_um2(smallest)
        if area > self.area_budget_um2:
            raise SpecError(
                self.file,
                ("design_space", "area_budget"),
                f"no configuration fits: the smallest one ({smallest.as_dict()}) needs "
                f"{area:.4g} um^2 > budget {self.area_budget_um2:.4g} um^2; raise the budget "
                "or allow smaller knob values",
            )


def dump_architecture_yaml(doc: Mapping[str, Any]) -> str:
    """YAML text of a template document, keeping the ``!Container``/``!Component`` tags."""
    return yaml.dump(dict(doc), Dumper=_TagDumper, sort_keys=False, default_flow_style=False)


def load_design_space(path: str | Path, *, check_feasible: bool = True) -> DesignSpace:
    """Read and validate a space file; by default also check that some configuration fits."""
    file = str(path)
    raw = load_yaml_file(path)
    space = _parse_space(raw, file, Path(path).parent)
    if check_feasible:
        space.check_feasible()
    return space


# ---------------------------------------------------------------------------------------------
# Parsing


class _TagDumper(yaml.SafeDumper):
    pass


def _represent_tagged(dumper: yaml.SafeDumper, node: TaggedNode) -> yaml.Node:
    return dumper.represent_mapping(f"!{node.tag}", dict(node))


_TagDumper.add_representer(TaggedNode, _represent_tagged)


def _total_area_um2(arch: Architecture, file: str) -> float:
    _, art = estimate_tables(arch, file)
    total = sum(art[level.name] * level.instances for level in arch.storage)
    return total + art[arch.arithmetic.name] * arch.arithmetic.instances


def _nodes_by_name(nodes: Any) -> dict[str, TaggedNode]:
    out: dict[str, TaggedNode] = {}
    for node in nodes or []:
        if not isinstance(node, TaggedNode):
            continue
        if node.tag in ("Parallel", "Hierarchical"):
            out.update(_nodes_by_name(node.get("nodes")))
        elif isinstance(node.get("name"), str):
            out[node["name"]] = node
    return out


def _keys(raw: Any, file: str, path: YamlPath, required: set[str], optional: set[str]) -> None:
    if not isinstance(raw, Mapping):
        raise SpecError(file, path, "must be a mapping")
    unknown = set(map(str, raw)) - required - optional
    if unknown:
        raise SpecError(
            file,
            (*path, sorted(unknown)[0]),
            f"unknown key; allowed keys here: {', '.join(sorted(required | optional))}",
        )
    missing = required - set(map(str, raw))
    if missing:
        raise SpecError(file, (*path, sorted(missing)[0]), "missing; add it")


def _positive(value: Any, file: str, path: YamlPath, *, integer: bool) -> Number:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok or value <= 0 or not math.isfinite(value):
        kind = "a positive integer" if integer else "a positive number"
        raise SpecError(file, path, f"must be {kind}, got {value!r}")
    return int(value) if integer else value


def _choices(raw: Mapping[str, Any], file: str, path: YamlPath, integer: bool) -> list[Number]:
    forms = [k for k in ("values", "range", "powers_of_two") if k in raw]
    if len(forms) != 1:
        raise SpecError(file, path, "give exactly one of values, range or powers_of_two")
    form = forms[0]
    fpath = (*path, form)
    spec = raw[form]
    if form == "values":
        if not isinstance(spec, list) or not spec:
            raise SpecError(file, fpath, "must be a non-empty list")
        out = [_positive(v, file, (*fpath, i), integer=integer) for i, v in enumerate(spec)]
    elif form == "range":
        _keys(spec, file, fpath, {"min", "max"}, {"step"})
        lo = _positive(spec["min"], file, (*fpath, "min"), integer=integer)
        hi = _positive(spec["max"], file, (*fpath, "max"), integer=integer)
        step = _positive(spec.get("step", 1), file, (*fpath, "step"), integer=integer)
        if hi < lo:
            raise SpecError(file, (*fpath, "max"), f"max {hi} is below min {lo}")
        count = int((hi - lo) // step) + 1
        if count > MAX_CHOICES_PER_KNOB:
            raise SpecError(file, fpath, f"{count} choices; at most {MAX_CHOICES_PER_KNOB}")
        out = [lo + i * step for i in range(count)]
    else:
        _keys(spec, file, fpath, {"min", "max"}, set())
        lo = int(_positive(spec["min"], file, (*fpath, "min"), integer=True))
        hi = int(_positive(spec["max"], file, (*fpath, "max"), integer=True))
        for key, v in (("min", lo), ("max", hi)):
            if v & (v - 1):
                raise SpecError(file, (*fpath, key), f"{v} is not a power of two")
        if hi < lo:
            raise SpecError(file, (*fpath, "max"), f"max {hi} is below min {lo}")
        out = [1 << e for e in range(lo.bit_length() - 1, hi.bit_length())]
    if len(set(out)) != len(out):
        raise SpecError(file, fpath, "choices must be distinct")
    return sorted(out)


def _parse_target(
    raw: Any, file: str, path: YamlPath, nodes: Mapping[str, TaggedNode]
) -> KnobTarget:
    parts = raw.split(".") if isinstance(raw, str) else []
    if len(parts) != 3:
        raise SpecError(
            file,
            path,
            f"{raw!r}: write <node name>.spatial.<meshX|meshY> or "
            f"<node name>.attributes.<{'|'.join(ATTRIBUTE_KEYS)}>",
        )
    node, section, key = parts
    if node not in nodes:
        raise SpecError(
            file, path, f"no node named {node!r} in the template; nodes: {', '.join(nodes)}"
        )
    allowed = {"spatial": SPATIAL_KEYS, "attributes": ATTRIBUTE_KEYS}.get(section)
    if allowed is None or key not in allowed:
        raise SpecError(
            file,
            path,
            f"{section}.{key} cannot be varied; use spatial.<{'|'.join(SPATIAL_KEYS)}>"
            f" or attributes.<{'|'.join(ATTRIBUTE_KEYS)}>",
        )
    if section == "attributes" and nodes[node].tag != "Component":
        raise SpecError(
            file, path, f"{node!r} is a {nodes[node].tag}; attributes knobs need a !Component"
        )
    return KnobTarget(node, section, key)


def _template_value(node: TaggedNode, target: KnobTarget) -> Any:
    section = node.get(target.section) or {}
    if target.section == "spatial":
        return section.get(target.key, 1)
    return section.get(target.key)


def _parse_space(raw: Mapping[str, Any], file: str, base: Path) -> DesignSpace:
    _keys(raw, file, (), {"design_space"}, set())
    top = raw["design_space"]
    path: YamlPath = ("design_space",)
    _keys(top, file, path, {"version", "template", "area_budget", "knobs"}, set())
    if top["version"] != SPACE_VERSION:
        raise SpecError(file, (*path, "version"), f"must be {SPACE_VERSION}")
    if not isinstance(top["template"], str):
        raise SpecError(file, (*path, "template"), "must be a file name")
    try:
        template_path = (base / top["template"]).resolve()
        found = template_path.is_file()
    except (OSError, ValueError) as error:  # a name too long, a NUL byte
        raise SpecError(file, (*path, "template"), f"not a usable file name: {error}") from None
    if not found:
        shown = str(template_path) if len(str(template_path)) <= 200 else "the named file"
        raise SpecError(file, (*path, "template"), f"{shown} does not exist")
    template = load_yaml_file(template_path)
    arch = template.get("architecture")
    if not isinstance(arch, Mapping) or not isinstance(arch.get("nodes"), list):
        raise SpecError(
            str(template_path), ("architecture", "nodes"), "a v0.4 template needs nodes"
        )
    parse_architecture(arch, str(template_path))  # the template itself must be valid
    nodes = _nodes_by_name(arch["nodes"])

    knobs_raw = top["knobs"]
    if not isinstance(knobs_raw, list) or not knobs_raw:
        raise SpecError(file, (*path, "knobs"), "must be a non-empty list of knobs")
    knobs: list[Knob] = []
    seen_names: set[str] = set()
    seen_targets: set[KnobTarget] = set()
    for i, k in enumerate(knobs_raw):
        kpath = (*path, "knobs", i)
        _keys(k, file, kpath, {"name", "target"}, {"values", "range", "powers_of_two"})
        name = k["name"]
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(file, (*kpath, "name"), "must be an identifier such as glb_depth")
        if name in seen_names:
            raise SpecError(file, (*kpath, "name"), f"knob name {name!r} is used twice")
        target = _parse_target(k["target"], file, (*kpath, "target"), nodes)
        if target in seen_targets:
            raise SpecError(file, (*kpath, "target"), f"{target} is set by another knob")
        integer = target.key not in ("read_bandwidth", "write_bandwidth", "shared_bandwidth")
        choices = _choices(k, file, kpath, integer)
        current = _template_value(nodes[target.node], target)
        if current not in choices:
            raise SpecError(
                file,
                kpath,
                f"the template's {target} is {current!r}, which is not a choice; "
                f"add it to the choices {choices}",
            )
        seen_names.add(name)
        seen_targets.add(target)
        knobs.append(Knob(name, target, tuple(choices), choices.index(current)))

    budget_raw = top["area_budget"]
    bpath = (*path, "area_budget")
    _keys(budget_raw, file, bpath, set(), {"relative_to_template", "um2"})
    if len(budget_raw) != 1:
        raise SpecError(file, bpath, "give exactly one of relative_to_template or um2")
    space = DesignSpace(file, template_path, tuple(knobs), 0.0, template)
    if "um2" in budget_raw:
        budget = float(_positive(budget_raw["um2"], file, (*bpath, "um2"), integer=False))
    else:
        factor = _positive(
            budget_raw["relative_to_template"],
            file,
            (*bpath, "relative_to_template"),
            integer=False,
        )
        budget = float(factor) * space.area_um2(space.default())
    return DesignSpace(file, template_path, tuple(knobs), budget, template)
