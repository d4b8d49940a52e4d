"""Workloads by name: the bundled layer sets and inline shapes.

Grammar of a workload name (``resolve_workload``)::

    NETWORK/LAYER                          a layer of a bundled network: resnet18/C5,
                                           vgg16/conv3_1, bert_base/qkv, mobilenetv2/block2_dw
    matmul:M,N,K                           Outputs[M,N] += Inputs[M,K] * Weights[K,N]
    batch_matmul:B,M,N,K                   the same, B times
    conv2d:N,C,K,H,W,KH,KW,STRIDE[,PAD[,DILATION[,GROUPS]]]
                                           NCHW conv: C in / K out channels, H x W input,
                                           KH x KW kernel; PAD (default 0) on every side
    depthwise_conv2d:N,C,H,W,KH,KW,STRIDE[,PAD[,DILATION]]

Numbers are positive integers (PAD, >= 0), separated by commas without spaces. Bundled
networks: ``list_networks()``; all named layers: ``list_workloads()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from dcoc.errors import SpecError
from dcoc.workloads.layers import conv2d_spec, depthwise_conv2d_spec
from dcoc.workloads.network import Layer, Network, network_from_data
from dcoc.workloads.op_spec import MatmulSpec, OpSpec

WORKLOAD_NAME = "<workload name>"
_DATA_PACKAGE = "dcoc.workloads.data"
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available

SHAPE_GRAMMAR = {
    "matmul": "matmul:M,N,K",
    "batch_matmul": "batch_matmul:B,M,N,K",
    "conv2d": "conv2d:N,C,K,H,W,KH,KW,STRIDE[,PAD[,DILATION[,GROUPS]]]",
    "depthwise_conv2d": "depthwise_conv2d:N,C,H,W,KH,KW,STRIDE[,PAD[,DILATION]]",
}


def list_networks() -> list[str]:
    """Names of the bundled networks (``dcoc/workloads/data/*.yaml``), sorted."""
    files = resources.files(_DATA_PACKAGE).iterdir()
    return sorted(f.name.removesuffix(".yaml") for f in files if f.name.endswith(".yaml"))


def load_network(name: str) -> Network:
    """A bundled network by name (``resnet18``, ``vgg16``, ...). ``NAME.SUBSET`` (e.g.
    ``resnet18.vta``) selects a named subset of its layers."""
    base, _, subset = name.partition(".")
    available = list_networks()
    if base not in available:
        raise SpecError(WORKLOAD_NAME, (name,), f"unknown network {base!r}; available: {available}")
    resource = resources.files(_DATA_PACKAGE).joinpath(f"{base}.yaml")
    file = f"dcoc/workloads/data/{base}.yaml"
    try:
        data = yaml.load(resource.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        raise SpecError(file, (), f"not valid YAML: {error}") from None
    network = network_from_data(data, file)
    if not subset:
        return network
    if subset not in network.subsets:
        raise SpecError(
            WORKLOAD_NAME,
            (name,),
            f"network {base!r} has no subset {subset!r}; subsets: {sorted(network.subsets)}",
        )
    return network.subset(subset)


def list_workloads() -> list[str]:
    """Every ``NETWORK/LAYER`` name of the bundled networks."""
    return [
        f"{network}/{layer.name}"
        for network in list_networks()
        for layer in load_network(network).layers
    ]


def _numbers(name: str, kind: str, text: str, minimum: int, maximum: int) -> list[int]:
    parts = text.split(",")
    if not minimum <= len(parts) <= maximum or not all(p.isdigit() for p in parts):
        raise SpecError(
            WORKLOAD_NAME,
            (name,),
            f"expected {SHAPE_GRAMMAR[kind]} with non-negative integers, got {name!r}",
        )
    return [int(p) for p in parts]


def _shape_spec(name: str, kind: str, args: str) -> OpSpec:
    try:
        if kind == "matmul":
            m, n, k = _numbers(name, kind, args, 3, 3)
            return MatmulSpec(m=m, n=n, k=k)
        if kind == "batch_matmul":
            b, m, n, k = _numbers(name, kind, args, 4, 4)
            return MatmulSpec(m=m, n=n, k=k, batch=b)
        if kind == "conv2d":
            v = _numbers(name, kind, args, 8, 11)
            defaults = [0, 1, 1]  # PAD, DILATION, GROUPS
            pad, dilation, groups = [*v[8:], *defaults[len(v) - 8 :]]
            return conv2d_spec(
                v[0], v[1], v[2], v[3], v[4], (v[5], v[6]), v[7], pad, dilation, groups
            )
        v = _numbers(name, kind, args, 7, 9)
        pad = v[7] if len(v) > 7 else 0
        dilation = v[8] if len(v) > 8 else 1
        return depthwise_conv2d_spec(v[0], v[1], v[2], v[3], (v[4], v[5]), v[6], pad, dilation)
    except SpecError as error:
        if error.file == WORKLOAD_NAME:
            raise
        raise SpecError(WORKLOAD_NAME, (name,), error.message) from None


def resolve_workload(name: str) -> Layer:
    """The layer a workload name denotes (grammar in the module docstring); inline shapes
    become a layer named ``name`` with count 1. Raises :class:`SpecError` naming what exists."""
    kind, colon, args = name.partition(":")
    if colon:
        if kind not in SHAPE_GRAMMAR:
            raise SpecError(
                WORKLOAD_NAME,
                (name,),
                f"unknown shape kind {kind!r}; use one of {list(SHAPE_GRAMMAR.values())}",
            )
        return Layer(name=name, spec=_shape_spec(name, kind, args), count=1)
    network_name, slash, layer_name = name.partition("/")
    if not slash:
        raise SpecError(
            WORKLOAD_NAME,
            (name,),
            f"expected NETWORK/LAYER (networks: {list_networks()}) or an inline shape "
            f"{list(SHAPE_GRAMMAR.values())}",
        )
    network = load_network(network_name)
    try:
        return network.layer(layer_name)
    except KeyError:
        raise SpecError(
            WORKLOAD_NAME,
            (name,),
            f"network {network_name!r} has no layer {layer_name!r}; its layers: "
            f"{[layer.name for layer in network.layers]}",
        ) from None


@dataclass(frozen=True)
class LayerSet:
    """The layers a workload name or layer-set file denotes, with their records keys."""

    name: str
    layers: tuple[Layer, ...]
    keys: tuple[str, ...]
    """Per layer: ``NETWORK/LAYER`` (or the inline shape, for one layer given by shape)."""

    @property
    def counts(self) -> tuple[int, ...]:
        return tuple(layer.count for layer in self.layers)


def _layer_set_file(path: Path) -> Network:
    file = str(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as error:
        raise SpecError(file, (), f"cannot read the layer-set file: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SpecError(file, (), f"not valid YAML: {error}") from None
    return network_from_data(data, file)


def resolve_layers(workload: str | Sequence[str]) -> LayerSet:
    """A layer set by name: a bundled network (``resnet18``) or one of its subsets
    (``resnet18.vta``), a layer-set YAML file (``my_net.yaml``, the format of
    ``dcoc/workloads/data``), one layer (``resnet18/C5``, ``matmul:512,512,512``), or several
    layers (a sequence of such names, or one string of them separated by commas)."""
    if isinstance(workload, str) and "," in workload and ":" not in workload:
        workload = tuple(w.strip() for w in workload.split(",") if w.strip())
    if not isinstance(workload, str):
        names = tuple(workload)
        layers = tuple(resolve_workload(name) for name in names)
        return LayerSet(",".join(names), layers, names)
    if ("/" in workload and not workload.endswith((".yaml", ".yml"))) or ":" in workload:
        return LayerSet(workload, (resolve_workload(workload),), (workload,))
    if workload.endswith((".yaml", ".yml")):
        network = _layer_set_file(Path(workload))
    else:
        network = load_network(workload)
    return LayerSet(
        workload,
        network.layers,
        tuple(f"{network.name.partition('.')[0]}/{layer.name}" for layer in network.layers),
    )
