"""Confidence sampling: draw K joint actions from the current policies, score how sure the
policies are of each, and send only the top share to the expensive evaluator.

Scores combine three signals, each z-scored within the batch so the weights are comparable:

* ``joint_logp``: the sum over agents of the candidate's log-probability under its policy;
* ``value``: a critic value per candidate (optional, supplied by the caller, e.g. from
  :func:`critic_values` on the global state each candidate leads to);
* ``agreement``: per agent, the share of the K candidates that chose the same action, averaged
  over agents (a sample estimate of how concentrated the policies are).

Pure functions (:func:`sample_candidates` for fixed per-agent observations,
:func:`sample_joint_candidates` for turn-ordered sampling where each agent sees the choices of
the agents before it, :func:`agreement_scores`, :func:`confidence_scores`, :func:`select_top`)
plus :class:`ConfidenceSampler`, which chains them. Duplicated joint actions
are evaluated once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from dcoc.agents.central_critic import CentralCriticModule
from dcoc.agents.contract import TURN_ORDER, sub_action_sizes
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

JointAction = dict[str, Any]
"""One joint action: agent id -> int (Discrete) or int array (MultiDiscrete)."""


@dataclass(frozen=True)
class ConfidenceConfig:
    """How many candidates to draw and how to rank them."""

    num_candidates: int = 16
    """K, joint actions sampled per decision."""
    keep_fraction: float = 0.25
    """Share of the K candidates sent to the evaluator (at least one is kept)."""
    logp_weight: float = 1.0
    value_weight: float = 0.0
    agreement_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.num_candidates < 1:
            raise ValueError(f"num_candidates must be >= 1, got {self.num_candidates}")
        if not 0.0 < self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction must be in (0, 1], got {self.keep_fraction}")
        weights = (self.logp_weight, self.value_weight, self.agreement_weight)
        if any(w < 0 for w in weights) or sum(weights) == 0:
            raise ValueError(f"score weights must be >= 0 and not all 0, got {weights}")


@dataclass(frozen=True)
class Candidates:
    """K sampled joint actions with their per-agent log-probabilities."""

    actions: dict[str, np.ndarray]
    """agent -> ``[K]`` (Discrete) or ``[K, num_sub_actions]`` (MultiDiscrete), int64."""
    logp: dict[str, np.ndarray]
    """agent -> ``[K]`` log-probability of that agent's action."""
    entropy: dict[str, float]
    """agent -> entropy of its masked action distribution at the given observation."""

    @property
    def num_candidates(self) -> int:
        return len(next(iter(self.logp.values())))

    @property
    def joint_logp(self) -> np.ndarray:
        """``[K]`` sum over agents."""
        return np.sum(np.stack(list(self.logp.values())), axis=0)

    def joint_action(self, index: int) -> JointAction:
        out: JointAction = {}
        for agent, actions in self.actions.items():
            out[agent] = int(actions[index]) if actions.ndim == 1 else actions[index].copy()
        return out


@dataclass(frozen=True)
class ConfidenceSelection:
    """The candidates kept for evaluation and what the filter saved."""

    candidates: Candidates
    scores: np.ndarray
    """``[K]`` confidence score per candidate (higher is more confident)."""
    kept_indices: np.ndarray
    """Indices into the K candidates, most confident first, one per distinct joint action."""
    evaluations_saved: int
    """``K - len(kept_indices)``: evaluations not run (low confidence or duplicate)."""

    @property
    def kept(self) -> list[JointAction]:
        return [self.candidates.joint_action(int(i)) for i in self.kept_indices]


def _obs_batch(observation: Mapping[str, np.ndarray]) -> dict[str, Any]:
    return {
        Columns.OBS: {
            key: torch.as_tensor(np.asarray(value, dtype=np.float32))[None]
            for key, value in observation.items()
        }
    }


