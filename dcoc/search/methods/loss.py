"""The loss the black-box optimizers minimize (TPE, CMA-ES, DE, PSO): one number per design.

A complete design scores the log of its network objective (EDP spans orders of magnitude; the
log keeps the optimizers' models and step sizes on a usable scale). An incomplete one (a layer
invalid or not evaluated, the hardware over the area budget, the energy over its budget) scores
the finite :data:`~dcoc.search.methods.annealing.INCOMPLETE` plus the number of layers without
a valid mapping, above every complete design and lower the more layers are valid, so the
optimizers learn their way towards complete designs instead of seeing one flat penalty.
"""

from __future__ import annotations

import math

from dcoc.search.methods.annealing import INCOMPLETE
from dcoc.search.task import DesignOutcome


def design_loss(outcome: DesignOutcome, num_layers: int) -> float:
    """Lower is better: ``log(objective)`` if complete, else ``INCOMPLETE + invalid layers``."""
    if outcome.complete and math.isfinite(outcome.objective):
        return math.log(max(outcome.objective, 1e-300))
    valid = sum(1 for r in outcome.layers if r.valid)
    return INCOMPLETE + (num_layers - valid)
