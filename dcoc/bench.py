"""``python -m dcoc.bench``: compare runs from their records databases, as a table and a plot.

    python -m dcoc.bench convergence RUN_DIR... [--metric edp] [--out convergence.png]

Every run directory (``python -m dcoc.train``, ``python -m dcoc.search``) holds
``records.sqlite`` with every evaluation in the order it happened. ``convergence`` prints, per
run and workload, how many evaluations were made, how many were valid, the best value of the
metric and after how many evaluations the run first came within 1 % of its own best; the plot
shows the best-so-far value against the number of evaluations, one panel per workload, one
line per run (log scale). Evaluations that are not the method's own (the reward's reference
search, out-of-budget measurements of skipped candidates) are left out by default.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dcoc.errors import SpecError
from dcoc.records import Metric, RecordsDB

RECORDS_FILE = "records.sqlite"
NOT_COUNTED = ("reference", "confidence_skipped")
"""Methods whose records are bookkeeping, not the search's own evaluations."""


@dataclass(frozen=True)
class Curve:
    """Best-so-far of one run on one workload: ``best[i]`` after ``i + 1`` evaluations."""

    run: str
    workload: str
    best: tuple[float, ...]
    valid: int

    @property
    def evaluations(self) -> int:
        return len(self.best)

    @property
    def final(self) -> float:
        return self.best[-1] if self.best else float("inf")

    def evaluations_to_within(self, fraction: float) -> int | None:
        """Evaluations after which the best first came within ``fraction`` of the final best."""
        target = self.final * (1.0 + fraction)
        for i, value in enumerate(self.best):
            if value <= target:
                return i + 1
        return None


def convergence_curves(
    run_dir: Path, metric: Metric, *, skip_methods: Iterable[str] = NOT_COUNTED
) -> list[Curve]:
    """One curve per workload recorded in ``run_dir``."""
    path = run_dir / RECORDS_FILE
    if not path.is_file():
        raise SpecError(str(run_dir), (), f"no {RECORDS_FILE}: is this a dcoc run directory?")
    skip = set(skip_methods)
    column = metric.value
    curves = []
    with RecordsDB.open(path) as db:
        for workload in db.workloads():
            best: list[float] = []
            current = float("inf")
            valid = 0
            for record in db.iterate(workload=workload):
                if record.method in skip:
                    continue
                value = getattr(record, column)
                if record.valid and value is not None:
                    valid += 1
                    current = min(current, float(value))
                best.append(current)
            if best:
                curves.append(Curve(run_dir.name, workload, tuple(best), valid))
    return curves


def natural_key(text: str) -> list[int | str]:
    """Sort key that puts ``C2`` before ``C10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def format_table(curves: Sequence[Curve], metric: Metric) -> str:
    """One row per (workload, run), workloads in natural order, runs in the order given."""
    header = (
        f"{'run':<40} {'workload':<22} {'evals':>8} {'valid':>8} "
        f"{'best ' + metric.value:>14} {'evals to 1%':>12}"
    )
    lines = [header, "-" * len(header)]
    order = {run: i for i, run in enumerate(dict.fromkeys(c.run for c in curves))}
    for c in sorted(curves, key=lambda c: (natural_key(c.workload), order[c.run])):
        reach = c.evaluations_to_within(0.01)
        lines.append(
            f"{c.run:<40.40} {c.workload:<22.22} {c.evaluations:>8} {c.valid:>8} "
            f"{c.final:>14.4g} {reach if reach is not None else '-':>12}"
        )
    return "\n".join(lines)


def plot_curves(curves: Sequence[Curve], metric: Metric, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({c.workload for c in curves}, key=natural_key)
    cols = min(3, len(workloads))
    rows = -(-len(workloads) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax, workload in zip(axes.flat, workloads, strict=False):
        for c in curves:
            if c.workload == workload and c.final != float("inf"):
                xs = range(1, c.evaluations + 1)
                ax.step(
                    xs,
                    [v if v != float("inf") else None for v in c.best],
                    where="post",
                    label=c.run,
                )
        ax.set_title(workload)
        ax.set_xlabel("evaluations")
        ax.set_ylabel(f"best {metric.value}")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    for ax in list(axes.flat)[len(workloads) :]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dcoc.bench", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("convergence", help="best-so-far against evaluations, table and plot")
    c.add_argument("runs", nargs="+", type=Path, help="run directories holding records.sqlite")
    c.add_argument("--metric", default="edp", choices=[m.value for m in Metric])
    c.add_argument("--out", type=Path, default=Path("convergence.png"), help="plot file (PNG)")
    c.add_argument(
        "--all-methods",
        action="store_true",
        help=f"count bookkeeping records too ({', '.join(NOT_COUNTED)})",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    metric = Metric(args.metric)
    skip = () if args.all_methods else NOT_COUNTED
    try:
        curves = [
            c for run in args.runs for c in convergence_curves(run, metric, skip_methods=skip)
        ]
    except SpecError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not any(c.valid for c in curves):
        print(
            f"error: no valid record with a {metric.value} in {len(args.runs)} run(s)",
            file=sys.stderr,
        )
        return 1
    print(format_table(curves, metric))
    plot_curves(curves, metric, args.out)
    print(f"plot: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
