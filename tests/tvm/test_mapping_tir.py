"""The TIR program of an accelerator mapping computes the layer (checked against numpy)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest
import torch
import tvm

from dcoc.accel.mapping import Mapping, level_mapping
from dcoc.accel.model.nest import lower
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.errors import SpecError
from dcoc.tvm.mapping_tir import (
    LoopKind,
    MappedLoop,
    as_mapped_loops,
    emit_tir,
    mapping_tir_text,
)
from dcoc.tvm.mapping_tir_check import (
    CheckResult,
    check_mapping_program,
    compare_with_reference,
    random_operands,
    reference_output,
    run_program,
)
from dcoc.workloads.layers import conv2d, depthwise_conv2d, matmul
from dcoc.workloads.problem import Problem

# -- layers: dcoc.workloads.layers (Timeloop's CNN_Layer / Depthwise_CNN_Layer / GEMM) ---------
LAYERS = {
    # P = 4 (W: kernel 3, stride 2), Q = 5 (H: kernel 2, dilation 2); N = 2
    "conv2d_stride2_dilation2": conv2d(
        2, 4, 6, 7, 10, kernel=(2, 3), stride=(1, 2), dilation=(2, 1)
    ),
    # P = 4 (W: dilation 2), Q = 4 (H: stride 2)
    "conv2d_dilation2_stride2": conv2d(1, 3, 4, 9, 8, kernel=3, stride=(2, 1), dilation=(1, 2)),
    # P = Q = 3 (stride 2, W dilation 2)
    "depthwise_stride2_dilation2": depthwise_conv2d(
        1, 6, 8, 9, kernel=3, stride=2, dilation=(1, 2)
    ),
    "gemm": matmul(12, 8, 18),
}


# -- random legal mappings ---------------------------------------------------------------------
SlotT = TypeVar("SlotT")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def split_bounds(
    problem: Problem, slots: list[SlotT], rest: SlotT, rnd: random.Random
) -> dict[SlotT, dict[str, int]]:
    """Each dimension's bound split into random divisor factors over ``slots`` (visited in a
    random order); the ``rest`` slot also takes what no factor covered."""
    factors: dict[SlotT, dict[str, int]] = {slot: {} for slot in slots}
    for d in problem.dimensions:
        remaining = problem.bounds[d]
        for slot in rnd.sample(slots, len(slots)):
            f = rnd.choice(_divisors(remaining))
            factors[slot][d] = f
            remaining //= f
        factors[rest][d] *= remaining
    return factors


def random_nest(problem: Problem, rnd: random.Random) -> list[MappedLoop]:
    """A random mapping outer→inner: 2-4 levels, each dim's bound split over the levels' temporal
    and spatial slots, a random permutation per level, spatial loops split into X and Y."""
    levels = ["DRAM", "GlobalBuffer", "PE", "RegisterFile"][: rnd.randint(2, 4)]
    spatial_levels = {lv for lv in levels[:-1] if rnd.random() < 0.6}
    slots = [
        (lv, kind) for lv in levels for kind in ("t", "s") if kind == "t" or lv in spatial_levels
    ]
    factors = split_bounds(problem, slots, slots[0], rnd)
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
    problem = matmul(8, 4, 6)
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
    problem = conv2d(1, 2, 2, 10, 10, kernel=3, stride=(3, 2), dilation=(1, 2))
    nest = [MappedLoop("L", d, problem.bounds[d]) for d in problem.dimensions]
    text = mapping_tir_text(problem, nest)
    # Timeloop's CNN_Layer: Inputs[N, C, Wdilation*R + Wstride*P, Hdilation*S + Hstride*Q]
    assert "Inputs[v_N, v_C, v_R * 2 + v_P * 2, v_S + v_Q * 3]" in text


# -- invalid mappings are rejected before TVM --------------------------------------------------
def test_factors_that_do_not_multiply_to_the_bound_are_rejected() -> None:
    problem = matmul(8, 4, 6)
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
    problem = matmul(8, 4, 6)
    base = [MappedLoop("RF", "M", 8), MappedLoop("RF", "N", 4), MappedLoop("RF", "K", 6)]
    with pytest.raises(SpecError, match="'X', which is not a dimension"):
        emit_tir(problem, [*base, MappedLoop("RF", "X", 1)])
    with pytest.raises(SpecError, match="positive integer"):
        emit_tir(problem, [*base, MappedLoop("RF", "K", 0)])
    with pytest.raises(TypeError, match="MappedLoop"):
        emit_tir(problem, {"M": 8})


# -- the checker itself can fail ---------------------------------------------------------------
def _torch_conv2d(problem: Problem, ops: dict[str, np.ndarray], groups: int = 1) -> np.ndarray:
    """The layer through torch.nn.functional.conv2d, translating Timeloop's layouts:
    Inputs[N, C, W, H] -> [N, C, H, W]; Weights[C, M, R=kw, S=kh] (depthwise [G, R, S]) ->
    [M, C/groups, kh, kw]; the output [N, M, oh, ow] is Timeloop's Outputs[N, M, Q, P]."""
    k = problem.coefficients
    x = torch.from_numpy(ops["Inputs"].astype(np.float64)).transpose(2, 3)
    w = torch.from_numpy(ops["Weights"].astype(np.float64))
    w = w.permute(1, 0, 3, 2) if groups == 1 else w.transpose(1, 2).unsqueeze(1)
    out = torch.nn.functional.conv2d(
        x,
        w,
        stride=(k["Hstride"], k["Wstride"]),
        dilation=(k["Hdilation"], k["Wdilation"]),
        groups=groups,
    )
    return out.numpy()


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_reference_matches_torch_and_numpy(layer: str) -> None:
    problem = LAYERS[layer]
    ops = random_operands(problem, np.random.default_rng(5))
    if problem.name == "GEMM":
        direct = ops["Inputs"].astype(np.float64) @ ops["Weights"]
    else:
        groups = problem.bounds["G"] if "G" in problem.dimensions else 1
        direct = _torch_conv2d(problem, ops, groups)
    np.testing.assert_allclose(reference_output(problem, ops), direct, rtol=1e-10, atol=1e-12)


