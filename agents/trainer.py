"""The Ray side of ``python -m dcoc.train``: start or attach to Ray, build / restore / train /
checkpoint the PPO Algorithm, and sample actions from its current policies for the
confidence-gated proposal phase.

Everything else of the main job (config, run directory, records, outputs) is ray-free and
lives in :mod:`dcoc.experiment`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import ray
import torch
from dcoc.agents.central_critic import CentralCriticModule
from dcoc.agents.cluster import RAY_ADDRESS_ENV, connect
from dcoc.agents.confidence import (
    Candidates,
    ConfidenceConfig,
    ConfidenceSampler,
    ConfidenceSelection,
    critic_values,
    sample_candidates,
)
from dcoc.agents.config import CriticKind, build_algorithm_config
from dcoc.agents.contract import CRITIC_MODULE_ID
from dcoc.envs.codesign_joint import JOINT_AGENT, JointSpace
from ray.rllib.algorithms.algorithm import Algorithm
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS

logger = logging.getLogger(__name__)

WORKER_ENV_VARS = {"OMP_NUM_THREADS": "1"}
"""Set for the driver and every Ray worker: one BLAS/OpenMP thread per process."""


def start_ray(
    address: str | None = None, *, num_cpus: int | None = None, temp_dir: str | Path | None = None
) -> Literal["attached", "embedded"]:
    """Attach to ``address`` / ``$RAY_ADDRESS`` or start an embedded Ray (no dashboard,
    session files under ``temp_dir``). Workers of an embedded Ray inherit ``OMP_NUM_THREADS=1``
    from this process; on a cluster pass it in the job's runtime env."""
    for key, value in WORKER_ENV_VARS.items():
        os.environ.setdefault(key, value)
    if address is None and not os.environ.get(RAY_ADDRESS_ENV) and temp_dir is not None:
        Path(temp_dir).mkdir(parents=True, exist_ok=True)
    return connect(address, num_cpus=num_cpus, temp_dir=temp_dir)


def stop_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()


@dataclass(frozen=True)
class TrainerSettings:
    """What the PPO Algorithm is built from (see :func:`dcoc.agents.build_algorithm_config`)."""

    env_factory: str
    """``"package.module:factory"`` building the dict-protocol env from ``env_config``."""
    env_config: Mapping[str, Any] = field(default_factory=dict)
    critic: CriticKind = "centralized"
    lr: float = 3e-4
    gamma: float = 0.99
    lambda_: float = 0.95
    train_batch_size: int = 1000
    minibatch_size: int = 128
    num_epochs: int = 4
    entropy_coeff: float = 0.01
    clip_param: float = 0.2
    vf_loss_coeff: float = 0.5
    hidden_sizes: tuple[int, ...] = (128, 128)
    num_env_runners: int = 0
    num_envs_per_env_runner: int = 1
    seed: int = 0


