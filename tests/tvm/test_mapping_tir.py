"""The TIR program of an accelerator mapping computes the layer (checked against numpy)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
import tvm

from dcoc.errors import SpecError
from dcoc.tvm.mapping_tir import LoopKind, MappedLoop, emit_tir, mapping_tir_text
from dcoc.tvm.mapping_tir_check import (
    CheckResult,
    check_mapping_program,
    compare_with_reference,
    random_operands,
    reference_output,
    run_program,
)
from dcoc.workloads.problem import DataSpace, Problem
from dcoc.workloads.problem import ProjectionTerm as Term


# -- layers (Timeloop's cnn-layer / depthwise / GEMM shapes) -----------------------------------
def conv2d(
    *,
    c: int,
    m: int,
    r: int,
    s: int,
    p: int,
    q: int,
    n: int = 1,
    wstride: int = 1,
    hstride: int = 1,
    wdilation: int = 1,
    hdilation: int = 1,
) -> Problem:
    return Problem(
        name="conv2d",
        dimensions=("C", "M", "R", "S", "N", "P", "Q"),
        data_spaces=(
            DataSpace("Weights", ((Term("C"),), (Term("M"),), (Term("R"),), (Term("S"),))),
            DataSpace(
                "Inputs",
                (
                    (Term("N"),),
                    (Term("C"),),
                    (Term("R", "Wdilation"), Term("P", "Wstride")),
                    (Term("S", "Hdilation"), Term("Q", "Hstride")),
                ),
            ),
            DataSpace(
                "Outputs", ((Term("N"),), (Term("M"),), (Term("Q"),), (Term("P"),)), read_write=True
            ),
        ),
        bounds={"C": c, "M": m, "R": r, "S": s, "N": n, "P": p, "Q": q},
        coefficients={
            "Wstride": wstride,
            "Hstride": hstride,
            "Wdilation": wdilation,
            "Hdilation": hdilation,
        },
    )


def depthwise(
    *, g: int, r: int, s: int, p: int, q: int, wstride: int = 1, hstride: int = 1
) -> Problem:
    return Problem(
        name="depthwise",
        dimensions=("G", "R", "S", "P", "Q"),
        data_spaces=(
            DataSpace("Weights", ((Term("G"),), (Term("R"),), (Term("S"),))),
            DataSpace(
                "Inputs",
                (
                    (Term("G"),),
                    (Term("R"), Term("P", "Wstride")),
                    (Term("S"), Term("Q", "Hstride")),
                ),
            ),
            DataSpace("Outputs", ((Term("G"),), (Term("Q"),), (Term("P"),)), read_write=True),
        ),
        bounds={"G": g, "R": r, "S": s, "P": p, "Q": q},
        coefficients={"Wstride": wstride, "Hstride": hstride},
    )


def gemm(*, m: int, n: int, k: int) -> Problem:
    return Problem(
        name="gemm",
        dimensions=("M", "N", "K"),
        data_spaces=(
            DataSpace("Weights", ((Term("K"),), (Term("N"),))),
            DataSpace("Inputs", ((Term("M"),), (Term("K"),))),
            DataSpace("Outputs", ((Term("M"),), (Term("N"),)), read_write=True),
        ),
        bounds={"M": m, "N": n, "K": k},
    )


LAYERS = {
    "conv2d_stride2_dilation2": conv2d(
        c=4, m=6, r=3, s=2, p=4, q=3, n=2, wstride=2, hstride=1, wdilation=2, hdilation=1
    ),
    "conv2d_dilated_stride2": conv2d(c=3, m=4, r=2, s=3, p=3, q=4, hstride=2, hdilation=3),
    "depthwise_stride2": depthwise(g=6, r=3, s=3, p=4, q=2, wstride=2, hstride=2),
    "gemm": gemm(m=12, n=8, k=18),
}


# -- random legal mappings ---------------------------------------------------------------------
def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def random_nest(problem: Problem, rnd: random.Random) -> list[MappedLoop]:
    """A random mapping outer→inner: 2-4 levels, each dim's bound split over the levels' temporal
    and spatial slots, a random permutation per level, spatial loops split into X and Y."""
    levels = ["DRAM", "GlobalBuffer", "PE", "RegisterFile"][: rnd.randint(2, 4)]
    spatial_levels = {lv for lv in levels[:-1] if rnd.random() < 0.6}
    slots = [
        (lv, kind) for lv in levels for kind in ("t", "s") if kind == "t" or lv in spatial_levels
    ]
    factors: dict[tuple[str, str], dict[str, int]] = {slot: {} for slot in slots}
    for d in problem.dimensions:
        remaining = problem.bounds[d]
        for slot in rnd.sample(slots, len(slots)):
            f = rnd.choice(_divisors(remaining))
            factors[slot][d] = f
            remaining //= f
        factors[slots[0]][d] *= remaining
    nest: list[MappedLoop] = []
    for lv in levels:
        temporal = list(factors[(lv, "t")].items())
        rnd.shuffle(temporal)
        nest += [MappedLoop(lv, d, f) for d, f in temporal]
        if lv in spatial_levels:
            spatial = list(factors[(lv, "s")].items())
            rnd.shuffle(spatial)
            split = rnd.randint(0, len(spatial))
            nest += [
                MappedLoop(lv, d, f, LoopKind.SPATIAL_X if i < split else LoopKind.SPATIAL_Y)
                for i, (d, f) in enumerate(spatial)
            ]
    return nest


@pytest.mark.parametrize(("layer", "seed"), list(itertools.product(sorted(LAYERS), range(8))))
def test_random_mapping_program_computes_the_layer(layer: str, seed: int) -> None:
    problem = LAYERS[layer]
    nest = random_nest(problem, random.Random(seed))
    result = check_mapping_program(problem, nest, rng=np.random.default_rng(seed))
    assert result.error is None
    assert result.passed, (result, nest)
    assert result.max_error_ratio <= 1.0


def test_unit_loops_kept_on_request_still_compute_the_layer() -> None:
    problem = LAYERS["gemm"]
    nest = [
        MappedLoop("DRAM", "M", 1),
        MappedLoop("DRAM", "K", 3),
        MappedLoop("GLB", "N", 8),
        MappedLoop("PE", "M", 12, LoopKind.SPATIAL_X),
        MappedLoop("RF", "K", 6),
        MappedLoop("RF", "N", 1),
    ]
    module = emit_tir(problem, nest, keep_unit_loops=True)
    assert "DRAM_M" in module.script() and "RF_N" in module.script()
    assert "DRAM_M" not in emit_tir(problem, nest).script()
    operands = random_operands(problem, np.random.default_rng(3))
    assert compare_with_reference(problem, operands, run_program(module, problem, operands)).passed


# -- the program is the mapping ----------------------------------------------------------------
def _loops_of(module: tvm.IRModule) -> list[tuple[str, int, str | None]]:
    """(name, extent, spatial annotation) of every loop around the MAC block, outer→inner."""
    schedule = tvm.s_tir.Schedule(module)
    found = []
    for loop_rv in schedule.get_loops(schedule.get_sblock("mac")):
        loop = schedule.get(loop_rv)
        spatial = loop.annotations.get("dcoc.spatial")
        found.append(
            (loop.loop_var.name, int(loop.extent), None if spatial is None else str(spatial))
        )
    return found


def _printed_loop_names(text: str) -> list[str]:
    """Loop variables of the printed program in order (``for a, b in T.grid(...)`` too)."""
    names = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("for "):
            names += [n.strip() for n in stripped[4 : stripped.index(" in ")].split(",")]
    return names


def test_loops_are_the_mapping_in_order_with_names_extents_and_spatial_axes() -> None:
    problem = LAYERS["conv2d_stride2_dilation2"]
    kinds: set[str | None] = set()
    for seed in range(10):
        nest = random_nest(problem, random.Random(seed))
        expected = [
            (lp.loop_name, lp.extent, None if lp.kind is LoopKind.TEMPORAL else lp.kind.value)
            for lp in nest
            if lp.extent > 1
        ]
        kinds |= {kind for _, _, kind in expected}
        assert _loops_of(emit_tir(problem, nest)) == expected
    assert kinds == {None, "X", "Y"}


def test_printed_tir_names_the_levels_and_the_index_arithmetic() -> None:
    problem = gemm(m=8, n=4, k=6)
    nest = [
        MappedLoop("DRAM", "K", 2),
        MappedLoop("GlobalBuffer", "M", 2),
        MappedLoop("PE", "N", 4, LoopKind.SPATIAL_X),
        MappedLoop("PE", "M", 2, LoopKind.SPATIAL_Y),
        MappedLoop("RegisterFile", "K", 3),
        MappedLoop("RegisterFile", "M", 2),
    ]
    text = mapping_tir_text(problem, nest)
    assert [n for n in _printed_loop_names(text) if not n.startswith("Outputs_")] == [
        "DRAM_K",
        "GlobalBuffer_M",
        "PE_N_sX",
        "PE_M_sY",
        "RegisterFile_K",
        "RegisterFile_M",
    ]
    assert '"dcoc.spatial": "X"' in text and '"dcoc.spatial": "Y"' in text
    # M = GlobalBuffer_M * 4 + PE_M_sY * 2 + RegisterFile_M, K = DRAM_K * 3 + RegisterFile_K
    assert "T.axis.spatial(8, GlobalBuffer_M * 4 + PE_M_sY * 2 + RegisterFile_M)" in text
    assert "T.axis.reduce(6, DRAM_K * 3 + RegisterFile_K)" in text


def test_conv_projection_uses_strides_and_dilations() -> None:
    problem = conv2d(c=2, m=2, r=3, s=3, p=2, q=2, wstride=2, hstride=3, wdilation=2, hdilation=1)
    nest = [MappedLoop("L", d, problem.bounds[d]) for d in problem.dimensions]
    text = mapping_tir_text(problem, nest)
    assert "Inputs[v_N, v_C, v_R * 2 + v_P * 2, v_S + v_Q * 3]" in text


# -- invalid mappings are rejected before TVM --------------------------------------------------
def test_factors_that_do_not_multiply_to_the_bound_are_rejected() -> None:
    problem = gemm(m=8, n=4, k=6)
    nest = [
        MappedLoop("DRAM", "K", 2),
        MappedLoop("GLB", "M", 8),
        MappedLoop("RF", "N", 4),
        MappedLoop("RF", "K", 2),
    ]
    with pytest.raises(
        SpecError,
        match=r"dimension 'K' multiply to 4 \(DRAM 2 x RF 2\) but its "
        r"bound is 6",
    ):
        emit_tir(problem, nest)
    with pytest.raises(SpecError, match="dimension 'K'"):
        check_mapping_program(problem, nest, rng=np.random.default_rng(0))


def test_unknown_dimension_and_bad_extent_are_rejected() -> None:
    problem = gemm(m=8, n=4, k=6)
    base = [MappedLoop("RF", "M", 8), MappedLoop("RF", "N", 4), MappedLoop("RF", "K", 6)]
    with pytest.raises(SpecError, match="'X', which is not a dimension"):
        emit_tir(problem, [*base, MappedLoop("RF", "X", 1)])
    with pytest.raises(SpecError, match="positive integer"):
        emit_tir(problem, [*base, MappedLoop("RF", "K", 0)])
    with pytest.raises(TypeError, match="MappedLoop"):
        emit_tir(problem, {"M": 8})


# -- the checker itself can fail ---------------------------------------------------------------
def test_reference_matches_direct_convolution_gemm_and_depthwise_formulas() -> None:
    rng = np.random.default_rng(5)
    conv = conv2d(c=3, m=2, r=3, s=2, p=3, q=2, n=2, wstride=2, hstride=1, wdilation=2, hdilation=3)
    ops = random_operands(conv, rng)
    w, x = ops["Weights"].astype(np.float64), ops["Inputs"].astype(np.float64)
    direct = np.zeros((2, 2, 2, 3))
    for n, m, q, p, c, r, s in itertools.product(
        range(2), range(2), range(2), range(3), range(3), range(3), range(2)
    ):
        direct[n, m, q, p] += w[c, m, r, s] * x[n, c, 2 * r + 2 * p, 3 * s + q]
    np.testing.assert_allclose(reference_output(conv, ops), direct, rtol=1e-12)

    mm = gemm(m=5, n=3, k=4)
    ops = random_operands(mm, rng)
    np.testing.assert_allclose(
        reference_output(mm, ops), ops["Inputs"].astype(np.float64) @ ops["Weights"], rtol=1e-12
    )

    dw = depthwise(g=2, r=2, s=2, p=2, q=2, wstride=2, hstride=1)
    ops = random_operands(dw, rng)
    w, x = ops["Weights"].astype(np.float64), ops["Inputs"].astype(np.float64)
    direct = np.zeros((2, 2, 2))
    for g, q, p, r, s in itertools.product(range(2), repeat=5):
        direct[g, q, p] += w[g, r, s] * x[g, r + 2 * p, s + q]
    np.testing.assert_allclose(reference_output(dw, ops), direct, rtol=1e-12)


def test_checker_rejects_a_program_of_a_different_layer_and_wrong_outputs() -> None:
    # stride 2 / dilation 1 and stride 1 / dilation 2 have the same tensor shapes
    strided = conv2d(c=2, m=2, r=3, s=1, p=3, q=1, wstride=2, wdilation=1)
    dilated = conv2d(c=2, m=2, r=3, s=1, p=3, q=1, wstride=1, wdilation=2)
    nest = [MappedLoop("L", d, strided.bounds[d]) for d in strided.dimensions]
    operands = random_operands(strided, np.random.default_rng(1))
    got = run_program(emit_tir(strided, nest), strided, operands)
    assert compare_with_reference(strided, operands, got).passed
    wrong = compare_with_reference(dilated, operands, got)
    assert not wrong.passed and wrong.max_error_ratio > 1e3

    off_by_one_product = got.copy()
    off_by_one_product[0, 1, 0, 2] += 1e-3
    assert not compare_with_reference(strided, operands, off_by_one_product).passed
    nan = got.copy()
    nan[0, 0, 0, 0] = np.nan
    result = compare_with_reference(strided, operands, nan)
    assert not result.passed and result.max_abs_error == float("inf")


def test_build_failure_is_a_result_not_a_crash() -> None:
    problem = gemm(m=4, n=4, k=4)
    nest = [MappedLoop("RF", d, 4) for d in ("M", "N", "K")]
    # LLVM knows no such target triple: tvm.compile raises, the check reports it
    result = check_mapping_program(
        problem,
        nest,
        rng=np.random.default_rng(0),
        target=tvm.target.Target({"kind": "llvm", "mtriple": "not-a-triple"}),
    )
    assert isinstance(result, CheckResult)
    assert not result.passed and result.error and "not-a-triple" in result.error
    assert result.max_abs_error == float("inf")
