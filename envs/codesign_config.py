"""Configuration of the co-design environments and what is derived from it once per env:
the layers, the co-design space, the objective and the reference design the reward compares
against."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from dcoc.envs.config_mapping import ENV_CONFIG_FILE, config_from_mapping

from dcoc.accel.evaluator import CachedEvaluators, MappingEvaluator
from dcoc.accel.report import CostSummary
from dcoc.accel.spec.design_space import load_design_space
from dcoc.errors import ConfigError, SpecError
from dcoc.objective import DESIGN_OBJECTIVES, Objective
from dcoc.search.codesign_space import CoDesignSpace, LayerDesign
from dcoc.search.network_search import resolve_design_space
from dcoc.workloads.catalog import resolve_layers as catalog_layers
from dcoc.workloads.network import Layer

DEFAULT_SPACE = "accel_specs/eyeriss_like.space.yaml"


class RewardKind(StrEnum):
    """How a round is paid (see ``CoDesignEnv``'s Rewards)."""

    LOG_IMPROVEMENT = "log_improvement"
    """Every round: the layer weight / rounds x log improvement over the reference."""
    BEST_IMPROVEMENT = "best_improvement"
    """Only what a round adds to the layer's best log improvement so far (at least 0)."""


@dataclass(frozen=True)
class CoDesignEnvConfig:
    """Everything a co-design env needs; build it from a plain dict with :meth:`from_mapping`."""

    design_space: str = DEFAULT_SPACE
    """Space file; a relative path that does not exist from the working directory is taken
    relative to the dcoc repository."""
    workload: str | tuple[str, ...] = "resnet18/C5"
    """``NET/LAYER`` (one layer), ``NET`` (every layer), ``NET.SUBSET`` (e.g. ``resnet18.vta``:
    C2-C11) or a tuple of ``NET/LAYER`` names. One hardware configuration serves them all."""
    objective: Objective = Objective.EDP
    reward: RewardKind = RewardKind.LOG_IMPROVEMENT
    area_budget_um2: float | None = None
    """Tighter area budget than the space file's (the smaller of both applies)."""
    energy_budget_pj: float | None = None
    """Energy per inference (sum over layers of count x energy) the design may not exceed."""
    rounds_per_layer: int = 1
    """Tile/order attempts per layer; the design keeps each layer's best valid mapping."""
    invalid_reward: float = -8.0
    """Reward (before the layer weight) of an invalid mapping, a masked action or a design
    over budget. The default lies below the worst valid masked random mapping measured on
    eyeriss_like x ResNet-18 C2-C11 (log improvement -7.1; median -3.4), so an invalid
    mapping never pays better than a valid one there."""
    reference_samples: int = 48
    """Masked random mappings per layer on the template hardware; the best is the reference."""
    reference_seed: int = 0
    refine_steps: int = 28
    """Refinement env (:mod:`dcoc.envs.codesign_refine`): agent steps per episode."""
    refine_candidates: int = 8
    """Refinement env: candidate moves an agent chooses among each step."""
    refine_hw_every: int = 7
    """Refinement env: the hardware agent acts every this many steps (the software agents
    alternate in between)."""
    refine_patience: int = 5
    """Refinement env: after this many episodes in a row that did not improve the incumbent,
    the next one starts from a perturbed incumbent (a knob step and a few random layer moves),
    so a search whose neighbourhood is measured goes on finding new designs; 0: never."""
    legacy_translation: bool = False
    seed: int | None = None
    """Seed of the env's generator until a ``reset(seed=...)`` reseeds it. The co-design env
    itself is deterministic given the actions; the generator drives the fixed random-search
    policies of the single-agent views."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "objective", Objective.parse(self.objective))
        if self.objective not in DESIGN_OBJECTIVES:
            raise ConfigError(
                ENV_CONFIG_FILE,
                ("objective",),
                f"{self.objective.value!r} needs per-level counts; a co-design env minimizes "
                f"one of {', '.join(o.value for o in DESIGN_OBJECTIVES)}",
            )
        object.__setattr__(self, "reward", RewardKind(self.reward))
        if isinstance(self.workload, list):
            object.__setattr__(self, "workload", tuple(self.workload))
        for name in ("rounds_per_layer", "reference_samples", "refine_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(ENV_CONFIG_FILE, (name,), "must be at least 1")
        if self.refine_patience < 0:
            raise ConfigError(ENV_CONFIG_FILE, ("refine_patience",), "must be 0 (off) or more")
        for name in ("refine_candidates", "refine_hw_every"):
            if getattr(self, name) < 2:
                raise ConfigError(ENV_CONFIG_FILE, (name,), "must be at least 2")
        for name in ("area_budget_um2", "energy_budget_pj"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(
                    ENV_CONFIG_FILE, (name,), f"must be a positive number or null, got {value!r}"
                )
        if not math.isfinite(self.invalid_reward):
            raise ConfigError(ENV_CONFIG_FILE, ("invalid_reward",), "must be a finite number")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> CoDesignEnvConfig:
        """Config from ``env_config``-style dicts; unknown keys raise ``ValueError``."""
        return config_from_mapping(cls, values)


def resolve_space_path(path: str) -> Path:
    """``path`` as given if it exists, else relative to the repository (shipped specs)."""
    return resolve_design_space(path)


def resolve_layers(workload: str | Sequence[str]) -> tuple[Layer, ...]:
    """The layers a workload name (or names, or a layer-set file) denote, in order
    (:func:`dcoc.workloads.catalog.resolve_layers`)."""
    return catalog_layers(workload).layers


@dataclass(frozen=True)
class NetworkCost:
    """Totals of one inference: every layer's cost times its count."""

    cycles: float
    energy_pj: float

    @property
    def edp(self) -> float:
        return self.cycles * self.energy_pj

    def objective(self, objective: Objective | str) -> float:
        return Objective.parse(objective).of(self.cycles, self.energy_pj)


def network_cost(layers: Sequence[Layer], reports: Sequence[CostSummary]) -> NetworkCost:
    cycles = sum(layer.count * r.cycles for layer, r in zip(layers, reports, strict=True))
    energy = sum(layer.count * r.energy_pj for layer, r in zip(layers, reports, strict=True))
    return NetworkCost(float(cycles), float(energy))


@dataclass(frozen=True)
class Reference:
    """The reference design: template hardware, per layer the best of a fixed random search."""

    designs: tuple[LayerDesign, ...]
    log_objective: tuple[float, ...]
    """Per layer, ``log`` of the layer objective of the reference mapping."""
    cost: NetworkCost


def build_space(
    config: CoDesignEnvConfig, evaluator: MappingEvaluator | None = None
) -> CoDesignSpace:
    space_file = load_design_space(resolve_space_path(config.design_space))
    return CoDesignSpace(
        space_file,
        resolve_layers(config.workload),
        area_budget_um2=config.area_budget_um2,
        evaluator=evaluator or CachedEvaluators(legacy_translation=config.legacy_translation),
    )


def build_reference(space: CoDesignSpace, config: CoDesignEnvConfig) -> Reference:
    """Best of ``reference_samples`` masked random mappings per layer on the template."""
    ctx = space.hardware_context(space.default_hw_action())
    rng = np.random.default_rng(config.reference_seed)
    objective = config.objective
    designs = []
    for li, layer in enumerate(space.layers):
        dims = space.unmappable_dims(ctx, li)
        if dims:
            raise SpecError(
                "<workload>",
                (layer.name,),
                f"no tiling of {', '.join(dims)} fits the template hardware of "
                f"{space.design_space.file} (its buffers are too small for the tiles the "
                "constraints force); change the template's default knob values",
            )
        best = space.random_search(ctx, li, rng, config.reference_samples, objective)
        if best is None:
            raise SpecError(
                "<workload>",
                (layer.name,),
                f"no valid mapping among {config.reference_samples} random ones on the template "
                "hardware; raise reference_samples",
            )
        designs.append(best)
    return Reference(
        tuple(designs),
        tuple(math.log(d.report.objective(objective)) for d in designs),
        network_cost(space.layers, [d.report for d in designs]),
    )
