"""dcoc's Timeloop-compatible accelerator model.

``load_model_inputs(files)`` reads Timeloop v0.4 YAML (architecture, problem, mapping, ERT, ART);
``evaluate(arch, problem, mapping, tables=...)`` returns a :class:`CostReport`.
"""

from dcoc.accel.architecture import Architecture, ArithmeticLevel, StorageLevel
from dcoc.accel.mapping import LevelMapping, Mapping, level_mapping
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostReport, DataSpaceCost, LevelCost
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.accel.tables import EnergyTables

__all__ = [
    "Architecture",
    "ArithmeticLevel",
    "CostReport",
    "DataSpaceCost",
    "EnergyTables",
    "LevelCost",
    "LevelMapping",
    "Mapping",
    "ModelInputs",
    "StorageLevel",
    "evaluate",
    "level_mapping",
    "load_model_inputs",
]
