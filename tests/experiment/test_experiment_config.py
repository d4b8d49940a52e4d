"""Experiment config: YAML + --set overrides with typed checks, one-line errors (exit 2) that
name the file and the key path, --help text from the field docstrings, the area-budget check
before training."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from dcoc.errors import ConfigError
from dcoc.experiment import config_to_dict, describe_config, load_config
from dcoc.experiment.config import Critic, ExperimentConfig, Mode
from dcoc.experiment.environment import CODESIGN_FACTORY, plan_env
from dcoc.objective import Objective

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("*.yaml"))


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcoc.train", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_shipped_experiments_load(path: Path) -> None:
    config = load_config(path)
    assert config.experiment.name == path.stem
    assert config.mode in (Mode.CODESIGN, Mode.CPU_SCHEDULE)


def test_quickstart_values_and_defaults() -> None:
    config = load_config(ROOT / "experiments" / "quickstart.yaml")
    assert config.env.workload == "resnet18/C5,resnet18/C8"
    assert config.agents.critic is Critic.CENTRALIZED
    assert config.agents.hidden_sizes == (128, 128)
    assert config.env.objective is Objective.EDP
    assert config.codesign.area_budget_um2 is None  # not in the file: the default
    assert config.confidence.enabled is True


def test_set_overrides_are_typed() -> None:
    config = load_config(
        ROOT / "experiments" / "quickstart.yaml",
        [
            "agents.hidden_sizes=[64, 32]",
            "agents.lr=1e-3",
            "train.iterations=3",
            "experiment.name=123",
            "ray.address=null",
            "confidence.enabled=false",
            "agents.critic=independent",
            "codesign.area_budget_um2=2000000",
        ],
    )
    assert config.agents.hidden_sizes == (64, 32)
    assert config.agents.lr == 1e-3 and isinstance(config.agents.lr, float)
    assert config.train.iterations == 3
    assert config.experiment.name == "123"  # a string field keeps the text
    assert config.ray.address is None
    assert config.confidence.enabled is False
    assert config.agents.critic is Critic.INDEPENDENT
    assert config.codesign.area_budget_um2 == 2_000_000.0


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        ("agents:\n  learning_rate: 0.1\n", "agents.learning_rate", "unknown key"),
        ("agent:\n  lr: 0.1\n", "agent", "unknown key"),
        ("agents:\n  lr: fast\n", "agents.lr", "must be a number"),
        ("train:\n  iterations: 2.5\n", "train.iterations", "must be an integer"),
        ("confidence:\n  enabled: 1\n", "confidence.enabled", "true or false"),
        ("agents:\n  critic: shared\n", "agents.critic", "centralized"),
        ("agents:\n  hidden_sizes: 64\n", "agents.hidden_sizes", "must be a list"),
        ("mode: gpu\n", "mode", "codesign"),
        ("confidence:\n  keep_fraction: 0\n", "confidence.keep_fraction", "(0, 1]"),
        ("agents: [1, 2]\n", "agents", "mapping"),
    ],
)
def test_bad_yaml_names_file_and_key(tmp_path: Path, text: str, where: str, hint: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {where}: ")
    assert hint in message


@pytest.mark.parametrize(
    ("override", "where"),
    [
        ("agents.lrr=0.1", "agents.lrr"),
        ("train.iterations=many", "train.iterations"),
        ("agents=3", "agents"),
        ("iterations", "iterations"),
    ],
)
def test_bad_overrides(override: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "experiments" / "quickstart.yaml", [override])
    assert str(info.value).startswith(f"--set: {where}")


def test_cli_unknown_key_exits_2_with_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "experiment:\n  name: x\ntrain:\n  iteratons: 3\n")
    result = _cli("--config", str(path), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {path}: train.iteratons: unknown key")
    assert "iterations" in lines[0]  # the fix: the known keys
    assert not (tmp_path / "run").exists()


def test_cli_help_lists_every_key_with_its_docstring() -> None:
    result = _cli("--help")
    assert result.returncode == 0
    assert "confidence.keep_fraction (float, default 0.25): Share of the K candidates" in (
        result.stdout
    )
    assert "codesign.area_budget_um2 (float or null, default null)" in result.stdout
    assert "agents.critic (one of centralized|independent, default centralized)" in result.stdout


def test_describe_config_covers_every_field() -> None:
    lines = describe_config()
    expected = sum(
        len(dataclasses.fields(f.default_factory()))  # type: ignore[misc]
        if f.default_factory is not dataclasses.MISSING
        else 1
        for f in dataclasses.fields(ExperimentConfig)
    )
    assert len(lines) == expected


def test_infeasible_area_budget_is_an_error_before_training(tmp_path: Path) -> None:
    config = load_config(ROOT / "experiments" / "quickstart.yaml", ["codesign.area_budget_um2=1e4"])
    with pytest.raises(ConfigError) as info:
        plan_env(config, tmp_path / "records.sqlite", "exp.yaml")
    message = str(info.value)
    assert message.startswith("exp.yaml: codesign.area_budget_um2: no hardware configuration")
    assert "raise the budget" in message
    # A budget the smallest configuration meets passes and reaches the env config.
    ok = load_config(ROOT / "experiments" / "quickstart.yaml", ["codesign.area_budget_um2=1e6"])
    plan = plan_env(ok, tmp_path / "records.sqlite", "exp.yaml")
    assert plan.factory == CODESIGN_FACTORY
    assert plan.env_config["area_budget_um2"] == 1e6
    assert plan.layer_keys == ("resnet18/C5", "resnet18/C8")


def test_cli_infeasible_budget_exits_2(tmp_path: Path) -> None:
    result = _cli(
        "--config",
        "experiments/quickstart.yaml",
        "--set",
        "codesign.area_budget_um2=1000",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: experiments/quickstart.yaml: codesign.area_budget_um2: no hardware")
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_unknown_workload_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(ROOT / "experiments" / "quickstart.yaml", ["env.workload=resnet18/C99"])
    with pytest.raises(ConfigError) as info:
        plan_env(config, tmp_path / "r.sqlite", "exp.yaml")
    assert str(info.value).startswith("exp.yaml: env.workload: ")


@settings(max_examples=25, deadline=None)
@given(
    lr=st.floats(1e-6, 1.0),
    sizes=st.lists(st.integers(1, 512), min_size=1, max_size=3),
    iterations=st.integers(1, 10_000),
    keep=st.floats(0.01, 1.0),
    budget=st.one_of(st.none(), st.floats(1e5, 1e9)),
)
def test_resolved_config_round_trips_through_yaml(
    lr: float, sizes: list[int], iterations: int, keep: float, budget: float | None
) -> None:
    config = load_config(
        ROOT / "experiments" / "quickstart.yaml",
        [
            f"agents.lr={lr!r}",
            f"agents.hidden_sizes={sizes}",
            f"train.iterations={iterations}",
            f"confidence.keep_fraction={keep!r}",
            f"codesign.area_budget_um2={'null' if budget is None else repr(budget)}",
        ],
    )
    text = yaml.safe_dump(config_to_dict(config))
    path = Path(f"/tmp/dcoc-test-roundtrip-{id(config)}.yaml")
    try:
        path.write_text(text)
        assert load_config(path) == config
    finally:
        path.unlink()


def test_resume_rejects_changing_the_env_or_the_agents(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text((ROOT / "experiments" / "quickstart.yaml").read_text())
    result = _cli("--resume", str(run), "--set", "agents.lr=0.1")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: --set: agents.lr: cannot change on --resume")
    # No progress.json: not a run directory that has trained yet.
    result = _cli("--resume", str(run), "--set", "train.iterations=5")
    assert result.returncode == 2
    assert "progress.json" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("override", "where", "hint"),
    [
        ("codesign.reference_samples=0", "codesign.reference_samples", "at least 1"),
        ("codesign.rounds_per_layer=0", "codesign.rounds_per_layer", "at least 1"),
        ("codesign.area_budget_um2=-5", "codesign.area_budget_um2", "positive"),
        ("codesign.energy_budget_pj=0", "codesign.energy_budget_pj", "positive"),
        ("codesign.invalid_reward=.nan", "codesign.invalid_reward", "finite"),
        ("env.objective=last_level_accesses", "env.objective", "per-level counts"),
    ],
)
def test_env_settings_are_checked_once_when_the_config_loads(
    override: str, where: str, hint: str
) -> None:
    """The env's own checks run when the config loads, reported under the config's key (the
    settings used to be checked in two places, and a value only the env rejected passed the
    config check, started Ray and ended in the env's traceback)."""
    path = ROOT / "experiments" / "quickstart.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, [override])
    assert str(info.value).startswith(f"{path}: {where}: ")
    assert hint in str(info.value)


@pytest.mark.parametrize("seed", ["-1", str(2**32)])
def test_a_seed_out_of_range_is_a_config_error(seed: str) -> None:
    """It was numpy's ValueError traceback from the env's first reset, after Ray started."""
    path = ROOT / "experiments" / "quickstart.yaml"
    with pytest.raises(ConfigError, match=r"experiment\.seed: must be between 0 and 2\*\*32"):
        load_config(path, [f"experiment.seed={seed}"])


def test_env_setting_keys_name_real_fields() -> None:
    from dcoc.envs.codesign_config import CoDesignEnvConfig

    from dcoc.experiment.environment import CODESIGN_KEYS

    fields = {f.name for f in dataclasses.fields(CoDesignEnvConfig)}
    assert set(CODESIGN_KEYS) <= fields
    config = ExperimentConfig()
    for section, key in CODESIGN_KEYS.values():
        assert hasattr(getattr(config, section), key)


def test_cli_reference_samples_zero_exits_2_before_ray(tmp_path: Path) -> None:
    result = _cli(
        "--config",
        "experiments/quickstart.yaml",
        "--set",
        "codesign.reference_samples=0",
        "--run-dir",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        "error: experiments/quickstart.yaml: codesign.reference_samples: must be at least 1"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("overrides", "where", "hint"),
    [
        (
            ["seeding.method=mcts", "confidence.num_candidates=0"],
            "seeding.method",
            "codesign.formulation: refine",
        ),
        (
            ["seeding.method=mcts", "codesign.formulation=refine", "train.max_evaluations=100"],
            "seeding.evaluations",
            "below train.max_evaluations (100)",
        ),
        (["seeding.proposer=genius"], "seeding.proposer", "'heuristic'"),
        (["seeding.evaluations=0"], "seeding.evaluations", "at least 1"),
    ],
)
def test_seeding_settings_are_checked_when_the_config_loads(
    overrides: list[str], where: str, hint: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "experiments" / "quickstart.yaml", overrides)
    message = str(info.value)
    assert message.startswith(f"--set: {where}") or f": {where}:" in message
    assert hint in message
