"""dcoc metrics logged through RLlib's MetricsLogger, so they land in ``algo.train()`` results
(under ``env_runners/dcoc/...``) and in TensorBoard.

Per finished episode, on the EnvRunner:

* ``dcoc/agent_return/<agent>``: the agent's episode return, mean over the same episodes as
  RLlib's ``episode_return_mean``;
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


def episode_window(env_runner: Any) -> int:
    """RLlib's smoothing window for episode metrics on one EnvRunner (so dcoc's per-agent
    means cover the same episodes as ``episode_return_mean``)."""
    config = getattr(env_runner, "config", None)
    if config is None:
        return EPISODE_WINDOW
    return max(
        1, math.ceil(config.metrics_num_episodes_for_smoothing / (config.num_env_runners or 1))
    )


class DcocMetricsCallback(RLlibCallback):
    """Logs per-agent returns, behaviour entropies and env ``info["dcoc"]`` metrics."""

    def on_episode_end(
        self,
        *,
        episode: Any,
        env_runner: Any = None,
        metrics_logger: MetricsLogger | None = None,
        prev_episode_chunks: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """``episode`` is the last chunk; ``prev_episode_chunks`` the earlier ones (an episode
        is cut into chunks when a ``sample()`` call ends in the middle of it)."""
        if metrics_logger is None:
            return
        window = episode_window(env_runner)
        chunks = [*(prev_episode_chunks or []), episode]
        returns: dict[str, float] = {}
        logits: dict[str, list[np.ndarray]] = {}
        spaces: dict[str, gym.Space] = {}
        env_metrics: dict[str, float] = {}
        for chunk in chunks:
            for agent_id, agent_episode in chunk.agent_episodes.items():
                agent = str(agent_id)
                returns[agent] = returns.get(agent, 0.0) + float(agent_episode.get_return())
                spaces[agent] = agent_episode.action_space
                chunk_logits = self._dist_inputs(agent_episode)
                if chunk_logits is not None:
                    logits.setdefault(agent, []).append(chunk_logits)
                env_metrics.update(last_dcoc_info(list(agent_episode.get_infos())))
        for agent, value in returns.items():
            metrics_logger.log_value(
                ("dcoc", "agent_return", agent), value, reduce="mean", window=window
            )
        for agent, blocks in logits.items():
            space = spaces[agent]
            if isinstance(space, gym.spaces.Discrete | gym.spaces.MultiDiscrete):
                entropy = categorical_entropy(np.concatenate(blocks), sub_action_sizes(space))
                metrics_logger.log_value(
                    ("dcoc", "behavior_entropy", agent),
                    float(entropy.mean()),
                    reduce="mean",
                    window=window,
                )
        for name, value in env_metrics.items():
            metrics_logger.log_value(("dcoc", "info", name), value, reduce="mean", window=window)
            if name.startswith("best_"):
                metrics_logger.log_value(("dcoc", "info", f"{name}_min"), value, reduce="min")

    @staticmethod
    def _dist_inputs(agent_episode: Any) -> np.ndarray | None:
        if len(agent_episode) == 0:
            return None
        try:
            logits = np.asarray(agent_episode.get_extra_model_outputs(Columns.ACTION_DIST_INPUTS))
        except KeyError:
            return None
        return logits if logits.ndim == 2 else None

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
