"""Tree-structured Parzen estimator search (optuna's :class:`~optuna.samplers.TPESampler`).

One optuna trial is one design: every free gene of the genome (:mod:`dcoc.search.genome`;
:meth:`~dcoc.search.genome.GenomeDecoder.free_genes`, the others cannot change the design) is a
float parameter in ``[0, 1]`` named by its genome index (``g000``, ``g001``, ...), the design is
evaluated on every layer (``num_layers`` model evaluations) and the trial is told its
:func:`~dcoc.search.methods.loss.design_loss`. Trials go through optuna's ask/tell interface,
so the task's evaluation counter, not optuna, decides when the search ends; the last design may
be cut short by the budget (told as incomplete).

The sampler is multivariate (one joint Parzen estimator per trial; optuna 5's default for one
objective): on ResNet-18 C2-C11 (88 free genes, 800 trials) the independent estimator spends
about five times as long in optuna (one estimator per gene, each over every past trial). The
first ``startup_trials`` designs are random.

optuna logs every finished trial at INFO level on its own ``optuna`` logger; the search raises
that logger's level to WARNING while it runs and restores it afterwards (optuna's
``set_verbosity`` sets only that logger, never the root logger or the caller's handlers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import optuna

from dcoc.search.genome import GenomeDecoder
from dcoc.search.methods.loss import design_loss
from dcoc.search.task import SearchTask


@dataclass(frozen=True)
class TpeSearch:
    startup_trials: int = 40
    """Random designs before the Parzen estimators take over."""
    ei_candidates: int = 24
    """Candidates per trial scored by expected improvement (optuna's default)."""
    multivariate: bool = True

    def search(self, task: SearchTask) -> None:
        decoder = GenomeDecoder(task.space)
        free = decoder.free_genes()
        names = [f"g{i:03d}" for i in free]
        sampler = optuna.samplers.TPESampler(
            n_startup_trials=self.startup_trials,
            n_ei_candidates=self.ei_candidates,
            multivariate=self.multivariate,
            seed=int(task.rng.integers(2**31)),
        )
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            study = optuna.create_study(direction="minimize", sampler=sampler)
            while not task.exhausted:
                trial = study.ask()
                genes = np.full(decoder.size, 0.5)  # the fixed genes' value is moot
                genes[free] = [trial.suggest_float(n, 0.0, 1.0) for n in names]
                outcomes = task.evaluate([decoder.decode(genes)])
                if not outcomes:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    break
                study.tell(trial, design_loss(outcomes[0], task.num_layers))
        finally:
            optuna.logging.set_verbosity(verbosity)
