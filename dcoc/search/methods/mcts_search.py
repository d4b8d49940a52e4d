"""Monte Carlo tree search over whole co-designs, rollouts scored by the accelerator model.

The tree search is :func:`dcoc.search.mcts.search`; here are its collaborators for the
accelerator:

* the state is a whole design (:class:`~dcoc.search.design_moves.DesignState`), the root a
  uniformly random one drawn from the task's generator (as the SA starts), drawn again (up to
  :data:`ROOT_DRAWS` times) while its hardware exceeds the area budget, which the estimator
  tells without a model call;
* transformations are the layer-agnostic moves (:mod:`dcoc.search.design_moves`), proposed by a
  proposer by name (:mod:`dcoc.search.proposers`: ``random``, ``heuristic``);
* the scorer (:class:`DesignScorer`) evaluates a state through ``task.evaluate``, so every
  model call is counted against the budget and recorded. It keeps every layer outcome by
  (hardware, layer, tile, order): a state evaluates only the layers no earlier state had in the
  same form, so a state one layer move away from a scored one costs one evaluation and a knob
  move one per layer; a state seen before costs nothing. Its value is ``-log`` of the network
  objective, an invalid layer (or hardware over the area budget) counted as
  :data:`INVALID_CYCLES_PER_MAC` x MACs cycles and :data:`INVALID_PJ_PER_MAC` x MACs pJ, so an
  incomplete design ranks below complete ones and improves as its layers become valid.

The search runs until the task's budget is spent (the scorer then stops it). The tree search's
settings are :class:`~dcoc.search.mcts.MctsSettings`' defaults unless given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from dcoc.search.design_moves import DesignMoves, DesignState
from dcoc.search.mcts import MctsSettings, search
from dcoc.search.network_best import layer_objective
from dcoc.search.proposers import LayerCost, build_proposer
from dcoc.search.task import SearchTask

INVALID_CYCLES_PER_MAC = 1.0
"""Cycles per MAC charged for an invalid layer (every MAC on one PE)."""
INVALID_PJ_PER_MAC = 1000.0
"""Energy per MAC charged for an invalid layer (about two DRAM accesses per MAC)."""

ROOT_DRAWS = 100
"""Random designs drawn for a root whose hardware fits the area budget (else the last)."""

LayerKey = tuple[tuple[int, ...], int, tuple[int, ...], tuple[int, ...]]


class DesignScorer:
    """States scored through ``task.evaluate``, each layer outcome evaluated once."""

    def __init__(self, task: SearchTask) -> None:
        self.task = task
        self._layers: dict[LayerKey, LayerCost] = {}
        self._macs = tuple(p.macs for p in task.space.problems)

    @staticmethod
    def _key(state: DesignState, layer: int) -> LayerKey:
        return (state.hw, layer, state.tiles[layer], state.orders[layer])

    def layer_costs(self, state: DesignState) -> Sequence[LayerCost] | None:
        """The measured cost of every layer of ``state`` (``None`` unless all are known)."""
        out = []
        for li in range(len(state.tiles)):
            cost = self._layers.get(self._key(state, li))
            if cost is None:
                return None
            out.append(cost)
        return out

    def layer_cost(
        self, hw: tuple[int, ...], layer: int, tile: tuple[int, ...], order: tuple[int, ...]
    ) -> LayerCost | None:
        """The measured cost of one layer mapping (``None``: not evaluated yet)."""
        return self._layers.get((hw, layer, tile, order))

    def __call__(self, state: DesignState) -> float | None:
        """``-log`` of the network objective of ``state``; ``None`` if the budget ran out
        before every layer was evaluated."""
        missing = [li for li in range(len(state.tiles)) if self._key(state, li) not in self._layers]
        if missing:
            outcomes = self.task.evaluate([state.proposal(missing)])
            got = outcomes[0].layers if outcomes else ()
            for r in got:
                self._layers[self._key(state, r.layer)] = LayerCost(r.valid, r.cycles, r.energy_pj)
            if len(got) < len(missing):
                return None
        costs = self.layer_costs(state)
        assert costs is not None
        return -math.log(max(self.objective(costs), 1e-300))

    def objective(self, costs: Sequence[LayerCost]) -> float:
        """The network objective, invalid layers charged the penalty costs."""
        task = self.task
        cycles = energy = 0.0
        for n, macs, c in zip(task.counts, self._macs, costs, strict=True):
            cycles += n * (c.cycles if c.valid else INVALID_CYCLES_PER_MAC * macs)
            energy += n * (c.energy_pj if c.valid else INVALID_PJ_PER_MAC * macs)
        return layer_objective(task.objective, cycles, energy)


@dataclass(frozen=True)
class MctsSearch:
    proposer: str = "random"
    """``random`` or ``heuristic`` (:data:`dcoc.search.proposers.PROPOSERS`)."""
    settings: MctsSettings = field(default_factory=MctsSettings)

    def search(self, task: SearchTask) -> None:
        moves = DesignMoves(task.space)
        scorer = DesignScorer(task)
        proposer = build_proposer(
            self.proposer, moves, scorer, objective=task.objective, counts=task.counts
        )
        root = moves.random_state(task.rng)
        for _ in range(ROOT_DRAWS - 1):
            if moves.context(root).fits_budget:
                break
            root = moves.random_state(task.rng)
        search(
            root,
            self.settings,
            proposer=proposer,
            apply=moves.apply,
            score=scorer,
            rng=task.rng,
        )
