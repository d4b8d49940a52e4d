"""Timeloop problem shapes for the layers dcoc knows: convolutions and matrix products.

Every shape names its three data spaces ``Weights``, ``Inputs`` and ``Outputs`` (the names the
accelerator specs' ``keep``/``bypass`` constraints use), so one architecture file serves both
convolutions and GEMMs.

``CNN_Layer`` is Timeloop's canonical convolution (``problem-shapes/cnn-layer.yaml``)::

    dimensions C M R S N P Q     R: kernel width,  S: kernel height   (R pairs with P, Wstride)
    Weights[C, M, R, S]          P: output width,  Q: output height   (S pairs with Q, Hstride)
    Inputs [N, C, Wdilation*R + Wstride*P, Hdilation*S + Hstride*Q]
    Outputs[N, M, Q, P]

``Depthwise_CNN_Layer``: one filter per channel, the channel dimension is ``G``::

    dimensions G R S N P Q
    Weights[G, R, S]   Inputs[N, G, Wdilation*R + Wstride*P, Hdilation*S + Hstride*Q]
    Outputs[N, G, Q, P]

``Grouped_CNN_Layer``: ``G`` groups, ``C`` input and ``M`` output channels *per group*::

    dimensions G C M R S N P Q
    Weights[G, C, M, R, S]   Inputs[N, G, C, Wdilation*R + Wstride*P, Hdilation*S + Hstride*Q]
    Outputs[N, G, M, Q, P]

``GEMM`` (``Z[M, N] += A[M, K] * B[K, N]``), data spaces named as for a fully connected layer
``y = x W``: the activations ``A`` are ``Inputs``, the parameters ``B`` are ``Weights``::

    dimensions M N K             M: rows (tokens / batch), N: output features, K: reduction
    Weights[K, N]   Inputs[M, K]   Outputs[M, N]

In CNN terms GEMM ``K`` plays ``C``, GEMM ``N`` plays ``M`` and GEMM ``M`` plays ``N*P*Q``.
``Batched_GEMM`` adds a leading ``B`` dimension to all three data spaces.

Accelerator constraints are written in ``CNN_Layer`` names (``factors: [N=1, C=1, R=1]``).
:data:`CNN_ROLES` says which of them each dimension of another shape plays, so that one
architecture file constrains every shape (:func:`cnn_constraint_names`): a GEMM reads as a 1x1
convolution of a batch of ``M`` one-pixel images (``M`` plays ``N``, ``N`` plays ``M``, ``K``
plays ``C``); a depthwise or grouped convolution as ``G`` independent convolutions (``G``
plays no ``CNN_Layer`` dimension, a depthwise one has no ``C`` and ``M`` either); ``B`` plays
none.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from dcoc.workloads.problem import DataSpace, Problem, ProjectionTerm


class ShapeName(StrEnum):
    """The ``problem.shape.name`` of each shape built here."""

    CNN_LAYER = "CNN_Layer"
    DEPTHWISE_CNN_LAYER = "Depthwise_CNN_Layer"
    GROUPED_CNN_LAYER = "Grouped_CNN_Layer"
    GEMM = "GEMM"
    BATCHED_GEMM = "Batched_GEMM"


class DataSpaceName(StrEnum):
    """Data-space names shared by every shape."""

    WEIGHTS = "Weights"
    INPUTS = "Inputs"
    OUTPUTS = "Outputs"


CONV_COEFFICIENTS = ("Wstride", "Hstride", "Wdilation", "Hdilation")
# Plain ``str`` values (a StrEnum member does not survive ``yaml.safe_dump``).
_DATA_SPACE_NAMES = tuple(str(d) for d in DataSpaceName)


def _axis(*dims: str) -> tuple[tuple[ProjectionTerm, ...], ...]:
    """One data dimension per name, each indexed by that problem dimension alone."""
    return tuple((ProjectionTerm(d),) for d in dims)


def _sliding_window() -> tuple[tuple[ProjectionTerm, ...], ...]:
    """The two input data dimensions a 2-D sliding window reads: width then height."""
    return (
        (ProjectionTerm("R", "Wdilation"), ProjectionTerm("P", "Wstride")),
        (ProjectionTerm("S", "Hdilation"), ProjectionTerm("Q", "Hstride")),
    )


def _conv_coefficients(stride_hw: tuple[int, int], dilation_hw: tuple[int, int]) -> dict[str, int]:
    return {
        "Wstride": stride_hw[1],
        "Hstride": stride_hw[0],
        "Wdilation": dilation_hw[1],
        "Hdilation": dilation_hw[0],
    }


def cnn_layer_problem(
    bounds: dict[str, int], stride_hw: tuple[int, int], dilation_hw: tuple[int, int]
) -> Problem:
    """Timeloop's ``CNN_Layer`` with ``bounds`` over C M R S N P Q."""
    w, i, o = _DATA_SPACE_NAMES
    return Problem(
        name=str(ShapeName.CNN_LAYER),
        dimensions=("C", "M", "R", "S", "N", "P", "Q"),
        data_spaces=(
            DataSpace(w, _axis("C", "M", "R", "S")),
            DataSpace(i, (*_axis("N", "C"), *_sliding_window())),
            DataSpace(o, _axis("N", "M", "Q", "P"), read_write=True),
        ),
        bounds=bounds,
        coefficients=_conv_coefficients(stride_hw, dilation_hw),
    )


