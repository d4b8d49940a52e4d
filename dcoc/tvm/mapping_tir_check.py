"""Build a mapping's TIR program for the CPU, run it and compare it with numpy.

The reference is computed from the :class:`Problem` alone, independently of the mapping: every
point of the operation space is enumerated at once (``np.indices``), each data space is gathered
through its projection (``Σ coefficient × dimension`` per data dimension, so strides and
dilations are honoured), the operands are multiplied and the products are scattered into the
output with ``np.add.at`` (an einsum with strided indexing), in float64.

A result passes when every output element is within the float32 rounding bound of a sum of
``n`` products, ``n × eps32 × Σ|products|`` (plus a tiny absolute floor); a missing or doubled
product, a wrong index or a skipped zero-initialization is orders of magnitude above it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod

import numpy as np
import tvm

from dcoc.accel.architecture import Architecture
from dcoc.tvm.mapping_tir import (
    NestLike,
    emit_tir,
    operand_spaces,
    output_space,
    tensor_shape,
)
from dcoc.tvm.target import host_target
from dcoc.workloads.problem import DataSpace, Problem

logger = logging.getLogger(__name__)

_EPS32 = float(np.finfo(np.float32).eps)
_ABS_FLOOR = 1e-6
REFERENCE_CHUNK_POINTS = 1 << 20


@dataclass(frozen=True)
class CheckResult:
    """Outcome of running a mapping's program against the numpy reference.

    ``passed`` is true when the program built, ran and matched; ``max_abs_error`` is the largest
    absolute difference (``inf`` if it never ran); ``max_error_ratio`` that difference over the
    allowed bound, worst element (pass ⇔ ≤ 1); ``error`` says why it failed to build or run.
    """

    passed: bool
    max_abs_error: float
    max_error_ratio: float
    error: str | None = None


def _point_indices(
    problem: Problem, data_space: DataSpace, coords: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, ...]:
    """Per data dimension, ``Σ coefficient × coords[dimension]`` (one entry per point)."""
    length = len(next(iter(coords.values())))
    return tuple(
        sum(
            (problem.coefficient_value(t) * coords[t.dimension] for t in terms),
            start=np.zeros(length, dtype=np.int64),
        )
        for terms in data_space.projection
    )


def reference_output(problem: Problem, operands: Mapping[str, np.ndarray]) -> np.ndarray:
    """The layer's output in float64: ``Out[proj(p)] += Π_ds ds[proj(p)]`` over all points p."""
    return reference_sums(problem, operands)[0]


def reference_sums(
    problem: Problem, operands: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``(Σ products, Σ |products|)`` per output element, in float64; the second sizes the
    rounding bound. Points are enumerated in chunks of ``REFERENCE_CHUNK_POINTS``."""
    bounds = tuple(problem.bounds[d] for d in problem.dimensions)
    out_space = output_space(problem)
    values = {ds.name: operands[ds.name].astype(np.float64) for ds in operand_spaces(problem)}
    out_shape = tensor_shape(problem, out_space)
    signed = np.zeros(prod(out_shape), dtype=np.float64)
    magnitude = np.zeros(prod(out_shape), dtype=np.float64)
    for start in range(0, problem.macs, REFERENCE_CHUNK_POINTS):
        flat = np.arange(start, min(start + REFERENCE_CHUNK_POINTS, problem.macs))
        coords = dict(zip(problem.dimensions, np.unravel_index(flat, bounds), strict=True))
        products = np.ones(len(flat), dtype=np.float64)  # [points]
        for name, tensor in values.items():
            products *= tensor[_point_indices(problem, problem.data_space(name), coords)]
        target = np.ravel_multi_index(_point_indices(problem, out_space, coords), out_shape)
        signed += np.bincount(target, weights=products, minlength=signed.size)  # scatter-add
        magnitude += np.bincount(target, weights=np.abs(products), minlength=signed.size)
    return signed.reshape(out_shape), magnitude.reshape(out_shape)


def random_operands(problem: Problem, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Uniform(-1, 1) float32 tensors for every operand data space."""
    return {
        ds.name: rng.uniform(-1.0, 1.0, tensor_shape(problem, ds)).astype(np.float32)
        for ds in operand_spaces(problem)
    }


def _terms_per_output(problem: Problem) -> int:
    """Products summed into one output element at most (bound on ``n`` in the error bound)."""
    out_dims = output_space(problem).dimensions_used
    return prod(problem.bounds[d] for d in problem.dimensions if d not in out_dims)


def run_program(
    module: tvm.IRModule,
    problem: Problem,
    operands: Mapping[str, np.ndarray],
    *,
    target: tvm.target.Target | None = None,
) -> np.ndarray:
    """Build ``module`` (a program of :func:`emit_tir` for ``problem``) and run it once.

    The output buffer starts as NaN, so a program that skips the zero-initialization cannot
    match. Build and run errors propagate.
    """
    executable = tvm.compile(module, target=target or host_target())
    device = tvm.cpu()
    args = [tvm.runtime.tensor(operands[ds.name], device) for ds in operand_spaces(problem)]
    out_init = np.full(tensor_shape(problem, output_space(problem)), np.nan, dtype=np.float32)
    out = tvm.runtime.tensor(out_init, device)
    executable["main"](*args, out)
    return out.numpy()


def compare_with_reference(
    problem: Problem, operands: Mapping[str, np.ndarray], got: np.ndarray
) -> CheckResult:
    """Compare a program's output with :func:`reference_output` within the float32 bound."""
    expected, magnitude = reference_sums(problem, operands)
    bound = _terms_per_output(problem) * _EPS32 * magnitude + _ABS_FLOOR
    diff = np.abs(got.astype(np.float64) - expected)
    diff = np.where(np.isnan(diff), np.inf, diff)
    max_abs = float(diff.max()) if diff.size else 0.0
    ratio = float((diff / bound).max()) if diff.size else 0.0
    return CheckResult(passed=ratio <= 1.0, max_abs_error=max_abs, max_error_ratio=ratio)


def check_mapping_program(
    problem: Problem,
    loops: NestLike,
    *,
    rng: np.random.Generator,
    architecture: Architecture | None = None,
    parallel: bool = False,
    target: tvm.target.Target | None = None,
) -> CheckResult:
    """Emit, build and run the program of ``loops`` on random inputs; compare with numpy.

    ``architecture`` names the levels of an accelerator ``Mapping``; ``parallel`` runs the
    outermost output-indexing spatial loop with ``T.parallel`` (see :func:`emit_tir`).

    A nest that does not tile the problem raises :class:`~dcoc.errors.SpecError` (a bad input,
    raised before TVM is involved); a failure to build or run is returned as a failed result.
    """
    module = emit_tir(problem, loops, architecture=architecture, parallel=parallel)
    operands = random_operands(problem, rng)
    try:
        got = run_program(module, problem, operands, target=target)
    except Exception as exc:  # a build or run failure is a result, not a crash
        logger.warning("mapping program of %s failed to build or run: %s", problem.name, exc)
        return CheckResult(False, float("inf"), float("inf"), f"{type(exc).__name__}: {exc}")
    return compare_with_reference(problem, operands, got)
