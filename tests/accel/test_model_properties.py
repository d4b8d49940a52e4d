"""Invariants of the model over random legal mappings of small problems (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from math import ceil, prod

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from timeloop_cases import input_files

from dcoc.accel.mapping import Mapping, level_mapping
from dcoc.accel.model.delta_engine import simulate
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.model.nest import lower
from dcoc.accel.spec.inputs import load_model_inputs
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem

# 04's architecture: MainMemory > inter_PE_spatial (16 wide) > GlobalBuffer > RegisterFile > MAC
BASE = load_model_inputs(input_files("04-conv1d+oc+ic-3levelspatial-cp"))
ARCH, TABLES = BASE.architecture, BASE.tables
LEVELS = ARCH.names  # inner to outer
assert LEVELS == ("RegisterFile", "GlobalBuffer", "inter_PE_spatial", "MainMemory")


def _problem(bounds: dict[str, int]) -> Problem:
    p = BASE.problem
    return Problem(p.name, p.dimensions, p.data_spaces, bounds, dict(p.coefficients))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def cases(draw: st.DrawFn, sliding: bool = True) -> tuple[Problem, Mapping]:
    bounds = {
        "C": draw(st.sampled_from([1, 2, 4, 6])),
        "K": draw(st.sampled_from([1, 2, 3, 4])),
        "R": draw(st.sampled_from([1, 2, 3])) if sliding else 1,
        "P": draw(st.sampled_from([1, 2, 4, 8, 12])),
    }
    problem = _problem(bounds)
    dims = problem.dimensions
    slots: dict[str, list[int]] = {}
    for d in dims:
        rest, factors = bounds[d], []
        for _ in range(3):
            f = draw(st.sampled_from(_divisors(rest)))
            factors.append(f)
            rest //= f
        factors.append(rest)  # RF, GB, PE-spatial, DRAM
        slots[d] = factors
    assume(prod(slots[d][2] for d in dims) <= 16)
    names = [ds.name for ds in problem.data_spaces]
    perm = {lv: "".join(draw(st.permutations(dims))) for lv in LEVELS}
    keep_rf = [n for n in names if draw(st.booleans())]
    keep_gb = [n for n in names if draw(st.booleans())]
    levels = (
        level_mapping(
            problem,
            temporal={d: slots[d][0] for d in dims},
            permutation=perm["RegisterFile"],
            keep=keep_rf,
        ),
        level_mapping(
            problem,
            temporal={d: slots[d][1] for d in dims},
            permutation=perm["GlobalBuffer"],
            keep=keep_gb,
        ),
        level_mapping(
            problem,
            spatial_x={d: slots[d][2] for d in dims},
            spatial_permutation=perm["inter_PE_spatial"],
            keep=[],
        ),
        level_mapping(
            problem,
            temporal={d: slots[d][3] for d in dims},
            permutation=perm["MainMemory"],
            keep=names,
        ),
    )
    return problem, Mapping(levels)


SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)


@SETTINGS
@given(cases())
def test_utilization_and_compute_invariants(case: tuple[Problem, Mapping]) -> None:
    problem, mapping = case
    rep = evaluate(ARCH, problem, mapping, tables=TABLES, legacy_translation=True)
    assume(rep.valid)
    assert 0 < rep.utilization <= 1
    assert rep.computes == problem.macs
    assert rep.cycles * rep.utilized_macs == problem.macs
    e_mac = TABLES.energy_pj("MACC", "compute")
    assert e_mac is not None
    assert rep.mac_energy_pj == problem.macs * e_mac
    # the outermost level reads every read-only element at least once
    dram = rep.level("MainMemory")
    for ds, space in zip(dram.dataspaces, problem.data_spaces, strict=True):
        if not space.read_write:
            assert ds.reads >= problem.tensor_size(space)
        else:
            assert ds.updates >= problem.tensor_size(space)


@SETTINGS
@given(cases(), st.floats(min_value=0.01, max_value=10.0))
def test_energy_grows_exactly_with_read_energy(case: tuple[Problem, Mapping], delta: float) -> None:
    problem, mapping = case
    rep = evaluate(ARCH, problem, mapping, tables=TABLES, legacy_translation=True)
    assume(rep.valid)
    ert = {k: dict(v) for k, v in TABLES.ert.items()}
    ert["GlobalBuffer"]["read"] += delta
    rep2 = evaluate(
        ARCH, problem, mapping, tables=replace(TABLES, ert=ert), legacy_translation=True
    )
    gb_level = ARCH.storage[ARCH.level_index("GlobalBuffer")]
    gb = rep.level("GlobalBuffer")
    vectors = sum(
        ceil(ds.reads / gb_level.block_size) * ds.utilized_instances for ds in gb.dataspaces
    )
    assert rep2.energy_pj >= rep.energy_pj
    assert rep2.energy_pj - rep.energy_pj == pytest.approx(delta * vectors, rel=1e-9, abs=1e-6)


@SETTINGS
@given(cases(sliding=False))
def test_stride_rules_agree_without_sliding_windows(case: tuple[Problem, Mapping]) -> None:
    problem, mapping = case
    legacy = evaluate(ARCH, problem, mapping, tables=TABLES, legacy_translation=True)
    current = evaluate(ARCH, problem, mapping, tables=TABLES, legacy_translation=False)
    assert legacy == current


@SETTINGS
@given(cases())
def test_evaluate_is_deterministic_and_counts_non_negative(case: tuple[Problem, Mapping]) -> None:
    problem, mapping = case
    a = evaluate(ARCH, problem, mapping, tables=TABLES)
    b = evaluate(ARCH, problem, mapping, tables=TABLES)
    assert a == b
    for lv in a.levels:
        for ds in lv.dataspaces:
            assert min(ds.reads, ds.fills, ds.updates, ds.utilized_capacity) >= 0
            if not ds.kept:
                assert (ds.reads, ds.fills, ds.updates, ds.utilized_capacity) == (0, 0, 0, 0)


def test_empty_tables_give_zero_energy() -> None:
    rep = evaluate(ARCH, BASE.problem, BASE.mapping, tables=EnergyTables())
    assert rep.valid and rep.energy_pj == 0.0 and rep.area_um2 == 0.0


@SETTINGS
@given(cases(), st.booleans())
def test_memoized_engine_equals_plain_recursion(
    case: tuple[Problem, Mapping], legacy: bool
) -> None:
    problem, mapping = case
    nest = lower(mapping, len(problem.dimensions))
    plain = simulate(nest, problem, legacy_translation=legacy, memoize=False)
    assert simulate(nest, problem, legacy_translation=legacy) == plain


@SETTINGS
@given(cases(), st.booleans())
def test_memoized_engine_equals_plain_recursion_with_links(
    case: tuple[Problem, Mapping], legacy: bool
) -> None:
    problem, mapping = case
    fanouts = tuple(ARCH.fanout_xy(i) for i in range(len(ARCH.storage)))
    nest = lower(mapping, len(problem.dimensions), fanouts)
    plain = simulate(nest, problem, legacy_translation=legacy, memoize=False)
    assert simulate(nest, problem, legacy_translation=legacy) == plain


def test_link_transfers_systolic_window() -> None:
    """16 PEs along P under a temporal R3 loop: at each R step PE p needs the input PE p+1
    held one step before. Step 0 reads 16 words from above; steps 1-2 read one word each and
    take 15 over the links: 16 + 2 = 18 accesses, 2 x 15 = 30 link words."""
    problem = _problem({"C": 1, "K": 1, "R": 3, "P": 16})
    names = [ds.name for ds in problem.data_spaces]
    mapping = Mapping(
        (
            level_mapping(problem),
            level_mapping(problem),
            level_mapping(problem, spatial_x={"P": 16}, keep=[]),
            level_mapping(problem, temporal={"R": 3}, keep=names),
        )
    )
    fanouts = tuple(ARCH.fanout_xy(i) for i in range(len(ARCH.storage)))
    pe = ARCH.level_index("inter_PE_spatial")
    inputs = 1
    with_links = simulate(lower(mapping, 4, fanouts), problem, legacy_translation=True)
    tile = with_links.levels[pe].tiles[inputs]
    assert tile.accesses == ((1, 18),) and tile.link_transfers == 30
    without = simulate(lower(mapping, 4), problem, legacy_translation=True)
    assert without.levels[pe].tiles[inputs].accesses == ((1, 48),)
    rep = evaluate(ARCH, problem, mapping, tables=TABLES, link_transfers=True)
    assert rep.level("MainMemory").dataspaces[inputs].reads == 18
    # the GlobalBuffers get the link words as peer reads and fills: 30 // 16 = 1 each
    gb = rep.level("GlobalBuffer").dataspaces[inputs]
    assert (gb.reads, gb.fills) == (3 + 1, 1 + 1)
    assert evaluate(ARCH, problem, mapping, tables=TABLES) == rep  # links are on by default
    plain = evaluate(ARCH, problem, mapping, tables=TABLES, link_transfers=False)
    assert plain.level("MainMemory").dataspaces[inputs].reads == 48
