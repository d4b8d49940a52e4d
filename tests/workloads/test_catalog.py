"""Workload names: bundled layers, inline shapes, and the errors for names that do not exist."""

from __future__ import annotations

import pytest
import yaml

from dcoc.errors import SpecError
from dcoc.workloads.catalog import list_workloads, load_network, resolve_workload
from dcoc.workloads.layers import conv2d_spec
from dcoc.workloads.network import network_from_data
from dcoc.workloads.op_spec import MatmulSpec, OpKind


def test_named_layers() -> None:
    c5 = resolve_workload("resnet18/C5")
    assert (c5.name, c5.count) == ("C5", 3)
    assert c5.macs == 128 * 128 * 9 * 28 * 28
    assert resolve_workload("vgg16/conv3_1").spec == conv2d_spec(1, 128, 256, 56, 56, 3, 1, 1)
    qkv = resolve_workload("bert_base/qkv")
    assert qkv.spec == MatmulSpec(m=128, n=2304, k=768)
    assert qkv.count == 12
    assert resolve_workload("mobilenetv2/block2_dw").spec.kind is OpKind.DEPTHWISE_CONV2D


def test_list_workloads_resolve() -> None:
    names = list_workloads()
    assert "resnet18/C2" in names
    assert "gpt2/lm_head" in names
    assert len(names) == len(set(names))
    for name in names:
        assert resolve_workload(name).name == name.split("/")[1]


def test_inline_shapes() -> None:
    mm = resolve_workload("matmul:512,256,128")
    assert mm.spec == MatmulSpec(m=512, n=256, k=128)
    assert mm.name == "matmul:512,256,128"
    assert mm.count == 1
    assert mm.problem.macs == 512 * 256 * 128
    assert resolve_workload("batch_matmul:12,128,128,64").spec == MatmulSpec(128, 128, 64, 12)
    conv = resolve_workload("conv2d:1,64,64,56,56,3,3,1")
    assert conv.spec == conv2d_spec(1, 64, 64, 56, 56, 3)  # no padding unless given
    assert dict(conv.problem.bounds)["P"] == 54
    padded = resolve_workload("conv2d:1,64,128,56,56,3,3,2,1")
    assert dict(padded.problem.bounds) == {
        "C": 64,
        "M": 128,
        "R": 3,
        "S": 3,
        "N": 1,
        "P": 28,
        "Q": 28,
    }
    full = resolve_workload("conv2d:2,32,64,9,9,3,1,1,2,2,4")
    assert full.spec == conv2d_spec(2, 32, 64, 9, 9, (3, 1), 1, 2, 2, 4)
    assert full.problem.name == "Grouped_CNN_Layer"
    dw = resolve_workload("depthwise_conv2d:1,32,112,112,3,3,2,1")
    assert dw.spec.kind is OpKind.DEPTHWISE_CONV2D
    assert dict(dw.problem.bounds) == {"G": 32, "R": 3, "S": 3, "N": 1, "P": 56, "Q": 56}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("resnet34/C2", "unknown network 'resnet34'; available: \\['bert_base', 'gpt2'"),
        ("resnet18/C12", "network 'resnet18' has no layer 'C12'; its layers: \\['conv1', 'C2'"),
        ("resnet18", "expected NETWORK/LAYER"),
        ("conv3d:1,2,3", "unknown shape kind 'conv3d'"),
        ("matmul:512,512", "expected matmul:M,N,K"),
        ("matmul:512, 512,512", "expected matmul:M,N,K"),
        ("matmul:0,4,4", "must be an integer >= 1, got 0"),
        ("conv2d:1,3,8,4,4,7,7,1", "does not fit"),
        ("conv2d:1,6,8,8,8,3,3,1,1,1,4", "not divisible by groups=4"),
    ],
)
def test_errors_name_what_exists(name: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as info:
        resolve_workload(name)
    assert info.value.file == "<workload name>"


def test_subsets() -> None:
    assert len(load_network("resnet18.vta").layers) == 10
    with pytest.raises(SpecError, match="no subset 'tvm'; subsets: \\['vta'\\]"):
        load_network("resnet18.tvm")


def _document(**layer: object) -> dict[str, object]:
    return {"name": "toy", "source": "test", "layers": [layer]}


@pytest.mark.parametrize(
    ("layer", "path", "message"),
    [
        ({"name": "a", "op": "conv3d"}, "layers[0].op", "unknown op 'conv3d'"),
        ({"name": "a", "op": "matmul", "M": 1, "N": 2}, "layers[0].K", "missing key"),
        ({"name": "a", "op": "matmul", "M": 1, "N": 2, "K": 3, "C": 4}, "layers[0].C", "unknown"),
        (
            {"name": "a", "op": "matmul", "M": 1, "N": 2, "K": 3, "count": 0},
            "layers[0].count",
            "count must be",
        ),
        (
            {"name": "a", "op": "conv2d", "C": 3, "K": 4, "H": 2, "W": 2, "kernel": 3},
            "layers[0]",
            "does not fit",
        ),
        ({"op": "matmul", "M": 1, "N": 2, "K": 3}, "layers[0].name", "non-empty string"),
    ],
)
def test_layer_set_errors_name_file_and_path(
    layer: dict[str, object], path: str, message: str
) -> None:
    with pytest.raises(SpecError, match=message) as info:
        network_from_data(_document(**layer), "toy.yaml")
    assert str(info.value).startswith(f"toy.yaml: {path}")


def test_layer_set_from_yaml_text() -> None:
    text = """
name: toy
source: hand-written
batch: 2
layers:
  - {name: stem, op: conv2d, C: 3, K: 8, H: 9, W: 7, kernel: [3, 1], stride: [2, 1], pad: [1, 0]}
  - {name: dw, op: depthwise_conv2d, C: 8, H: 5, W: 7, kernel: 3, pad: 1, count: 2}
  - {name: fc, op: matmul, M: 2, N: 10, K: 280}
subsets: {convs: [stem, dw]}
"""
    network = network_from_data(yaml.safe_load(text), "toy.yaml")
    stem = network.layer("stem").spec
    assert stem == conv2d_spec(2, 3, 8, 9, 7, (3, 1), (2, 1), (1, 0))
    assert (stem.out_height, stem.out_width) == (5, 7)
    assert network.layer("dw").total_macs == 2 * 2 * 8 * 9 * 5 * 7
    assert network.subset("convs").total_macs == network.total_macs - 2 * 10 * 280
    with pytest.raises(SpecError, match="'head' is not a layer of toy"):
        network_from_data({**yaml.safe_load(text), "subsets": {"x": ["head"]}}, "toy.yaml")
