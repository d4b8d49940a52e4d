"""Building the model's inputs from Timeloop YAML files (the edge: everything is validated here)."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcoc.accel.architecture import Architecture
from dcoc.accel.mapping import Mapping
from dcoc.accel.spec.architecture import parse_architecture
from dcoc.accel.spec.documents import SpecDocument, load_spec
from dcoc.accel.spec.mapping import parse_mapping
from dcoc.accel.spec.tables import parse_art, parse_ert
from dcoc.accel.tables import EnergyTables
from dcoc.errors import SpecError
from dcoc.workloads.problem import Problem
from dcoc.workloads.problem_yaml import parse_problem


@dataclass(frozen=True)
class ModelInputs:
    architecture: Architecture
    problem: Problem
    mapping: Mapping
    tables: EnergyTables


def _required(doc: SpecDocument, key: str) -> object:
    if key not in doc:
        files = ", ".join(dict.fromkeys(doc.sources.values())) or "<no files>"
        raise SpecError(
            files,
            (key,),
            f"no input file has a top-level '{key}' key; add the {key} file to the command line",
        )
    return doc.get(key)


def tables_from_document(doc: SpecDocument, arch: Architecture) -> EnergyTables:
    """ERT/ART from the files, or estimated from the architecture when none is given."""
    if "ERT" in doc:
        ert = parse_ert(doc.get("ERT"), doc.file_of("ERT"))
        art = parse_art(doc.get("ART"), doc.file_of("ART")) if "ART" in doc else {}
        return EnergyTables(ert, art)
    try:
        from dcoc.accel.spec.estimator import estimate_tables
    except ImportError:
        raise SpecError(
            None,
            ("ERT",),
            "no ERT given and no estimator is available; add "
            "the Accelergy ERT/ART files (e.g. timeloop-model.ERT.yaml)",
        ) from None
    ert_est, art_est = estimate_tables(arch, doc.file_of("architecture"))
    art = parse_art(doc.get("ART"), doc.file_of("ART")) if "ART" in doc else art_est
    return EnergyTables(dict(ert_est), dict(art))


def model_inputs(doc: SpecDocument) -> ModelInputs:
    arch = parse_architecture(_required(doc, "architecture"), doc.file_of("architecture"))
    problem = parse_problem(_required(doc, "problem"), doc.file_of("problem"))
    mapping = parse_mapping(_required(doc, "mapping"), arch, problem, doc.file_of("mapping"))
    return ModelInputs(arch, problem, mapping, tables_from_document(doc, arch))


def load_model_inputs(
    paths: Sequence[str | Path], jinja_data: MappingABC[str, Any] | None = None
) -> ModelInputs:
    """Load and validate Timeloop YAML files (architecture, problem, mapping, ERT, ART);
    ``jinja_data`` are the Jinja2 variables of the files' templates."""
    return model_inputs(load_spec(paths, jinja_data))
