"""``python -m dcoc.accel``: evaluate Timeloop YAML specs with dcoc's accelerator model.

    python -m dcoc.accel evaluate arch.yaml prob.yaml map.yaml ERT.yaml ART.yaml [--json]
        [--legacy-translation]

Exit status: 0 valid mapping, 1 invalid mapping (reasons printed), 2 malformed spec (one line
naming the file, the YAML path and what is wrong).

Further subcommands register through ``add_command(subparsers)`` functions listed in
``_COMMAND_MODULES`` (the mapper adds ``map`` this way once ``dcoc.accel.mapper`` exists).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Sequence

from dcoc.accel.model import evaluate
from dcoc.accel.report import CostReport
from dcoc.accel.spec import load_model_inputs
from dcoc.errors import SpecError

EXIT_VALID, EXIT_INVALID, EXIT_SPEC = 0, 1, 2

# Modules that may add a subcommand with ``add_command(subparsers) -> None``.
_COMMAND_MODULES = ("dcoc.accel.mapper",)


def format_report(report: CostReport) -> str:
    """A readable summary in the spirit of ``timeloop-model.stats.txt``."""
    if not report.valid:
        return "INVALID mapping:\n" + "\n".join(f"  - {r}" for r in report.reasons)
    lines = [
        "Summary Stats",
        "-------------",
        f"Cycles: {report.cycles}",
        f"Computes: {report.computes}",
        f"Utilization: {100 * report.utilization:.2f} %",
        f"Energy: {report.energy_pj / 1e6:.2f} uJ ({report.energy_pj:.6f} pJ)",
        f"EDP(J*cycle): {report.edp * 1e-12:.2e}",
        f"Area: {report.area_um2 / 1e6:.2f} mm^2",
        "",
        "fJ/Compute",
        f"    {'MAC':<30} = {1000 * report.mac_energy_pj / report.computes:.2f}",
    ]
    for lv in reversed(report.levels):
        lines.append(f"    {lv.name:<30} = {1000 * lv.energy_pj / report.computes:.2f}")
    lines.append(f"    {'Total':<30} = {1000 * report.energy_per_compute_pj:.2f}")
    lines += ["", "Per-instance scalar accesses (kept data spaces)"]
    header = f"    {'level':<30} {'data space':<12} {'reads':>14} {'fills':>14} {'updates':>14}"
    lines += [header + f" {'util.cap':>10} {'instances':>9}"]
    for lv in reversed(report.levels):
        for ds in lv.dataspaces:
            if ds.kept and (ds.reads or ds.fills or ds.updates or ds.utilized_capacity):
                lines.append(
                    f"    {lv.name:<30} {ds.name:<12} {ds.reads:>14} {ds.fills:>14} "
                    f"{ds.updates:>14} {ds.utilized_capacity:>10} {ds.utilized_instances:>9}"
                )
    return "\n".join(lines)


def _run_evaluate(args: argparse.Namespace) -> int:
    inputs = load_model_inputs(args.files)
    report = evaluate(
        inputs.architecture,
        inputs.problem,
        inputs.mapping,
        tables=inputs.tables,
        legacy_translation=args.legacy_translation,
        link_transfers=not args.no_link_transfers,
    )
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(format_report(report))
    return EXIT_VALID if report.valid else EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dcoc.accel", description="dcoc's Timeloop-compatible accelerator model"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser(
        "evaluate",
        help="evaluate one mapping (like timeloop-model)",
        description="Evaluate Timeloop YAML files merged by top-level key (architecture, "
        "problem, mapping, ERT, ART).",
    )
    ev.add_argument("files", nargs="+", metavar="FILE", help="Timeloop YAML input files")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument(
        "--legacy-translation",
        action="store_true",
        help="use Timeloop's stride rule from before commit a12fff5 (Jan 2025), as in the "
        "May-2024 reference outputs",
    )
    ev.add_argument(
        "--no-link-transfers",
        action="store_true",
        help="ignore neighbour-link transfers between spatial instances (timeloop-model uses "
        "them by default where they cut parent accesses)",
    )
    ev.set_defaults(run=_run_evaluate)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        add: Callable[[argparse._SubParsersAction], None] | None = getattr(
            module, "add_command", None
        )
        if add is not None:
            try:
                add(sub)
            except Exception:  # a broken optional command must not break 'evaluate'
                continue
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except SpecError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        return EXIT_SPEC
    except Exception as exc:  # a CLI never shows a traceback
        print(f"internal error: {type(exc).__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_SPEC


if __name__ == "__main__":
    sys.exit(main())
