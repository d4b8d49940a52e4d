"""Layer constructors: Timeloop shapes, bounds, MAC counts and the spec <-> problem link."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcoc.errors import SpecError
from dcoc.workloads.layers import (
    batch_matmul,
    conv2d,
    conv2d_spec,
    depthwise_conv2d,
    grouped_conv2d,
    matmul,
)
from dcoc.workloads.op_spec import Conv2dSpec, MatmulSpec, OpKind, spec_from_dict, spec_from_problem
from dcoc.workloads.shapes import ShapeName


def _projection(problem, name):
    """A data space's projection as nested lists of (dimension, coefficient)."""
    return [
        [(t.dimension, t.coefficient) for t in terms]
        for terms in problem.data_space(name).projection
    ]


def test_conv2d_is_timeloop_cnn_layer_vgg02_layer5() -> None:
    # tests/data/timeloop/06-eyeriss-vgg02-layer5/VGG02_layer5.prob.yaml:
    # C=128, M=256, R=S=3, N=1, P=Q=56, unit strides; the padded input is 58x58.
    p = conv2d(1, 128, 256, 56, 56, kernel=3, padding=1)
    assert p.name == "CNN_Layer"
    assert p.dimensions == ("C", "M", "R", "S", "N", "P", "Q")
    assert dict(p.bounds) == {"C": 128, "M": 256, "R": 3, "S": 3, "N": 1, "P": 56, "Q": 56}
    assert dict(p.coefficients) == {"Wstride": 1, "Hstride": 1, "Wdilation": 1, "Hdilation": 1}
    assert _projection(p, "Weights") == [[("C", None)], [("M", None)], [("R", None)], [("S", None)]]
    assert _projection(p, "Inputs") == [
        [("N", None)],
        [("C", None)],
        [("R", "Wdilation"), ("P", "Wstride")],
        [("S", "Hdilation"), ("Q", "Hstride")],
    ]
    assert _projection(p, "Outputs") == [[("N", None)], [("M", None)], [("Q", None)], [("P", None)]]
    assert p.data_space("Outputs").read_write
    assert not p.data_space("Inputs").read_write
    assert p.macs == 128 * 256 * 9 * 56 * 56
    assert p.tensor_size(p.data_space("Inputs")) == 128 * 58 * 58


def test_rectangular_strided_dilated_conv_maps_width_to_r_and_p() -> None:
    # H=20, W=30, kernel 3x5, stride (2, 3), dilation (1, 2), no padding.
    p = conv2d(2, 4, 8, 20, 30, kernel=(3, 5), stride=(2, 3), dilation=(1, 2))
    # out height = (20 - 3) // 2 + 1 = 9; out width = (30 - 9) // 3 + 1 = 8
    assert dict(p.bounds) == {"C": 4, "M": 8, "R": 5, "S": 3, "N": 2, "P": 8, "Q": 9}
    assert dict(p.coefficients) == {"Wstride": 3, "Hstride": 2, "Wdilation": 2, "Hdilation": 1}
    # The bounding box Timeloop reads: width (8-1)*3 + (5-1)*2 + 1 = 30, height 8*2+2+1 = 19.
    assert p.tile_shape(p.data_space("Inputs"), p.bounds) == (2, 4, 30, 19)


def test_depthwise_conv_has_g_dimension() -> None:
    p = depthwise_conv2d(1, 96, 112, 112, kernel=3, stride=2, padding=1)
    assert p.name == "Depthwise_CNN_Layer"
    assert p.dimensions == ("G", "R", "S", "N", "P", "Q")
    assert dict(p.bounds) == {"G": 96, "R": 3, "S": 3, "N": 1, "P": 56, "Q": 56}
    assert _projection(p, "Weights") == [[("G", None)], [("R", None)], [("S", None)]]
    assert [terms[0][0] for terms in _projection(p, "Inputs")] == ["N", "G", "R", "S"]
    assert _projection(p, "Outputs") == [[("N", None)], [("G", None)], [("Q", None)], [("P", None)]]
    assert p.macs == 96 * 9 * 56 * 56


def test_grouped_conv_counts_channels_per_group() -> None:
    p = grouped_conv2d(1, 32, 64, 8, 8, kernel=3, groups=4, padding=2, dilation=2)
    assert p.name == "Grouped_CNN_Layer"
    assert dict(p.bounds) == {"G": 4, "C": 8, "M": 16, "R": 3, "S": 3, "N": 1, "P": 8, "Q": 8}
    assert _projection(p, "Weights") == [[(d, None)] for d in ("G", "C", "M", "R", "S")]
    assert _projection(p, "Outputs") == [[(d, None)] for d in ("N", "G", "M", "Q", "P")]
    # Same MACs as the dense formula: K * OH * OW * (C / groups) * KH * KW.
    assert p.macs == 64 * 8 * 8 * 8 * 9
    # groups == C == K is the depthwise shape.
    assert grouped_conv2d(1, 16, 16, 8, 8, kernel=3, groups=16).name == "Depthwise_CNN_Layer"


def test_gemm_names_data_spaces_like_a_fully_connected_layer() -> None:
    p = matmul(128, 3072, 768)
    assert p.name == "GEMM"
    assert p.dimensions == ("M", "N", "K")
    assert _projection(p, "Inputs") == [[("M", None)], [("K", None)]]  # A[M, K]
    assert _projection(p, "Weights") == [[("K", None)], [("N", None)]]  # B[K, N]
    assert _projection(p, "Outputs") == [[("M", None)], [("N", None)]]  # Z[M, N]
    assert p.macs == 128 * 3072 * 768
    assert p.tensor_size(p.data_space("Weights")) == 768 * 3072


