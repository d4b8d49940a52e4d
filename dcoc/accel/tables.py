"""Energy and area tables (Accelergy's ERT and ART) as Timeloop reads them.

* A table ``name`` such as ``system_top_level.PE[1..16]`` belongs to the level whose name is the
  last dotted part with the ``[..]`` range removed.
* An action's energy is the **max** over its argument variants.
* ART areas are per instance and are read as float32, as Timeloop does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class EnergyTables:
    """Per level name: action -> energy in pJ (``ert``) and area per instance in um^2 (``art``)."""

    ert: dict[str, dict[str, float]] = field(default_factory=dict)
    art: dict[str, float] = field(default_factory=dict)

    def energy_pj(self, level: str, action: str) -> float | None:
        return self.ert.get(level, {}).get(action)

    def area_um2(self, level: str) -> float:
        return self.art.get(level, 0.0)

    def action_energy(self, level: str, *actions: str) -> float:
        """The energy of the first of ``actions`` the table has for ``level`` (Timeloop's
        fallbacks, e.g. ``fill`` then ``write``), 0.0 if it has none."""
        table = self.ert.get(level, {})
        for action in actions:
            e = table.get(action)
            if e is not None:
                return e
        return 0.0


def table_level_name(name: str) -> str:
    """``top.Buffer[1..16]`` -> ``Buffer``."""
    base = re.sub(r"\[[^\]]*\]\s*$", "", name.strip())
    return base.split(".")[-1].strip()
