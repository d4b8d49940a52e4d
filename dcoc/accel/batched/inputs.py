"""Array inputs of the batched evaluator: many mappings, and many hardware configurations.

:class:`MappingBatch` holds B mappings of one problem on one architecture template as integer
arrays (``[B, L, D]``: batch, storage level inner to outer, problem dimension;
``[B, L, S]``: data space). :class:`HardwareBatch` holds what the hardware agent varies per
element -- buffer capacities, block sizes, bandwidths, energy and area tables -- while the
instance counts and meshes stay those of the template. Both convert from and to the scalar
objects (:class:`~dcoc.accel.mapping.Mapping`, :class:`~dcoc.accel.architecture.Architecture`
with :class:`~dcoc.accel.tables.EnergyTables`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import LevelMapping, Mapping
from dcoc.accel.model.cost import MAC_ACTIONS
from dcoc.accel.tables import EnergyTables

UNBOUNDED = -1
"""``capacity_words`` of a level without a size limit (DRAM)."""


@dataclass(frozen=True)
class MappingBatch:
    """B mappings as arrays. Ranks give each dimension's loop position (0 = innermost)."""

    temporal: np.ndarray
    """[B, L, D] int64 temporal factors."""
    spatial_x: np.ndarray
    """[B, L, D] int64 spatial factors along the mesh X axis (fanout of level l to l-1)."""
    spatial_y: np.ndarray
    """[B, L, D] int64 spatial factors along the mesh Y axis."""
    permutation_rank: np.ndarray
    """[B, L, D] int64 position of each dimension in the level's temporal loop order."""
    spatial_rank: np.ndarray
    """[B, L, D] int64 position of each dimension in the level's spatial loop order."""
    keep: np.ndarray
    """[B, L, S] bool: level l keeps data space s."""
    conflicts: np.ndarray
    """[B] bool: the mapping had keep/bypass contradictions when parsed (invalid)."""

    @property
    def size(self) -> int:
        return int(self.temporal.shape[0])

    @staticmethod
    def empty(num_levels: int, num_dims: int, num_data_spaces: int) -> MappingBatch:
        z = np.zeros((0, num_levels, num_dims), np.int64)
        return MappingBatch(
            z,
            z.copy(),
            z.copy(),
            z.copy(),
            z.copy(),
            np.zeros((0, num_levels, num_data_spaces), bool),
            np.zeros(0, bool),
        )

    @staticmethod
    def from_mappings(
        mappings: Sequence[Mapping], num_levels: int, num_dims: int, num_data_spaces: int
    ) -> MappingBatch:
        if not mappings:
            return MappingBatch.empty(num_levels, num_dims, num_data_spaces)
        t = np.array([[lm.temporal for lm in m.levels] for m in mappings], np.int64)
        sx = np.array([[lm.spatial_x for lm in m.levels] for m in mappings], np.int64)
        sy = np.array([[lm.spatial_y for lm in m.levels] for m in mappings], np.int64)
        perm = np.array([[lm.permutation for lm in m.levels] for m in mappings], np.int64)
        sperm = np.array([[lm.spatial_permutation for lm in m.levels] for m in mappings], np.int64)
        keep = np.array([[lm.keep for lm in m.levels] for m in mappings], bool)
        expected = (len(mappings), num_levels, num_dims)
        if t.shape != expected or keep.shape != (len(mappings), num_levels, num_data_spaces):
            raise ValueError(
                f"mappings have shape {t.shape}/{keep.shape}, expected {expected} and "
                f"{num_data_spaces} data spaces"
            )
        return MappingBatch(
            t,
            sx,
            sy,
            np.argsort(perm, axis=2).astype(np.int64),
            np.argsort(sperm, axis=2).astype(np.int64),
            keep,
            np.array([bool(m.conflicts) for m in mappings], bool),
        )

    def to_mappings(self) -> list[Mapping]:
        perm = np.argsort(self.permutation_rank, axis=2, kind="stable")
        sperm = np.argsort(self.spatial_rank, axis=2, kind="stable")
        out = []
        for b in range(self.size):
            levels = tuple(
                LevelMapping(
                    tuple(int(x) for x in self.temporal[b, li]),
                    tuple(int(x) for x in self.spatial_x[b, li]),
                    tuple(int(x) for x in self.spatial_y[b, li]),
                    tuple(int(x) for x in perm[b, li]),
                    tuple(int(x) for x in sperm[b, li]),
                    tuple(bool(x) for x in self.keep[b, li]),
                )
                for li in range(self.temporal.shape[1])
            )
            conflicts = ("keep/bypass conflict",) if self.conflicts[b] else ()
            out.append(Mapping(levels, conflicts))
        return out

    def take(self, index: np.ndarray) -> MappingBatch:
        """The elements at ``index`` (an index or boolean array)."""
        return MappingBatch(
            self.temporal[index],
            self.spatial_x[index],
            self.spatial_y[index],
            self.permutation_rank[index],
            self.spatial_rank[index],
            self.keep[index],
            self.conflicts[index],
        )


