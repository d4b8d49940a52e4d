"""The two software agents' actions over a MetaSchedule design space, and back.

A :class:`~dcoc.tvm.design_space.DesignSpace` has one or more sketches; each sketch has
decision slots. The slots are split between the two agents:

* ``sw_tile`` owns every ``SamplePerfectTile`` slot (the loop tilings): one sub-action per
  slot, over that slot's legal factorizations.
* ``sw_order`` owns the sketch choice (first sub-action) and every ``SampleCategorical`` slot
  (with dcoc's CPU rules: the unroll depth ``unroll_explicit``), one sub-action per slot. The
  sketches themselves differ in structure: where the output is accumulated (directly, or
  through a write cache placed at one of two tile levels). Parallelization and vectorization
  are fixed by the rules (outer spatial loops parallel, innermost spatial loop vectorized) and
  are not decisions.

Slots of all sketches are merged by (name, kind, legal values): the sketches of an Einsum
layer share their tiling slots, so ``sw_tile`` acts before the sketch is chosen and the tiling
means the same whatever sketch ``sw_order`` then picks. Merged slots that the chosen sketch
does not have are ignored.

Every sub-action of an agent has the same number of entries, the largest legal count among
them; entries past a slot's own legal count are masked out. The masks do not depend on the
state: every legal value of a slot is legal with every value of the other slots (a
postprocessor may still reject a combination: the candidate then fails when measured).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import log2

import numpy as np

from dcoc.tvm.design_space import (
    Decision,
    DesignPoint,
    DesignSpace,
    IllegalDecisionError,
    SlotKind,
)


@dataclass(frozen=True)
class ActionSlot:
    """One sub-action: a merged decision slot (or the sketch choice)."""

    name: str
    kind: SlotKind | None  # None: the sketch choice
    choices: tuple[Decision, ...]
    default: Decision
    """The value in the reference point (the first sketch having the slot keeps its own)."""


SKETCH_SLOT = "sketch"


def _mask(slots: Sequence[ActionSlot], width: int) -> np.ndarray:
    mask = np.zeros((len(slots), width), np.float32)  # [slots, width]
    for i, slot in enumerate(slots):
        mask[i, : len(slot.choices)] = 1.0
    return mask.reshape(-1)


class CpuScheduleSpace:
    """Encoding and decoding of ``sw_tile`` / ``sw_order`` actions for one design space."""

    def __init__(self, design_space: DesignSpace) -> None:
        self.design_space = design_space
        sketches = design_space.sketches
        if not sketches:
            raise ValueError(f"{design_space.spec.name}: the design space has no sketch")
        merged: dict[tuple[str, SlotKind, tuple[Decision, ...]], int] = {}
        tile: list[ActionSlot] = []
        order: list[ActionSlot] = [ActionSlot(SKETCH_SLOT, None, tuple(range(len(sketches))), 0)]
        # per sketch, per slot of it: (agent list, index in that list)
        self._owners: list[tuple[tuple[bool, int], ...]] = []
        for sketch in sketches:
            owners = []
            for slot in sketch.slots:
                key = (slot.name, slot.kind, slot.choices)
                is_tile = slot.kind is SlotKind.PERFECT_TILE
                target = tile if is_tile else order
                if key not in merged:
                    taken = {s.name for s in target}
                    name = slot.name if slot.name not in taken else f"{slot.name}@{sketch.index}"
                    merged[key] = len(target)
                    target.append(ActionSlot(name, slot.kind, slot.choices, slot.sketch_value))
                owners.append((is_tile, merged[key]))
            self._owners.append(tuple(owners))
        if not tile:
            raise ValueError(f"{design_space.spec.name}: the design space has no tiling slot")
        self.tile_slots: tuple[ActionSlot, ...] = tuple(tile)
        self.order_slots: tuple[ActionSlot, ...] = tuple(order)
        self.tile_width = max(len(s.choices) for s in tile)
        self.order_width = max(len(s.choices) for s in order)
        self.tile_nvec: tuple[int, ...] = (self.tile_width,) * len(tile)
        self.order_nvec: tuple[int, ...] = (self.order_width,) * len(order)
        self._tile_mask = _mask(tile, self.tile_width)
        self._order_mask = _mask(order, self.order_width)
        self.max_tile_parts = max(len(s.choices[0]) for s in tile)  # type: ignore[arg-type]

    @property
    def num_sketches(self) -> int:
        return len(self.design_space.sketches)

    def tile_mask(self) -> np.ndarray:
        """``[sum(tile_nvec)]`` 0/1: the legal factorizations of each tiling slot."""
        return self._tile_mask.copy()

    def order_mask(self) -> np.ndarray:
        """``[sum(order_nvec)]`` 0/1: the sketches, then the legal values of each categorical
        slot."""
        return self._order_mask.copy()

    @staticmethod
    def _allows(slots: Sequence[ActionSlot], action: np.ndarray) -> bool:
        a = np.asarray(action).reshape(-1)
        return a.shape[0] == len(slots) and all(
            0 <= int(v) < len(s.choices) for v, s in zip(a, slots, strict=True)
        )

    def tile_allows(self, action: np.ndarray) -> bool:
        return self._allows(self.tile_slots, action)

    def order_allows(self, action: np.ndarray) -> bool:
        return self._allows(self.order_slots, action)

    def decode(self, tile_action: np.ndarray, order_action: np.ndarray) -> DesignPoint:
        """The design point of a pair of actions; :class:`IllegalDecisionError` naming the
        slot if an index is masked out."""
        tile = np.asarray(tile_action).reshape(-1)
        order = np.asarray(order_action).reshape(-1)
        for agent, slots, action in (
            ("sw_tile", self.tile_slots, tile),
            ("sw_order", self.order_slots, order),
        ):
            if action.shape[0] != len(slots):
                raise IllegalDecisionError(
                    f"{agent}: expected {len(slots)} sub-actions, got {action.shape[0]}"
                )
            for v, s in zip(action, slots, strict=True):
                if not 0 <= int(v) < len(s.choices):
                    raise IllegalDecisionError(
                        f"{agent}: slot {s.name!r} has {len(s.choices)} legal values, "
                        f"got index {int(v)}"
                    )
        sketch = int(order[0])
        decisions = []
        for is_tile, j in self._owners[sketch]:
            slot = self.tile_slots[j] if is_tile else self.order_slots[j]
            decisions.append(slot.choices[int((tile if is_tile else order)[j])])
        return DesignPoint(sketch, tuple(decisions))

    def encode(self, point: DesignPoint) -> tuple[np.ndarray, np.ndarray]:
        """Actions ``(tile, order)`` that decode to ``point``; slots the point's sketch does
        not have take their defaults. Raises :class:`IllegalDecisionError` for an illegal
        point."""
        if not 0 <= point.sketch < self.num_sketches:
            raise IllegalDecisionError(
                f"sketch {point.sketch} does not exist; legal: 0..{self.num_sketches - 1}"
            )
        tile, order = self.default_tile_action(), self.default_order_action()
        order[0] = point.sketch
        owners = self._owners[point.sketch]
        if len(point.decisions) != len(owners):
            raise IllegalDecisionError(
                f"sketch {point.sketch} has {len(owners)} slots, got {len(point.decisions)}"
            )
        for (is_tile, j), value in zip(owners, point.decisions, strict=True):
            slot = self.tile_slots[j] if is_tile else self.order_slots[j]
            if value not in slot.choices:
                raise IllegalDecisionError(
                    f"slot {slot.name!r}: {value!r} is not legal; legal values: "
                    f"{list(slot.choices)[:12]}"
                )
            (tile if is_tile else order)[j] = slot.choices.index(value)
        return tile, order

    def default_tile_action(self) -> np.ndarray:
        return np.array([s.choices.index(s.default) for s in self.tile_slots], np.int64)

    def default_order_action(self) -> np.ndarray:
        return np.array([s.choices.index(s.default) for s in self.order_slots], np.int64)

    def reference_point(self) -> DesignPoint:
        """The first sketch with its own (MetaSchedule-sampled) decisions."""
        sketch = self.design_space.sketches[0]
        return DesignPoint(0, sketch.default_decisions)

    def tile_features(self, tile_action: np.ndarray | None) -> np.ndarray:
        """``[tile slots * (1 + max parts)]`` in [0, 1]: per slot the choice index over
        ``(legal count - 1)``, then ``log2(factor) / log2(extent)`` per part (zero padded).
        All zeros for ``None`` or an illegal action."""
        parts = self.max_tile_parts
        out = np.zeros((len(self.tile_slots), 1 + parts), np.float32)  # [slots, 1 + parts]
        if tile_action is None or not self.tile_allows(tile_action):
            return out.reshape(-1)
        for i, (slot, v) in enumerate(zip(self.tile_slots, np.asarray(tile_action), strict=True)):
            out[i, 0] = int(v) / max(1, len(slot.choices) - 1)
            factors = slot.choices[int(v)]
            assert isinstance(factors, tuple)
            extent = 1
            for f in factors:
                extent *= f
            if extent > 1:
                out[i, 1 : 1 + len(factors)] = [log2(f) / log2(extent) for f in factors]
        return out.reshape(-1)

    def order_features(self, order_action: np.ndarray | None) -> np.ndarray:
        """``[order slots]`` in [0, 1]: choice index over ``(legal count - 1)``; zeros for
        ``None`` or an illegal action."""
        out = np.zeros(len(self.order_slots), np.float32)
        if order_action is None or not self.order_allows(order_action):
            return out
        for i, (slot, v) in enumerate(zip(self.order_slots, np.asarray(order_action), strict=True)):
            out[i] = int(v) / max(1, len(slot.choices) - 1)
        return out
