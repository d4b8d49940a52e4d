"""The main job's ray-free parts: the experiment config (typed dataclasses filled from YAML and
``--set`` overrides), the run directory, the recorded co-design env, the best-so-far read from
the records, the confidence-gated proposal phase and the run's output files.
:mod:`dcoc.experiment.runner` drives them together with :mod:`dcoc.agents.trainer`."""

from dcoc.experiment.config import (
    AgentsSection,
    CodesignSection,
    ConfidenceSection,
    CpuSection,
    EnvSection,
    ExperimentConfig,
    ExperimentSection,
    Mode,
    RaySection,
    TrainSection,
)
from dcoc.experiment.loader import apply_override, config_to_dict, describe_config, load_config
from dcoc.experiment.run_dir import Progress, RunDirectory, default_run_dir

__all__ = [
    "AgentsSection",
    "CodesignSection",
    "ConfidenceSection",
    "CpuSection",
    "EnvSection",
    "ExperimentConfig",
    "ExperimentSection",
    "Mode",
    "Progress",
    "RaySection",
    "RunDirectory",
    "TrainSection",
    "apply_override",
    "config_to_dict",
    "default_run_dir",
    "describe_config",
    "load_config",
]
