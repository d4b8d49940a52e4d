"""The cost report of one (architecture, problem, mapping) evaluation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dcoc.objective import Objective, unusable_numbers


@dataclass(frozen=True)
class DataSpaceCost:
    """Per-instance counts of one data space at one storage level (Timeloop prints these)."""

    name: str
    kept: bool
    reads: int
    fills: int
    updates: int
    utilized_capacity: int
    """Words of the tile held by one instance (0 when bypassed)."""
    utilized_instances: int
    partition_size: int
    energy_pj: float
    """Over all utilized instances."""


@dataclass(frozen=True)
class LevelCost:
    name: str
    instances: int
    energy_pj: float
    """All instances, dynamic plus leakage."""
    leakage_pj: float
    area_um2: float
    """All instances."""
    cycles: int
    """Cycles this level needs given its bandwidth (equal to compute cycles if not limiting)."""
    dataspaces: tuple[DataSpaceCost, ...]


@dataclass(frozen=True)
class CostReport:
    """Cycles, energy and area of a mapping, or why it is invalid (``valid=False``)."""

    valid: bool
    reasons: tuple[str, ...] = ()
    cycles: int = 0
    computes: int = 0
    utilization: float = 0.0
    """MACs / (all MAC units x cycles)."""
    energy_pj: float = 0.0
    area_um2: float = 0.0
    mac_energy_pj: float = 0.0
    mac_area_um2: float = 0.0
    utilized_macs: int = 0
    levels: tuple[LevelCost, ...] = field(default=())
    """Storage levels inner to outer."""

    def __post_init__(self) -> None:
        if self.valid:  # a valid report must carry usable numbers (as CostSummary)
            unusable = unusable_numbers(
                {"cycles": self.cycles}, {"energy_pj": self.energy_pj, "area_um2": self.area_um2}
            )
            if unusable is not None:
                object.__setattr__(self, "valid", False)
                object.__setattr__(self, "reasons", (*self.reasons, unusable))

    @property
    def edp(self) -> float:
        """Energy-delay product in pJ x cycles."""
        return self.energy_pj * self.cycles

    def summary(self) -> CostSummary:
        """The headline numbers (what the fast evaluators return, bit for bit)."""
        return CostSummary(self.valid, self.cycles, self.energy_pj, self.area_um2, self.utilization)

    def objective(self, objective: Objective | str) -> float:
        """The value of ``objective`` (:class:`~dcoc.objective.Objective`) for this report."""
        objective = Objective.parse(objective)
        if objective is Objective.LAST_LEVEL_ACCESSES:
            top = self.levels[-1]
            return float(
                sum(
                    (d.reads + d.fills + d.updates) * max(1, d.utilized_instances)
                    for d in top.dataspaces
                )
            )
        if objective is Objective.EDP:
            return self.edp
        return objective.of(self.cycles, self.energy_pj)

    @property
    def energy_per_compute_pj(self) -> float:
        return self.energy_pj / self.computes if self.computes else 0.0

    def level(self, name: str) -> LevelCost:
        for lv in self.levels:
            if lv.name == name:
                return lv
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        """The ``python -m dcoc.accel evaluate --json`` object (outer levels first, as Timeloop
        prints them)."""
        if not self.valid:
            return {"valid": False, "reasons": list(self.reasons)}
        return {
            "valid": True,
            "cycles": self.cycles,
            "computes": self.computes,
            "utilization": self.utilization,
            "energy_pj": self.energy_pj,
            "area_um2": self.area_um2,
            "levels": [
                {
                    "name": lv.name,
                    "energy_pj": lv.energy_pj,
                    "dataspaces": {
                        ds.name: {
                            "reads": ds.reads,
                            "fills": ds.fills,
                            "updates": ds.updates,
                            "utilized_instances": ds.utilized_instances,
                        }
                        for ds in lv.dataspaces
                    },
                }
                for lv in reversed(self.levels)
            ],
        }


@dataclass(frozen=True)
class CostSummary:
    """The headline numbers of a :class:`~dcoc.accel.report.CostReport` (0 if the mapping
    itself is invalid, as the full report)."""

    valid: bool
    cycles: int
    energy_pj: float
    area_um2: float
    utilization: float

    def __post_init__(self) -> None:
        # NaN, infinities, zero cycles, negative energy or area (tables or engines gone
        # wrong) are no result: such a summary is invalid, so no reward or best sees it.
        inf = math.inf
        if self.valid and not (
            0 < self.cycles < inf and 0 <= self.energy_pj < inf and 0 <= self.area_um2 < inf
        ):
            object.__setattr__(self, "valid", False)

    @property
    def edp(self) -> float:
        return self.energy_pj * self.cycles

    def objective(self, objective: Objective | str) -> float:
        """The value of ``objective`` (:class:`~dcoc.objective.Objective`; not
        ``last_level_accesses``, which needs the full report)."""
        objective = Objective.parse(objective)
        if objective is Objective.EDP:
            return self.edp
        return objective.of(self.cycles, self.energy_pj)


INVALID_SUMMARY = CostSummary(False, 0, 0.0, 0.0, 0.0)
"""The summary of a mapping the model rejects."""


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
        # Timeloop prints 0 here after every evaluation: Topology::Spec sums the levels'
        # Area() into stats_.area (src/model/topology.cpp, the "Compute area at spec-time"
        # block), but Topology::Evaluate starts with Reset(), whose stats_.Reset() sets area
        # to 0 (include/model/topology.hpp, Topology::Stats::Reset), and nothing sums it again
        # before operator<< prints "Area: " << stats_.area / 1000000. Every reference
        # stats.txt in timeloop-accelergy-exercises says "Area: 0.00 mm^2". dcoc's own sum of
        # the levels' areas is area_um2 (in --json) and the next line.
        "Area: 0.00 mm^2",
        f"Area (dcoc, sum of the levels): {report.area_um2 / 1e6:.6f} mm^2",
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
