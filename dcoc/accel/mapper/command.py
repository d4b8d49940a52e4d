"""``python -m dcoc.accel map``: search a layer's mapspace, like ``timeloop-mapper``.

    python -m dcoc.accel map ARCH.yaml PROBLEM.yaml [CONSTRAINTS.yaml] [MAPPER.yaml] [ERT/ART]
        [--workload NAME] [--search random-pruned|exhaustive|random-pruned-climb]
        [--metric edp ...] [--budget N] [--victory N] [--time-limit S] [--seed S]
        [--evaluator batched|scalar] [--out DIR] [--json] [--quiet] [--legacy-translation]
        [--jinja NAME=VALUE ...]

Input files are merged by top-level key: ``architecture`` (required), ``problem`` (or
``--workload resnet18/C5``), ``mapspace_constraints``/``constraints`` (optional), ``mapper``
(Timeloop mapper settings: ``optimization_metrics``, ``algorithm``, ``victory_condition``,
``timeout``, ``search_size``, ``max_permutations_per_if_visit``; command-line flags win),
``ERT``/``ART`` (else dcoc's estimator fills them). Writes ``timeloop-mapper.map.yaml`` and
``timeloop-mapper.stats.txt`` to ``--out`` (default: the current directory), and with
``--workload`` also ``timeloop-mapper.prob.yaml``.

Exit status: 0 a valid mapping was found, 1 none was found, 2 malformed input (one line).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from dcoc.accel.mapper.inputs import ALGORITHMS, MapperOverrides, load_mapper_inputs
from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.mapper.search import (
    MapperConfig,
    MapperProgress,
    MapperResult,
    search_mapspace,
)
from dcoc.accel.report import format_report
from dcoc.accel.spec.jinja_args import add_jinja_argument, jinja_data
from dcoc.accel.spec.mapping import mapping_to_yaml
from dcoc.objective import Objective
from dcoc.workloads.problem_yaml import problem_to_yaml

EXIT_FOUND, EXIT_NONE, EXIT_SPEC = 0, 1, 2
MAP_FILE, STATS_FILE = "timeloop-mapper.map.yaml", "timeloop-mapper.stats.txt"
PROBLEM_FILE = "timeloop-mapper.prob.yaml"


def stats_text(result: MapperResult, space: MapSpace, config: MapperConfig) -> str:

    assert result.best_report is not None
    lines = [
        format_report(result.best_report),
        "",
        "Mapper",
        "------",
        f"Algorithm: {config.algorithm.value}",
        f"Metrics: {', '.join(m.timeloop_name for m in config.metrics)}",
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
    overrides = MapperOverrides(
        algorithm=args.search,
        metrics=tuple(args.metric) if args.metric else None,
        max_evaluations=args.budget,
        victory_condition=args.victory,
        timeout_s=args.time_limit,
        seed=args.seed,
    )
    inputs = load_mapper_inputs(
        args.files,
        workload=args.workload,
        overrides=overrides,
        jinja_data=jinja_data(args.jinja),
    )
    arch, problem, space, config = inputs.architecture, inputs.problem, inputs.space, inputs.config
    evaluator = inputs.evaluator(
        batched=args.evaluator == "batched", legacy_translation=args.legacy_translation
    )
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
        "metrics": [m.timeloop_name for m in config.metrics],
        "ignored": list(inputs.ignored),
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
        if args.workload:  # so that `evaluate ARCH PROBLEM MAP` can replay the result
            problem_file = out_dir / PROBLEM_FILE
            problem_file.write_text(
                yaml.safe_dump({"problem": problem_to_yaml(problem)}, sort_keys=False)
            )
            out["problem_file"] = str(problem_file)
    if not args.json:
        for line in inputs.ignored:
            print(f"warning: {line}")
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
    p.add_argument(
        "--search",
        choices=sorted(ALGORITHMS),
        help="default: the mapper file's algorithm, else random-pruned",
    )
    p.add_argument(
        "--metric",
        action="append",
        choices=[*(o.value for o in Objective), "delay"],
        help="optimization metric (delay: Timeloop's name of latency, in cycles); repeat for a "
        "lexicographic list (default: edp)",
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
    add_jinja_argument(p)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument(
        "--legacy-translation",
        action="store_true",
        help="Timeloop's stride rule from before commit a12fff5 (the May-2024 references)",
    )
    p.set_defaults(run=run_map)
