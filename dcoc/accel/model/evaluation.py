"""``evaluate``: the Timeloop-compatible model of one mapping on one architecture.

A pure function: validity checks on the mapping, lowering to a loop nest, the delta engine,
then the cost arithmetic. An invalid mapping returns ``CostReport(valid=False, reasons=...)``;
it never raises. Misuse (a mapping built for another architecture or problem) raises
``ValueError``.
"""

from __future__ import annotations

from math import prod
from typing import Literal

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.closed_form import LinkDetector, analyze
from dcoc.accel.model.cost import cost_report
from dcoc.accel.model.delta_engine import projections, simulate
from dcoc.accel.model.nest import lower
from dcoc.accel.report import CostReport
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem import Problem


def _check_shape(arch: Architecture, problem: Problem, mapping: Mapping) -> None:
    if len(mapping.levels) != len(arch.storage):
        raise ValueError(
            f"mapping has {len(mapping.levels)} levels, architecture has "
            f"{len(arch.storage)} storage levels"
        )
    nd, nds = len(problem.dimensions), len(problem.data_spaces)
    for lm in mapping.levels:
        if not (
            len(lm.temporal) == len(lm.spatial_x) == len(lm.spatial_y) == nd
            and len(lm.keep) == nds
            and sorted(lm.permutation) == list(range(nd))
            and sorted(lm.spatial_permutation) == list(range(nd))
        ):
            raise ValueError(
                "mapping was built for another problem (dimension or data space count differs)"
            )


def mapping_violations(arch: Architecture, problem: Problem, mapping: Mapping) -> list[str]:
    """Reasons why ``mapping`` cannot run (before any simulation); empty if none."""
    reasons = list(mapping.conflicts)
    dims = problem.dimensions
    for d, name in enumerate(dims):
        f = prod(lm.temporal[d] * lm.spatial_x[d] * lm.spatial_y[d] for lm in mapping.levels)
        if f != problem.bounds[name]:
            reasons.append(f"factors of {name} multiply to {f}, bound is {problem.bounds[name]}")
    for li, (level, lm) in enumerate(zip(arch.storage, mapping.levels, strict=True)):
        if any(f < 1 for f in (*lm.temporal, *lm.spatial_x, *lm.spatial_y)):
            reasons.append(f"{level.name}: factors must be positive")
            continue
        fx, fy = arch.fanout_xy(li)
        ux, uy = prod(lm.spatial_x), prod(lm.spatial_y)
        if ux > fx:
            reasons.append(f"{level.name}: spatial X factors use {ux}, mesh X fanout is {fx}")
        if uy > fy:
            reasons.append(f"{level.name}: spatial Y factors use {uy}, mesh Y fanout is {fy}")
        if ux * uy > arch.fanout(li) and ux <= fx and uy <= fy:
            reasons.append(
                f"{level.name}: spatial factors use {ux * uy}, fanout is {arch.fanout(li)}"
            )
    for ds, space in enumerate(problem.data_spaces):
        if not any(lm.keep[ds] for lm in mapping.levels):
            reasons.append(
                f"data space {space.name} is kept at no level; keep it at the outermost level"
            )
    return reasons


def evaluate(
    arch: Architecture,
    problem: Problem,
    mapping: Mapping,
    *,
    tables: EnergyTables,
    legacy_translation: bool = False,
    engine: Literal["closed_form", "simulate"] = "closed_form",
    link_transfers: bool = True,
) -> CostReport:
    """Cycles, energy, area and per-level counts of ``mapping``, as ``timeloop-model`` reports.

    ``legacy_translation=True`` uses Timeloop's stride rule from before commit a12fff5
    (January 2025), which the May-2024 reference outputs need; the default follows current
    Timeloop. ``engine="simulate"`` runs the delta engine itself instead of its closed form
    (:mod:`dcoc.accel.model.closed_form`, equal to it and much faster); tests use it as the oracle.

    ``link_transfers=True`` (the default, as in ``timeloop-model``) adds Timeloop's
    neighbour-link transfers: where the children of a spatial fanout could take a delta from a
    mesh neighbour's previous delta and that cuts the parent's accesses, Timeloop uses the
    links. None of the reference cases triggers them; about 1 % of random mappings (sliding
    windows across spatial neighbours) do. Both engines model them; ``False`` ignores them
    (Timeloop with ``TIMELOOP_DISABLE_LINK_TRANSFERS`` set).
    """
    _check_shape(arch, problem, mapping)
    reasons = mapping_violations(arch, problem, mapping)
    if reasons:
        return CostReport(valid=False, reasons=tuple(reasons))
    fanout_xy = tuple(arch.fanout_xy(i) for i in range(len(arch.storage))) if link_transfers else ()
    nest = lower(mapping, len(problem.dimensions), fanout_xy)
    if engine == "simulate":
        analysis = simulate(nest, problem, legacy_translation=legacy_translation)
    else:
        pairs = None
        if link_transfers:  # analyse links only where the detector cannot rule them out
            detector = LinkDetector(
                projections(problem), len(problem.dimensions), fanout_xy, legacy_translation
            )
            pairs = detector.pairs(mapping.levels)
        analysis = analyze(nest, problem, legacy_translation=legacy_translation, link_pairs=pairs)
    keep = tuple(lm.keep for lm in mapping.levels)
    return cost_report(arch, problem, keep, analysis, tables)
