"""Fill :class:`~dcoc.experiment.config.ExperimentConfig` from a YAML file and ``--set a.b=v``
overrides, with typed checks: an unknown key or a value of the wrong type is a
:class:`~dcoc.errors.ConfigError` naming the file, the key path and the fix."""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from dcoc.errors import ConfigError
from dcoc.experiment import config as config_module
from dcoc.experiment.config import ExperimentConfig, Formulation, Mode, SeedMethod
from dcoc.experiment.environment import check_env_settings
from dcoc.experiment.run_dir import POLICY_COMPONENT, is_policy_checkpoint
from dcoc.search.proposers import PROPOSERS

SET_FILE = "--set"
"""Name under which errors of ``--set`` overrides are reported."""


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """The config of ``path`` (``None``: defaults) with ``overrides`` (``"a.b=value"``, the
    value parsed as YAML) applied in order."""
    file = str(path) if path is not None else "<defaults>"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ConfigError(file, (), f"cannot read the config: {error.strerror}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(file, (), f"not valid YAML{where}: fix the syntax") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(file, (), "the config must be a mapping of sections")
        raw = loaded
    config = build(ExperimentConfig, raw, file, ())
    for override in overrides:
        config = apply_override(config, override)
    check_values(config, file)
    check_env_settings(config, file)
    return config


def apply_override(config: ExperimentConfig, override: str) -> ExperimentConfig:
    """``config`` with one ``key.path=value`` override applied."""
    key, sep, text = override.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(SET_FILE, (override,), "write overrides as section.key=value")
    keys = tuple(key.split("."))
    return _replace(config, keys, text, 0)


def _replace(obj: Any, keys: tuple[str, ...], text: str, depth: int) -> Any:
    names = {f.name: f for f in dataclasses.fields(obj)}
    name = keys[depth]
    if name not in names:
        raise ConfigError(
            SET_FILE, keys[: depth + 1], f"unknown key; known keys here: {sorted(names)}"
        )
    cls: type = type(obj)
    hint = _hints(cls)[name]
    if depth == len(keys) - 1:
        if dataclasses.is_dataclass(hint):
            raise ConfigError(SET_FILE, keys, "is a section: set one of its keys (a.b=value)")
        value = _parse_text(text, hint)
        return dataclasses.replace(obj, **{name: convert(value, hint, SET_FILE, keys)})
    if not dataclasses.is_dataclass(hint):
        raise ConfigError(SET_FILE, keys[: depth + 1], "is not a section")
    inner = _replace(getattr(obj, name), keys, text, depth + 1)
    return dataclasses.replace(obj, **{name: inner})


def _parse_text(text: str, hint: Any) -> Any:
    if _strip_optional(hint) is str and text.strip() not in ("null", "~"):
        return text
    try:
        return yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        return text


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(config_module))


