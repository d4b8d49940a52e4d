"""What a search minimizes: one objective type for the model, the mapper, the envs, the records
and the experiments (lower is better).

``edp`` is energy x delay (pJ x cycles on the accelerator), ``latency`` the delay (cycles on the
accelerator, seconds on the CPU), ``energy`` pJ. ``last_level_accesses`` (words moved at the
outermost storage level, all instances) is Timeloop's fourth mapper metric; it needs a full
:class:`~dcoc.accel.report.CostReport`. Timeloop's own spelling ``delay`` is read as
``latency``. A report gives its value with ``report.objective(Objective.EDP)``; a total of
cycles and energy (a network, a layer) with :meth:`Objective.of`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum


class Objective(StrEnum):
    EDP = "edp"
    LATENCY = "latency"
    ENERGY = "energy"
    LAST_LEVEL_ACCESSES = "last_level_accesses"

    @classmethod
    def parse(cls, value: object) -> Objective:
        """``value`` as an objective (``delay`` and ``cycles`` are ``latency``); ``ValueError``
        naming the known objectives otherwise."""
        if isinstance(value, Objective):
            return value
        name = str(value).strip().lower()
        name = _ALIASES.get(name, name)
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(o.value for o in cls)
            raise ValueError(f"unknown objective {value!r}; known: {known}") from None

    @property
    def timeloop_name(self) -> str:
        """The name ``timeloop-mapper`` gives it (``delay`` for ``latency``)."""
        return "delay" if self is Objective.LATENCY else self.value

    def of(self, cycles: float, energy_pj: float) -> float:
        """The objective of a total ``cycles`` and ``energy_pj``."""
        if self is Objective.LATENCY:
            return float(cycles)
        if self is Objective.ENERGY:
            return float(energy_pj)
        if self is Objective.EDP:
            return float(cycles) * float(energy_pj)
        raise TypeError(f"the objective {self.value} needs per-level counts, not totals")


_ALIASES = {"delay": "latency", "cycles": "latency"}

DESIGN_OBJECTIVES = (Objective.EDP, Objective.LATENCY, Objective.ENERGY)
"""The objectives of a co-design search (a network's totals give them)."""


def unusable_numbers(
    positive: Mapping[str, float | None] | None = None,
    non_negative: Mapping[str, float | None] | None = None,
) -> str | None:
    """Why a result's numbers cannot be used, or ``None`` if they can. Every given value
    (``None``: not given) must be finite, those in ``positive`` (cycles, latency) above zero,
    those in ``non_negative`` (energy, area, EDP: zero with empty energy tables) at least zero.
    An evaluator or a measurement that returns NaN, an infinity, a negative energy or zero
    cycles produced no result: the caller records it as a failure with this reason instead of
    letting it reach a reward or a best."""
    bad = [
        f"{name}={value!r}"
        for checks, low_ok in ((positive or {}, False), (non_negative or {}, True))
        for name, value in checks.items()
        if value is not None
        and not (math.isfinite(value) and (value > 0 or (low_ok and value == 0)))
    ]
    return f"unusable result ({', '.join(bad)})" if bad else None
