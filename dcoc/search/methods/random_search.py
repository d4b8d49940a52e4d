"""Random search over hardware and mappings jointly.

Each proposal draws every gene uniformly (:mod:`dcoc.search.genome`): a hardware configuration
uniform among the knob values that can fit the area budget, then per layer a uniformly random
masked tiling and a random masked loop order and keep set on it. Per hardware configuration the
task keeps the best mapping of each layer, so configurations drawn twice combine.
"""

from __future__ import annotations

from dataclasses import dataclass

from dcoc.search.genome import GenomeDecoder
from dcoc.search.task import SearchTask


@dataclass(frozen=True)
class RandomSearch:
    batch: int = 8
    """Designs proposed per call of the task (one records commit each)."""

    def search(self, task: SearchTask) -> None:
        decoder = GenomeDecoder(task.space)
        while not task.exhausted:
            task.evaluate([decoder.decode(decoder.random(task.rng)) for _ in range(self.batch)])
