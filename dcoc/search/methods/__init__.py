"""Every co-design search method by its short name, each a :class:`~dcoc.search.task.Searcher`.

The in-process baselines are built here; the RL agents (``ppo``, ``mappo``, ``ippo``) implement
the same interface in :mod:`dcoc.experiment.rl_search` (they need ray, which ``dcoc.search``
never imports), and the entry points (``python -m dcoc.search``, ``python -m dcoc.bench``) build
them from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcoc.search.task import Searcher

if TYPE_CHECKING:
    from dcoc.search.llm_proposer import LlmProposerSettings


@dataclass(frozen=True)
class MethodInfo:
    name: str
    summary: str


BASELINES: dict[str, MethodInfo] = {
    m.name: m
    for m in (
        MethodInfo("random", "random hardware and mappings, jointly"),
        MethodInfo("ga", "genetic algorithm in the manner of GAMMA/DiGamma"),
        MethodInfo("sa", "simulated annealing, layer moves and hardware moves"),
        MethodInfo("tpe", "tree-structured Parzen estimator (optuna)"),
        MethodInfo("cma", "CMA-ES (nevergrad)"),
        MethodInfo("de", "differential evolution (nevergrad)"),
        MethodInfo("pso", "particle swarm (nevergrad)"),
        MethodInfo("decoupled", "hardware sweep, each configuration mapped by dcoc's mapper"),
        MethodInfo("mcts", "Monte Carlo tree search over design transformations (--proposer)"),
        MethodInfo("mcts-llm", "mcts whose expansions a language model picks (DCOC_LLM_*)"),
    )
}
RL_METHODS: dict[str, MethodInfo] = {
    m.name: m
    for m in (
        MethodInfo("ppo", "one PPO agent over the joint action space"),
        MethodInfo("mappo", "three PPO agents with a centralized critic"),
        MethodInfo("ippo", "three PPO agents with independent critics"),
        MethodInfo(
            "mappo-mcts",
            "mappo starting from the heuristic tree search's best design (a quarter of the budget)",
        ),
        MethodInfo(
            "mappo-frozen",
            "mappo's agents as loaded from a checkpoint (--policy), acting without learning",
        ),
        MethodInfo(
            "mappo-finetune",
            "mappo's agents loaded from a checkpoint (--policy), training on as they act",
        ),
        MethodInfo(
            "mappo-untrained",
            "mappo's agents as initialized, never learning (the ablation of learning)",
        ),
    )
}
CARRIED_METHODS: dict[str, bool] = {"mappo-frozen": False, "mappo-finetune": True}
"""RL methods whose agents start from a checkpoint (``--policy``, trained elsewhere, e.g. on
another layer set), and whether they go on learning."""
ACCEL_METHODS: tuple[str, ...] = (*BASELINES, *RL_METHODS)


def resume_refusal(name: str, proposer: str | None = None) -> str | None:
    """Why a killed search of method ``name`` cannot be resumed by replaying its records
    (:class:`~dcoc.search.task.SearchTask`'s ``replay``); ``None``: it can."""
    if name == "mcts-llm" or proposer == "llm":
        return "a search with a language model asks it again and may be answered otherwise"
    if name not in BASELINES:
        return (
            f"method {name} trains agents whose sampling is not replayable "
            "(python -m dcoc.train --resume continues a training run from its checkpoint)"
        )
    return None


def build_baseline(
    name: str, *, proposer: str | None = None, llm: LlmProposerSettings | None = None
) -> Searcher:
    """The in-process baseline ``name`` with its default settings; ``proposer`` (``mcts``
    only): :data:`dcoc.search.proposers.PROPOSERS` (default ``heuristic``). ``mcts-llm`` is
    ``mcts`` with the ``llm`` proposer, its model from the ``DCOC_LLM_*`` environment
    (:mod:`dcoc.llm.settings`) unless ``llm`` gives the LLM proposer's settings."""
    if name == "mcts":
        return _mcts(proposer or "heuristic", llm)
    if name == "mcts-llm" and proposer in (None, "llm"):
        return _mcts("llm", llm)
    if proposer is not None:
        raise ValueError(f"a proposer applies to mcts only, not to {name!r}")
    builders: dict[str, Callable[[], Searcher]] = {
        "random": _random,
        "ga": _ga,
        "sa": _sa,
        "tpe": _tpe,
        "cma": lambda: _nevergrad("cma"),
        "de": lambda: _nevergrad("de"),
        "pso": lambda: _nevergrad("pso"),
        "decoupled": _decoupled,
    }
    if name not in builders:
        raise KeyError(f"unknown baseline {name!r}; known: {sorted(builders)}")
    return builders[name]()


def _random() -> Searcher:
    from dcoc.search.methods.random_search import RandomSearch

    return RandomSearch()


def _ga() -> Searcher:
    from dcoc.search.methods.genetic import GeneticAlgorithm

    return GeneticAlgorithm()


def _sa() -> Searcher:
    from dcoc.search.methods.annealing import SimulatedAnnealing

    return SimulatedAnnealing()


def _tpe() -> Searcher:
    from dcoc.search.methods.optuna_tpe import TpeSearch

    return TpeSearch()


def _nevergrad(optimizer: str) -> Searcher:
    from dcoc.search.methods.nevergrad_search import NevergradSearch

    return NevergradSearch(optimizer)


def _decoupled() -> Searcher:
    from dcoc.search.methods.decoupled import DecoupledSearch

    return DecoupledSearch()


def _mcts(proposer: str, llm: LlmProposerSettings | None = None) -> Searcher:
    from dcoc.search.methods.mcts_search import MctsSearch
    from dcoc.search.proposers import PROPOSERS

    if proposer not in PROPOSERS:
        raise KeyError(f"unknown proposer {proposer!r}; known: {sorted(PROPOSERS)}")
    return MctsSearch(proposer, llm=llm)
