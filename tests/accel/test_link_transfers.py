"""Neighbour link transfers (on by default, as in timeloop-model): the closed form, the cached
scalar Evaluator and the batched evaluator all equal the delta engine with links on, on
mappings built to slide windows across spatial neighbours and on random Eyeriss mappings (about
8 % of which use links); the no-link detectors never miss a mapping that uses links."""

from __future__ import annotations

import inspect
from functools import cache
from math import prod

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_closed_form import conv1d_problem
from timeloop_cases import CASES, input_files

from dcoc.accel.__main__ import build_parser
from dcoc.accel.architecture import Architecture
from dcoc.accel.batched.evaluator import BatchEvaluator
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.mapper.random_mappings import random_mapping
from dcoc.accel.mapping import Mapping, level_mapping
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.closed_form import LinkDetector, analyze
from dcoc.accel.model.delta_engine import projections, simulate
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.model.nest import LoopNest, lower
from dcoc.accel.model.nest_analysis import NestAnalysis
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.workloads.problem import Problem

# 04's architecture: MainMemory > inter_PE_spatial (16 wide) > GlobalBuffer > RegisterFile
LINEAR = "04-conv1d+oc+ic-3levelspatial-cp"
EYERISS = "06-eyeriss-vgg02-layer5"


@cache
def _inputs(case: str) -> ModelInputs:
    return load_model_inputs(input_files(case))


def _fanouts(arch: Architecture) -> tuple[tuple[int, int], ...]:
    return tuple(arch.fanout_xy(i) for i in range(len(arch.storage)))


def _uses_links(analysis: NestAnalysis) -> bool:
    return any(t.link_transfers for lv in analysis.levels for t in lv.tiles)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def sliding_cases(draw: st.DrawFn) -> tuple[Problem, Mapping]:
    """A 1-D convolution on 04's 16-wide PE row: spatial factors over the window dims (P, R)
    and the remaining factors as temporal loops in random orders above and below them."""
    problem = conv1d_problem(
        draw(st.sampled_from([1, 1, 2])),
        draw(st.sampled_from([1, 1, 2])),
        draw(st.sampled_from([2, 3, 4])),
        draw(st.sampled_from([4, 6, 8, 12, 16])),
        draw(st.sampled_from([1, 1, 1, 2])),
        draw(st.sampled_from([1, 1, 1, 2])),
    )
    dims = problem.dimensions
    bounds = problem.bounds
    slots: dict[str, list[int]] = {}
    for d in dims:
        rest, factors = bounds[d], []
        for level in range(3):  # RF, GB, PE-spatial; DRAM gets the rest
            options = _divisors(rest)
            if level == 2 and d in ("C", "K"):
                options = [1]
            elif level < 2 and d in ("R", "P"):
                options = [1] * 6 + options  # small child tiles: windows slide across PEs
            elif level == 2 and d == "P" and rest > 1:
                options = options[1:]  # P across the PEs
            elif level == 2 and d == "R":
                options = [1] * 3 + options  # R mostly left to the temporal loops above
            f = draw(st.sampled_from(options))
            factors.append(f)
            rest //= f
        factors.append(rest)
        slots[d] = factors
    if prod(slots[d][2] for d in dims) > 16:
        for d in dims:
            slots[d][3] *= slots[d][2]
            slots[d][2] = 1
    names = [ds.name for ds in problem.data_spaces]
    perms = ["".join(draw(st.permutations(dims))) for _ in range(4)]
    levels = (
        level_mapping(
            problem, temporal={d: slots[d][0] for d in dims}, permutation=perms[0], keep=names
        ),
        level_mapping(
            problem,
            temporal={d: slots[d][1] for d in dims},
            permutation=perms[1],
            keep=[n for n in names if draw(st.booleans())],
        ),
        level_mapping(
            problem,
            spatial_x={d: slots[d][2] for d in dims},
            spatial_permutation=perms[2],
            keep=[],
        ),
        level_mapping(
            problem, temporal={d: slots[d][3] for d in dims}, permutation=perms[3], keep=names
        ),
    )
    return problem, Mapping(levels)


