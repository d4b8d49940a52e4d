"""Learner-only centralized critic V(global state, agent) shared by all actors (MAPPO-style).

RLlib 2.60 computes PPO values per module: the learner connector ``GeneralAdvantageEstimation``
calls ``module.compute_values(batch[module_id])`` on every submodule of the MultiRLModule
(``foreach_module``) and ``PPOTorchLearner.compute_loss_for_module`` calls
``self.module[module_id].compute_values(batch)`` for the value loss. It never asks the
MultiRLModule itself. :class:`CentralCriticMultiRLModule` therefore holds one learner-only
:class:`CentralCriticModule` (module id :data:`~dcoc.agents.contract.CRITIC_MODULE_ID`) and
attaches it to every :class:`~dcoc.agents.actor_module.MaskedActorModule` as its value source.
Each actor's value loss then trains the shared critic, whose parameters have their own optimizer
(the learner configures one per module) and appear once in the state dict. EnvRunners build the
MultiRLModule without learner-only modules, so the critic and the global state stay off the
sampling path's networks.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from dcoc.agents.actor_module import (
    DEFAULT_HIDDEN_SIZES,
    VALUE_OUT_GAIN,
    MaskedActorModule,
    build_mlp,
    model_config_dict,
)
from dcoc.agents.contract import CRITIC_MODULE_ID, ObsKey
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis.value_function_api import ValueFunctionAPI
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.torch.torch_rl_module import TorchRLModule

AGENT_INDEX = "agent_index"
"""Batch column of the critic's own ``compute_values``: index into ``model_config['agent_ids']``."""


class CentralCriticModule(TorchRLModule, ValueFunctionAPI):
    """V(global_state, one-hot agent) as one MLP; ``observation_space`` is the global-state Box.

    ``model_config`` keys: ``agent_ids`` (module ids in one-hot order, required),
    ``hidden_sizes`` (default ``[64, 64]``).
    """

    def setup(self) -> None:
        super().setup()
        config = model_config_dict(self.model_config)
        self.agent_ids: list[str] = [str(a) for a in config["agent_ids"]]
        hidden = tuple(config.get("hidden_sizes", DEFAULT_HIDDEN_SIZES))
        assert self.observation_space is not None and self.observation_space.shape is not None
        in_size = int(self.observation_space.shape[0]) + len(self.agent_ids)
        self._vf = build_mlp(in_size, hidden, 1, out_gain=VALUE_OUT_GAIN)

    def values(self, global_state: torch.Tensor, agent_index: torch.Tensor) -> torch.Tensor:
        """Values ``[B]`` for global states ``[B, g]`` and agent indices ``[B]`` (int64)."""
        one_hot = torch.nn.functional.one_hot(agent_index, len(self.agent_ids))
        return self._vf(torch.cat([global_state, one_hot.to(global_state.dtype)], -1)).squeeze(-1)

    def values_for_actor_batch(self, batch: dict[str, Any], *, agent_index: int) -> torch.Tensor:
        """Values for an actor's train batch (Dict observations with ``global_state``)."""
        global_state = batch[Columns.OBS][ObsKey.GLOBAL_STATE.value]
        index = torch.full(
            global_state.shape[:-1], agent_index, dtype=torch.int64, device=global_state.device
        )
        return self.values(global_state, index)

    def compute_values(self, batch: dict[str, Any], embeddings: Any | None = None) -> torch.Tensor:
        """``batch[OBS]``: global states ``[B, g]``; ``batch["agent_index"]``: ``[B]``."""
        return self.values(batch[Columns.OBS], batch[AGENT_INDEX].long())

    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {Columns.VF_PREDS: self.compute_values(batch)}


class CentralCriticMultiRLModule(MultiRLModule):
    """MultiRLModule whose actors take their values from the shared learner-only critic."""

    def setup(self) -> None:
        super().setup()
        critic = self._rl_modules.get(CRITIC_MODULE_ID)
        if critic is None:  # EnvRunner copy: learner-only modules are not built there.
            return
        assert isinstance(critic, CentralCriticModule)
        for module_id, module in self._rl_modules.items():
            if module_id == CRITIC_MODULE_ID:
                continue
            if not isinstance(module, MaskedActorModule):
                raise TypeError(f"module {module_id!r} must be a MaskedActorModule")
            if module_id not in critic.agent_ids:
                raise ValueError(
                    f"module {module_id!r} is not in the critic's agent_ids {critic.agent_ids}"
                )
            module.attach_value_source(
                functools.partial(
                    critic.values_for_actor_batch, agent_index=critic.agent_ids.index(module_id)
                )
            )

    @property
    def critic(self) -> CentralCriticModule | None:
        """The shared critic (``None`` on EnvRunners, where it is not built)."""
        critic = self._rl_modules.get(CRITIC_MODULE_ID)
        return critic if isinstance(critic, CentralCriticModule) else None
