"""Hardware design spaces: validation of space files, index <-> config round trips, apply,
area budget and the up-front feasibility check."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dcoc.accel.spec.design_space import (
    DesignSpace,
    dump_architecture_yaml,
    load_design_space,
)
from dcoc.accel.spec.documents import load_yaml_text
from dcoc.errors import SpecError

SPECS = Path(__file__).resolve().parents[2] / "accel_specs"
SPACE_FILES = sorted(SPECS.glob("*.space.yaml"))

SMALL_SPACE = """\
design_space:
  version: 1
  template: {template}
  area_budget: {budget}
  knobs:
  - name: pe_columns
    target: PE.spatial.meshX
    values: [4, 16, 8]
  - name: glb_depth
    target: shared_glb.attributes.depth
    powers_of_two: {{min: 4096, max: 16384}}
  - name: glb_read_bandwidth
    target: shared_glb.attributes.read_bandwidth
    range: {{min: 8, max: 24, step: 8}}
"""


def _write(tmp_path: Path, text: str, name: str = "s.space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _small(tmp_path: Path, budget: str = "{relative_to_template: 1.0}", **kw: bool) -> DesignSpace:
    template = (SPECS / "simple_weight_stationary.yaml").as_posix()
    return load_design_space(
        _write(tmp_path, SMALL_SPACE.format(template=template, budget=budget)), **kw
    )


def test_small_space_choices(tmp_path: Path) -> None:
    space = _small(tmp_path)
    assert [k.name for k in space.knobs] == ["pe_columns", "glb_depth", "glb_read_bandwidth"]
    assert [k.choices for k in space.knobs] == [(4, 8, 16), (4096, 8192, 16384), (8, 16, 24)]
    assert space.size == 27
    assert space.default().as_dict() == {
        "pe_columns": 16,
        "glb_depth": 16384,
        "glb_read_bandwidth": 16,
    }
    assert space.encode(space.default()) == (2, 2, 1)
    # budget 1.0x the template: the template itself fits exactly
    assert space.area_budget_um2 == pytest.approx(space.area_um2(space.default()))
    assert space.fits_budget(space.default())


def test_every_index_round_trips(tmp_path: Path) -> None:
    space = _small(tmp_path)
    configs = [space.from_flat_index(i) for i in range(space.size)]
    assert len(set(configs)) == space.size
    for i, config in enumerate(configs):
        assert space.flat_index(config) == i
        assert space.decode(space.encode(config)) == config
    with pytest.raises(ValueError):
        space.from_flat_index(space.size)
    with pytest.raises(ValueError):
        space.decode([0, 0, 3])


def test_apply_sets_knobs_and_leaves_template_alone(tmp_path: Path) -> None:
    space = _small(tmp_path)
    config = space.decode([0, 1, 2])
    doc = space.apply(config)
    nodes = {n.get("name"): n for n in doc["architecture"]["nodes"] if "name" in n}
    assert nodes["PE"]["spatial"] == {"meshX": 4, "meshY": 16}
    assert nodes["shared_glb"]["attributes"]["depth"] == 8192
    assert nodes["shared_glb"]["attributes"]["read_bandwidth"] == 24
    template_nodes = {n.get("name"): n for n in space.template["architecture"]["nodes"]}
    assert template_nodes["PE"]["spatial"]["meshX"] == 16
    arch = space.architecture(config)
    assert arch.arithmetic.instances == 4 * 16
    # the YAML text keeps the tags and reads back to the same document
    assert load_yaml_text(dump_architecture_yaml(doc)) == doc
    assert "!Component" in dump_architecture_yaml(doc)


def test_area_grows_with_each_knob_and_smallest_is_least(tmp_path: Path) -> None:
    space = _small(tmp_path, budget="{relative_to_template: 0.8}")
    areas = {}
    for idx in itertools.product(*(range(len(k.choices)) for k in space.knobs)):
        areas[idx] = space.area_um2(space.decode(idx))
    assert min(areas, key=areas.__getitem__)[:2] == (0, 0)
    assert areas[(0, 0, 0)] == min(areas.values())
    assert areas[(0, 0, 0)] < areas[(1, 0, 0)] < areas[(2, 0, 0)]
    assert areas[(0, 0, 0)] < areas[(0, 1, 0)] < areas[(0, 2, 0)]
    assert areas[(0, 0, 0)] == areas[(0, 0, 2)]  # bandwidth costs no area
    fits = {idx for idx, a in areas.items() if a <= space.area_budget_um2}
    assert fits == {idx for idx in areas if space.fits_budget(space.decode(idx))}
    assert 0 < len(fits) < space.size


def test_infeasible_budget_detected_up_front(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no configuration fits") as info:
        _small(tmp_path, budget="{um2: 1000.0}")
    assert info.value.yaml_path == ("design_space", "area_budget")
    assert "raise the budget" in str(info.value)
    space = _small(tmp_path, budget="{um2: 1000.0}", check_feasible=False)
    with pytest.raises(SpecError, match="smallest one"):
        space.check_feasible()
    assert not space.fits_budget(space.smallest())


@pytest.mark.parametrize(
    ("edit", "path", "needle"),
    [
        (("version: 1", "version: 2"), "design_space.version", "must be 1"),
        (("  knobs:", "  colour: red\n  knobs:"), "design_space.colour", "unknown key"),
        (
            ("target: PE.spatial.meshX", "target: PEs.spatial.meshX"),
            "design_space.knobs[0].target",
            "no node named 'PEs'",
        ),
        (
            ("target: PE.spatial.meshX", "target: PE.spatial.meshZ"),
            "design_space.knobs[0].target",
            "cannot be varied",
        ),
        (
            ("target: PE.spatial.meshX", "target: PE.attributes.depth"),
            "design_space.knobs[0].target",
            "is a Container",
        ),
        (
            ("values: [4, 16, 8]", "values: [4, 8]"),
            "design_space.knobs[0]",
            "not a choice; add it",
        ),
        (
            ("values: [4, 16, 8]", "values: [4, 16, 16]"),
            "design_space.knobs[0].values",
            "distinct",
        ),
        (("values: [4, 16, 8]", "values: [4, 16, -8]"), "design_space.knobs[0].values[2]", ""),
        (("{min: 4096, max: 16384}", "{min: 4096, max: 12000}"), "max", "not a power of two"),
        (("    range:", "    values: [16]\n    range:"), "design_space.knobs[2]", "exactly one"),
        (("{min: 8, max: 24, step: 8}", "{min: 8, max: 24, by: 8}"), "range.by", "unknown"),
        (("name: glb_depth", "name: pe_columns"), "design_space.knobs[1].name", "used twice"),
        (("name: glb_depth", "name: glb depth"), "design_space.knobs[1].name", "identifier"),
        (
            ("target: shared_glb.attributes.depth", "target: PE.spatial.meshX"),
            "design_space.knobs[1].target",
            "set by another knob",
        ),
    ],
)
def test_bad_space_files_name_file_path_and_fix(
    tmp_path: Path, edit: tuple[str, str], path: str, needle: str
) -> None:
    template = (SPECS / "simple_weight_stationary.yaml").as_posix()
    text = SMALL_SPACE.format(template=template, budget="{relative_to_template: 2.0}")
    assert edit[0] in text
    file = _write(tmp_path, text.replace(edit[0], edit[1], 1))
    with pytest.raises(SpecError) as info:
        load_design_space(file)
    message = str(info.value)
    assert message.startswith(str(file))
    assert path in message and needle in message


def test_bad_budget_and_template(tmp_path: Path) -> None:
    template = (SPECS / "simple_weight_stationary.yaml").as_posix()
    both = SMALL_SPACE.format(template=template, budget="{um2: 1.0e9, relative_to_template: 2}")
    with pytest.raises(SpecError, match=re.escape("design_space.area_budget: give exactly one")):
        load_design_space(_write(tmp_path, both))
    missing = SMALL_SPACE.format(template="nope.yaml", budget="{um2: 1.0e9}")
    with pytest.raises(SpecError, match=re.escape("nope.yaml does not exist")):
        load_design_space(_write(tmp_path, missing))


@pytest.mark.parametrize("space_file", SPACE_FILES, ids=lambda p: p.name)
def test_shipped_spaces(space_file: Path) -> None:
    space = load_design_space(space_file)
    assert space.fits_budget(space.default())
    assert not space.fits_budget(space.from_flat_index(space.size - 1))  # largest is too big
    rng = np.random.default_rng(1)
    samples = [space.sample(rng) for _ in range(20)]
    assert len(set(samples)) > 10
    for config in samples:
        assert space.decode(space.encode(config)) == config


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_flat_index_round_trip_property(data: st.DataObject) -> None:
    space = load_design_space(SPECS / "eyeriss_like.space.yaml", check_feasible=False)
    index = data.draw(st.integers(0, space.size - 1))
    config = space.from_flat_index(index)
    assert space.flat_index(config) == index
    assert all(config[k.name] in k.choices for k in space.knobs)
