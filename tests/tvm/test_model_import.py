"""from_torch: a small PyTorch model's conv and matmul layers, through torch.export and TVM."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from dcoc.tvm.model_import import extract_model_tasks, from_torch
from dcoc.workloads.layers import conv2d_spec
from dcoc.workloads.op_spec import MatmulSpec, OpKind


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
