"""TensorBoard scalars of one training iteration, namespaced like CleanRL's.

* ``charts/``: ``episode_return_mean``, ``env_steps``, ``evaluations``, ``best_edp``,
  ``best_latency_s`` (cycles / clock when known, else measured seconds), ``best_energy_pj``,
  ``best_area_um2``, ``best_objective``, ``iteration_s``;
* ``agents/<id>/``: ``return``, ``entropy`` (learner's policy entropy), ``behavior_entropy``;
* ``losses/<id>/``: ``policy_loss``, ``value_loss``, ``kl``, ``total_loss``,
  ``vf_explained_var`` (the centralized critic's value loss under ``losses/central_critic``);
* ``hw/<knob>``: the best design's hardware configuration;
* ``env/<name>``: the env's ``info["dcoc"]`` means;
* ``confidence/``: ``acceptance``, ``evaluations_saved`` (cumulative), ``evaluations``,
  ``quality_gap`` (log best-kept / best-of-all-K, when measured).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

LOSS_KEYS = {
    "policy_loss": "policy_loss",
    "vf_loss": "value_loss",
    "mean_kl_loss": "kl",
    "total_loss": "total_loss",
    "vf_explained_var": "vf_explained_var",
}


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def rllib_scalars(result: Mapping[str, Any]) -> dict[str, float]:
    """The learning-curve scalars of one RLlib result dict."""
    out: dict[str, float] = {}
    runners = result.get("env_runners", {}) or {}

    def put(tag: str, value: Any) -> None:
        v = _finite(value)
        if v is not None:
            out[tag] = v

    put("charts/episode_return_mean", runners.get("episode_return_mean"))
    put("charts/episode_len_mean", runners.get("episode_len_mean"))
    put("charts/env_steps", runners.get("num_env_steps_sampled_lifetime"))
    dcoc = runners.get("dcoc", {}) or {}
    for agent, value in (dcoc.get("agent_return", {}) or {}).items():
        put(f"agents/{agent}/return", value)
    for agent, value in (dcoc.get("behavior_entropy", {}) or {}).items():
        put(f"agents/{agent}/behavior_entropy", value)
    for name, value in (dcoc.get("info", {}) or {}).items():
        put(f"env/{name}", value)
    for module, stats in (result.get("learners", {}) or {}).items():
        if not isinstance(stats, Mapping) or module == "__all_modules__":
            continue
        put(f"agents/{module}/entropy", stats.get("entropy"))
        for key, name in LOSS_KEYS.items():
            put(f"losses/{module}/{name}", stats.get(key))
    return out


def progress_line(
    iteration: int,
    env_steps: int,
    mean_return: float | None,
    best: tuple[str, float] | None,
    evaluations: int,
    elapsed_s: float,
) -> str:
    """One line per iteration for stderr."""
    ret = f"{mean_return:.3f}" if mean_return is not None else "n/a"
    best_text = f"{best[0]} {best[1]:.4g}" if best is not None else "none yet"
    return (
        f"iter {iteration:4d} | env steps {env_steps:7d} | return {ret:>8} | best {best_text} "
        f"| evals {evaluations} | {elapsed_s:.1f} s"
    )