def sample_candidates(
    modules: Mapping[str, RLModule],
    observations: Mapping[str, Mapping[str, np.ndarray]],
    num_candidates: int,
    *,
    generator: torch.Generator,
    module_for: Callable[[str], str] = str,
) -> Candidates:
    """Sample ``num_candidates`` actions per agent from its module at ``observations[agent]``.

    ``modules`` maps module ids to actor modules (a MultiRLModule works); ``module_for`` maps
    agent ids to module ids. Agents are sampled independently given their observations.
    """
    actions: dict[str, np.ndarray] = {}
    logp: dict[str, np.ndarray] = {}
    entropy: dict[str, float] = {}
    for agent, observation in observations.items():
        module = modules[module_for(agent)]
        with torch.no_grad():
            logits = module.forward_inference(_obs_batch(observation))[Columns.ACTION_DIST_INPUTS]
            sizes = sub_action_sizes(module.action_space)
            blocks = torch.split(logits[0], sizes)
            draws = [
                torch.multinomial(torch.softmax(b, -1), num_candidates, True, generator=generator)
                for b in blocks
            ]
            discrete = isinstance(module.action_space, gym.spaces.Discrete)
            sampled = draws[0] if discrete else torch.stack(draws, -1)  # [K] or [K, n_sub]
            dist = module.get_inference_action_dist_cls().from_logits(
                logits.expand(num_candidates, -1)
            )
            logp_t = dist.logp(sampled)
            assert isinstance(logp_t, torch.Tensor)
            logp[agent] = logp_t.numpy().astype(np.float64)
            entropy[agent] = float(dist.entropy()[0])
        actions[agent] = sampled.numpy().astype(np.int64)
    return Candidates(actions=actions, logp=logp, entropy=entropy)


Observe = Callable[[str, JointAction], Mapping[str, np.ndarray]]
"""``observe(agent, prefix) -> obs``: the observation ``agent`` would get after the agents
before it in the turn order chose ``prefix`` (agent id -> action)."""


def sample_joint_candidates(
    modules: Mapping[str, RLModule],
    observe: Observe,
    num_candidates: int,
    *,
    generator: torch.Generator,
    agent_order: Sequence[str] = TURN_ORDER,
    module_for: Callable[[str], str] = str,
) -> Candidates:
    """Sample ``num_candidates`` joint actions in turn order, each agent conditioned on the
    actions already drawn for that candidate (its observation and mask come from ``observe``),
    as the env would present them. ``entropy`` is the mean over the K observations."""
    prefixes: list[JointAction] = [{} for _ in range(num_candidates)]
    actions: dict[str, np.ndarray] = {}
    logp: dict[str, np.ndarray] = {}
    entropy: dict[str, float] = {}
    for agent in agent_order:
        module = modules[module_for(agent)]
        rows = [observe(agent, prefix) for prefix in prefixes]
        batch = {
            Columns.OBS: {
                key: torch.as_tensor(np.stack([np.asarray(r[key], np.float32) for r in rows]))
                for key in rows[0]
            }
        }
        with torch.no_grad():
            logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]  # [K, L]
            sizes = sub_action_sizes(module.action_space)
            draws = [
                torch.multinomial(torch.softmax(b, -1), 1, generator=generator)[:, 0]
                for b in torch.split(logits, sizes, dim=-1)
            ]
            discrete = isinstance(module.action_space, gym.spaces.Discrete)
            sampled = draws[0] if discrete else torch.stack(draws, -1)  # [K] or [K, n_sub]
            dist = module.get_inference_action_dist_cls().from_logits(logits)
            logp_t = dist.logp(sampled)
            assert isinstance(logp_t, torch.Tensor)
            logp[agent] = logp_t.numpy().astype(np.float64)
            entropy[agent] = float(dist.entropy().mean())
        actions[agent] = sampled.numpy().astype(np.int64)
        for index, prefix in enumerate(prefixes):
            value = actions[agent][index]
            prefix[agent] = int(value) if discrete else value.copy()
    return Candidates(actions=actions, logp=logp, entropy=entropy)


def agreement_scores(actions: Mapping[str, np.ndarray]) -> np.ndarray:
    """``[K]``: per agent the share of candidates with the same action, averaged over agents."""
    per_agent = []
    for agent_actions in actions.values():
        rows = agent_actions.reshape(len(agent_actions), -1)
        _, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
        per_agent.append(counts[inverse.reshape(-1)] / len(rows))
    return np.mean(np.stack(per_agent), axis=0)


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(np.std(x))
    return (x - np.mean(x)) / std if std > 1e-12 else np.zeros_like(x, dtype=np.float64)


