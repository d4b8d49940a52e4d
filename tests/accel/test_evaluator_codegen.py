"""The generated, specialized ``Evaluator.summary`` (dcoc.accel.model.summary_codegen) is
bit-identical to the generic code: every reference case with random legal and broken mappings
under both stride rules with and without neighbour link transfers, mappings built to use
links, and random problems on the reference architectures with varied capacities, bandwidths
and energy/area tables."""

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

from dcoc.accel.mapper.random_mappings import random_mapping
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.report import CostSummary
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.workloads.problem import Problem


@cache
def _inputs(case: str) -> ModelInputs:
    return load_model_inputs(input_files(case))


def _bits(s: CostSummary) -> tuple[str, ...]:
    """Exact identity: repr tells 0.0 from -0.0 and prints floats round-trippably."""
    return tuple(repr(x) for x in astuple(s))


def _assert_same(generic: Evaluator, generated: Evaluator, mappings: list[Mapping]) -> int:
    assert generated.generated_source  # compile now rather than after COMPILE_AFTER calls
    valid = 0
    for m in mappings:
        want = generic.summary(m)
        got = generated.summary(m)
        assert _bits(got) == _bits(want), m
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
    kw = {"legacy_translation": legacy, "link_transfers": links}
    generic = Evaluator(arch, problem, inp.tables, generated=False, **kw)
    generated = Evaluator(arch, problem, inp.tables, **kw)
    assert _assert_same(generic, generated, mappings) > 0
    assert generated._generated is not None
    assert generic._generated is None  # the reference really ran the generic code


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
    kw = {"legacy_translation": legacy, "link_transfers": links}
    _assert_same(
        Evaluator(arch, problem, tables, generated=False, **kw),
        Evaluator(arch, problem, tables, **kw),
        mappings,
    )


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
    kw = {"legacy_translation": legacy}
    _assert_same(
        Evaluator(inp.architecture, problem, inp.tables, generated=False, **kw),
        Evaluator(inp.architecture, problem, inp.tables, **kw),
        variants,
    )


def test_generated_code_is_compiled_after_a_few_mappings() -> None:
    inp = _inputs("06-eyeriss-vgg02-layer5")
    ev = Evaluator(inp.architecture, inp.problem, inp.tables)
    generic = Evaluator(inp.architecture, inp.problem, inp.tables, generated=False)
    for _ in range(Evaluator.COMPILE_AFTER - 1):
        assert ev.summary(inp.mapping) == generic.summary(inp.mapping)
    assert ev._generated is None
    assert _bits(ev.summary(inp.mapping)) == _bits(generic.summary(inp.mapping))
    assert ev._generated is not None


def test_generated_source_is_inspectable() -> None:
    inp = _inputs("06-eyeriss-vgg02-layer5")
    ev = Evaluator(inp.architecture, inp.problem, inp.tables)
    source = ev.generated_source
    assert source.startswith("def summary(mapping):")
    for li, lv in enumerate(inp.architecture.storage):
        assert f"# -- level {li}: " in source
        assert lv.name not in source  # levels appear as indices only (test_hostile_names)
    assert "link_accesses(" in source  # links on
    compile(source, "<test>", "exec")
    nolinks = Evaluator(inp.architecture, inp.problem, inp.tables, link_transfers=False)
    assert "link" not in nolinks.generated_source
