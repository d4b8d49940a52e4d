"""Configuration of the CPU-schedule environments (:mod:`dcoc.envs.cpu_schedule`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dcoc.envs.config_mapping import ENV_CONFIG_FILE, config_from_mapping

from dcoc.errors import ConfigError
from dcoc.tvm.measure import MeasureSettings


@dataclass(frozen=True)
class CpuScheduleEnvConfig:
    """Everything a CPU-schedule env needs; build it from a plain dict with
    :meth:`from_mapping` (unknown keys raise ``ValueError``)."""

    workload: str = "matmul:64,64,64"
    """``NET/LAYER`` (e.g. ``resnet18/C5``) or an inline shape (``matmul:M,N,K``)."""
    candidates_per_episode: int = 8
    """Candidates (one ``sw_tile`` and one ``sw_order`` action each) per episode."""
    records_path: str | None = None
    """SQLite records database every candidate is written to (``None``: not recorded)."""
    method: str = "cpu_schedule_env"
    """The records' ``method`` column (e.g. the training algorithm's name)."""
    invalid_reward: float = -5.0
    """Reward of a candidate that fails (masked action, rejected schedule, build or run error,
    timeout, crash, wrong result). ``log(ref / latency) = -5`` is a schedule 148x slower than
    the reference."""
    reference_latency_s: float | None = None
    """Latency the reward compares against; ``None``: measure the reference schedule (the first
    sketch with its own decisions) once per env."""
    design_space_seed: int = 1
    """Seed of MetaSchedule's sketch generation (fixes the sketches' own decisions)."""
    num_cores: int | None = None
    """Cores of the target (``None``: all of this machine's)."""
    workers: int = 1
    """Measurement worker processes (each builds and runs one candidate at a time). Workers
    measure concurrently: with more workers than idle cores the timings disturb each other."""
    number: int = 1
    repeat: int = 3
    min_repeat_ms: int = 10
    warmup_runs: int = 1
    build_timeout_s: float = 60.0
    run_timeout_s: float = 30.0
    rtol: float = 1e-4
    """Relative tolerance of the check against numpy."""
    num_threads: int = 1
    """Threads of the measured program (``TVM_NUM_THREADS`` of the worker)."""
    seed: int | None = None
    """Seed of the env's generator (:meth:`CpuScheduleEnv.sample_action`) when ``reset`` is
    given none."""

    def __post_init__(self) -> None:
        for name in ("candidates_per_episode", "workers", "repeat", "number", "num_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(ENV_CONFIG_FILE, (name,), "must be at least 1")
        if self.min_repeat_ms < 0 or self.warmup_runs < 0:
            name = "min_repeat_ms" if self.min_repeat_ms < 0 else "warmup_runs"
            raise ConfigError(ENV_CONFIG_FILE, (name,), "must be at least 0")
        for name in ("build_timeout_s", "run_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(ENV_CONFIG_FILE, (name,), f"must be at least 0, got {value!r}")
        if not (math.isfinite(self.rtol) and self.rtol >= 0):
            raise ConfigError(ENV_CONFIG_FILE, ("rtol",), f"must be at least 0, got {self.rtol!r}")
        if self.reference_latency_s is not None and not self.reference_latency_s > 0:
            raise ConfigError(ENV_CONFIG_FILE, ("reference_latency_s",), "must be positive")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> CpuScheduleEnvConfig:
        """Config from ``env_config``-style dicts; unknown keys raise ``ValueError``."""
        return config_from_mapping(cls, values)

    @classmethod
    def coerce(
        cls, config: CpuScheduleEnvConfig | Mapping[str, Any] | None
    ) -> CpuScheduleEnvConfig:
        """``config`` itself, or the config its mapping describes."""
        return config if isinstance(config, CpuScheduleEnvConfig) else cls.from_mapping(config)

    def measure_settings(self) -> MeasureSettings:
        """The measurement settings of :mod:`dcoc.tvm.measure` this config describes."""
        return MeasureSettings(
            number=self.number,
            repeat=self.repeat,
            min_repeat_ms=self.min_repeat_ms,
            warmup_runs=self.warmup_runs,
            build_timeout_s=self.build_timeout_s,
            run_timeout_s=self.run_timeout_s,
            rtol=self.rtol,
            num_threads=self.num_threads,
        )
