"""Simulated annealing over the whole co-design, with moves that cost what they change.

The state is one design: hardware genes and per layer its mapping genes
(:mod:`dcoc.search.genome`), with every layer's last outcome. A move either changes one layer's
mapping (one GAMMA-style mutation, :func:`~dcoc.search.methods.genetic.mutate_layer`): one
evaluation, the other layers' costs are known; or, with probability ``hw_move``, one hardware
knob: every layer is evaluated again. The energy is the log of the network objective (an
incomplete design: a large constant plus the number of invalid layers); a worse move is taken
with probability ``exp(-delta / T)``, the temperature falling geometrically from ``t_start`` to
``t_end`` over the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dcoc.objective import Objective
from dcoc.search.genome import GenomeDecoder
from dcoc.search.methods.genetic import mutate_hardware, mutate_layer
from dcoc.search.task import LayerOutcome, SearchTask

INCOMPLETE = 1e3
"""Energy of a design with an invalid layer (plus one per invalid layer)."""


@dataclass(frozen=True)
class SimulatedAnnealing:
    t_start: float = 1.0
    t_end: float = 0.01
    hw_move: float = 0.1

    def search(self, task: SearchTask) -> None:
        rng = task.rng
        decoder = GenomeDecoder(task.space)
        genes = decoder.random(rng)
        layers = self._evaluate_all(task, decoder, genes)
        if layers is None:
            return
        energy = self._energy(task, layers)
        while not task.exhausted:
            frac = min(task.evaluations / max(task.budget, 1), 1.0)
            temperature = self.t_start * (self.t_end / self.t_start) ** frac
            candidate = genes.copy()
            if rng.random() < self.hw_move:
                mutate_hardware(candidate, decoder, rng)
                new_layers = self._evaluate_all(task, decoder, candidate)
                if new_layers is None:
                    return
            else:
                li = int(rng.integers(task.num_layers))
                mutate_layer(candidate, decoder, li, rng)
                out = task.evaluate([decoder.decode(candidate, [li])])
                if not out or not out[0].layers:
                    return
                new_layers = list(layers)
                new_layers[li] = out[0].layers[0]
            new_energy = self._energy(task, new_layers)
            delta = new_energy - energy
            if delta <= 0 or rng.random() < math.exp(-delta / temperature):
                genes, layers, energy = candidate, new_layers, new_energy

    @staticmethod
    def _evaluate_all(
        task: SearchTask, decoder: GenomeDecoder, genes: np.ndarray
    ) -> list[LayerOutcome] | None:
        out = task.evaluate([decoder.decode(genes)])
        if not out or len(out[0].layers) < task.num_layers:
            return None  # the budget ran out
        return list(out[0].layers)

    @staticmethod
    def _energy(task: SearchTask, layers: list[LayerOutcome]) -> float:
        invalid = sum(1 for r in layers if not r.valid)
        if invalid:
            return INCOMPLETE + invalid
        cycles = sum(c * r.cycles for c, r in zip(task.counts, layers, strict=True))
        energy = sum(c * r.energy_pj for c, r in zip(task.counts, layers, strict=True))
        if task.energy_budget_pj is not None and energy > task.energy_budget_pj:
            return INCOMPLETE
        return math.log(max(Objective.parse(task.objective).of(cycles, energy), 1e-300))
