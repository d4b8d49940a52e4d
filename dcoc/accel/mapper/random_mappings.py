"""Random mappings that respect an architecture's constraints (for tests and benchmarks).

Each prime factor of every dimension's bound goes to a random loop slot: a temporal loop of a
level, or a spatial X/Y loop of a level with a fanout while the mesh still has room. Constraints
of the flattened architecture are honoured where they are of the common kinds: ``factors`` entries
``D=1`` forbid a slot, ``permutation`` lists fix the innermost loop order, a spatial ``split``
fixes which dims go to X and Y, a ``dataspace`` keep list keeps exactly those data spaces and
a bypass list bypasses those. Other keep
choices are random; the outermost level keeps everything and dummy levels keep nothing. Buffer
capacity is not considered: some mappings overflow, as a mapper's random candidates do.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

import numpy as np

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import LevelMapping, Mapping
from dcoc.workloads.problem import Problem


def prime_factors(n: int) -> list[int]:
    out = []
    p = 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return out


def _fixed_one(section: Any, dims: tuple[str, ...]) -> set[int]:
    """Dims whose factor a constraint section pins to 1."""
    out: set[int] = set()
    if not isinstance(section, MappingABC):
        return out
    factors = section.get("factors") or []
    if isinstance(factors, str):
        factors = factors.replace(",", " ").split()
    for f in factors:
        name, _, value = str(f).partition("=")
        if name.strip() in dims and value.strip() == "1":
            out.add(dims.index(name.strip()))
    return out


def _order(section: Any, dims: tuple[str, ...], rng: np.random.Generator) -> tuple[int, ...]:
    """A permutation (innermost first): the constrained prefix, then the rest at random."""
    fixed: list[int] = []
    if isinstance(section, MappingABC) and isinstance(section.get("permutation"), list):
        fixed = [dims.index(str(n)) for n in section["permutation"] if str(n) in dims]
    rest = [d for d in rng.permutation(len(dims)).tolist() if d not in fixed]
    return tuple(fixed + rest)


def random_mapping(arch: Architecture, problem: Problem, rng: np.random.Generator) -> Mapping:
    """One random mapping of ``problem`` onto ``arch`` (see the module docstring)."""
    dims = problem.dimensions
    nd, nl = len(dims), len(arch.storage)
    temporal = [[1] * nd for _ in range(nl)]
    sx = [[1] * nd for _ in range(nl)]
    sy = [[1] * nd for _ in range(nl)]
    room_x = [arch.fanout_xy(li)[0] for li in range(nl)]
    room_y = [arch.fanout_xy(li)[1] for li in range(nl)]
    room = [arch.fanout(li) for li in range(nl)]
    x_dims: list[set[int] | None] = [None] * nl
    sperm: list[tuple[int, ...]] = []
    perm: list[tuple[int, ...]] = []
    for li, level in enumerate(arch.storage):
        cons = level.constraints
        sp = cons.get("spatial")
        sorder = _order(sp, dims, rng)
        sperm.append(sorder)
        perm.append(_order(cons.get("temporal"), dims, rng))
        if isinstance(sp, MappingABC) and isinstance(sp.get("split"), int):
            x_dims[li] = set(sorder[: sp["split"]])
    for d in range(nd):
        for p in rng.permutation(prime_factors(problem.bounds[dims[d]])).tolist():
            slots: list[tuple[str, int]] = []
            for li, level in enumerate(arch.storage):
                cons = level.constraints
                if not level.is_dummy and d not in _fixed_one(cons.get("temporal"), dims):
                    slots.append(("t", li))
                if d in _fixed_one(cons.get("spatial"), dims):
                    continue
                xs = x_dims[li]
                if (xs is None or d in xs) and room_x[li] >= p and room[li] >= p:
                    slots.append(("x", li))
                if (xs is None or d not in xs) and room_y[li] >= p and room[li] >= p:
                    slots.append(("y", li))
            if not slots:
                slots = [("t", nl - 1)]
            kind, li = slots[int(rng.integers(len(slots)))]
            if kind == "t":
                temporal[li][d] *= p
            elif kind == "x":
                sx[li][d] *= p
                room_x[li] //= p
                room[li] //= p
            else:
                sy[li][d] *= p
                room_y[li] //= p
                room[li] //= p
    names = [ds.name for ds in problem.data_spaces]
    levels = []
    for li, level in enumerate(arch.storage):
        dsc = level.constraints.get("dataspace")
        keep_list = dsc.get("keep", []) if isinstance(dsc, MappingABC) else []
        bypass_list = dsc.get("bypass", []) if isinstance(dsc, MappingABC) else []
        keep = []
        for n in names:
            if level.is_dummy:
                keep.append(False)
            elif li == nl - 1 or n in keep_list:
                keep.append(True)
            elif n in bypass_list or keep_list:
                keep.append(False)
            else:
                keep.append(bool(rng.integers(2)))
        levels.append(
            LevelMapping(
                tuple(temporal[li]),
                tuple(sx[li]),
                tuple(sy[li]),
                perm[li],
                sperm[li],
                tuple(keep),
            )
        )
    return Mapping(tuple(levels))


def random_mappings(
    arch: Architecture, problem: Problem, count: int, rng: np.random.Generator
) -> list[Mapping]:
    return [random_mapping(arch, problem, rng) for _ in range(count)]
