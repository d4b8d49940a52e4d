"""The CPU tree search: schedule moves stay legal, the prior reads the tiles as the CPU runs
them, MetaSchedule's cost model learns from measurements, and a real search measures only the
schedules it chooses, each once."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dcoc.records import RecordsDB, TargetKind
from dcoc.search.cpu_search import run_cpu_search
from dcoc.search.cpu_trials import CpuMctsSettings, CpuMethod, CpuSearchConfig
from dcoc.search.mcts import Lineage
from dcoc.search.schedule_moves import (
    HeuristicScheduleProposer,
    RandomScheduleProposer,
    ScheduleMoves,
    SchedulePrior,
    apply_move,
)
from dcoc.tvm.compute import einsum_spec
from dcoc.tvm.cost_model import ScheduleCostModel
from dcoc.tvm.design_space import (
    DesignPoint,
    DesignSpace,
    SlotKind,
    check_decisions,
    generate_design_space,
)
from dcoc.tvm.measure import MeasureSettings
from dcoc.tvm.target import host_target
from dcoc.workloads.catalog import resolve_workload


def space_of(workload: str) -> DesignSpace:
    return generate_design_space(einsum_spec(resolve_workload(workload).problem), host_target(1))


@pytest.fixture(scope="module")
def matmul_space() -> DesignSpace:
    return space_of("matmul:256,128,64")


@pytest.fixture(scope="module")
def conv_space() -> DesignSpace:
    return space_of("resnet18/C5")


@pytest.mark.parametrize("name", ["matmul_space", "conv_space"])
def test_local_moves_are_legal_distinct_and_one_step(
    name: str, request: pytest.FixtureRequest
) -> None:
    space: DesignSpace = request.getfixturevalue(name)
    moves = ScheduleMoves(space)
    rng = np.random.default_rng(0)
    for _ in range(20):
        point = space.random_point(rng)
        local = moves.local(point)
        assert local
        results = [apply_move(point, m) for m in local]
        assert len(set(results)) == len(results) and point not in results
        for move, new in zip(local, results, strict=True):
            sketch = space.sketches[new.sketch]
            assert check_decisions(sketch, new.decisions) == new.decisions
            if move.slot is None:
                assert new.decisions == point.decisions and new.sketch != point.sketch
                continue
            changed = [
                i
                for i, (a, b) in enumerate(zip(point.decisions, new.decisions, strict=True))
                if a != b
            ]
            assert changed == [move.slot]
            slot = sketch.slots[move.slot]
            before, after = point.decisions[move.slot], new.decisions[move.slot]
            if slot.kind is SlotKind.PERFECT_TILE:
                assert isinstance(before, tuple) and isinstance(after, tuple)
                assert math.prod(before) == math.prod(after)  # a factor moved, not made
                ratios = sorted(a / b for a, b in zip(after, before, strict=True) if a != b)
                assert len(ratios) == 2 and ratios[0] * ratios[1] == pytest.approx(1.0)
            else:
                assert isinstance(before, int) and isinstance(after, int)
                assert abs(before - after) == 1


def test_random_proposer_jumps_to_legal_points(matmul_space: DesignSpace) -> None:
    proposer = RandomScheduleProposer(ScheduleMoves(matmul_space))
    rng = np.random.default_rng(1)
    point = matmul_space.random_point(rng)
    proposals = proposer.propose(Lineage(point, None, ()), 8, rng)
    assert 1 <= len(proposals) <= 8
    for move in proposals:
        new = apply_move(point, move)
        assert new != point
        check_decisions(matmul_space.sketches[new.sketch], new.decisions)


def test_heuristic_proposer_ranks_by_the_prior_and_is_seeded(matmul_space: DesignSpace) -> None:
    moves = ScheduleMoves(matmul_space)
    prior = SchedulePrior(matmul_space, vector_bits=512)
    greedy = HeuristicScheduleProposer(moves, prior, explore=0.0)
    point = matmul_space.random_point(np.random.default_rng(2))
    node: Lineage[DesignPoint, object] = Lineage(point, None, ())
    proposals = greedy.propose(node, 4, np.random.default_rng(0))  # type: ignore[arg-type]
    best = max(prior.log_score(apply_move(point, m)) for m in moves.local(point))
    assert prior.log_score(apply_move(point, proposals[0])) == best
    scores = [prior.log_score(apply_move(point, m)) for m in proposals]
    assert scores == sorted(scores, reverse=True)
    mixed = HeuristicScheduleProposer(moves, prior)
    a = mixed.propose(node, 8, np.random.default_rng(5))  # type: ignore[arg-type]
    b = mixed.propose(node, 8, np.random.default_rng(5))  # type: ignore[arg-type]
    assert a == b and len(set(a)) == len(a) == 8


def _point(space: DesignSpace, tiles: dict[str, tuple[int, ...]], unroll: int) -> DesignPoint:
    sketch = space.sketches[0]
    decisions: list[int | tuple[int, ...]] = []
    for slot in sketch.slots:
        if slot.kind is SlotKind.PERFECT_TILE:
            decisions.append(tiles[slot.name])
        else:
            decisions.append(unroll)
    return DesignPoint(0, check_decisions(sketch, decisions))


def test_prior_reads_vectors_registers_and_caches(matmul_space: DesignSpace) -> None:
    """matmul 256x128x64 (M, N, K): N is the output's last dimension, so vectorized."""
    prior = SchedulePrior(matmul_space, vector_bits=512)  # 16 float lanes
    assert prior.lanes == 16
    # 8 x 32 register block: 2 vectors x 8 rows = 16 accumulators; small L1/L2 tiles
    good = _point(
        matmul_space, {"tile:m": (4, 8, 1, 8), "tile:n": (2, 2, 1, 32), "tile:k_r": (8, 8)}, 2
    )
    assert prior.tiles(good) == {"M": (4, 8, 1, 8), "N": (2, 2, 1, 32), "K": (8, 8)}
    assert prior.log_score(good) == 0.0 and prior(good) == 1.0
    # 8 of 16 lanes used: log 2 for the empty lanes; 8 accumulators: log2(12 / 8) below range
    half = _point(
        matmul_space, {"tile:m": (4, 8, 1, 8), "tile:n": (4, 4, 1, 8), "tile:k_r": (8, 8)}, 2
    )
    assert prior.log_score(half) == pytest.approx(-math.log(2) - math.log2(12 / 8))
    # one accumulator: log2(12) below the register range
    thin = _point(
        matmul_space, {"tile:m": (32, 8, 1, 1), "tile:n": (2, 4, 1, 16), "tile:k_r": (8, 8)}, 2
    )
    assert prior.log_score(thin) == pytest.approx(-math.log2(12))
    # the vector's row split at spatial level 2 (between the reduction levels) costs 1
    split = _point(
        matmul_space, {"tile:m": (4, 8, 1, 8), "tile:n": (2, 1, 2, 32), "tile:k_r": (8, 8)}, 2
    )
    assert prior.log_score(split) == pytest.approx(-1.0)
    # no explicit unrolling costs 0.1
    slot = next(s for s in matmul_space.sketches[0].slots if s.kind is SlotKind.CATEGORICAL)
    assert slot.candidates is not None and slot.candidates[0] == 0
    plain = _point(
        matmul_space, {"tile:m": (4, 8, 1, 8), "tile:n": (2, 2, 1, 32), "tile:k_r": (8, 8)}, 0
    )
    assert prior.log_score(plain) == pytest.approx(-0.1)


