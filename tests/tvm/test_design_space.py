"""Sketches as decision slots: enumeration, legality checks, applied schedules that verify."""

from __future__ import annotations

from math import prod

import numpy as np
import pytest
import tvm
from hypothesis import given, settings
from hypothesis import strategies as st
from tvm_problems import conv_problem, depthwise_problem, matmul_problem

from dcoc.tvm.compute import einsum_spec, outputs_match, random_inputs, reference_output
from dcoc.tvm.design_space import (
    DesignPoint,
    DesignSpace,
    IllegalDecisionError,
    SlotKind,
    apply_decisions,
    generate_design_space,
    perfect_tilings,
)
from dcoc.tvm.target import host_target
from dcoc.tvm.traces import schedule_from_trace_json, trace_to_json
from dcoc.workloads.problem import Problem


@pytest.fixture(scope="module")
def matmul_space() -> DesignSpace:
    return generate_design_space(einsum_spec(matmul_problem(64, 64, 64)), host_target(1))


@pytest.fixture(scope="module")
def conv_space() -> DesignSpace:
    spec = einsum_spec(conv_problem(c=8, m=16, p=6, q=6, r=3, s=3, stride=2))
    return generate_design_space(spec, host_target(1))


def run_and_check(space: DesignSpace, mod: tvm.IRModule) -> bool:
    lib = tvm.compile(mod, target=space.target)
    inputs = random_inputs(space.spec, seed=5)
    out = tvm.runtime.tensor(np.zeros(space.spec.output.shape, np.float32))
    lib["main"](*[tvm.runtime.tensor(a) for a in inputs], out)
    return outputs_match(out.numpy(), reference_output(space.spec, inputs))


def brute_force_tilings(extent: int, n: int, max_inner: int) -> set[tuple[int, ...]]:
    out: set[tuple[int, ...]] = set()

    def rec(prefix: tuple[int, ...]) -> None:
        if len(prefix) == n:
            if prod(prefix) == extent and (max_inner <= 0 or prefix[-1] <= max_inner):
                out.add(prefix)
            return
        for f in range(1, extent + 1):
            if prod(prefix) * f <= extent:
                rec((*prefix, f))

    rec(())
    return out


@settings(max_examples=60, deadline=None)
@given(extent=st.integers(1, 96), n=st.integers(1, 4), max_inner=st.sampled_from([0, 4, 16, 64]))
def test_perfect_tilings_are_exactly_the_factorizations(
    extent: int, n: int, max_inner: int
) -> None:
    tilings = perfect_tilings(extent, n, max_inner)
    assert len(set(tilings)) == len(tilings)
    assert set(tilings) == brute_force_tilings(extent, n, max_inner)


def test_perfect_tilings_counts() -> None:
    assert len(perfect_tilings(64, 4, 64)) == 84  # C(9,3) = 84 tuples of exponents of 2^6
    assert len(perfect_tilings(64, 2, 64)) == 7
    assert len(perfect_tilings(64, 4, 0)) == 84
    assert perfect_tilings(12, 2, 4) == ((3, 4), (4, 3), (6, 2), (12, 1))


def test_matmul_slots(matmul_space: DesignSpace) -> None:
    assert len(matmul_space.sketches) >= 2
    for sketch in matmul_space.sketches:
        names = [s.name for s in sketch.slots]
        assert names == ["tile:m", "tile:n", "tile:k_r", "unroll_explicit"]
        for slot in sketch.slots[:3]:
            assert slot.kind is SlotKind.PERFECT_TILE
            assert slot.extent == 64
            assert all(prod(c) == slot.extent for c in slot.choices)  # type: ignore[arg-type]
            assert slot.sketch_value in slot.choices
        assert [len(s.choices) for s in sketch.slots] == [84, 84, 7, 4]
        unroll = sketch.slots[3]
        assert unroll.kind is SlotKind.CATEGORICAL
        assert unroll.candidates == (0, 16, 64, 512)
        assert unroll.choices == (0, 1, 2, 3)
        assert sketch.size == 84 * 84 * 7 * 4


