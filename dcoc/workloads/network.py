"""A network as its layers with repeat counts, and the layer-set file format.

A layer-set file (``dcoc/workloads/data/*.yaml``)::

    name: resnet18
    source: where the table comes from (paper, repository, file)
    batch: 1                        # default batch of the conv layers
    layers:
      - {name: conv1, op: conv2d, C: 3, K: 64, H: 224, W: 224, kernel: 7, stride: 2, pad: 3}
      - {name: dw, op: depthwise_conv2d, C: 32, H: 112, W: 112, kernel: 3, pad: 1, count: 1}
      - {name: qkv, op: matmul, M: 128, N: 2304, K: 768, count: 12}
      - {name: scores, op: batch_matmul, B: 12, M: 128, N: 128, K: 64, count: 12}
    subsets:                        # optional named selections of layers
      vta: [C2, C3]

Conv keys: ``C``/``K`` input/output channels, ``H``/``W`` input height/width, ``kernel``,
``stride`` (1), ``pad`` (0), ``dilation`` (1), ``groups`` (1), ``N`` (the file's ``batch``);
``kernel``/``stride``/``dilation`` take an int or ``[h, w]``, ``pad`` an int, ``[h, w]`` or
``[top, left, bottom, right]``. ``count`` (1) is how many times the layer runs per inference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dcoc.errors import SpecError
from dcoc.workloads.layers import conv2d_spec
from dcoc.workloads.op_spec import MatmulSpec, OpKind, OpSpec
from dcoc.workloads.problem import Problem


@dataclass(frozen=True)
class Layer:
    """One distinct layer of a network: its name, its operator and how often it runs."""

    name: str
    spec: OpSpec
    count: int = 1

    @property
    def problem(self) -> Problem:
        return self.spec.to_problem()

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one execution."""
        return self.spec.macs

    @property
    def total_macs(self) -> int:
        return self.spec.macs * self.count


@dataclass(frozen=True)
class Network:
    """A network's layers (with counts) and where the table comes from."""

    name: str
    layers: tuple[Layer, ...]
    source: str = ""
    subsets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "subsets", MappingProxyType(dict(self.subsets)))

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def total_macs(self) -> int:
        return sum(layer.total_macs for layer in self.layers)

    def macs_of(self, *kinds: OpKind) -> int:
        """Total multiply-accumulates of the layers whose op is one of ``kinds``."""
        return sum(layer.total_macs for layer in self.layers if layer.spec.kind in kinds)

    def subset(self, name: str) -> Network:
        """The network restricted to the layers of subset ``name`` (counts kept)."""
        names = self.subsets[name]
        return Network(
            name=f"{self.name}.{name}",
            layers=tuple(self.layer(n) for n in names),
            source=self.source,
        )


_CONV_KEYS = {
    "name",
    "op",
    "count",
    "N",
    "C",
    "K",
    "H",
    "W",
    "kernel",
    "stride",
    "pad",
    "dilation",
    "groups",
}
_MATMUL_KEYS = {"name", "op", "count", "M", "N", "K", "B"}


def _int_or_list(
    entry: Mapping[str, Any], key: str, default: int | None, file: str, where: tuple[str | int, ...]
) -> int | tuple[int, ...]:
    """``entry[key]`` (``kernel``, ``stride``, ``pad``, ``dilation``): an integer >= 0 or a
    list of them; a :class:`SpecError` naming the key otherwise."""
    if key not in entry and default is None:
        raise KeyError(key)
    value = entry.get(key, default)
    items = value if isinstance(value, list) else [value]
    if not items or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in items
    ):
        raise SpecError(
            file, (*where, key), f"{key} must be an integer >= 0 or a list of them, got {value!r}"
        )
    return tuple(items) if isinstance(value, list) else value  # type: ignore[return-value]


def _layer_from_entry(entry: Any, batch: int, file: str, where: tuple[str | int, ...]) -> Layer:
    if not isinstance(entry, Mapping):
        raise SpecError(file, where, "a layer is a mapping such as {name: c1, op: conv2d, ...}")
    op = entry.get("op")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise SpecError(file, (*where, "name"), "every layer needs a non-empty string name")
    allowed = _MATMUL_KEYS if op in ("matmul", "batch_matmul") else _CONV_KEYS
    if op not in ("conv2d", "depthwise_conv2d", "matmul", "batch_matmul"):
        raise SpecError(
            file,
            (*where, "op"),
            f"unknown op {op!r}; use conv2d, depthwise_conv2d, matmul or batch_matmul",
        )
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise SpecError(
            file, (*where, unknown[0]), f"unknown key for op {op}; allowed: {sorted(allowed)}"
        )
    try:
        spec: OpSpec
        if op in ("matmul", "batch_matmul"):
            spec = MatmulSpec(m=entry["M"], n=entry["N"], k=entry["K"], batch=entry.get("B", 1))
        else:
            channels = entry["C"]
            groups = channels if op == "depthwise_conv2d" else entry.get("groups", 1)
            spec = conv2d_spec(
                batch=entry.get("N", batch),
                in_channels=channels,
                out_channels=entry.get("K", channels) if op == "depthwise_conv2d" else entry["K"],
                in_height=entry["H"],
                in_width=entry["W"],
                kernel=_int_or_list(entry, "kernel", None, file, where),
                stride=_int_or_list(entry, "stride", 1, file, where),
                padding=_int_or_list(entry, "pad", 0, file, where),
                dilation=_int_or_list(entry, "dilation", 1, file, where),
                groups=groups,
            )
    except KeyError as missing:
        raise SpecError(file, (*where, str(missing.args[0])), f"missing key for op {op}") from None
    except SpecError as error:
        if error.file == file:
            raise
        raise SpecError(file, (*where, *error.yaml_path[1:]), error.message) from None
    count = entry.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise SpecError(file, (*where, "count"), f"count must be an integer >= 1, got {count!r}")
    return Layer(name=name, spec=spec, count=count)


def network_from_data(data: Any, file: str) -> Network:
    """Build a :class:`Network` from a parsed layer-set document; errors name ``file``."""
    if not isinstance(data, Mapping):
        raise SpecError(file, (), "a layer-set file is a mapping with name, source and layers")
    name = data.get("name")
    if not isinstance(name, str):
        raise SpecError(file, ("name",), "give the network a string name")
    batch = data.get("batch", 1)
    entries = data.get("layers")
    if not isinstance(entries, list) or not entries:
        raise SpecError(file, ("layers",), "give a non-empty list of layers")
    layers = tuple(
        _layer_from_entry(entry, batch, file, ("layers", i)) for i, entry in enumerate(entries)
    )
    names = [layer.name for layer in layers]
    for i, layer_name in enumerate(names):
        if names.index(layer_name) != i:
            raise SpecError(file, ("layers", i, "name"), f"layer name {layer_name!r} repeats")
    subsets: dict[str, tuple[str, ...]] = {}
    subsets_raw = data.get("subsets") or {}
    if not isinstance(subsets_raw, Mapping):
        raise SpecError(file, ("subsets",), "subsets map a subset name to a list of layer names")
    for subset, members in subsets_raw.items():
        if not isinstance(members, list):
            raise SpecError(file, ("subsets", subset), "give the subset's layer names as a list")
        for j, member in enumerate(members):
            if member not in names:
                raise SpecError(
                    file, ("subsets", subset, j), f"{member!r} is not a layer of {name}"
                )
        subsets[str(subset)] = tuple(members)
    return Network(name=name, layers=layers, source=str(data.get("source", "")), subsets=subsets)
