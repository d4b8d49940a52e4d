"""Monte Carlo tree search over whole co-designs, rollouts scored by the accelerator model.

The tree search is :func:`dcoc.search.mcts.search`; here are its collaborators for the
accelerator:

* the state is a whole design (:class:`~dcoc.search.design_moves.DesignState`), the root a
  uniformly random one drawn from the task's generator (as the SA starts), drawn again (up to
  :data:`ROOT_DRAWS` times) while its hardware exceeds the area budget, which the estimator
  tells without a model call;
* transformations are the layer-agnostic moves (:mod:`dcoc.search.design_moves`), proposed by a
  proposer by name (:mod:`dcoc.search.proposers`: ``random``, ``heuristic``, ``llm``);
* the scorer (:class:`DesignScorer`) evaluates a state through ``task.evaluate``, so every
  model call is counted against the budget and recorded. It keeps every layer outcome by
  (hardware, layer, tile, order): a state evaluates only the layers no earlier state had in the
  same form, so a state one layer move away from a scored one costs one evaluation and a knob
  move one per layer; a state seen before costs nothing. Its value is ``-log`` of the network
  objective, an invalid layer (or hardware over the area budget) counted as
  :data:`INVALID_CYCLES_PER_MAC` x MACs cycles and :data:`INVALID_PJ_PER_MAC` x MACs pJ, so an
  incomplete design ranks below complete ones and improves as its layers become valid.

The search runs until the task's budget is spent (the scorer then stops it). The tree search's
settings are :class:`~dcoc.search.mcts.MctsSettings`' defaults unless given. At the end, the
tree's best state and the transformations that lead to it from the root go to the records
(:meth:`~dcoc.records.RecordsDB.add_search_path`), each step with who proposed it and the
objective after it, which ``python -m dcoc.search explain`` reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dcoc.objective import Objective
from dcoc.records import SearchPathRecord
from dcoc.search.design_moves import DesignMoves, DesignState, Transformation
from dcoc.search.llm_proposer import LlmLog, LlmProposer, LlmProposerSettings
from dcoc.search.mcts import MctsSettings, Tree, search
from dcoc.search.proposers import DesignProposer, LayerCost, build_proposer
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
        return Objective.parse(task.objective).of(cycles, energy)


@dataclass(frozen=True)
class MctsSearch:
    proposer: str = "random"
    """``random``, ``heuristic`` or ``llm`` (:data:`dcoc.search.proposers.PROPOSERS`)."""
    settings: MctsSettings = field(default_factory=MctsSettings)
    llm: LlmProposerSettings | None = None
    """The ``llm`` proposer's settings; ``None``: its defaults and the ``DCOC_LLM_*``
    environment, read when the search starts."""

    def search(self, task: SearchTask) -> None:
        moves = DesignMoves(task.space)
        scorer = DesignScorer(task)
        proposer = build_proposer(
            self.proposer,
            moves,
            scorer,
            objective=task.objective,
            counts=task.counts,
            llm=self.llm,
            log=LlmLog(task.records, task.method, task.seed, lambda: task.evaluations),
        )
        root = moves.random_state(task.rng)
        for _ in range(ROOT_DRAWS - 1):
            if moves.context(root).fits_budget:
                break
            root = moves.random_state(task.rng)
        tree = search(
            root,
            self.settings,
            proposer=proposer,
            apply=moves.apply,
            score=scorer,
            rng=task.rng,
        )
        if task.records is not None:
            task.records.add_search_path(
                best_path(task, moves, scorer, proposer, self.proposer, root, tree)
            )


def best_path(
    task: SearchTask,
    moves: DesignMoves,
    scorer: DesignScorer,
    proposer: DesignProposer,
    proposer_name: str,
    root: DesignState,
    tree: Tree[DesignState, Transformation],
) -> SearchPathRecord:
    """The tree's best state and its path from ``root``, replayed: each step's
    transformation, who proposed it, and the network objective after it (where measured)."""
    state = root
    steps = []
    for t in tree.best_path:
        source, call = proposer_name, None
        if isinstance(proposer, LlmProposer):
            provenance = proposer.provenance(state, t)
            source = "unknown" if provenance is None else provenance.source
            call = None if provenance is None else provenance.call
        state = moves.apply(state, t)
        costs = scorer.layer_costs(state)
        steps.append(
            {
                "text": str(t),
                "kind": str(t.kind),
                "layer": t.layer,
                "position": t.position,
                "value": t.value,
                "source": source,
                "llm_call": call,
                "objective": None if costs is None else _finite(scorer.objective(costs)),
            }
        )
    best = tree.best_state if tree.best_state is not None else root
    root_costs = scorer.layer_costs(root)
    return SearchPathRecord(
        method=task.method,
        seed=task.seed,
        value=None if tree.best_state is None else tree.best_value,
        design={
            "objective": task.objective,
            "proposer": proposer_name,
            "best": _state_json(task, best),
            "best_objective": _finite(math.exp(-tree.best_value)),
            "root": _state_json(task, root),
            "root_objective": None if root_costs is None else _finite(scorer.objective(root_costs)),
            "simulations": tree.simulations,
        },
        steps=tuple(steps),
    )


def _state_json(task: SearchTask, state: DesignState) -> dict[str, object]:
    return {
        "hw": task.space.hardware_context(state.hw).config.as_dict(),
        "hw_action": list(state.hw),
        "tiles": [list(t) for t in state.tiles],
        "orders": [list(o) for o in state.orders],
    }


def state_from_json(value: Mapping[str, Any]) -> DesignState:
    """The state :func:`best_path` stored (``hw_action``, ``tiles``, ``orders``); raises
    ``ValueError`` if a part is missing or not a list of integers."""
    try:
        hw = tuple(int(v) for v in value["hw_action"])
        tiles = tuple(tuple(int(v) for v in t) for t in value["tiles"])
        orders = tuple(tuple(int(v) for v in o) for o in value["orders"])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a stored design state ({error})") from None
    return DesignState(hw, tiles, orders)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
