"""Mapspaces of the Timeloop mapper reference cases (05, 06, ex-*) for the mapper tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from timeloop_cases import DATA, expected, input_files

from dcoc.accel.mapper.constraints import build_constraints, constraint_documents
from dcoc.accel.mapper.mapspace import MapSpace
from dcoc.accel.mapper.search import BatchMappingEvaluator, batched_evaluator, model_evaluator
from dcoc.accel.spec.documents import load_spec
from dcoc.accel.spec.inputs import ModelInputs, model_inputs

MAPPER_DATA = Path(__file__).resolve().parent / "mapper_data"
FREEBYPASS = "05-mapper-conv1d+oc-3level-freebypass"
NULL = "05-mapper-conv1d+oc-3level-null"
EYERISS = "06-eyeriss-vgg02-layer5"
EXAMPLES = ("ex-simba_like", "ex-simple_output_stationary", "ex-simple_weight_stationary")
CONSTRAINTS = {
    FREEBYPASS: MAPPER_DATA / "conv1d+oc-3level-freebypass.constraints.yaml",
    NULL: MAPPER_DATA / "null.constraints.yaml",
}


@dataclass(frozen=True)
class MapperCase:
    name: str
    inputs: ModelInputs
    """Architecture, problem, the reference mapping and the reference ERT/ART."""
    space: MapSpace
    total_energy_pj: float
    """Timeloop's total energy of the reference mapping (``expected.json``)."""

    def evaluator(self) -> BatchMappingEvaluator:
        i = self.inputs
        return model_evaluator(i.architecture, i.problem, i.tables, legacy_translation=True)

    def batched(self) -> BatchMappingEvaluator:
        i = self.inputs
        return batched_evaluator(i.architecture, i.problem, i.tables, legacy_translation=True)


def load_case(name: str) -> MapperCase:
    files: list[str | Path] = list(input_files(name))
    extra = CONSTRAINTS.get(name)
    if extra is not None:
        files.append(extra)
    doc = load_spec(files)
    inputs = model_inputs(doc)
    constraints = build_constraints(
        inputs.architecture, inputs.problem, documents=constraint_documents(doc)
    )
    space = MapSpace(inputs.architecture, inputs.problem, constraints)
    return MapperCase(name, inputs, space, expected(name)["summary"]["total_energy_pJ"])


def case_files(name: str) -> list[Path]:
    """Architecture, problem, ERT and ART of a case (no mapping), plus its constraints."""
    files = [p for p in input_files(name) if not p.name.endswith(".map.yaml")]
    extra = CONSTRAINTS.get(name)
    return [*files, extra] if extra is not None else files


__all__ = [
    "DATA",
    "EXAMPLES",
    "EYERISS",
    "FREEBYPASS",
    "NULL",
    "MapperCase",
    "case_files",
    "load_case",
]
