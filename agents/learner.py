"""PPO learner whose advantages are standardized over the real timesteps only.

RLlib 2.60's PPO learner pipeline appends one artificial timestep to every episode chunk
(``AddOneTsToEpisodesAndTruncate``: the bootstrap observation, ``loss_mask`` False) and then
``GeneralAdvantageEstimation`` standardizes each module's advantages over *all* rows,
artificial ones included. The advantage of an artificial row is meaningless: GAE's recursion
treats it as a non-terminal step followed by the next episode's first row, so it holds
``gamma * V(next episode start) - V(bootstrap obs)`` plus that episode's discounted advantage.
The loss masks these rows out, but their mean and spread have already shifted and scaled the
real rows. In dcoc's turn-based envs they are many: ``hw`` acts once per episode, so half of
its rows are artificial, and a third of each software agent's rows on two-layer workloads.
Measured on the quickstart co-design env (centralized critic, iterations 1-2): real-row
advantages had mean +0.51 to +0.74 and standard deviation 0.54 to 0.75 instead of 0 and 1,
i.e. every sampled action was reinforced by a bias as large as the signal.

:class:`RealStepAdvantageStandardization` runs after GAE and re-standardizes each module's
advantages over the ``loss_mask`` rows. Standardization is affine, so this equals
standardizing the raw GAE advantages over the real rows; artificial rows are set to 0.
:class:`DcocPPOTorchLearner` also reports ``vf_explained_var`` over the real rows (RLlib's
figure includes the artificial rows, whose value targets are meaningless).
"""

from __future__ import annotations

from typing import Any

import torch
from ray.rllib.algorithms.ppo.ppo import LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.connectors.connector_v2 import ConnectorV2
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.torch_utils import explained_variance

MIN_ADVANTAGE_STD = 1e-4
"""Floor of the divisor (RLlib's GAE uses the same)."""


def standardize_real_steps(advantages: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """``advantages`` standardized over the rows where ``loss_mask`` is set; 0 elsewhere."""
    real = loss_mask.bool()
    if not bool(real.any()):
        return torch.zeros_like(advantages)
    values = advantages[real]
    std = values.std(unbiased=False) if values.numel() > 1 else torch.zeros((), dtype=values.dtype)
    scaled = (advantages - values.mean()) / torch.clamp(std, min=MIN_ADVANTAGE_STD)
    return torch.where(real, scaled, torch.zeros_like(scaled))


class RealStepAdvantageStandardization(ConnectorV2):
    """Learner connector piece: re-standardize ``advantages`` over ``loss_mask`` rows."""

    def __call__(
        self, *, rl_module: Any, batch: dict[str, Any], episodes: Any, **kwargs: Any
    ) -> Any:
        for module_batch in batch.values():
            needed = (Postprocessing.ADVANTAGES, Columns.LOSS_MASK)
            if not all(key in module_batch for key in needed):
                continue
            advantages = torch.as_tensor(module_batch[Postprocessing.ADVANTAGES])
            mask = torch.as_tensor(module_batch[Columns.LOSS_MASK], device=advantages.device)
            module_batch[Postprocessing.ADVANTAGES] = standardize_real_steps(advantages, mask)
        return batch


class DcocPPOTorchLearner(PPOTorchLearner):
    """RLlib's PPO torch learner plus :class:`RealStepAdvantageStandardization` after GAE."""

    def build(self) -> None:
        super().build()
        if (
            self._learner_connector is not None
            and self.config.add_default_connectors_to_learner_pipeline
        ):
            self._learner_connector.append(RealStepAdvantageStandardization())

    def compute_loss_for_module(
        self, *, module_id: str, config: Any, batch: dict[str, Any], fwd_out: dict[str, Any]
    ) -> torch.Tensor:
        loss = torch.as_tensor(
            super().compute_loss_for_module(
                module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
            )
        )
        if config.use_critic and Columns.LOSS_MASK in batch:
            real = batch[Columns.LOSS_MASK].bool()
            if int(real.sum()) > 1:
                with torch.no_grad():
                    module = self.module[module_id]
                    assert isinstance(module, ValueFunctionAPI)
                    values = module.compute_values(batch)
                    targets = batch[Postprocessing.VALUE_TARGETS]
                    ev = explained_variance(targets[real], values[real])
                self.metrics.log_value(
                    (module_id, LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY), ev, window=1
                )
        return loss
