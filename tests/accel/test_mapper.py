"""The mapper against Timeloop's mapper references (05, 06) and the ``map`` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from mapper_cases import EYERISS, FREEBYPASS, MAPPER_DATA, NULL, case_files, load_case
from timeloop_cases import input_files

from dcoc.accel.mapper.search import (
    MapperConfig,
    MapperProgress,
    SearchAlgorithm,
    objective_values,
    search_mapspace,
)
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostReport
from dcoc.accel.spec.inputs import load_model_inputs
from dcoc.objective import Objective

DELAY_ENERGY = (Objective.LATENCY, Objective.ENERGY)  # the 05 and 06 reference runs' metrics


def test_exhaustive_freebypass_matches_timeloop() -> None:
    case = load_case(FREEBYPASS)
    ref = case.evaluator()([case.inputs.mapping])[0]
    assert ref.energy_pj == pytest.approx(case.total_energy_pj, rel=1e-12)
    config = MapperConfig(SearchAlgorithm.EXHAUSTIVE, DELAY_ENERGY, None, victory_condition=0)
    result = search_mapspace(case.space, case.evaluator(), config)
    assert result.exhausted and result.evaluations == 64 == result.valid_evaluations
    assert result.best_report is not None
    # at least as good as Timeloop's linear-pruned pick: here exactly its energy (46485.48 pJ)
    assert result.best_objective <= objective_values(ref, DELAY_ENERGY)
    assert result.best_report.energy_pj == pytest.approx(case.total_energy_pj, rel=1e-12)


def test_exhaustive_null_beats_timeloop() -> None:
    case = load_case(NULL)
    ref = case.evaluator()([case.inputs.mapping])[0]
    assert ref.energy_pj == pytest.approx(case.total_energy_pj, rel=1e-12)  # 361759.49 pJ
    config = MapperConfig(SearchAlgorithm.EXHAUSTIVE, DELAY_ENERGY, 1500, victory_condition=0)
    result = search_mapspace(case.space, case.evaluator(), config)
    assert result.evaluations == 1500 and not result.exhausted
    assert result.best_report is not None and result.best_report.cycles == 1536
    # Timeloop kept everything in DRAM; keeping tiles on chip costs far less.
    assert result.best_report.energy_pj < 0.5 * ref.energy_pj


@pytest.mark.parametrize(
    ("metric", "factor"),
    [
        # Timeloop's 06 run minimized delay first; optimizing energy alone, 1500 evaluations
        # find a lower energy than its mapping (0.78-0.83x over seeds 0-2).
        (Objective.ENERGY, 1.0),
        # EDP within 2.5x of the reference's EDP (seen: 1.4-1.9x over seeds 0-2).
        (Objective.EDP, 2.5),
    ],
)
def test_random_pruned_eyeriss_is_close_to_timeloop(metric: Objective, factor: float) -> None:
    case = load_case(EYERISS)
    ref = case.evaluator()([case.inputs.mapping])[0]
    config = MapperConfig(metrics=(metric,), max_evaluations=1500, victory_condition=0, seed=0)
    result = search_mapspace(case.space, case.batched(), config)
    assert result.best_report is not None and result.best_report.valid
    assert result.best_objective is not None
    assert result.best_objective[0] <= factor * ref.objective(metric)
    assert result.evaluations == 1500
    assert case.space.violations(result.best_point) == []  # type: ignore[arg-type]


def test_stopping_rules_and_progress() -> None:
    case = load_case("ex-simple_weight_stationary")
    seen: list[MapperProgress] = []
    config = MapperConfig(max_evaluations=None, victory_condition=30, batch_size=8)
    result = search_mapspace(case.space, case.evaluator(), config, progress=seen.append)
    assert result.stop_reason.startswith("victory")
    assert seen and seen[-1].evaluations == result.evaluations
    bests = [p.best_objective for p in seen if p.best_objective is not None]
    assert bests == sorted(bests, reverse=True)  # never gets worse
    budget = search_mapspace(
        case.space, case.evaluator(), MapperConfig(max_evaluations=50, victory_condition=0)
    )
    assert budget.evaluations == 50 and "budget" in budget.stop_reason
    timed = search_mapspace(
        case.space,
        case.evaluator(),
        MapperConfig(max_evaluations=None, victory_condition=0, timeout_s=0.5),
    )
    assert "time limit" in timed.stop_reason and timed.elapsed_s < 5


@pytest.mark.parametrize("name", [NULL, EYERISS, "ex-simba_like"])
def test_batched_evaluator_gives_the_model_reports(name: str) -> None:
    case = load_case(name)
    rng = np.random.default_rng(4)
    mappings = [case.space.mapping(case.space.sample(rng)) for _ in range(60)]
    mappings.append(case.inputs.mapping)
    scalar, batched = case.evaluator()(mappings), case.batched()(mappings)
    assert [r.valid for r in scalar] == [r.valid for r in batched]
    assert any(r.valid for r in scalar)
    for s, b in zip(scalar, batched, strict=True):
        if s.valid:
            assert s == b  # every count, energy, cycle and level record


def test_evaluator_is_a_parameter() -> None:
    case = load_case(NULL)
    calls: list[int] = []
    inner = case.evaluator()

    def counting(mappings: Sequence[Mapping]) -> Sequence[CostReport]:
        calls.append(len(mappings))
        return inner(mappings)

    config = MapperConfig(max_evaluations=40, victory_condition=0, seed=3)
    result = search_mapspace(case.space, counting, config)
    assert sum(calls) == result.evaluations == 40
    again = search_mapspace(case.space, case.evaluator(), config)
    assert again.best_objective == result.best_objective  # same seed, same search


def test_lexicographic_metrics_and_last_level_accesses() -> None:
    case = load_case(FREEBYPASS)
    ref = case.evaluator()([case.inputs.mapping])[0]
    # MainMemory: Weights 96 reads, Inputs 18 reads, Outputs 512 updates (per instance, 1 inst.)
    assert ref.objective(Objective.LAST_LEVEL_ACCESSES) == 96 + 18 + 512
    assert objective_values(ref, DELAY_ENERGY) == (1536.0, ref.energy_pj)
    assert ref.objective(Objective.EDP) == ref.energy_pj * 1536


# ---------------------------------------------------------------------------------------------
# CLI


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcoc.accel", "map", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_map_writes_a_mapping_that_evaluates_the_same(tmp_path: Path) -> None:
    files = case_files(FREEBYPASS)
    out = tmp_path / "out"
    proc = run_cli(
        *files,
        MAPPER_DATA / "exhaustive.mapper.yaml",
        "--out",
        out,
        "--json",
        "--legacy-translation",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {
        "valid",
        "best_edp",
        "energy_pj",
        "cycles",
        "evaluations",
        "valid_evaluations",
        "pruned",
        "elapsed_s",
        "mapspace_size",
        "stop_reason",
        "mapping_file",
        "stats_file",
        "metrics",
        "objective",
    } <= set(data)
    assert data["metrics"] == ["delay", "energy"]  # from exhaustive.mapper.yaml
    assert data["mapspace_size"] == 64 and data["evaluations"] == 64
    assert data["energy_pj"] == pytest.approx(46485.482548, rel=1e-9)
    assert "Mapspace size: 64" in Path(data["stats_file"]).read_text()
    inputs = load_model_inputs([*files[:-1], data["mapping_file"]])
    report = evaluate(
        inputs.architecture,
        inputs.problem,
        inputs.mapping,
        tables=inputs.tables,
        legacy_translation=True,
    )
    assert report.energy_pj == pytest.approx(data["energy_pj"], rel=1e-12)


def test_cli_map_with_a_named_workload(tmp_path: Path) -> None:
    arch = [p for p in case_files(EYERISS) if p.name.endswith("arch.yaml")]
    proc = run_cli(
        *arch,
        "--workload",
        "resnet18/C5",
        "--budget",
        "60",
        "--metric",
        "energy",
        "--out",
        tmp_path,
        "--json",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["valid"] and data["evaluations"] <= 60
    assert (tmp_path / "timeloop-mapper.map.yaml").is_file()
    assert proc.stderr == ""
    replay = load_model_inputs([*arch, data["problem_file"], data["mapping_file"]])
    report = evaluate(replay.architecture, replay.problem, replay.mapping, tables=replay.tables)
    assert report.energy_pj == pytest.approx(data["energy_pj"], rel=1e-12)


def test_cli_exit_1_when_nothing_fits(tmp_path: Path) -> None:
    files = [p for p in case_files(NULL) if not p.name.endswith("constraints.yaml")]
    impossible = tmp_path / "c.yaml"
    impossible.write_text(
        "mapspace_constraints:\n  targets:\n"
        "  - {target: RegisterFile, type: temporal, factors: K=32 R=3 P=16}\n"
        "  - {target: RegisterFile, type: bypass, keep: [Weights, Inputs, Outputs]}\n"
        "mapper: {timeout: 200}\n"
    )
    proc = run_cli(*files, impossible, "--out", tmp_path, "--json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["valid"] is False and "pruned" in data["stop_reason"]
    assert not (tmp_path / "timeloop-mapper.map.yaml").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("mapspace_constraints: {targets: [{target: Nope, type: temporal}]}\n", "unknown level"),
        ("mapper: {optimization_metrics: [speed]}\n", "unknown metric"),
        ("mapper: {algorithm: annealing}\n", "unknown algorithm"),
        ("mapper: {algorithm: random_pruned, victory_condition: 0}\n", "never stop"),
    ],
)
def test_cli_bad_inputs_exit_2_on_one_line(tmp_path: Path, extra: str, message: str) -> None:
    files = [p for p in case_files(NULL) if not p.name.endswith("constraints.yaml")]
    bad = tmp_path / "bad.yaml"
    bad.write_text(extra)
    proc = run_cli(*files, bad, "--out", tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and str(bad) in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_cli_refuses_a_mapping_file(tmp_path: Path) -> None:
    proc = run_cli(*input_files(NULL), "--out", tmp_path)  # includes the reference mapping
    assert proc.returncode == 2 and "drop the mapping file" in proc.stderr


def test_load_mapper_inputs_reads_timeloop_mapper_settings() -> None:
    from dcoc.accel.mapper.inputs import MapperOverrides, load_mapper_inputs

    files = [*case_files(EYERISS), MAPPER_DATA / "eyeriss.mapper.yaml"]
    inputs = load_mapper_inputs(files)
    c = inputs.config
    assert c.algorithm == SearchAlgorithm.RANDOM_PRUNED
    assert c.metrics == DELAY_ENERGY
    assert (c.victory_condition, c.max_consecutive_rejections) == (500, 15000)
    assert c.max_permutations_per_if_visit == 16 and c.max_evaluations is None
    assert inputs.space.size == load_case(EYERISS).space.size
    over = load_mapper_inputs(
        files, overrides=MapperOverrides(algorithm="exhaustive", metrics=("edp",), seed=7)
    )
    assert over.config.algorithm == SearchAlgorithm.EXHAUSTIVE
    assert (over.config.metrics, over.config.seed) == ((Objective.EDP,), 7)
    null = load_mapper_inputs([*case_files(NULL), MAPPER_DATA / "exhaustive.mapper.yaml"])
    assert null.config.algorithm == SearchAlgorithm.EXHAUSTIVE  # Timeloop's linear_pruned
    assert null.config.victory_condition == 0


def test_climb_beats_timeloop_on_eyeriss_edp() -> None:
    case = load_case(EYERISS)
    ref = case.evaluator()([case.inputs.mapping])[0]
    config = MapperConfig(
        SearchAlgorithm.CLIMB, (Objective.EDP,), max_evaluations=4000, victory_condition=0
    )
    result = search_mapspace(case.space, case.batched(), config)
    assert result.evaluations == 4000 and result.best_mapping is not None
    # dcoc's extension reaches a lower EDP than Timeloop's mapping: 0.68-0.75x over seeds 0-3
    assert result.best_report is not None and result.best_report.edp < 0.9 * ref.edp
    rescored = case.evaluator()([result.best_mapping])[0]  # the scalar model agrees
    assert rescored == result.best_report


def test_climb_without_budget_stops_at_local_optima() -> None:
    case = load_case(NULL)
    config = MapperConfig(
        SearchAlgorithm.CLIMB, DELAY_ENERGY, max_evaluations=None, victory_condition=50
    )
    result = search_mapspace(case.space, case.batched(), config)
    assert result.stop_reason == "local optima of every start reached"
    plain = search_mapspace(
        case.space,
        case.batched(),
        MapperConfig(max_evaluations=None, victory_condition=50, metrics=DELAY_ENERGY),
    )
    assert result.best_objective is not None and plain.best_objective is not None
    assert result.best_objective <= plain.best_objective  # climbing only improves on samples


@pytest.mark.timeout(60)
def test_climb_rounds_count_victory_afresh() -> None:
    """With a victory condition and more budget than one round's climbs use, every round
    samples again (the count carried over from the last climb once stopped each later round's
    sampling before its first draw, and the search looped without evaluating)."""
    case = load_case(FREEBYPASS)  # 64 points: the first round's climbs end early
    config = MapperConfig(SearchAlgorithm.CLIMB, (Objective.EDP,), 300, victory_condition=5)
    result = search_mapspace(case.space, case.evaluator(), config)
    assert result.stop_reason == "evaluation budget of 300 reached"
    assert result.evaluations == 300
