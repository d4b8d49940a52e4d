"""The Einsum compute and its numpy reference, against explicit loops and TVM's own build."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from hypothesis import given, settings
from hypothesis import strategies as st
from tvm_problems import batched_matmul_problem, conv_problem, depthwise_problem, matmul_problem

from dcoc.errors import SpecError
from dcoc.tvm.compute import (
    einsum_module,
    einsum_spec,
    outputs_match,
    random_inputs,
    reference_output,
)
from dcoc.workloads.problem import DataSpace, Problem, ProjectionTerm


def conv_loops(
    w: np.ndarray, x: np.ndarray, p: int, q: int, stride: int, dilation: int
) -> np.ndarray:
    """Outputs[n, m, q, p] = sum_{c,r,s} W[c, m, r, s] * I[n, c, d*r + st*p, d*s + st*q]."""
    c_, m_, r_, s_ = w.shape
    out = np.zeros((x.shape[0], m_, q, p))
    for n in range(x.shape[0]):
        for m in range(m_):
            for qq in range(q):
                for pp in range(p):
                    acc = 0.0
                    for c in range(c_):
                        for r in range(r_):
                            for s in range(s_):
                                acc += (
                                    w[c, m, r, s]
                                    * x[
                                        n, c, dilation * r + stride * pp, dilation * s + stride * qq
                                    ]
                                )
                    out[n, m, qq, pp] = acc
    return out


def test_matmul_spec_shapes_and_reference() -> None:
    spec = einsum_spec(matmul_problem(5, 7, 3))
    assert [t.name for t in spec.inputs] == ["Weights", "Inputs"]
    assert [t.shape for t in spec.inputs] == [(3, 7), (5, 3)]
    assert spec.output.shape == (5, 7)
    assert spec.reduction_dimensions == ("K",)
    assert spec.flops == 2 * 5 * 7 * 3
    w, x = random_inputs(spec, seed=3)
    np.testing.assert_allclose(reference_output(spec, [w, x]), x.astype(np.float64) @ w)


@pytest.mark.parametrize(("stride", "dilation"), [(1, 1), (2, 1), (2, 2), (3, 2)])
def test_conv_reference_matches_explicit_loops(stride: int, dilation: int) -> None:
    problem = conv_problem(c=3, m=4, p=5, q=4, r=3, s=2, stride=stride, dilation=dilation, n=2)
    spec = einsum_spec(problem)
    w, x = random_inputs(spec, seed=1)
    assert x.shape == (2, 3, dilation * 2 + stride * 4 + 1, dilation * 1 + stride * 3 + 1)
    expected = conv_loops(w.astype(np.float64), x.astype(np.float64), 5, 4, stride, dilation)
    np.testing.assert_allclose(reference_output(spec, [w, x]), expected, rtol=1e-12)


@pytest.mark.parametrize(
    "problem",
    [
        matmul_problem(8, 12, 16),
        conv_problem(3, 4, 5, 6, 3, 2, stride=2, dilation=2, n=2),
        depthwise_problem(4, 5, 5, 3, 3, stride=2),
        batched_matmul_problem(2, 3, 4, 5),
    ],
    ids=["matmul", "conv", "depthwise", "bmm"],
)
def test_unscheduled_tvm_build_matches_reference(problem: Problem) -> None:
    spec = einsum_spec(problem)
    lib = tvm.compile(einsum_module(spec), target="llvm")
    inputs = random_inputs(spec, seed=0)
    out = tvm.runtime.tensor(np.zeros(spec.output.shape, np.float32))
    lib["main"](*[tvm.runtime.tensor(a) for a in inputs], out)
    assert outputs_match(out.numpy(), reference_output(spec, inputs))


def test_outputs_match_rejects_a_small_error() -> None:
    expected = np.full((4, 4), 100.0)
    actual = expected.astype(np.float32)
    assert outputs_match(actual, expected)
    actual[1, 2] += 0.1  # 1e-3 relative
    assert not outputs_match(actual, expected)


def test_two_written_data_spaces_are_rejected() -> None:
    axes = ((ProjectionTerm("M"),),)
    problem = Problem(
        "bad",
        ("M",),
        (DataSpace("A", axes, read_write=True), DataSpace("B", axes, read_write=True)),
        {"M": 4},
    )
    with pytest.raises(SpecError, match="exactly one read_write"):
        einsum_spec(problem)


def test_strided_output_is_rejected() -> None:
    problem = Problem(
        "bad",
        ("M", "K"),
        (
            DataSpace("A", ((ProjectionTerm("K"),),)),
            DataSpace("Z", ((ProjectionTerm("M", "s"),),), read_write=True),
        ),
        {"M": 4, "K": 2},
        {"s": 2},
    )
    with pytest.raises(SpecError, match="single problem dimension"):
        einsum_spec(problem)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 6), n=st.integers(1, 6), k=st.integers(1, 6), seed=st.integers(0, 99))
def test_matmul_reference_property(m: int, n: int, k: int, seed: int) -> None:
    spec = einsum_spec(matmul_problem(m, n, k))
    w, x = random_inputs(spec, seed)
    np.testing.assert_allclose(
        reference_output(spec, [w, x]), x.astype(np.float64) @ w.astype(np.float64), rtol=1e-12
    )
