"""The cost report of one (architecture, problem, mapping) evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    @property
    def edp(self) -> float:
        """Energy-delay product in pJ x cycles."""
        return self.energy_pj * self.cycles

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
