"""Mapper speed and quality on Timeloop's mapper references (cases 05 and 06).

    python benchmarks/mapper_speed.py [--budget 3000] [--seed 0]

Prints, per case: the mapspace size, random draws per second, evaluations per second of the
scalar and the batched model, then per search the evaluations, time, evaluations per second and
the best mapping's EDP next to the EDP of Timeloop's own mapping (``timeloop-mapper.map.yaml``,
evaluated by dcoc's model with the pre-2025 stride rule the references need).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from dcoc.accel.mapper.constraints import build_constraints, constraint_documents
from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.mapper.search import (
    BatchMappingEvaluator,
    MapperConfig,
    SearchAlgorithm,
    batched_evaluator,
    model_evaluator,
    search_mapspace,
)
from dcoc.accel.spec.documents import load_spec
from dcoc.accel.spec.inputs import ModelInputs, model_inputs
from dcoc.objective import Objective

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "timeloop"
MAPPER_DATA = ROOT / "tests" / "accel" / "mapper_data"
CASES = {
    "05-mapper-conv1d+oc-3level-freebypass": MAPPER_DATA
    / "conv1d+oc-3level-freebypass.constraints.yaml",
    "05-mapper-conv1d+oc-3level-null": MAPPER_DATA / "null.constraints.yaml",
    "06-eyeriss-vgg02-layer5": None,
}


def load(case: str) -> tuple[ModelInputs, MapSpace]:
    folder = DATA / case
    files: list[Path] = sorted(p for p in folder.glob("*.yaml") if "flattened" not in p.name)
    extra = CASES[case]
    if extra is not None:
        files.append(extra)
    doc = load_spec(files)
    inputs = model_inputs(doc)
    c = build_constraints(inputs.architecture, inputs.problem, documents=constraint_documents(doc))
    return inputs, MapSpace(inputs.architecture, inputs.problem, c)


def rate(fn: BatchMappingEvaluator, mappings: list, seconds: float = 2.0) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(mappings)
        n += len(mappings)
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=3000, help="evaluations per random search")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for case in CASES:
        inputs, space = load(case)
        a, p, t = inputs.architecture, inputs.problem, inputs.tables
        scalar = model_evaluator(a, p, t, legacy_translation=True)
        batched = batched_evaluator(a, p, t, legacy_translation=True)
        ref = scalar([inputs.mapping])[0]
        rng = np.random.default_rng(args.seed)
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < 1.0:
            space.sample(rng)
            n += 1
        draws = n / (time.perf_counter() - start)
        sample = [space.mapping(space.sample(rng)) for _ in range(256)]
        print(f"== {case}")
        print(
            f"mapspace size {space.size:.4g} (factorizations {space.factorization_count}, "
            f"permutations {space.permutation_count:.4g}, bypass {space.bypass_count}); "
            f"{draws:,.0f} random draws/s"
        )
        print(
            f"model on random mappings: scalar {rate(scalar, sample):,.0f} evals/s, "
            f"batched {rate(batched, sample):,.0f} evals/s"
        )
        print(
            f"Timeloop's mapping (model): EDP {ref.edp:.6g} pJ*cycles, energy "
            f"{ref.energy_pj:.6g} pJ, cycles {ref.cycles}"
        )
        if case.startswith("05"):
            runs = [
                (
                    "exhaustive [delay, energy]",
                    SearchAlgorithm.EXHAUSTIVE,
                    (Objective.LATENCY, Objective.ENERGY),
                ),
                ("exhaustive [edp]", SearchAlgorithm.EXHAUSTIVE, (Objective.EDP,)),
            ]
        else:
            runs = [
                ("random-pruned [edp]", SearchAlgorithm.RANDOM_PRUNED, (Objective.EDP,)),
                (
                    "random-pruned [delay, energy]",
                    SearchAlgorithm.RANDOM_PRUNED,
                    (Objective.LATENCY, Objective.ENERGY),
                ),
                ("random-pruned-climb [edp]", SearchAlgorithm.CLIMB, (Objective.EDP,)),
                (
                    "random-pruned-climb [delay, energy]",
                    SearchAlgorithm.CLIMB,
                    (Objective.LATENCY, Objective.ENERGY),
                ),
            ]
        for label, algo, metrics in runs:
            config = MapperConfig(
                algorithm=algo,
                metrics=metrics,
                max_evaluations=args.budget,
                victory_condition=0,
                seed=args.seed,
                batch_size=256,
            )
            r = search_mapspace(space, batched, config)
            assert r.best_report is not None
            b = r.best_report
            print(
                f"  {label:<36} {r.evaluations:>6} evals in {r.elapsed_s:6.2f} s "
                f"({r.evaluations / r.elapsed_s:,.0f}/s, {r.pruned} pruned): best EDP "
                f"{b.edp:.6g} = {b.edp / ref.edp:.3f}x Timeloop's; energy "
                f"{b.energy_pj / ref.energy_pj:.3f}x, cycles {b.cycles / ref.cycles:.3f}x"
                f"{' (exhausted)' if r.exhausted else ''}"
            )


if __name__ == "__main__":
    main()
