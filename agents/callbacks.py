"""dcoc metrics logged through RLlib's MetricsLogger, so they land in ``algo.train()`` results
(under ``env_runners/dcoc/...``) and in TensorBoard.

Per finished episode, on the EnvRunner:

* ``dcoc/agent_return/<agent>``: the agent's episode return (mean over the last episodes);
* ``dcoc/behavior_entropy/<agent>``: mean entropy of the masked action distribution the agent
  sampled from (sum over sub-actions for MultiDiscrete), a direct view of how sure each
  policy still is;
* ``dcoc/info/<name>``: the last value the env reported as ``info[agent][INFO_KEY][name]``
  in the episode (e.g. ``best_edp``, ``energy_pj``, ``area_um2``), mean over episodes, and
  ``dcoc/info/<name>_min`` for names starting with ``best_`` (lower is better: EDP, energy).

Per training iteration the learner's policy entropy per module is copied to
``result["dcoc"]["policy_entropy"][module_id]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from dcoc.agents.contract import INFO_KEY, sub_action_sizes
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.columns import Columns
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

EPISODE_WINDOW = 100
"""Episode metrics are means over the most recent ``EPISODE_WINDOW`` episodes, like RLlib's."""


def categorical_entropy(logits: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Entropy per row of concatenated categorical logits.  # [T, sum(sizes)] -> [T]"""
    total = np.zeros(logits.shape[:-1], dtype=np.float64)
    start = 0
    for size in sizes:
        block = logits[..., start : start + size].astype(np.float64)
        start += size
        block = block - block.max(axis=-1, keepdims=True)
        log_p = block - np.log(np.exp(block).sum(axis=-1, keepdims=True))
        p = np.exp(log_p)
        total -= np.where(p > 0, p * log_p, 0.0).sum(axis=-1)
    return total


def last_dcoc_info(infos: list[Any]) -> dict[str, float]:
    """The last ``info[INFO_KEY]`` dict of one agent's episode, numeric entries only."""
    for info in reversed(infos):
        if isinstance(info, Mapping) and isinstance(info.get(INFO_KEY), Mapping):
            return {
                str(k): float(v)
                for k, v in info[INFO_KEY].items()
                if isinstance(v, int | float | np.number) and math.isfinite(float(v))
            }
    return {}


class DcocMetricsCallback(RLlibCallback):
    """Logs per-agent returns, behaviour entropies and env ``info["dcoc"]`` metrics."""

    def on_episode_end(
        self,
        *,
        episode: Any,
        metrics_logger: MetricsLogger | None = None,
        **kwargs: Any,
    ) -> None:
        if metrics_logger is None:
            return
        env_metrics: dict[str, float] = {}
        for agent_id, agent_episode in episode.agent_episodes.items():
            metrics_logger.log_value(
                ("dcoc", "agent_return", str(agent_id)),
                float(agent_episode.get_return()),
                reduce="mean",
                window=EPISODE_WINDOW,
            )
            entropy = self._behavior_entropy(agent_episode)
            if entropy is not None:
                metrics_logger.log_value(
                    ("dcoc", "behavior_entropy", str(agent_id)),
                    entropy,
                    reduce="mean",
                    window=EPISODE_WINDOW,
                )
            env_metrics.update(last_dcoc_info(list(agent_episode.get_infos())))
        for name, value in env_metrics.items():
            metrics_logger.log_value(
                ("dcoc", "info", name), value, reduce="mean", window=EPISODE_WINDOW
            )
            if name.startswith("best_"):
                metrics_logger.log_value(("dcoc", "info", f"{name}_min"), value, reduce="min")

    @staticmethod
    def _behavior_entropy(agent_episode: Any) -> float | None:
        if len(agent_episode) == 0:
            return None
        space = agent_episode.action_space
        if not isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
            return None
        try:
            logits = np.asarray(agent_episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS))
        except KeyError:
            return None
        if logits.ndim != 2:
            return None
        return float(categorical_entropy(logits, sub_action_sizes(space)).mean())

    def on_train_result(
        self,
        *,
        algorithm: Any,
        metrics_logger: MetricsLogger | None = None,
        result: dict[str, Any],
        **kwargs: Any,
    ) -> None:
        learners = result.get("learners", {})
        entropies = {
            str(module_id): float(stats["entropy"])
            for module_id, stats in learners.items()
            if isinstance(stats, Mapping) and "entropy" in stats
        }
        result.setdefault("dcoc", {})["policy_entropy"] = entropies
