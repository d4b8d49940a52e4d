"""Constructors for common layers: ``conv2d(...)`` returns its Timeloop Problem.

Each ``*_spec`` function builds the :mod:`~dcoc.workloads.op_spec` (what TVM builds); the
function of the same name without ``_spec`` returns ``spec.to_problem()`` (what the accelerator
model evaluates). Sizes are PyTorch-like: the *input* height/width and the padding; the
Problem's ``P``/``Q`` are the resulting output width/height (Timeloop problems are unpadded).

``kernel``, ``stride`` and ``dilation`` take an int or an ``(height, width)`` pair;
``padding`` an int, an ``(height, width)`` pair (both sides) or ``(top, left, bottom, right)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from dcoc.errors import SpecError
from dcoc.workloads.op_spec import Conv2dSpec, MatmulSpec
from dcoc.workloads.problem import Problem

IntOrPair = int | Sequence[int]


def _pair(value: IntOrPair, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    pair = tuple(value)
    if len(pair) != 2:
        raise SpecError(None, (name,), f"give an int or a (height, width) pair, got {value!r}")
    return pair[0], pair[1]


def _padding(value: IntOrPair) -> tuple[int, int, int, int]:
    if isinstance(value, int):
        return value, value, value, value
    pad = tuple(value)
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return pad[0], pad[1], pad[2], pad[3]
    raise SpecError(
        None, ("padding",), f"give an int, (h, w) or (top, left, bottom, right), got {value!r}"
    )


def conv2d_spec(
    batch: int,
    in_channels: int,
    out_channels: int,
    in_height: int,
    in_width: int,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Conv2dSpec:
    """A 2-D convolution (NCHW / OIHW); ``groups`` > 1 gives a grouped or depthwise conv."""
    kh, kw = _pair(kernel, "kernel")
    sh, sw = _pair(stride, "stride")
    dh, dw = _pair(dilation, "dilation")
    return Conv2dSpec(
        batch=batch,
        in_channels=in_channels,
        out_channels=out_channels,
        in_height=in_height,
        in_width=in_width,
        kernel_height=kh,
        kernel_width=kw,
        stride_height=sh,
        stride_width=sw,
        padding=_padding(padding),
        dilation_height=dh,
        dilation_width=dw,
        groups=groups,
    )


def conv2d(
    batch: int,
    in_channels: int,
    out_channels: int,
    in_height: int,
    in_width: int,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Problem:
    """``CNN_Layer`` (``groups == 1``), ``Depthwise_CNN_Layer`` (``groups == in_channels ==
    out_channels``) or ``Grouped_CNN_Layer`` (otherwise)."""
    return conv2d_spec(
        batch,
        in_channels,
        out_channels,
        in_height,
        in_width,
        kernel,
        stride,
        padding,
        dilation,
        groups,
    ).to_problem()


def depthwise_conv2d_spec(
    batch: int,
    channels: int,
    in_height: int,
    in_width: int,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> Conv2dSpec:
    """One ``kernel`` filter per channel (``groups == channels``, multiplier 1)."""
    return conv2d_spec(
        batch,
        channels,
        channels,
        in_height,
        in_width,
        kernel,
        stride,
        padding,
        dilation,
        groups=channels,
    )


def depthwise_conv2d(
    batch: int,
    channels: int,
    in_height: int,
    in_width: int,
    kernel: IntOrPair,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> Problem:
    """``Depthwise_CNN_Layer`` over G (channels) R S N P Q."""
    return depthwise_conv2d_spec(
        batch, channels, in_height, in_width, kernel, stride, padding, dilation
    ).to_problem()


def grouped_conv2d(
    batch: int,
    in_channels: int,
    out_channels: int,
    in_height: int,
    in_width: int,
    kernel: IntOrPair,
    groups: int,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
) -> Problem:
    """``Grouped_CNN_Layer``: C and M are the channels per group, G the number of groups
    (a depthwise shape when each group has one input and one output channel)."""
    return conv2d_spec(
        batch,
        in_channels,
        out_channels,
        in_height,
        in_width,
        kernel,
        stride,
        padding,
        dilation,
        groups,
    ).to_problem()


def matmul(m: int, n: int, k: int) -> Problem:
    """``GEMM``: ``Outputs[M, N] += Inputs[M, K] * Weights[K, N]``."""
    return MatmulSpec(m=m, n=n, k=k).to_problem()


def batch_matmul(batch: int, m: int, n: int, k: int) -> Problem:
    """``Batched_GEMM`` (``GEMM`` when ``batch == 1``)."""
    return MatmulSpec(m=m, n=n, k=k, batch=batch).to_problem()
