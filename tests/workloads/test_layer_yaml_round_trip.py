"""Every bundled layer's Problem survives Timeloop YAML export and import unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dcoc.workloads.catalog import list_networks, load_network
from dcoc.workloads.op_spec import spec_from_problem

problem_yaml = pytest.importorskip(
    "dcoc.workloads.problem_yaml", reason="Timeloop YAML import/export is not there yet"
)


@pytest.mark.parametrize("network_name", list_networks())
def test_round_trip_through_timeloop_yaml(network_name: str) -> None:
    for layer in load_network(network_name).layers:
        problem = layer.problem
        text = yaml.safe_dump({"problem": problem_yaml.problem_to_yaml(problem)})
        back = problem_yaml.parse_problem(yaml.safe_load(text)["problem"], "layer.yaml")
        assert back == problem, layer.name
        # The op behind it is still recognisable (unpadded: the padded input size).
        assert spec_from_problem(back).macs == layer.macs


DATA = Path(__file__).resolve().parents[1] / "data"


def test_conv_matches_the_reference_vgg02_layer5_file() -> None:
    from dcoc.workloads.layers import conv2d

    path = DATA / "timeloop" / "06-eyeriss-vgg02-layer5" / "VGG02_layer5.prob.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["problem"]
    reference = problem_yaml.parse_problem(raw, str(path))
    ours = conv2d(1, 128, 256, 56, 56, kernel=3, padding=1)
    assert ours.dimensions == reference.dimensions
    assert ours.data_spaces == reference.data_spaces
    assert dict(ours.bounds) == dict(reference.bounds)
    assert dict(ours.coefficients) == dict(reference.coefficients)
