"""What a layer computes, in the terms a compiler needs: the operator and its parameters.

A :class:`~dcoc.workloads.problem.Problem` is Timeloop's view of a layer (an unpadded loop nest).
An *op spec* says which real operator that is, so a backend (TVM) can build it: a convolution
keeps its input size and padding, a matrix product its operand layout. ``spec.to_problem()``
gives the Problem; :func:`spec_from_problem` recovers an (unpadded) spec from a Problem of one
of the shapes in :mod:`dcoc.workloads.shapes`.

Layouts (what a backend must build):

- :class:`Conv2dSpec`: ``data[N, C, H, W]`` (NCHW), ``weight[K, C/groups, KH, KW]`` (OIHW),
  ``out[N, K, OH, OW]``; ``padding`` is ``(top, left, bottom, right)`` zeros around the data,
  as in ``relax.op.nn.conv2d`` / ``topi.nn.conv2d_nchw``.
- :class:`MatmulSpec`: ``a[batch, M, K] @ b[batch, K, N] -> out[batch, M, N]``; with
  ``batch == 1`` the leading axis is absent (a plain ``matmul``/dense). ``a`` is Timeloop's
  ``Inputs``, ``b`` its ``Weights``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from dcoc.errors import SpecError
from dcoc.workloads.problem import MAX_BOUND, Problem
from dcoc.workloads.shapes import (
    ShapeName,
    batched_gemm_problem,
    cnn_layer_problem,
    depthwise_cnn_layer_problem,
    gemm_problem,
    grouped_cnn_layer_problem,
)


class OpKind(StrEnum):
    """The operator a layer is; ``OpSpec.kind``."""

    CONV2D = "conv2d"
    DEPTHWISE_CONV2D = "depthwise_conv2d"
    GROUPED_CONV2D = "grouped_conv2d"
    MATMUL = "matmul"
    BATCH_MATMUL = "batch_matmul"


def _check_positive(spec: object, names: tuple[str, ...], minimum: int = 1) -> None:
    for name in names:
        value = getattr(spec, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise SpecError(
                None, (type(spec).__name__, name), f"must be an integer >= {minimum}, got {value!r}"
            )
        if value > MAX_BOUND:
            raise SpecError(
                None, (type(spec).__name__, name), f"must be at most 2**31, got {value!r}"
            )


@dataclass(frozen=True)
class Conv2dSpec:
    """A 2-D convolution, NCHW data and OIHW weights (see the module docstring)."""

    batch: int
    in_channels: int
    out_channels: int
    in_height: int
    in_width: int
    kernel_height: int
    kernel_width: int
    stride_height: int = 1
    stride_width: int = 1
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilation_height: int = 1
    dilation_width: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "padding", tuple(self.padding))
        _check_positive(
            self,
            (
                "batch",
                "in_channels",
                "out_channels",
                "in_height",
                "in_width",
                "kernel_height",
                "kernel_width",
                "stride_height",
                "stride_width",
                "dilation_height",
                "dilation_width",
                "groups",
            ),
        )
        where = (type(self).__name__,)
        pad = self.padding
        if len(pad) != 4 or any(not isinstance(p, int) or p < 0 for p in pad):
            raise SpecError(
                None,
                (*where, "padding"),
                f"padding must be 4 integers >= 0 (top, left, bottom, right), got {pad!r}",
            )
        for channels in ("in_channels", "out_channels"):
            if getattr(self, channels) % self.groups:
                raise SpecError(
                    None,
                    (*where, "groups"),
                    f"{channels}={getattr(self, channels)} is not divisible by "
                    f"groups={self.groups}",
                )
        if self.out_height < 1 or self.out_width < 1:
            raise SpecError(
                None,
                where,
                f"the kernel ({self.kernel_height}x{self.kernel_width}, dilation "
                f"{self.dilation_height}x{self.dilation_width}) does not fit the padded input "
                f"({self.in_height}x{self.in_width}, padding {pad}); enlarge the input",
            )

    @property
    def kind(self) -> OpKind:
        if self.groups == 1:
            return OpKind.CONV2D
        if self.groups == self.in_channels == self.out_channels:
            return OpKind.DEPTHWISE_CONV2D
        return OpKind.GROUPED_CONV2D

    @property
    def out_height(self) -> int:
        span = self.dilation_height * (self.kernel_height - 1) + 1
        padded = self.in_height + self.padding[0] + self.padding[2]
        return (padded - span) // self.stride_height + 1

    @property
    def out_width(self) -> int:
        span = self.dilation_width * (self.kernel_width - 1) + 1
        padded = self.in_width + self.padding[1] + self.padding[3]
        return (padded - span) // self.stride_width + 1

    @property
    def macs(self) -> int:
        per_output = (self.in_channels // self.groups) * self.kernel_height * self.kernel_width
        return self.batch * self.out_channels * self.out_height * self.out_width * per_output

    def to_problem(self) -> Problem:
        """The Timeloop problem (``CNN_Layer``, ``Depthwise_CNN_Layer`` or
        ``Grouped_CNN_Layer``). Padding does not appear: the problem reads the padded input."""
        stride = (self.stride_height, self.stride_width)
        dilation = (self.dilation_height, self.dilation_width)
        window = {
            "R": self.kernel_width,
            "S": self.kernel_height,
            "N": self.batch,
            "P": self.out_width,
            "Q": self.out_height,
        }
        kind = self.kind
        if kind is OpKind.CONV2D:
            bounds = {"C": self.in_channels, "M": self.out_channels, **window}
            return cnn_layer_problem(bounds, stride, dilation)
        if kind is OpKind.DEPTHWISE_CONV2D:
            return depthwise_cnn_layer_problem({"G": self.groups, **window}, stride, dilation)
        bounds = {
            "G": self.groups,
            "C": self.in_channels // self.groups,
            "M": self.out_channels // self.groups,
            **window,
        }
        return grouped_cnn_layer_problem(bounds, stride, dilation)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (``kind`` plus every field), the form stored in records and YAML."""
        return {"kind": str(self.kind), **asdict(self), "padding": list(self.padding)}


