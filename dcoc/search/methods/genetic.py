"""A genetic algorithm in the manner of GAMMA/DiGamma (Kao and Krishna, ICCAD'20 / '22).

The genome is the whole co-design (:mod:`dcoc.search.genome`): hardware knobs, and per layer
its tiling, loop orders and keep bits. One generation:

* **elitism**: the ``elites`` best designs pass unchanged (they are not evaluated again);
* **selection**: tournaments of ``tournament`` designs;
* **crossover** (domain-aware): every hardware knob from either parent; every layer's mapping
  (tiling and order together, so tiles and the orders fitted to them stay paired) whole from
  either parent;
* **mutation** (GAMMA's operators): per child, with ``hw_mutation`` probability one knob moves to
  a neighbouring value or a new one; per layer, with ``layer_mutation`` probability one of
  tile a dimension anew, reorder a level, flip a keep bit;
* the fitness is the network objective of the design (``inf`` if incomplete or invalid); ties
  broken by the number of valid layers, so early generations climb towards complete designs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcoc.search.genome import GenomeDecoder
from dcoc.search.task import DesignOutcome, SearchTask


def fitness(outcome: DesignOutcome) -> tuple[float, float]:
    """Lower is better: (network objective, minus the share of valid layers)."""
    valid = sum(1 for r in outcome.layers if r.valid)
    return (outcome.objective, -valid / max(len(outcome.layers), 1))


def mutate_layer(
    genes: np.ndarray, decoder: GenomeDecoder, layer: int, rng: np.random.Generator
) -> None:
    """One GAMMA mutation of ``layer`` in place: re-tile a dimension (a local step or a fresh
    draw), reorder a level, or flip a keep bit."""
    lay, space = decoder.layout, decoder.space
    tiles, orders = lay.tile[layer], lay.order[layer]
    nperm = space.num_levels
    nkeep = len(space.order_nvec) - nperm
    op = rng.integers(3 if nkeep else 2)
    if op == 0:
        i = tiles.start + int(rng.integers(tiles.stop - tiles.start))
        if rng.random() < 0.5:
            genes[i] = (genes[i] + rng.normal(0.0, 0.1)) % 1.0
        else:
            genes[i] = rng.random()
    elif op == 1:
        genes[orders.start + int(rng.integers(nperm))] = rng.random()
    else:
        i = orders.start + nperm + int(rng.integers(nkeep))
        genes[i] = (genes[i] + 0.5) % 1.0


def mutate_hardware(genes: np.ndarray, decoder: GenomeDecoder, rng: np.random.Generator) -> None:
    """Move one knob to a neighbouring value (a step of about one rank) or a fresh one."""
    hw = decoder.layout.hw
    i = hw.start + int(rng.integers(hw.stop - hw.start))
    n = decoder.space.hw_nvec[i - hw.start]
    if rng.random() < 0.5:
        genes[i] = float(np.clip(genes[i] + rng.choice((-1.0, 1.0)) / max(n, 1), 0.0, 0.999999))
    else:
        genes[i] = rng.random()


@dataclass(frozen=True)
class GeneticAlgorithm:
    population: int = 32
    elites: int = 4
    tournament: int = 3
    crossover: float = 0.9
    hw_mutation: float = 0.3
    layer_mutation: float = 0.3

    def search(self, task: SearchTask) -> None:
        rng = task.rng
        decoder = GenomeDecoder(task.space)
        lay = decoder.layout
        genomes = [decoder.random(rng) for _ in range(self.population)]
        outcomes = task.evaluate([decoder.decode(g) for g in genomes])
        scored = [(fitness(o), g) for o, g in zip(outcomes, genomes, strict=False)]
        while not task.exhausted:
            scored.sort(key=lambda s: s[0])
            elites = scored[: self.elites]
            children = []
            for _ in range(self.population - len(elites)):
                a, b = self._select(scored, rng), self._select(scored, rng)
                child = a.copy()
                if rng.random() < self.crossover:
                    take = rng.random(lay.hw.stop) < 0.5
                    child[lay.hw] = np.where(take, b[lay.hw], a[lay.hw])
                    for li in range(task.num_layers):
                        if rng.random() < 0.5:
                            genes = lay.layer_genes(li)
                            child[genes] = b[genes]
                if rng.random() < self.hw_mutation:
                    mutate_hardware(child, decoder, rng)
                for li in range(task.num_layers):
                    if rng.random() < self.layer_mutation:
                        mutate_layer(child, decoder, li, rng)
                children.append(child)
            outcomes = task.evaluate([decoder.decode(c) for c in children])
            scored = elites + [(fitness(o), c) for o, c in zip(outcomes, children, strict=False)]

    def _select(
        self, scored: list[tuple[tuple[float, float], np.ndarray]], rng: np.random.Generator
    ) -> np.ndarray:
        picks = rng.integers(len(scored), size=self.tournament)
        best = min(picks, key=lambda i: scored[int(i)][0])
        return scored[int(best)][1]
