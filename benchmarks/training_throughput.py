"""Throughput of the main job's pieces on the quickstart workload (or another one).

Run:  OMP_NUM_THREADS=1 python benchmarks/training_throughput.py [--iterations 4]
      [--workload resnet18/C5,resnet18/C8] [--batch 600]

Prints:

* env agent-steps/s of the co-design env with masked random actions, bare
  (``CoDesignEnv``) and with every evaluation written to a records database
  (``RecordedCoDesignEnv``, what training uses);
* seconds per training iteration (PPO sampling + update of ``--batch`` agent steps, embedded
  Ray, sampling in the driver) and the proposal phase's seconds (16 hardware candidates, the
  confident quarter mapped by the software policies);
* wall and process CPU time, and the machine's load average (other jobs share the cores).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from dcoc.agents.confidence import ConfidenceConfig
from dcoc.agents.trainer import PolicySampler, PolicyTrainer, start_ray, stop_ray
from dcoc.envs.codesign import CoDesignEnv

from dcoc.experiment import load_config
from dcoc.experiment.environment import plan_env
from dcoc.experiment.proposals import confidence_round
from dcoc.experiment.recorded_env import RECORDS_METHOD_KEY, make_recorded_codesign_env
from dcoc.experiment.runner import trainer_settings
from dcoc.search.action_masks import sample_masked

ROOT = Path(__file__).resolve().parents[1]


def env_steps_per_s(env: object, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    n = 0
    start = time.perf_counter()
    while n < steps:
        obs, _ = env.reset(seed=int(rng.integers(1 << 30)))  # type: ignore[attr-defined]
        while True:
            inner = getattr(env, "unwrapped", env)
            agent = inner.current_agent
            nvec = tuple(inner.action_spaces[agent].nvec)
            action = sample_masked(obs[agent]["action_mask"], nvec, rng)
            obs, _, term, _, _ = env.step({agent: action})  # type: ignore[attr-defined]
            n += 1
            if term["__all__"]:
                break
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workload", default="resnet18/C5,resnet18/C8")
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument("--batch", type=int, default=600)
    p.add_argument("--env-steps", type=int, default=2000)
    args = p.parse_args()
    print(f"load average: {os.getloadavg()}")
    tmp = Path(tempfile.mkdtemp(prefix="dcoc-bench-throughput-"))
    try:
        config = load_config(
            ROOT / "experiments" / "quickstart.yaml",
            [f"env.workload={args.workload}", f"agents.train_batch_size={args.batch}"],
        )
        plan = plan_env(config, tmp / "records.sqlite", "quickstart.yaml")
        bare_config = {
            k: v
            for k, v in plan.env_config.items()
            if k not in ("records_path", RECORDS_METHOD_KEY)
        }
        bare = CoDesignEnv(bare_config)
        print(f"env (bare CoDesignEnv): {env_steps_per_s(bare, args.env_steps):.0f} agent-steps/s")
        recorded = make_recorded_codesign_env(plan.env_config)
        rate = env_steps_per_s(recorded, args.env_steps)
        print(f"env (recorded, SQLite per evaluation): {rate:.0f} agent-steps/s")
        start_ray(num_cpus=2, temp_dir=tmp / "ray")
        trainer = PolicyTrainer.build(trainer_settings(config, plan))
        sampler = PolicySampler(
            trainer, plan.agent_ids, ConfidenceConfig(num_candidates=16, keep_fraction=0.25), 0
        )
        try:
            for i in range(args.iterations):
                wall, cpu = time.perf_counter(), time.process_time()
                result = trainer.train()
                train_s = time.perf_counter() - wall
                tick = time.perf_counter()
                sampler.refresh()
                rnd = confidence_round(
                    recorded, sampler, enabled=True, measure_skipped=False, seed=i
                )
                proposal_s = time.perf_counter() - tick
                steps = result["env_runners"].get("num_agent_steps_sampled", {})
                total = sum(float(v) for v in steps.values()) if isinstance(steps, dict) else 0
                print(
                    f"iteration {i + 1}: train {train_s:.2f} s wall ({total:.0f} agent steps), "
                    f"proposal phase {proposal_s:.2f} s ({rnd.kept} of {rnd.drawn} evaluated, "
                    f"{rnd.evaluations} evaluations), process CPU "
                    f"{time.process_time() - cpu:.2f} s"
                )
        finally:
            trainer.stop()
            recorded.close()
            stop_ray()
        print(f"load average: {os.getloadavg()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
