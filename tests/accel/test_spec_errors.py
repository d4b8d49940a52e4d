"""Malformed Timeloop specs raise SpecError naming the file and the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest
from timeloop_cases import DATA

from dcoc.accel.spec.inputs import load_model_inputs
from dcoc.errors import SpecError

CASE = DATA / "00-conv1d-1level"
ARCH = (CASE / "1level.arch.yaml").read_text()
PROB = (CASE / "conv1d.prob.yaml").read_text()
MAP = (CASE / "conv1d-1level.map.yaml").read_text()
TABLES = [CASE / "timeloop-model.ERT.yaml", CASE / "timeloop-model.ART.yaml"]


def _load(tmp_path: Path, arch: str = ARCH, prob: str = PROB, mapping: str = MAP) -> None:
    files = []
    for name, text in (("a.yaml", arch), ("p.yaml", prob), ("m.yaml", mapping)):
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    load_model_inputs([*files, *TABLES])


def _error(tmp_path: Path, **texts: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        _load(tmp_path, **texts)
    return info.value


def test_unmodified_inputs_load(tmp_path: Path) -> None:
    _load(tmp_path)


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping="mapping: [ {target: Buffer\n")
    assert err.file.endswith("m.yaml")
    assert "not valid YAML" in err.message and "line" in err.message


def test_missing_instance(tmp_path: Path) -> None:
    err = _error(tmp_path, prob=PROB.split("  instance:")[0])
    assert err.file.endswith("p.yaml")
    assert err.yaml_path == ("problem", "instance")


def test_missing_bound(tmp_path: Path) -> None:
    err = _error(tmp_path, prob=PROB.replace("    P: 16\n", ""))
    assert err.yaml_path == ("problem", "instance", "P")
    assert "P: <positive int>" in err.message


def test_wrong_type_depth(tmp_path: Path) -> None:
    err = _error(tmp_path, arch=ARCH.replace("depth: 64", "depth: lots"))
    assert err.file.endswith("a.yaml")
    assert err.yaml_path == ("architecture", "nodes", 1, "attributes", "depth")
    assert "depth" in str(err)


def test_wrong_type_bound(tmp_path: Path) -> None:
    err = _error(tmp_path, prob=PROB.replace("R: 3\n", "R: three\n"))
    assert err.yaml_path == ("problem", "instance", "R")


def test_unknown_level_in_mapping(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping=MAP.replace("target: Buffer", "target: Bufer"))
    assert err.file.endswith("m.yaml")
    assert err.yaml_path == ("mapping", 0, "target")
    assert "'Bufer'" in err.message and "Buffer" in err.message


def test_non_integer_factor(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping=MAP.replace("R=3", "R=3.5"))
    assert err.yaml_path == ("mapping", 0, "factors")
    assert "positive integer" in err.message


def test_unknown_dimension_in_factors(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping=MAP.replace("R=3", "Z=3"))
    assert err.yaml_path == ("mapping", 0, "factors")
    assert "'Z'" in err.message


def test_unknown_dimension_in_permutation(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping=MAP.replace("permutation: RP", "permutation: RPX"))
    assert err.yaml_path == ("mapping", 0, "permutation")


def test_unknown_dimension_in_projection(tmp_path: Path) -> None:
    err = _error(tmp_path, prob=PROB.replace("[ [R], [P] ]", "[ [R], [Q] ]"))
    assert err.file.endswith("p.yaml")
    assert err.yaml_path == ("problem", "shape", "data_spaces", 1, "projection", 0, 1)
    assert "'Q' is not a dimension" in err.message


def test_undeclared_coefficient_in_projection(tmp_path: Path) -> None:
    err = _error(tmp_path, prob=PROB.replace("[ [R], [P] ]", "[ [R], [P, Wstride] ]"))
    assert err.yaml_path == ("problem", "shape", "data_spaces", 1, "projection", 0, 1)
    assert "Wstride" in err.message


def test_unknown_tag(tmp_path: Path) -> None:
    err = _error(
        tmp_path,
        arch=ARCH.replace("- !Component\n    name: Buffer", "- !Componnent\n    name: Buffer"),
    )
    assert err.file.endswith("a.yaml")
    assert err.yaml_path == ("architecture", "nodes", 1)
    assert "!Componnent" in err.message and "!Component" in err.message


def test_node_without_tag(tmp_path: Path) -> None:
    err = _error(tmp_path, arch=ARCH.replace("- !Component\n    name: Buffer", "- name: Buffer"))
    assert err.yaml_path == ("architecture", "nodes", 1)


def test_missing_mapping_key(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping="other: 1\n")
    assert err.yaml_path == ("mapping",)
    assert "m.yaml" in err.file


def test_key_given_twice(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping=MAP + PROB)
    assert err.yaml_path == ("problem",)


def test_missing_file() -> None:
    with pytest.raises(SpecError) as info:
        load_model_inputs([CASE / "nope.yaml"])
    assert info.value.file.endswith("nope.yaml")


def test_error_text_is_one_line(tmp_path: Path) -> None:
    err = _error(tmp_path, mapping=MAP.replace("R=3", "R=x"))
    assert "\n" not in str(err)
    assert str(err).startswith(str(tmp_path / "m.yaml") + ": mapping[0].factors: ")