def confidence_scores(
    joint_logp: np.ndarray,
    agreement: np.ndarray,
    config: ConfidenceConfig,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """``[K]`` weighted sum of z-scored signals; ``values`` is required iff value_weight > 0."""
    score = config.logp_weight * _zscore(np.asarray(joint_logp, np.float64))
    score += config.agreement_weight * _zscore(np.asarray(agreement, np.float64))
    if config.value_weight > 0:
        if values is None:
            raise ValueError("value_weight > 0 needs one value per candidate")
        score += config.value_weight * _zscore(np.asarray(values, np.float64))
    return score


def select_top(scores: np.ndarray, keep_fraction: float) -> np.ndarray:
    """Indices of the ``max(1, ceil(keep_fraction * K))`` highest scores, best first, ties by
    lower index."""
    keep = max(1, math.ceil(keep_fraction * len(scores) - 1e-9))
    order = np.lexsort((np.arange(len(scores)), -np.asarray(scores)))
    return order[:keep]


def distinct_first(candidates: Candidates, order: Sequence[int] | np.ndarray) -> np.ndarray:
    """``order`` without later repeats of an already listed joint action."""
    actions = list(candidates.actions.values())
    seen: set[bytes] = set()
    kept = []
    for index in order:
        key = b"".join(np.ascontiguousarray(a[index]).tobytes() for a in actions)
        if key not in seen:
            seen.add(key)
            kept.append(int(index))
    return np.asarray(kept, dtype=np.int64)


def critic_values(
    critic: CentralCriticModule, global_states: np.ndarray, agent_id: str
) -> np.ndarray:
    """``[K]`` centralized-critic values of ``global_states`` ``[K, g]`` for ``agent_id``."""
    index = torch.full((len(global_states),), critic.agent_ids.index(agent_id), dtype=torch.int64)
    with torch.no_grad():
        out = critic.values(torch.as_tensor(np.asarray(global_states, np.float32)), index)
    return out.numpy().astype(np.float64)


class ConfidenceSampler:
    """Sample K joint actions, keep the most confident share (duplicates once)."""

    def __init__(self, config: ConfidenceConfig, *, seed: int = 0) -> None:
        self.config = config
        self._generator = torch.Generator().manual_seed(seed)

    def propose(
        self,
        modules: Mapping[str, RLModule],
        observations: Mapping[str, Mapping[str, np.ndarray]],
        *,
        value_fn: Callable[[Candidates], np.ndarray] | None = None,
        module_for: Callable[[str], str] = str,
    ) -> ConfidenceSelection:
        """Candidates drawn per agent from fixed ``observations``; ``value_fn(candidates) ->
        [K]`` supplies values when ``value_weight > 0``."""
        candidates = sample_candidates(
            modules,
            observations,
            self.config.num_candidates,
            generator=self._generator,
            module_for=module_for,
        )
        return self.select(candidates, value_fn=value_fn)

    def propose_joint(
        self,
        modules: Mapping[str, RLModule],
        observe: Observe,
        *,
        agent_order: Sequence[str] = TURN_ORDER,
        value_fn: Callable[[Candidates], np.ndarray] | None = None,
        module_for: Callable[[str], str] = str,
    ) -> ConfidenceSelection:
        """Candidates drawn in turn order, each agent seeing the choices before it
        (:func:`sample_joint_candidates`)."""
        candidates = sample_joint_candidates(
            modules,
            observe,
            self.config.num_candidates,
            generator=self._generator,
            agent_order=agent_order,
            module_for=module_for,
        )
        return self.select(candidates, value_fn=value_fn)

    def select(
        self,
        candidates: Candidates,
        *,
        value_fn: Callable[[Candidates], np.ndarray] | None = None,
    ) -> ConfidenceSelection:
        """Score ``candidates`` and keep the most confident distinct share."""
        values = value_fn(candidates) if value_fn is not None else None
        scores = confidence_scores(
            candidates.joint_logp, agreement_scores(candidates.actions), self.config, values
        )
        order = np.lexsort((np.arange(len(scores)), -scores))
        kept = distinct_first(candidates, order)[
            : len(select_top(scores, self.config.keep_fraction))
        ]
        return ConfidenceSelection(
            candidates=candidates,
            scores=scores,
            kept_indices=kept,
            evaluations_saved=candidates.num_candidates - len(kept),
        )
