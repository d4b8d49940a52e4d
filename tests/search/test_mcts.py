"""The tree search (a pure function over any states) and its accelerator co-design searcher:
UCB1 as the formula says, a known optimum found, seeded runs that replay, proposers that only
propose legal moves, and the exact budget spent and recorded."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from dcoc.records import RecordsDB
from dcoc.search.action_masks import mask_allows
from dcoc.search.design_moves import DesignMoves, DesignState, MoveKind
from dcoc.search.mcts import Lineage, MctsSettings, Tree, search, select_child, ucb1
from dcoc.search.methods import BASELINES, build_baseline
from dcoc.search.methods.mcts_search import DesignScorer, MctsSearch
from dcoc.search.network_search import (
    CoDesignProblem,
    NetworkSearchConfig,
    build_problem,
    run_network_search,
)
from dcoc.search.proposers import PROPOSERS, build_proposer
from dcoc.search.task import SearchTask

WORKLOAD = "resnet18/C5,resnet18/C8"
DESIGN_SPACE = "accel_specs/eyeriss_like.space.yaml"

# -- the tree search on a small synthetic problem ------------------------------------------------
Point = tuple[int, int]
GRID = 12
TARGET = (9, 4)


@dataclass(frozen=True)
class GridSteps:
    """Steps of one coordinate by +-1 (or +-3) inside a GRID x GRID grid, in random order."""

    def propose(self, node: Lineage[Point, Point], count: int, rng: np.random.Generator):
        x, y = node.state
        steps = [(dx, dy) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1), (3, 0), (0, 3))]
        legal = [s for s in steps if 0 <= x + s[0] < GRID and 0 <= y + s[1] < GRID]
        order = rng.permutation(len(legal))
        return [legal[int(i)] for i in order[:count]]


def _step(p: Point, s: Point) -> Point:
    return (p[0] + s[0], p[1] + s[1])


def _score(p: Point) -> float:
    """A peak at TARGET and a lesser one at (2, 10): greedy climbing from (5, 7) is torn."""
    main = -abs(p[0] - TARGET[0]) - abs(p[1] - TARGET[1])
    decoy = -4 - 0.5 * (abs(p[0] - 2) + abs(p[1] - 10))
    return max(main, decoy)


def _grid_search(seed: int, **settings: object) -> Tree[Point, Point]:
    defaults: dict[str, object] = {"branching": 4, "rollout_depth": 3, "num_simulations": 300}
    return search(
        (5, 7),
        MctsSettings(**{**defaults, **settings}),  # type: ignore[arg-type]
        proposer=GridSteps(),
        apply=_step,
        score=_score,
        rng=np.random.default_rng(seed),
    )


@pytest.mark.parametrize(
    "settings",
    [
        {"reroot_every": None},  # one tree: plain UCT
        {},  # re-rooted every 20 simulations
        {"reroot_every": None, "widening": 0.5, "branching": 2},
        {"reroot_every": None, "backup": "max"},
    ],
)
def test_tree_search_finds_the_known_optimum(settings: dict[str, object]) -> None:
    tree = _grid_search(0, **settings)
    assert tree.best_state == TARGET and tree.best_value == 0.0
    # the best path replays from the root to the optimum
    p = (5, 7)
    for s in tree.best_path:
        p = _step(p, s)
    assert p == TARGET
    assert tree.simulations == 300


def test_tree_statistics_add_up() -> None:
    tree = _grid_search(3, num_simulations=60, reroot_every=None)
    assert tree.visits[0] == 60  # every simulation passes the root
    for node in range(1, tree.num_nodes):
        kids = tree.children[node]
        # a node's visits: its own simulation plus those through its children
        assert tree.visits[node] >= sum(tree.visits[k] for k in kids)
        if tree.visits[node]:
            assert tree.value_maxes[node] <= tree.best_value
    assert all(len(k) <= 4 for k in tree.children)


def test_ucb1_follows_the_formula() -> None:
    q = np.array([0.5, 0.8, 0.2, 0.9])
    visits = np.array([2, 4, 1, 0])
    got = ucb1(q, visits, 7, 1.0)
    ln7 = math.log(7)
    expected = [0.5 + math.sqrt(ln7 / 2), 0.8 + math.sqrt(ln7 / 4), 0.2 + math.sqrt(ln7 / 1)]
    assert got[:3] == pytest.approx(expected)  # 1.4864, 1.4975, 1.5950
    assert got[3] == math.inf  # an unvisited child first
    assert ucb1(q[:3], visits[:3], 7, 0.0) == pytest.approx(q[:3])  # no exploration: greedy


def test_selection_normalizes_values_by_the_tree_range() -> None:
    tree: Tree[int, int] = Tree.of(0)
    for t, (n, total) in enumerate([(3, -30.0), (1, -14.0), (2, -36.0)]):
        k = tree.add_child(0, t)
        tree.visits[k], tree.value_sums[k] = n, total
    tree.visits[0] = 6
    tree.value_range = [-20.0, -10.0]
    # q = (mean - min) / (max - min): 1.0, 0.6, 0.2; bonus sqrt(ln 6 / n) = 0.77, 1.34, 0.95
    rng = np.random.default_rng(0)
    assert select_child(tree, 0, 1.0, rng) == 2  # 0.6 + 1.34 is the highest
    assert select_child(tree, 0, 0.1, rng) == 1  # 1.0 + 0.077 beats 0.6 + 0.134
    tree.value_maxes[1:] = [-5.0, -10.0, -20.0]
    assert select_child(tree, 0, 0.0, rng, backup="max") == 1


def test_tree_search_is_seeded() -> None:
    a, b = _grid_search(5, num_simulations=80), _grid_search(5, num_simulations=80)
    assert a.transformations == b.transformations and a.visits == b.visits
    c = _grid_search(6, num_simulations=80)
    assert a.transformations != c.transformations


def test_tree_search_stops_when_the_scorer_does() -> None:
    calls = []

    def limited(p: Point) -> float | None:
        if len(calls) == 25:
            return None
        calls.append(p)
        return _score(p)

    tree = search(
        (0, 0),
        MctsSettings(branching=3, rollout_depth=2),
        proposer=GridSteps(),
        apply=_step,
        score=limited,
        rng=np.random.default_rng(0),
    )
    assert len(calls) == 25 and tree.best_value == max(_score(p) for p in calls)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        MctsSettings(branching=0)
    with pytest.raises(ValueError):
        MctsSettings(backup="median")  # type: ignore[arg-type]


# -- the accelerator co-design -----------------------------------------------------------------
@pytest.fixture(scope="module")
def problem() -> CoDesignProblem:
    return build_problem(WORKLOAD, DESIGN_SPACE)


def _task(problem: CoDesignProblem, budget: int, records: RecordsDB | None = None) -> SearchTask:
    ls = problem.layer_set
    return SearchTask(
        problem.space, ls.counts, ls.keys, budget=budget, method="mcts", records=records
    )


def _assert_masked_in(problem: CoDesignProblem, state: DesignState) -> None:
    space = problem.space
    assert mask_allows(space.hw_mask(), space.hw_nvec, state.hw)
    ctx = space.hardware_context(state.hw)
    for li, (tile, order) in enumerate(zip(state.tiles, state.orders, strict=True)):
        assert mask_allows(space.tile_mask(ctx, li), space.tile_nvec, tile)
        factors = space.decode_tile(ctx, li, tile)
        assert mask_allows(space.order_mask(ctx, li, factors), space.order_nvec, order)


@pytest.mark.parametrize("name", sorted(PROPOSERS))
def test_proposers_propose_only_legal_transformations(problem: CoDesignProblem, name: str) -> None:
    moves = DesignMoves(problem.space)
    task = _task(problem, 10_000)
    scorer = DesignScorer(task)
    proposer = build_proposer(name, moves, scorer, counts=task.counts)
    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(6):
        state = moves.random_state(rng)
        for _ in range(4):  # a walk: states reached by the proposer's own moves
            value = scorer(state)
            assert value is not None
            proposed = proposer.propose(Lineage(state, value, ()), 8, rng)
            assert proposed and len(proposed) == len(set(proposed))
            for t in proposed:
                assert t.text  # a description for records and prompts
                kinds.add(t.kind)
                _assert_masked_in(problem, moves.apply(state, t))
            state = moves.apply(state, proposed[int(rng.integers(len(proposed)))])
        single = proposer.propose(Lineage(state, scorer(state), ()), 1, rng)
        assert len(single) == 1
        _assert_masked_in(problem, moves.apply(state, single[0]))
    assert MoveKind.TILE in kinds and MoveKind.KNOB in kinds


def test_knob_move_keeps_every_layer_legal(problem: CoDesignProblem) -> None:
    moves = DesignMoves(problem.space)
    rng = np.random.default_rng(2)
    for _ in range(10):
        state = moves.random_state(rng)
        for k in range(len(state.hw)):
            for v in moves.knob_values(state, k):
                new = moves.apply(state, moves.knob(state, k, v))
                assert new.hw[k] == v
                _assert_masked_in(problem, new)


def test_scorer_evaluates_only_what_changed(problem: CoDesignProblem) -> None:
    moves = DesignMoves(problem.space)
    task = _task(problem, 100)
    scorer = DesignScorer(task)
    rng = np.random.default_rng(4)
    state = moves.random_state(rng)
    first = scorer(state)
    assert first is not None and task.evaluations == 2
    assert scorer(state) == first and task.evaluations == 2  # seen: free
    local = [t for p in moves.tile_positions(1) for t in moves.factor_moves(state, 1, p)]
    scorer(moves.apply(state, local[0]))
    assert task.evaluations == 3  # one layer changed: one evaluation
    k = next(k for k in range(len(state.hw)) if moves.knob_values(state, k))
    scorer(moves.apply(state, moves.knob(state, k, moves.knob_values(state, k)[0])))
    assert task.evaluations == 5  # new hardware: every layer


@pytest.mark.parametrize("proposer", sorted(PROPOSERS))
def test_mcts_spends_exactly_the_budget_and_records_it(
    problem: CoDesignProblem, tmp_path: Path, proposer: str
) -> None:
    config = NetworkSearchConfig(WORKLOAD, "mcts", 150, tmp_path / "run", seed=1)
    result = run_network_search(config, build_baseline("mcts", proposer=proposer), problem=problem)
    assert result.evaluations == 150
    with RecordsDB.open(config.run_dir) as db:
        assert db.count(method="mcts") == 150
    assert result.best_edp is not None


def test_mcts_is_seeded(problem: CoDesignProblem) -> None:
    def run(seed: int) -> list[float]:
        ls = problem.layer_set
        task = SearchTask(problem.space, ls.counts, ls.keys, budget=80, method="mcts", seed=seed)
        MctsSearch("heuristic").search(task)
        return task.curve

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_registry_builds_mcts_with_a_proposer() -> None:
    assert "mcts" in BASELINES
    searcher = build_baseline("mcts", proposer="heuristic")
    assert isinstance(searcher, MctsSearch) and searcher.proposer == "heuristic"
    with pytest.raises(KeyError):
        build_baseline("mcts", proposer="oracle")
    with pytest.raises(ValueError):
        build_baseline("ga", proposer="heuristic")


def test_cli_runs_mcts_with_a_proposer(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    argv = [sys.executable, "-m", "dcoc.search", "--target", "accel", "--workload"]
    argv += ["resnet18/C5", "--method", "mcts", "--proposer", "heuristic", "--trials", "40"]
    out = subprocess.run(
        [*argv, "--run-dir", str(run_dir), "--json"], capture_output=True, text=True, check=True
    )
    summary = json.loads(out.stdout)
    assert summary["evaluations"] == 40 and summary["method"] == "mcts"
    assert summary["best_edp"] is not None and summary["run_dir"] == str(run_dir)
    bad = subprocess.run(
        [*argv[:-6], "--method", "ga", "--proposer", "heuristic", "--run-dir", str(tmp_path / "b")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "--proposer" in bad.stderr
