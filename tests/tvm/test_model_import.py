"""from_torch: a small PyTorch model's conv and matmul layers, through torch.export and TVM."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from dcoc.tvm.model_import import extract_model_tasks, from_torch
from dcoc.workloads.catalog import load_network
from dcoc.workloads.layers import conv2d_spec
from dcoc.workloads.network import Network
from dcoc.workloads.op_spec import MatmulSpec, OpKind, OpSpec


class SmallNet(nn.Module):
    """conv-bn-relu, a strided conv, one depthwise conv run twice, a dilated grouped conv,
    a linear layer on a 3-D activation and a batched product of two activations."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False)
        self.depthwise = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.grouped = nn.Conv2d(32, 64, (3, 1), padding=(2, 0), dilation=(2, 1), groups=4)
        self.proj = nn.Linear(64, 24)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.relu(self.bn(self.stem(x)))
        x = self.down(x)
        x = self.depthwise(torch.relu(self.depthwise(x)))
        x = self.grouped(x)  # [2, 64, 8, 8]
        tokens = x.flatten(2).transpose(1, 2)  # [2, 64 positions, 64 channels]
        return self.proj(tokens), torch.bmm(tokens, tokens.transpose(1, 2))


EXPECTED = [
    ("conv2d_0", conv2d_spec(2, 3, 16, 16, 16, 3, padding=1), 1),
    ("conv2d_1", conv2d_spec(2, 16, 32, 16, 16, 3, stride=2, padding=1), 1),
    ("depthwise_conv2d_0", conv2d_spec(2, 32, 32, 8, 8, 3, padding=1, groups=32), 2),
    (
        "grouped_conv2d_0",
        conv2d_spec(2, 32, 64, 8, 8, (3, 1), padding=(2, 0), dilation=(2, 1), groups=4),
        1,
    ),
    ("matmul_0", MatmulSpec(m=2 * 64, n=24, k=64), 1),  # linear: batch folded into M
    ("batch_matmul_0", MatmulSpec(m=64, n=64, k=64, batch=2), 1),
]


@pytest.fixture(scope="module")
def small_net_network():
    torch.manual_seed(0)
    return from_torch(SmallNet(), (torch.randn(2, 3, 16, 16),), name="small")


def test_from_torch_recognises_every_layer(small_net_network) -> None:
    network = small_net_network
    assert network.name == "small"
    assert [(layer.name, layer.spec, layer.count) for layer in network.layers] == EXPECTED


def test_imported_layers_are_timeloop_problems(small_net_network) -> None:
    network = small_net_network
    dw = network.layer("depthwise_conv2d_0").problem
    assert dw.name == "Depthwise_CNN_Layer"
    assert dict(dw.bounds) == {"G": 32, "R": 3, "S": 3, "N": 2, "P": 8, "Q": 8}
    grouped = network.layer("grouped_conv2d_0").problem
    # Output 8x8: height (8 + 4 - 2*2 - 1) // 1 + 1 = 8, width 8; 8 in / 16 out per group.
    assert dict(grouped.bounds) == {"G": 4, "C": 8, "M": 16, "R": 1, "S": 3, "N": 2, "P": 8, "Q": 8}
    assert grouped.coefficients["Hdilation"] == 2
    assert network.layer("conv2d_1").problem.coefficients["Wstride"] == 2
    # MACs by hand: stem, down, 2x depthwise, grouped, linear, bmm.
    assert network.total_macs == (
        2 * 16 * 16 * 16 * 3 * 9
        + 2 * 32 * 8 * 8 * 16 * 9
        + 2 * (2 * 32 * 8 * 8 * 9)
        + 2 * 64 * 8 * 8 * 8 * 3
        + 128 * 24 * 64
        + 2 * 64 * 64 * 64
    )
    assert network.macs_of(OpKind.MATMUL, OpKind.BATCH_MATMUL) == 128 * 24 * 64 + 2 * 64**3


def test_task_weights_count_call_sites() -> None:
    tasks = extract_model_tasks(SmallNet(), (torch.randn(2, 3, 16, 16),))
    weights = {task.spec: task.weight for task in tasks}
    assert weights == {spec: count for _, spec, count in EXPECTED}
    assert all(task.task_name for task in tasks)


def test_unsupported_mac_ops_are_logged_not_imported(caplog: pytest.LogCaptureFixture) -> None:
    model = nn.Sequential(nn.Conv1d(4, 8, 3), nn.Flatten(), nn.Linear(8 * 6, 5))
    with caplog.at_level(logging.WARNING, logger="dcoc.tvm.model_import"):
        network = from_torch(model, (torch.randn(1, 4, 8),))
    assert [layer.spec for layer in network.layers] == [MatmulSpec(m=1, n=5, k=48)]
    assert "relax.nn.conv1d" in caplog.text


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.downsample(x))