def test_prior_reads_a_convolution_window(conv_space: DesignSpace) -> None:
    """resnet18/C5: the output is (N, M, Q, P), so P is vectorized; the input's footprint of
    a tile spans P + R - 1 (stride 1)."""
    prior = SchedulePrior(conv_space, vector_bits=512)
    assert prior.vector_dimension == "P"
    extents = {"N": 1, "M": 1, "C": 1, "P": 4, "Q": 1, "R": 3, "S": 1}
    # inputs C x (Q+S-1) x (P+R-1) = 6, weights M x C x R x S = 3, outputs 4: 13 floats
    assert prior._footprint(extents) == 13 * 4


def test_cost_model_learns_which_schedules_are_fast(matmul_space: DesignSpace) -> None:
    """Trained on real schedules with latencies that the prior orders, the model ranks the
    training set's fastest above its slowest; it refuses to predict untrained."""
    prior = SchedulePrior(matmul_space, vector_bits=512)
    model = ScheduleCostModel(matmul_space.mod, matmul_space.target, seed=0)
    rng = np.random.default_rng(3)
    points = list({matmul_space.random_point(rng) for _ in range(40)})[:24]
    schedules = [matmul_space.apply(p) for p in points]
    with pytest.raises(RuntimeError, match="not been trained"):
        model.predict(schedules)
    latencies: list[float | None] = [1e-3 * math.exp(-prior.log_score(p)) for p in points]
    latencies[0] = None  # a failed measurement trains as MetaSchedule's 1e10 s
    model.update(schedules, latencies)
    assert model.samples == len(points)
    predicted = model.predict(schedules)
    assert predicted.shape == (len(points),) and np.isfinite(predicted).all()
    valid = [i for i, t in enumerate(latencies) if t is not None]
    fastest = min(valid, key=lambda i: latencies[i] or math.inf)
    slowest = max(valid, key=lambda i: latencies[i] or 0.0)
    if latencies[fastest] != latencies[slowest]:
        assert predicted[fastest] > predicted[slowest]
    assert predicted[0] <= predicted[fastest]