SETTINGS = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@SETTINGS
@given(sliding_cases(), st.booleans())
def test_closed_form_equals_simulation_with_links(
    case: tuple[Problem, Mapping], legacy: bool
) -> None:
    problem, mapping = case
    nest = lower(mapping, len(problem.dimensions), _fanouts(_inputs(LINEAR).architecture))
    want = simulate(nest, problem, legacy_translation=legacy)
    assert analyze(nest, problem, legacy_translation=legacy) == want
    assert _gated_analysis(nest, problem, mapping, legacy) == want


def _gated_analysis(
    nest: LoopNest, problem: Problem, mapping: Mapping, legacy: bool
) -> NestAnalysis:
    """analyze with links analysed only where LinkDetector cannot rule them out (as
    evaluate does)."""
    detector = LinkDetector(projections(problem), nest.num_dims, nest.fanout_xy, legacy)
    pairs = detector.pairs(mapping.levels)
    return analyze(nest, problem, legacy_translation=legacy, link_pairs=pairs)


@SETTINGS
@given(sliding_cases(), st.booleans())
def test_evaluator_and_batch_equal_evaluate_with_links(
    case: tuple[Problem, Mapping], legacy: bool
) -> None:
    problem, mapping = case
    inp = _inputs(LINEAR)
    arch, tables = inp.architecture, inp.tables
    want = evaluate(
        arch, problem, mapping, tables=tables, legacy_translation=legacy, engine="simulate"
    )
    assert evaluate(arch, problem, mapping, tables=tables, legacy_translation=legacy) == want
    got = Evaluator(arch, problem, tables, legacy_translation=legacy).summary(mapping)
    assert (got.valid, got.cycles, got.energy_pj, got.utilization) == (
        want.valid,
        want.cycles,
        want.energy_pj,
        want.utilization,
    )
    batch = MappingBatch.from_mappings([mapping], 4, 4, 3)
    rep = BatchEvaluator(arch, problem, legacy_translation=legacy).evaluate(
        batch, HardwareBatch.from_architecture(arch, tables)
    )
    assert (bool(rep.valid[0]), int(rep.cycles[0])) == (want.valid, want.cycles)
    assert float(rep.energy_pj[0]) == pytest.approx(want.energy_pj, rel=1e-9)
    for li, lv in enumerate(want.levels):
        for s, dc in enumerate(lv.dataspaces):
            got_counts = (rep.reads[0, li, s], rep.fills[0, li, s], rep.updates[0, li, s])
            assert tuple(int(x) for x in got_counts) == (dc.reads, dc.fills, dc.updates)


def test_generator_triggers_links() -> None:
    """The strategy above is not vacuous: a fixed sample of it uses links often."""
    fanouts = _fanouts(_inputs(LINEAR).architecture)
    hits = 0

    @settings(max_examples=150, deadline=None, database=None, derandomize=True)
    @given(sliding_cases(), st.booleans())
    def count(case: tuple[Problem, Mapping], legacy: bool) -> None:
        nonlocal hits
        problem, mapping = case
        nest = lower(mapping, len(problem.dimensions), fanouts)
        hits += _uses_links(analyze(nest, problem, legacy_translation=legacy))

    count()
    assert hits >= 30


