"""RLlib glue of dcoc, installed as ``dcoc.agents``: RL modules (actors, centralized critic),
the algorithm config builder, callbacks and metrics. The only package that imports ray.

See ``agents/README.md`` for the contract an environment must meet.
"""

from dcoc.agents.actor_module import MaskedActorModule
from dcoc.agents.callbacks import DcocMetricsCallback
from dcoc.agents.central_critic import CentralCriticModule, CentralCriticMultiRLModule
from dcoc.agents.cluster import LocalHead, connect, start_local_head, submit_job
from dcoc.agents.confidence import ConfidenceConfig, ConfidenceSampler, ConfidenceSelection
from dcoc.agents.config import build_algorithm_config, build_module_spec, map_agent_to_module
from dcoc.agents.contract import (
    CRITIC_MODULE_ID,
    INFO_KEY,
    TURN_ORDER,
    AgentId,
    ObsKey,
    check_agent_spaces,
)
from dcoc.agents.env_adapter import DcocRLlibEnv, make_rllib_env

__all__ = [
    "CRITIC_MODULE_ID",
    "INFO_KEY",
    "TURN_ORDER",
    "AgentId",
    "CentralCriticModule",
    "CentralCriticMultiRLModule",
    "ConfidenceConfig",
    "ConfidenceSampler",
    "ConfidenceSelection",
    "DcocMetricsCallback",
    "DcocRLlibEnv",
    "LocalHead",
    "MaskedActorModule",
    "ObsKey",
    "build_algorithm_config",
    "build_module_spec",
    "check_agent_spaces",
    "connect",
    "make_rllib_env",
    "map_agent_to_module",
    "start_local_head",
    "submit_job",
]
