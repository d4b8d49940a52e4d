"""Hardware first, software after: a hardware sweep, each configuration mapped by dcoc's mapper.

The classic two-step flow (pick an accelerator, then tune each layer's mapping on it) as a
co-design baseline. The sweep draws ``configurations`` distinct hardware configurations at
random among those within the area budget (knob values uniform among the ones the area mask
allows, :mod:`dcoc.search.genome`'s hardware genes; a draw over the budget is drawn again), by
default ``budget // (num_layers * per_layer_budget)`` of them. Each layer of each configuration
is mapped by :func:`dcoc.accel.mapper.search.search_mapspace` (``random-pruned-climb``) on the
configuration's own :class:`~dcoc.accel.mapper.mapspace.MapSpace` (its mesh limits and buffer sizes
prune the draws), with the task's objective as the mapper's metric and an even share of the
budget left (``per_layer_budget`` when the sweep goes as planned).

Every model call of the mapper goes through :meth:`SearchTask.evaluate` (the mapper's evaluator
is an adapter that sends a batch of mappings as one proposal on the configuration and returns
the task's :class:`~dcoc.search.task.LayerOutcome` per mapping), so it is counted, recorded and
ranked like any other method's: the task keeps the best mapping of each layer per configuration
and the result is the best complete configuration. Where the space's action vocabulary can
express a mapping (:meth:`CoDesignSpace.actions_of`), its tile and order actions go to the
records too (permutations as their class representatives, which cost the same). If the mappers
stop early (pruned draws), the sweep goes on with further configurations until the budget is
spent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.mapper.search import MapperConfig, SearchAlgorithm, search_mapspace
from dcoc.accel.mapping import Mapping
from dcoc.objective import Objective
from dcoc.search.codesign_space import HardwareContext
from dcoc.search.genome import GenomeDecoder
from dcoc.search.task import DesignProposal, LayerOutcome, LayerProposal, SearchTask

"""The mapper's metric for each task objective."""


class _BudgetSpent(Exception):
    """The task evaluated fewer mappings than the mapper asked for."""


@dataclass(frozen=True)
class DecoupledSearch:
    per_layer_budget: int = 160
    """Model evaluations the mapper spends on one layer of one configuration (sets the default
    number of configurations: 5 for ResNet-18 C2-C11 at 8000 evaluations). On that task the
    best EDP of seed 0 was 1.3e17 at 40 (20 configurations), 9.2e16 at 80 and 5.1e16 at 160;
    over seeds 0, 5 and 6 the geometric mean was 5.1e16 at 160 and 5.0e16 at 320: a layer's
    mapping needs more than the climb's first step, and more configurations do not make up
    for it."""
    configurations: int | None = None
    """Configurations in the sweep (``None``: ``budget // (num_layers * per_layer_budget)``,
    at least one)."""
    explore_fraction: float = 0.5
    """Share of a layer's budget the mapper samples before it climbs."""
    climb_starts: int = 4
    """Best samples the mapper climbs from."""
    permutations_per_tiling: int = 1
    """Loop orders and keep sets the mapper draws per sampled tiling (Timeloop's
    ``max_permutations_per_if_visit``): few tilings fit a small budget, so one order each and
    the climb's loop swaps to improve it (4: a geometric mean 1.3x higher at 160 and 320)."""
    record_actions: bool = True
    """Store the tile/order actions of each mapping in the records where they exist."""

    def search(self, task: SearchTask) -> None:
        n = self.configurations or max(1, task.budget // (task.num_layers * self.per_layer_budget))
        jobs = n * task.num_layers  # (configuration, layer) mapper runs still planned
        decoder = GenomeDecoder(task.space)
        seen: set[tuple[int, ...]] = set()
        idle = 0
        while not task.exhausted and idle < 100:
            ctx = task.space.hardware_context(self._draw(task, decoder, seen))
            before = task.evaluations
            for layer in range(task.num_layers):
                if task.exhausted:
                    return
                share = -(-task.remaining // jobs) if jobs > 0 else self.per_layer_budget
                jobs -= 1
                try:
                    ok = self._map_layer(task, ctx, layer, min(share, task.remaining))
                except _BudgetSpent:
                    return
                if not ok:
                    jobs -= task.num_layers - 1 - layer  # the configuration cannot be complete
                    break
            idle = idle + 1 if task.evaluations == before else 0

    def _draw(
        self, task: SearchTask, decoder: GenomeDecoder, seen: set[tuple[int, ...]]
    ) -> tuple[int, ...]:
        """A random configuration within the area budget, new if one can be found."""
        fallback = None
        for _ in range(1000):
            hw = decoder.hardware(task.rng.random(decoder.size))
            if not task.space.hardware_context(hw).fits_budget:
                continue
            fallback = hw
            if hw not in seen:
                seen.add(hw)
                return hw
        # every knob at its smallest value fits whenever any design does (the area mask)
        return fallback or decoder.hardware(np.zeros(decoder.size))

    def _map_layer(self, task: SearchTask, ctx: HardwareContext, layer: int, budget: int) -> bool:
        """Run the mapper on ``layer`` of ``ctx`` within ``budget`` evaluations; ``False`` if
        the layer has no legal mapping there."""
        try:
            mapspace = MapSpace(ctx.arch, task.space.problems[layer])
        except ValueError:
            return False
        config = MapperConfig(
            algorithm=SearchAlgorithm.CLIMB,
            metrics=(Objective.parse(task.objective),),
            max_evaluations=budget,
            victory_condition=None,  # the budget is set: sample the whole explore share
            max_permutations_per_if_visit=self.permutations_per_tiling,
            seed=int(task.rng.integers(2**31)),
            explore_fraction=self.explore_fraction,
            climb_starts=self.climb_starts,
        )
        result = search_mapspace(mapspace, self._evaluator(task, ctx, layer), config)
        return result.evaluations > 0

    def _evaluator(
        self, task: SearchTask, ctx: HardwareContext, layer: int
    ) -> Callable[[Sequence[Mapping]], list[LayerOutcome]]:
        """The mapper's evaluator: its mappings as one proposal on ``ctx``, through the task."""

        def run(mappings: Sequence[Mapping]) -> list[LayerOutcome]:
            proposal = DesignProposal(
                ctx.indices, tuple(self._layer_proposal(task, ctx, layer, m) for m in mappings)
            )
            outcomes = task.evaluate([proposal])
            layers = list(outcomes[0].layers) if outcomes else []
            if len(layers) != len(mappings):
                raise _BudgetSpent
            return layers

        return run

    def _layer_proposal(
        self, task: SearchTask, ctx: HardwareContext, layer: int, mapping: Mapping
    ) -> LayerProposal:
        if self.record_actions:
            try:
                tile, order = task.space.actions_of(ctx, layer, mapping)
            except ValueError:
                pass
            else:
                return LayerProposal(
                    layer, tuple(int(a) for a in tile), tuple(int(a) for a in order), mapping
                )
        return LayerProposal(layer, mapping=mapping)