def depthwise_cnn_layer_problem(
    bounds: dict[str, int], stride_hw: tuple[int, int], dilation_hw: tuple[int, int]
) -> Problem:
    """``Depthwise_CNN_Layer`` with ``bounds`` over G R S N P Q."""
    w, i, o = _DATA_SPACE_NAMES
    return Problem(
        name=str(ShapeName.DEPTHWISE_CNN_LAYER),
        dimensions=("G", "R", "S", "N", "P", "Q"),
        data_spaces=(
            DataSpace(w, _axis("G", "R", "S")),
            DataSpace(i, (*_axis("N", "G"), *_sliding_window())),
            DataSpace(o, _axis("N", "G", "Q", "P"), read_write=True),
        ),
        bounds=bounds,
        coefficients=_conv_coefficients(stride_hw, dilation_hw),
    )


def grouped_cnn_layer_problem(
    bounds: dict[str, int], stride_hw: tuple[int, int], dilation_hw: tuple[int, int]
) -> Problem:
    """``Grouped_CNN_Layer`` with ``bounds`` over G C M R S N P Q (C, M per group)."""
    w, i, o = _DATA_SPACE_NAMES
    return Problem(
        name=str(ShapeName.GROUPED_CNN_LAYER),
        dimensions=("G", "C", "M", "R", "S", "N", "P", "Q"),
        data_spaces=(
            DataSpace(w, _axis("G", "C", "M", "R", "S")),
            DataSpace(i, (*_axis("N", "G", "C"), *_sliding_window())),
            DataSpace(o, _axis("N", "G", "M", "Q", "P"), read_write=True),
        ),
        bounds=bounds,
        coefficients=_conv_coefficients(stride_hw, dilation_hw),
    )


def gemm_problem(m: int, n: int, k: int) -> Problem:
    """``GEMM``: ``Outputs[M, N] += Inputs[M, K] * Weights[K, N]``."""
    w, i, o = _DATA_SPACE_NAMES
    return Problem(
        name=str(ShapeName.GEMM),
        dimensions=("M", "N", "K"),
        data_spaces=(
            DataSpace(w, _axis("K", "N")),
            DataSpace(i, _axis("M", "K")),
            DataSpace(o, _axis("M", "N"), read_write=True),
        ),
        bounds={"M": m, "N": n, "K": k},
    )


def batched_gemm_problem(b: int, m: int, n: int, k: int) -> Problem:
    """``Batched_GEMM``: ``Outputs[B, M, N] += Inputs[B, M, K] * Weights[B, K, N]``."""
    w, i, o = _DATA_SPACE_NAMES
    return Problem(
        name=str(ShapeName.BATCHED_GEMM),
        dimensions=("B", "M", "N", "K"),
        data_spaces=(
            DataSpace(w, _axis("B", "K", "N")),
            DataSpace(i, _axis("B", "M", "K")),
            DataSpace(o, _axis("B", "M", "N"), read_write=True),
        ),
        bounds={"B": b, "M": m, "N": n, "K": k},
    )


CNN_DIMENSIONS = ("C", "M", "R", "S", "N", "P", "Q")
"""The dimensions of ``CNN_Layer``, in which the shipped accelerator constraints are written."""

_SAME = {d: d for d in ("R", "S", "N", "P", "Q")}
CNN_ROLES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        str(ShapeName.CNN_LAYER): MappingProxyType({d: d for d in CNN_DIMENSIONS}),
        str(ShapeName.DEPTHWISE_CNN_LAYER): MappingProxyType(dict(_SAME)),
        str(ShapeName.GROUPED_CNN_LAYER): MappingProxyType({"C": "C", "M": "M", **_SAME}),
        str(ShapeName.GEMM): MappingProxyType({"M": "N", "N": "M", "K": "C"}),
        str(ShapeName.BATCHED_GEMM): MappingProxyType({"M": "N", "N": "M", "K": "C"}),
    }
)
"""Per shape name, the ``CNN_Layer`` dimension each of its dimensions plays (a dimension that
is not listed plays none)."""


def cnn_constraint_names(problem: Problem) -> dict[str, str | None] | None:
    """How constraints written in ``CNN_Layer`` names read for ``problem``: each ``CNN_Layer``
    dimension -> the dimension of ``problem`` that plays it, or ``None`` (no dimension does:
    the constraint is dropped). ``None`` for a shape :data:`CNN_ROLES` does not know (a
    problem read from a file with its own shape name) or whose dimensions differ from it."""
    roles = CNN_ROLES.get(problem.name)
    if roles is None or not set(roles) <= set(problem.dimensions):
        return None
    played = {cnn: own for own, cnn in roles.items()}
    return {cnn: played.get(cnn) for cnn in CNN_DIMENSIONS}
