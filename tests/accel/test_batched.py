"""evaluate_batch equals the scalar evaluate elementwise: random legal and invalid mappings,
varied hardware (capacities, bandwidths, energy/area tables), both stride rules."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_closed_form import ARCH_CASES, small_problems
from timeloop_cases import CASES, input_files

from dcoc.accel.architecture import Architecture
from dcoc.accel.batched.evaluator import BatchEvaluator, BatchReport, evaluate_batch
from dcoc.accel.batched.histogram import SlidingHistograms
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.mapper.random_mappings import random_mapping
from dcoc.accel.mapping import LevelMapping, Mapping
from dcoc.accel.model.closed_form import multicast_histogram
from dcoc.accel.model.delta_engine import projections
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostReport
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem
from dcoc.workloads.shapes import cnn_layer_problem

REL = 1e-9


@cache
def _inputs(case: str) -> ModelInputs:
    return load_model_inputs(input_files(case))


def _batch(arch: Architecture, problem: Problem, mappings: list[Mapping]) -> MappingBatch:
    return MappingBatch.from_mappings(
        mappings, len(arch.storage), len(problem.dimensions), len(problem.data_spaces)
    )


def assert_element_equal(rep: BatchReport, i: int, want: CostReport) -> None:
    assert bool(rep.valid[i]) == want.valid, want.reasons
    assert int(rep.cycles[i]) == want.cycles
    assert int(rep.computes[i]) == want.computes
    assert int(rep.utilized_macs[i]) == want.utilized_macs
    assert float(rep.utilization[i]) == want.utilization
    assert float(rep.area_um2[i]) == pytest.approx(want.area_um2, rel=REL)
    assert float(rep.energy_pj[i]) == pytest.approx(want.energy_pj, rel=REL)
    assert float(rep.mac_energy_pj[i]) == pytest.approx(want.mac_energy_pj, rel=REL)
    assert float(rep.edp[i]) == pytest.approx(want.edp, rel=REL)
    if not want.levels:  # invalid mapping: nothing evaluated
        assert not rep.mapping_valid[i]
        assert not rep.reads[i].any() and not rep.energy_pj[i]
        return
    for li, lv in enumerate(want.levels):
        assert float(rep.level_energy_pj[i, li]) == pytest.approx(lv.energy_pj, rel=REL, abs=1e-12)
        assert float(rep.level_area_um2[i, li]) == pytest.approx(lv.area_um2, rel=REL)
        assert int(rep.level_cycles[i, li]) == lv.cycles
        for s, dc in enumerate(lv.dataspaces):
            got = (
                rep.reads[i, li, s],
                rep.fills[i, li, s],
                rep.updates[i, li, s],
                rep.utilized_capacity[i, li, s],
                rep.partition_size[i, li, s],
                rep.utilized_instances[i, li],
            )
            exp = (
                dc.reads,
                dc.fills,
                dc.updates,
                dc.utilized_capacity,
                dc.partition_size,
                dc.utilized_instances,
            )
            assert tuple(int(x) for x in got) == exp, (lv.name, dc.name)
            assert float(rep.dataspace_energy_pj[i, li, s]) == pytest.approx(
                dc.energy_pj, rel=REL, abs=1e-12
            )


def _break(mapping: Mapping, rng: np.random.Generator) -> Mapping:
    """Make a mapping invalid in one of the ways the scalar model checks."""
    levels = list(mapping.levels)
    li = int(rng.integers(len(levels)))
    lm = levels[li]
    how = int(rng.integers(4))
    d = int(rng.integers(len(lm.temporal)))
    if how == 0:  # factor product no longer equals the bound
        t = list(lm.temporal)
        t[d] *= 2
        levels[li] = replace(lm, temporal=tuple(t))
    elif how == 1:  # fanout exceeded
        sx = list(lm.spatial_x)
        sx[d] *= 1024
        levels[li] = replace(lm, spatial_x=tuple(sx))
    elif how == 2:  # a data space kept nowhere
        s = int(rng.integers(len(lm.keep)))
        levels = [
            LevelMapping(
                x.temporal,
                x.spatial_x,
                x.spatial_y,
                x.permutation,
                x.spatial_permutation,
                tuple(k and j != s for j, k in enumerate(x.keep)),
            )
            for x in levels
        ]
    else:  # a zero factor
        t = list(lm.temporal)
        t[d] = 0
        levels[li] = replace(lm, temporal=tuple(t))
    return Mapping(tuple(levels))


@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_reference_and_random_mappings(case: str, legacy: bool) -> None:
    inp = _inputs(case)
    arch, problem = inp.architecture, inp.problem
    rng = np.random.default_rng(7)
    mappings = [inp.mapping] + [random_mapping(arch, problem, rng) for _ in range(20)]
    mappings += [_break(m, rng) for m in mappings[:8]]
    rep = evaluate_batch(
        arch, problem, _batch(arch, problem, mappings), tables=inp.tables, legacy_translation=legacy
    )
    assert rep.valid[0]
    for i, m in enumerate(mappings):
        want = evaluate(arch, problem, m, tables=inp.tables, legacy_translation=legacy)
        assert_element_equal(rep, i, want)
    assert not rep.valid[21:].any()


def _varied_hardware(
    arch: Architecture, tables: EnergyTables, rng: np.random.Generator
) -> tuple[Architecture, EnergyTables]:
    """Scale capacities, bandwidths and every table entry at random (same template)."""
    storage = []
    for lv in arch.storage:
        depth = lv.depth if lv.depth is None else max(1, int(lv.depth * rng.choice([0.25, 1, 4])))
        bw = [None, 0.5, 2.0, 16.0][int(rng.integers(4))]
        storage.append(replace(lv, depth=depth, read_bandwidth=bw))
    ert = {
        k: {a: e * float(rng.uniform(0.5, 2.0)) for a, e in v.items()}
        for k, v in tables.ert.items()
    }
    art = {k: a * float(rng.uniform(0.5, 2.0)) for k, a in tables.art.items()}
    return replace(arch, storage=tuple(storage)), EnergyTables(ert, art)


@settings(max_examples=60, deadline=None)
@given(
    problem=small_problems(),
    case=st.sampled_from(ARCH_CASES),
    seed=st.integers(0, 2**32 - 1),
    legacy=st.booleans(),
)
def test_random_batches_with_varied_hardware(
    problem: Problem, case: str, seed: int, legacy: bool
) -> None:
    inp = _inputs(case)
    arch = inp.architecture
    rng = np.random.default_rng(seed)
    n = 12
    mappings = [random_mapping(arch, problem, rng) for _ in range(n)]
    mappings[-2:] = [_break(m, rng) for m in mappings[-2:]]
    designs = [_varied_hardware(arch, inp.tables, rng) for _ in range(n)]
    hardware = HardwareBatch.from_architectures(arch, designs)
    evaluator = BatchEvaluator(arch, problem, legacy_translation=legacy)
    batch = _batch(arch, problem, mappings)
    rep = evaluator.evaluate(batch, hardware)
    for i, (m, (a, t)) in enumerate(zip(mappings, designs, strict=True)):
        assert_element_equal(rep, i, evaluate(a, problem, m, tables=t, legacy_translation=legacy))
    summary = evaluator.evaluate_summary(batch, hardware)
    for name in (
        "valid",
        "mapping_valid",
        "capacity_valid",
        "cycles",
        "computes",
        "utilized_macs",
        "utilization",
        "energy_pj",
        "area_um2",
        "edp",
    ):
        assert np.array_equal(getattr(summary, name), getattr(rep, name)), name


def test_shapes_dtypes_and_empty_batch() -> None:
    inp = _inputs("06-eyeriss-vgg02-layer5")
    arch, problem = inp.architecture, inp.problem
    nl, nd, nds = len(arch.storage), len(problem.dimensions), len(problem.data_spaces)
    empty = evaluate_batch(arch, problem, MappingBatch.empty(nl, nd, nds), tables=inp.tables)
    assert empty.valid.shape == (0,) and empty.reads.shape == (0, nl, nds)
    batch = _batch(arch, problem, [inp.mapping] * 3)
    rep = evaluate_batch(arch, problem, batch, tables=inp.tables, legacy_translation=True)
    assert rep.valid.dtype == bool and rep.cycles.dtype == np.int64
    assert rep.energy_pj.dtype == np.float64 and rep.reads.dtype == np.int64
    assert rep.reads.shape == (3, nl, nds) and rep.level_energy_pj.shape == (3, nl)
    assert rep.cycles.tolist() == [5505024] * 3
    assert rep.energy_pj[0] == pytest.approx(2764376744.779776, rel=1e-6)
    assert batch.to_mappings()[0] == inp.mapping


def test_hardware_batch_rejects_other_templates() -> None:
    a = _inputs("06-eyeriss-vgg02-layer5")
    b = _inputs("ex-simba_like")
    with pytest.raises(ValueError, match="template"):
        HardwareBatch.from_architectures(a.architecture, [(b.architecture, b.tables)])


@settings(max_examples=200, deadline=None)
@given(
    spatial=st.lists(st.sampled_from([1, 1, 2, 3, 4, 6]), min_size=7, max_size=7),
    below=st.lists(st.sampled_from([1, 2, 3, 4, 8, 12]), min_size=7, max_size=7),
    stride=st.sampled_from([1, 2, 3]),
    dilation=st.sampled_from([1, 2]),
)
def test_sliding_histogram_fast_path_equals_enumeration(
    spatial: list[int], below: list[int], stride: int, dilation: int
) -> None:
    """The memoized pair-collision histograms equal a direct enumeration of the offsets."""
    problem = cnn_layer_problem(
        {"C": 2, "M": 2, "R": 3, "S": 3, "N": 1, "P": 4, "Q": 4}, (stride, 1), (dilation, 2)
    )
    proj = projections(problem)[1]
    fanout = int(np.prod(spatial))
    assume(fanout <= 96)
    hist = SlidingHistograms(proj, 7)
    assert hist.fast
    m, a = hist.entries(
        [np.array([x, x]) for x in spatial],
        [np.array([x, x]) for x in below],
        fanout,
        np.array([5, 7]),
    )
    got = {
        int(mm): int(aa) // 5
        for mm, aa in zip(np.broadcast_to(m, a.shape)[:, 0], a[:, 0], strict=True)
        if aa
    }
    members = tuple((d, spatial[d], below[d]) for d in range(7) if spatial[d] > 1)
    assert got == dict(multicast_histogram(proj, members))
