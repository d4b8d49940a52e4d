"""The result of a batched evaluation: per element what a scalar CostReport holds, as arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BatchReport:
    """Per element what :class:`~dcoc.accel.report.CostReport` holds (counts per instance).

    Elements whose mapping is invalid (``mapping_valid`` False: factors, fanout, keep) report 0
    everywhere, as the scalar model does; elements that only overflow a buffer
    (``capacity_valid`` False) report their numbers with ``valid`` False.
    """

    valid: np.ndarray
    """[B] bool."""
    mapping_valid: np.ndarray
    """[B] bool: factors, fanout and keep checks pass."""
    capacity_valid: np.ndarray
    """[B] bool: every level's tiles fit its capacity."""
    cycles: np.ndarray
    """[B] int64."""
    computes: np.ndarray
    """[B] int64 MACs."""
    utilized_macs: np.ndarray
    """[B] int64."""
    utilization: np.ndarray
    """[B] float64."""
    energy_pj: np.ndarray
    """[B] float64."""
    area_um2: np.ndarray
    """[B] float64."""
    mac_energy_pj: np.ndarray
    """[B] float64."""
    mac_area_um2: np.ndarray
    """[B] float64."""
    level_energy_pj: np.ndarray
    """[B, L] float64, all instances, with leakage."""
    level_leakage_pj: np.ndarray
    """[B, L] float64."""
    level_area_um2: np.ndarray
    """[B, L] float64, all instances."""
    level_cycles: np.ndarray
    """[B, L] int64."""
    reads: np.ndarray
    """[B, L, S] int64."""
    fills: np.ndarray
    """[B, L, S] int64."""
    updates: np.ndarray
    """[B, L, S] int64."""
    utilized_capacity: np.ndarray
    """[B, L, S] int64."""
    partition_size: np.ndarray
    """[B, L, S] int64."""
    utilized_instances: np.ndarray
    """[B, L] int64."""
    dataspace_energy_pj: np.ndarray
    """[B, L, S] float64, all instances."""

    @property
    def size(self) -> int:
        return int(self.valid.shape[0])

    @property
    def edp(self) -> np.ndarray:
        """[B] energy x cycles (pJ x cycles)."""
        return self.energy_pj * self.cycles


@dataclass(frozen=True)
class BatchSummary:
    """The headline numbers of a :class:`BatchReport` (``BatchEvaluator.evaluate_summary``)."""

    valid: np.ndarray
    """[B] bool."""
    mapping_valid: np.ndarray
    """[B] bool."""
    capacity_valid: np.ndarray
    """[B] bool."""
    cycles: np.ndarray
    """[B] int64."""
    computes: np.ndarray
    """[B] int64."""
    utilized_macs: np.ndarray
    """[B] int64."""
    utilization: np.ndarray
    """[B] float64."""
    energy_pj: np.ndarray
    """[B] float64."""
    area_um2: np.ndarray
    """[B] float64."""

    @property
    def size(self) -> int:
        return int(self.valid.shape[0])

    @property
    def edp(self) -> np.ndarray:
        """[B] energy x cycles (pJ x cycles)."""
        return self.energy_pj * self.cycles
