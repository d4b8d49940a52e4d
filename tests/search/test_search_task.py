"""The one search interface: the shared budget counter, records that replay on their own, the
genome's legality, and the in-process baselines that run on it."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dcoc.accel.evaluator import CachedEvaluators
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.spec.mapping import parse_mapping
from dcoc.records import RecordsDB
from dcoc.search.action_masks import mask_allows
from dcoc.search.genome import GenomeDecoder
from dcoc.search.methods import BASELINES, build_baseline
from dcoc.search.network_search import (
    CoDesignProblem,
    NetworkSearchConfig,
    build_problem,
    run_network_search,
)
from dcoc.search.task import SearchTask

WORKLOAD = "resnet18/C5,resnet18/C8"
DESIGN_SPACE = "accel_specs/eyeriss_like.space.yaml"


@pytest.fixture(scope="module")
def problem() -> CoDesignProblem:
    return build_problem(WORKLOAD, DESIGN_SPACE)


def _task(problem, budget: int, seed: int = 0, records: RecordsDB | None = None) -> SearchTask:
    ls = problem.layer_set
    return SearchTask(
        problem.space, ls.counts, ls.keys, budget=budget, method="m", seed=seed, records=records
    )


def test_genome_decodes_to_masked_in_designs(problem: CoDesignProblem) -> None:
    space = problem.space
    decoder = GenomeDecoder(space)
    rng = np.random.default_rng(3)
    for _ in range(20):
        genes = decoder.random(rng)
        proposal = decoder.decode(genes)
        assert mask_allows(space.hw_mask(), space.hw_nvec, proposal.hw)
        ctx = space.hardware_context(proposal.hw)
        for lp in proposal.layers:
            assert mask_allows(space.tile_mask(ctx, lp.layer), space.tile_nvec, lp.tile)
            factors = space.decode_tile(ctx, lp.layer, lp.tile)
            assert mask_allows(space.order_mask(ctx, lp.layer, factors), space.order_nvec, lp.order)
            assert lp.mapping == space.decode(ctx, lp.layer, lp.tile, lp.order)
        # encode gives genes that decode to the same design
        again = decoder.decode(decoder.encode(proposal))
        assert again.hw == proposal.hw
        assert [(lp.tile, lp.order) for lp in again.layers] == [
            (lp.tile, lp.order) for lp in proposal.layers
        ]


def test_task_counts_every_evaluation_and_stops_at_the_budget(
    problem: CoDesignProblem, tmp_path: Path
) -> None:
    decoder = GenomeDecoder(problem.space)
    with RecordsDB.open(tmp_path) as db:
        task = _task(problem, 5, records=db)
        rng = np.random.default_rng(0)
        out = task.evaluate([decoder.decode(decoder.random(rng)) for _ in range(4)])
        # 2 layers per design: two complete designs, then one cut short by the budget
        assert [len(o.layers) for o in out] == [2, 2, 1]
        assert not out[-1].complete and math.isinf(out[-1].objective)
        assert task.evaluations == 5 and task.exhausted and task.remaining == 0
        assert task.evaluate([decoder.decode(decoder.random(rng))]) == []
        assert db.count(method="m") == 5
        assert len(task.curve) == 5


def test_outcomes_equal_the_full_model(problem: CoDesignProblem) -> None:
    space = problem.space
    decoder = GenomeDecoder(space)
    task = _task(problem, 400)
    rng = np.random.default_rng(1)
    checked = 0
    while not task.exhausted:
        for outcome in task.evaluate([decoder.decode(decoder.random(rng))]):
            ctx = space.hardware_context(outcome.proposal.hw)
            for r in outcome.layers:
                report = evaluate(ctx.arch, space.problems[r.layer], r.mapping, tables=ctx.tables)
                assert r.valid == (report.valid and ctx.fits_budget)
                if report.valid:
                    assert r.cycles == report.cycles
                    assert r.energy_pj == report.energy_pj
                checked += 1
    assert checked == 400


@pytest.mark.parametrize("method", ["ga", "decoupled"])
def test_batched_evaluation_changes_no_result(method: str, tmp_path: Path) -> None:
    """A search whose evaluations all go through the batched engine (``min_batch=1``) and one
    whose evaluations all go one at a time see the same numbers: same curve, same records."""
    curves, rows = [], []
    for min_batch in (1, 10**9):
        problem = build_problem(WORKLOAD, DESIGN_SPACE)
        problem.space.evaluator = CachedEvaluators(min_batch=min_batch)
        run_dir = tmp_path / f"run{min_batch}"
        config = NetworkSearchConfig(WORKLOAD, method, 300, run_dir, seed=2)
        result = run_network_search(config, build_baseline(method), problem=problem)
        assert problem.space.evaluator.batched == (300 if min_batch == 1 else 0)
        curves.append(result.curve)
        with RecordsDB.open(run_dir) as db:
            rows.append(
                [(r.valid, r.cycles, r.energy_pj, r.design["mapping"]) for r in db.iterate()]
            )
    assert curves[0] == curves[1]
    assert rows[0] == rows[1] and len(rows[0]) == 300


def test_records_replay_on_their_own(problem: CoDesignProblem, tmp_path: Path) -> None:
    """A record holds the hardware configuration and the mapping as Timeloop YAML: the design
    space file and the record alone give the same numbers again."""
    config = NetworkSearchConfig(WORKLOAD, "random", 40, tmp_path / "run", seed=4)
    run_network_search(config, build_baseline("random"), problem=problem)
    space = problem.space
    ds = space.design_space
    with RecordsDB.open(config.run_dir) as db:
        records = list(db.iterate(method="random"))
    assert len(records) == 40
    for record in records:
        hw = tuple(ds.encode(ds.decode(record.design["hw_action"])))
        assert ds.decode(hw).as_dict() == record.design["hw"]
        arch = ds.architecture(ds.decode(hw))
        li = record.design["layer_index"]
        mapping = parse_mapping(record.design["mapping"], arch, space.problems[li])
        report = evaluate(
            arch, space.problems[li], mapping, tables=space.hardware_context(hw).tables
        )
        if record.valid:
            assert (report.cycles, report.energy_pj) == (record.cycles, record.energy_pj)


def test_best_design_files_evaluate_with_the_cli(problem: CoDesignProblem, tmp_path: Path) -> None:
    config = NetworkSearchConfig(WORKLOAD, "ga", 120, tmp_path / "run", seed=0)
    result = run_network_search(config, build_baseline("ga"), problem=problem)
    assert result.best_edp is not None
    best = config.run_dir / "best"
    design = json.loads((best / "design.json").read_text())
    cycles = energy = 0.0
    for layer in design["layers"]:
        i = layer["index"]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "dcoc.accel",
                "evaluate",
                str(best / "architecture.yaml"),
                str(best / f"{i}.problem.yaml"),
                str(best / f"{i}.mapping.yaml"),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        cycles += layer["count"] * out["cycles"]
        energy += layer["count"] * out["energy_pj"]
    assert cycles == pytest.approx(result.best_cycles, rel=1e-12)
    assert energy == pytest.approx(result.best_energy_pj, rel=1e-9)


@pytest.mark.parametrize("method", ["random", "ga", "sa"])
def test_baselines_spend_the_budget_and_replay(
    method: str, problem: CoDesignProblem, tmp_path: Path
) -> None:
    results = []
    for run in ("a", "b"):
        config = NetworkSearchConfig(WORKLOAD, method, 90, tmp_path / run, seed=7)
        results.append(run_network_search(config, build_baseline(method), problem=problem))
    a, b = results
    assert a.evaluations == 90 and a.best_edp is not None
    assert a.best_edp == b.best_edp and a.curve == b.curve  # seeded: the same search twice
    assert list(a.curve) == sorted(a.curve, reverse=True)  # best-so-far never gets worse
    with RecordsDB.open(tmp_path / "a") as db:
        assert db.count(method=method) == 90
        assert db.failed_count(method=method) == a.failed


def test_every_baseline_is_registered() -> None:
    assert set(BASELINES) == {
        "random",
        "ga",
        "sa",
        "tpe",
        "cma",
        "de",
        "pso",
        "decoupled",
        "mcts",
        "mcts-llm",
    }
    with pytest.raises(KeyError, match="unknown baseline"):
        build_baseline("nope")
