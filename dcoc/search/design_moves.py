"""A whole co-design as a state, and the transformations of it that tree search and proposers use.

A :class:`DesignState` is one design in the action vocabulary of
:class:`~dcoc.search.codesign_space.CoDesignSpace`: the knob indices, and per layer its tile and
order actions. A :class:`Transformation` is one of the layer-agnostic moves the agents and the
GA make (:class:`MoveKind`), with a short text for the records and for prompts:

* ``knob``: one hardware knob to another value its mask allows; every layer is then made legal on
  the new configuration (:meth:`DesignMoves.legalize`): a tiling entry the new masks hide becomes
  the nearest allowed one (least distance in log factors per slot), a loop order its class
  representative, a keep bit that no longer fits 0;
* ``tile``: one dimension of one layer to another allowed factorization (one prime factor moved
  between two slots, or any entry), the layer's orders made legal on the new tiles;
* ``order``: one level of one layer to another loop-order class (orders of its non-unit loops);
* ``keep``: one keep bit of one layer flipped, where the mask allows the new value.

Every state :meth:`DesignMoves.apply` returns is masked-in (:func:`is_legal`); the hardware masks
do not guarantee the joint configuration fits the area budget (the task says so,
:attr:`~dcoc.search.task.DesignOutcome.fits_budget`). A knob move changes every layer's mapping
(every layer is evaluated again), any other move one layer's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TypeVar

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.model.nest import LoopAxis
from dcoc.search.action_masks import mask_allows, split_mask
from dcoc.search.codesign_space import CoDesignSpace, HardwareContext
from dcoc.search.genome import GenomeDecoder
from dcoc.search.task import DesignProposal, LayerProposal

_V = TypeVar("_V")
TileKey = tuple[tuple[int, ...], int, tuple[int, ...]]
"""(knob indices, layer, tile action)."""
CACHE_ENTRIES = 50_000
"""Entries a cache of decoded tiles or order masks holds before it starts anew."""


def _bounded(cache: dict[TileKey, _V]) -> dict[TileKey, _V]:
    if len(cache) >= CACHE_ENTRIES:
        cache.clear()
    return cache


class MoveKind(StrEnum):
    KNOB = "knob"
    TILE = "tile"
    ORDER = "order"
    KEEP = "keep"


@dataclass(frozen=True)
class DesignState:
    """Knob indices, and per layer its tile and order actions (a masked-in design)."""

    hw: tuple[int, ...]
    tiles: tuple[tuple[int, ...], ...]
    orders: tuple[tuple[int, ...], ...]

    def proposal(self, layers: list[int] | None = None) -> DesignProposal:
        """The design (``layers`` of it, default all) as the task evaluates it."""
        which = range(len(self.tiles)) if layers is None else layers
        return DesignProposal(
            self.hw, tuple(LayerProposal(li, self.tiles[li], self.orders[li]) for li in which)
        )


@dataclass(frozen=True)
class Transformation:
    """One move: ``position`` is the knob, the tile position (dimension), the level or the
    keep bit; ``value`` its new action index; ``layer`` is ``None`` for a knob."""

    kind: MoveKind
    layer: int | None
    position: int
    value: int
    text: str = field(default="", compare=False)
    """Short description, e.g. ``C5 M: factor 2 from DRAM to shared_glb``."""

    def __str__(self) -> str:
        return self.text or f"{self.kind} layer={self.layer} {self.position}->{self.value}"


def vocabulary_slots(arch: Architecture) -> tuple[tuple[int, LoopAxis], ...]:
    """The (level, axis) of each factor of a vocabulary entry (the largest architecture's
    mapspace slots: spatial X, spatial Y where a fanout exists, temporal, per level)."""
    out = []
    for li in range(len(arch.storage)):
        fx, fy = arch.fanout_xy(li)
        if fx > 1:
            out.append((li, LoopAxis.SPATIAL_X))
        if fy > 1:
            out.append((li, LoopAxis.SPATIAL_Y))
        out.append((li, LoopAxis.TEMPORAL))
    return tuple(out)


def _prime_factors(n: int) -> set[int]:
    out, p = set(), 2
    while p * p <= n:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    return out | {n} if n > 1 else out


class DesignMoves:
    """The transformations of designs of ``space``: what is legal, applying, describing."""

    def __init__(self, space: CoDesignSpace) -> None:
        self.space = space
        self.decoder = GenomeDecoder(space)
        arch = space.largest_arch
        self.slots = vocabulary_slots(arch)
        self.slot_names = tuple(
            arch.storage[li].name + ("" if axis == LoopAxis.TEMPORAL else f".{axis.name[-1]}")
            for li, axis in self.slots
        )
        self._hw_blocks = split_mask(space.hw_mask(), space.hw_nvec)
        self._log_vocab: dict[tuple[int, int], np.ndarray] = {}
        self._lookup: dict[tuple[int, int], dict[tuple[int, ...], int]] = {}
        self._factors: dict[TileKey, np.ndarray] = {}
        self._order_masks: dict[TileKey, list[np.ndarray]] = {}

    # -- states ---------------------------------------------------------------------------
    def state_of(self, proposal: DesignProposal) -> DesignState:
        """The state of a complete proposal given as actions (layers in order)."""
        layers = sorted(proposal.layers, key=lambda lp: lp.layer)
        if [lp.layer for lp in layers] != list(range(len(self.space.layers))):
            raise ValueError("a state needs every layer of the space")
        return DesignState(
            tuple(proposal.hw),
            tuple(tuple(int(a) for a in lp.tile) for lp in layers),
            tuple(tuple(int(a) for a in lp.order) for lp in layers),
        )

    def random_state(self, rng: np.random.Generator) -> DesignState:
        """A uniformly random design (every gene uniform, :mod:`dcoc.search.genome`)."""
        return self.state_of(self.decoder.decode(self.decoder.random(rng)))

    def context(self, state: DesignState) -> HardwareContext:
        return self.space.hardware_context(state.hw)

    def factors(self, state: DesignState, layer: int) -> np.ndarray:
        """Decoded tile factors ``[dims, slots of the configuration]`` (fanout repaired)."""
        return self.tile_factors(state.hw, layer, state.tiles[layer])

    def tile_factors(self, hw: tuple[int, ...], layer: int, tile: tuple[int, ...]) -> np.ndarray:
        """:meth:`~dcoc.search.codesign_space.CoDesignSpace.decode_tile`, cached (read only)."""
        key = (hw, layer, tile)
        out = self._factors.get(key)
        if out is None:
            out = self.space.decode_tile(self.space.hardware_context(hw), layer, tile)
            out.flags.writeable = False
            _bounded(self._factors)[key] = out
        return out

    # -- legality -------------------------------------------------------------------------
    def legalize(
        self, ctx: HardwareContext, layer: int, tile: tuple[int, ...], order: tuple[int, ...]
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """``tile`` and ``order`` made legal on ``ctx`` (see the module docstring)."""
        space = self.space
        blocks = split_mask(space.tile_mask(ctx, layer), space.tile_nvec)
        new_tile = list(tile)
        for d, block in enumerate(blocks):
            if block[tile[d]] > 0:
                continue
            if d >= len(space.layer_dims[layer]):
                new_tile[d] = 0
                continue
            dist = np.abs(self._log_entries(layer, d) - self._log_entries(layer, d)[tile[d]])
            total = dist.sum(axis=1)
            total[block[: len(total)] <= 0] = np.inf
            new_tile[d] = int(np.argmin(total))
        factors = self.tile_factors(ctx.indices, layer, tuple(new_tile))
        ms = space.layer_context(ctx, layer).mapspace
        temporal = ms.temporal_of(factors)
        oblocks = self.order_blocks(ctx.indices, layer, tuple(new_tile))
        new_order = list(order)
        for k, block in enumerate(oblocks):
            if block[order[k]] > 0:
                continue
            value = 0
            if k < space.num_levels:
                j = ctx.level_map[k]
                if j is not None:
                    value = ms.canonical_permutation(j, order[k], temporal[j])
                if block[value] <= 0:
                    value = int(np.flatnonzero(block)[0])
            new_order[k] = value
        return tuple(new_tile), tuple(new_order)

    def _log_entries(self, layer: int, d: int) -> np.ndarray:
        key = (layer, d)
        arr = self._log_vocab.get(key)
        if arr is None:
            arr = np.log2(np.array(self.space.vocab[layer][d], dtype=np.float64))
            self._log_vocab[key] = arr
        return arr

    # -- moves ----------------------------------------------------------------------------
    def apply(self, state: DesignState, t: Transformation) -> DesignState:
        """The state after ``t`` (legal if ``state`` is, whatever ``t``'s value)."""
        if t.kind == MoveKind.KNOB:
            hw = list(state.hw)
            hw[t.position] = t.value
            ctx = self.space.hardware_context(hw)
            pairs = [
                self.legalize(ctx, li, state.tiles[li], state.orders[li])
                for li in range(len(state.tiles))
            ]
            return DesignState(tuple(hw), tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))
        assert t.layer is not None
        li = t.layer
        tile, order = list(state.tiles[li]), list(state.orders[li])
        if t.kind == MoveKind.TILE:
            tile[t.position] = t.value
        elif t.kind == MoveKind.ORDER:
            order[t.position] = t.value
        else:
            order[self.space.num_levels + t.position] = t.value
        new_tile, new_order = self.legalize(self.context(state), li, tuple(tile), tuple(order))
        tiles = (*state.tiles[:li], new_tile, *state.tiles[li + 1 :])
        orders = (*state.orders[:li], new_order, *state.orders[li + 1 :])
        return replace(state, tiles=tiles, orders=orders)

    def knob_values(self, state: DesignState, knob: int) -> list[int]:
        """Values of ``knob`` its mask allows, other than the current one."""
        allowed = np.flatnonzero(self._hw_blocks[knob])
        return [int(v) for v in allowed if v != state.hw[knob]]

    def tile_positions(self, layer: int) -> list[int]:
        """Tile positions of ``layer`` with more than one vocabulary entry."""
        return [d for d, v in enumerate(self.space.vocab[layer]) if len(v) > 1]

    def tile_values(self, state: DesignState, layer: int, position: int) -> np.ndarray:
        """Entries of ``position``'s vocabulary the mask allows, other than the current one."""
        space = self.space
        block = split_mask(space.tile_mask(self.context(state), layer), space.tile_nvec)[position]
        allowed = np.flatnonzero(block)
        return allowed[allowed != state.tiles[layer][position]]

    def factor_moves(self, state: DesignState, layer: int, position: int) -> list[Transformation]:
        """Tile moves that take one prime factor of the dimension from one slot to another
        (allowed entries only): the local steps of the tiling."""
        space = self.space
        vocab = space.vocab[layer][position]
        lookup = self._lookup.get((layer, position))
        if lookup is None:
            lookup = {v: i for i, v in enumerate(vocab)}
            self._lookup[(layer, position)] = lookup
        block = split_mask(space.tile_mask(self.context(state), layer), space.tile_nvec)[position]
        current = vocab[state.tiles[layer][position]]
        out = []
        for a, fa in enumerate(current):
            for p in sorted(_prime_factors(fa)):
                for b in range(len(current)):
                    if b == a:
                        continue
                    new = list(current)
                    new[a] //= p
                    new[b] *= p
                    j = lookup.get(tuple(new))
                    if j is not None and block[j] > 0:
                        text = (
                            f"{self._layer(layer)} {self._dim(layer, position)}: factor {p} "
                            f"from {self.slot_names[a]} to {self.slot_names[b]}"
                        )
                        out.append(Transformation(MoveKind.TILE, layer, position, j, text))
        return out

    def order_levels(self, state: DesignState, layer: int) -> list[int]:
        """Levels of ``layer`` with more than one allowed loop-order class."""
        blocks = self.order_blocks(state.hw, layer, state.tiles[layer])
        return [k for k in range(self.space.num_levels) if np.count_nonzero(blocks[k]) > 1]

    def order_values(self, state: DesignState, layer: int, level: int) -> np.ndarray:
        """Loop-order classes of ``level`` the mask allows, other than the current one."""
        allowed = np.flatnonzero(self.order_blocks(state.hw, layer, state.tiles[layer])[level])
        return allowed[allowed != state.orders[layer][level]]

    def keep_bits(self, state: DesignState, layer: int) -> list[int]:
        """Keep bits of ``layer`` whose flipped value the mask allows."""
        blocks = self.order_blocks(state.hw, layer, state.tiles[layer])[self.space.num_levels :]
        order = state.orders[layer][self.space.num_levels :]
        return [k for k, (b, v) in enumerate(zip(blocks, order, strict=True)) if b[1 - v] > 0]

    def order_blocks(
        self, hw: tuple[int, ...], layer: int, tile: tuple[int, ...]
    ) -> list[np.ndarray]:
        """The order mask's blocks for ``tile`` (cached, read only)."""
        key = (hw, layer, tile)
        out = self._order_masks.get(key)
        if out is None:
            space = self.space
            factors = self.tile_factors(hw, layer, tile)
            mask = space.order_mask(space.hardware_context(hw), layer, factors)
            mask.flags.writeable = False
            out = split_mask(mask, space.order_nvec)
            _bounded(self._order_masks)[key] = out
        return out

    # -- building and describing ------------------------------------------------------------
    def knob(self, state: DesignState, knob: int, value: int) -> Transformation:
        k = self.space.design_space.knobs[knob]
        text = f"{k.name} {k.choices[state.hw[knob]]} -> {k.choices[value]}"
        return Transformation(MoveKind.KNOB, None, knob, value, text)

    def tile(self, layer: int, position: int, value: int) -> Transformation:
        entry = self.space.vocab[layer][position][value]
        parts = [f"{self.slot_names[s]} {f}" for s, f in enumerate(entry) if f > 1]
        text = (
            f"{self._layer(layer)} {self._dim(layer, position)}: tiles "
            f"{' x '.join(parts) or 'all 1'}"
        )
        return Transformation(MoveKind.TILE, layer, position, value, text)

    def order(self, state: DesignState, layer: int, level: int, value: int) -> Transformation:
        ctx = self.context(state)
        j = ctx.level_map[level]
        name = self.space.largest_arch.storage[level].name
        loops = "-"
        if j is not None:
            ms = self.space.layer_context(ctx, layer).mapspace
            temporal = ms.temporal_of(self.factors(state, layer))[j]
            dims = self.space.layer_dims[layer]
            loops = " ".join(dims[d] for d in ms.permutation(j, value) if temporal[d] > 1) or "-"
        text = f"{self._layer(layer)} {name}: loops {loops} (innermost first)"
        return Transformation(MoveKind.ORDER, layer, level, value, text)

    def keep(self, state: DesignState, layer: int, bit: int) -> Transformation:
        level, ds = self.space.keep_pairs[bit]
        value = 1 - state.orders[layer][self.space.num_levels + bit]
        verb = "keep" if value else "bypass"
        name = self.space.largest_arch.storage[level].name
        text = f"{self._layer(layer)} {name}: {verb} {ds}"
        return Transformation(MoveKind.KEEP, layer, bit, value, text)

    def _layer(self, layer: int) -> str:
        return self.space.layers[layer].name

    def _dim(self, layer: int, position: int) -> str:
        return self.space.layer_dims[layer][position]


def is_legal(space: CoDesignSpace, state: DesignState) -> bool:
    """Whether every action of ``state`` passes its mask (the masks of
    :class:`~dcoc.search.codesign_space.CoDesignSpace`)."""
    if not mask_allows(space.hw_mask(), space.hw_nvec, state.hw):
        return False
    ctx = space.hardware_context(state.hw)
    for li, (tile, order) in enumerate(zip(state.tiles, state.orders, strict=True)):
        if not mask_allows(space.tile_mask(ctx, li), space.tile_nvec, tile):
            return False
        factors = space.decode_tile(ctx, li, tile)
        if not mask_allows(space.order_mask(ctx, li, factors), space.order_nvec, order):
            return False
    return True
