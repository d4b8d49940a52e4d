"""The legal mapspace of one layer on one architecture: count it, sample it, enumerate it, index it.

Like Timeloop's ``uber`` mapspace, the space is a product of three sub-spaces:

* **index factorization** -- per problem dimension, an ordered factorization of its bound over
  the *slots* (per storage level, inner to outer: spatial X, spatial Y when the level has a fanout
  on that mesh axis, then temporal), filtered by the per-slot constraints (fixed/min/max factors,
  the spatial split, mesh limits, and one mesh axis per dimension and level);
* **loop permutation** -- per level, an order of the dimensions that keeps the constrained
  innermost prefix (Timeloop's user permutation); ``(n - len(prefix))!`` choices;
* **data-space bypass** -- one keep/bypass bit per (level, data space) pair no constraint fixes.

:attr:`MapSpace.size` is the product of the three (Timeloop's counting). Constraints that couple
dimensions (mesh fanout products, buffer capacity, minimum utilization) are not part of the
product; :meth:`MapSpace.violations` reports them and the enumerator prunes them early (capacity
by tile size as soon as a partial factorization already overflows a level). Spatial loop order
inside one mesh axis is canonical (constraint prefix, then problem order): it does not change any
count. Many permutations are equivalent (loops of bound 1 can sit anywhere); the exhaustive
enumerator visits one per class: <prefix><orders of the free non-unit loops><free unit loops>.

A point is addressed by its *choices* (per dimension a factorization index, per level a
permutation index, per free pair a bit) or by one mixed-radix integer :meth:`MapSpace.index`;
``decode(encode(m)) == m`` for every mapping of the space.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache, cached_property
from math import prod

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapper.constraints import MapspaceConstraints, build_constraints
from dcoc.accel.mapping import LevelMapping, Mapping
from dcoc.accel.model.nest import LoopAxis
from dcoc.workloads.problem import Problem


@dataclass(frozen=True)
class Slot:
    """A place a loop factor can go: a storage level and an axis (temporal, mesh X or Y)."""

    level: int
    axis: LoopAxis


@dataclass(frozen=True)
class MapPoint:
    """One point of the product space (it may still violate a coupling constraint)."""

    factors: tuple[int, ...]
    """Per problem dimension, an index into :attr:`MapSpace.factorizations`."""
    permutations: tuple[int, ...]
    """Per storage level, a permutation index in ``[0, MapSpace.permutation_counts[level])``."""
    bypass: tuple[bool, ...]
    """Per free (level, data space) pair of :attr:`MapSpace.free_keeps`: keep it?"""


Projection = tuple[tuple[tuple[int, int], ...], ...]

FactorizationCache = dict[Hashable, tuple[tuple[int, ...], ...]]
"""Factorizations of one dimension, keyed by its bound and per-slot constraints."""


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return [*out, n] if n > 1 else out


@cache
def _divisors(n: int) -> tuple[int, ...]:
    """The divisors of ``n``, ascending (trial division up to its square root)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(sorted({*small, *(n // d for d in small)}))


MAX_FACTORIZATIONS = 4_000_000
"""The most factorizations of one dimension a mapspace enumerates (some hundreds of MiB of
tuples over ten slots); beyond it :class:`MapSpace` refuses before allocating more, naming the
dimension. The bundled networks' layers need at most 237,174 (VGG16 fc6 on simba_like)."""


class MapspaceTooLarge(ValueError):
    """A dimension's factorizations exceed :data:`MAX_FACTORIZATIONS`."""


def _lehmer_decode(items: Sequence[int], index: int) -> list[int]:
    pool = list(items)
    out = []
    for k in range(len(pool), 0, -1):
        f = math.factorial(k - 1)
        q, index = divmod(index, f)
        out.append(pool.pop(q))
    return out


def _lehmer_encode(items: Sequence[int], order: Sequence[int]) -> int:
    pool = list(items)
    index = 0
    for k, x in zip(range(len(pool), 0, -1), order, strict=True):
        q = pool.index(x)
        index += q * math.factorial(k - 1)
        pool.pop(q)
    return index


class MapSpace:
    """The mapspace of ``problem`` on ``arch`` under ``constraints`` (see the module doc)."""

    def __init__(
        self,
        arch: Architecture,
        problem: Problem,
        constraints: MapspaceConstraints | None = None,
        *,
        factorization_cache: FactorizationCache | None = None,
    ) -> None:
        """``factorization_cache``: shared by the mapspaces of many layers (or configurations),
        it enumerates the factorizations of one bound under one dimension's per-slot
        constraints once (the layers of a network repeat bounds)."""
        self.arch, self.problem = arch, problem
        self.constraints = constraints or build_constraints(arch, problem)
        self.dims = problem.dimensions
        nd, nl = len(self.dims), len(arch.storage)
        self.num_levels = nl
        slots: list[Slot] = []
        for li in range(nl):
            fx, fy = arch.fanout_xy(li)
            if fx > 1:
                slots.append(Slot(li, LoopAxis.SPATIAL_X))
            if fy > 1:
                slots.append(Slot(li, LoopAxis.SPATIAL_Y))
            slots.append(Slot(li, LoopAxis.TEMPORAL))
        self.slots = tuple(slots)
        self.factorizations: tuple[tuple[tuple[int, ...], ...], ...] = tuple(
            self._cached_factorizations(d, factorization_cache) for d in range(nd)
        )
        for d, fs in enumerate(self.factorizations):
            if not fs:
                raise ValueError(
                    f"no factorization of {self.dims[d]}={problem.bounds[self.dims[d]]} meets "
                    "the constraints; relax the fixed factors of that dimension"
                )
        self.prefixes: tuple[tuple[int, ...], ...] = tuple(
            () if arch.storage[li].is_dummy else self.constraints.levels[li].temporal.prefix
            for li in range(nl)
        )
        self.free_dims: tuple[tuple[int, ...], ...] = tuple(
            ()
            if arch.storage[li].is_dummy
            else tuple(d for d in range(nd) if d not in self.prefixes[li])
            for li in range(nl)
        )
        self.permutation_counts = tuple(math.factorial(len(f)) for f in self.free_dims)
        self.free_keeps: tuple[tuple[int, int], ...] = tuple(
            (li, ds)
            for li in range(nl)
            for ds in range(len(problem.data_spaces))
            if self.constraints.levels[li].keep[ds] is None
        )
        self.projections: tuple[Projection, ...] = tuple(
            tuple(
                tuple((self.dims.index(t.dimension), problem.coefficient_value(t)) for t in terms)
                for terms in ds.projection
            )
            for ds in problem.data_spaces
        )
        self._slot_levels = np.array([s.level for s in self.slots])
        self._spatial_orders = tuple(
            (*lc.spatial.prefix, *(d for d in range(nd) if d not in lc.spatial.prefix))
            for lc in self.constraints.levels
        )

    # -- construction -----------------------------------------------------------------------
    def _slot_allows(self, slot: Slot, d: int, f: int, sibling_x: int) -> bool:
        lc = self.constraints.levels[slot.level]
        if slot.axis == LoopAxis.TEMPORAL:
            return lc.temporal.factors[d].allows(f)
        fx, fy = self.arch.fanout_xy(slot.level)
        axis = lc.spatial.axis_of(d)
        bounds = lc.spatial.factors[d]
        if slot.axis == LoopAxis.SPATIAL_X:
            if f > fx or (f > 1 and axis == "Y"):
                return False
            if fy > 1:  # the Y slot follows and completes the check
                return f == 1 or bounds.allows(f)
            return bounds.allows(f)
        if f > fy or (f > 1 and (axis == "X" or sibling_x > 1)):
            return False
        return bounds.allows(max(f, sibling_x))

    def _factorization_key(self, d: int) -> Hashable:
        """Everything :meth:`_factorizations` of ``d`` depends on."""
        per_slot = []
        for slot in self.slots:
            lc = self.constraints.levels[slot.level]
            per_slot.append(
                (slot.level, slot.axis, self.arch.fanout_xy(slot.level), lc.temporal.factors[d])
                if slot.axis == LoopAxis.TEMPORAL
                else (
                    slot.level,
                    slot.axis,
                    self.arch.fanout_xy(slot.level),
                    lc.spatial.factors[d],
                    lc.spatial.axis_of(d),
                )
            )
        return (self.problem.bounds[self.dims[d]], tuple(per_slot))

    def _cached_factorizations(
        self, d: int, cache: FactorizationCache | None
    ) -> tuple[tuple[int, ...], ...]:
        if cache is None:
            return tuple(self._factorizations(d))
        key = self._factorization_key(d)
        out = cache.get(key)
        if out is None:
            out = cache[key] = tuple(self._factorizations(d))
        return out

    def _factorizations(self, d: int) -> list[tuple[int, ...]]:
        """The factorizations of ``d``'s bound over the slots that meet the per-slot
        constraints, depth first (slot 0 most significant, divisors ascending). The suffixes
        from a slot on depend only on (slot, what is left of the bound, the X factor a Y slot
        pairs with): each is enumerated once."""
        bound = self.problem.bounds[self.dims[d]]
        slots = self.slots
        n = len(slots)
        pairs_with_x = [
            i > 0
            and slots[i].axis == LoopAxis.SPATIAL_Y
            and slots[i - 1].axis == LoopAxis.SPATIAL_X
            and slots[i - 1].level == slots[i].level
            for i in range(n)
        ]
        memo: dict[tuple[int, int, int], list[tuple[int, ...]]] = {}
        made = 0

        def suffixes(i: int, rest: int, sib: int) -> list[tuple[int, ...]]:
            nonlocal made
            if i == n:
                return [()] if rest == 1 else []
            key = (i, rest, sib)
            out = memo.get(key)
            if out is None:
                out = []
                for f in _divisors(rest):
                    if self._slot_allows(slots[i], d, f, sib):
                        nxt = f if i + 1 < n and pairs_with_x[i + 1] else 1
                        tails = suffixes(i + 1, rest // f, nxt)
                        made += len(tails)
                        if made > MAX_FACTORIZATIONS:
                            raise MapspaceTooLarge(
                                f"{self.dims[d]}={bound} has more than {MAX_FACTORIZATIONS:,} "
                                f"factorizations over the {n} loop slots; too many to enumerate. "
                                "Fix more of its factors in the mapspace constraints, or split "
                                "the layer"
                            )
                        out.extend((f, *s) for s in tails)
                memo[key] = out
            return out

        return suffixes(0, bound, 1)

    @cached_property
    def _factor_lookup(self) -> list[dict[tuple[int, ...], int]]:
        """Per dimension, factorization -> its index (built when first needed)."""
        return [{f: i for i, f in enumerate(fs)} for fs in self.factorizations]

    # -- sizes ------------------------------------------------------------------------------
    @property
    def factorization_count(self) -> int:
        return prod(len(f) for f in self.factorizations)

    @property
    def permutation_count(self) -> int:
        return prod(self.permutation_counts)

    @property
    def bypass_count(self) -> int:
        return 2 ** len(self.free_keeps)

    @property
    def size(self) -> int:
        """Points of the product space (Timeloop's mapspace size)."""
        return self.factorization_count * self.permutation_count * self.bypass_count

    # -- addressing -------------------------------------------------------------------------
    @property
    def choice_radices(self) -> tuple[int, ...]:
        """Radix of each choice: factorizations per dimension, permutations per level, bits."""
        return (
            *(len(f) for f in self.factorizations),
            *self.permutation_counts,
            *(2 for _ in self.free_keeps),
        )

    def choices(self, point: MapPoint) -> tuple[int, ...]:
        return (*point.factors, *point.permutations, *(int(b) for b in point.bypass))

    def point_from_choices(self, choices: Sequence[int]) -> MapPoint:
        nd, nl = len(self.dims), self.num_levels
        radices = self.choice_radices
        if len(choices) != len(radices) or any(
            not 0 <= c < r for c, r in zip(choices, radices, strict=True)
        ):
            raise ValueError(f"choices must be {len(radices)} integers below {radices}")
        return MapPoint(
            tuple(int(c) for c in choices[:nd]),
            tuple(int(c) for c in choices[nd : nd + nl]),
            tuple(bool(c) for c in choices[nd + nl :]),
        )

    def index(self, point: MapPoint) -> int:
        """Mixed-radix index in ``[0, size)``; the first choice is the most significant."""
        out = 0
        for c, r in zip(self.choices(point), self.choice_radices, strict=True):
            out = out * r + c
        return out

    def point_at(self, index: int) -> MapPoint:
        if not 0 <= index < self.size:
            raise ValueError(f"index must be in [0, {self.size})")
        digits = []
        for r in reversed(self.choice_radices):
            index, c = divmod(index, r)
            digits.append(c)
        return self.point_from_choices(digits[::-1])

    def decode(self, index: int) -> Mapping:
        return self.mapping(self.point_at(index))

    def encode(self, mapping: Mapping) -> int:
        return self.index(self.point_of(mapping))

    # -- points <-> mappings ----------------------------------------------------------------
    def permutation(self, level: int, index: int) -> tuple[int, ...]:
        """Full temporal loop order (innermost first) of ``level`` for a permutation index."""
        prefix = self.prefixes[level]
        if self.arch.storage[level].is_dummy:
            return tuple(range(len(self.dims)))
        return (*prefix, *_lehmer_decode(self.free_dims[level], index))

    def spatial_order(self, level: int) -> tuple[int, ...]:
        """Spatial loop order of ``level``: the constrained prefix, then problem order."""
        return self._spatial_orders[level]

    def level_factors(self, point: MapPoint) -> np.ndarray:
        """Factors as an array ``[num_dims, num_slots]``."""
        return np.array(
            [self.factorizations[d][i] for d, i in enumerate(point.factors)], dtype=np.int64
        )

    def keep_masks(self, point: MapPoint) -> list[list[bool]]:
        masks = [
            [bool(k) for k in self.constraints.levels[li].keep] for li in range(self.num_levels)
        ]
        for (li, ds), bit in zip(self.free_keeps, point.bypass, strict=True):
            masks[li][ds] = bit
        return masks

    def mapping(self, point: MapPoint) -> Mapping:
        return self.mapping_of_factors(self.level_factors(point), point)

    def mapping_of_factors(self, f: np.ndarray, point: MapPoint) -> Mapping:
        """The mapping with slot factors ``f`` ([dims, slots]) and ``point``'s permutations and
        keep bits (``point``'s factorization indices are not used)."""
        nd = len(self.dims)
        t = [[1] * nd for _ in range(self.num_levels)]
        x = [[1] * nd for _ in range(self.num_levels)]
        y = [[1] * nd for _ in range(self.num_levels)]
        for s, slot in enumerate(self.slots):
            target = {LoopAxis.TEMPORAL: t, LoopAxis.SPATIAL_X: x, LoopAxis.SPATIAL_Y: y}[slot.axis]
            for d in range(nd):
                target[slot.level][d] = int(f[d, s])
        keep = self.keep_masks(point)
        return Mapping(
            tuple(
                LevelMapping(
                    tuple(t[li]),
                    tuple(x[li]),
                    tuple(y[li]),
                    self.permutation(li, point.permutations[li]),
                    self.spatial_order(li),
                    tuple(keep[li]),
                )
                for li in range(self.num_levels)
            )
        )

    def _permutation_index(self, li: int, lm: LevelMapping) -> int:
        """The index of ``lm.permutation`` if it has the constrained prefix, else of the
        equivalent representative (loops of bound 1 moved); ``ValueError`` if none exists."""
        p = self.prefixes[li]
        if tuple(lm.permutation[: len(p)]) == p:
            return _lehmer_encode(self.free_dims[li], lm.permutation[len(p) :])
        nonunit = [d for d in lm.permutation if lm.temporal[d] > 1]
        fixed = [d for d in p if lm.temporal[d] > 1]
        if nonunit[: len(fixed)] != fixed:
            names = "".join(self.dims[d] for d in p)
            raise ValueError(
                f"{self.arch.storage[li].name}: loop order breaks the permutation constraint "
                f"{names} (innermost first)"
            )
        unit = [d for d in self.free_dims[li] if lm.temporal[d] == 1]
        return _lehmer_encode(self.free_dims[li], [*nonunit[len(fixed) :], *unit])

    def point_of(self, mapping: Mapping) -> MapPoint:
        """The point of ``mapping``; ``ValueError`` if the mapping is outside this mapspace."""
        nd = len(self.dims)
        factors = []
        for d in range(nd):
            tup = []
            for slot in self.slots:
                lm = mapping.levels[slot.level]
                src = {
                    LoopAxis.TEMPORAL: lm.temporal,
                    LoopAxis.SPATIAL_X: lm.spatial_x,
                    LoopAxis.SPATIAL_Y: lm.spatial_y,
                }[slot.axis]
                tup.append(src[d])
            i = self._factor_lookup[d].get(tuple(tup))
            if i is None:
                raise ValueError(f"the factors of {self.dims[d]} {tup} are outside the mapspace")
            factors.append(i)
        perms = []
        for li, lm in enumerate(mapping.levels):
            if self.arch.storage[li].is_dummy:
                perms.append(0)
                continue
            perms.append(self._permutation_index(li, lm))
        bits = []
        for li, lm in enumerate(mapping.levels):
            for ds, forced in enumerate(self.constraints.levels[li].keep):
                if forced is not None and forced != lm.keep[ds]:
                    raise ValueError(f"{self.arch.storage[li].name}: keep mask breaks a constraint")
        for li, ds in self.free_keeps:
            bits.append(bool(mapping.levels[li].keep[ds]))
        return MapPoint(tuple(factors), tuple(perms), tuple(bits))

    # -- coupling constraints ---------------------------------------------------------------
    def tile_sizes(self, factors: np.ndarray) -> np.ndarray:
        """Words of each data space's tile at each level, ``[num_levels, num_data_spaces]``,
        for a ``[num_dims, num_slots]`` factor array (unassigned dims: all ones)."""
        nl = self.num_levels
        ext = np.ones((nl, factors.shape[0]), dtype=np.int64)
        for li in range(nl):
            ext[li] = factors[:, self._slot_levels <= li].prod(axis=1)
        out = np.ones((nl, len(self.projections)), dtype=np.int64)
        for ds, proj in enumerate(self.projections):
            for terms in proj:
                span = np.ones(nl, dtype=np.int64)
                for d, c in terms:
                    span += c * (ext[:, d] - 1)
                out[:, ds] *= span
        return out

    def factor_violations(self, factors: np.ndarray) -> list[str]:
        """Mesh fanout, minimum utilization and forced-keep capacity of a factorization."""
        reasons = []
        spatial_total = 1
        for li in range(self.num_levels):
            fx, fy = self.arch.fanout_xy(li)
            for axis, limit in ((LoopAxis.SPATIAL_X, fx), (LoopAxis.SPATIAL_Y, fy)):
                cols = [s for s, sl in enumerate(self.slots) if sl.level == li and sl.axis == axis]
                used = int(factors[:, cols].prod()) if cols else 1
                spatial_total *= used
                if used > limit:
                    name = self.arch.storage[li].name
                    reasons.append(f"{name}: mesh {axis.name[-1]} uses {used}, fanout is {limit}")
        need = self.constraints.min_utilization * self.arch.arithmetic.instances
        if spatial_total < need - 1e-9:
            reasons.append(
                f"utilization {spatial_total}/{self.arch.arithmetic.instances} is below the "
                f"minimum {self.constraints.min_utilization:g}"
            )
        tiles = self.tile_sizes(factors)
        for li in range(self.num_levels):
            forced = [ds for ds, k in enumerate(self.constraints.levels[li].keep) if k]
            reasons += self._capacity(li, tiles, forced)
        return reasons

    def _capacity(self, li: int, tiles: np.ndarray, kept: Sequence[int]) -> list[str]:
        cap = self.arch.storage[li].effective_size_words
        used = int(sum(tiles[li, ds] for ds in kept))
        if cap is not None and used > cap:
            return [f"{self.arch.storage[li].name}: tiles need {used} words, capacity is {cap}"]
        return []

    def violations(self, point: MapPoint) -> list[str]:
        """Why ``point`` cannot run (coupling constraints); empty when it is legal."""
        f = self.level_factors(point)
        reasons = [r for r in self.factor_violations(f) if "capacity" not in r]
        tiles = self.tile_sizes(f)
        keep = self.keep_masks(point)
        for li in range(self.num_levels):
            reasons += self._capacity(li, tiles, [ds for ds, k in enumerate(keep[li]) if k])
        return reasons

    def legal_bypass_choices(self, factors: np.ndarray) -> list[list[tuple[bool, ...]]]:
        """Per level, the keep bits of its free pairs that fit the level's capacity."""
        tiles = self.tile_sizes(factors)
        out = []
        for li in range(self.num_levels):
            free = [ds for (lv, ds) in self.free_keeps if lv == li]
            forced = [ds for ds, k in enumerate(self.constraints.levels[li].keep) if k]
            options = []
            for bits in itertools.product((False, True), repeat=len(free)):
                kept = forced + [ds for ds, b in zip(free, bits, strict=True) if b]
                if not self._capacity(li, tiles, kept):
                    options.append(bits)
            out.append(options)
        return out

    # -- neighbourhood ----------------------------------------------------------------------
    def neighbors(self, point: MapPoint) -> list[MapPoint]:
        """Points one move away (distinct, permutations canonical): move one prime factor of a
        dimension to another slot, swap two adjacent non-unit loops of a level, or flip one
        free keep bit. They may violate coupling constraints (see :meth:`violations`)."""
        out: dict[MapPoint, None] = {}
        base = self.canonical(point)
        for d, i in enumerate(base.factors):
            tup = self.factorizations[d][i]
            for a, fa in enumerate(tup):
                for p in set(_prime_factors(fa)):
                    for b in range(len(tup)):
                        if b == a:
                            continue
                        new = list(tup)
                        new[a] //= p
                        new[b] *= p
                        j = self._factor_lookup[d].get(tuple(new))
                        if j is not None:
                            factors = (*base.factors[:d], j, *base.factors[d + 1 :])
                            out[self.canonical(replace(base, factors=factors))] = None
        temporal = self.temporal_of(self.level_factors(base))
        for li in range(self.num_levels):
            free = self.free_dims[li]
            if not free:
                continue
            order = _lehmer_decode(free, base.permutations[li])
            nonunit = [d for d in order if temporal[li][d] > 1]
            for k in range(len(nonunit) - 1):
                swapped = [*nonunit[:k], nonunit[k + 1], nonunit[k], *nonunit[k + 2 :]]
                unit = [d for d in free if temporal[li][d] == 1]
                perms = list(base.permutations)
                perms[li] = _lehmer_encode(free, [*swapped, *unit])
                out[replace(base, permutations=tuple(perms))] = None
        for k in range(len(base.bypass)):
            bits = list(base.bypass)
            bits[k] = not bits[k]
            out[replace(base, bypass=tuple(bits))] = None
        out.pop(base, None)
        return list(out)

    def canonical(self, point: MapPoint) -> MapPoint:
        """``point`` with every level's permutation replaced by its class representative."""
        temporal = self.temporal_of(self.level_factors(point))
        perms = tuple(
            self.canonical_permutation(li, i, temporal[li])
            for li, i in enumerate(point.permutations)
        )
        return replace(point, permutations=perms)

    # -- sampling and enumeration -----------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> MapPoint:
        """A uniformly random point of the product space (may violate coupling constraints)."""
        return self.point_from_choices([int(rng.integers(r)) for r in self.choice_radices])

    def sample_legal(self, rng: np.random.Generator, max_tries: int = 100_000) -> MapPoint | None:
        """Uniform over the legal points (rejection sampling); ``None`` after ``max_tries``."""
        for _ in range(max_tries):
            p = self.sample(rng)
            if not self.violations(p):
                return p
        return None

    def distinct_permutations(self, level: int, temporal: Sequence[int]) -> list[int]:
        """One permutation index per equivalence class (orders of the free non-unit loops)."""
        if self.arch.storage[level].is_dummy:
            return [0]
        free = self.free_dims[level]
        nonunit = [d for d in free if temporal[d] > 1]
        unit = [d for d in free if temporal[d] == 1]
        return [_lehmer_encode(free, [*order, *unit]) for order in itertools.permutations(nonunit)]

    def canonical_permutation(self, level: int, index: int, temporal: Sequence[int]) -> int:
        """The representative of ``index``'s class (see :meth:`distinct_permutations`)."""
        if self.arch.storage[level].is_dummy:
            return 0
        free = self.free_dims[level]
        order = _lehmer_decode(free, index)
        nonunit = [d for d in order if temporal[d] > 1]
        return _lehmer_encode(free, [*nonunit, *(d for d in free if temporal[d] == 1)])

    def temporal_of(self, factors: np.ndarray) -> list[list[int]]:
        out = [[1] * len(self.dims) for _ in range(self.num_levels)]
        for s, slot in enumerate(self.slots):
            if slot.axis == LoopAxis.TEMPORAL:
                for d in range(len(self.dims)):
                    out[slot.level][d] = int(factors[d, s])
        return out

    def legal_factorizations(self) -> Iterator[tuple[int, ...]]:
        """Factorization choices (one index per dimension) that pass fanout, utilization and
        forced-keep capacity, depth first over dimensions with early pruning: a partial
        factorization whose tiles already overflow a level (unassigned dims count as 1) or
        whose mesh products already exceed a fanout is cut with all its completions."""
        nd = len(self.dims)
        f = np.ones((nd, len(self.slots)), dtype=np.int64)
        choice = [0] * nd

        def rec(d: int) -> Iterator[tuple[int, ...]]:
            for i, tup in enumerate(self.factorizations[d]):
                f[d] = tup
                reasons = self.factor_violations(f)
                if d < nd - 1:
                    reasons = [r for r in reasons if "utilization" not in r]
                if reasons:
                    continue
                choice[d] = i
                if d == nd - 1:
                    yield tuple(choice)
                else:
                    yield from rec(d + 1)
            f[d] = 1

        yield from rec(0)

    def enumerate_legal(self) -> Iterator[MapPoint]:
        """Every legal point up to permutation equivalence: factorizations (pruned), then the
        bypass choices that fit, then one permutation per class."""
        for fchoice in self.legal_factorizations():
            f = np.array([self.factorizations[d][i] for d, i in enumerate(fchoice)])
            temporal = self.temporal_of(f)
            per_level_bits = self.legal_bypass_choices(f)
            perms = [self.distinct_permutations(li, temporal[li]) for li in range(self.num_levels)]
            for bits in itertools.product(*per_level_bits):
                flat = tuple(b for lv in bits for b in lv)
                for p in itertools.product(*perms):
                    yield MapPoint(fchoice, tuple(p), flat)