@dataclass(frozen=True)
class MatmulSpec:
    """``out[batch, M, N] = a[batch, M, K] @ b[batch, K, N]``; ``batch == 1``: plain matmul."""

    m: int
    n: int
    k: int
    batch: int = 1

    def __post_init__(self) -> None:
        _check_positive(self, ("m", "n", "k", "batch"))

    @property
    def kind(self) -> OpKind:
        return OpKind.MATMUL if self.batch == 1 else OpKind.BATCH_MATMUL

    @property
    def macs(self) -> int:
        return self.batch * self.m * self.n * self.k

    def to_problem(self) -> Problem:
        """``GEMM`` (batch 1) or ``Batched_GEMM``."""
        if self.batch == 1:
            return gemm_problem(self.m, self.n, self.k)
        return batched_gemm_problem(self.batch, self.m, self.n, self.k)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": str(self.kind), **asdict(self)}


OpSpec = Conv2dSpec | MatmulSpec


def spec_from_dict(data: Mapping[str, Any]) -> OpSpec:
    """Inverse of ``to_dict``. Raises :class:`SpecError` (file ``<memory>``) on bad input."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    try:
        kind = OpKind(kind)
    except ValueError:
        raise SpecError(
            None, ("kind",), f"unknown op kind {kind!r}; use one of {[str(k) for k in OpKind]}"
        ) from None
    cls: type[Conv2dSpec] | type[MatmulSpec]
    cls = MatmulSpec if kind in (OpKind.MATMUL, OpKind.BATCH_MATMUL) else Conv2dSpec
    try:
        spec = cls(**fields)
    except TypeError as error:
        raise SpecError(None, (str(kind),), f"{error}") from None
    if spec.kind is not kind:
        raise SpecError(None, ("kind",), f"the parameters describe a {spec.kind}, not a {kind}")
    return spec


def _signature(problem: Problem) -> frozenset[object]:
    """What the data spaces index, ignoring names and the order of data dimensions."""
    return frozenset(
        (
            frozenset(
                frozenset((t.dimension, t.coefficient) for t in terms) for terms in ds.projection
            ),
            ds.read_write,
        )
        for ds in problem.data_spaces
    )


_CONV_DIMENSIONS = (frozenset("CMRSNPQ"), frozenset("GRSNPQ"), frozenset("GCMRSNPQ"))


def spec_from_problem(problem: Problem) -> OpSpec:
    """The unpadded op a Problem of a shape in :mod:`dcoc.workloads.shapes` computes.

    The shape is recognised by its dimensions and what its data spaces index, not by its name
    (Timeloop's ``CNN-Layer`` and ``gemm_ABZ`` are recognised too). The input size is the
    padded one Timeloop reads: ``(Q-1)*Hstride + (S-1)*Hdilation + 1``. Raises
    :class:`SpecError` for other shapes.
    """
    b, c = problem.bounds, problem.coefficients
    dims = frozenset(problem.dimensions)
    spec: OpSpec | None = None
    if dims == frozenset("MNK"):
        spec = MatmulSpec(m=b["M"], n=b["N"], k=b["K"])
    elif dims == frozenset("BMNK"):
        spec = MatmulSpec(m=b["M"], n=b["N"], k=b["K"], batch=b["B"])
    elif dims in _CONV_DIMENSIONS:
        groups = b.get("G", 1)
        spec = Conv2dSpec(
            batch=b["N"],
            in_channels=groups * b.get("C", 1),
            out_channels=groups * b.get("M", 1),
            in_height=(b["Q"] - 1) * c.get("Hstride", 1) + (b["S"] - 1) * c.get("Hdilation", 1) + 1,
            in_width=(b["P"] - 1) * c.get("Wstride", 1) + (b["R"] - 1) * c.get("Wdilation", 1) + 1,
            kernel_height=b["S"],
            kernel_width=b["R"],
            stride_height=c.get("Hstride", 1),
            stride_width=c.get("Wstride", 1),
            dilation_height=c.get("Hdilation", 1),
            dilation_width=c.get("Wdilation", 1),
            groups=groups,
        )
    if spec is None or _signature(spec.to_problem()) != _signature(problem):
        raise SpecError(
            None,
            ("problem", "shape"),
            f"shape {problem.name!r} (dimensions {list(problem.dimensions)}) is none of the "
            f"operators dcoc knows: {[str(s) for s in ShapeName]} as in dcoc.workloads.shapes",
        )
    return spec