def test_checker_rejects_a_program_of_a_different_layer_and_wrong_outputs() -> None:
    # W: kernel 3 with stride 2 or with dilation 2 give the same tensor shapes (P = 3, width 7)
    strided = conv2d(1, 2, 2, 1, 7, kernel=(1, 3), stride=(1, 2))
    dilated = conv2d(1, 2, 2, 1, 7, kernel=(1, 3), dilation=(1, 2))
    assert strided.bounds == dilated.bounds
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
    problem = matmul(4, 4, 4)
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


# -- from the accelerator model's Mapping ------------------------------------------------------
TIMELOOP_CASES = Path(__file__).resolve().parents[1] / "data" / "timeloop"


def _case_inputs(case: str) -> ModelInputs:
    names = json.loads((TIMELOOP_CASES / case / "expected.json").read_text())["inputs"]
    return load_model_inputs([TIMELOOP_CASES / case / name for name in names])


SMALL_CASES = sorted(
    p.name
    for p in TIMELOOP_CASES.iterdir()
    if (p / "expected.json").is_file() and p.name[:2] in {"00", "01", "02", "03", "04", "05"}
)


def test_timeloop_mapping_lowers_to_its_loops_in_timeloop_order() -> None:
    # conv1d+oc+ic-3levelspatial-kp-ws.map.yaml: GlobalBuffer "R=3 P=1 K=2 C=32" permutation
    # PRKC (innermost first), PE spatial K=16, RegisterFile "P=16"
    inputs = _case_inputs("04-conv1d+oc+ic-3levelspatial-kp")
    loops = as_mapped_loops(inputs.problem, inputs.mapping, architecture=inputs.architecture)
    assert [(lp.loop_name, lp.extent) for lp in loops if lp.extent > 1] == [
        ("inter_PE_spatial_K_sX", 16),
        ("GlobalBuffer_C", 32),
        ("GlobalBuffer_K", 2),
        ("GlobalBuffer_R", 3),
        ("RegisterFile_P", 16),
    ]
    unnamed = as_mapped_loops(inputs.problem, inputs.mapping)
    assert [lp.level for lp in unnamed if lp.extent > 1] == ["L2", "L1", "L1", "L1", "L0"]


@pytest.mark.parametrize("case", SMALL_CASES)
def test_timeloop_reference_mapping_program_computes_the_layer(case: str) -> None:
    inputs = _case_inputs(case)
    result = check_mapping_program(
        inputs.problem,
        inputs.mapping,
        architecture=inputs.architecture,
        rng=np.random.default_rng(0),
    )
    assert result.passed and result.error is None, result
    text = mapping_tir_text(inputs.problem, inputs.mapping, architecture=inputs.architecture)
    loops = as_mapped_loops(inputs.problem, inputs.mapping, architecture=inputs.architecture)
    assert [n for n in _printed_loop_names(text) if not n.startswith("Outputs_")] == [
        lp.loop_name for lp in loops if lp.extent > 1
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["ex-simba_like", "ex-simple_output_stationary", "ex-simple_weight_stationary"]
)
def test_full_size_reference_mapping_program_computes_the_layer(case: str) -> None:
    inputs = _case_inputs(case)  # 10.8M MACs, 7-12 loops over up to 8 levels
    result = check_mapping_program(
        inputs.problem,
        inputs.mapping,
        architecture=inputs.architecture,
        rng=np.random.default_rng(0),
    )
    assert result.passed, result


