"""The closed-form nest analysis equals the delta-engine simulation exactly, and the cached scalar
Evaluator equals evaluate bit for bit: on the 15 Timeloop
reference cases and on random legal mappings of small strided/dilated/depthwise/GEMM problems
on the reference architectures, under both stride rules."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timeloop_cases import CASES, input_files

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapper.random_mappings import random_mapping
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.closed_form import analyze, multicast_histogram
from dcoc.accel.model.delta_engine import projections, simulate
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.model.nest import lower
from dcoc.accel.report import CostReport, CostSummary
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.workloads.problem import DataSpace, Problem, ProjectionTerm
from dcoc.workloads.shapes import cnn_layer_problem, depthwise_cnn_layer_problem, gemm_problem

ARCH_CASES = (
    "03-conv1d+oc-3level-nobypass",
    "04-conv1d+oc+ic-3levelspatial-kp",
    "06-eyeriss-vgg02-layer5",
    "ex-simba_like",
    "ex-simple_output_stationary",
)


@cache
def _inputs(case: str) -> ModelInputs:
    return load_model_inputs(input_files(case))


@cache
def _arch(case: str) -> Architecture:
    return _inputs(case).architecture


def conv1d_problem(c: int, k: int, r: int, p: int, stride: int, dilation: int) -> Problem:
    """A 1-D convolution with a strided, dilated sliding window (Inputs[C, d*R + s*P])."""
    return Problem(
        name="conv1d",
        dimensions=("C", "K", "R", "P"),
        data_spaces=(
            DataSpace(
                "Weights", ((ProjectionTerm("C"),), (ProjectionTerm("K"),), (ProjectionTerm("R"),))
            ),
            DataSpace(
                "Inputs",
                (
                    (ProjectionTerm("C"),),
                    (ProjectionTerm("R", "Wdilation"), ProjectionTerm("P", "Wstride")),
                ),
            ),
            DataSpace("Outputs", ((ProjectionTerm("K"),), (ProjectionTerm("P"),)), read_write=True),
        ),
        bounds={"C": c, "K": k, "R": r, "P": p},
        coefficients={"Wstride": stride, "Wdilation": dilation},
    )


SMALL = st.sampled_from([1, 2, 3, 4, 6, 8])


@st.composite
def small_problems(draw: st.DrawFn) -> Problem:
    kind = draw(st.sampled_from(["conv1d", "conv2d", "depthwise", "gemm"]))
    stride = draw(st.sampled_from([1, 2]))
    dilation = draw(st.sampled_from([1, 2]))
    if kind == "conv1d":
        return conv1d_problem(
            draw(SMALL),
            draw(SMALL),
            draw(st.sampled_from([1, 2, 3])),
            draw(st.sampled_from([2, 4, 6, 8, 12])),
            stride,
            dilation,
        )
    if kind == "conv2d":
        b = {
            "C": draw(SMALL),
            "M": draw(SMALL),
            "R": draw(st.sampled_from([1, 3])),
            "S": draw(st.sampled_from([1, 2, 3])),
            "N": draw(st.sampled_from([1, 2])),
            "P": draw(st.sampled_from([2, 4, 6])),
            "Q": draw(st.sampled_from([1, 2, 4])),
        }
        return cnn_layer_problem(b, (stride, draw(st.sampled_from([1, 2]))), (dilation, 1))
    if kind == "depthwise":
        b = {
            "G": draw(SMALL),
            "R": draw(st.sampled_from([1, 3])),
            "S": draw(st.sampled_from([1, 3])),
            "N": 1,
            "P": draw(st.sampled_from([2, 4, 8])),
            "Q": draw(st.sampled_from([2, 3])),
        }
        return depthwise_cnn_layer_problem(b, (stride, stride), (dilation, 1))
    return gemm_problem(draw(SMALL), draw(SMALL), draw(st.sampled_from([2, 4, 8, 16])))


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_reference_cases_equal_simulation(case: str, legacy: bool) -> None:
    inp = _inputs(case)
    nest = lower(inp.mapping, len(inp.problem.dimensions))
    assert analyze(nest, inp.problem, legacy_translation=legacy) == simulate(
        nest, inp.problem, legacy_translation=legacy
    )


@settings(max_examples=400, deadline=None)
@given(
    problem=small_problems(),
    case=st.sampled_from(ARCH_CASES),
    seed=st.integers(0, 2**32 - 1),
    legacy=st.booleans(),
)
def test_random_mappings_equal_simulation(
    problem: Problem, case: str, seed: int, legacy: bool
) -> None:
    mapping = random_mapping(_arch(case), problem, np.random.default_rng(seed))
    nest = lower(mapping, len(problem.dimensions))
    assert analyze(nest, problem, legacy_translation=legacy) == simulate(
        nest, problem, legacy_translation=legacy
    )


@settings(max_examples=100, deadline=None)
@given(
    problem=small_problems(),
    case=st.sampled_from(ARCH_CASES),
    seed=st.integers(0, 2**32 - 1),
    legacy=st.booleans(),
)
def test_evaluate_engines_agree(problem: Problem, case: str, seed: int, legacy: bool) -> None:
    """The whole cost report (validity, counts, energy, cycles) is engine-independent."""
    arch = _arch(case)
    tables = _inputs(case).tables
    mapping = random_mapping(arch, problem, np.random.default_rng(seed))
    fast = evaluate(arch, problem, mapping, tables=tables, legacy_translation=legacy)
    slow = evaluate(
        arch, problem, mapping, tables=tables, legacy_translation=legacy, engine="simulate"
    )
    assert fast == slow


def test_sliding_window_histogram() -> None:
    """R3 x P4 spatial with stride 1: input offsets 0..5 hit by 1,2,3,3,2,1 elements."""
    problem = conv1d_problem(1, 1, 3, 4, 1, 1)
    proj = projections(problem)[1]
    hist = multicast_histogram(proj, ((2, 3, 1), (3, 4, 1)))
    assert hist == ((1, 2), (2, 2), (3, 2))
    # stride 3 separates every window position: no multicast at all
    proj3 = projections(conv1d_problem(1, 1, 3, 4, 3, 1))[1]
    assert multicast_histogram(proj3, ((2, 3, 1), (3, 4, 1))) == ((1, 12),)


def _summary_matches(report: CostReport, summary: CostSummary) -> None:
    assert (summary.valid, summary.cycles, summary.energy_pj, summary.area_um2) == (
        report.valid,
        report.cycles,
        report.energy_pj,
        report.area_um2,
    )
    assert summary.utilization == report.utilization
    assert summary.edp == report.edp


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_evaluator_summary_on_reference_cases(case: str, legacy: bool) -> None:
    inp = _inputs(case)
    ev = Evaluator(inp.architecture, inp.problem, inp.tables, legacy_translation=legacy)
    report = evaluate(
        inp.architecture, inp.problem, inp.mapping, tables=inp.tables, legacy_translation=legacy
    )
    _summary_matches(report, ev.summary(inp.mapping))
    assert ev.evaluate(inp.mapping) == report


@settings(max_examples=300, deadline=None)
@given(
    problem=small_problems(),
    case=st.sampled_from(ARCH_CASES),
    seed=st.integers(0, 2**32 - 1),
    legacy=st.booleans(),
    broken=st.booleans(),
)
def test_evaluator_summary_equals_evaluate(
    problem: Problem, case: str, seed: int, legacy: bool, broken: bool
) -> None:
    """Bit-identical headline numbers, including invalid mappings (zeros, valid=False)."""
    arch, tables = _arch(case), _inputs(case).tables
    rng = np.random.default_rng(seed)
    mapping = random_mapping(arch, problem, rng)
    if broken:
        lm = mapping.levels[int(rng.integers(len(mapping.levels)))]
        t = list(lm.temporal)
        t[int(rng.integers(len(t)))] *= 2
        levels = [
            lm2 if lm2 is not lm else replace(lm, temporal=tuple(t)) for lm2 in mapping.levels
        ]
        mapping = Mapping(tuple(levels))
    ev = Evaluator(arch, problem, tables, legacy_translation=legacy)
    _summary_matches(
        evaluate(arch, problem, mapping, tables=tables, legacy_translation=legacy),
        ev.summary(mapping),
    )
