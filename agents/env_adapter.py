"""Turn a ray-free dcoc multi-agent env into an RLlib ``MultiAgentEnv``.

``dcoc.envs`` never imports ray, so its environments follow RLlib's multi-agent dict protocol
by duck typing (see ``agents/README.md``): attributes ``possible_agents``, ``agents``,
``observation_spaces``, ``action_spaces``; ``reset(*, seed, options) -> (obs, infos)`` and
``step(action_dict) -> (obs, rewards, terminateds, truncateds, infos)`` with ``"__all__"`` in
the done dicts. :class:`DcocRLlibEnv` is the thin ray-side wrapper (it also accepts envs that
already are RLlib ``MultiAgentEnv`` instances).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym
from dcoc.agents.contract import check_agent_spaces
from ray.rllib.env.multi_agent_env import MultiAgentEnv

EnvFactory = Callable[[Mapping[str, Any]], Any]
"""``factory(env_config) -> env`` (a MultiAgentEnv or a dict-protocol env)."""

_REQUIRED_ATTRIBUTES = ("possible_agents", "observation_spaces", "action_spaces", "reset", "step")


ENV_FACTORY_KEY = "dcoc_env_factory"
"""Key of ``env_config`` that holds the factory (``"module:callable"`` or a callable)."""


class DcocRLlibEnv(MultiAgentEnv):
    """RLlib view of a dcoc env; forwards reset/step unchanged.

    RLlib 2.60 accepts only an env class or a registered name as ``config.env``, so the
    factory travels inside ``env_config[ENV_FACTORY_KEY]`` and this class (importable on
    every worker) builds the env from it. The wrapped env is either a ``MultiAgentEnv`` or a
    dict-protocol env.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        if ENV_FACTORY_KEY not in config:
            raise ValueError(f"env_config lacks {ENV_FACTORY_KEY!r}: the env factory to build")
        env_config = {k: v for k, v in config.items() if k != ENV_FACTORY_KEY}
        env = resolve_factory(config[ENV_FACTORY_KEY])(env_config)
        missing = [name for name in _REQUIRED_ATTRIBUTES if not hasattr(env, name)]
        if missing:
            raise TypeError(f"{type(env).__name__} lacks the dict-protocol members {missing}")
        self.env = env
        self.possible_agents = list(env.possible_agents)
        self.agents = list(getattr(env, "agents", self.possible_agents))
        self.observation_spaces = dict(env.observation_spaces)
        self.action_spaces = dict(env.action_spaces)
        self.observation_space = gym.spaces.Dict(
            {str(a): s for a, s in self.observation_spaces.items()}
        )
        self.action_space = gym.spaces.Dict({str(a): s for a, s in self.action_spaces.items()})
        check_agent_spaces(self.observation_spaces, self.action_spaces)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[Any, Any], dict[Any, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(getattr(self.env, "agents", self.possible_agents))
        return obs, infos

    def step(  # type: ignore[override]
        self, action_dict: dict[Any, Any]
    ) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
        result = self.env.step(action_dict)
        self.agents = list(getattr(self.env, "agents", self.possible_agents))
        return result  # type: ignore[no-any-return]

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()


def resolve_factory(env: str | EnvFactory) -> EnvFactory:
    """``"package.module:callable"`` or a callable -> the callable ``factory(env_config)``."""
    if callable(env):
        return env
    module_name, sep, attr = env.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"env {env!r} must be 'package.module:callable' or a callable")
    target = getattr(importlib.import_module(module_name), attr)
    if not callable(target):
        raise ValueError(f"env {env!r} does not name a callable")
    return target  # type: ignore[no-any-return]


def rllib_env_config(env: str | EnvFactory, env_config: Mapping[str, Any]) -> dict[str, Any]:
    """``env_config`` for ``config.environment(DcocRLlibEnv, env_config=...)``."""
    return {**env_config, ENV_FACTORY_KEY: env}


def make_rllib_env(env: str | EnvFactory, env_config: Mapping[str, Any]) -> DcocRLlibEnv:
    """Build the env in this process, as RLlib's EnvRunners will."""
    return DcocRLlibEnv(rllib_env_config(env, env_config))
