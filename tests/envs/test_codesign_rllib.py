"""One PPO iteration of the three agents (centralized critic) on the co-design env through
dcoc.agents: the env meets RLlib's expectations end to end (slow)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import numpy as np
import pytest
import ray
from dcoc.agents.config import build_algorithm_config

pytestmark = pytest.mark.slow

ENV_CONFIG = {"workload": ("resnet18/C4", "resnet18/C7"), "reference_samples": 6}


@pytest.fixture(scope="module")
def ray_session() -> Iterator[None]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _temp_dir=f"/tmp/dcoc-ray-envs-{os.getpid()}",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


def test_ppo_iterations_on_the_codesign_env(ray_session: None) -> None:
    config = build_algorithm_config(
        "dcoc.envs.codesign:make_codesign_env",
        env_config=ENV_CONFIG,
        train_batch_size=250,
        minibatch_size=125,
        num_epochs=2,
        seed=0,
    )
    algo = config.build_algo()
    try:
        results = [algo.train() for _ in range(2)]
    finally:
        algo.stop()
    result = results[-1]
    runners = result["env_runners"]
    assert runners["num_episodes"] > 0 or results[0]["env_runners"]["num_episodes"] > 0
    assert math.isfinite(runners["episode_return_mean"])
    info = runners["dcoc"]["info"]
    assert {"area_um2", "valid"} <= set(info)
    for agent in ("hw", "sw_tile", "sw_order"):
        assert np.isfinite(result["learners"][agent]["policy_loss"])
