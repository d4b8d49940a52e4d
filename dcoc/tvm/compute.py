"""A layer's computation as a TVM tensor expression, and the numpy reference it must match.

A :class:`~dcoc.workloads.problem.Problem` is an Einsum with affine indexing::

    Outputs[o(d)] += prod_i Input_i[a_i(d)]     for every point d of the operation space

where every data dimension is ``sum(coefficient * dimension)`` (a strided or dilated
convolution window is ``Wstride*P + Wdilation*R``). :class:`EinsumSpec` is that statement with
coefficients resolved to integers: plain tuples, picklable, so it travels to measurement
workers. Dimensions that index the output are spatial; all others are reduced.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from math import prod

import numpy as np
import tvm
from tvm import te

from dcoc.errors import SpecError
from dcoc.workloads.problem import Problem

DTYPE = "float32"

# One data dimension: ((problem dimension, integer coefficient), ...), summed.
Projection = tuple[tuple[tuple[str, int], ...], ...]


@dataclass(frozen=True)
class TensorSpec:
    """One data space: its name, its shape (the bounding box of the layer) and projection."""

    name: str
    shape: tuple[int, ...]
    projection: Projection


@dataclass(frozen=True)
class EinsumSpec:
    """A problem with coefficients resolved: what the TE builder and the reference consume."""

    name: str
    dimensions: tuple[str, ...]
    bounds: tuple[int, ...]  # aligned with ``dimensions``
    inputs: tuple[TensorSpec, ...]
    output: TensorSpec

    @property
    def bound(self) -> dict[str, int]:
        return dict(zip(self.dimensions, self.bounds, strict=True))

    @property
    def output_dimensions(self) -> tuple[str, ...]:
        return tuple(terms[0][0] for terms in self.output.projection)

    @property
    def reduction_dimensions(self) -> tuple[str, ...]:
        out = set(self.output_dimensions)
        return tuple(d for d in self.dimensions if d not in out)

    @property
    def macs(self) -> int:
        return prod(self.bounds)

    @property
    def flops(self) -> int:
        """Floating-point operations: one multiply and one add per point (``2 * MACs``)."""
        return 2 * self.macs


def einsum_spec(problem: Problem) -> EinsumSpec:
    """Resolve ``problem`` into an :class:`EinsumSpec`.

    Raises :class:`SpecError` if the problem has no (or several) written data spaces, if the
    output is not indexed by plain dimensions, or if a dimension indexes no data space.
    """
    written = [ds for ds in problem.data_spaces if ds.read_write]
    if len(written) != 1:
        raise SpecError(
            None,
            ("problem", "shape", "data_spaces"),
            f"expected exactly one read_write data space (the output), found "
            f"{[ds.name for ds in written]}",
        )
    out_ds = written[0]
    for j, terms in enumerate(out_ds.projection):
        if len(terms) != 1 or problem.coefficient_value(terms[0]) != 1:
            raise SpecError(
                None,
                ("problem", "shape", "data_spaces", out_ds.name, "projection", j),
                "each output data dimension must be a single problem dimension "
                "with coefficient 1 to be expressed as a TVM compute",
            )
    used = set().union(*(ds.dimensions_used for ds in problem.data_spaces))
    unused = [d for d in problem.dimensions if d not in used]
    if unused:
        raise SpecError(
            None,
            ("problem", "shape", "dimensions"),
            f"dimensions {unused} index no data space; remove them",
        )

    def tensor(ds_name: str) -> TensorSpec:
        ds = problem.data_space(ds_name)
        projection = tuple(
            tuple((t.dimension, problem.coefficient_value(t)) for t in terms)
            for terms in ds.projection
        )
        return TensorSpec(ds.name, problem.tile_shape(ds, problem.bounds), projection)

    return EinsumSpec(
        name=problem.name,
        dimensions=tuple(problem.dimensions),
        bounds=tuple(problem.bounds[d] for d in problem.dimensions),
        inputs=tuple(tensor(ds.name) for ds in problem.data_spaces if not ds.read_write),
        output=tensor(out_ds.name),
    )


def einsum_tensors(spec: EinsumSpec) -> list[te.Tensor]:
    """The TE placeholders of the inputs followed by the output compute."""
    bound = spec.bound
    placeholders = [te.placeholder(t.shape, dtype=DTYPE, name=t.name) for t in spec.inputs]
    reduce_axes = {
        d: te.reduce_axis((0, bound[d]), name=d.lower() + "_r") for d in spec.reduction_dimensions
    }
    out_dims = spec.output_dimensions

    def body(*out_index: tvm.tirx.PrimExpr) -> tvm.tirx.PrimExpr:
        var = dict(zip(out_dims, out_index, strict=True))
        var.update({d: ax.var for d, ax in reduce_axes.items()})
        factors = []
        for ph, t in zip(placeholders, spec.inputs, strict=True):
            index = []
            for terms in t.projection:
                expr = None
                for dim, coef in terms:
                    term = var[dim] * coef if coef != 1 else var[dim]
                    expr = term if expr is None else expr + term
                index.append(expr)
            factors.append(ph[tuple(index)])
        value = factors[0]
        for f in factors[1:]:
            value = value * f
        if not reduce_axes:
            return value
        return te.sum(value, axis=list(reduce_axes.values()))

    output = te.compute(
        spec.output.shape,
        body,
        name=spec.output.name,
        varargs_names=[d.lower() for d in out_dims],
    )
    return [*placeholders, output]


def einsum_module(spec: EinsumSpec) -> tvm.IRModule:
    """The unscheduled TIR module (one PrimFunc ``main``: inputs, then the output)."""
    func = te.create_prim_func(einsum_tensors(spec))
    return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})


def random_inputs(spec: EinsumSpec, seed: int) -> list[np.ndarray]:
    """Uniform [0, 1) float32 inputs, in argument order."""
    rng = np.random.default_rng(seed)
    return [rng.random(t.shape, dtype=np.float32) for t in spec.inputs]


def reference_output(spec: EinsumSpec, inputs: list[np.ndarray]) -> np.ndarray:
    """The output computed by numpy in float64.

    Each input is viewed (without copying) as an array indexed by problem dimensions: the
    view's stride along dimension ``d`` is ``sum(coef * stride of the data dimension)`` over
    the terms that mention ``d``; then one ``einsum`` contracts the views.
    """
    bound = spec.bound
    letters = dict(zip(spec.dimensions, string.ascii_letters, strict=False))
    operands: list[np.ndarray] = []
    subscripts: list[str] = []
    for t, array in zip(spec.inputs, inputs, strict=True):
        a = np.ascontiguousarray(array, dtype=np.float64)
        dims: list[str] = []
        strides: dict[str, int] = {}
        for terms, elem_stride in zip(t.projection, a.strides, strict=True):
            for dim, coef in terms:
                if dim not in strides:
                    dims.append(dim)
                    strides[dim] = 0
                strides[dim] += coef * elem_stride
        view = np.lib.stride_tricks.as_strided(
            a,
            shape=tuple(bound[d] for d in dims),
            strides=tuple(strides[d] for d in dims),
            writeable=False,
        )
        operands.append(view)
        subscripts.append("".join(letters[d] for d in dims))
    out = "".join(letters[d] for d in spec.output_dimensions)
    return np.einsum(",".join(subscripts) + "->" + out, *operands, optimize=True)


def outputs_match(actual: np.ndarray, expected: np.ndarray, rtol: float = 1e-4) -> bool:
    """float32 result against the float64 reference: relative tolerance, plus an absolute one
    scaled to the output's magnitude (sums of non-negative terms)."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return bool(np.allclose(actual, expected, rtol=rtol, atol=rtol * scale * 1e-2))