class ResNet18(nn.Module):
    """ResNet-18 as torchvision builds it (torchvision itself is not installed)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )  # fmt: skip
        blocks, c_in = [], 64
        for c_out, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _spec_counts(network: Network) -> dict[OpSpec, int]:
    return {layer.spec: layer.count for layer in network.layers}


@pytest.mark.slow
def test_imported_resnet18_equals_the_bundled_table() -> None:
    imported = from_torch(ResNet18(), (torch.randn(1, 3, 224, 224),), name="resnet18")
    assert _spec_counts(imported) == _spec_counts(load_network("resnet18"))
    assert imported.total_macs == 1_814_073_344


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Module:
    conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = c_in * expand
        layers = [_conv_bn(c_in, hidden, 1)] if expand != 1 else []
        layers += [
            _conv_bn(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) as torchvision builds it."""

    def __init__(self) -> None:
        super().__init__()
        layers, c_in = [_conv_bn(3, 32, 3, 2)], 32
        settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
        for t, c, n, s in (*settings, (6, 160, 3, 2), (6, 320, 1, 1)):
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        layers.append(_conv_bn(320, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


@pytest.mark.slow
def test_imported_mobilenetv2_equals_the_bundled_table() -> None:
    imported = from_torch(MobileNetV2(), (torch.randn(1, 3, 224, 224),), name="mobilenetv2")
    bundled = load_network("mobilenetv2")
    # The table lists every layer once; identical shapes import as one layer with a count.
    expected: dict[OpSpec, int] = {}
    for layer in bundled.layers:
        expected[layer.spec] = expected.get(layer.spec, 0) + layer.count
    assert _spec_counts(imported) == expected
    assert imported.total_macs == bundled.total_macs == 300_774_272


class Bottleneck(nn.Module):
    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        c_out = 4 * width
        self.body = nn.Sequential(
            nn.Conv2d(c_in, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )  # fmt: skip
        self.downsample = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.downsample(x))


class ResNet50(nn.Module):
    """ResNet-50 v1.5 (stride on the 3x3 conv) as torchvision builds it."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.MaxPool2d(3, 2, 1)]
        c_in = 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(blocks):
                layers.append(Bottleneck(c_in, width, stride if i == 0 else 1))
                c_in = 4 * width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.fc(torch.flatten(x, 1))


@pytest.mark.slow
def test_imported_resnet50_equals_the_bundled_table() -> None:
    imported = from_torch(ResNet50(), (torch.randn(1, 3, 224, 224),), name="resnet50")
    expected: dict[OpSpec, int] = {}
    for layer in load_network("resnet50").layers:
        expected[layer.spec] = expected.get(layer.spec, 0) + layer.count
    assert _spec_counts(imported) == expected
    assert imported.total_macs == 4_089_184_256


class BertLayer(nn.Module):
    """One BERT-base encoder layer with attention written out as matmuls."""

    def __init__(self, hidden: int = 768, heads: int = 12, ffn: int = 3072) -> None:
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, hidden)
        self.ffn1, self.ffn2 = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
        self.norm1, self.norm2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape

        def split(t: torch.Tensor) -> torch.Tensor:  # [b, s, d] -> [b, heads, s, d / heads]
            return t.view(b, s, self.heads, d // self.heads).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        context = (scores @ v).transpose(1, 2).reshape(b, s, d)
        x = self.norm1(x + self.out(context))
        return self.norm2(x + self.ffn2(torch.nn.functional.gelu(self.ffn1(x))))


def test_imported_bert_layer_has_the_bundled_macs() -> None:
    imported = from_torch(BertLayer(), (torch.randn(1, 128, 768),), name="bert_layer")
    assert _spec_counts(imported) == {
        MatmulSpec(m=128, n=768, k=768): 4,  # q, k, v, out
        MatmulSpec(m=128, n=128, k=64, batch=12): 1,
        MatmulSpec(m=128, n=64, k=128, batch=12): 1,
        MatmulSpec(m=128, n=3072, k=768): 1,
        MatmulSpec(m=128, n=768, k=3072): 1,
    }
    # The bundled table fuses q, k, v into one 768 -> 2304 product: same MACs per layer.
    assert 12 * imported.total_macs == load_network("bert_base").total_macs
