"""Gymnasium / PettingZoo environments of dcoc, installed as ``dcoc.envs``.

This package never imports ray: environments are plain Gymnasium code that RLlib (in
``dcoc.agents``) or any other RL library can drive.

* :class:`~dcoc.envs.codesign.CoDesignEnv`: the three-agent co-design env (dict protocol;
  factory ``dcoc.envs.codesign:make_codesign_env``). Not registered with Gymnasium, whose
  ``make`` wrappers expect a single-agent env.
* :class:`~dcoc.envs.codesign_refine.CoDesignRefineEnv`: the same three agents refining the
  incumbent design move by move, each choosing among ranked candidate moves (dict protocol;
  ``codesign.formulation: refine`` of an experiment config).
* :class:`dcoc.envs.codesign_aec.CoDesignAECEnv`: the same env under PettingZoo's turn-based
  AEC API (import it from its module; it needs ``pettingzoo``).
* Single-agent views, registered as ``dcoc/HardwareDesign-v0`` (:class:`HardwareEnv`),
  ``dcoc/Tiling-v0`` (:class:`TilingEnv`) and ``dcoc/LoopOrder-v0`` (:class:`OrderEnv`);
  ``gymnasium.make(id, config={...})`` takes a :class:`CoDesignEnvConfig` or its dict.
* :class:`~dcoc.envs.codesign_joint.CoDesignJointEnv`: one agent takes every decision (dict
  protocol, agent ``joint``; factory ``dcoc.envs.codesign_joint:make_joint_codesign_env``), and
  its single-agent view ``dcoc/CoDesignJoint-v0`` (:class:`CoDesignJointGymEnv`).
"""

import gymnasium
from dcoc.envs.codesign import CoDesign, CoDesignEnv, make_codesign_env
from dcoc.envs.codesign_config import CoDesignEnvConfig, Objective, RewardKind
from dcoc.envs.codesign_joint import CoDesignJointEnv, CoDesignJointGymEnv
from dcoc.envs.codesign_refine import CoDesignRefineEnv
from dcoc.envs.protocol import INFO_KEY, TURN_ORDER, AgentId, ObsKey
from dcoc.envs.single_agent import HardwareEnv, OrderEnv, TilingEnv

ENV_IDS = {
    "dcoc/HardwareDesign-v0": "dcoc.envs.single_agent:HardwareEnv",
    "dcoc/Tiling-v0": "dcoc.envs.single_agent:TilingEnv",
    "dcoc/LoopOrder-v0": "dcoc.envs.single_agent:OrderEnv",
}
for _env_id, _entry_point in ENV_IDS.items():
    if _env_id not in gymnasium.registry:
        gymnasium.register(id=_env_id, entry_point=_entry_point)

# The one-agent joint view of the co-design (takes no software_samples: nothing is fixed).
if "dcoc/CoDesignJoint-v0" not in gymnasium.registry:
    gymnasium.register(
        id="dcoc/CoDesignJoint-v0", entry_point="dcoc.envs.codesign_joint:CoDesignJointGymEnv"
    )

# The CPU-schedule tiling env (imports TVM when made, not here); measured latencies vary.
if "dcoc/CpuSchedule-v0" not in gymnasium.registry:
    gymnasium.register(
        id="dcoc/CpuSchedule-v0",
        entry_point="dcoc.envs.cpu_schedule_single:CpuTilingEnv",
        nondeterministic=True,
    )

__all__ = [
    "ENV_IDS",
    "INFO_KEY",
    "TURN_ORDER",
    "AgentId",
    "CoDesign",
    "CoDesignEnv",
    "CoDesignEnvConfig",
    "CoDesignJointEnv",
    "CoDesignJointGymEnv",
    "CoDesignRefineEnv",
    "HardwareEnv",
    "Objective",
    "ObsKey",
    "OrderEnv",
    "RewardKind",
    "TilingEnv",
    "make_codesign_env",
]
