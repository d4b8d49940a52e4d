"""A layer as a Timeloop problem shape: dimensions, coefficients, data spaces and bounds.

A data space (a tensor) is indexed by *data dimensions*; each data dimension is an affine sum of
problem dimensions, ``sum(coef * dim)``. ``Wdilation*R + Wstride*P`` is one data dimension of a
convolution's input. This is Timeloop's ``problem.shape`` (v0.4 ``[[dim], [dim, coef]]`` terms)
and covers convolutions, depthwise/grouped convolutions, GEMMs and any Einsum-like layer.

The tile of a data space over an operation-space box is Timeloop's axis-aligned bounding box:
each data dimension spans ``sum(coef * (extent - 1)) + 1`` points, holes from strides included.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from math import prod
from types import MappingProxyType

from dcoc.errors import SpecError

MAX_BOUND = 2**31
"""The largest loop bound dcoc takes: larger is no DNN layer, and the mapper could not
enumerate its divisors in reasonable time."""


@dataclass(frozen=True)
class ProjectionTerm:
    """One summand ``coefficient * dimension`` of a data dimension.

    ``coefficient`` is the name of a problem coefficient (``"Wstride"``), or ``None`` for 1.
    """

    dimension: str
    coefficient: str | None = None


@dataclass(frozen=True)
class DataSpace:
    """A tensor of the layer: its name, its data dimensions and whether it is written."""

    name: str
    projection: tuple[tuple[ProjectionTerm, ...], ...]
    read_write: bool = False

    @property
    def dimensions_used(self) -> frozenset[str]:
        """Problem dimensions that index this data space."""
        return frozenset(t.dimension for terms in self.projection for t in terms)


def _frozen(mapping: MappingABC[str, int]) -> MappingABC[str, int]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class Problem:
    """A layer shape with its bounds: Timeloop's ``problem: {shape, instance}``.

    ``bounds`` gives every dimension's size; ``coefficients`` every coefficient's value (the
    shape's defaults overridden by the instance).
    """

    name: str
    dimensions: tuple[str, ...]
    data_spaces: tuple[DataSpace, ...]
    bounds: MappingABC[str, int]
    coefficients: MappingABC[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", _frozen(self.bounds))
        object.__setattr__(self, "coefficients", _frozen(self.coefficients))
        self.validate()

    # -- checks ---------------------------------------------------------------------------
    def validate(self, file: str | None = None) -> None:
        """Raise :class:`SpecError` if the shape is inconsistent."""
        dims = set(self.dimensions)
        if len(dims) != len(self.dimensions):
            raise SpecError(
                file,
                ("problem", "shape", "dimensions"),
                f"dimension names repeat in {list(self.dimensions)}; give each once",
            )
        for d in self.dimensions:
            b = self.bounds.get(d)
            if b is None:
                raise SpecError(
                    file,
                    ("problem", "instance", d),
                    f"no bound for dimension {d!r}; add '{d}: <positive int>'",
                )
            if not isinstance(b, int) or isinstance(b, bool) or b < 1:
                raise SpecError(
                    file, ("problem", "instance", d), f"bound must be a positive integer, got {b!r}"
                )
        extra = set(self.bounds) - dims
        if extra:
            raise SpecError(
                file,
                ("problem", "instance", sorted(extra)[0]),
                f"{sorted(extra)[0]!r} is neither a dimension nor a coefficient "
                f"of the shape (dimensions: {list(self.dimensions)})",
            )
        names = [ds.name for ds in self.data_spaces]
        if len(set(names)) != len(names):
            raise SpecError(
                file, ("problem", "shape", "data_spaces"), f"data space names repeat in {names}"
            )
        for i, ds in enumerate(self.data_spaces):
            for j, terms in enumerate(ds.projection):
                for k, t in enumerate(terms):
                    where = ("problem", "shape", "data_spaces", i, "projection", j, k)
                    if t.dimension not in dims:
                        raise SpecError(
                            file,
                            where,
                            f"{t.dimension!r} is not a dimension of the problem "
                            f"(dimensions: {list(self.dimensions)})",
                        )
                    if t.coefficient is not None and t.coefficient not in self.coefficients:
                        raise SpecError(
                            file,
                            where,
                            f"coefficient {t.coefficient!r} is not declared; add "
                            f"it to problem.shape.coefficients",
                        )

    # -- queries --------------------------------------------------------------------------
    @property
    def macs(self) -> int:
        """Number of operations (multiply-accumulates) of the layer."""
        return prod(self.bounds[d] for d in self.dimensions)

    def data_space(self, name: str) -> DataSpace:
        for ds in self.data_spaces:
            if ds.name == name:
                return ds
        raise KeyError(name)

    def coefficient_value(self, term: ProjectionTerm) -> int:
        return 1 if term.coefficient is None else int(self.coefficients[term.coefficient])

    def tile_shape(self, data_space: DataSpace, extents: MappingABC[str, int]) -> tuple[int, ...]:
        """Per data dimension, the span of the bounding box of an operation-space box whose
        extent along each problem dimension is ``extents[dim]`` (missing dims: 1)."""
        return tuple(
            sum(self.coefficient_value(t) * (extents.get(t.dimension, 1) - 1) for t in terms) + 1
            for terms in data_space.projection
        )

    def tile_size(self, data_space: DataSpace, extents: MappingABC[str, int]) -> int:
        """Number of points in the bounding box (Timeloop's AAHR tile size)."""
        return prod(self.tile_shape(data_space, extents))

    def tensor_size(self, data_space: DataSpace) -> int:
        """Size of the whole tensor as Timeloop counts it (bounding box of the full layer)."""
        return self.tile_size(data_space, self.bounds)
