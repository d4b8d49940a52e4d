"""A co-design point as Timeloop v0.4 files, so any tool (``python -m dcoc.accel evaluate``,
``timeloop-model``) can re-evaluate the design an agent or a search found."""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from dcoc.accel.spec.design_space import dump_architecture_yaml
from dcoc.accel.spec.mapping import mapping_to_yaml
from dcoc.search.codesign_space import CoDesignSpace, HardwareContext, LayerDesign
from dcoc.workloads.problem_yaml import problem_to_yaml


def design_files(
    space: CoDesignSpace, ctx: HardwareContext, designs: Sequence[LayerDesign | None]
) -> dict[str, str]:
    """Timeloop v0.4 YAML texts of a design: ``architecture.yaml`` (the template with the
    knobs applied) and per layer with a mapping ``<layer>.problem.yaml`` and
    ``<layer>.mapping.yaml``; ``python -m dcoc.accel evaluate`` takes them as they are."""
    files = {"architecture.yaml": dump_architecture_yaml(space.design_space.apply(ctx.config))}
    for layer, design in zip(space.layers, designs, strict=True):
        if design is None:
            continue
        problem = layer.problem
        files[f"{layer.name}.problem.yaml"] = yaml.safe_dump(
            {"problem": problem_to_yaml(problem)}, sort_keys=False
        )
        files[f"{layer.name}.mapping.yaml"] = yaml.safe_dump(
            {"mapping": mapping_to_yaml(design.mapping, ctx.arch, problem)}, sort_keys=False
        )
    return files
