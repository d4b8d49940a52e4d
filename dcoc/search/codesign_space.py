"""The co-design action vocabulary: one hardware configuration, one mapping per layer.

Three roles choose a design point (envs, MCTS and baselines share this vocabulary):

* **hw** -- one choice index per knob of the :class:`~dcoc.accel.spec.design_space.DesignSpace`
  (``hw_nvec = choice_counts``). The mask of a knob hides every value whose *minimal
  completion* (that value, every other knob at its smallest) exceeds the area budget. Area
  grows with every knob, so an unmasked value always has a completion that fits; a joint choice
  of unmasked values may still exceed the budget (:attr:`HardwareContext.fits_budget`).
* **sw_tile** -- per problem dimension an index into that dimension's *factorization vocabulary*
  (position ``d`` is a layer's own ``d``-th dimension, :attr:`CoDesignSpace.layer_dims`; see
  *Operator kinds* below): the ordered factorizations of its bound over the mapping slots (per
  storage level, inner to outer: spatial X, spatial Y where a fanout exists, temporal) of the
  architecture with every knob at its largest choice, filtered by the per-slot constraints
  (:class:`~dcoc.accel.mapper.mapspace.MapSpace`). The vocabulary does not depend on the hardware,
  so the action space is fixed; the mask of a configuration keeps the entries that are in the
  configuration's own mapspace (mesh limits, slots a smaller fanout removes, fixed factors).
  Dimensions couple through the mesh (the product of the spatial factors of all dimensions on one
  mesh axis must fit the fanout), which one mask per dimension cannot express, so decoding
  *repairs* a joint overflow deterministically: in dimension order (constraint-fixed spatial
  factors first), a spatial factor that does not fit the room left on its axis shrinks to its
  largest divisor that fits and the rest moves to the temporal loop of the nearest non-dummy
  level at or above it that allows it. Every masked-in tiling therefore decodes to factors that
  multiply to the bounds and respect every fanout. Buffer capacity couples dimensions too; the
  mask hides only the entries whose forced-kept tiles overflow a level even with every other
  dimension untiled (tiles grow with every extent), and the model reports the rest. The X/Y
  split of a dimension's spatial factor at a level with both mesh axes is part of its
  factorization (one slot per axis).
* **sw_order** -- per storage level a loop-permutation index (MapSpace's Lehmer index of the
  free loops above the constrained innermost prefix), then one keep bit per (level, data space)
  pair the constraints leave free. Given the tiling, the mask keeps one permutation per
  equivalence class (orders of the non-unit loops, unit loops last: ``distinct_permutations``)
  and hides ``keep`` for a pair whose tile alone (plus the level's forced tiles) overflows the
  level.

Actions are 1-D integer arrays; masks are 0/1 ``float32`` arrays, one block per sub-action
concatenated in ``nvec`` order (padded entries are 0). Everything derived from a hardware
configuration is cached (:meth:`CoDesignSpace.hardware_context`, LRU by configuration).

Operator kinds
    One hardware configuration serves layers of different problem shapes (a whole ResNet-18,
    VGG-16 or MobileNet-v2: convolutions, depthwise convolutions and the GEMMs of the fully
    connected layers). The action spaces stay fixed: ``tile_nvec[d]`` is the largest
    vocabulary at position ``d`` over the layers that have a ``d``-th dimension (1 where none
    has); a layer with fewer dimensions admits only index 0 at the positions past its own and
    decoding ignores them. ``order_nvec`` has per level the largest permutation count over the
    layers, then one keep bit per free (level, data space *name*) pair of any layer
    (:attr:`CoDesignSpace.keep_pairs`); a layer for which a pair is not free admits only 0 there
    and decoding ignores it. The architecture's mapspace constraints are written for one shape
    (``CNN_Layer`` for every shipped spec); a layer of another shape reads them through
    :func:`dcoc.workloads.shapes.cnn_constraint_names` (a GEMM as a 1x1 convolution: its ``K``
    takes the constraints of ``C``, ``N`` those of ``M``, ``M`` those of ``N``; dimensions
    without a counterpart, such as a depthwise ``G``, are unconstrained).

A layer that no configuration can map (a dimension without a factorization under the
constraints, or whose every factorization overflows a buffer on the largest configuration) is
a :class:`~dcoc.errors.SpecError` naming the layer when the space is built.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.evaluator import CachedEvaluators, MappingEvaluator
from dcoc.accel.mapper.constraints import UnknownDimensionError, build_constraints
from dcoc.accel.mapper.mapspace import FactorizationCache, MapPoint, MapSpace, Slot
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.nest import LoopAxis
from dcoc.accel.report import CostSummary
from dcoc.accel.spec.design_space import DesignSpace, HardwareConfig
from dcoc.accel.spec.estimator import estimate_tables
from dcoc.accel.tables import EnergyTables
from dcoc.errors import SpecError
from dcoc.objective import Objective
from dcoc.search.action_masks import Action, concat_blocks, mask_allows, sample_masked, split_mask
from dcoc.search.fanout_repair import repair_fanout
from dcoc.workloads.network import Layer
from dcoc.workloads.problem import Problem
from dcoc.workloads.shapes import cnn_constraint_names

logger = logging.getLogger(__name__)

__all__ = [
    "CoDesignSpace",
    "HardwareContext",
    "LayerContext",
    "LayerDesign",
    "MappingEvaluator",
    "mask_allows",  # re-exported from dcoc.search.action_masks
    "sample_masked",
    "split_mask",
]


def _axis_limit(arch: Architecture, level: int, axis: LoopAxis) -> int:
    fx, fy = arch.fanout_xy(level)
    return {LoopAxis.SPATIAL_X: fx, LoopAxis.SPATIAL_Y: fy}.get(axis, np.iinfo(np.int64).max)


def _slots(arch: Architecture) -> tuple[Slot, ...]:
    """MapSpace's slot layout of ``arch`` (spatial X, spatial Y where a fanout exists, temporal)."""
    out = []
    for li in range(len(arch.storage)):
        fx, fy = arch.fanout_xy(li)
        if fx > 1:
            out.append(Slot(li, LoopAxis.SPATIAL_X))
        if fy > 1:
            out.append(Slot(li, LoopAxis.SPATIAL_Y))
        out.append(Slot(li, LoopAxis.TEMPORAL))
    return tuple(out)


