"""Job submitted by test_agents_cluster.py: attach to the cluster (RAY_ADDRESS, set by the job
supervisor), run one PPO iteration on the turn env with one remote EnvRunner, print a result
line."""

from __future__ import annotations

import json

from dcoc.agents.cluster import connect
from dcoc.agents.config import build_algorithm_config

RESULT_PREFIX = "DCOC_JOB_RESULT "


def main() -> None:
    mode = connect()
    config = build_algorithm_config(
        "turn_env:make_turn_env",
        critic="centralized",
        train_batch_size=300,
        minibatch_size=100,
        num_epochs=1,
        num_env_runners=1,
        seed=0,
    )
    algo = config.build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    summary = {
        "mode": mode,
        "episode_return_mean": float(result["env_runners"]["episode_return_mean"]),
        "num_env_steps_sampled": int(result["env_runners"]["num_env_steps_sampled"]),
        "modules": sorted(str(k) for k in result["learners"]),
    }
    print(RESULT_PREFIX + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
