"""An accelerator mapping written out as a TIR program that computes the layer.

A mapping tiles every problem dimension ``d`` into one factor per (storage level, temporal or
spatial) slot; the factors of ``d`` multiply to its bound. Read outer→inner, the mapping is a
perfect loop nest (Timeloop's ``src/mapping/parser.cpp``; SEMANTICS.md §3): per storage level,
outermost level first, the level's temporal loops in its permutation order (Timeloop lists a
permutation innermost first), then the level's spatial loops (its fanout to the children).

This module emits exactly that nest as a TIR ``PrimFunc`` and compiles it for the CPU, so that
"this mapping computes the layer" is checked by running it, not assumed:

* one ``for`` per loop of the nest, in the same order, named ``<level>_<dim>`` (temporal) or
  ``<level>_<dim>_sX`` / ``<level>_<dim>_sY`` (spatial, X/Y from the level's split); spatial
  loops also carry the annotation ``{"dcoc.spatial": "X"|"Y"}``. They stay serial loops (on the
  CPU the instances of a spatial loop run one after another, which computes the same result:
  sums are reordered, the set of products is not), except that with ``parallel=True`` the
  outermost spatial loop over a dimension that indexes the output, when the output's
  projection is injective, becomes ``T.parallel`` (its iterations write disjoint outputs);
* the index of dimension ``d`` is ``Σ_i loop_i × stride_i`` over the loops of ``d``, where
  ``stride_i`` is the product of the extents of the loops of ``d`` inside loop ``i`` (the size
  of that level's tile of ``d``); these are the block iterators ``T.axis.spatial`` (``d``
  indexes the output) or ``T.axis.reduce`` (it does not);
* every data space is indexed through its projection: data dimension
  ``Σ coefficient × dimension`` (strides, dilations);
* the body is ``Out[...] = Out[...] + In_1[...] × In_2[...] × ...`` (float32) after a separate
  nest that sets ``Out`` to zero.

Loops with extent 1 are dropped, as Timeloop drops them, unless ``keep_unit_loops`` is set.
``print(emit_tir(problem, nest).script())`` shows the mapping level by level.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from math import prod

import tvm
from tvm.script.ir_builder import IRBuilder
from tvm.script.ir_builder import tirx as T

from dcoc.accel.architecture import Architecture
from dcoc.errors import SpecError
from dcoc.tvm.mapping_tir_nest import (
    LoopKind,
    MappedLoop,
    NestLike,
    as_mapped_loops,
    identifier,
    validate_nest,
)
from dcoc.workloads.problem import DataSpace, Problem

__all__ = [
    "LoopKind",
    "MappedLoop",
    "NestLike",
    "as_mapped_loops",
    "emit_tir",
    "mapping_tir_text",
    "operand_spaces",
    "output_space",
    "tensor_shape",
    "validate_nest",
]

DTYPE = "float32"
SPATIAL_ANNOTATION = "dcoc.spatial"


# -- emission ---------------------------------------------------------------------------------
def output_space(problem: Problem) -> DataSpace:
    """The data space the layer writes (Timeloop's ``read_write: true``)."""
    outs = [ds for ds in problem.data_spaces if ds.read_write]
    if len(outs) != 1:
        raise SpecError(
            None,
            ("problem", "shape", "data_spaces"),
            f"a mapping program needs exactly one read_write data space, "
            f"{problem.name!r} has {len(outs)}",
        )
    return outs[0]


def operand_spaces(problem: Problem) -> tuple[DataSpace, ...]:
    """The data spaces multiplied together (every data space that is not written)."""
    return tuple(ds for ds in problem.data_spaces if not ds.read_write)


def tensor_shape(problem: Problem, data_space: DataSpace) -> tuple[int, ...]:
    """Shape of a whole tensor: per data dimension ``Σ coef × (bound - 1) + 1``."""
    return problem.tile_shape(data_space, problem.bounds)


def _project(problem: Problem, data_space: DataSpace, point: dict[str, tvm.tirx.Var]) -> list:
    """Indices of ``data_space`` at the operation-space point ``point`` (dimension → var)."""
    indices = []
    for terms in data_space.projection:
        expr = None
        for term in terms:
            coef = problem.coefficient_value(term)
            summand = point[term.dimension] if coef == 1 else point[term.dimension] * coef
            expr = summand if expr is None else expr + summand
        indices.append(expr if expr is not None else 0)
    return indices


def emit_tir(
    problem: Problem,
    loops: NestLike,
    *,
    architecture: Architecture | None = None,
    keep_unit_loops: bool = False,
    parallel: bool = False,
    func_name: str = "main",
) -> tvm.IRModule:
    """The TIR program (an ``IRModule`` with one ``PrimFunc``) that runs ``loops`` over ``problem``.

    ``loops`` lists the mapping's loops outer→inner (a sequence of :class:`MappedLoop`), or is
    an accelerator ``Mapping`` / ``LoopNest`` (see :func:`as_mapped_loops`; ``architecture``
    names its levels). The function's arguments are the operand data
    spaces in problem order, then the output, each a float32 buffer named after its data space
    and shaped by :func:`tensor_shape`. Raises :class:`SpecError` when the factors do not tile
    the problem (see :func:`validate_nest`).
    """
    nest = as_mapped_loops(problem, loops, architecture=architecture)
    validate_nest(problem, nest)
    if not keep_unit_loops:
        nest = [lp for lp in nest if lp.extent != 1]
    out_space = output_space(problem)
    operands = operand_spaces(problem)
    output_dims = out_space.dimensions_used

    # stride of each loop: product of the extents of the same dimension's loops inside it
    strides: list[int] = []
    for i, loop in enumerate(nest):
        strides.append(prod(lp.extent for lp in nest[i + 1 :] if lp.dimension == loop.dimension))
    names = _unique([lp.loop_name for lp in nest])
    parallel_at = _parallel_loop(problem, out_space, nest) if parallel else None

    with IRBuilder() as builder, T.prim_func(s_tir=True):
        T.func_name(func_name)
        T.func_attr({"tirx.noalias": True})
        buffers = {
            ds.name: T.arg(identifier(ds.name), T.buffer(tensor_shape(problem, ds), DTYPE))
            for ds in (*operands, out_space)
        }
        out = buffers[out_space.name]
        _emit_zero_init(out_space, out)
        _emit_mapped_nest(
            problem, nest, names, strides, output_dims, buffers, out_space, parallel_at
        )
    func = builder.get()
    return tvm.IRModule({func_name: func})


def _unique(names: Iterable[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}_{n}")
    return out


def _emit_zero_init(out_space: DataSpace, out: tvm.tirx.Buffer) -> None:
    shape = [int(s) for s in out.shape]
    with T.grid(*shape) as grid_vars:
        loop_vars = [grid_vars] if isinstance(grid_vars, tvm.tirx.Var) else list(grid_vars)
        for i, v in enumerate(loop_vars):
            IRBuilder.name(f"{identifier(out_space.name)}_i{i}", v)
        with T.sblock(f"zero_{identifier(out_space.name)}"):
            axes = [
                IRBuilder.name(f"v_i{i}", T.axis.spatial(s, v))
                for i, (s, v) in enumerate(zip(shape, loop_vars, strict=True))
            ]
            T.buffer_store(out, T.float32(0.0), axes)


def _parallel_loop(
    problem: Problem, out_space: DataSpace, nest: Sequence[MappedLoop]
) -> int | None:
    """Index of the outermost spatial loop that may run in parallel, if any: its dimension
    indexes the output and the output's projection is injective (one term per data dimension,
    each dimension once), so different iterations write different output elements."""
    terms = [t for data_dim in out_space.projection for t in data_dim]
    injective = all(len(data_dim) == 1 for data_dim in out_space.projection) and len(
        {t.dimension for t in terms}
    ) == len(terms)
    if not injective:
        return None
    for i, loop in enumerate(nest):
        if loop.kind is not LoopKind.TEMPORAL and loop.dimension in out_space.dimensions_used:
            return i
    return None


def _emit_mapped_nest(
    problem: Problem,
    nest: Sequence[MappedLoop],
    names: Sequence[str],
    strides: Sequence[int],
    output_dims: frozenset[str],
    buffers: dict[str, tvm.tirx.Buffer],
    out_space: DataSpace,
    parallel_at: int | None,
) -> None:
    loop_vars = []
    with ExitStack() as stack:
        for i, (loop, name) in enumerate(zip(nest, names, strict=True)):
            annotations = (
                None if loop.kind is LoopKind.TEMPORAL else {SPATIAL_ANNOTATION: loop.kind.value}
            )
            kind = T.parallel if i == parallel_at else T.serial
            frame = kind(loop.extent, annotations=annotations)
            loop_vars.append(IRBuilder.name(name, stack.enter_context(frame)))
        _emit_mac(problem, nest, loop_vars, strides, output_dims, buffers, out_space)


def _emit_mac(
    problem: Problem,
    nest: Sequence[MappedLoop],
    loop_vars: Sequence[tvm.tirx.Var],
    strides: Sequence[int],
    output_dims: frozenset[str],
    buffers: dict[str, tvm.tirx.Buffer],
    out_space: DataSpace,
) -> None:
    with T.sblock("mac"):
        point: dict[str, tvm.tirx.Var] = {}
        for d in problem.dimensions:
            binding = None
            for loop, var, stride in zip(nest, loop_vars, strides, strict=True):
                if loop.dimension == d:
                    term = var if stride == 1 else var * stride
                    binding = term if binding is None else binding + term
            binding = binding if binding is not None else 0
            axis = T.axis.spatial if d in output_dims else T.axis.reduce
            point[d] = IRBuilder.name(f"v_{identifier(d)}", axis(problem.bounds[d], binding))
        out = buffers[out_space.name]
        out_idx = _project(problem, out_space, point)
        product = None
        for ds in problem.data_spaces:
            if ds.read_write:
                continue
            load = buffers[ds.name][tuple(_project(problem, ds, point))]
            product = load if product is None else product * load
        value = out[tuple(out_idx)] + (product if product is not None else T.float32(1.0))
        T.buffer_store(out, value, out_idx)


def mapping_tir_text(
    problem: Problem,
    loops: NestLike,
    *,
    architecture: Architecture | None = None,
    keep_unit_loops: bool = False,
    parallel: bool = False,
) -> str:
    """The TVMScript text of :func:`emit_tir`'s program, for writing a mapping to a file.

    A comment header lists the problem and the mapping level by level; the text parses back
    (``tvm.script.parser.parse``) to the same module. Level, dimension, data-space and problem
    names appear in the text only as :func:`identifier` s (letters, digits and ``_``).
    """
    nest = as_mapped_loops(problem, loops, architecture=architecture)
    module = emit_tir(problem, nest, keep_unit_loops=keep_unit_loops, parallel=parallel)
    return _header(problem, nest) + module.script()


def _header(problem: Problem, nest: Sequence[MappedLoop]) -> str:
    """Comment lines naming the problem, its bounds and the loops per level. Names pass
    through :func:`identifier` (letters, digits, ``_``), as in the program itself, so that no
    name from a spec (a newline followed by code, say) can end a comment; numbers are ints."""
    bounds = " ".join(f"{identifier(d)}={int(problem.bounds[d])}" for d in problem.dimensions)
    lines = [
        f"# dcoc mapping program of {identifier(problem.name)}: {bounds}",
        "# loops outer->inner per level (sX/sY: spatial along X/Y)",
    ]
    levels: dict[str, list[str]] = {}
    for lp in nest:
        entries = levels.setdefault(lp.level, [])
        if lp.extent > 1:
            spatial = "" if lp.kind is LoopKind.TEMPORAL else f" s{lp.kind.value}"
            entries.append(f"{identifier(lp.dimension)}={int(lp.extent)}{spatial}")
    lines += [
        f"#   {identifier(level)}: {' '.join(entries) or '-'}" for level, entries in levels.items()
    ]
    return "\n".join(lines) + "\n"