def test_conv_slots_cover_every_dimension(conv_space: DesignSpace) -> None:
    spec = conv_space.spec
    bound = {d.lower(): b for d, b in spec.bound.items()}
    for sketch in conv_space.sketches:
        tiles = {
            s.name.removeprefix("tile:").removesuffix("_r"): s
            for s in sketch.slots
            if s.kind is SlotKind.PERFECT_TILE
        }
        assert set(tiles) == set(bound)
        for dim, slot in tiles.items():
            assert slot.extent == bound[dim]
            assert all(prod(c) == bound[dim] for c in slot.choices)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("decisions", "message"),
    [
        ({"tile:m": (1, 1, 1, 1)}, r"slot 'tile:m': decision \(1, 1, 1, 1\) is not legal"),
        ({"tile:m": (1, 1, 64)}, "slot 'tile:m'"),
        ({"tile:k_r": (1, 64)}, "slot 'tile:k_r'"),  # innermost 64 is allowed ...
        (
            {"unroll_explicit": 4},
            r"slot 'unroll_explicit': decision 4 is not legal; "
            r"legal values: \[0, 1, 2, 3\]",
        ),
        ({"unroll_explicit": (1,)}, "wrong type"),
        ({"tile:x": (64, 1)}, r"unknown slot\(s\) \['tile:x'\]"),
    ],
)
def test_illegal_decisions_are_rejected(
    matmul_space: DesignSpace, decisions: dict[str, object], message: str
) -> None:
    sketch = matmul_space.sketches[0]
    if decisions == {"tile:k_r": (1, 64)}:
        apply_decisions(sketch, decisions)  # ... so this one is legal
        decisions = {"tile:k_r": (2, 33)}
    with pytest.raises(IllegalDecisionError, match=message):
        apply_decisions(sketch, decisions)


def test_wrong_number_of_decisions_and_sketch(matmul_space: DesignSpace) -> None:
    with pytest.raises(IllegalDecisionError, match="has 4 slots"):
        apply_decisions(matmul_space.sketches[0], [(1, 1, 64, 1)])
    with pytest.raises(IllegalDecisionError, match="sketch 99 does not exist"):
        matmul_space.apply(DesignPoint(99, ()))


def test_innermost_factor_limit_is_enforced() -> None:
    spec = einsum_spec(matmul_problem(4, 4, 128))
    space = generate_design_space(spec, host_target(1))
    sketch = space.sketches[0]
    k = next(s for s in sketch.slots if s.name == "tile:k_r")
    assert (1, 128) not in k.choices and (2, 64) in k.choices
    with pytest.raises(IllegalDecisionError, match="tile:k_r"):
        apply_decisions(sketch, {"tile:k_r": (1, 128)})


def test_applied_decisions_are_the_ones_in_the_trace(matmul_space: DesignSpace) -> None:
    sketch = matmul_space.sketches[1]
    decisions = [(2, 2, 2, 8), (1, 4, 2, 8), (8, 8), 3]
    sch = apply_decisions(sketch, decisions)
    got = []
    for slot in sketch.slots:
        d = sch.trace.decisions[sch.trace.insts[slot.instruction_index]]
        got.append(tuple(int(v) for v in d) if slot.kind is SlotKind.PERFECT_TILE else int(d))
    assert got == decisions
    text = sch.mod.script()
    assert 'pragma_auto_unroll_max_step": 512' in text


@pytest.mark.parametrize("space_name", ["matmul_space", "conv_space"])
def test_random_points_compile_and_verify(space_name: str, request: pytest.FixtureRequest) -> None:
    space: DesignSpace = request.getfixturevalue(space_name)
    rng = np.random.default_rng(7)
    for _ in range(4):
        point = space.random_point(rng)
        sch = space.apply(point)
        assert run_and_check(space, sch.mod)
        # the stored trace replays to the same program
        replayed = schedule_from_trace_json(space.mod, trace_to_json(sch.trace))
        tvm.ir.assert_structural_equal(replayed.mod, sch.mod)


def test_design_point_json_round_trip(matmul_space: DesignSpace) -> None:
    point = matmul_space.random_point(np.random.default_rng(0))
    assert DesignPoint.from_json(point.to_json()) == point


@pytest.mark.parametrize("problem", [depthwise_problem(8, 4, 4, 3, 3)], ids=["depthwise"])
def test_depthwise_space_verifies(problem: Problem) -> None:
    space = generate_design_space(einsum_spec(problem), host_target(1))
    point = space.random_point(np.random.default_rng(1))
    assert run_and_check(space, space.apply(point).mod)
