"""The mapspace: sizes by brute force, legality against the model, indexing, constraints."""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mapper_cases import EXAMPLES, EYERISS, FREEBYPASS, NULL, load_case

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapper.constraints import build_constraints
from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.mapping import LevelMapping, Mapping
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.spec.architecture import parse_architecture
from dcoc.accel.spec.documents import load_yaml_text
from dcoc.accel.tables import EnergyTables
from dcoc.errors import SpecError
from dcoc.workloads.problem import Problem
from dcoc.workloads.shapes import gemm_problem

TINY_ARCH = """
architecture:
  version: 0.4
  nodes:
  - !Container {name: System}
  - !Component {name: DRAM, class: DRAM, attributes: {width: 8, datawidth: 8}}
  - !Component {name: GLB, class: SRAM, attributes: {depth: 6, width: 8, datawidth: 8}}
  - !Container {name: PE, spatial: {meshX: 2, meshY: 2}}
  - !Component {name: RF, class: regfile, attributes: {depth: 3, width: 8, datawidth: 8}}
  - !Component {name: MAC, class: intmac, attributes: {width: 8}}
"""
# Levels inner to outer: RF, inter_PE_spatial (dummy, mesh 2x2 fanout), GLB, DRAM.
TIGHT = [
    {"target": "PE", "type": "spatial", "factors": "K=1", "permutation": "MN", "split": 1},
    {"target": "RF", "type": "temporal", "factors": "M=1", "permutation": "K"},
    {"target": "GLB", "type": "dataspace", "keep": ["Weights", "Inputs", "Outputs"]},
]


def tiny(targets: list[dict[str, object]] | None = None) -> tuple[Architecture, Problem, MapSpace]:
    raw = load_yaml_text(TINY_ARCH)["architecture"]
    arch = parse_architecture(raw)
    problem = gemm_problem(2, 2, 4)
    c = build_constraints(arch, problem, constraint_targets=targets)
    return arch, problem, MapSpace(arch, problem, c)