@dataclass(frozen=True)
class LayerContext:
    """What one layer's mappings on one hardware configuration need, computed once."""

    mapspace: MapSpace
    tile_mask: np.ndarray
    """``[sum(tile_nvec)]`` 0/1 (positions past the layer's dimensions: index 0 only)."""
    vocab_to_slots: tuple[np.ndarray, ...]
    """Per dimension of the layer ``[vocab, num_slots]``: the vocabulary in this
    configuration's slots."""
    exact_spatial: tuple[int, ...]
    """Dimensions with a constraint-fixed spatial factor somewhere (repaired last-to-shrink)."""


@dataclass
class HardwareContext:
    """A decoded hardware configuration with its architecture, tables and per-layer spaces."""

    indices: tuple[int, ...]
    config: HardwareConfig
    arch: Architecture
    tables: EnergyTables
    area_um2: float
    fits_budget: bool
    level_map: tuple[int | None, ...]
    """Per storage level of the largest architecture, this configuration's level of the same
    name (``None``: a dummy spatial level that a mesh of 1 removes)."""
    layers: dict[int, LayerContext] = field(default_factory=dict)
    factorizations: FactorizationCache = field(default_factory=dict, repr=False)
    """Shared by the mapspaces of this configuration's layers (layers repeat bounds)."""

    def cfg_level(self, level: int) -> int | None:
        return self.level_map[level]


@dataclass(frozen=True)
class LayerDesign:
    """One evaluated layer mapping."""

    layer: str
    mapping: Mapping
    report: CostSummary
    """The model's headline numbers (:class:`~dcoc.accel.report.CostSummary`)."""
    tile_action: tuple[int, ...]
    order_action: tuple[int, ...]


