"""Timeloop problem YAML (v0.4 and v0.3) to and from Problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dcoc.errors import SpecError
from dcoc.workloads.problem_yaml import parse_problem, problem_to_yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "timeloop"


def _problem_of(case: str, name: str) -> dict:
    return yaml.safe_load((DATA / case / name).read_text())["problem"]


def test_conv2d_with_strides() -> None:
    p = parse_problem(_problem_of("ex-simple_weight_stationary", "default_problem.yaml"))
    assert p.dimensions == ("C", "M", "R", "S", "N", "P", "Q")
    assert p.coefficients["Wstride"] == 2 and p.coefficients["Hstride"] == 2
    assert p.macs == 10838016
    inputs = p.data_space("Inputs")
    assert inputs.projection[2][1].dimension == "P"
    assert inputs.projection[2][1].coefficient == "Wstride"
    # bounding box of the whole input: 2*(112-1) + (3-1) + 1 = 225 per side, 3 channels
    assert p.tensor_size(inputs) == 3 * 225 * 225 == 151875
    assert p.data_space("Outputs").read_write


def test_round_trip() -> None:
    p = parse_problem(_problem_of("06-eyeriss-vgg02-layer5", "VGG02_layer5.prob.yaml"))
    again = parse_problem(problem_to_yaml(p))
    assert again == p


def test_v03_hyphen_keys() -> None:
    raw = {
        "shape": {
            "name": "conv1d",
            "dimensions": ["R", "P"],
            "data-spaces": [
                {"name": "Weights", "projection": [[["R"]]]},
                {"name": "Inputs", "projection": [[["R"], ["P"]]]},
                {"name": "Outputs", "projection": [[["P"]]], "read-write": True},
            ],
        },
        "instance": {"R": 3, "P": 16},
    }
    p = parse_problem(raw, "v03.yaml")
    assert p.data_space("Outputs").read_write
    assert p.tensor_size(p.data_space("Inputs")) == 18


def test_unknown_instance_keys_are_ignored() -> None:
    raw = _problem_of("ex-simba_like", "default_problem.yaml")
    assert "H" in raw["instance"]
    p = parse_problem(raw)
    assert "H" not in p.bounds


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda r: r.pop("instance"), ("problem", "instance")),
        (lambda r: r["instance"].update(R=0), ("problem", "instance", "R")),
        (lambda r: r["instance"].update(R="3"), ("problem", "instance", "R")),
        (
            lambda r: r["shape"]["data_spaces"][0].update(projection=[[["Z"]]]),
            ("problem", "shape", "data_spaces", 0, "projection", 0, 0),
        ),
        (lambda r: r["shape"].update(dimensions="RP"), ("problem", "shape", "dimensions")),
    ],
)
def test_errors_name_the_path(mutate, path) -> None:  # type: ignore[no-untyped-def]
    raw = _problem_of("00-conv1d-1level", "conv1d.prob.yaml")
    mutate(raw)
    with pytest.raises(SpecError) as info:
        parse_problem(raw, "prob.yaml")
    assert info.value.file == "prob.yaml"
    assert info.value.yaml_path == path
