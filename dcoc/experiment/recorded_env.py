"""The co-design env with every evaluation written to the run's records database.

:func:`make_recorded_codesign_env` is the env factory the trainer gives RLlib
(``"dcoc.experiment.recorded_env:make_recorded_codesign_env"``): it builds a
:class:`~dcoc.envs.codesign.CoDesignEnv` whose evaluator is wrapped so that each layer
evaluation is stored (hardware configuration and knob indices, layer, tile and order actions,
cycles, energy, area, EDP, validity) in ``records.sqlite`` before the env sees the report.
The records are the run's memory: the best design, the evaluation count and ``--resume`` all
read them. The reference design's random search is recorded once per workload as method
``reference``. :func:`make_recorded_joint_codesign_env` is the same recorded env under the
one-agent joint view (:class:`~dcoc.envs.codesign_joint.CoDesignJointEnv`, method ``ppo`` of
``python -m dcoc.search``): the view forwards each decision to the recorded env, so its
evaluations are counted and recorded exactly as the three agents'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dcoc.accel.architecture import Architecture
from dcoc.accel.evaluator import CachedEvaluators, MappingEvaluator, invalid_reasons
from dcoc.accel.mapping import Mapping as AccelMapping
from dcoc.accel.report import CostSummary
from dcoc.accel.tables import EnergyTables
from dcoc.envs.codesign import CoDesignEnv
from dcoc.envs.codesign_config import CoDesignEnvConfig, build_space, resolve_layers
from dcoc.envs.codesign_joint import CoDesignJointEnv
from dcoc.envs.codesign_refine import CoDesignRefineEnv
from dcoc.records import CandidateRecord, RecordsDB, TargetKind
from dcoc.search.methods.mcts_search import state_from_json
from dcoc.workloads.catalog import resolve_layers as resolve_layer_set
from dcoc.workloads.network import Layer
from dcoc.workloads.problem import Problem

RECORDS_PATH_KEY = "records_path"
"""``env_config`` key: the records database (``None``: nothing is recorded)."""
RECORDS_METHOD_KEY = "records_method"
"""``env_config`` key: the ``method`` column of the env's records (default ``ppo``)."""
START_DESIGN_KEY = "start_design"
"""``env_config`` key of the refine env: the design its first episode starts from."""
REFERENCE_METHOD = "reference"


def workload_keys(workload: str | Sequence[str], layers: Sequence[Layer]) -> list[str]:
    """Records key (``NET/LAYER`` or the inline shape) of each layer of ``workload``."""
    keys = list(resolve_layer_set(workload).keys)
    if len(keys) != len(layers):
        raise ValueError(f"{workload!r} has {len(keys)} layers, not {len(layers)}")
    return keys


def parse_workload(workload: str) -> str | tuple[str, ...]:
    """The env's workload value of a config string: a comma list of ``NET/LAYER`` names
    becomes a tuple (an inline shape such as ``matmul:M,N,K`` stays one string)."""
    if "," in workload and ":" not in workload:
        return tuple(w.strip() for w in workload.split(",") if w.strip())
    return workload


@dataclass(frozen=True)
class Evaluation:
    """One call of the model: its numbers and, if it rejected the mapping, why."""

    summary: CostSummary
    error: str | None


class CountingEvaluator:
    """Wraps a :class:`~dcoc.accel.evaluator.MappingEvaluator`; counts calls and remembers
    the last one (with the reasons of an invalid mapping, for the records)."""

    def __init__(self, base: MappingEvaluator) -> None:
        self.base = base
        self.calls = 0
        self.log: list[tuple[Problem, Evaluation]] | None = []
        """Calls made while the env is built (the reference search); ``None`` afterwards."""
        self.last: Evaluation | None = None

    def __call__(
        self, arch: Architecture, problem: Problem, mapping: AccelMapping, tables: EnergyTables
    ) -> CostSummary:
        summary = self.base(arch, problem, mapping, tables)
        self.calls += 1
        error = None if summary.valid else invalid_reasons(arch, problem, mapping, tables)
        self.last = Evaluation(summary, error)
        if self.log is not None:
            self.log.append((problem, self.last))
        return summary


