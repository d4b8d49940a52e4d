"""Bundled layer sets: exact MAC totals from the tables, checked against published figures."""

from __future__ import annotations

import pytest

from dcoc.workloads.catalog import list_networks, load_network
from dcoc.workloads.op_spec import Conv2dSpec, MatmulSpec, OpKind

CONV_KINDS = (OpKind.CONV2D, OpKind.DEPTHWISE_CONV2D, OpKind.GROUPED_CONV2D)
GEMM_KINDS = (OpKind.MATMUL, OpKind.BATCH_MATMUL)


def test_bundled_networks() -> None:
    assert list_networks() == ["bert_base", "gpt2", "mobilenetv2", "resnet18", "resnet50", "vgg16"]
    for name in list_networks():
        network = load_network(name)
        assert network.name == name
        assert network.source, f"{name} must name its source"


# Exact totals of the tables (convolutions + fully connected layers, batch 1, 224x224), and the
# multiply-accumulate counts torchvision publishes for its models (weights meta "_ops", in
# GMACs: resnet18 1.814, resnet50 4.089, vgg16 15.47, mobilenet_v2 0.301), which count the
# same layers. Tolerance: half a unit of the published figure's last digit.
@pytest.mark.parametrize(
    ("name", "exact_total", "published", "half_unit"),
    [
        ("resnet18", 1_814_073_344, 1.814e9, 0.0005e9),
        ("resnet50", 4_089_184_256, 4.089e9, 0.0005e9),
        ("vgg16", 15_470_264_320, 15.47e9, 0.005e9),
        ("mobilenetv2", 300_774_272, 0.301e9, 0.0005e9),
    ],
)
def test_cnn_macs_match_published(
    name: str, exact_total: int, published: float, half_unit: float
) -> None:
    network = load_network(name)
    assert network.total_macs == exact_total
    assert abs(network.total_macs - published) <= half_unit


def test_cnn_conv_only_macs() -> None:
    # Convolutions alone: the totals above minus the classifier layers.
    assert load_network("resnet18").macs_of(*CONV_KINDS) == 1_814_073_344 - 512 * 1000
    assert load_network("resnet50").macs_of(*CONV_KINDS) == 4_089_184_256 - 2048 * 1000
    vgg_fc = 25088 * 4096 + 4096 * 4096 + 4096 * 1000
    assert load_network("vgg16").macs_of(*CONV_KINDS) == 15_470_264_320 - vgg_fc
    assert load_network("mobilenetv2").macs_of(*CONV_KINDS) == 300_774_272 - 1280 * 1000


def test_resnet18_vta_layers() -> None:
    # (H, C, K, kernel, pad, stride) of resnet-18.C2..C11 in TVM's VTA benchmarks.
    vta = {
        "C2": (56, 64, 64, 3, 1, 1),
        "C3": (56, 64, 128, 3, 1, 2),
        "C4": (56, 64, 128, 1, 0, 2),
        "C5": (28, 128, 128, 3, 1, 1),
        "C6": (28, 128, 256, 3, 1, 2),
        "C7": (28, 128, 256, 1, 0, 2),
        "C8": (14, 256, 256, 3, 1, 1),
        "C9": (14, 256, 512, 3, 1, 2),
        "C10": (14, 256, 512, 1, 0, 2),
        "C11": (7, 512, 512, 3, 1, 1),
    }
    subset = load_network("resnet18.vta")
    assert [layer.name for layer in subset.layers] == list(vta)
    for layer in subset.layers:
        h, c, k, kernel, pad, stride = vta[layer.name]
        assert layer.spec == Conv2dSpec(
            1, c, k, h, h, kernel, kernel, stride, stride, (pad, pad, pad, pad)
        )
    c5 = subset.layer("C5").problem
    assert dict(c5.bounds) == {"C": 128, "M": 128, "R": 3, "S": 3, "N": 1, "P": 28, "Q": 28}
    # ResNet-18: 16 3x3 convs in the stages + conv1 + 3 downsamples.
    full = load_network("resnet18")
    assert sum(layer.count for layer in full.layers if layer.spec.kind is OpKind.CONV2D) == 20


def test_mobilenetv2_has_17_depthwise_layers() -> None:
    network = load_network("mobilenetv2")
    depthwise = [layer for layer in network.layers if layer.spec.kind is OpKind.DEPTHWISE_CONV2D]
    assert len(depthwise) == 17
    assert network.layer("block2_dw").problem.name == "Depthwise_CNN_Layer"
    assert dict(network.layer("block2_dw").problem.bounds)["P"] == 56
    # Depthwise MACs: 9 * channels * out_h * out_w per block; 384 channels run in the last 3
    # blocks of the 64 stage and the first of the 96 stage, 960 in the 160 stage and the 320 one.
    assert sum(layer.total_macs for layer in depthwise) == 9 * (
        32 * 112**2
        + 96 * 56**2
        + 144 * 56**2
        + 144 * 28**2
        + 2 * 192 * 28**2
        + 192 * 14**2
        + 4 * 384 * 14**2
        + 2 * 576 * 14**2
        + 576 * 7**2
        + 3 * 960 * 7**2
    )


def test_bert_base_seq128() -> None:
    network = load_network("bert_base")
    s, d, ffn, heads = 128, 768, 3072, 12
    per_layer = s * 3 * d * d + 2 * heads * s * s * (d // heads) + s * d * d + 2 * s * d * ffn
    assert network.total_macs == 12 * per_layer == 11_173_625_856
    assert network.layer("qkv").spec == MatmulSpec(m=128, n=2304, k=768)
    assert network.layer("attn_scores").spec == MatmulSpec(m=128, n=128, k=64, batch=12)
    assert network.macs_of(*GEMM_KINDS) == network.total_macs


def test_gpt2_small_seq1024() -> None:
    network = load_network("gpt2")
    s, d, ffn, heads, vocab = 1024, 768, 3072, 12, 50257
    per_layer = s * 3 * d * d + 2 * heads * s * s * (d // heads) + s * d * d + 2 * s * d * ffn
    assert network.total_macs == 12 * per_layer + s * d * vocab
