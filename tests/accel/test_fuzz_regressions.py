"""Inputs the fuzzer (benchmarks/fuzz_inputs.py) once turned into a traceback or a hang: each
now gives a SpecError naming the file, or a result, in well under a second."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mapper_cases import MAPPER_DATA
from timeloop_cases import DATA

from dcoc.accel.mapper.inputs import MapperOverrides, load_mapper_inputs
from dcoc.accel.mapper.mapspace import MAX_FACTORIZATIONS
from dcoc.accel.mapper.search import search_mapspace
from dcoc.accel.spec.design_space import load_design_space
from dcoc.accel.spec.inputs import load_model_inputs
from dcoc.errors import SpecError
from dcoc.workloads.catalog import resolve_layers

CASE = DATA / "00-conv1d-1level"
FILES = {
    "arch": CASE / "1level.arch.yaml",
    "prob": CASE / "conv1d.prob.yaml",
    "map": CASE / "conv1d-1level.map.yaml",
}
TABLES = [CASE / "timeloop-model.ERT.yaml", CASE / "timeloop-model.ART.yaml"]
MAPPER_CASE = DATA / "05-mapper-conv1d+oc-3level-null"
REPO = Path(__file__).resolve().parents[2]


def _model_error(tmp_path: Path, which: str, old: str, new: str) -> SpecError:
    files = []
    for name, path in FILES.items():
        text = path.read_text()
        if name == which:
            assert old in text
            text = text.replace(old, new, 1)
        files.append(tmp_path / path.name)
        files[-1].write_text(text)
    with pytest.raises(SpecError) as info:
        load_model_inputs([*files, *TABLES])
    assert info.value.file == str(tmp_path / FILES[which].name)
    return info.value


@pytest.mark.parametrize("value", [".nan", ".inf", "1e400", "99999999999999999999999999"])
def test_depth_must_be_finite_and_exact(tmp_path: Path, value: str) -> None:
    err = _model_error(tmp_path, "arch", "depth: 64", f"depth: {value}")
    assert err.yaml_path[-1] == "depth"


def test_control_character_is_a_yaml_error(tmp_path: Path) -> None:
    err = _model_error(tmp_path, "map", "mapping:", "mapping:\x00")
    assert "not valid YAML" in err.message


def test_problem_bound_beyond_2_31(tmp_path: Path) -> None:
    err = _model_error(tmp_path, "prob", "P: 16", "P: 4294967296")
    assert err.yaml_path == ("problem", "instance", "P") and "2**31" in err.message


def test_v03_attributes_must_be_a_mapping(tmp_path: Path) -> None:
    case = DATA / "ex-simba_like"
    flat = (case / "timeloopfe-flattened.yaml").read_text()
    assert "    attributes:\n" in flat
    (tmp_path / "arch.yaml").write_text(
        flat.replace("    attributes:\n", "    attributes: [1]\n    x:\n", 1)
    )
    others = [
        p
        for p in sorted(case.glob("*.yaml"))
        if p.name not in ("arch.yaml", "timeloopfe-flattened.yaml")
    ]
    with pytest.raises(SpecError) as info:
        load_model_inputs([tmp_path / "arch.yaml", *others])
    assert info.value.file == str(tmp_path / "arch.yaml")


def test_estimator_errors_name_the_template(tmp_path: Path) -> None:
    specs = REPO / "accel_specs"
    (tmp_path / "eyeriss_like.space.yaml").write_text(
        (specs / "eyeriss_like.space.yaml").read_text()
    )
    template = (specs / "eyeriss_like.yaml").read_text()
    assert "technology: " in template
    start = template.index("technology: ")
    end = template.index("\n", start)
    (tmp_path / "eyeriss_like.yaml").write_text(
        template[:start] + "technology: !!binary aGVsbG8=" + template[end:]
    )
    with pytest.raises(SpecError) as info:
        load_design_space(tmp_path / "eyeriss_like.space.yaml")
    assert info.value.file == str(tmp_path / "eyeriss_like.yaml")


def _mapper_files(tmp_path: Path, mapper_text: str) -> list[Path]:
    (tmp_path / "mapper.yaml").write_text(mapper_text)
    return [
        MAPPER_CASE / "3level.arch.yaml",
        MAPPER_CASE / "conv1d+oc.prob.yaml",
        MAPPER_DATA / "null.constraints.yaml",
        tmp_path / "mapper.yaml",
    ]


def test_mapper_metrics_must_be_a_list(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_mapper_inputs(_mapper_files(tmp_path, "mapper:\n  optimization_metrics: 3\n"))
    assert info.value.yaml_path == ("mapper", "optimization_metrics")


def test_huge_permutations_per_visit_stop_at_the_budget(tmp_path: Path) -> None:
    text = "mapper:\n  max_permutations_per_if_visit: 160000000\n  algorithm: random\n"
    inputs = load_mapper_inputs(
        _mapper_files(tmp_path, text), overrides=MapperOverrides(max_evaluations=64)
    )
    started = time.monotonic()
    result = search_mapspace(inputs.space, inputs.evaluator(), inputs.config)
    assert result.evaluations == 64
    assert time.monotonic() - started < 20


def test_architecture_constraint_errors_name_the_architecture(tmp_path: Path) -> None:
    arch = (DATA / "06-eyeriss-vgg02-layer5" / "eyeriss_like.arch.yaml").read_text()
    assert "split: " in arch
    at = arch.index("split: ") + len("split: ")
    end = arch.index("\n", at)
    (tmp_path / "arch.yaml").write_text(arch[:at] + "-1" + arch[end:])
    prob = DATA / "06-eyeriss-vgg02-layer5" / "VGG02_layer5.prob.yaml"
    with pytest.raises(SpecError) as info:
        load_mapper_inputs([tmp_path / "arch.yaml", prob])
    assert info.value.file == str(tmp_path / "arch.yaml")


def test_a_mapspace_too_large_is_refused_before_it_is_built(tmp_path: Path) -> None:
    case = DATA / "ex-simba_like"
    prob = (case / "default_problem.yaml").read_text()
    start = prob.index(" C: ") + len(" C: ")
    end = prob.index("\n", start)
    (tmp_path / "prob.yaml").write_text(prob[:start] + str(2**30) + prob[end:])
    started = time.monotonic()
    with pytest.raises(SpecError, match=f"C=1073741824 has more than {MAX_FACTORIZATIONS:,}"):
        load_mapper_inputs([case / "arch.yaml", tmp_path / "prob.yaml"])
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("entry", ["kernel: 2.5", "stride: [1, x]", "pad: true"])
def test_layer_geometry_must_be_integers(tmp_path: Path, entry: str) -> None:
    key = entry.split(":")[0]
    layer = {"kernel": 3, "stride": 1, "pad": 1}
    fields = ", ".join(f"{k}: {v}" for k, v in layer.items() if k != key)
    (tmp_path / "net.yaml").write_text(
        "name: n\nlayers:\n"
        f"  - {{name: c, op: conv2d, C: 8, K: 8, H: 8, W: 8, {fields}, {entry}}}\n"
    )
    with pytest.raises(SpecError) as info:
        resolve_layers(str(tmp_path / "net.yaml"))
    assert info.value.file == str(tmp_path / "net.yaml")
    assert info.value.yaml_path == ("layers", 0, key)