def _metric(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class RecordedCoDesignEnv:
    """:class:`CoDesignEnv` (dict protocol, unchanged) that records every layer evaluation."""

    def __init__(
        self,
        config: CoDesignEnvConfig,
        *,
        records_path: str | None = None,
        method: str = "ppo",
    ) -> None:
        self.evaluator = CountingEvaluator(
            CachedEvaluators(legacy_translation=config.legacy_translation)
        )
        self.env = CoDesignEnv(config, evaluator=self.evaluator)
        self.method = method
        self.possible_agents = self.env.possible_agents
        self.agents = self.env.agents
        self.observation_spaces = self.env.observation_spaces
        self.action_spaces = self.env.action_spaces
        layers = self.env.space.layers
        self.keys = workload_keys(config.workload, layers)
        self.episodes = 0
        self._tile: tuple[int, ...] = ()
        self.records: RecordsDB | None = None
        if records_path is not None:
            self.records = RecordsDB.open(records_path)
            for key, layer in zip(self.keys, layers, strict=True):
                self.records.add_workload(key, _describe(layer))
            assert self.evaluator.log is not None
            if self.records.count(method=REFERENCE_METHOD, workload=self.keys[0]) == 0:
                self._record_reference(self.evaluator.log)
        self.evaluator.log = None

    @property
    def unwrapped(self) -> CoDesignEnv:
        return self.env

    def _record_reference(self, log: list[tuple[Problem, Evaluation]]) -> None:
        assert self.records is not None
        problems = [layer.problem for layer in self.env.space.layers]
        hw = self.env.space.design_space.default()
        for trial, (problem, report) in enumerate(log):
            index = next((i for i, p in enumerate(problems) if p == problem), 0)
            design = {"hw": hw.as_dict(), "layer": self.env.space.layers[index].name}
            self.records.add(
                self._record(self.keys[index], REFERENCE_METHOD, trial, design, report)
            )

    def _record(
        self,
        key: str,
        method: str,
        trial: int,
        design: Mapping[str, Any],
        evaluation: Evaluation,
        area_um2: float | None = None,
    ) -> CandidateRecord:
        report = evaluation.summary
        return CandidateRecord(
            target=TargetKind.ACCEL,
            workload=key,
            method=method,
            trial=trial,
            design=design,
            valid=report.valid,
            error=evaluation.error,
            cycles=int(report.cycles) if report.valid else None,
            energy_pj=float(report.energy_pj) if report.valid else None,
            area_um2=area_um2 if area_um2 is not None else float(report.area_um2),
            edp=_metric(report.edp) if report.valid else None,
            metrics={"utilization": float(report.utilization)},
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        out = self.env.reset(seed=seed, options=options)
        self.agents = self.env.agents
        return out

    def step(self, action_dict: Mapping[str, Any]) -> tuple[dict[str, Any], ...]:
        agent = self.env.current_agent
        ctx, layer = self.env.hardware_context, self.env.layer_index
        calls = self.evaluator.calls
        if agent == "sw_tile":
            self._tile = tuple(int(a) for a in _flat(action_dict[agent]))
        out = self.env.step(action_dict)
        if self.evaluator.calls > calls and self.records is not None and ctx is not None:
            report = self.evaluator.last
            assert report is not None and agent is not None
            design = {
                "hw": ctx.config.as_dict(),
                "hw_action": list(ctx.indices),
                "layer": self.env.space.layers[layer].name,
                "layer_index": layer,
                "tile_action": list(self._tile),
                "order_action": [int(a) for a in _flat(action_dict[agent])],
                "episode": self.episodes,
            }
            record = self._record(
                self.keys[layer], self.method, self.episodes, design, report, ctx.area_um2
            )
            self.records.add(record)
        if self.env.current_agent is None:
            self.episodes += 1
        self.agents = self.env.agents
        return out

    def close(self) -> None:
        if self.records is not None:
            self.records.close()
            self.records = None


def _flat(action: Any) -> list[int]:
    try:
        return [int(a) for a in action]
    except TypeError:
        return [int(action)]


def _describe(layer: Layer) -> dict[str, Any]:
    problem = layer.problem
    return {
        "layer": layer.name,
        "count": layer.count,
        "macs": int(layer.macs),
        "shape": problem.name,
        "bounds": {str(k): int(v) for k, v in problem.bounds.items()},
    }


def make_recorded_codesign_env(env_config: Mapping[str, Any] | None = None) -> RecordedCoDesignEnv:
    """Factory ``env_config -> RecordedCoDesignEnv``: the :class:`CoDesignEnvConfig` keys plus
    ``records_path`` and ``records_method``."""
    values = dict(env_config or {})
    path = values.pop(RECORDS_PATH_KEY, None)
    method = values.pop(RECORDS_METHOD_KEY, "ppo")
    return RecordedCoDesignEnv(
        CoDesignEnvConfig.from_mapping(values), records_path=path, method=str(method)
    )


def make_recorded_refine_env(env_config: Mapping[str, Any] | None = None) -> CoDesignRefineEnv:
    """Factory ``env_config -> CoDesignRefineEnv`` whose evaluations go to the records at
    ``records_path`` as method ``records_method`` (the same keys as
    :func:`make_recorded_codesign_env`); ``start_design`` (optional): the design the first
    episode starts from, as the tree search stores it (``hw_action``, ``tiles``, ``orders``)."""
    values = dict(env_config or {})
    path = values.pop(RECORDS_PATH_KEY, None)
    method = str(values.pop(RECORDS_METHOD_KEY, "ppo"))
    start = values.pop(START_DESIGN_KEY, None)
    config = CoDesignEnvConfig.from_mapping(values)
    space = build_space(config)
    keys = tuple(workload_keys(config.workload, space.layers))
    records = RecordsDB.open(path) if path is not None else None
    state = None if start is None else state_from_json(start)
    return CoDesignRefineEnv(
        config, space=space, keys=keys, records=records, method=method, start=state
    )


def make_recorded_joint_codesign_env(
    env_config: Mapping[str, Any] | None = None,
) -> CoDesignJointEnv:
    """Factory ``env_config -> CoDesignJointEnv`` over :func:`make_recorded_codesign_env`'s env
    (same keys)."""
    return CoDesignJointEnv(make_recorded_codesign_env(env_config))


__all__ = [
    "RECORDS_METHOD_KEY",
    "RECORDS_PATH_KEY",
    "START_DESIGN_KEY",
    "RecordedCoDesignEnv",
    "make_recorded_codesign_env",
    "make_recorded_joint_codesign_env",
    "make_recorded_refine_env",
    "parse_workload",
    "resolve_layers",
    "workload_keys",
]
