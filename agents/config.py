"""PPO / MAPPO algorithm config for the three dcoc agents (RLlib 2.60 new API stack)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import gymnasium as gym
from dcoc.agents.actor_module import DEFAULT_HIDDEN_SIZES, MaskedActorModule
from dcoc.agents.callbacks import DcocMetricsCallback
from dcoc.agents.central_critic import CentralCriticModule, CentralCriticMultiRLModule
from dcoc.agents.contract import CRITIC_MODULE_ID, ObsKey
from dcoc.agents.env_adapter import DcocRLlibEnv, EnvFactory, make_rllib_env, rllib_env_config
from dcoc.agents.learner import DcocPPOTorchLearner
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

CriticKind = Literal["centralized", "independent"]


def map_agent_to_module(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    """Policy mapping: each agent is trained by the module named like the agent."""
    return str(agent_id)


def build_module_spec(
    observation_spaces: Mapping[str, gym.Space],
    action_spaces: Mapping[str, gym.Space],
    *,
    critic: CriticKind,
    hidden_sizes: Sequence[int] = DEFAULT_HIDDEN_SIZES,
    critic_hidden_sizes: Sequence[int] = DEFAULT_HIDDEN_SIZES,
) -> MultiRLModuleSpec:
    """One masked actor per agent, plus the learner-only shared critic when centralized."""
    if critic not in ("centralized", "independent"):
        raise ValueError(f"critic must be 'centralized' or 'independent', got {critic!r}")
    agent_ids = [str(a) for a in observation_spaces]
    specs: dict[str, RLModuleSpec] = {
        agent: RLModuleSpec(
            module_class=MaskedActorModule,
            observation_space=observation_spaces[agent],
            action_space=action_spaces[agent],
            model_config={
                "hidden_sizes": list(hidden_sizes),
                "value_head": critic == "independent",
            },
        )
        for agent in agent_ids
    }
    if critic == "independent":
        return MultiRLModuleSpec(rl_module_specs=specs)
    first = observation_spaces[agent_ids[0]]
    assert isinstance(first, gym.spaces.Dict)
    specs[CRITIC_MODULE_ID] = RLModuleSpec(
        module_class=CentralCriticModule,
        observation_space=first[ObsKey.GLOBAL_STATE.value],
        action_space=gym.spaces.Discrete(1),
        learner_only=True,
        model_config={"agent_ids": agent_ids, "hidden_sizes": list(critic_hidden_sizes)},
    )
    return MultiRLModuleSpec(
        multi_rl_module_class=CentralCriticMultiRLModule, rl_module_specs=specs
    )


MAX_ENV_RUNNER_RESTARTS = 100
"""Times any EnvRunner that dies (its process killed, its node lost) is started again."""
ENV_RUNNER_RESTART_DELAY_S = 1.0
"""Wait before starting a dead EnvRunner again (RLlib's default, 60 s, stalls a short run)."""


def build_algorithm_config(
    env_name_or_creator: str | EnvFactory,
    *,
    critic: CriticKind = "centralized",
    env_config: Mapping[str, Any] | None = None,
    lr: float = 3e-4,
    gamma: float = 0.99,
    lambda_: float = 0.95,
    train_batch_size: int = 1000,
    minibatch_size: int = 128,
    num_epochs: int = 4,
    entropy_coeff: float = 0.01,
    clip_param: float = 0.2,
    vf_loss_coeff: float = 0.5,
    vf_clip_param: float = math.inf,
    hidden_sizes: Sequence[int] = DEFAULT_HIDDEN_SIZES,
    num_env_runners: int = 0,
    num_envs_per_env_runner: int = 8,
    seed: int | None = 0,
    callbacks: type[RLlibCallback] | None = DcocMetricsCallback,
) -> PPOConfig:
    """PPO config: masked actors per agent and a centralized (MAPPO) or per-agent critic.

    ``env_name_or_creator`` is ``"package.module:factory"`` or a callable
    ``factory(env_config)`` returning a ``MultiAgentEnv`` or a dict-protocol env
    (``agents/README.md``). The env is built once here to read its spaces and check the
    contract. ``train_batch_size`` counts env steps per update (in a turn-based env one agent
    acts per env step). ``num_envs_per_env_runner`` envs are stepped together so that each
    policy forward pass serves a batch: on the turn env, 8 envs sample 600 steps in 0.8 s where
    1 env takes 2.5-5.8 s (RLlib's per-step overhead dominates small envs).

    ``vf_clip_param`` caps each sample's *squared* value error (RLlib's PPO clamps
    ``(V - target)^2`` at it, so a sample whose error exceeds ``sqrt(vf_clip_param)`` gives the
    critic no gradient). RLlib's default 10 silences every error above 3.2; on the co-design
    env returns reach -8 per invalid design and more summed over layers, so dcoc defaults to no
    clamp (``inf``).

    Fault tolerance is on: a remote EnvRunner that dies is replaced by a copy with the
    current weights and training goes on (:data:`MAX_ENV_RUNNER_RESTARTS`,
    :data:`ENV_RUNNER_RESTART_DELAY_S`); the episodes it was sampling are lost, the evaluations
    they made are in the records (the env commits each one).
    """
    env_config = dict(env_config or {})
    probe = make_rllib_env(env_name_or_creator, env_config)
    try:
        observation_spaces = {str(a): s for a, s in probe.observation_spaces.items()}
        action_spaces = {str(a): s for a, s in probe.action_spaces.items()}
    finally:
        probe.close()
    module_spec = build_module_spec(
        observation_spaces,
        action_spaces,
        critic=critic,
        hidden_sizes=hidden_sizes,
        critic_hidden_sizes=hidden_sizes,
    )
    config = (
        PPOConfig()
        .environment(env=DcocRLlibEnv, env_config=rllib_env_config(env_name_or_creator, env_config))
        .multi_agent(policies=set(observation_spaces), policy_mapping_fn=map_agent_to_module)
        .rl_module(rl_module_spec=module_spec)
        .training(
            lr=lr,
            gamma=gamma,
            lambda_=lambda_,
            train_batch_size_per_learner=train_batch_size,
            minibatch_size=minibatch_size,
            num_epochs=num_epochs,
            entropy_coeff=entropy_coeff,
            clip_param=clip_param,
            vf_loss_coeff=vf_loss_coeff,
            vf_clip_param=vf_clip_param,
        )
        .env_runners(
            num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs_per_env_runner
        )
        .learners(num_learners=0, learner_class=DcocPPOTorchLearner)
        .fault_tolerance(
            restart_failed_env_runners=True,
            max_num_env_runner_restarts=MAX_ENV_RUNNER_RESTARTS,
            delay_between_env_runner_restarts_s=ENV_RUNNER_RESTART_DELAY_S,
        )
        .debugging(seed=seed)
    )
    if callbacks is not None:
        config = config.callbacks(callbacks)
    return config