def build(cls: type, raw: Any, file: str, path: tuple[str, ...]) -> Any:
    """Instance of the dataclass ``cls`` from the mapping ``raw`` (missing keys: defaults)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(file, path, f"must be a mapping of keys, got {_kind(raw)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in raw if k not in fields)
    if unknown:
        where = f"{'.'.join(path)}." if path else ""
        raise ConfigError(
            file,
            (*path, unknown[0]),
            f"unknown key; known keys of {where or 'the top level'}: {sorted(fields)}",
        )
    hints = _hints(cls)
    values = {name: convert(value, hints[name], file, (*path, name)) for name, value in raw.items()}
    return cls(**values)


def _strip_optional(hint: Any) -> Any:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0] if len(rest) == 1 else hint
    return hint


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def convert(value: Any, hint: Any, file: str, path: tuple[str, ...]) -> Any:
    """``value`` checked against (and converted to) the annotation ``hint``."""
    if dataclasses.is_dataclass(hint):
        assert isinstance(hint, type)
        return build(hint, value, file, path)
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if value is None:
        if optional:
            return None
        raise ConfigError(file, path, f"must not be null; give a {_type_name(hint)}")
    base = _strip_optional(hint)
    if isinstance(base, type) and issubclass(base, Enum):
        allowed = [m.value for m in base]  # type: ignore[var-annotated]
        if value not in allowed:
            raise ConfigError(file, path, f"got {value!r}; use one of {allowed}")
        return base(value)
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(file, path, f"must be true or false, got {_kind(value)}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(file, path, f"must be an integer, got {_kind(value)}")
        return value
    if base is float:
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(file, path, f"must be a number, got {_kind(value)}")
        return float(value)
    if base is str:
        if not isinstance(value, str):
            raise ConfigError(file, path, f"must be a string, got {_kind(value)}; quote it")
        return value
    if typing.get_origin(base) is tuple:
        (item, _ellipsis) = typing.get_args(base)
        if not isinstance(value, list | tuple):
            raise ConfigError(file, path, f"must be a list, e.g. [128, 128], got {_kind(value)}")
        return tuple(convert(v, item, file, (*path, str(i))) for i, v in enumerate(value))
    raise TypeError(f"unsupported config annotation {hint!r} at {'.'.join(path)}")


def _type_name(hint: Any) -> str:
    base = _strip_optional(hint)
    if isinstance(base, type) and issubclass(base, Enum):
        return "one of " + "|".join(str(m.value) for m in base)
    if typing.get_origin(base) is tuple:
        return f"list of {typing.get_args(base)[0].__name__}"
    name = getattr(base, "__name__", str(base))
    return f"{name} or null" if base is not hint else name


def check_values(config: ExperimentConfig, file: str) -> None:
    """Ranges the types cannot express."""
    checks: list[tuple[tuple[str, ...], bool, str]] = [
        (
            ("experiment", "seed"),
            0 <= config.experiment.seed < 2**32,
            "must be between 0 and 2**32 - 1 (numpy's and RLlib's seed range)",
        ),
        (("train", "iterations"), config.train.iterations >= 1, "must be at least 1"),
        (("train", "checkpoint_every"), config.train.checkpoint_every >= 1, "must be >= 1"),
        (
            ("train", "init_checkpoint"),
            config.train.init_checkpoint is None
            or is_policy_checkpoint(config.train.init_checkpoint),
            f"must be a checkpoint directory of dcoc.train (RUN_DIR/checkpoints/iter_NNNN, "
            f"holding {POLICY_COMPONENT}/); got {config.train.init_checkpoint!r}",
        ),
        (("agents", "lr"), config.agents.lr > 0, "must be positive"),
        (("agents", "train_batch_size"), config.agents.train_batch_size >= 1, "must be >= 1"),
        (
            ("agents", "minibatch_size"),
            1 <= config.agents.minibatch_size <= config.agents.train_batch_size,
            "must be between 1 and agents.train_batch_size",
        ),
        (("agents", "num_epochs"), config.agents.num_epochs >= 1, "must be >= 1"),
        (("agents", "num_env_runners"), config.agents.num_env_runners >= 0, "must be >= 0"),
        (("agents", "hidden_sizes"), all(h >= 1 for h in config.agents.hidden_sizes), ">= 1"),
        (("confidence", "num_candidates"), config.confidence.num_candidates >= 0, "must be >= 0"),
        (
            ("confidence", "keep_fraction"),
            0.0 < config.confidence.keep_fraction <= 1.0,
            "must be in (0, 1]",
        ),
        (
            ("confidence", "logp_weight"),
            min(
                config.confidence.logp_weight,
                config.confidence.value_weight,
                config.confidence.agreement_weight,
            )
            >= 0
            and config.confidence.logp_weight
            + config.confidence.value_weight
            + config.confidence.agreement_weight
            > 0,
            "the score weights must be >= 0 and not all 0",
        ),
        (
            ("confidence", "value_weight"),
            config.confidence.value_weight == 0 or config.agents.critic == "centralized",
            "needs agents.critic: centralized (the value comes from the shared critic)",
        ),
        (
            ("agents", "single_policy"),
            not config.agents.single_policy or config.agents.critic == "independent",
            "needs agents.critic: independent (the one policy has its own value head)",
        ),
    ]
    seeding = config.seeding
    budget = config.train.max_evaluations
    checks += [
        (("seeding", "evaluations"), seeding.evaluations >= 1, "must be at least 1"),
        (
            ("seeding", "proposer"),
            seeding.proposer in PROPOSERS,
            f"got {seeding.proposer!r}; use one of {sorted(PROPOSERS)}",
        ),
    ]
    if seeding.method != SeedMethod.NONE:
        checks += [
            (
                ("seeding", "method"),
                config.mode == Mode.CODESIGN
                and (
                    config.codesign.formulation == Formulation.REFINE
                    or config.confidence.num_candidates > 0
                ),
                "seeds the refine formulation's first episode or the turns formulation's "
                "proposal rounds; set mode: codesign and codesign.formulation: refine (or "
                "confidence.num_candidates above 0), or seeding.method: none",
            ),
            (
                ("seeding", "evaluations"),
                budget is None or seeding.evaluations < budget,
                f"must be below train.max_evaluations ({budget}), which it is part of",
            ),
        ]
    if config.mode == Mode.CPU_SCHEDULE:
        checks.append(
            (
                ("confidence", "num_candidates"),
                config.confidence.num_candidates == 0,
                "the proposal phase needs the hardware agent (codesign mode); set it to 0",
            )
        )
        checks.append(
            (
                ("agents", "single_policy"),
                not config.agents.single_policy,
                "the joint single-policy view exists for codesign mode only; set it to false",
            )
        )
    for path, ok, message in checks:
        if not ok:
            raise ConfigError(file, path, message)


def config_to_dict(config: Any) -> Any:
    """Plain YAML-able form of a config (enums as strings, tuples as lists)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: config_to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Enum):
        return config.value
    if isinstance(config, tuple):
        return [config_to_dict(v) for v in config]
    return config


@cache
def field_docs() -> dict[tuple[str, str], str]:
    """``(class name, field) -> docstring`` of the config dataclasses (the string literal
    right after a field, as CleanRL/tyro read them)."""
    tree = ast.parse(inspect.getsource(config_module))
    docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        body = node.body
        for stmt, nxt in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[(node.name, stmt.target.id)] = " ".join(nxt.value.value.split())
    return docs


def describe_config(cls: type = ExperimentConfig, prefix: str = "") -> list[str]:
    """One ``--help`` line per key: ``section.key (type, default): docstring``."""
    lines: list[str] = []
    default = cls()
    docs = field_docs()
    for f in dataclasses.fields(cls):
        hint = _hints(cls)[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            assert isinstance(hint, type)
            lines.extend(describe_config(hint, f"{key}."))
            continue
        value = config_to_dict(getattr(default, f.name))
        doc = docs.get((cls.__name__, f.name), "")
        shown = (
            "null" if value is None else str(value).lower() if isinstance(value, bool) else value
        )
        lines.append(f"  {key} ({_type_name(hint)}, default {shown}){': ' + doc if doc else ''}")
    return lines
