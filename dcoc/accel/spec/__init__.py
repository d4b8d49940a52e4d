"""The model's inputs from Timeloop YAML: every file is read and validated here, at the edge.

* :mod:`~dcoc.accel.spec.documents`: YAML loading (Timeloop's ``!Container``-style tags),
  merging files by top-level key, spec numbers;
* :mod:`~dcoc.accel.spec.templates`: Jinja2 rendering of every file (timeloopfe's helpers, in
  a sandbox); :mod:`~dcoc.accel.spec.variables`: ``variables`` and expressions, resolved in
  timeloopfe's order through :mod:`~dcoc.accel.spec.expressions` (no ``eval``);
  :mod:`~dcoc.accel.spec.jinja_args`: ``--jinja NAME=VALUE``;
* :mod:`~dcoc.accel.spec.architecture`: ``architecture:`` in v0.4 (``nodes``,
  :mod:`~dcoc.accel.spec.architecture_v4`) or v0.3 (``subtree``,
  :mod:`~dcoc.accel.spec.architecture_v3`), flattened into an
  :class:`~dcoc.accel.architecture.Architecture`; storage attributes in
  :mod:`~dcoc.accel.spec.storage_attributes`;
* :mod:`~dcoc.accel.spec.mapping`: ``mapping:`` in and out;
* :mod:`~dcoc.accel.spec.tables`: Accelergy's ERT and ART; :mod:`~dcoc.accel.spec.estimator`
  fills them when a spec has none;
* :mod:`~dcoc.accel.spec.inputs`: one (architecture, problem, mapping, tables) from a list of
  files;
* :mod:`~dcoc.accel.spec.design_space`: dcoc's hardware design-space files (knobs over an
  architecture template).
"""

from dcoc.accel.spec.architecture import parse_architecture
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs, model_inputs
from dcoc.accel.spec.mapping import mapping_to_yaml, parse_mapping

__all__ = [
    "ModelInputs",
    "load_model_inputs",
    "mapping_to_yaml",
    "model_inputs",
    "parse_architecture",
    "parse_mapping",
]
