"""Agent-steps per second of CoDesignEnv with uniformly random masked actions.

Run: ``python benchmarks/env_throughput.py [--seconds 20] [--space accel_specs/...]``.
Prints one line per workload: the one-off env construction time (space, masks, reference
search), agent-steps/s, episodes/s, the share of episodes whose hardware choice was over the
area budget (they end after one step) and the share of valid rounds (mappings) in the others.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from dcoc.envs import CoDesignEnv
from dcoc.envs.codesign_config import DEFAULT_SPACE

from dcoc.search.action_masks import sample_masked


def measure(workload: str, space: str, seconds: float, seed: int) -> dict[str, float]:
    start = time.perf_counter()
    env = CoDesignEnv({"design_space": space, "workload": workload, "seed": seed})
    build_s = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    steps = episodes = over_budget = rounds = invalid_rounds = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        obs, _ = env.reset(seed=seed + episodes)
        done, infos = False, {}
        while not done:
            ((agent, o),) = obs.items()
            action = sample_masked(o["action_mask"], env.action_spaces[agent].nvec, rng)
            obs, _, terminated, _, infos = env.step({agent: action})
            steps += 1
            done = terminated["__all__"]
        episodes += 1
        final = infos["hw"]["dcoc"]
        if "invalid_rounds" in final:
            rounds += env.num_layers * env.rounds
            invalid_rounds += int(final["invalid_rounds"])
        else:
            over_budget += 1
    elapsed = time.perf_counter() - start
    return {
        "layers": env.num_layers,
        "build_s": build_s,
        "steps_per_s": steps / elapsed,
        "episodes_per_s": episodes / elapsed,
        "steps": steps,
        "over_budget_share": over_budget / max(1, episodes),
        "valid_round_share": 1.0 - invalid_rounds / max(1, rounds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--space", default=DEFAULT_SPACE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workloads", nargs="+", default=["resnet18/C5", "resnet18.vta"])
    args = parser.parse_args()
    for workload in args.workloads:
        r = measure(workload, args.space, args.seconds, args.seed)
        print(
            f"{workload:14s} layers={r['layers']:2d} build={r['build_s']:.2f}s "
            f"agent-steps/s={r['steps_per_s']:.0f} episodes/s={r['episodes_per_s']:.1f} "
            f"steps={r['steps']} hw-over-budget={r['over_budget_share']:.2f} "
            f"valid-rounds={r['valid_round_share']:.2f}"
        )


if __name__ == "__main__":
    main()
