"""Every template in accel_specs/ parses with the v0.4 parser, evaluates a trivial mapping with
estimated tables, and its design space loads; the copied templates equal their references."""

from __future__ import annotations

from math import prod
from pathlib import Path

import numpy as np
import pytest

from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.spec.architecture import parse_architecture
from dcoc.accel.spec.design_space import load_design_space
from dcoc.accel.spec.documents import load_yaml_file, load_yaml_text
from dcoc.accel.spec.estimator import estimate_tables
from dcoc.accel.spec.mapping import parse_mapping
from dcoc.accel.tables import EnergyTables
from dcoc.workloads.problem_yaml import parse_problem

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "accel_specs"
REF = ROOT / "tests" / "data" / "timeloop"
TEMPLATES = sorted(p for p in SPECS.glob("*.yaml") if not p.name.endswith(".space.yaml"))
SPACES = sorted(SPECS.glob("*.space.yaml"))

COPIED_FROM = {
    "eyeriss_like.yaml": "06-eyeriss-vgg02-layer5/eyeriss_like.arch.yaml",
    "simba_like.yaml": "ex-simba_like/arch.yaml",
    "simple_weight_stationary.yaml": "ex-simple_weight_stationary/arch.yaml",
    "simple_output_stationary.yaml": "ex-simple_output_stationary/arch.yaml",
}


def test_expected_files_exist() -> None:
    names = {p.name for p in TEMPLATES}
    assert names == {*COPIED_FROM, "tpu_like.yaml"}
    assert {p.name.removesuffix(".space.yaml") + ".yaml" for p in SPACES} == names
    assert (SPECS / "LICENSE.timeloop-accelergy-exercises.txt").is_file()
    assert (SPECS / "README.md").is_file()


@pytest.mark.skipif(not REF.is_dir(), reason=f"reference data not found at {REF}")
@pytest.mark.parametrize("name", sorted(COPIED_FROM))
def test_copied_templates_equal_references(name: str) -> None:
    ours = load_yaml_file(SPECS / name)
    ref = load_yaml_file(REF / COPIED_FROM[name])
    assert ours == ref


# A small conv layer, shaped as the references' default_problem.yaml.
SMALL_CONV = """\
problem:
  version: 0.4
  instance:
    C: 4
    H: 6
    Hdilation: 1
    Hpad: 0
    Hstride: 1
    M: 4
    N: 1
    P: 4
    Q: 4
    R: 3
    S: 3
    W: 6
    Wdilation: 1
    Wpad: 0
    Wstride: 1
  shape:
    coefficients:
    - default: 1
      name: Wstride
    - default: 1
      name: Hstride
    - default: 1
      name: Wdilation
    - default: 1
      name: Hdilation
    data_spaces:
    - name: Weights
      projection:
      - - - C
      - - - M
      - - - R
      - - - S
    - name: Inputs
      projection:
      - - - N
      - - - C
      - - - R
          - Wdilation
        - - P
          - Wstride
      - - - S
          - Hdilation
        - - Q
          - Hstride
    - name: Outputs
      projection:
      - - - N
      - - - M
      - - - Q
      - - - P
      read_write: true
    dimensions:
    - C
    - M
    - R
    - S
    - N
    - P
    - Q
    name: conv2D
"""


def _small_problem():
    return parse_problem(load_yaml_text(SMALL_CONV)["problem"], "<small conv>")


def _trivial_report(arch_doc: dict):
    """All loops at the outermost level (DRAM), one MAC busy, each level keeping the data
    spaces its dataspace constraint names."""
    arch = parse_architecture(arch_doc["architecture"], "<template>")
    problem = _small_problem()
    outer = arch.storage[-1].name
    factors = " ".join(f"{d}={problem.bounds[d]}" for d in problem.dimensions)
    directives: list[dict] = [{"target": outer, "type": "temporal", "factors": factors}]
    names = [ds.name for ds in problem.data_spaces]
    for level in arch.storage:
        constraint = level.constraints.get("dataspace")
        if constraint and not level.is_dummy:
            bypass = constraint.get("bypass", [])
            keep = constraint.get("keep", [n for n in names if n not in bypass])
            bypass = [n for n in names if n not in keep]
            directives.append(
                {"target": level.name, "type": "dataspace", "keep": keep, "bypass": bypass}
            )
    mapping = parse_mapping(directives, arch, problem)
    ert, art = estimate_tables(arch)
    return arch, problem, evaluate(arch, problem, mapping, tables=EnergyTables(ert, art))


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_template_evaluates_trivial_mapping(template: Path) -> None:
    _, problem, report = _trivial_report(load_yaml_file(template))
    assert report.valid, report.reasons
    macs = prod(problem.bounds.values())
    assert report.computes == macs
    assert report.cycles >= macs  # one MAC busy; narrow scratchpads may throttle further
    assert report.energy_pj > report.mac_energy_pj > 0
    assert report.area_um2 > 0


@pytest.mark.parametrize("space_file", SPACES, ids=lambda p: p.name)
def test_space_loads_and_its_area_matches_the_model(space_file: Path) -> None:
    space = load_design_space(space_file)
    assert space.template_path.name == space_file.name.replace(".space.yaml", ".yaml")
    default = space.default()
    assert space.apply(default) == load_yaml_file(space.template_path)
    _, _, report = _trivial_report(space.apply(default))
    assert report.area_um2 == pytest.approx(space.area_um2(default), rel=1e-6)
    assert space.fits_budget(default)
    assert space.size >= 1000  # a space worth searching
    rng = np.random.default_rng(0)
    for _ in range(3):
        config = space.sample(rng)
        _, _, sampled = _trivial_report(space.apply(config))
        assert sampled.valid, sampled.reasons
        assert sampled.area_um2 == pytest.approx(space.area_um2(config), rel=1e-6)