@dataclass(frozen=True)
class HardwareBatch:
    """Per element (first axis 1 to share one configuration, or B) what may vary per design.

    Energies in pJ per action, areas in um^2 per instance, bandwidths in words per cycle per
    instance (NaN: no limit), capacities in words after multiple buffering (-1: unbounded).
    """

    capacity_words: np.ndarray
    """[H, L] int64."""
    block_size: np.ndarray
    """[H, L] int64."""
    read_bandwidth: np.ndarray
    """[H, L] float64."""
    write_bandwidth: np.ndarray
    shared_bandwidth: np.ndarray
    read_energy_pj: np.ndarray
    """[H, L] float64."""
    fill_energy_pj: np.ndarray
    update_energy_pj: np.ndarray
    leak_energy_pj: np.ndarray
    area_um2: np.ndarray
    """[H, L] float64 per instance."""
    mac_energy_pj: np.ndarray
    """[H] float64."""
    mac_area_um2: np.ndarray
    """[H] float64 per instance."""

    @property
    def size(self) -> int:
        return int(self.capacity_words.shape[0])

    @staticmethod
    def template_key(arch: Architecture) -> tuple[object, ...]:
        """What the designs of one batch share: the storage levels with their instance
        counts, meshes and cluster sizes, and the MAC count."""
        return (
            tuple(
                (lv.name, lv.instances, lv.mesh_x, lv.mesh_y, lv.cluster_size)
                for lv in arch.storage
            ),
            arch.arithmetic.instances,
        )

    @staticmethod
    def from_architectures(
        template: Architecture, designs: Sequence[tuple[Architecture, EnergyTables]]
    ) -> HardwareBatch:
        """Stack designs that share ``template``'s levels, instance counts, meshes and MACs
        (:meth:`template_key`)."""
        rows: list[list[list[float]]] = []
        mac: list[tuple[float, float]] = []
        key = HardwareBatch.template_key(template)
        for arch, tables in designs:
            if HardwareBatch.template_key(arch) != key:
                raise ValueError(
                    "every design must have the template's storage levels, instances, meshes, "
                    "cluster sizes and MAC count; evaluate other templates in separate batches"
                )
            per_level = []
            for lv in arch.storage:
                cap = lv.effective_size_words
                per_level.append(
                    [
                        UNBOUNDED if cap is None else cap,
                        lv.block_size,
                        np.nan if not lv.read_bandwidth else lv.read_bandwidth,
                        np.nan if not lv.write_bandwidth else lv.write_bandwidth,
                        np.nan if not lv.shared_bandwidth else lv.shared_bandwidth,
                        tables.action_energy(lv.name, "read"),
                        tables.action_energy(lv.name, "fill", "write"),
                        tables.action_energy(lv.name, "update", "write"),
                        tables.action_energy(lv.name, "leak"),
                        tables.area_um2(lv.name),
                    ]
                )
            rows.append(per_level)
            mac.append(
                (
                    tables.action_energy(arch.arithmetic.name, *MAC_ACTIONS),
                    tables.area_um2(arch.arithmetic.name),
                )
            )
        a = np.array(rows, np.float64).reshape(len(designs), len(template.storage), 10)
        m = np.array(mac, np.float64).reshape(len(designs), 2)
        return HardwareBatch(
            a[:, :, 0].astype(np.int64),
            a[:, :, 1].astype(np.int64),
            a[:, :, 2],
            a[:, :, 3],
            a[:, :, 4],
            a[:, :, 5],
            a[:, :, 6],
            a[:, :, 7],
            a[:, :, 8],
            a[:, :, 9],
            m[:, 0],
            m[:, 1],
        )

    @staticmethod
    def from_architecture(arch: Architecture, tables: EnergyTables) -> HardwareBatch:
        """One configuration shared by every element of a batch."""
        return HardwareBatch.from_architectures(arch, [(arch, tables)])
