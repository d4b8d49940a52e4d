"""The files a finished run leaves: the best design (Timeloop YAML, TIR, a Markdown table) and
``summary.json``.

Co-design: ``best/architecture.yaml`` (the template with the best knobs applied),
``best/problems/<layer>.yaml``, ``best/mappings/<layer>.yaml`` (Timeloop mapper-output form;
``python -m dcoc.accel evaluate best/architecture.yaml best/problems/L.yaml
best/mappings/L.yaml`` re-evaluates a layer), ``best/tir/<layer>.py`` (the mapping as a TIR
program, :func:`dcoc.tvm.mapping_tir.mapping_tir_text`) and ``best/summary.md``. The best
design is decoded again from its recorded actions and re-evaluated, so the files and the
numbers come from one model call, not from the records.

A layer's files are named after the layer when its name is a plain file name (ASCII letters,
digits, ``_``, ``-`` and ``.``, not starting with ``.``, at most 100 characters); any other name
(a ``/``, ``..``, a newline) is written with those characters replaced by ``_`` and a number
added where two names would meet (:func:`layer_file_stems`), so no layer name can leave
``best/``. ``files`` gives the path of each.

CPU schedules: ``best/schedule.json`` (the decisions and MetaSchedule trace of the fastest
candidate) and ``best/summary.md``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.envs.codesign_config import CoDesignEnvConfig, build_space
from dcoc.experiment.best_design import BestCoDesign, BestSchedule
from dcoc.file_names import file_name_component
from dcoc.objective import Objective
from dcoc.search.codesign_space import LayerDesign
from dcoc.search.design_files import design_files

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportedDesign:
    """What :func:`export_codesign` wrote and the re-evaluated numbers."""

    summary: dict[str, Any]
    files: dict[str, str]
    """Logical name -> path relative to the run directory."""


_PLAIN_STEM = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}")


def layer_file_stems(names: Sequence[str]) -> list[str]:
    """A file name stem per layer name, distinct (also ignoring case) and safe to join to a
    directory: a plain name (see the module docstring) is kept as it is unless an earlier one
    differs from it only in case; any other name is made path-safe
    (:func:`~dcoc.file_names.file_name_component`) and ``_<n>`` added if the result is taken."""
    stems: list[str | None] = []
    taken: set[str] = set()
    for name in names:
        plain = _PLAIN_STEM.fullmatch(name) is not None and name.casefold() not in taken
        stems.append(name if plain else None)
        if plain:
            taken.add(name.casefold())
    for i, name in enumerate(names):
        if stems[i] is not None:
            continue
        base = file_name_component(name, keep="A-Za-z0-9_-")
        stem, n = base, 1
        while stem.casefold() in taken:
            stem, n = f"{base}_{n}", n + 1
        taken.add(stem.casefold())
        stems[i] = stem
    return [s for s in stems if s is not None]


def export_codesign(
    best: BestCoDesign, env_config: Mapping[str, Any], run_dir: Path, objective: str
) -> ExportedDesign:
    """Write the best co-design's files under ``run_dir/best``; return its cost summary."""
    values = {k: v for k, v in env_config.items() if k in CoDesignEnvConfig.__dataclass_fields__}
    config = CoDesignEnvConfig.from_mapping(values)
    space = build_space(config)
    ctx = space.hardware_context(best.hw_action)
    designs: list[LayerDesign] = [
        space.evaluate(ctx, li, choice.tile_action, choice.order_action)
        for li, choice in enumerate(best.layers)
    ]
    out = run_dir / "best"
    for sub in ("mappings", "problems", "tir"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    texts = design_files(space, ctx, designs)
    (out / "architecture.yaml").write_text(texts["architecture.yaml"])
    files["architecture"] = "best/architecture.yaml"
    rows = []
    tir_errors: dict[str, str] = {}
    stems = layer_file_stems([layer.name for layer in space.layers])
    for layer, design, stem in zip(space.layers, designs, stems, strict=True):
        name = layer.name
        (out / "mappings" / f"{stem}.yaml").write_text(texts[f"{name}.mapping.yaml"])
        (out / "problems" / f"{stem}.yaml").write_text(texts[f"{name}.problem.yaml"])
        files[f"mapping/{name}"] = f"best/mappings/{stem}.yaml"
        files[f"problem/{name}"] = f"best/problems/{stem}.yaml"
        try:
            tir = _tir_text(layer.problem, design, ctx.arch)
        except Exception as error:  # the design stays valid without its TIR rendering
            logger.warning("no TIR for %s: %s", name, error)
            tir_errors[name] = f"{type(error).__name__}: {error}"
        else:
            (out / "tir" / f"{stem}.py").write_text(tir)
            files[f"tir/{name}"] = f"best/tir/{stem}.py"
        report = design.report
        rows.append(
            {
                "layer": name,
                "count": layer.count,
                "valid": report.valid,
                "cycles": int(report.cycles),
                "energy_pj": float(report.energy_pj),
                "edp": float(report.edp),
                "utilization": float(report.utilization),
                "record_id": best.layers[space.layers.index(layer)].record_id,
            }
        )
    cycles = float(sum(r["count"] * r["cycles"] for r in rows))
    energy = float(sum(r["count"] * r["energy_pj"] for r in rows))
    summary = {
        "objective": objective,
        "best_objective": Objective.parse(objective).of(cycles, energy),
        "valid": all(r["valid"] for r in rows),
        "hardware": dict(best.hw),
        "hw_action": list(best.hw_action),
        "area_um2": float(ctx.area_um2),
        "area_budget_um2": float(space.area_budget_um2),
        "total": {"cycles": cycles, "energy_pj": energy, "edp": cycles * energy},
        "layers": rows,
    }
    if tir_errors:
        summary["tir_errors"] = tir_errors
    (out / "summary.md").write_text(codesign_markdown(summary))
    files["summary_md"] = "best/summary.md"
    return ExportedDesign(summary, files)


def _tir_text(problem: Any, design: LayerDesign, arch: Any) -> str:
    from dcoc.tvm.mapping_tir import mapping_tir_text  # imports tvm: only when exporting

    return mapping_tir_text(problem, design.mapping, architecture=arch)


def _num(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def codesign_markdown(summary: Mapping[str, Any]) -> str:
    lines = [
        f"# Best design ({summary['objective']}: {_num(summary['best_objective'])})",
        "",
        f"Area {_num(summary['area_um2'])} um^2 (budget {_num(summary['area_budget_um2'])}).",
        "",
        "| knob | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in summary["hardware"].items()),
        "",
        "| layer | count | cycles | energy (pJ) | EDP (pJ x cycles) | utilization |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary["layers"]:
        lines.append(
            f"| {row['layer']} | {row['count']} | {row['cycles']} | {_num(row['energy_pj'])} | "
            f"{_num(row['edp'])} | {row['utilization']:.3f} |"
        )
    total = summary["total"]
    lines.append(
        f"| **network** (count-weighted) | | {_num(total['cycles'])} | "
        f"{_num(total['energy_pj'])} | {_num(total['edp'])} | |"
    )
    return "\n".join(lines) + "\n"


def export_schedule(best: BestSchedule, run_dir: Path) -> ExportedDesign:
    out = run_dir / "best"
    out.mkdir(parents=True, exist_ok=True)
    schedule = {
        "workload": best.workload,
        "latency_s": best.latency_s,
        "record_id": best.record_id,
        "design": best.design,
        "trace": best.trace,
    }
    (out / "schedule.json").write_text(json.dumps(schedule, indent=1))
    summary = {
        "objective": "latency",
        "best_objective": best.latency_s,
        "best_latency_s": best.latency_s,
        "gflops": best.metrics.get("gflops"),
        "workload": best.workload,
        "record_id": best.record_id,
    }
    (out / "summary.md").write_text(
        "# Best schedule\n\n| workload | latency (s) | GFLOP/s | record |\n|---|---:|---:|---:|\n"
        f"| {best.workload} | {best.latency_s:.6g} | {_num(float(summary['gflops'] or 0))} | "
        f"{best.record_id} |\n"
    )
    return ExportedDesign(
        summary, {"schedule": "best/schedule.json", "summary_md": "best/summary.md"}
    )