class CoDesignSpace:
    """Hardware choices x per-layer mapping choices of ``layers`` on ``design_space``."""

    def __init__(
        self,
        design_space: DesignSpace,
        layers: Sequence[Layer],
        *,
        area_budget_um2: float | None = None,
        evaluator: MappingEvaluator | None = None,
        cache_size: int = 128,
    ) -> None:
        if not layers:
            raise ValueError("give at least one layer")
        self.design_space = design_space
        self.layers = tuple(layers)
        self.evaluator: MappingEvaluator = evaluator or CachedEvaluators()
        """Every layer evaluation of the space goes through it (default: the fast exact
        cached evaluators)."""
        self.area_budget_um2 = min(
            design_space.area_budget_um2,
            area_budget_um2 if area_budget_um2 is not None else math.inf,
        )
        self._cache: OrderedDict[tuple[int, ...], HardwareContext] = OrderedDict()
        self._cache_size = cache_size
        self._forced_cache: dict[int, tuple[np.ndarray, ...]] = {}
        self._perm_cache: dict[tuple[int, tuple[int, ...], tuple[int, ...]], np.ndarray] = {}
        self.problems: tuple[Problem, ...] = tuple(layer.problem for layer in self.layers)
        """Per layer its problem (``Layer.problem`` builds a new one on every access)."""
        self.layer_dims: tuple[tuple[str, ...], ...] = tuple(p.dimensions for p in self.problems)
        """Per layer its dimension names: tile position ``d`` of layer ``i`` is
        ``layer_dims[i][d]``."""
        self.dims: tuple[str, ...] = self.layer_dims[0]
        """The first layer's dimension names: every layer's when the set has one operator kind
        (:attr:`single_kind`); otherwise use :attr:`layer_dims` (``len(tile_nvec)`` is the
        length of a tile action)."""
        self.single_kind = all(d == self.dims for d in self.layer_dims)
        self.hw_nvec: tuple[int, ...] = design_space.choice_counts
        self._hw_mask = self._hardware_mask()
        largest = design_space.decode([n - 1 for n in self.hw_nvec])
        self.largest_arch = design_space.architecture(largest)
        self.num_levels = len(self.largest_arch.storage)
        self._constraint_names = tuple(self._read_constraints(li) for li in range(len(self.layers)))
        cache: FactorizationCache = {}
        self._max_spaces = [
            self._mapspace(self.largest_arch, li, cache) for li in range(len(self.layers))
        ]
        self.vocab: tuple[tuple[tuple[tuple[int, ...], ...], ...], ...] = tuple(
            ms.factorizations for ms in self._max_spaces
        )
        """Per layer, per dimension of the layer: the factorization vocabulary
        (largest-architecture slots)."""
        arrays: dict[int, np.ndarray] = {}  # by id: layers share vocabularies (the cache's)

        def as_array(v: tuple[tuple[int, ...], ...], width: int) -> np.ndarray:
            if id(v) not in arrays:
                arr = np.array(v, dtype=np.int64).reshape(len(v), width)
                arr.flags.writeable = False
                arrays[id(v)] = arr
            return arrays[id(v)]

        self._vocab_arrays = tuple(
            tuple(as_array(v, len(ms.slots)) for v in ms.factorizations) for ms in self._max_spaces
        )
        width = max(len(d) for d in self.layer_dims)
        self.tile_nvec: tuple[int, ...] = tuple(
            max(len(v[d]) if d < len(v) else 1 for v in self.vocab) for d in range(width)
        )
        perm_counts = [ms.permutation_counts for ms in self._max_spaces]
        self.data_spaces: tuple[str, ...] = tuple(
            dict.fromkeys(ds.name for p in self.problems for ds in p.data_spaces)
        )
        """Data-space names of all layers, in order of first appearance."""
        named = [
            [(lv, self.problems[i].data_spaces[ds].name) for lv, ds in ms.free_keeps]
            for i, ms in enumerate(self._max_spaces)
        ]
        self.keep_pairs: tuple[tuple[int, str], ...] = tuple(
            sorted(
                dict.fromkeys(pair for pairs in named for pair in pairs),
                key=lambda pair: (pair[0], self.data_spaces.index(pair[1])),
            )
        )
        """Per keep bit of an order action: (level of the largest architecture, data-space
        name), the free pairs of any layer."""
        self.free_keeps: tuple[tuple[int, int], ...] = tuple(
            (lv, self.data_spaces.index(name)) for lv, name in self.keep_pairs
        )
        """:attr:`keep_pairs` with the data space as an index into :attr:`data_spaces` (for
        one operator kind: the layers' own (level, data space) free pairs)."""
        self._keep_bits = tuple(tuple(self.keep_pairs.index(p) for p in pairs) for pairs in named)
        """Per layer, per free pair of the layer (MapSpace order): its keep bit."""
        self._keep_ds: tuple[tuple[int | None, ...], ...] = tuple(
            tuple(
                next((ds for (lv, ds), q in zip(ms.free_keeps, n, strict=True) if q == pair), None)
                for pair in self.keep_pairs
            )
            for ms, n in zip(self._max_spaces, named, strict=True)
        )
        """Per layer, per keep bit: the layer's data-space index (``None``: not free for it)."""
        self.order_nvec: tuple[int, ...] = (
            *(max(pc[li] for pc in perm_counts) for li in range(self.num_levels)),
            *(2 for _ in self.free_keeps),
        )
        self._check_mappable()

    # -- hardware -------------------------------------------------------------------------
    def _read_constraints(self, layer: int) -> dict[str, str | None] | None:
        """How the largest architecture's constraints read for ``layer``: in its own
        dimension names (``None``) or, if they name a dimension it lacks, through
        :func:`~dcoc.workloads.shapes.cnn_constraint_names`."""
        problem = self.problems[layer]
        try:
            build_constraints(self.largest_arch, problem)
            return None
        except UnknownDimensionError as error:
            names = cnn_constraint_names(problem)
            if names is None:
                raise SpecError(
                    "<workload>",
                    (self.layers[layer].name,),
                    f"the architecture's constraints do not fit the layer's shape "
                    f"{problem.name!r} ({error}); give the layer a shape dcoc knows "
                    "(dcoc.workloads.shapes) or constraints in its dimension names",
                ) from None
            return names
        except SpecError as error:
            raise SpecError("<workload>", (self.layers[layer].name,), str(error)) from None

    def _mapspace(self, arch: Architecture, layer: int, cache: FactorizationCache) -> MapSpace:
        problem, names = self.problems[layer], self._constraint_names[layer]
        try:
            constraints = build_constraints(arch, problem, dimension_names=names)
            return MapSpace(arch, problem, constraints, factorization_cache=cache)
        except ValueError as error:  # SpecError included
            message = error.message if isinstance(error, SpecError) else str(error)
            raise SpecError("<workload>", (self.layers[layer].name,), message) from None

    def _check_mappable(self) -> None:
        """A layer some dimension of which has no factorization that fits the largest
        configuration (the most mesh and buffer room) fits none: say which, now."""
        ctx = self.hardware_context([n - 1 for n in self.hw_nvec])
        for li, layer in enumerate(self.layers):
            dims = self.unmappable_dims(ctx, li)
            if dims:
                problem = self.problems[li]
                bounds = ", ".join(f"{d}={problem.bounds[d]}" for d in dims)
                caps = np.array([self._capacity(ctx, lv) for lv in range(self.num_levels)])
                own = self.layer_dims[li]
                full = {  # levels even the smallest tile of such a dimension overflows
                    self.largest_arch.storage[lv].name
                    for d in dims
                    for lv in np.flatnonzero(
                        self._forced_words(li)[own.index(d)].min(axis=0) > caps
                    )
                }
                where = f" ({', '.join(sorted(full))})" if full else ""
                raise SpecError(
                    "<workload>",
                    (layer.name,),
                    f"no configuration of {self.design_space.file} can map this layer: every "
                    f"factorization of {bounds} under the architecture's constraints overflows "
                    f"a buffer that must keep its tiles{where}, even on the largest "
                    "configuration; give the buffer more room (knob values) or relax its "
                    "constraints",
                )

    def unmappable_dims(self, ctx: HardwareContext, layer: int) -> tuple[str, ...]:
        """The dimensions of ``layer`` whose tile-mask block is all zero on ``ctx`` (no
        masked-in tiling exists: the configuration cannot map the layer)."""
        mask = self.tile_mask(ctx, layer)
        blocks = split_mask(mask, self.tile_nvec)
        own = blocks[: len(self.layer_dims[layer])]
        return tuple(d for d, b in zip(self.layer_dims[layer], own, strict=True) if not b.any())

    def _hardware_mask(self) -> np.ndarray:
        space = self.design_space
        parts = []
        for k, n in enumerate(self.hw_nvec):
            part = np.zeros(n, dtype=np.float32)
            for v in range(n):
                indices = [0] * len(self.hw_nvec)
                indices[k] = v
                part[v] = space.area_um2(space.decode(indices)) <= self.area_budget_um2
            if not part.any():
                raise SpecError(space.file, ("design_space", "area_budget"), "no value fits")
            parts.append(part)
        return concat_blocks(parts, self.hw_nvec)

    def hw_mask(self) -> np.ndarray:
        """``[sum(hw_nvec)]`` 0/1: knob values that can still lead to a design in budget."""
        return self._hw_mask.copy()

    def hardware_context(self, hw_action: Action) -> HardwareContext:
        """The (cached) context of the configuration with knob indices ``hw_action``."""
        key = tuple(int(a) for a in hw_action)
        ctx = self._cache.get(key)
        if ctx is not None:
            self._cache.move_to_end(key)
            return ctx
        config = self.design_space.decode(key)
        arch = self.design_space.architecture(config)
        ert, art = estimate_tables(arch, str(self.design_space.template_path))
        area = sum(art[lv.name] * lv.instances for lv in arch.storage)
        area += art[arch.arithmetic.name] * arch.arithmetic.instances
        names = {lv.name: i for i, lv in enumerate(arch.storage)}
        level_map = tuple(names.get(lv.name) for lv in self.largest_arch.storage)
        if sorted(i for i in level_map if i is not None) != list(range(len(arch.storage))):
            raise ValueError("a configuration has storage levels the largest one lacks")
        ctx = HardwareContext(
            key,
            config,
            arch,
            EnergyTables(ert, art),
            area,
            area <= self.area_budget_um2,
            level_map,
        )
        self._cache[key] = ctx
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return ctx

    def default_hw_action(self) -> tuple[int, ...]:
        return tuple(k.default_index for k in self.design_space.knobs)

    # -- tiling ---------------------------------------------------------------------------
    def layer_context(self, ctx: HardwareContext, layer: int) -> LayerContext:
        """Masks and the structural mapspace of ``layer`` on ``ctx`` (cached in ``ctx``).

        When the configuration has the largest architecture's slot layout (a mesh axis exists
        in both or in neither), its mapspace differs only in the mesh limits, so the mask is
        the vocabulary filtered by ``factor <= fanout`` per spatial slot, and the largest
        architecture's MapSpace serves as structure (constraints do not depend on knobs).
        Otherwise the configuration's own MapSpace is built and matched entry by entry.
        """
        lc = ctx.layers.get(layer)
        if lc is not None:
            return lc
        max_ms = self._max_spaces[layer]
        max_slots = max_ms.slots
        parts, vocab_slots = [], []
        identity = ctx.level_map == tuple(range(self.num_levels))
        if identity and _slots(ctx.arch) == max_slots:
            ms = max_ms
            limits = np.array(
                [_axis_limit(ctx.arch, s.level, s.axis) for s in max_slots],
                dtype=np.int64,
            )
            for arr in self._vocab_arrays[layer]:
                parts.append(np.all(arr <= limits, axis=1).astype(np.float32))
                vocab_slots.append(arr)
        else:
            ms = self._mapspace(ctx.arch, layer, ctx.factorizations)
            cfg_col: dict[tuple[int | None, LoopAxis], int] = {
                (s.level, s.axis): i for i, s in enumerate(ms.slots)
            }
            cols = [
                cfg_col.get((ctx.level_map[s.level], s.axis)) for s in max_slots
            ]  # None: the slot does not exist here (its factor must be 1)
            keep_cols = [i for i, c in enumerate(cols) if c is not None]
            drop_cols = [i for i, c in enumerate(cols) if c is None]
            if [cols[i] for i in keep_cols] != list(range(len(ms.slots))):
                raise ValueError("the configuration has slots the largest architecture lacks")
            own_keeps = max_ms.free_keeps
            if [(ctx.level_map[li], ds) for li, ds in own_keeps] != list(ms.free_keeps):
                raise ValueError("the configuration's free keep/bypass pairs differ")
            for d, arr in enumerate(self._vocab_arrays[layer]):
                own = arr[:, keep_cols]
                ok = np.all(arr[:, drop_cols] == 1, axis=1) & _rows_in(own, ms.factorizations[d])
                parts.append(ok.astype(np.float32))
                vocab_slots.append(own)
        caps = np.array([self._capacity(ctx, li) for li in range(self.num_levels)])
        for d, words in enumerate(self._forced_words(layer)):
            parts[d] = parts[d] * np.all(words <= caps, axis=1)
        exact = tuple(
            d
            for d in range(len(parts))
            if any(lv.spatial.factors[d].exact not in (None, 1) for lv in ms.constraints.levels)
        )
        padding = [np.ones(1, np.float32)] * (len(self.tile_nvec) - len(parts))
        mask = concat_blocks([*parts, *padding], self.tile_nvec)
        lc = LayerContext(ms, mask, tuple(vocab_slots), exact)
        ctx.layers[layer] = lc
        return lc

    def _forced_words(self, layer: int) -> tuple[np.ndarray, ...]:
        """Per dimension ``[vocab, levels]``: words of the forced-kept tiles at each level when
        only that dimension is tiled (every other extent 1). Tiles grow with every extent, so
        an entry whose words already exceed a level's capacity cannot fit however the other
        dimensions are tiled: the tiling mask hides it."""
        cached = self._forced_cache.get(layer)
        if cached is not None:
            return cached
        ms = self._max_spaces[layer]
        nl = self.num_levels
        slot_level = np.array([s.level for s in ms.slots])
        last_slot = [int(np.flatnonzero(slot_level <= li).max()) for li in range(nl)]
        forced = np.array(
            [[bool(k) for k in ms.constraints.levels[li].keep] for li in range(nl)]
        )  # [levels, data spaces]
        out = []
        for d, arr in enumerate(self._vocab_arrays[layer]):
            ext = np.cumprod(arr, axis=1)[:, last_slot]  # [V, levels]
            words = np.zeros(ext.shape, dtype=np.float64)
            for ds, proj in enumerate(ms.projections):
                size = np.ones(ext.shape, dtype=np.float64)
                for terms in proj:
                    size *= 1 + sum(c * (ext - 1) for dd, c in terms if dd == d)
                words += size * forced[:, ds]
            out.append(words)
        result = tuple(out)
        self._forced_cache[layer] = result
        return result

    def tile_mask(self, ctx: HardwareContext, layer: int) -> np.ndarray:
        return self.layer_context(ctx, layer).tile_mask

    def decode_tile(self, ctx: HardwareContext, layer: int, tile_action: Action) -> np.ndarray:
        """Factors ``[num_dims, num_slots]`` of a (masked-in) tiling, mesh overflow repaired
        (``num_dims`` of the layer: positions past them are ignored)."""
        lc = self.layer_context(ctx, layer)
        f = np.stack([v[int(a)] for v, a in zip(lc.vocab_to_slots, tile_action, strict=False)])
        repair_fanout(ctx.arch, lc.mapspace, f, lc.exact_spatial)
        return f

    # -- ordering -------------------------------------------------------------------------
    @staticmethod
    def _capacity(ctx: HardwareContext, level: int) -> float:
        """Words of the configuration's level named like the largest one's ``level``."""
        j = ctx.level_map[level]
        size = None if j is None else ctx.arch.storage[j].effective_size_words
        return math.inf if size is None else float(size)

    def _perm_part(self, ms: MapSpace, j: int, temporal: Sequence[int]) -> np.ndarray:
        nonunit = tuple(d for d in ms.free_dims[j] if temporal[d] > 1)
        key = (ms.arch.storage[j].is_dummy, ms.free_dims[j], nonunit)  # all a class depends on
        part = self._perm_cache.get(key)
        if part is None:
            part = np.zeros(ms.permutation_counts[j], dtype=np.float32)
            part[ms.distinct_permutations(j, temporal)] = 1.0
            self._perm_cache[key] = part
        return part

    def _keep_room(
        self, ctx: HardwareContext, layer: int, ms: MapSpace, tiles: np.ndarray
    ) -> list[tuple[float, float] | None]:
        """Per keep bit: (words of its tile, room left by the level's forced tiles); ``None``
        where the pair is not free for ``layer``."""
        out: list[tuple[float, float] | None] = []
        for (li, _), ds in zip(self.keep_pairs, self._keep_ds[layer], strict=True):
            if ds is None:
                out.append(None)
                continue
            j = ctx.level_map[li]
            assert j is not None  # dummy levels keep nothing: no free pair lives there
            forced = sum(
                int(tiles[j, k]) for k, keep in enumerate(ms.constraints.levels[j].keep) if keep
            )
            out.append((float(tiles[j, ds]), self._capacity(ctx, li) - forced))
        return out

    def order_mask(self, ctx: HardwareContext, layer: int, factors: np.ndarray) -> np.ndarray:
        ms = self.layer_context(ctx, layer).mapspace
        temporal = ms.temporal_of(factors)
        parts = []
        for li in range(self.num_levels):
            j = ctx.level_map[li]
            parts.append(
                np.ones(1, np.float32) if j is None else self._perm_part(ms, j, temporal[j])
            )
        for room in self._keep_room(ctx, layer, ms, ms.tile_sizes(factors)):
            fits = room is not None and room[0] <= room[1]  # not free here: 0 only
            parts.append(np.array([1.0, 1.0 if fits else 0.0], dtype=np.float32))
        return concat_blocks(parts, self.order_nvec)

    def default_order_action(
        self, ctx: HardwareContext, layer: int, factors: np.ndarray
    ) -> np.ndarray:
        """A fixed heuristic ordering: the first distinct permutation of every level, and the
        free pairs kept greedily (inner level first) while the level's capacity holds."""
        ms = self.layer_context(ctx, layer).mapspace
        mask = self.order_mask(ctx, layer, factors)
        blocks = split_mask(mask, self.order_nvec)
        action = [int(np.flatnonzero(b)[0]) for b in blocks[: self.num_levels]]
        used: dict[int, float] = {}
        for (li, _), pair in zip(
            self.keep_pairs, self._keep_room(ctx, layer, ms, ms.tile_sizes(factors)), strict=True
        ):
            if pair is None:
                action.append(0)
                continue
            words, room = pair
            keep = used.get(li, 0.0) + words <= room
            if keep:
                used[li] = used.get(li, 0.0) + words
            action.append(int(keep))
        return np.array(action, dtype=np.int64)

    def temporal_factors(self, ctx: HardwareContext, layer: int, factors: np.ndarray) -> np.ndarray:
        """Temporal factors ``[levels of the largest architecture, len(tile_nvec)]`` (absent
        levels and positions past the layer's dimensions: 1)."""
        temporal = self.layer_context(ctx, layer).mapspace.temporal_of(factors)
        nd = len(self.layer_dims[layer])
        out = np.ones((self.num_levels, len(self.tile_nvec)), dtype=np.int64)
        for li, j in enumerate(ctx.level_map):
            if j is not None:
                out[li, :nd] = temporal[j]
        return out

    # -- mappings -------------------------------------------------------------------------
    def mapping(
        self, ctx: HardwareContext, layer: int, factors: np.ndarray, order_action: Action
    ) -> Mapping:
        """The mapping of decoded tile factors and an order action (MapSpace semantics)."""
        ms = self.layer_context(ctx, layer).mapspace
        nd, nl = len(self.layer_dims[layer]), ms.num_levels
        level_perm = [0] * nl
        for li, j in enumerate(ctx.level_map):
            if j is not None:
                level_perm[j] = int(order_action[li])
        perms = tuple(min(p, ms.permutation_counts[j] - 1) for j, p in enumerate(level_perm))
        bits = tuple(bool(order_action[self.num_levels + k]) for k in self._keep_bits[layer])
        return ms.mapping_of_factors(factors, MapPoint((0,) * nd, perms, bits))

    def decode(
        self,
        ctx: HardwareContext,
        layer: int,
        tile_action: Action,
        order_action: Action,
    ) -> Mapping:
        return self.mapping(ctx, layer, self.decode_tile(ctx, layer, tile_action), order_action)

    def summaries(self, items: Sequence[tuple[HardwareContext, int, Mapping]]) -> list[CostSummary]:
        """The summaries of (configuration, layer, mapping) triples known at once, in order:
        through :meth:`CachedEvaluators.summaries` (batched where enough share a layer and a
        template) when the space's evaluator is the default one, else one at a time."""
        triples = [(ctx.arch, self.problems[li], m, ctx.tables) for ctx, li, m in items]
        if isinstance(self.evaluator, CachedEvaluators):
            return self.evaluator.summaries(triples)
        return [self.evaluator(*t) for t in triples]

    def evaluate(
        self,
        ctx: HardwareContext,
        layer: int,
        tile_action: Action,
        order_action: Action,
    ) -> LayerDesign:
        """Decode and evaluate one layer mapping (invalid mappings give ``valid=False``)."""
        mapping = self.decode(ctx, layer, tile_action, order_action)
        report = self.evaluator(ctx.arch, self.problems[layer], mapping, ctx.tables)
        return self._design(layer, mapping, report, tile_action, order_action)

    def _design(
        self, layer: int, mapping: Mapping, report: CostSummary, tile: Action, order: Action
    ) -> LayerDesign:
        return LayerDesign(
            self.layers[layer].name,
            mapping,
            report,
            tuple(int(a) for a in tile),
            tuple(int(a) for a in order),
        )

    def actions_of(
        self, ctx: HardwareContext, layer: int, mapping: Mapping, *, canonical: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """The (tile, order) actions that decode to ``mapping`` (e.g. a mapper's result, to
        seed a search). With ``canonical`` each permutation is replaced by its class
        representative, which the order mask admits and which costs the same. ``ValueError``
        if the mapping is outside this configuration's masked vocabulary."""
        lc = self.layer_context(ctx, layer)
        ms = lc.mapspace
        lookup = self._vocab_lookup(layer)
        dims = self.layer_dims[layer]
        tile = [0] * len(self.tile_nvec)
        for d in range(len(dims)):
            row = []
            for slot in self._max_spaces[layer].slots:
                j = ctx.level_map[slot.level]
                if j is None:
                    row.append(1)
                    continue
                lm = mapping.levels[j]
                src = {
                    LoopAxis.TEMPORAL: lm.temporal,
                    LoopAxis.SPATIAL_X: lm.spatial_x,
                    LoopAxis.SPATIAL_Y: lm.spatial_y,
                }[slot.axis]
                row.append(int(src[d]))
            index = lookup[d].get(tuple(row))
            if index is None:
                raise ValueError(f"the factors of {dims[d]} {row} are not in the vocabulary")
            tile[d] = index
        tile_action = np.array(tile, dtype=np.int64)
        if not mask_allows(lc.tile_mask, self.tile_nvec, tile_action):
            raise ValueError("the tiling does not fit this hardware configuration")
        point = ms.point_of(mapping)
        perms = list(point.permutations)
        if canonical:
            temporal = [list(lm.temporal) for lm in mapping.levels]
            perms = [ms.canonical_permutation(j, p, temporal[j]) for j, p in enumerate(perms)]
        max_perms = [0 if j is None else perms[j] for j in ctx.level_map]
        bits = [0] * len(self.keep_pairs)
        for k, b in zip(self._keep_bits[layer], point.bypass, strict=True):
            bits[k] = int(b)
        order = np.array([*max_perms, *bits], dtype=np.int64)
        return tile_action, order

    def _vocab_lookup(self, layer: int) -> list[dict[tuple[int, ...], int]]:
        return [{v: i for i, v in enumerate(vocab)} for vocab in self.vocab[layer]]

    def sample_layer_actions(
        self, ctx: HardwareContext, layer: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """A uniformly random masked tile action and a random masked order action for it
        (``ValueError`` naming the dimensions if ``ctx`` cannot map the layer)."""
        dims = self.unmappable_dims(ctx, layer)
        if dims:
            raise ValueError(
                f"{self.layers[layer].name}: no tiling of {', '.join(dims)} fits the hardware "
                f"configuration {ctx.indices} (its buffers are too small for the tiles the "
                "constraints force)"
            )
        tile = sample_masked(self.tile_mask(ctx, layer), self.tile_nvec, rng)
        factors = self.decode_tile(ctx, layer, tile)
        order = sample_masked(self.order_mask(ctx, layer, factors), self.order_nvec, rng)
        return tile, order

    def random_search(
        self,
        ctx: HardwareContext,
        layer: int,
        rng: np.random.Generator,
        samples: int,
        objective: Objective,
    ) -> LayerDesign | None:
        """Best valid design of ``samples`` masked random actions (``None`` if none is valid
        or ``ctx`` cannot map the layer at all, :meth:`unmappable_dims`)."""
        best: LayerDesign | None = None
        best_value = math.inf
        if self.unmappable_dims(ctx, layer):
            return None
        actions = [self.sample_layer_actions(ctx, layer, rng) for _ in range(samples)]
        mappings = [self.decode(ctx, layer, tile, order) for tile, order in actions]
        reports = self.summaries([(ctx, layer, m) for m in mappings])
        for (tile, order), mapping, report in zip(actions, mappings, reports, strict=True):
            if report.valid and report.objective(objective) < best_value:
                best_value = report.objective(objective)
                best = self._design(layer, mapping, report, tile, order)
        return best


def _rows_in(rows: np.ndarray, table: Sequence[tuple[int, ...]]) -> np.ndarray:
    """Per row of ``rows`` (``[n, width]`` ints), whether it is one of ``table``'s tuples."""
    if rows.shape[1] == 0:
        return np.full(rows.shape[0], () in table)
    known = np.array(table, dtype=rows.dtype).reshape(-1, rows.shape[1])

    def keys(x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x)
        return x.view(np.dtype((np.void, x.dtype.itemsize * x.shape[1]))).ravel()

    return np.isin(keys(rows), keys(known))
