"""The confidence-gated proposal phase that follows every training iteration (co-design mode).

What is gated: the hardware agent draws K hardware configurations from its current policy at
the episode's first observation; :class:`dcoc.agents.ConfidenceSampler` scores them (joint
log-probability, agreement, optionally the centralized critic's value of the state
each configuration leads to) and keeps the most confident
``keep_fraction`` (duplicates once). Each kept configuration is *evaluated*: the software
agents map every layer on it with their current policies (one sampled tile + order action per
layer and round), each layer mapping scored by the accelerator model and recorded (method
``confidence``). A skipped configuration costs nothing; ``evaluations_saved`` counts the layer
evaluations its mapping would have needed.

What is not gated: PPO's own rollouts (every action the EnvRunners sample is evaluated, since
the reward needs it). The filter cuts the cost of the exploitation/proposal step, not of
training.

Quality: with ``measure_skipped`` the skipped configurations are evaluated anyway, outside the
budget and recorded as ``confidence_skipped`` (they never become the run's best), so the phase
reports the best objective among the kept candidates and among all K.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dcoc.experiment.recorded_env import RecordedCoDesignEnv

KEPT_METHOD = "confidence"
SKIPPED_METHOD = "confidence_skipped"


class PolicySamplerLike(Protocol):
    """What :class:`dcoc.agents.trainer.PolicySampler` offers (kept abstract: no ray here)."""

    def propose(
        self,
        agent: str,
        observation: Mapping[str, np.ndarray],
        *,
        global_states: Callable[[Any], np.ndarray] | None = None,
    ) -> Any: ...

    def sample(self, agent: str, observation: Mapping[str, np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class DesignOutcome:
    hw_action: tuple[int, ...]
    objective: float
    """Network objective of the design (``inf`` if invalid or incomplete)."""
    evaluations: int


@dataclass(frozen=True)
class ConfidenceRound:
    """One proposal phase."""

    drawn: int
    """K, hardware candidates drawn."""
    kept: int
    """Candidates evaluated within the budget."""
    evaluations: int
    """Layer evaluations spent on the kept candidates."""
    evaluations_saved: int
    """Layer evaluations the skipped candidates cost (measured when ``measure_skipped``,
    otherwise layers x rounds each, an upper bound: an over-budget design stops early)."""
    best_kept: float
    best_all: float | None
    """Best objective over all K (``None`` unless ``measure_skipped``)."""

    @property
    def acceptance(self) -> float:
        return self.kept / self.drawn if self.drawn else 0.0

    @property
    def quality_gap(self) -> float | None:
        """``log(best_kept / best_all) >= 0``: what the filter cost (0: nothing)."""
        if self.best_all is None or not math.isfinite(self.best_all):
            return None
        if not math.isfinite(self.best_kept):
            return math.inf
        return math.log(self.best_kept / self.best_all)


def rollout_design(
    env: RecordedCoDesignEnv, hw_action: np.ndarray, sampler: PolicySamplerLike, seed: int
) -> DesignOutcome:
    """Map every layer on the hardware ``hw_action`` with the software policies."""
    calls = env.evaluator.calls
    obs, _ = env.reset(seed=seed)
    action: dict[str, Any] = {"hw": np.asarray(hw_action)}
    while True:
        obs, _, terminated, _, _ = env.step(action)
        agent = env.unwrapped.current_agent
        if terminated["__all__"] or agent is None:
            break
        action = {agent: sampler.sample(agent, obs[agent])}
    design = env.unwrapped.episode_design
    value = design.objective if design is not None and design.valid else math.inf
    return DesignOutcome(
        tuple(int(a) for a in np.asarray(hw_action).reshape(-1)),
        float(value),
        env.evaluator.calls - calls,
    )


def states_after_hw(env: RecordedCoDesignEnv, hw_action: np.ndarray, seed: int) -> np.ndarray:
    """The global state after the hardware choice ``hw_action`` (no evaluation happens)."""
    env.reset(seed=seed)
    obs, *_ = env.step({"hw": np.asarray(hw_action)})
    return np.asarray(next(iter(obs.values()))["global_state"], dtype=np.float32)


def confidence_round(
    env: RecordedCoDesignEnv,
    sampler: PolicySamplerLike,
    *,
    enabled: bool,
    measure_skipped: bool,
    seed: int,
    seed_hw: Sequence[int] | None = None,
) -> ConfidenceRound:
    """Draw K hardware candidates, evaluate the confident share (all K when not ``enabled``).
    ``seed_hw``: a known-good hardware configuration (the seeding tree search's best,
    :mod:`dcoc.experiment.seeding`) evaluated with the kept ones every round, unless the
    policy drew it among them: the software policies map every layer on it as on theirs."""
    obs, _ = env.reset(seed=seed)

    def global_states(candidates: Any) -> np.ndarray:  # [K, g]
        states = [
            states_after_hw(env, candidates.joint_action(i)["hw"], seed)
            for i in range(candidates.num_candidates)
        ]
        return np.stack(states)

    selection = sampler.propose("hw", obs["hw"], global_states=global_states)
    candidates = selection.candidates
    drawn = int(candidates.num_candidates)
    kept_indices: Sequence[int] = (
        [int(i) for i in selection.kept_indices] if enabled else list(range(drawn))
    )
    skipped = [i for i in range(drawn) if i not in set(kept_indices)]
    env.method = KEPT_METHOD
    kept = [
        rollout_design(env, candidates.joint_action(i)["hw"], sampler, seed + n)
        for n, i in enumerate(kept_indices)
    ]
    if seed_hw is not None and tuple(seed_hw) not in {o.hw_action for o in kept}:
        kept.append(rollout_design(env, np.asarray(seed_hw), sampler, seed + len(kept)))
    per_design = len(env.unwrapped.space.layers) * env.unwrapped.rounds
    best_kept = min((o.objective for o in kept), default=math.inf)
    best_all: float | None = None
    saved = len(skipped) * per_design
    if measure_skipped and skipped:
        env.method = SKIPPED_METHOD
        others = [
            rollout_design(env, candidates.joint_action(i)["hw"], sampler, seed + drawn + n)
            for n, i in enumerate(skipped)
        ]
        env.method = KEPT_METHOD
        best_all = min(best_kept, *(o.objective for o in others))
        saved = sum(o.evaluations for o in others)
    elif measure_skipped:
        best_all = best_kept
    return ConfidenceRound(
        drawn=drawn,
        kept=len(kept),
        evaluations=sum(o.evaluations for o in kept),
        evaluations_saved=saved,
        best_kept=best_kept,
        best_all=best_all,
    )