class PolicyTrainer:
    """An RLlib PPO Algorithm with the few verbs the main job needs."""

    def __init__(self, algo: Algorithm) -> None:
        self.algo = algo

    @classmethod
    def build(cls, settings: TrainerSettings) -> PolicyTrainer:
        config = build_algorithm_config(
            settings.env_factory,
            critic=settings.critic,
            env_config=settings.env_config,
            lr=settings.lr,
            gamma=settings.gamma,
            lambda_=settings.lambda_,
            train_batch_size=settings.train_batch_size,
            minibatch_size=settings.minibatch_size,
            num_epochs=settings.num_epochs,
            entropy_coeff=settings.entropy_coeff,
            clip_param=settings.clip_param,
            vf_loss_coeff=settings.vf_loss_coeff,
            hidden_sizes=settings.hidden_sizes,
            num_env_runners=settings.num_env_runners,
            num_envs_per_env_runner=settings.num_envs_per_env_runner,
            seed=settings.seed,
        )
        return cls(_quiet_logdir(config.build_algo()))

    @classmethod
    def restore(cls, checkpoint: str | Path) -> PolicyTrainer:
        """The Algorithm saved by :meth:`save` (weights, optimizer state, config)."""
        return cls(_quiet_logdir(Algorithm.from_checkpoint(str(Path(checkpoint).resolve()))))

    def train(self) -> dict[str, Any]:
        """One training iteration; RLlib's result dict."""
        return dict(self.algo.train())

    def act(self) -> dict[str, Any]:
        """One iteration without learning: the EnvRunners sample a train batch with the
        current policies (exploring, as in training) and nothing is updated; a result dict
        with the same ``env_runners`` metrics as :meth:`train`'s."""
        algo = self.algo
        config = algo.config
        assert config is not None and algo.env_runner_group is not None
        algo.restore_env_runners(algo.env_runner_group)  # as train() does: replace the dead
        steps = config.total_train_batch_size
        by_agent = config.count_steps_by == "agent_steps"
        sampled: Any = synchronous_parallel_sample(
            worker_set=algo.env_runner_group,
            max_agent_steps=steps if by_agent else None,
            max_env_steps=None if by_agent else steps,
            sample_timeout_s=config.sample_timeout_s,
            _uses_new_env_runners=True,
            _return_metrics=True,
        )
        _, metrics = sampled
        logger_ = algo.metrics
        assert logger_ is not None
        logger_.aggregate(list(metrics), key=ENV_RUNNER_RESULTS)
        return dict(logger_.compile())

    def load_modules(self, checkpoint: str | Path, component: str) -> None:
        """Replace every module's weights (policies, critic) by those of ``checkpoint`` (an
        Algorithm checkpoint; ``component`` is where it keeps the modules) and send them to
        the EnvRunners. The optimizer state and counters stay this Algorithm's own.
        ``ValueError`` if the checkpoint's modules have other shapes (another design space,
        candidate count, critic kind or network size)."""
        path = Path(checkpoint).resolve() / component
        try:
            self.algo.restore_from_path(str(path), component=component)
        except (RuntimeError, KeyError) as error:  # torch's size mismatch, a missing module
            first = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            raise ValueError(
                f"{checkpoint}: its modules do not fit this run's agents ({first}); start "
                "from a checkpoint with the same design space, refine_candidates, critic and "
                "hidden_sizes"
            ) from None

    def save(self, path: str | Path) -> Path:
        target = Path(path).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        self.algo.save_to_path(str(target))
        return target

    def modules(self, agent_ids: Sequence[str]) -> dict[str, RLModule]:
        """The current inference module of each agent (the local EnvRunner's copy)."""
        out: dict[str, RLModule] = {}
        for agent in agent_ids:
            module = self.algo.get_module(agent)
            if module is None:
                raise KeyError(f"the algorithm has no module {agent!r}")
            out[agent] = module
        return out

    def critic(self) -> CentralCriticModule | None:
        """A copy of the learner's centralized critic with its current weights (``None`` for
        independent critics)."""
        config, learners = self.algo.config, self.algo.learner_group
        assert config is not None and learners is not None
        specs = getattr(config.rl_module_spec, "rl_module_specs", {})
        if CRITIC_MODULE_ID not in specs:
            return None
        module = specs[CRITIC_MODULE_ID].build()
        weights = learners.get_weights(module_ids=[CRITIC_MODULE_ID])
        module.set_state(weights[CRITIC_MODULE_ID])
        assert isinstance(module, CentralCriticModule)
        return module

    def stop(self) -> None:
        self.algo.stop()


def _quiet_logdir(algo: Algorithm) -> Algorithm:
    """RLlib makes an (unused, empty) ``~/ray_results/<date>`` directory per Algorithm; the
    run directory is dcoc's, so remove it when it is still empty."""
    logdir = getattr(algo, "logdir", None)
    if logdir:
        with contextlib.suppress(OSError):
            Path(logdir).rmdir()
    return algo


