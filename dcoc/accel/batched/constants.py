"""What the batched evaluator precomputes from (architecture template, problem, stride rule).

:class:`BatchConstants` holds the numbers every batch of one template and problem shares:
projections, bounds, fanouts, which dimensions each data space depends on, the balanced
mixed-radix keys of its translations, instance counts. The functions of
:mod:`~dcoc.accel.batched.sliding` and :mod:`~dcoc.accel.batched.cost` take it as their first
argument; what a batch does not change stays here, what it does (the memoized histograms and
link analyses) stays with the :class:`~dcoc.accel.batched.evaluator.BatchEvaluator`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcoc.accel.architecture import Architecture
from dcoc.accel.model.delta_engine import Projection, projections
from dcoc.workloads.problem import Problem


@dataclass(frozen=True)
class BatchConstants:
    """The mapping-independent numbers of one (architecture template, problem, stride rule)."""

    projs: tuple[Projection, ...]
    """Per data space: per data dimension ((problem dim, coefficient), ...)."""
    legacy: bool
    """The legacy stride rule (zero translations refetch)."""
    num_levels: int
    num_dims: int
    num_ds: int
    bounds: tuple[int, ...]
    """Per problem dimension."""
    fanout_x: tuple[int, ...]
    """Per storage level: the mesh X fanout to the level below."""
    fanout_y: tuple[int, ...]
    fanout: tuple[int, ...]
    read_write: tuple[bool, ...]
    """Per data space: read and written (outputs)."""
    relevant: tuple[tuple[bool, ...], ...]
    """[S][D]: data space s depends on dimension d."""
    sliding: tuple[bool, ...]
    """Per data space: some data dimension has several terms (a sliding window)."""
    kappa: tuple[tuple[int, ...], ...]
    """[S][D]: the key of a unit move along d (balanced mixed radix, linear)."""
    instances: tuple[int, ...]
    """Per storage level."""
    cluster: tuple[int, ...]
    """Per storage level: the cluster size."""
    mac_instances: int

    @staticmethod
    def of(arch: Architecture, problem: Problem, *, legacy_translation: bool) -> BatchConstants:
        projs = projections(problem)
        nl = len(arch.storage)
        nd = len(problem.dimensions)
        bounds = tuple(int(problem.bounds[d]) for d in problem.dimensions)
        kappa = []
        for p in projs:
            mult = 1
            k = [0] * nd
            for terms in p:
                bound = sum(abs(c) * 2 * bounds[d] for d, c in terms) + 1
                for d, c in terms:
                    k[d] += c * mult
                mult *= 2 * bound + 1
            if mult >= 2**62:
                raise ValueError("problem too large for the batched translation keys")
            kappa.append(tuple(k))
        return BatchConstants(
            projs=projs,
            legacy=legacy_translation,
            num_levels=nl,
            num_dims=nd,
            num_ds=len(problem.data_spaces),
            bounds=bounds,
            fanout_x=tuple(arch.fanout_xy(li)[0] for li in range(nl)),
            fanout_y=tuple(arch.fanout_xy(li)[1] for li in range(nl)),
            fanout=tuple(arch.fanout(li) for li in range(nl)),
            read_write=tuple(ds.read_write for ds in problem.data_spaces),
            relevant=tuple(
                tuple(any(dd == d and c != 0 for terms in p for dd, c in terms) for d in range(nd))
                for p in projs
            ),
            sliding=tuple(any(len(terms) > 1 for terms in p) for p in projs),
            kappa=tuple(kappa),
            instances=tuple(lv.instances for lv in arch.storage),
            cluster=tuple(lv.cluster_size for lv in arch.storage),
            mac_instances=arch.arithmetic.instances,
        )
