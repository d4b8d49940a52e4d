"""The timeloopfe-style reference runs in ``tests/data/timeloopfe`` and a reader for the
numbers in their ``timeloop-mapper.stats.txt``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "timeloopfe"
EXERCISE = DATA / "02_interface_and_design_space_exploration_2024"
DESIGNS = DATA / "example_designs"
DESIGN_NAMES = (
    "simple_weight_stationary",
    "simple_output_stationary",
    "eyeriss_like",
    "simba_like",
)


@dataclass
class StatsDataSpace:
    reads: int
    fills: int
    updates: int
    energy_total_pj: float


@dataclass
class StatsLevel:
    name: str
    energy_total_pj: float | None = None  # the arithmetic level's
    computes: int | None = None
    dataspaces: dict[str, StatsDataSpace] = field(default_factory=dict)


@dataclass
class Stats:
    cycles: int
    energy_uj: float
    area_mm2: float
    levels: dict[str, StatsLevel]


def read_stats(path: Path) -> Stats:
    """The summary, the arithmetic level's energy and each storage level's per-dataspace
    scalar accesses (per instance) and energy (total) of a Timeloop stats.txt."""
    levels: dict[str, StatsLevel] = {}
    level: StatsLevel | None = None
    ds_name: str | None = None
    ds: dict[str, float] = {}
    summary: dict[str, str] = {}
    in_summary = skipping = False

    def close_ds() -> None:
        if level is not None and ds_name is not None and "energy" in ds:
            level.dataspaces[ds_name] = StatsDataSpace(
                int(ds["reads"]), int(ds["fills"]), int(ds["updates"]), ds["energy"]
            )

    for line in path.read_text().splitlines():
        if line.startswith("Summary Stats"):
            close_ds()
            in_summary = True
            continue
        if in_summary:
            m = re.match(r"^(\w[\w ()*@/]*): (.*)$", line)
            if m:
                summary.setdefault(m.group(1), m.group(2))
            continue
        if line.startswith("Operational Intensity Stats") or line.startswith("Networks"):
            close_ds()
            level, ds_name, skipping = None, None, True
            continue
        if skipping:
            continue
        m = re.match(r"^=== (\S+) ===$", line)
        if m:
            close_ds()
            level, ds_name, ds = StatsLevel(m.group(1)), None, {}
            levels[level.name] = level
            continue
        if level is None:
            continue
        m = re.match(r"^    (\w+):$", line)
        if m:
            close_ds()
            ds_name, ds = m.group(1), {}
            continue
        m = re.match(r"^\s+([\w ()-]+?)\s+: ([-\d.]+)", line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if ds_name is None:
            if key == "Energy (total)":
                level.energy_total_pj = float(value)
            elif key == "Computes (total)":
                level.computes = int(value)
        elif key == "Scalar reads (per-instance)":
            ds["reads"] = float(value)
        elif key == "Scalar fills (per-instance)":
            ds["fills"] = float(value)
        elif key == "Scalar updates (per-instance)":
            ds["updates"] = float(value)
        elif key == "Energy (total)":
            ds["energy"] = float(value)
    return Stats(
        cycles=int(summary["Cycles"]),
        energy_uj=float(summary["Energy"].split()[0]),
        area_mm2=float(summary["Area"].split()[0]),
        levels=levels,
    )