class PolicySampler:
    """Samples actions from the algorithm's current policies (masked, as the EnvRunners do).

    :meth:`propose` draws K candidates for one agent and keeps the most confident share
    (:class:`dcoc.agents.ConfidenceSampler`); :meth:`sample` draws one action.

    With ``joint`` (single-policy PPO on :class:`dcoc.envs.codesign_joint.CoDesignJointEnv`)
    the one module ``joint`` takes every role's decision: a role's observation is encoded as
    the joint view presents it and the role's sub-actions are cut from the joint action. The
    other roles' sub-actions are masked to index 0, so log-probabilities, entropies, agreement
    and distinctness are those of the role's action alone.
    """

    def __init__(
        self,
        trainer: PolicyTrainer | Callable[[], Mapping[str, RLModule]],
        agent_ids: Sequence[str],
        config: ConfidenceConfig,
        seed: int,
        *,
        critic: Callable[[], CentralCriticModule | None] | None = None,
        joint: JointSpace | None = None,
    ) -> None:
        """``trainer``: a :class:`PolicyTrainer` or a function returning the modules by agent;
        ``critic``: a function returning the centralized critic (default: the trainer's, when
        the config weighs values); ``joint``: the roles' joint space when one module
        (:data:`JOINT_AGENT`) acts for all of them."""
        self.joint = joint
        self._critic_source: Callable[[], CentralCriticModule | None] = critic or (lambda: None)
        if isinstance(trainer, PolicyTrainer):
            policy_trainer = trainer
            self._source: Callable[[], Mapping[str, RLModule]] = lambda: policy_trainer.modules(
                self.agent_ids
            )
            if config.value_weight > 0 and critic is None:
                self._critic_source = policy_trainer.critic
        else:
            self._source = trainer
        self._critic: CentralCriticModule | None = None
        self.agent_ids = list(agent_ids)
        self.sampler = ConfidenceSampler(config, seed=seed)
        self.generator = torch.Generator().manual_seed(seed + 1)
        self._modules: dict[str, RLModule] = {}

    def refresh(self) -> None:
        """Pick up the weights of the latest training iteration."""
        self._modules = dict(self._source())
        self._critic = self._critic_source()

    def propose(
        self,
        agent: str,
        observation: Mapping[str, np.ndarray],
        *,
        global_states: Callable[[Candidates], np.ndarray] | None = None,
    ) -> ConfidenceSelection:
        """K candidates of ``agent``, the confident share kept. ``global_states(candidates) ->
        [K, g]``: the state each candidate leads to, scored by the centralized critic when the
        config's ``value_weight > 0``."""
        module, observation = self._policy(agent, observation)
        value_fn = None
        if self.sampler.config.value_weight > 0:
            critic = self._critic
            if critic is None or global_states is None:
                raise ValueError("value_weight > 0 needs the centralized critic and global states")
            value_fn = lambda c: critic_values(critic, global_states(c), agent)  # noqa: E731
        selection = self.sampler.propose({agent: module}, {agent: observation}, value_fn=value_fn)
        if self.joint is None:
            return selection
        actions = {agent: self.joint.role_action(agent, selection.candidates.actions[agent])}
        candidates = dataclasses.replace(selection.candidates, actions=actions)
        return dataclasses.replace(selection, candidates=candidates)

    def sample(self, agent: str, observation: Mapping[str, np.ndarray]) -> np.ndarray:
        module, observation = self._policy(agent, observation)
        candidates = sample_candidates(
            {agent: module}, {agent: observation}, 1, generator=self.generator
        )
        action = np.asarray(candidates.actions[agent][0])
        return action if self.joint is None else self.joint.role_action(agent, action)

    def _policy(
        self, agent: str, observation: Mapping[str, np.ndarray]
    ) -> tuple[RLModule, Mapping[str, np.ndarray]]:
        """The module that decides for ``agent`` and the observation it reads."""
        if not self._modules:
            self.refresh()
        if self.joint is None:
            return self._modules[agent], observation
        return self._modules[JOINT_AGENT], self.joint.observation(agent, observation)
