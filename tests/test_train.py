"""End-to-end runs of ``python -m dcoc.train`` in a temporary run directory: every promised
file, summary.json's keys, the best design re-evaluated by the accel CLI, --resume continuing
with the records intact, and a tiny TVM CPU-schedule run."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

TINY = [
    "train.iterations=1",
    "train.checkpoint_every=1",
    "agents.train_batch_size=90",
    "agents.minibatch_size=45",
    "agents.num_epochs=1",
    "agents.hidden_sizes=[32]",
    "codesign.reference_samples=8",
    "confidence.num_candidates=4",
    "confidence.keep_fraction=0.5",
]


def _train(*args: str, tmp: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    result = subprocess.run(
        [sys.executable, "-m", "dcoc.train", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _sets(values: list[str]) -> list[str]:
    return [arg for v in values for arg in ("--set", v)]


def _records(run: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(run / "records.sqlite")
    try:
        return [(int(i), str(m)) for i, m in db.execute("SELECT id, method FROM candidates")]
    finally:
        db.close()


def test_quickstart_run_then_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    temp = f"ray.temp_dir=/tmp/dcoc-ray-test-train-{os.getpid()}"
    result = _train(
        "--config",
        "experiments/quickstart.yaml",
        "--run-dir",
        str(run),
        *_sets([*TINY, temp]),
        tmp=tmp_path,
    )
    lines = [line for line in result.stderr.splitlines() if " | env steps " in line]
    assert len(lines) == 1 and "iter    1" in lines[0] and "best edp" in lines[0]
    assert json.loads(result.stdout.strip().splitlines()[-1])["iterations"] == 1

    for name in ("config.yaml", "progress.json", "records.sqlite", "summary.json"):
        assert (run / name).is_file(), name
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "iter_0001").is_dir()
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary) >= {
        "experiment",
        "mode",
        "objective",
        "best_objective",
        "best",
        "files",
        "iterations",
        "env_steps",
        "evaluations",
        "wall_time_s",
        "confidence",
    }
    assert summary["iterations"] == 1 and summary["env_steps"] >= 90
    best = summary["best"]
    assert best is not None and best["valid"]
    assert [row["layer"] for row in best["layers"]] == ["C5", "C8"]
    assert set(best["hardware"]) >= {"pe_columns", "pe_rows", "glb_depth"}
    assert best["area_um2"] <= best["area_budget_um2"]
    total = best["total"]
    assert summary["best_objective"] == pytest.approx(total["cycles"] * total["energy_pj"])
    for layer in ("C5", "C8"):
        for rel in (
            f"best/mappings/{layer}.yaml",
            f"best/problems/{layer}.yaml",
            f"best/tir/{layer}.py",
        ):
            assert (run / rel).is_file(), rel
    assert (run / "best" / "architecture.yaml").is_file()
    assert "| C5 | 3 |" in (run / "best" / "summary.md").read_text()
    conf = summary["confidence"]
    assert conf["drawn"] == 4 and conf["kept"] <= 2
    assert conf["evaluations_saved"] >= 0

    # The exported files re-evaluate to the reported numbers with the accel CLI.
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcoc.accel",
            "evaluate",
            str(run / "best/architecture.yaml"),
            str(run / "best/problems/C8.yaml"),
            str(run / "best/mappings/C8.yaml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    report = json.loads(evaluated.stdout)
    c8 = best["layers"][1]
    assert report["cycles"] == c8["cycles"]
    assert report["energy_pj"] == pytest.approx(c8["energy_pj"], rel=1e-9)

    before = _records(run)
    assert {m for _, m in before} >= {"ppo", "confidence", "reference"}
    assert summary["evaluations"] == sum(m in ("ppo", "confidence") for _, m in before)

    # --resume continues from the checkpoint: the iteration counter grows, records stay.
    resumed = _train("--resume", str(run), *_sets(["train.iterations=2", temp]), tmp=tmp_path)
    assert any("iter    2" in line for line in resumed.stderr.splitlines())
    after = _records(run)
    assert after[: len(before)] == before and len(after) > len(before)
    summary2 = json.loads((run / "summary.json").read_text())
    assert summary2["iterations"] == 2
    assert summary2["env_steps"] > summary["env_steps"]
    assert summary2["evaluations"] > summary["evaluations"]
    assert summary2["best_objective"] <= summary["best_objective"]
    assert (run / "checkpoints" / "iter_0002").is_dir()
    progress = json.loads((run / "progress.json").read_text())
    assert [h["iteration"] for h in progress["history"]] == [1, 2]
    assert yaml.safe_load((run / "config.yaml").read_text())["experiment"]["name"] == "quickstart"


def test_refine_formulation_tiny_run(tmp_path: Path) -> None:
    """The shipped refine config, two tiny iterations: every model call is a ppo record and
    the exported best design re-evaluates to its numbers."""
    run = tmp_path / "run"
    temp = f"ray.temp_dir=/tmp/dcoc-ray-test-refine-{os.getpid()}"
    tiny = [
        "env.workload=resnet18/C5,resnet18/C8",
        "train.iterations=2",
        "train.max_evaluations=null",
        "agents.train_batch_size=56",
        "agents.minibatch_size=28",
        "agents.num_epochs=1",
        "agents.hidden_sizes=[32]",
        temp,
    ]
    args = ["--config", "experiments/resnet18_eyeriss.yaml", "--run-dir", str(run)]
    result = _train(*args, *_sets(tiny), tmp=tmp_path)
    assert json.loads(result.stdout.strip().splitlines()[-1])["iterations"] == 2
    summary = json.loads((run / "summary.json").read_text())
    records = _records(run)
    assert {m for _, m in records} == {"ppo"}
    assert summary["evaluations"] == len(records) > 0
    best = summary["best"]
    assert best is not None and best["valid"]
    c8 = best["layers"][1]
    evaluated = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcoc.accel",
            "evaluate",
            str(run / "best/architecture.yaml"),
            str(run / "best/problems/C8.yaml"),
            str(run / "best/mappings/C8.yaml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    report = json.loads(evaluated.stdout)
    assert report["cycles"] == c8["cycles"]
    assert report["energy_pj"] == pytest.approx(c8["energy_pj"], rel=1e-9)


def test_existing_run_dir_needs_resume(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "something").write_text("x")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcoc.train",
            "--config",
            "experiments/quickstart.yaml",
            "--run-dir",
            str(run),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2
    assert "pass --resume" in result.stderr.strip().splitlines()[-1]


def test_cpu_schedule_tiny_run(tmp_path: Path) -> None:
    run = tmp_path / "cpu"
    _train(
        "--config",
        "experiments/cpu_matmul.yaml",
        "--run-dir",
        str(run),
        *_sets(
            [
                "env.workload=matmul:64,64,64",
                "cpu.candidates_per_episode=2",
                "cpu.repeat=1",
                "cpu.min_repeat_ms=1",
                "agents.train_batch_size=8",
                "agents.minibatch_size=8",
                "agents.num_epochs=1",
                "train.iterations=1",
                f"ray.temp_dir=/tmp/dcoc-ray-test-cpu-{os.getpid()}",
            ]
        ),
        tmp=tmp_path,
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["mode"] == "cpu_schedule" and summary["iterations"] == 1
    assert summary["evaluations"] >= 4
    assert summary["best_objective"] is not None and 0 < summary["best_objective"] < 1.0
    schedule = json.loads((run / "best" / "schedule.json").read_text())
    assert schedule["workload"] == "matmul:64,64,64" and schedule["trace"] is not None
    assert (run / "checkpoints" / "iter_0001").is_dir()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


def test_refine_run_seeded_by_the_tree_search(tmp_path: Path) -> None:
    """seeding.method: mcts: the tree search's evaluations are counted in the budget, its path
    is stored (explain reads it), the agents start from its best design and end no worse, and
    TensorBoard gets the seed's objective."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    tiny = [
        "env.workload=resnet18/C5,resnet18/C8",
        "train.iterations=50",
        "train.max_evaluations=150",
        "seeding.method=mcts",
        "seeding.evaluations=60",
        "agents.train_batch_size=56",
        "agents.minibatch_size=28",
        "agents.num_epochs=1",
        "agents.hidden_sizes=[32]",
        f"ray.temp_dir=/tmp/dcoc-ray-test-seeded-{os.getpid()}",
    ]
    args = ["--config", "experiments/resnet18_eyeriss.yaml", "--run-dir", str(run)]
    result = _train(*args, *_sets(tiny), tmp=tmp_path)
    assert "seeding: done" in result.stderr
    summary = json.loads((run / "summary.json").read_text())
    records = _records(run)
    methods = [m for _, m in records]
    seeded = methods.count("mcts_seed")
    assert summary["seeding"]["evaluations"] == seeded
    assert 0 < seeded <= 60
    assert methods[:seeded] == ["mcts_seed"] * seeded  # the search ran before training
    assert set(methods[seeded:]) == {"ppo"}
    assert summary["evaluations"] == len(records) >= 150
    assert summary["best_objective"] <= summary["seeding"]["objective"]
    explained = subprocess.run(
        [sys.executable, "-m", "dcoc.search", "explain", str(run)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert explained.returncode == 0, explained.stderr
    assert "mcts_seed" in explained.stdout
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    (seed_point,) = events.Scalars("seeding/objective")
    assert seed_point.value == pytest.approx(summary["seeding"]["objective"], rel=1e-6)
    assert all(p.value <= 1.0 + 1e-6 for p in events.Scalars("seeding/best_over_seed"))


def test_turns_run_seeded_by_the_tree_search(tmp_path: Path) -> None:
    """Under turns, the seed's hardware is mapped by the software policies in every proposal
    round, as a kept candidate counted in the budget."""
    run = tmp_path / "run"
    sets = [
        *TINY,
        "train.iterations=2",
        "seeding.method=mcts",
        "seeding.evaluations=40",
        f"ray.temp_dir=/tmp/dcoc-ray-test-seeded-turns-{os.getpid()}",
    ]
    _train(
        "--config", "experiments/quickstart.yaml", "--run-dir", str(run), *_sets(sets), tmp=tmp_path
    )
    summary = json.loads((run / "summary.json").read_text())
    seed_hw = summary["seeding"]["hw"]
    db = sqlite3.connect(run / "records.sqlite")
    try:
        rows = db.execute("SELECT method, design FROM candidates ORDER BY id").fetchall()
    finally:
        db.close()
    methods = [m for m, _ in rows]
    assert methods.count("mcts_seed") == summary["seeding"]["evaluations"] <= 40
    confidence = [json.loads(d) for m, d in rows if m == "confidence"]
    assert sum(d["hw"] == seed_hw for d in confidence) >= 2 * 2  # 2 rounds x 2 layers
    assert summary["confidence"]["kept"] >= 2 * 2  # 2 kept of 4, each round


def _module_states(checkpoint: Path) -> dict[str, dict[str, object]]:
    from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule

    from dcoc.experiment.run_dir import POLICY_COMPONENT

    module = MultiRLModule.from_checkpoint(str(checkpoint / POLICY_COMPONENT))
    return {mid: m.get_state() for mid, m in module.items()}


def test_policies_carried_to_unseen_layers(tmp_path: Path) -> None:
    """train.init_checkpoint: agents trained on two ResNet-18 layers start a run on two layers
    they never saw; with train.learn false they act as loaded (every module's weights at the
    end equal the checkpoint's) and their evaluations are the run's records. A checkpoint
    whose modules have another shape is refused naming the field, without a traceback."""
    refine = ["--config", "experiments/resnet18_eyeriss.yaml"]
    small = [
        "train.iterations=1",
        "train.max_evaluations=null",
        "agents.train_batch_size=56",
        "agents.minibatch_size=28",
        "agents.num_epochs=1",
        "agents.hidden_sizes=[32]",
    ]
    source = tmp_path / "source"
    temp = f"/tmp/dcoc-ray-test-transfer-{os.getpid()}"
    _train(
        *refine,
        "--run-dir",
        str(source),
        *_sets([*small, "env.workload=resnet18/C5,resnet18/C8", f"ray.temp_dir={temp}"]),
        tmp=tmp_path,
    )
    checkpoint = source / "checkpoints" / "iter_0001"
    carried = tmp_path / "carried"
    frozen = [
        *small,
        "train.iterations=2",
        "env.workload=resnet18/C2,resnet18/C11",
        f"train.init_checkpoint={checkpoint}",
        "train.learn=false",
        f"ray.temp_dir={temp}",
    ]
    result = _train(*refine, "--run-dir", str(carried), *_sets(frozen), tmp=tmp_path)
    assert "agents start from the weights of" in result.stderr
    summary = json.loads((carried / "summary.json").read_text())
    assert summary["iterations"] == 2
    assert summary["evaluations"] == len(_records(carried)) > 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(carried / "tensorboard"))
    events.Reload()
    assert len(events.Scalars("charts/episode_return_mean")) == 2  # acting, not learning
    assert not any(t.startswith("losses/") for t in events.Tags()["scalars"])
    before = _module_states(checkpoint)
    after = _module_states(carried / "checkpoints" / "iter_0002")
    assert before.keys() == after.keys() and len(before) >= 3
    for mid, state in before.items():
        for name, value in state.items():
            assert (after[mid][name] == value).all(), (mid, name)
    env = dict(os.environ, OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0")
    wider = [*frozen, "agents.hidden_sizes=[48]"]
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcoc.train",
            *refine,
            "--run-dir",
            str(tmp_path / "wide"),
            *_sets(wider),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
        env=env,
    )
    assert refused.returncode != 0
    assert "train.init_checkpoint" in refused.stderr and "Traceback" not in refused.stderr
