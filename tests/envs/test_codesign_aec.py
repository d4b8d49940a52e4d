"""PettingZoo's own API test on the AEC view, and its masks against the dict-protocol env."""

from __future__ import annotations

import numpy as np
from dcoc.envs.codesign_aec import CoDesignAECEnv
from pettingzoo.test import api_test

CONFIG = {"workload": ("resnet18/C4", "resnet18/C7"), "reference_samples": 6}


def test_pettingzoo_api_test_passes() -> None:
    api_test(CoDesignAECEnv(CONFIG), num_cycles=30)


def test_masks_in_infos_match_the_dict_protocol_and_episodes_complete() -> None:
    env = CoDesignAECEnv(CONFIG)
    env.reset(seed=2)
    order, returns = [], dict.fromkeys(env.possible_agents, 0.0)
    for agent in env.agent_iter():
        _, reward, terminated, truncated, info = env.last()
        returns[agent] += reward
        if terminated or truncated:
            env.step(None)
            continue
        flat = env.codesign.action_mask(agent)
        assert (np.concatenate(info["action_mask"]) == flat).all()
        order.append(agent)
        env.step(env.action_space(agent).sample(info["action_mask"]))
    assert order[0] == "hw" and len(order) in (1, 1 + 2 * 2)
    assert len(set(returns.values())) == 1 or order == ["hw"]
