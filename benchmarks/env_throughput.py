"""Agent-steps per second of CoDesignEnv with uniformly random masked actions.

Run: ``python benchmarks/env_throughput.py [--seconds 20] [--space accel_specs/...]``.
Prints one line per workload: agent-steps/s, episodes/s, the share of valid rounds and the
one-off env construction time (space, masks, reference search).
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
    steps = episodes = rounds = valid_rounds = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        obs, _ = env.reset(seed=seed + episodes)
        done = False
        while not done:
            ((agent, o),) = obs.items()
            action = sample_masked(o["action_mask"], env.action_spaces[agent].nvec, rng)
            obs, _, terminated, _, infos = env.step({agent: action})
            steps += 1
            done = terminated["__all__"]
            if agent == "sw_order":
                rounds += 1
                info = next(iter(infos.values()))["dcoc"] if infos else {}
                valid_rounds += int(info.get("valid", 0.0) == 1.0) if not done else 0
        episodes += 1
    elapsed = time.perf_counter() - start
    return {
        "layers": env.num_layers,
        "build_s": build_s,
        "steps_per_s": steps / elapsed,
        "episodes_per_s": episodes / elapsed,
        "steps": steps,
        "valid_round_share": valid_rounds / max(1, rounds),
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
            f"steps={r['steps']} valid-rounds(excl. last)={r['valid_round_share']:.2f}"
        )


if __name__ == "__main__":
    main()
