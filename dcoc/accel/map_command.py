"""``python -m dcoc.accel map``: search a layer's mapspace, like ``timeloop-mapper``.

    python -m dcoc.accel map ARCH.yaml PROBLEM.yaml [CONSTRAINTS.yaml] [MAPPER.yaml] [ERT/ART]
        [--workload NAME] [--search random-pruned|exhaustive] [--metric edp ...] [--budget N]
        [--victory N] [--time-limit S] [--seed S] [--evaluator batched|scalar] [--out DIR]
        [--json] [--quiet] [--legacy-translation]

Input files are merged by top-level key: ``architecture`` (required), ``problem`` (or
``--workload resnet18/C5``), ``mapspace_constraints``/``constraints`` (optional), ``mapper``
(Timeloop mapper settings: ``optimization_metrics``, ``algorithm``, ``victory_condition``,
``timeout``, ``search_size``, ``max_permutations_per_if_visit``; command-line flags win),
``ERT``/``ART`` (else dcoc's estimator fills them). Writes ``timeloop-mapper.map.yaml`` and
``timeloop-mapper.stats.txt`` to ``--out`` (default: the current directory).

Exit status: 0 a valid mapping was found, 1 none was found, 2 malformed input (one line).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

import yaml

from dcoc.accel.architecture import parse_architecture
from dcoc.accel.mapper import (
    MapperConfig,
    MapperProgress,
    MapperResult,
    Metric,
    SearchAlgorithm,
    batched_evaluator,
    model_evaluator,
    search_mapspace,
)
from dcoc.accel.mapping import mapping_to_yaml
from dcoc.accel.mapspace import MapSpace
from dcoc.accel.mapspace_constraints import build_constraints, constraint_document
from dcoc.accel.spec import tables_from_document
from dcoc.accel.yaml_loader import SpecDocument, load_spec
from dcoc.errors import SpecError
from dcoc.workloads.problem import Problem
from dcoc.workloads.problem_yaml import parse_problem

EXIT_FOUND, EXIT_NONE, EXIT_SPEC = 0, 1, 2
MAP_FILE, STATS_FILE = "timeloop-mapper.map.yaml", "timeloop-mapper.stats.txt"
_ALGORITHMS = {
    "random-pruned": SearchAlgorithm.RANDOM_PRUNED,
    "random_pruned": SearchAlgorithm.RANDOM_PRUNED,
    "random": SearchAlgorithm.RANDOM_PRUNED,
    "exhaustive": SearchAlgorithm.EXHAUSTIVE,
    "linear_pruned": SearchAlgorithm.EXHAUSTIVE,
    "linear-pruned": SearchAlgorithm.EXHAUSTIVE,
}


def _int_setting(mapper: MappingABC[str, Any], key: str, file: str) -> int | None:
    v = mapper.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise SpecError(file, ("mapper", key), f"must be a non-negative integer, got {v!r}")
    return v


def config_from(args: argparse.Namespace, doc: SpecDocument) -> MapperConfig:
    """Timeloop ``mapper:`` settings, overridden by command-line flags."""
    raw = doc.get("mapper") or {}
    file = doc.file_of("mapper")
    if not isinstance(raw, MappingABC):
        raise SpecError(file, ("mapper",), "must be a mapping of mapper settings")
    metrics_raw = args.metric or raw.get("optimization_metrics") or raw.get("optimization_metric")
    if isinstance(metrics_raw, str):
        metrics_raw = [metrics_raw]
    metrics: list[Metric] = []
    for i, m in enumerate(metrics_raw or ["edp"]):
        try:
            metrics.append(Metric(str(m)))
        except ValueError:
            raise SpecError(
                file if not args.metric else "<command line>",
                ("mapper", "optimization_metrics", i),
                f"unknown metric {m!r}; use {', '.join(x.value for x in Metric)}",
            ) from None
    algo_name = args.search or str(raw.get("algorithm", "random-pruned"))
    if algo_name not in _ALGORITHMS:
        raise SpecError(
            file,
            ("mapper", "algorithm"),
            f"unknown algorithm {algo_name!r}; use random-pruned or exhaustive",
        )
    victory = (
        args.victory if args.victory is not None else _int_setting(raw, "victory_condition", file)
    )
    budget = args.budget if args.budget is not None else _int_setting(raw, "search_size", file)
    rejections = _int_setting(raw, "timeout", file)
    perms = _int_setting(raw, "max_permutations_per_if_visit", file)
    return MapperConfig(
        algorithm=_ALGORITHMS[algo_name],
        metrics=tuple(metrics),
        max_evaluations=budget or None,
        victory_condition=100 if victory is None else victory,
        timeout_s=args.time_limit,
        max_consecutive_rejections=rejections or 10_000,
        max_permutations_per_if_visit=perms or 16,
        seed=args.seed,
    )


def _problem(args: argparse.Namespace, doc: SpecDocument) -> Problem:
    if args.workload:
        if "problem" in doc:
            raise SpecError(
                doc.file_of("problem"), ("problem",), "give either a problem file or --workload"
            )
        from dcoc.workloads.catalog import resolve_workload

        return resolve_workload(args.workload).problem
    if "problem" not in doc:
        files = ", ".join(dict.fromkeys(doc.sources.values()))
        raise SpecError(files, ("problem",), "no problem given; add a problem file or --workload")
    return parse_problem(doc.get("problem"), doc.file_of("problem"))


def stats_text(result: MapperResult, space: MapSpace, config: MapperConfig) -> str:
    from dcoc.accel.__main__ import format_report

    assert result.best_report is not None
    lines = [
        format_report(result.best_report),
        "",
        "Mapper",
        "------",
        f"Algorithm: {config.algorithm.value}",
        f"Metrics: {', '.join(m.value for m in config.metrics)}",
        f"Mapspace size: {space.size} (factorizations {space.factorization_count}, "
        f"permutations {space.permutation_count}, bypass {space.bypass_count})",
        f"Evaluations: {result.evaluations} ({result.valid_evaluations} valid), "
        f"pruned draws: {result.pruned}",
        f"Time: {result.elapsed_s:.2f} s",
        f"Stopped: {result.stop_reason}",
    ]
    return "\n".join(lines) + "\n"


def _progress_printer(stream: Any) -> Any:
    last = [0.0]

    def show(p: MapperProgress) -> None:
        now = time.perf_counter()
        if now - last[0] < 1.0:
            return
        last[0] = now
        best = "-" if p.best_objective is None else ", ".join(f"{v:.6g}" for v in p.best_objective)
        print(
            f"[map] {p.elapsed_s:7.1f} s  evaluations {p.evaluations}  valid "
            f"{p.valid_evaluations}  pruned {p.pruned}  best {best}",
            file=stream,
            flush=True,
        )

    return show


def run_map(args: argparse.Namespace) -> int:
    doc = load_spec(args.files)
    if "mapping" in doc:
        raise SpecError(
            doc.file_of("mapping"),
            ("mapping",),
            "map searches for a mapping; drop the mapping file (or use 'evaluate')",
        )
    if "architecture" not in doc:
        files = ", ".join(dict.fromkeys(doc.sources.values()))
        raise SpecError(files, ("architecture",), "no architecture file given")
    arch = parse_architecture(doc.get("architecture"), doc.file_of("architecture"))
    problem = _problem(args, doc)
    raw_c, key = constraint_document(doc.values)
    constraints = build_constraints(
        arch,
        problem,
        raw_architecture=doc.get("architecture"),
        constraint_targets=raw_c,
        constraints_file=doc.file_of(key) if key else None,
    )
    try:
        space = MapSpace(arch, problem, constraints)
    except ValueError as exc:
        raise SpecError(
            doc.file_of(key) if key else None, (key or "constraints",), str(exc)
        ) from None
    config = config_from(args, doc)
    tables = tables_from_document(doc, arch)
    make = batched_evaluator if args.evaluator == "batched" else model_evaluator
    evaluator = make(arch, problem, tables, legacy_translation=args.legacy_translation)
    progress = None if args.quiet else _progress_printer(sys.stderr)
    result = search_mapspace(space, evaluator, config, progress=progress)
    out: dict[str, Any] = {
        "valid": result.found,
        "evaluations": result.evaluations,
        "valid_evaluations": result.valid_evaluations,
        "pruned": result.pruned,
        "elapsed_s": result.elapsed_s,
        "evaluations_per_s": result.evaluations / result.elapsed_s if result.elapsed_s else 0.0,
        "mapspace_size": space.size,
        "stop_reason": result.stop_reason,
        "metrics": [m.value for m in config.metrics],
    }
    if result.best_report is not None and result.best_mapping is not None:
        report = result.best_report
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        map_file, stats_file = out_dir / MAP_FILE, out_dir / STATS_FILE
        map_file.write_text(
            yaml.safe_dump(
                {"mapping": mapping_to_yaml(result.best_mapping, arch, problem)}, sort_keys=False
            )
        )
        stats_file.write_text(stats_text(result, space, config))
        out.update(
            best_edp=report.edp,
            energy_pj=report.energy_pj,
            cycles=report.cycles,
            utilization=report.utilization,
            objective=dict(zip(out["metrics"], result.best_objective or (), strict=True)),
            mapping_file=str(map_file),
            stats_file=str(stats_file),
        )
    if args.json:
        print(json.dumps(out))
    elif result.best_report is not None:
        r = result.best_report
        print(
            f"best mapping: energy {r.energy_pj:.6g} pJ, cycles {r.cycles}, EDP {r.edp:.6g}, "
            f"utilization {100 * r.utilization:.2f} %"
        )
        print(
            f"{result.evaluations} evaluations ({result.valid_evaluations} valid) in "
            f"{result.elapsed_s:.2f} s; {result.stop_reason}"
        )
        print(f"wrote {out['mapping_file']} and {out['stats_file']}")
    else:
        print(f"no valid mapping found: {result.stop_reason}")
    return EXIT_FOUND if result.found else EXIT_NONE


def add_map_command(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "map",
        help="search the mapspace of a layer (like timeloop-mapper)",
        description="Search the legal mapspace of a layer on an architecture. Files are merged "
        "by top-level key: architecture, problem, mapspace_constraints, mapper, ERT, ART.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="Timeloop YAML input files")
    p.add_argument("--workload", help="a named layer instead of a problem file (resnet18/C5)")
    p.add_argument("--search", choices=sorted(_ALGORITHMS), help="default: random-pruned")
    p.add_argument(
        "--metric",
        action="append",
        choices=[m.value for m in Metric],
        help="optimization metric; repeat for a lexicographic list (default: edp)",
    )
    p.add_argument("--budget", type=int, help="maximum evaluations (default: no limit)")
    p.add_argument(
        "--victory",
        type=int,
        help="stop after N consecutive valid non-improving mappings (0: never; default 100)",
    )
    p.add_argument("--time-limit", type=float, help="wall-clock limit in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--evaluator",
        choices=["batched", "scalar"],
        default="batched",
        help="numpy-batched model (default) or the scalar model; both give identical numbers",
    )
    p.add_argument("--out", default=".", help="directory for the mapping and stats files")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--legacy-translation",
        action="store_true",
        help="Timeloop's stride rule from before commit a12fff5 (the May-2024 references)",
    )
    p.set_defaults(run=run_map)