def random_accel_mapping(problem: Problem, rnd: random.Random) -> Mapping:
    """A random dcoc.accel Mapping: 2-4 levels, each with temporal, spatial X and spatial Y
    factors and random loop orders."""
    n_levels = rnd.randint(2, 4)
    slots = [(level, kind) for level in range(n_levels) for kind in ("t", "x", "y")]
    factors = split_bounds(problem, slots, slots[-1], rnd)
    dims = list(problem.dimensions)
    return Mapping.uniform(
        level_mapping(
            problem,
            temporal=factors[(level, "t")],
            spatial_x=factors[(level, "x")],
            spatial_y=factors[(level, "y")],
            permutation=rnd.sample(dims, len(dims)),
            spatial_permutation=rnd.sample(dims, len(dims)),
        )
        for level in range(n_levels)
    )


@pytest.mark.parametrize(("layer", "seed"), list(itertools.product(sorted(LAYERS), range(3))))
def test_random_accel_mapping_program_computes_the_layer(layer: str, seed: int) -> None:
    problem = LAYERS[layer]
    mapping = random_accel_mapping(problem, random.Random(100 + seed))
    result = check_mapping_program(problem, mapping, rng=np.random.default_rng(seed))
    assert result.passed, (result, mapping)
    assert _loops_of(emit_tir(problem, mapping)) == [
        (lp.loop_name, lp.extent, None if lp.kind is LoopKind.TEMPORAL else lp.kind.value)
        for lp in as_mapped_loops(problem, lower(mapping, len(problem.dimensions)))
        if lp.extent > 1
    ]


def test_accel_mapping_with_wrong_factors_or_levels_is_rejected() -> None:
    problem = matmul(8, 4, 6)
    short = Mapping.uniform(
        [level_mapping(problem, temporal={"M": 8, "N": 4, "K": 3}), level_mapping(problem)]
    )
    with pytest.raises(SpecError, match=r"dimension 'K' multiply to 3 .* bound is 6"):
        emit_tir(problem, short)
    inputs = _case_inputs("03-conv1d+oc-3level-nobypass")
    with pytest.raises(SpecError, match="3 storage levels, the architecture 2"):
        emit_tir(
            inputs.problem,
            inputs.mapping,
            architecture=_case_inputs("01-conv1d-2level-os").architecture,
        )


# -- spatial loops as CPU parallelism ----------------------------------------------------------
@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_parallel_spatial_loop_computes_the_layer(layer: str) -> None:
    problem = LAYERS[layer]
    out_dims = next(ds for ds in problem.data_spaces if ds.read_write).dimensions_used
    for seed in range(40):
        nest = random_nest(problem, random.Random(seed))
        if any(
            lp.kind is not LoopKind.TEMPORAL and lp.dimension in out_dims and lp.extent > 1
            for lp in nest
        ):
            break
    first = next(
        lp
        for lp in nest
        if lp.kind is not LoopKind.TEMPORAL and lp.dimension in out_dims and lp.extent > 1
    )
    text = mapping_tir_text(problem, nest, parallel=True)
    assert f"for {first.loop_name} in T.parallel(" in text
    assert text.count("T.parallel(") == 1
    result = check_mapping_program(problem, nest, parallel=True, rng=np.random.default_rng(seed))
    assert result.passed, result


def test_spatial_reduction_loop_is_never_parallel() -> None:
    problem = matmul(4, 4, 8)
    nest = [
        MappedLoop("DRAM", "M", 4),
        MappedLoop("DRAM", "N", 4),
        MappedLoop("PE", "K", 8, LoopKind.SPATIAL_X),
    ]
    text = mapping_tir_text(problem, nest, parallel=True)
    assert "T.parallel" not in text and "PE_K_sX" in text


def test_written_text_has_a_mapping_header_and_parses_back_to_the_program() -> None:
    inputs = _case_inputs("04-conv1d+oc+ic-3levelspatial-kp")
    text = mapping_tir_text(inputs.problem, inputs.mapping, architecture=inputs.architecture)
    assert text.splitlines()[:6] == [
        "# dcoc mapping program of Conv1D_OC: C=32 K=32 R=3 P=16",
        "# loops outer->inner per level (sX/sY: spatial along X/Y)",
        "#   MainMemory: -",
        "#   inter_PE_spatial: K=16 sX",
        "#   GlobalBuffer: C=32 K=2 R=3",
        "#   RegisterFile: P=16",
    ]
    parsed = tvm.script.parser.parse(text)
    tvm.ir.assert_structural_equal(
        parsed, emit_tir(inputs.problem, inputs.mapping, architecture=inputs.architecture)
    )