def _divisor_tuples(n: int, k: int) -> list[tuple[int, ...]]:
    """Every k-tuple of positive integers whose product is n."""
    if k == 0:
        return [()] if n == 1 else []
    return [
        (d, *rest) for d in range(1, n + 1) if n % d == 0 for rest in _divisor_tuples(n // d, k - 1)
    ]


def brute_force_factorizations(arch: Architecture, problem: Problem, tight: bool) -> int:
    """Count per-level (temporal, X, Y) factor assignments by the rules, independently."""
    nl = len(arch.storage)
    count = 1
    for d, name in enumerate(problem.dimensions):
        n = 0
        for t in _divisor_tuples(problem.bounds[name], 3 * nl):
            ok = True
            for li, level in enumerate(arch.storage):
                tf, xf, yf = t[3 * li : 3 * li + 3]
                fx, fy = arch.fanout_xy(li)
                ok &= xf <= fx and yf <= fy and not (xf > 1 and yf > 1)
                ok &= not (level.is_dummy and tf > 1)
                if tight and level.is_dummy:  # K=1 spatially; split 1 after unit-first: only K on X
                    ok &= xf == 1 and (name != "K" or yf == 1)
                if tight and level.name == "RF":
                    ok &= not (name == "M" and tf > 1)
            n += ok
        count *= n
        assert d >= 0
    return count


def brute_force_permutations(arch: Architecture, problem: Problem, tight: bool) -> int:
    total = 1
    for level in arch.storage:
        if level.is_dummy:
            continue
        perms = list(itertools.permutations(problem.dimensions))
        if tight and level.name == "RF":  # prefix "K" (M=1 and unit-first put M before it)
            perms = [p for p in perms if p[:2] in (("M", "K"),)]
        total *= len(perms)
    return total


@pytest.mark.parametrize("tight", [False, True])
def test_tiny_sizes_match_brute_force(tight: bool) -> None:
    arch, problem, space = tiny(TIGHT if tight else None)
    assert space.factorization_count == brute_force_factorizations(arch, problem, tight)
    assert space.permutation_count == brute_force_permutations(arch, problem, tight)
    # free (level, data space) pairs: RF and GLB (3 each), or RF only under TIGHT
    assert space.bypass_count == 2 ** (3 if tight else 6)
    assert space.size == space.factorization_count * space.permutation_count * space.bypass_count


def _model_legal_pairs(arch: Architecture, problem: Problem, space: MapSpace) -> set[tuple]:
    """(factor choice, bypass bits) pairs the *model* accepts, by trying all of them."""
    legal = set()
    tables = EnergyTables()
    perms0 = tuple(0 for _ in space.permutation_counts)
    for fchoice in itertools.product(*(range(len(f)) for f in space.factorizations)):
        for bits in itertools.product((False, True), repeat=len(space.free_keeps)):
            point = space.point_from_choices([*fchoice, *perms0, *map(int, bits)])
            report = evaluate(arch, problem, space.mapping(point), tables=tables)
            if report.valid:
                legal.add((fchoice, bits))
    return legal


def test_tiny_enumeration_is_exactly_the_model_legal_set() -> None:
    arch, problem, space = tiny(TIGHT)
    enumerated = list(space.enumerate_legal())
    pairs = {(p.factors, p.bypass) for p in enumerated}
    model_pairs = _model_legal_pairs(arch, problem, space)
    assert pairs == model_pairs
    assert 0 < len(model_pairs) < space.factorization_count * space.bypass_count  # some pruned
    # one permutation per class: prod over levels of (free non-unit loops)!
    for fchoice, bits in list(pairs)[:20]:
        f = np.array([space.factorizations[d][i] for d, i in enumerate(fchoice)])
        temporal = space.temporal_of(f)
        classes = 1
        for li in range(space.num_levels):
            if not arch.storage[li].is_dummy:
                free = space.free_dims[li]
                classes *= prod(range(1, sum(temporal[li][d] > 1 for d in free) + 1))
        got = [p for p in enumerated if p.factors == fchoice and p.bypass == bits]
        assert len(got) == classes
        assert len({p.permutations for p in got}) == classes
    rng = np.random.default_rng(0)
    for i in rng.choice(len(enumerated), size=200, replace=False):
        m = space.mapping(enumerated[int(i)])
        assert evaluate(arch, problem, m, tables=EnergyTables()).valid


def test_violations_agree_with_the_model_on_random_points() -> None:
    for name in (EYERISS, "ex-simple_weight_stationary"):
        case = load_case(name)
        i, space = case.inputs, case.space
        rng = np.random.default_rng(1)
        agree_valid = 0
        for _ in range(120):
            point = space.sample(rng)
            report = evaluate(i.architecture, i.problem, space.mapping(point), tables=i.tables)
            reasons = space.violations(point)
            assert report.valid == (not reasons), (reasons, report.reasons)
            agree_valid += report.valid
        assert agree_valid > 0


def test_sample_legal_is_valid_under_the_model() -> None:
    case = load_case("ex-simba_like")
    i, space = case.inputs, case.space
    rng = np.random.default_rng(2)
    for _ in range(25):
        point = space.sample_legal(rng)
        assert point is not None
        report = evaluate(i.architecture, i.problem, space.mapping(point), tables=i.tables)
        assert report.valid, report.reasons


SPACES = {name: load_case(name).space for name in (EYERISS, "ex-simba_like", NULL)}


@pytest.mark.parametrize("name", sorted(SPACES))
@settings(max_examples=60, deadline=None)
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_decode_encode_round_trip(name: str, fraction: float) -> None:
    space = SPACES[name]
    index = int(fraction * space.size)
    mapping = space.decode(index)
    assert space.encode(mapping) == index
    assert space.decode(space.encode(mapping)) == mapping
    point = space.point_at(index)
    assert space.point_from_choices(space.choices(point)) == point


@pytest.mark.parametrize("name", [NULL, EYERISS, *EXAMPLES])
def test_reference_mappings_are_in_the_mapspace(name: str) -> None:
    case = load_case(name)
    i = case.inputs
    point = case.space.point_of(i.mapping)
    assert case.space.violations(point) == []
    rebuilt = case.space.mapping(point)
    report = evaluate(i.architecture, i.problem, rebuilt, tables=i.tables, legacy_translation=True)
    assert report.energy_pj == pytest.approx(case.total_energy_pj, rel=1e-9)


def test_freebypass_mapspace_is_the_64_bypass_choices() -> None:
    # The constraints file says: "the total number of choices = 2^(2*3) = 64".
    space = load_case(FREEBYPASS).space
    assert (space.factorization_count, space.permutation_count, space.size) == (1, 1, 64)
    # Timeloop's reference picked K innermost at RegisterFile although the constraint says
    # RPK (R innermost); both orders give the same counts, but the mapping is outside.
    with pytest.raises(ValueError, match="RPK"):
        space.point_of(load_case(FREEBYPASS).inputs.mapping)


def test_null_mapspace_size() -> None:
    space = load_case(NULL).space
    # K=32 over 3 levels: C(5+2, 2) = 21; R=3: 3; P=16: C(4+2, 2) = 15; 3! orders per level;
    # 2 levels x 3 data spaces free to bypass.
    assert space.factorization_count == 21 * 3 * 15
    assert space.permutation_count == 6**3
    assert space.size == 21 * 3 * 15 * 6**3 * 2**6


def test_architecture_constraints_follow_timeloopfe() -> None:
    space = load_case(EYERISS).space
    arch = space.arch
    keep = {arch.storage[li].name: lc.keep for li, lc in enumerate(space.constraints.levels)}
    # !Parallel spads bypass what they do not keep; glb bypasses Weights; DRAM keeps all.
    assert keep["ifmap_spad"] == (False, True, False)
    assert keep["weights_spad"] == (True, False, False)
    assert keep["psum_spad"] == (False, False, True)
    assert keep["shared_glb"] == (False, True, True)
    assert keep["DRAM"] == (True, True, True)
    assert space.free_keeps == ()
    # simple_WS: split 1 of [C, M] counts the unit dims timeloopfe puts first: C and M on Y.
    ws = load_case("ex-simple_weight_stationary").space
    li = ws.arch.level_index("inter_PE_spatial")
    spatial = ws.constraints.levels[li].spatial
    dims = ws.problem.dimensions
    assert spatial.axis_of(dims.index("C")) == "Y"
    assert spatial.axis_of(dims.index("M")) == "Y"


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        ([{"target": "Nowhere", "type": "temporal"}], "unknown level"),
        ([{"target": "RF", "type": "skew"}], "not supported"),
        ([{"target": "RF", "type": "temporal", "factors": "Q=2"}], "not a problem dimension"),
        ([{"target": "RF", "type": "temporal", "factors": "M=two"}], "cannot read factor"),
        (
            [
                {"target": "RF", "type": "temporal", "factors": "M=2"},
                {"target": "RF", "type": "temporal", "factors": "M=1"},
            ],
            "constrained twice",
        ),
        ([{"target": "RF", "type": "bypass", "keep": ["Inputs"], "bypass": ["Inputs"]}], "both"),
        ([{"target": "DRAM", "type": "bypass", "bypass": ["Inputs"]}], "outermost"),
        ([{"target": "RF", "type": "utilization", "min": 2}], "min must be"),
    ],
)
def test_bad_constraints_are_spec_errors(targets: list[dict[str, object]], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        tiny(targets)


def test_impossible_fixed_factor_is_reported() -> None:
    with pytest.raises(ValueError, match="no factorization of K"):
        tiny([{"target": "RF", "type": "temporal", "factors": "K=3"}])


def test_point_of_rejects_a_mapping_outside_the_space() -> None:
    _, problem, space = tiny(TIGHT)
    m = space.decode(0)
    glb = m.levels[2]  # TIGHT makes GLB keep every data space
    broken = LevelMapping(
        glb.temporal,
        glb.spatial_x,
        glb.spatial_y,
        glb.permutation,
        glb.spatial_permutation,
        (True, False, True),
    )
    with pytest.raises(ValueError, match="keep mask"):
        space.encode(Mapping((*m.levels[:2], broken, m.levels[3])))
    assert problem.dimensions == ("M", "N", "K")


def test_neighbors_are_single_moves_of_equal_cost_class() -> None:
    case = load_case(EYERISS)
    space, i = case.space, case.inputs
    rng = np.random.default_rng(5)
    point = space.sample_legal(rng)
    assert point is not None
    base = space.canonical(point)
    # canonical permutations do not change any number
    a = evaluate(i.architecture, i.problem, space.mapping(point), tables=i.tables)
    b = evaluate(i.architecture, i.problem, space.mapping(base), tables=i.tables)
    assert a == b
    neighbors = space.neighbors(point)
    assert neighbors and base not in neighbors and len(set(neighbors)) == len(neighbors)
    kinds = {"factor": 0, "order": 0}
    for n in neighbors:
        changed_dims = [d for d in range(len(space.dims)) if n.factors[d] != base.factors[d]]
        if changed_dims:
            assert len(changed_dims) == 1 and n.permutations == space.canonical(n).permutations
            d = changed_dims[0]
            old, new = (
                space.factorizations[d][base.factors[d]],
                space.factorizations[d][n.factors[d]],
            )
            moved = [(o, m) for o, m in zip(old, new, strict=True) if o != m]
            assert len(moved) == 2  # one prime left one slot and joined another
            kinds["factor"] += 1
        else:
            assert sum(x != y for x, y in zip(n.permutations, base.permutations, strict=True)) == 1
            kinds["order"] += 1
    assert kinds["factor"] > 0 and kinds["order"] > 0


@settings(max_examples=25, deadline=None)
@given(
    m=st.integers(1, 6),
    n=st.integers(1, 4),
    k=st.integers(1, 8),
    tight=st.booleans(),
)
def test_factorization_count_matches_brute_force_for_any_bounds(
    m: int, n: int, k: int, tight: bool
) -> None:
    raw = load_yaml_text(TINY_ARCH)["architecture"]
    arch = parse_architecture(raw)
    problem = gemm_problem(m, n, k)
    targets = TIGHT[:2] if tight else None  # factor and split constraints, no keeps
    c = build_constraints(arch, problem, constraint_targets=targets)
    space = MapSpace(arch, problem, c)
    assert space.factorization_count == brute_force_factorizations(arch, problem, tight)
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    point = space.sample_legal(rng, max_tries=2000)
    if point is not None:  # capacity may leave nothing legal; if something is, it runs
        report = evaluate(arch, problem, space.mapping(point), tables=EnergyTables())
        assert report.valid, report.reasons


def test_min_utilization_prunes_factorizations() -> None:
    case = load_case(EYERISS)
    arch, problem = case.inputs.architecture, case.inputs.problem
    c = build_constraints(
        arch,
        problem,
        constraint_targets=[{"target": "psum_spad", "type": "utilization", "min": 0.5}],
    )
    space = MapSpace(arch, problem, c)
    rng = np.random.default_rng(6)
    low = high = 0
    for _ in range(300):
        f = space.level_factors(space.sample(rng))
        used = int(np.prod(f[:, [s for s, sl in enumerate(space.slots) if sl.axis != 0]]))
        reasons = space.factor_violations(f)
        if used < 0.5 * arch.arithmetic.instances:
            low += 1
            assert any("utilization" in r for r in reasons)
        else:
            high += 1
            assert not any("utilization" in r for r in reasons)
    assert low > 0 and high > 0
