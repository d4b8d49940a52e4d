"""From an experiment config to the env the agents train on: the factory, its ``env_config``
and the checks that must pass before any training starts (the workload exists, some hardware
configuration meets the area budget)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.accel.spec.design_space import load_design_space
from dcoc.envs.codesign_config import resolve_layers, resolve_space_path
from dcoc.envs.codesign_joint import JOINT_AGENT
from dcoc.errors import ConfigError, SpecError
from dcoc.experiment.config import ExperimentConfig, Mode
from dcoc.experiment.recorded_env import (
    RECORDS_METHOD_KEY,
    RECORDS_PATH_KEY,
    parse_workload,
    workload_keys,
)
from dcoc.workloads.network import Layer

CODESIGN_FACTORY = "dcoc.experiment.recorded_env:make_recorded_codesign_env"
JOINT_CODESIGN_FACTORY = "dcoc.experiment.recorded_env:make_recorded_joint_codesign_env"
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
    if config.mode == Mode.CPU_SCHEDULE:
        if len(layers) != 1:
            raise ConfigError(
                file, ("env", "workload"), "cpu_schedule tunes one layer: name NET/LAYER or a shape"
            )
        cpu = config.cpu
        env_config: dict[str, Any] = {
            "workload": config.env.workload,
            "candidates_per_episode": cpu.candidates_per_episode,
            "records_path": str(records_path),
            "workers": cpu.workers,
            "repeat": cpu.repeat,
            "min_repeat_ms": cpu.min_repeat_ms,
            "num_threads": cpu.num_threads,
            "build_timeout_s": cpu.build_timeout_s,
            "run_timeout_s": cpu.run_timeout_s,
            "seed": config.experiment.seed,
        }
        from dcoc.envs.cpu_schedule_config import CpuScheduleEnvConfig  # imports TVM

        known = set(CpuScheduleEnvConfig.__dataclass_fields__)
        missing = sorted(set(env_config) - known)
        if missing:  # a CpuScheduleEnvConfig without one of these settings
            raise ConfigError(file, ("cpu",), f"this dcoc's cpu_schedule env lacks {missing}")
        return EnvPlan(CPU_FACTORY, env_config, ("sw_tile", "sw_order"), keys, counts)
    check_area_budget(config, file)
    cd = config.codesign
    env_config = {
        "design_space": cd.design_space,
        "workload": parse_workload(config.env.workload),
        "objective": config.env.objective.value,
        "area_budget_um2": cd.area_budget_um2,
        "energy_budget_pj": cd.energy_budget_pj,
        "rounds_per_layer": cd.rounds_per_layer,
        "reference_samples": cd.reference_samples,
        "invalid_reward": cd.invalid_reward,
        "seed": config.experiment.seed,
        RECORDS_PATH_KEY: str(records_path),
        RECORDS_METHOD_KEY: "ppo",
    }
    if config.agents.single_policy:
        return EnvPlan(JOINT_CODESIGN_FACTORY, env_config, (JOINT_AGENT,), keys, counts)
    return EnvPlan(CODESIGN_FACTORY, env_config, ("hw", "sw_tile", "sw_order"), keys, counts)


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