def test_batch_matmul_adds_b_to_every_data_space() -> None:
    p = batch_matmul(12, 128, 128, 64)
    assert p.name == "Batched_GEMM"
    assert p.dimensions == ("B", "M", "N", "K")
    for name in ("Weights", "Inputs", "Outputs"):
        assert _projection(p, name)[0] == [("B", None)]
    assert p.macs == 12 * 128 * 128 * 64
    assert batch_matmul(1, 4, 5, 6).name == "GEMM"


def test_spec_kinds() -> None:
    assert conv2d_spec(1, 8, 8, 4, 4, 3).kind is OpKind.CONV2D
    assert conv2d_spec(1, 8, 8, 4, 4, 3, groups=8).kind is OpKind.DEPTHWISE_CONV2D
    assert conv2d_spec(1, 8, 16, 4, 4, 3, groups=8).kind is OpKind.GROUPED_CONV2D
    assert MatmulSpec(2, 3, 4).kind is OpKind.MATMUL
    assert MatmulSpec(2, 3, 4, batch=5).kind is OpKind.BATCH_MATMUL


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"groups": 3}, "not divisible by groups=3"),
        ({"kernel": 9}, "does not fit"),
        ({"stride": 0}, "stride_height"),
        ({"padding": (1, 1, 1)}, "padding"),
    ],
)
def test_bad_conv_parameters_raise_spec_error(args: dict[str, object], message: str) -> None:
    base: dict[str, object] = {
        "batch": 1,
        "in_channels": 8,
        "out_channels": 8,
        "in_height": 6,
        "in_width": 6,
        "kernel": 3,
    }
    with pytest.raises(SpecError, match=message):
        conv2d_spec(**{**base, **args})  # type: ignore[arg-type]


def test_spec_dict_round_trip_and_errors() -> None:
    spec = conv2d_spec(1, 32, 64, 8, 8, (3, 1), stride=(1, 2), padding=(1, 0, 2, 0), groups=4)
    assert spec_from_dict(spec.to_dict()) == spec
    assert spec.to_dict()["kind"] == "grouped_conv2d"
    mm = MatmulSpec(3, 4, 5, batch=2)
    assert spec_from_dict(mm.to_dict()) == mm
    with pytest.raises(SpecError, match="unknown op kind 'conv3d'"):
        spec_from_dict({"kind": "conv3d"})
    with pytest.raises(SpecError, match="describe a batch_matmul, not a matmul"):
        spec_from_dict({"kind": "matmul", "m": 1, "n": 2, "k": 3, "batch": 4})


conv_specs = st.builds(
    lambda n, cpg, kpg, g, oh, ow, kh, kw, sh, sw, dh, dw: Conv2dSpec(
        batch=n,
        in_channels=cpg * g,
        out_channels=kpg * g,
        in_height=(oh - 1) * sh + (kh - 1) * dh + 1,
        in_width=(ow - 1) * sw + (kw - 1) * dw + 1,
        kernel_height=kh,
        kernel_width=kw,
        stride_height=sh,
        stride_width=sw,
        dilation_height=dh,
        dilation_width=dw,
        groups=g,
    ),
    *([st.integers(1, 4)] * 3),
    st.integers(1, 6),
    *([st.integers(1, 9)] * 4),
    *([st.integers(1, 3)] * 4),
)


@settings(deadline=None)  # CPU shared with other jobs: no per-example time limit
@given(conv_specs)
def test_unpadded_conv_round_trips_through_its_problem(spec: Conv2dSpec) -> None:
    problem = spec.to_problem()
    assert problem.macs == spec.macs
    assert spec_from_problem(problem) == spec


@settings(deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(1, 64), st.integers(1, 8))
def test_matmul_round_trips_through_its_problem(m: int, n: int, k: int, b: int) -> None:
    spec = MatmulSpec(m, n, k, batch=b)
    assert spec.to_problem().macs == m * n * k * b
    assert spec_from_problem(spec.to_problem()) == spec


def test_spec_from_problem_recognises_shapes_not_names() -> None:
    from dcoc.workloads.problem import DataSpace, Problem, ProjectionTerm

    def axes(*dims: str) -> tuple[tuple[ProjectionTerm, ...], ...]:
        return tuple((ProjectionTerm(d),) for d in dims)

    # Timeloop's problem-shapes/gemm_ABZ.yaml: A[M, K], B[N, K], Z[M, N].
    gemm_abz = Problem(
        "gemm_ABZ",
        ("M", "N", "K"),
        (
            DataSpace("A", axes("M", "K")),
            DataSpace("B", axes("N", "K")),
            DataSpace("Z", axes("M", "N"), read_write=True),
        ),
        {"M": 4, "N": 5, "K": 6},
    )
    assert spec_from_problem(gemm_abz) == MatmulSpec(4, 5, 6)
    # Same dimensions, but the output is not indexed by N: not a GEMM.
    not_gemm = Problem(
        "GEMM",
        ("M", "N", "K"),
        (
            DataSpace("Weights", axes("K", "N")),
            DataSpace("Inputs", axes("M", "K")),
            DataSpace("Outputs", axes("M"), read_write=True),
        ),
        {"M": 4, "N": 5, "K": 6},
    )
    with pytest.raises(SpecError, match="'GEMM' \\(dimensions \\['M', 'N', 'K'\\]\\) is none"):
        spec_from_problem(not_gemm)
    conv1d = Problem("Conv1D", ("R", "P"), (DataSpace("Weights", axes("R")),), {"R": 3, "P": 4})
    with pytest.raises(SpecError, match="is none of the operators dcoc knows"):
        spec_from_problem(conv1d)
    assert {str(s) for s in ShapeName} >= {"CNN_Layer", "GEMM"}
