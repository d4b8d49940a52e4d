"""Co-design quality at an equal budget of model evaluations: the trained agents (MAPPO:
centralized critic; IPPO: independent critics) against random search over the same space.

Run:  OMP_NUM_THREADS=1 python benchmarks/codesign_quality.py [--budget 8000] [--seeds 0]
      [--methods mappo,ippo,random] [--config experiments/resnet18_eyeriss.yaml]

Default problem: ResNet-18 C2-C11 (resnet18.vta) on the eyeriss_like space, network EDP.
An *evaluation* is one layer mapping scored by the accelerator model. The RL runs stop at the
first iteration whose counted evaluations (PPO rollouts + the confidence-gated proposals)
reach ``--budget``; random search then gets exactly as many evaluations as the RL run used
(per seed, the largest). Random search samples a hardware configuration uniformly among the
masked (area-feasible) knob values and one masked random mapping per layer, through the same
recorded env, so every method's best design is read from its records the same way (per
hardware configuration the best mapping of each layer). The reward's reference design
(``reference_samples`` random mappings per layer on the template) is not counted for anyone.

Prints one row per method and seed (best EDP, evaluations, wall time) and the best EDP of
each method relative to random search's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from dcoc.experiment import load_config
from dcoc.experiment.best_design import CoDesignBestTracker
from dcoc.experiment.environment import plan_env
from dcoc.experiment.recorded_env import RECORDS_METHOD_KEY, make_recorded_codesign_env
from dcoc.search.action_masks import sample_masked

ROOT = Path(__file__).resolve().parents[1]


def random_search(config_path: Path, budget: int, seed: int, run_dir: Path) -> dict[str, float]:
    config = load_config(config_path, [f"experiment.seed={seed}"])
    run_dir.mkdir(parents=True, exist_ok=True)
    plan = plan_env(config, run_dir / "records.sqlite", str(config_path))
    env = make_recorded_codesign_env({**plan.env_config, RECORDS_METHOD_KEY: "random"})
    tracker = CoDesignBestTracker(
        run_dir / "records.sqlite",
        plan.layer_keys,
        plan.counts,
        objective=config.env.objective.value,
        energy_budget_pj=config.codesign.energy_budget_pj,
        counted_methods=("random",),
    )
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    evaluations = 0
    while evaluations < budget:
        obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
        while True:
            agent = env.unwrapped.current_agent
            nvec = tuple(env.action_spaces[agent].nvec)
            before = env.evaluator.calls
            obs, _, term, _, _ = env.step(
                {agent: sample_masked(obs[agent]["action_mask"], nvec, rng)}
            )
            evaluations += env.evaluator.calls - before
            if term["__all__"] or evaluations >= budget:
                break
    env.close()
    best = tracker.update()
    return {
        "best_edp": best.edp if best else float("inf"),
        "best_objective": best.objective if best else float("inf"),
        "evaluations": tracker.evaluations,
        "wall_s": time.perf_counter() - start,
    }


def rl_run(
    config_path: Path, critic: str, budget: int, seed: int, run_dir: Path, extra: list[str]
) -> dict[str, float]:
    from dcoc.experiment.runner import RunRequest, run  # imports ray and torch

    overrides = [
        f"experiment.seed={seed}",
        f"agents.critic={critic}",
        f"train.max_evaluations={budget}",
        "train.iterations=100000",
        "train.checkpoint_every=100000",
        f"ray.temp_dir=/tmp/dcoc-ray-bench-quality-{os.getpid()}",
        *extra,
    ]
    config = load_config(config_path, overrides)
    start = time.perf_counter()
    summary = run(RunRequest(config=config, config_file=str(config_path), run_dir=run_dir))
    best = summary["best"]
    return {
        "best_edp": best["total"]["edp"] if best else float("inf"),
        "best_objective": summary["best_objective"] or float("inf"),
        "evaluations": summary["evaluations"],
        "wall_s": time.perf_counter() - start,
        "iterations": summary["iterations"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--config", type=Path, default=ROOT / "experiments" / "resnet18_eyeriss.yaml")
    p.add_argument("--budget", type=int, default=8000)
    p.add_argument("--seeds", default="0")
    p.add_argument("--methods", default="mappo,ippo,random")
    p.add_argument("--root", type=Path, default=Path("/tmp/dcoc-bench-quality"))
    p.add_argument("--set", dest="extra", action="append", default=[], help="config override")
    args = p.parse_args()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("ray").setLevel(logging.WARNING)
    shutil.rmtree(args.root, ignore_errors=True)
    methods = args.methods.split(",")
    rows: list[tuple[str, int, dict[str, float]]] = []
    print(f"load average: {os.getloadavg()}", flush=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        used = args.budget
        for method in methods:
            if method == "random":
                continue
            critic = {"mappo": "centralized", "ippo": "independent"}[method]
            out = rl_run(
                args.config, critic, args.budget, seed, args.root / f"{method}_{seed}", args.extra
            )
            used = max(used, int(out["evaluations"]))
            rows.append((method, seed, out))
            print(f"{method} seed {seed}: {json.dumps(out)}", flush=True)
        if "random" in methods:
            out = random_search(args.config, used, seed, args.root / f"random_{seed}")
            rows.append(("random", seed, out))
            print(f"random seed {seed}: {json.dumps(out)}", flush=True)
    print()
    print(
        f"{'method':8} {'seed':>4} {'best EDP (pJ x cycles)':>24} {'evaluations':>12} {'wall s':>8}"
    )
    for method, seed, out in rows:
        print(
            f"{method:8} {seed:4d} {out['best_edp']:24.4e} {int(out['evaluations']):12d} "
            f"{out['wall_s']:8.1f}"
        )
    randoms = {seed: out["best_edp"] for m, seed, out in rows if m == "random"}
    for method, seed, out in rows:
        if method != "random" and seed in randoms:
            ratio = out["best_edp"] / randoms[seed]
            print(f"{method} seed {seed}: best EDP / random search's = {ratio:.3f}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
