"""``python -m dcoc.accel``: evaluate Timeloop YAML specs with dcoc's accelerator model.

    python -m dcoc.accel evaluate arch.yaml prob.yaml map.yaml ERT.yaml ART.yaml [--json]
        [--legacy-translation] [--jinja NAME=VALUE ...]
    python -m dcoc.accel map ARCH.yaml PROBLEM.yaml [CONSTRAINTS.yaml] ...
        (like timeloop-mapper: :mod:`dcoc.accel.mapper.command`)

Exit status of ``evaluate``: 0 valid mapping, 1 invalid mapping (reasons printed), 2 malformed
spec (one line naming the file, the YAML path and what is wrong).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from dcoc.accel.mapper.command import add_map_command
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import format_report
from dcoc.accel.spec.documents import load_spec
from dcoc.accel.spec.inputs import model_inputs
from dcoc.accel.spec.jinja_args import add_jinja_argument, jinja_data
from dcoc.accel.spec.variables import resolved_variables
from dcoc.errors import SpecError

EXIT_VALID, EXIT_INVALID, EXIT_SPEC = 0, 1, 2


def _run_evaluate(args: argparse.Namespace) -> int:
    doc = load_spec(args.files, jinja_data(args.jinja))
    inputs = model_inputs(doc)
    report = evaluate(
        inputs.architecture,
        inputs.problem,
        inputs.mapping,
        tables=inputs.tables,
        legacy_translation=args.legacy_translation,
        link_transfers=not args.no_link_transfers,
    )
    if args.json:
        out = report.to_json()
        variables = resolved_variables(doc)
        if variables:
            out["variables"] = variables  # as resolved from the files' variables block
        print(json.dumps(out))
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
    add_jinja_argument(ev)
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
    add_map_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # Files after an option (``FILE --jinja a=1 FILE``) are files too: argparse has taken
    # the positional list before the option and leaves the rest over.
    if extra and hasattr(args, "files") and not any(e.startswith("-") for e in extra):
        args.files = [*args.files, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
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
