"""A whole co-design as one vector of genes in ``[0, 1)``, every vector a legal design.

The black-box baselines (random, GA, SA, TPE, CMA-ES, DE, PSO) search the same space through
one encoding. Genes, in order (:class:`GenomeLayout`):

* one per hardware knob,
* per layer: one per tiling sub-action (``tile_nvec``), then one per order sub-action
  (``order_nvec``: a loop permutation per level, then the free keep bits).

A gene picks its sub-action by *rank among the values the mask allows*: ``allowed[floor(g *
len(allowed))]``. Masks depend on what was decided before (the hardware masks the tilings, the
tiling masks the orders), so decoding runs in that order and every vector decodes to a masked-in
(legal) design; a gene keeps its meaning where the masks agree, which is what lets crossover and
small mutations carry good parts from parent to child.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcoc.search.action_masks import split_mask
from dcoc.search.codesign_space import CoDesignSpace
from dcoc.search.task import DesignProposal, LayerProposal


def pick(block: np.ndarray, gene: float) -> int:
    """The sub-action of rank ``floor(gene * allowed)`` among the mask block's allowed values."""
    allowed = np.flatnonzero(block)
    if allowed.size == 0:
        return 0
    k = min(int(gene * allowed.size), allowed.size - 1)
    return int(allowed[max(k, 0)])


def rank_of(block: np.ndarray, value: int) -> float:
    """A gene that :func:`pick` turns into ``value`` (the middle of its interval)."""
    allowed = np.flatnonzero(block)
    where = np.flatnonzero(allowed == value)
    k = int(where[0]) if where.size else 0
    return (k + 0.5) / max(allowed.size, 1)


@dataclass(frozen=True)
class GenomeLayout:
    """Where each decision's genes sit in the vector."""

    hw: slice
    tile: tuple[slice, ...]
    """Per layer."""
    order: tuple[slice, ...]
    size: int

    @staticmethod
    def of(space: CoDesignSpace) -> GenomeLayout:
        nh, nt, no = len(space.hw_nvec), len(space.tile_nvec), len(space.order_nvec)
        tiles, orders = [], []
        at = nh
        for _ in space.layers:
            tiles.append(slice(at, at + nt))
            orders.append(slice(at + nt, at + nt + no))
            at += nt + no
        return GenomeLayout(slice(0, nh), tuple(tiles), tuple(orders), at)

    def layer_genes(self, layer: int) -> slice:
        return slice(self.tile[layer].start, self.order[layer].stop)


class GenomeDecoder:
    """Vectors of genes to :class:`DesignProposal` of ``space`` (see the module docstring)."""

    def __init__(self, space: CoDesignSpace) -> None:
        self.space = space
        self.layout = GenomeLayout.of(space)
        self._hw_blocks = split_mask(space.hw_mask(), space.hw_nvec)

    @property
    def size(self) -> int:
        return self.layout.size

    def free_genes(self) -> np.ndarray:
        """Indices of the genes that can change a design: a sub-action with one value (a
        tiling vocabulary of one entry, a level with one loop order) ignores its gene."""
        space, lay = self.space, self.layout
        counts = np.ones(self.size, dtype=np.int64)
        counts[lay.hw] = space.hw_nvec
        for tile, order in zip(lay.tile, lay.order, strict=True):
            counts[tile] = space.tile_nvec
            counts[order] = space.order_nvec
        return np.flatnonzero(counts > 1)

    def random(self, rng: np.random.Generator) -> np.ndarray:
        return rng.random(self.size)

    def hardware(self, genes: np.ndarray) -> tuple[int, ...]:
        g = genes[self.layout.hw]
        return tuple(pick(b, float(x)) for b, x in zip(self._hw_blocks, g, strict=True))

    def decode(self, genes: np.ndarray, layers: list[int] | None = None) -> DesignProposal:
        """The design of ``genes`` (only ``layers``, default all)."""
        space, lay = self.space, self.layout
        hw = self.hardware(genes)
        ctx = space.hardware_context(hw)
        out = []
        for li in range(len(space.layers)) if layers is None else layers:
            tile_blocks = split_mask(space.tile_mask(ctx, li), space.tile_nvec)
            tile = tuple(
                pick(b, float(x)) for b, x in zip(tile_blocks, genes[lay.tile[li]], strict=True)
            )
            factors = space.decode_tile(ctx, li, tile)
            order_blocks = split_mask(space.order_mask(ctx, li, factors), space.order_nvec)
            order = tuple(
                pick(b, float(x)) for b, x in zip(order_blocks, genes[lay.order[li]], strict=True)
            )
            out.append(
                LayerProposal(li, tile, order, space.mapping(ctx, li, factors, np.array(order)))
            )
        return DesignProposal(hw, tuple(out))

    def encode(self, proposal: DesignProposal) -> np.ndarray:
        """Genes that decode to ``proposal`` (its layers given as actions)."""
        space, lay = self.space, self.layout
        genes = np.full(self.size, 0.5)
        genes[lay.hw] = [rank_of(b, v) for b, v in zip(self._hw_blocks, proposal.hw, strict=True)]
        ctx = space.hardware_context(proposal.hw)
        for lp in proposal.layers:
            li = lp.layer
            tile_blocks = split_mask(space.tile_mask(ctx, li), space.tile_nvec)
            genes[lay.tile[li]] = [rank_of(b, v) for b, v in zip(tile_blocks, lp.tile, strict=True)]
            factors = space.decode_tile(ctx, li, lp.tile)
            order_blocks = split_mask(space.order_mask(ctx, li, factors), space.order_nvec)
            genes[lay.order[li]] = [
                rank_of(b, v) for b, v in zip(order_blocks, lp.order, strict=True)
            ]
        return genes
