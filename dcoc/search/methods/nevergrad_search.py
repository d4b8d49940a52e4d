"""Evolution strategies from nevergrad: CMA-ES, differential evolution, particle swarm.

One adapter for the three (``optimizer``: ``cma`` is nevergrad's
:class:`ng.optimizers.ParametrizedCMA` with the initial step ``cma_scale``, ``de``
:class:`ng.optimizers.TwoPointsDE`, ``pso`` :class:`ng.optimizers.PSO`). The parametrization is
the genome (:mod:`dcoc.search.genome`) as one array of its free genes
(:meth:`~dcoc.search.genome.GenomeDecoder.free_genes`; the others cannot change the design),
bounded to ``[0, 1]`` by nevergrad's arctan transform (``set_bounds(method="arctan")``, which
PSO's own arctan transform inverts): DE and PSO start from uniform random designs, CMA-ES from
the middle of the box. (With the default bouncing bounds PSO's particles pile up on the faces
of the box, a third of the genes at 0 or 1 after 400 designs and most designs incomplete.) A
candidate is one design, evaluated on every layer (``num_layers`` model evaluations) and told
its :func:`~dcoc.search.methods.loss.design_loss`.

The optimizer's budget is ``ceil(task.budget / num_layers)`` designs, asked and told in batches
of ``batch`` (its ``num_workers``), one batch per :meth:`SearchTask.evaluate` call; the task's
counter ends the search (the last design may be cut short, told as incomplete). The random
state of the parametrization is seeded from the task's generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import nevergrad as ng
import numpy as np

from dcoc.search.genome import GenomeDecoder
from dcoc.search.methods.loss import design_loss
from dcoc.search.task import SearchTask

OPTIMIZERS = ("cma", "de", "pso")


@dataclass(frozen=True)
class NevergradSearch:
    optimizer: str
    """``cma``, ``de`` or ``pso``."""
    batch: int = 8
    """Candidates asked before they are told (nevergrad's ``num_workers``)."""
    cma_scale: float = 6.0
    """CMA-ES's initial step in units of the genes' standardized scale: from the middle of the
    box nevergrad's CMA draws its first generation with a standard deviation of about
    ``0.05 x scale`` on 88 genes (6: most of the box)."""

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; known: {list(OPTIMIZERS)}")

    def _optimizer_class(self) -> ng.optimizers.base.OptCls:
        if self.optimizer == "cma":
            return ng.optimizers.ParametrizedCMA(scale=self.cma_scale)
        return ng.optimizers.TwoPointsDE if self.optimizer == "de" else ng.optimizers.PSO

    def search(self, task: SearchTask) -> None:
        decoder = GenomeDecoder(task.space)
        free = decoder.free_genes()
        parametrization = ng.p.Array(init=np.full(free.size, 0.5)).set_bounds(
            0.0, 1.0, method="arctan"
        )
        parametrization.random_state = np.random.RandomState(int(task.rng.integers(2**31)))
        designs = -(-task.budget // task.num_layers)
        optimizer = self._optimizer_class()(
            parametrization=parametrization, budget=designs, num_workers=self.batch
        )
        while not task.exhausted:
            candidates = [optimizer.ask() for _ in range(self.batch)]
            outcomes = task.evaluate(
                [decoder.decode(self._genes(decoder, free, c.value)) for c in candidates]
            )
            for candidate, outcome in zip(candidates, outcomes, strict=False):
                optimizer.tell(candidate, design_loss(outcome, task.num_layers))

    @staticmethod
    def _genes(decoder: GenomeDecoder, free: np.ndarray, values: np.ndarray) -> np.ndarray:
        genes = np.full(decoder.size, 0.5)  # the fixed genes' value is moot
        genes[free] = np.clip(values, 0.0, 1.0)
        return genes
