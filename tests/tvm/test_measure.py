"""Out-of-process measurement: normal candidates, and every way a candidate can fail."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
from hostile_programs import never_ends, out_of_bounds, slow_build, wrong_result
from tvm_problems import matmul_problem

from dcoc.tvm.compute import einsum_spec
from dcoc.tvm.design_space import generate_design_space
from dcoc.tvm.measure import ErrorKind, MeasureInput, Measurer, MeasureSettings
from dcoc.tvm.target import host_target

SPEC = einsum_spec(matmul_problem(64, 64, 64))


def as_input(func: tvm.tirx.PrimFunc) -> MeasureInput:
    return MeasureInput.from_schedule(tvm.IRModule({"main": func}), SPEC)


def good_inputs(n: int) -> list[MeasureInput]:
    space = generate_design_space(SPEC, host_target(1))
    rng = np.random.default_rng(3)
    return [
        MeasureInput.from_schedule(space.apply(space.random_point(rng)), SPEC) for _ in range(n)
    ]


def test_valid_candidates_are_timed_and_verified(measurer: Measurer) -> None:
    results = measurer.measure(good_inputs(2))
    for r in results:
        assert r.valid, r.error
        assert r.error_kind is None
        assert len(r.costs_s) == 3
        assert r.latency_s == sorted(r.costs_s)[1]  # median of 3
        assert 0 < r.latency_s < 0.1
        assert r.build_s is not None and r.build_s > 0
        assert r.max_abs_error is not None and r.max_abs_error < 1e-3


def test_wrong_result_is_caught(measurer: Measurer) -> None:
    (r,) = measurer.measure([as_input(wrong_result)])
    assert r.error_kind is ErrorKind.WRONG_RESULT
    assert not r.valid and r.latency_s is None
    assert r.max_abs_error is not None and r.max_abs_error > 1


def test_build_error_is_a_record(measurer: Measurer) -> None:
    (r,) = measurer.measure([MeasureInput("not a module", SPEC)])
    assert r.error_kind is ErrorKind.BUILD_ERROR
    assert r.error


@pytest.mark.slow
def test_crash_and_timeout_do_not_stop_the_pool(measurer: Measurer) -> None:
    good = good_inputs(1)[0]
    items = [as_input(out_of_bounds), good, as_input(never_ends), good]
    results = measurer.measure(items)
    assert results[0].error_kind is ErrorKind.CRASH
    assert "exit code -11" in (results[0].error or "")  # SIGSEGV
    assert results[1].valid
    assert results[2].error_kind is ErrorKind.RUN_TIMEOUT
    assert results[2].build_s is not None
    assert results[3].valid


def test_two_workers_measure_in_parallel(target_config: dict[str, object]) -> None:
    settings = MeasureSettings(repeat=2, min_repeat_ms=1)
    items = [*good_inputs(3), as_input(wrong_result)]
    with Measurer(target_config, settings, workers=2) as m:
        seen = dict(m.measure_iter(items))
    assert sorted(seen) == [0, 1, 2, 3]
    assert [seen[i].valid for i in range(4)] == [True, True, True, False]


@pytest.mark.slow
def test_a_build_that_hangs_is_killed_and_the_next_candidate_builds(
    target_config: dict[str, object],
) -> None:
    settings = MeasureSettings(repeat=2, min_repeat_ms=1, build_timeout_s=3.0)
    good = good_inputs(1)[0]
    with Measurer(target_config, settings, workers=1) as m:
        # The first candidate warms the worker (its build gets 120 s more for TVM's import).
        results = m.measure([good, as_input(slow_build), good])
    assert results[0].valid, results[0].error
    assert results[1].error_kind is ErrorKind.BUILD_TIMEOUT
    assert results[1].error == "build exceeded 3.0 s; killed"
    assert not results[1].valid and results[1].latency_s is None
    assert results[2].valid, results[2].error
