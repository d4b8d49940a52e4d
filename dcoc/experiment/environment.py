"""From an experiment config to the env the agents train on: the factory, its ``env_config``
and the checks that must pass before any training starts (the workload exists, some hardware
configuration meets the area budget)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.accel.spec.design_space import load_design_space
from dcoc.envs.codesign_config import CoDesignEnvConfig, resolve_layers, resolve_space_path
from dcoc.envs.codesign_joint import JOINT_AGENT
from dcoc.errors import ConfigError, SpecError
from dcoc.experiment.config import ExperimentConfig, Formulation, Mode
from dcoc.experiment.recorded_env import (
    RECORDS_METHOD_KEY,
    RECORDS_PATH_KEY,
    parse_workload,
    workload_keys,
)
from dcoc.workloads.network import Layer

CODESIGN_FACTORY = "dcoc.experiment.recorded_env:make_recorded_codesign_env"
JOINT_CODESIGN_FACTORY = "dcoc.experiment.recorded_env:make_recorded_joint_codesign_env"
REFINE_CODESIGN_FACTORY = "dcoc.experiment.recorded_env:make_recorded_refine_env"
CPU_FACTORY = "dcoc.envs.cpu_schedule:make_cpu_schedule_env"


@dataclass(frozen=True)
class EnvPlan:
    factory: str
    env_config: dict[str, Any]
    agent_ids: tuple[str, ...]
    layer_keys: tuple[str, ...]
    counts: tuple[int, ...]


def plan_env(config: ExperimentConfig, records_path: Path, file: str) -> EnvPlan:
    """The env factory and ``env_config``; raises :class:`ConfigError` for an unknown
    workload or an area budget no hardware configuration meets."""
    layers = _layers(config, file)
    keys = tuple(workload_keys(parse_workload(config.env.workload), layers))
    counts = tuple(layer.count for layer in layers)
    check_env_settings(config, file)
    if config.mode == Mode.CPU_SCHEDULE:
        if len(layers) != 1:
            raise ConfigError(
                file, ("env", "workload"), "cpu_schedule tunes one layer: name NET/LAYER or a shape"
            )
        env_config = {**cpu_env_settings(config), "records_path": str(records_path)}
        return EnvPlan(CPU_FACTORY, env_config, ("sw_tile", "sw_order"), keys, counts)
    check_area_budget(config, file)
    env_config = {
        **codesign_env_settings(config),
        RECORDS_PATH_KEY: str(records_path),
        RECORDS_METHOD_KEY: "ppo",
    }
    agents = ("hw", "sw_tile", "sw_order")
    if config.codesign.formulation == Formulation.REFINE:
        if config.agents.single_policy:
            raise ConfigError(
                file,
                ("agents", "single_policy"),
                "the refine formulation trains the three agents; set codesign.formulation: "
                "turns for one joint policy",
            )
        return EnvPlan(REFINE_CODESIGN_FACTORY, env_config, agents, keys, counts)
    if config.agents.single_policy:
        return EnvPlan(JOINT_CODESIGN_FACTORY, env_config, (JOINT_AGENT,), keys, counts)
    return EnvPlan(CODESIGN_FACTORY, env_config, agents, keys, counts)


CODESIGN_KEYS: dict[str, tuple[str, str]] = {
    "design_space": ("codesign", "design_space"),
    "workload": ("env", "workload"),
    "objective": ("env", "objective"),
    "area_budget_um2": ("codesign", "area_budget_um2"),
    "energy_budget_pj": ("codesign", "energy_budget_pj"),
    "rounds_per_layer": ("codesign", "rounds_per_layer"),
    "reference_samples": ("codesign", "reference_samples"),
    "invalid_reward": ("codesign", "invalid_reward"),
    "refine_steps": ("codesign", "refine_steps"),
    "refine_candidates": ("codesign", "refine_candidates"),
    "refine_hw_every": ("codesign", "refine_hw_every"),
    "refine_patience": ("codesign", "refine_patience"),
    "seed": ("experiment", "seed"),
}
"""Each co-design env setting and the experiment config key it comes from."""

CPU_KEYS: dict[str, tuple[str, str]] = {
    "workload": ("env", "workload"),
    **{
        name: ("cpu", name)
        for name in (
            "candidates_per_episode",
            "workers",
            "repeat",
            "min_repeat_ms",
            "num_threads",
            "build_timeout_s",
            "run_timeout_s",
        )
    },
    "seed": ("experiment", "seed"),
}
"""Each CPU-schedule env setting and the experiment config key it comes from."""


def _settings(config: ExperimentConfig, keys: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {name: getattr(getattr(config, sec), key) for name, (sec, key) in keys.items()}


def codesign_env_settings(config: ExperimentConfig) -> dict[str, Any]:
    """The co-design env's settings (:class:`~dcoc.envs.codesign_config.CoDesignEnvConfig`
    keys) of ``config``."""
    out = _settings(config, CODESIGN_KEYS)
    out["workload"] = parse_workload(config.env.workload)
    out["objective"] = config.env.objective.value
    return out


def cpu_env_settings(config: ExperimentConfig) -> dict[str, Any]:
    """The CPU-schedule env's settings (``CpuScheduleEnvConfig`` keys) of ``config``."""
    return _settings(config, CPU_KEYS)


def check_env_settings(config: ExperimentConfig, file: str) -> None:
    """Build the env's settings object once, so that its own checks (the only ones) reject a
    bad value here, before any run directory or Ray exists, as a :class:`ConfigError` naming
    the config's key."""
    if config.mode == Mode.CPU_SCHEDULE:
        from dcoc.envs.cpu_schedule_config import CpuScheduleEnvConfig  # imports TVM

        settings, keys = cpu_env_settings(config), CPU_KEYS
        build: Any = CpuScheduleEnvConfig.from_mapping
    else:
        settings, keys = codesign_env_settings(config), CODESIGN_KEYS
        build = CoDesignEnvConfig.from_mapping
    try:
        build(settings)
    except ConfigError as error:
        name = str(error.yaml_path[0]) if error.yaml_path else ""
        raise ConfigError(file, keys.get(name, ()), error.message) from None


def _layers(config: ExperimentConfig, file: str) -> tuple[Layer, ...]:
    try:
        return resolve_layers(parse_workload(config.env.workload))
    except (SpecError, KeyError, ValueError) as error:
        message = error.message if isinstance(error, SpecError) else str(error)
        raise ConfigError(file, ("env", "workload"), message) from None


def check_area_budget(config: ExperimentConfig, file: str) -> None:
    """The smallest configuration of the space must fit the tighter of the space file's and
    the config's area budget."""
    path = resolve_space_path(config.codesign.design_space)
    if not path.exists():
        raise ConfigError(
            file,
            ("codesign", "design_space"),
            f"{path} does not exist; see accel_specs/*.space.yaml",
        )
    space = load_design_space(path)  # raises SpecError naming the space file if infeasible
    budget = config.codesign.area_budget_um2
    if budget is None:
        return
    smallest = space.smallest()
    area = space.area_um2(smallest)
    if area > budget:
        raise ConfigError(
            file,
            ("codesign", "area_budget_um2"),
            f"no hardware configuration fits {budget:.4g} um^2: the smallest one "
            f"({smallest.as_dict()}) needs {area:.4g} um^2; raise the budget to at least that",
        )