@pytest.mark.parametrize("legacy", [False, True])
def test_random_eyeriss_mappings_with_links(legacy: bool) -> None:
    """Random legal Eyeriss mappings: closed form == delta engine, and the Evaluator and the
    batched evaluator (summary and full report) == evaluate, with links on; every mapping
    that uses links is flagged by both detectors."""
    inp = _inputs(EYERISS)
    arch, problem, tables = inp.architecture, inp.problem, inp.tables
    nd = len(problem.dimensions)
    rng = np.random.default_rng(11 + legacy)
    mappings = [random_mapping(arch, problem, rng) for _ in range(160)]
    ev = Evaluator(arch, problem, tables, legacy_translation=legacy)
    bev = BatchEvaluator(arch, problem, legacy_translation=legacy)
    batch = MappingBatch.from_mappings(mappings, len(arch.storage), nd, 3)
    hw = HardwareBatch.from_architecture(arch, tables)
    rep = bev.evaluate(batch, hw)
    summary = bev.evaluate_summary(batch, hw)
    linked = 0
    for i, m in enumerate(mappings):
        nest = lower(m, nd, _fanouts(arch))
        analysis = analyze(nest, problem, legacy_translation=legacy)
        uses = _uses_links(analysis)
        linked += uses
        assert _gated_analysis(nest, problem, m, legacy) == analysis
        if uses or i < 20:
            assert analysis == simulate(nest, problem, legacy_translation=legacy)
        want = evaluate(arch, problem, m, tables=tables, legacy_translation=legacy)
        if not uses:
            no_links = evaluate(
                arch, problem, m, tables=tables, legacy_translation=legacy, link_transfers=False
            )
            assert no_links == want
        got = ev.summary(m)
        assert (got.valid, got.cycles, got.energy_pj, got.utilization) == (
            want.valid,
            want.cycles,
            want.energy_pj,
            want.utilization,
        )
        assert (bool(rep.valid[i]), int(rep.cycles[i])) == (want.valid, want.cycles)
        assert float(rep.energy_pj[i]) == pytest.approx(want.energy_pj, rel=1e-9)
        assert float(summary.energy_pj[i]) == float(rep.energy_pj[i])
        for li, lv in enumerate(want.levels):
            for s, dc in enumerate(lv.dataspaces):
                got_counts = (rep.reads[i, li, s], rep.fills[i, li, s], rep.updates[i, li, s])
                assert tuple(int(x) for x in got_counts) == (dc.reads, dc.fills, dc.updates)
    assert linked >= 5  # the sample exercises links


@pytest.mark.parametrize("case", CASES)
def test_reference_cases_do_not_use_links(case: str) -> None:
    """The 15 references give the same report with and without links (both stride rules)."""
    inp = _inputs(case)
    for legacy in (False, True):
        on = evaluate(
            inp.architecture, inp.problem, inp.mapping, tables=inp.tables, legacy_translation=legacy
        )
        off = evaluate(
            inp.architecture,
            inp.problem,
            inp.mapping,
            tables=inp.tables,
            legacy_translation=legacy,
            link_transfers=False,
        )
        assert on == off


def test_library_and_cli_defaults_agree() -> None:
    """Links on by default in evaluate, the Evaluator, the batched evaluator and the CLI."""
    assert inspect.signature(evaluate).parameters["link_transfers"].default is True
    assert inspect.signature(Evaluator).parameters["link_transfers"].default is True
    assert inspect.signature(BatchEvaluator).parameters["link_transfers"].default is True
    args = build_parser().parse_args(["evaluate", "x.yaml"])
    assert args.no_link_transfers is False


def test_links_off_matches_engine_without_links() -> None:
    """``link_transfers=False`` everywhere gives the engine's numbers without links."""
    inp = _inputs(EYERISS)
    arch, problem, tables = inp.architecture, inp.problem, inp.tables
    rng = np.random.default_rng(5)
    mappings = [random_mapping(arch, problem, rng) for _ in range(300)]
    ev = Evaluator(arch, problem, tables, link_transfers=False)
    bev = BatchEvaluator(arch, problem, link_transfers=False)
    batch = MappingBatch.from_mappings(mappings, len(arch.storage), len(problem.dimensions), 3)
    summary = bev.evaluate_summary(batch, HardwareBatch.from_architecture(arch, tables))
    differ = 0
    for i, m in enumerate(mappings):
        want = evaluate(arch, problem, m, tables=tables, link_transfers=False)
        differ += want != evaluate(arch, problem, m, tables=tables)
        assert ev.summary(m).energy_pj == want.energy_pj
        assert int(summary.cycles[i]) == want.cycles
        assert float(summary.energy_pj[i]) == pytest.approx(want.energy_pj, rel=1e-9)
    assert differ  # links do change some of these mappings
