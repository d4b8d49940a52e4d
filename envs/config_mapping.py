"""Env configs from ``env_config``-style dicts, shared by every env config dataclass of
:mod:`dcoc.envs` (:class:`~dcoc.envs.codesign_config.CoDesignEnvConfig`,
:class:`~dcoc.envs.cpu_schedule_config.CpuScheduleEnvConfig`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT")

ENV_CONFIG_FILE = "<env_config>"
"""The ``file`` of a :class:`~dcoc.errors.ConfigError` an env config raises for a bad setting;
its ``yaml_path`` is the setting's name, which ``dcoc.experiment`` maps to its config key."""


def config_from_mapping(cls: type[ConfigT], values: Mapping[str, Any] | None) -> ConfigT:
    """``cls(**values)`` for a dataclass ``cls``; unknown keys raise ``ValueError`` naming
    the known ones."""
    values = dict(values or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown env config keys {unknown}; known: {sorted(known)}")
    return cls(**values)
