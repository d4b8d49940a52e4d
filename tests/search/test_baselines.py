"""The library baselines (optuna's TPE, nevergrad's CMA-ES/DE/PSO) and the decoupled
hardware-then-mapper flow on the one search interface: each spends exactly its budget through
the task, finds a complete design, and repeats itself for a seed."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

from dcoc.accel.model.evaluation import evaluate
from dcoc.records import RecordsDB
from dcoc.search.methods import build_baseline
from dcoc.search.methods.decoupled import DecoupledSearch
from dcoc.search.methods.nevergrad_search import NevergradSearch
from dcoc.search.network_search import (
    CoDesignProblem,
    NetworkSearchConfig,
    NetworkSearchResult,
    build_problem,
    run_network_search,
)
from dcoc.search.task import SearchTask

WORKLOAD = "resnet18/C5,resnet18/C8"
DESIGN_SPACE = "accel_specs/eyeriss_like.space.yaml"
BUDGET = 200
METHODS = ["tpe", "cma", "de", "pso", "decoupled"]


@pytest.fixture(scope="module")
def problem() -> CoDesignProblem:
    return build_problem(WORKLOAD, DESIGN_SPACE)


def _run(problem: CoDesignProblem, method: str, run_dir: Path, seed: int) -> NetworkSearchResult:
    config = NetworkSearchConfig(WORKLOAD, method, BUDGET, run_dir, seed=seed)
    return run_network_search(config, build_baseline(method), problem=problem)


@pytest.mark.parametrize("method", METHODS)
def test_spends_the_budget_finds_a_design_and_repeats(
    method: str, problem: CoDesignProblem, tmp_path: Path
) -> None:
    a = _run(problem, method, tmp_path / "a", seed=3)
    b = _run(problem, method, tmp_path / "b", seed=3)
    assert a.evaluations == BUDGET
    assert a.best_edp is not None and a.best_hw is not None
    with RecordsDB.open(tmp_path / "a") as db:
        assert db.count(method=method) == BUDGET
        assert db.failed_count(method=method) == a.failed
    assert (a.best_edp, a.curve) == (b.best_edp, b.curve)  # seeded: the same search twice
    c = _run(problem, method, tmp_path / "c", seed=4)
    assert c.curve != a.curve  # and the seed matters


@pytest.mark.parametrize("budget", [1, 7, 131])
def test_the_task_counter_ends_every_search(problem: CoDesignProblem, budget: int) -> None:
    """Budgets that are not a multiple of the layers (the last design cut short) or smaller
    than one design are still spent exactly."""
    ls = problem.layer_set
    for method in METHODS:
        task = SearchTask(problem.space, ls.counts, ls.keys, budget=budget, method=method)
        build_baseline(method).search(task)
        assert task.evaluations == budget, method


def test_decoupled_maps_few_configurations_through_the_task(
    problem: CoDesignProblem, tmp_path: Path
) -> None:
    """Every mapper call is a task evaluation on one of the swept configurations, and the
    records carry the tile/order actions of the mapper's mappings."""
    searcher = DecoupledSearch(per_layer_budget=50)
    config = NetworkSearchConfig(WORKLOAD, "decoupled", BUDGET, tmp_path, seed=1)
    result = run_network_search(config, searcher, problem=problem)
    assert result.evaluations == BUDGET
    with RecordsDB.open(tmp_path) as db:
        records = list(db.iterate(method="decoupled"))
    configurations = {tuple(r.design["hw_action"]) for r in records}
    assert len(configurations) == BUDGET // (2 * 50)
    # per configuration and layer one mapper run of an even share of the budget
    runs = [(tuple(r.design["hw_action"]), r.design["layer_index"]) for r in records]
    assert all(runs.count(run) == 50 for run in set(runs))
    with_actions = [r for r in records if r.design["tile_action"]]
    assert len(with_actions) > 0.9 * BUDGET
    space = problem.space
    for r in with_actions[::20]:  # the actions decode to a mapping of the same cost
        ctx = space.hardware_context(r.design["hw_action"])
        li = r.design["layer_index"]
        mapping = space.decode(ctx, li, r.design["tile_action"], r.design["order_action"])
        report = evaluate(ctx.arch, space.problems[li], mapping, tables=ctx.tables)
        assert report.valid == r.valid
        if r.valid:
            assert (report.cycles, report.energy_pj) == (r.cycles, r.energy_pj)


def test_nevergrad_rejects_an_unknown_optimizer() -> None:
    with pytest.raises(ValueError, match="unknown optimizer"):
        NevergradSearch("bfgs")


def test_tpe_leaves_logging_as_it_found_it(problem: CoDesignProblem) -> None:
    root = logging.getLogger()
    before = (root.level, list(root.handlers), optuna.logging.get_verbosity())
    ls = problem.layer_set
    task = SearchTask(problem.space, ls.counts, ls.keys, budget=20, method="tpe")
    build_baseline("tpe").search(task)
    assert (root.level, list(root.handlers), optuna.logging.get_verbosity()) == before
