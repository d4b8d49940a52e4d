"""The cached ``Evaluator.summary`` (dcoc.accel.model.cached_evaluator) equals
``evaluate(...).summary()`` bit for bit: every reference case with random legal and broken
mappings under both stride rules with and without neighbour link transfers, mappings built to
use links, and random problems on the reference architectures with varied capacities,
bandwidths and energy/area tables."""

from __future__ import annotations

from dataclasses import astuple, replace
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_batched import _break, _varied_hardware
from test_closed_form import ARCH_CASES, small_problems
from test_link_transfers import LINEAR, sliding_cases
from timeloop_cases import CASES, input_files

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapper.random_mappings import random_mapping
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostSummary
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem


@cache
def _inputs(case: str) -> ModelInputs:
    return load_model_inputs(input_files(case))


def _bits(s: CostSummary) -> tuple[str, ...]:
    """Exact identity: repr tells 0.0 from -0.0 and prints floats round-trippably."""
    return tuple(repr(x) for x in astuple(s))


def _assert_same(
    arch: Architecture,
    problem: Problem,
    tables: EnergyTables,
    mappings: list[Mapping],
    *,
    legacy: bool,
    links: bool = True,
) -> int:
    """Every mapping's cached summary equals the full report's; the number of valid ones."""
    kw = {"legacy_translation": legacy, "link_transfers": links}
    ev = Evaluator(arch, problem, tables, **kw)
    valid = 0
    for m in mappings:
        want = evaluate(arch, problem, m, tables=tables, **kw).summary()
        assert _bits(ev.summary(m)) == _bits(want), m
        valid += want.valid
    return valid


@pytest.mark.parametrize("links", [True, False])
@pytest.mark.parametrize("legacy", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_reference_cases_random_and_broken_mappings(case: str, legacy: bool, links: bool) -> None:
    inp = _inputs(case)
    arch, problem = inp.architecture, inp.problem
    rng = np.random.default_rng(11)
    mappings = [inp.mapping] + [random_mapping(arch, problem, rng) for _ in range(40)]
    mappings += [_break(m, rng) for m in mappings[:10]]
    valid = _assert_same(arch, problem, inp.tables, mappings, legacy=legacy, links=links)
    assert 0 < valid < len(mappings)


@settings(max_examples=60, deadline=None)
@given(
    problem=small_problems(),
    case=st.sampled_from(ARCH_CASES),
    seed=st.integers(0, 2**32 - 1),
    legacy=st.booleans(),
    links=st.booleans(),
)
def test_random_problems_and_hardware(
    problem: Problem, case: str, seed: int, legacy: bool, links: bool
) -> None:
    inp = _inputs(case)
    rng = np.random.default_rng(seed)
    arch, tables = _varied_hardware(inp.architecture, inp.tables, rng)
    mappings = [random_mapping(arch, problem, rng) for _ in range(10)]
    mappings += [_break(m, rng) for m in mappings[:4]]
    _assert_same(arch, problem, tables, mappings, legacy=legacy, links=links)


@settings(max_examples=80, deadline=None)
@given(sliding_cases(), st.booleans())
def test_mappings_built_to_use_links(case: tuple[Problem, Mapping], legacy: bool) -> None:
    """Windows sliding across spatial neighbours: linked entries and peer accesses, under
    every keep/bypass mask of the data spaces (bypass rescales the linked entries)."""
    problem, mapping = case
    inp = _inputs(LINEAR)
    nl, nds = len(mapping.levels), len(problem.data_spaces)
    variants = [mapping]
    for ds in range(nds):
        for mask in range(1, 2**nl):
            levels = tuple(
                replace(lm, keep=tuple(k if s != ds else bool(mask >> li & 1) for s, k in kept))
                for li, lm in enumerate(mapping.levels)
                for kept in [list(enumerate(lm.keep))]
            )
            variants.append(Mapping(levels))
    _assert_same(inp.architecture, problem, inp.tables, variants, legacy=legacy)


def test_tile_sizes_memo_is_bounded() -> None:
    """The memo of tile sizes is emptied when full, and the numbers stay those of the report."""
    inp = _inputs("06-eyeriss-vgg02-layer5")
    arch, problem = inp.architecture, inp.problem
    ev = Evaluator(arch, problem, inp.tables)
    ev.SIZES_MEMO = 8
    rng = np.random.default_rng(2)
    for m in [inp.mapping] + [random_mapping(arch, problem, rng) for _ in range(30)]:
        want = evaluate(arch, problem, m, tables=inp.tables).summary()
        assert _bits(ev.summary(m)) == _bits(want)
        assert len(ev.sizes_memo) <= 8