@pytest.mark.parametrize("method", [CpuMethod.MCTS, CpuMethod.MCTS_RANDOM])
def test_search_measures_what_it_chooses_once(method: CpuMethod, tmp_path: Path) -> None:
    """A real search (built, run and verified out of process): the trial budget exactly,
    distinct schedules, the prior ranking until the model has its samples, then the model."""
    workload = "matmul:64,64,32"
    config = CpuSearchConfig(
        workload=workload,
        method=method,
        trials=7,
        run_dir=tmp_path / "run",
        seed=0,
        settings=MeasureSettings(repeat=2, min_repeat_ms=2, run_timeout_s=8.0),
        mcts=CpuMctsSettings(simulations=16, measure_per_round=2, min_model_samples=4),
    )
    lines: list[str] = []
    result = run_cpu_search(config, lines.append)
    assert result.evaluations == 7 and result.best_latency_s is not None
    with RecordsDB.open(config.run_dir) as db:
        records = list(db.iterate(workload, method=str(method), target=TargetKind.CPU))
        (best,) = db.best(workload, 1, method=str(method), target=TargetKind.CPU)
    assert [r.trial for r in records] == list(range(7))
    points = [DesignPoint.from_json(r.design) for r in records]
    assert len(set(points)) == 7
    assert best.latency_s == result.best_latency_s and best.verified
    ranked_by = [r.design["ranked_by"] for r in records]
    assert ranked_by[:4] == ["prior"] * 4 and set(ranked_by[4:]) == {"cost_model"}
    proposer = "heuristic" if method is CpuMethod.MCTS else "random"
    assert {r.design["proposer"] for r in records} == {proposer}
    assert any("model on 4 measurements" in line for line in lines)
    # The stored path replays from its root to the fastest measured schedule.
    with RecordsDB.open(config.run_dir) as db:
        (path,) = db.search_paths(str(method))
    assert path.design["best_objective"] == best.latency_s
    assert DesignPoint.from_json(path.design["best"]) == DesignPoint.from_json(best.design)
    point = DesignPoint.from_json(path.design["root"])
    for step in path.steps:
        assert step["source"] == proposer
        after = DesignPoint.from_json(step["point"])
        if step["slot"] is None:
            assert after.sketch != point.sketch
        else:
            pairs = zip(point.decisions, after.decisions, strict=True)
            assert [i for i, (a, b) in enumerate(pairs) if a != b] == [step["slot"]]
            assert after.sketch == point.sketch
        point = after
    assert point == DesignPoint.from_json(best.design)


def test_cli_cpu_mcts_with_the_embedded_llm(tmp_path: Path) -> None:
    """``--proposer llm`` on the CPU with the shipped SmolLM2: the trial budget, the calls
    asked for, each recorded with the schedule's context, and the counts in ``--json``."""
    run_dir = tmp_path / "run"
    args = (
        "--target cpu --workload matmul:64,64,32 --method mcts --proposer llm --trials 4 "
        "--llm-calls 2 --llm-every 1 --json"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "dcoc.search", *args.split(), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["method"] == "mcts-llm" and out["evaluations"] == 4
    assert out["llm_calls"] == 2 and 0 <= out["llm_fallbacks"] <= 2
    assert sum(out["llm_verdicts"].values()) == 2 and out["llm_s_per_call"] > 0
    with RecordsDB.open(run_dir) as db:
        calls = db.llm_calls("mcts-llm")
        records = list(db.iterate("matmul:64,64,32", method="mcts-llm"))
    assert [c.call for c in calls] == [0, 1]
    assert all(
        "Current schedule" in c.prompt and "Legal transformations" in c.prompt for c in calls
    )
    assert all(c.backend.startswith("llama.cpp:") for c in calls)
    assert all(len(c.context["candidates"]) >= 2 for c in calls)
    assert {r.design["proposer"] for r in records} == {"llm"}
    explained = subprocess.run(
        [sys.executable, "-m", "dcoc.search", "explain", str(run_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert explained.returncode == 0, explained.stderr
    report = explained.stdout
    assert "## The language model" in report and "2 calls" in report
    assert "## The path to the tree's best design" in report
    assert "latency_s" in report
