"""The one single-mapping evaluator (dcoc.accel.evaluator): ``CachedEvaluators`` gives the
headline numbers of ``evaluate`` bit for bit on every reference case, keeps one evaluator per
(architecture, problem, tables) and drops the least recently used, and tells why an invalid
mapping is invalid exactly as the full report does."""

from __future__ import annotations

import numpy as np
import pytest
from test_batched import _break
from timeloop_cases import CASES, input_files

from dcoc.accel.evaluator import CachedEvaluators, MappingEvaluator, invalid_reasons
from dcoc.accel.mapper.random_mappings import random_mapping
from dcoc.accel.model import evaluate
from dcoc.accel.spec.inputs import load_model_inputs


@pytest.mark.parametrize("case", CASES)
def test_cached_evaluators_equal_the_full_report(case: str) -> None:
    inp = load_model_inputs(input_files(case))
    arch, problem, tables = inp.architecture, inp.problem, inp.tables
    rng = np.random.default_rng(3)
    mappings = [inp.mapping] + [random_mapping(arch, problem, rng) for _ in range(80)]
    mappings += [_break(m, rng) for m in mappings[:20]]
    evaluator: MappingEvaluator = CachedEvaluators()
    invalid = 0
    for m in mappings:
        want = evaluate(arch, problem, m, tables=tables)
        got = evaluator(arch, problem, m, tables)
        assert (got.valid, got.cycles, got.energy_pj, got.area_um2, got.utilization) == (
            want.valid,
            want.cycles,
            want.energy_pj,
            want.area_um2,
            want.utilization,
        )
        assert got.edp == want.edp
        if not want.valid:
            invalid += 1
            assert invalid_reasons(arch, problem, m, tables) == "; ".join(want.reasons)
    assert invalid >= 20


def test_one_evaluator_per_inputs_least_recently_used_out() -> None:
    inp = load_model_inputs(input_files(CASES[0]))
    arch, tables = inp.architecture, inp.tables
    evaluators = CachedEvaluators(capacity=2)
    first = evaluators.evaluator(arch, inp.problem, tables)
    assert evaluators.evaluator(arch, inp.problem, tables) is first
    other = load_model_inputs(input_files(CASES[0]))  # equal, but other objects
    second = evaluators.evaluator(other.architecture, other.problem, other.tables)
    assert second is not first
    evaluators.evaluator(arch, inp.problem, tables)  # first is now the most recent
    third = load_model_inputs(input_files(CASES[0]))
    evaluators.evaluator(third.architecture, third.problem, third.tables)  # drops second
    assert evaluators.evaluator(arch, inp.problem, tables) is first
    assert evaluators.evaluator(other.architecture, other.problem, other.tables) is not second


def test_summaries_of_many_equal_one_at_a_time() -> None:
    """``summaries`` of items from several architectures and problems, valid and broken, in
    one call: the batched groups and the scalar ones give each item's own summary, in order."""
    items = []
    rng = np.random.default_rng(5)
    for case in CASES[:6]:
        inp = load_model_inputs(input_files(case))
        arch, problem, tables = inp.architecture, inp.problem, inp.tables
        mappings = [inp.mapping] + [random_mapping(arch, problem, rng) for _ in range(40)]
        mappings += [_break(m, rng) for m in mappings[:10]]
        items += [(arch, problem, m, tables) for m in mappings]
    order = rng.permutation(len(items))
    items = [items[i] for i in order]  # groups interleaved
    want = [CachedEvaluators()(*item) for item in items]
    batched = CachedEvaluators(min_batch=1)
    assert batched.summaries(items) == want
    assert batched.batched == len(items)
    assert sum(not s.valid for s in want) >= 60
    scalar = CachedEvaluators(min_batch=len(items) + 1)
    assert scalar.summaries(items) == want
    assert scalar.batched == 0


def test_summaries_batch_only_groups_of_min_batch() -> None:
    """Items of one (template, problem) go through the batched engine once there are
    ``min_batch`` of them in a call; a smaller group of another problem stays scalar."""
    big = load_model_inputs(input_files(CASES[0]))
    small = load_model_inputs(input_files(CASES[1]))
    rng = np.random.default_rng(6)
    items = [
        (
            big.architecture,
            big.problem,
            random_mapping(big.architecture, big.problem, rng),
            big.tables,
        )
        for _ in range(8)
    ] + [
        (
            small.architecture,
            small.problem,
            random_mapping(small.architecture, small.problem, rng),
            small.tables,
        )
        for _ in range(7)
    ]
    evaluators = CachedEvaluators(min_batch=8)
    assert evaluators.summaries(items) == [CachedEvaluators()(*item) for item in items]
    assert evaluators.batched == 8
