"""Reading a mapper run from Timeloop YAML: architecture, problem, constraints, mapper settings.

    inputs = load_mapper_inputs(["arch.yaml", "prob.yaml", "constraints.yaml", "mapper.yaml"])
    result = search_mapspace(inputs.space, inputs.evaluator(), inputs.config)

Files are merged by top-level key as ``timeloop-mapper`` takes them: ``architecture``
(required), ``problem`` (or ``workload="resnet18/C5"``), ``mapspace_constraints`` /
``constraints`` / ``mapspace`` (optional), ``mapper`` (optional Timeloop settings:
``optimization_metrics``, ``algorithm``, ``victory_condition``, ``timeout`` -- consecutive pruned
draws --, ``search_size`` -- evaluation budget --, ``max_permutations_per_if_visit``), ``ERT`` /
``ART`` (else dcoc's estimator fills them). :class:`MapperOverrides` (command-line flags) win.
Other ``mapper:`` keys and the constraint keys dcoc does not apply (``maximize_dims``, ...;
:data:`~dcoc.accel.mapper.constraints.IGNORED_LOOP_KEYS`) are listed in
:attr:`MapperInputs.ignored`; timeloopfe's ``factors_only``, ``keep_only`` and ``bypass_only``
macros are applied.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapper.constraints import build_constraints, constraint_documents
from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.mapper.search import (
    BatchMappingEvaluator,
    MapperConfig,
    SearchAlgorithm,
    batched_evaluator,
    model_evaluator,
)
from dcoc.accel.spec.architecture import parse_architecture
from dcoc.accel.spec.documents import SpecDocument, load_spec
from dcoc.accel.spec.inputs import tables_from_document
from dcoc.accel.tables import EnergyTables
from dcoc.errors import SpecError
from dcoc.objective import Objective
from dcoc.workloads.problem import Problem
from dcoc.workloads.problem_yaml import parse_problem

ALGORITHMS = {
    "random-pruned": SearchAlgorithm.RANDOM_PRUNED,
    "random_pruned": SearchAlgorithm.RANDOM_PRUNED,
    "random": SearchAlgorithm.RANDOM_PRUNED,
    "exhaustive": SearchAlgorithm.EXHAUSTIVE,
    "linear_pruned": SearchAlgorithm.EXHAUSTIVE,
    "linear-pruned": SearchAlgorithm.EXHAUSTIVE,
    "random-pruned-climb": SearchAlgorithm.CLIMB,
}
"""Timeloop's algorithm names (``random``/``random_pruned``, ``linear_pruned``) and dcoc's
(``random-pruned``, ``exhaustive``, ``random-pruned-climb``)."""
MAPPER_KEYS = frozenset(
    {
        "version",
        "optimization_metrics",
        "optimization_metric",
        "algorithm",
        "victory_condition",
        "timeout",
        "search_size",
        "max_permutations_per_if_visit",
    }
)
"""The ``mapper:`` settings dcoc applies; any other key is reported in
:attr:`MapperInputs.ignored` (``num_threads``, ``live_status``, ``log_*``,
``max_temporal_loops_in_a_mapping``, ...)."""
DEFAULT_VICTORY = 100
DEFAULT_REJECTIONS = 10_000
DEFAULT_PERMUTATIONS = 16


@dataclass(frozen=True)
class MapperOverrides:
    """Settings that win over the ``mapper:`` block (``None``: keep the file's or default)."""

    algorithm: str | None = None
    metrics: tuple[str, ...] | None = None
    max_evaluations: int | None = None
    victory_condition: int | None = None
    timeout_s: float | None = None
    seed: int = 0


@dataclass(frozen=True)
class MapperInputs:
    architecture: Architecture
    problem: Problem
    tables: EnergyTables
    space: MapSpace
    config: MapperConfig
    ignored: tuple[str, ...] = ()
    """Settings and constraints read but not applied, one ``file: yaml.path: why`` each."""

    def evaluator(
        self, *, batched: bool = True, legacy_translation: bool = False
    ) -> BatchMappingEvaluator:
        make = batched_evaluator if batched else model_evaluator
        return make(
            self.architecture, self.problem, self.tables, legacy_translation=legacy_translation
        )


def _int_setting(mapper: MappingABC[str, Any], key: str, file: str) -> int | None:
    v = mapper.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise SpecError(file, ("mapper", key), f"must be a non-negative integer, got {v!r}")
    return v


def mapper_config(raw: Any, file: str, overrides: MapperOverrides) -> MapperConfig:
    """A :class:`MapperConfig` from a Timeloop ``mapper:`` block and overrides."""
    raw = raw or {}
    if not isinstance(raw, MappingABC):
        raise SpecError(file, ("mapper",), "must be a mapping of mapper settings")
    o = overrides
    metrics_raw: Any = (
        o.metrics or raw.get("optimization_metrics") or raw.get("optimization_metric")
    )
    if isinstance(metrics_raw, str):
        metrics_raw = [metrics_raw]
    if metrics_raw is not None and not isinstance(metrics_raw, list | tuple):
        raise SpecError(
            file,
            ("mapper", "optimization_metrics"),
            f"must be a list of metrics such as [edp], got {metrics_raw!r}",
        )
    metrics: list[Objective] = []
    for i, m in enumerate(metrics_raw or ["edp"]):
        try:
            metrics.append(Objective.parse(m))
        except ValueError:
            raise SpecError(
                "<command line>" if o.metrics else file,
                ("mapper", "optimization_metrics", i),
                f"unknown metric {m!r}; use {', '.join(x.value for x in Objective)}",
            ) from None
    algo_name = o.algorithm or str(raw.get("algorithm", "random-pruned"))
    if algo_name not in ALGORITHMS:
        raise SpecError(
            "<command line>" if o.algorithm else file,
            ("mapper", "algorithm"),
            f"unknown algorithm {algo_name!r}; use random-pruned or exhaustive",
        )
    victory = o.victory_condition
    if victory is None:
        victory = _int_setting(raw, "victory_condition", file)
    budget = o.max_evaluations
    if budget is None:
        budget = _int_setting(raw, "search_size", file)
    rejections = _int_setting(raw, "timeout", file)
    perms = _int_setting(raw, "max_permutations_per_if_visit", file)
    algorithm = ALGORITHMS[algo_name]
    if algorithm != SearchAlgorithm.EXHAUSTIVE and victory == 0 and not budget and not o.timeout_s:
        raise SpecError(
            file,
            ("mapper", "victory_condition"),
            f"{algorithm.value} would never stop: give a victory condition > 0, a search_size "
            "(--budget) or a time limit (--time-limit)",
        )
    return MapperConfig(
        algorithm=algorithm,
        metrics=tuple(metrics),
        max_evaluations=budget or None,
        victory_condition=DEFAULT_VICTORY if victory is None else victory,
        timeout_s=o.timeout_s,
        max_consecutive_rejections=rejections or DEFAULT_REJECTIONS,
        max_permutations_per_if_visit=perms or DEFAULT_PERMUTATIONS,
        seed=o.seed,
    )


def _problem(doc: SpecDocument, workload: str | None) -> Problem:
    if workload:
        if "problem" in doc:
            raise SpecError(
                doc.file_of("problem"), ("problem",), "give either a problem file or a workload"
            )
        from dcoc.workloads.catalog import resolve_workload

        return resolve_workload(workload).problem
    if "problem" not in doc:
        files = ", ".join(dict.fromkeys(doc.sources.values()))
        raise SpecError(files, ("problem",), "no problem given; add a problem file or --workload")
    return parse_problem(doc.get("problem"), doc.file_of("problem"))


def mapper_inputs(
    doc: SpecDocument,
    *,
    workload: str | None = None,
    overrides: MapperOverrides = MapperOverrides(),
) -> MapperInputs:
    if "mapping" in doc:
        raise SpecError(
            doc.file_of("mapping"),
            ("mapping",),
            "the mapper searches for a mapping; drop the mapping file (or use 'evaluate')",
        )
    if "architecture" not in doc:
        files = ", ".join(dict.fromkeys(doc.sources.values()))
        raise SpecError(files, ("architecture",), "no architecture file given")
    arch = parse_architecture(doc.get("architecture"), doc.file_of("architecture"))
    problem = _problem(doc, workload)
    documents = constraint_documents(doc)
    constraints = build_constraints(
        arch, problem, documents=documents, architecture_file=doc.file_of("architecture")
    )
    try:
        space = MapSpace(arch, problem, constraints)
    except ValueError as exc:
        where = documents[-1] if documents else None
        if where is None:  # the architecture's own constraints
            raise SpecError(doc.file_of("architecture"), ("architecture",), str(exc)) from None
        raise SpecError(where.file, (where.key,), str(exc)) from None
    config = mapper_config(doc.get("mapper"), doc.file_of("mapper"), overrides)
    raw_mapper = doc.get("mapper")
    ignored = list(constraints.ignored)
    if isinstance(raw_mapper, MappingABC):
        ignored += [
            f"{doc.file_of('mapper')}: mapper.{k}: ignored (not a dcoc mapper setting)"
            for k in raw_mapper
            if str(k) not in MAPPER_KEYS
        ]
    return MapperInputs(
        arch, problem, tables_from_document(doc, arch), space, config, tuple(ignored)
    )


def load_mapper_inputs(
    paths: Sequence[str | Path],
    *,
    workload: str | None = None,
    overrides: MapperOverrides = MapperOverrides(),
    jinja_data: MappingABC[str, Any] | None = None,
) -> MapperInputs:
    """Load and validate a mapper run's Timeloop YAML files (see the module doc);
    ``jinja_data`` are the Jinja2 variables of the files' templates."""
    return mapper_inputs(load_spec(paths, jinja_data), workload=workload, overrides=overrides)
