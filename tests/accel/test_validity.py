"""Invalid mappings give a verdict with reasons, never an exception."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml
from timeloop_cases import DATA, input_files

from dcoc.accel.mapping import Mapping, level_mapping
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.model.nest import lower
from dcoc.accel.report import CostReport
from dcoc.accel.spec.documents import load_spec, load_yaml_text, merge_documents
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs, model_inputs
from dcoc.accel.spec.mapping import mapping_to_yaml, parse_mapping

C00 = "00-conv1d-1level"
C04 = "04-conv1d+oc+ic-3levelspatial-cp"


def _inputs(case: str, **replace_text: tuple[str, str]) -> ModelInputs:
    """Load a case with text substitutions per file name: ``name=(old, new)``."""
    docs = []
    for path in input_files(case):
        text = path.read_text()
        key = path.name.replace(".", "_").replace("-", "_").replace("+", "_")
        if key in replace_text:
            old, new = replace_text[key]
            assert old in text
            text = text.replace(old, new)
        docs.append((str(path), load_yaml_text(text, str(path))))
    return model_inputs(merge_documents(docs))


def _eval(inp: ModelInputs, mapping: Mapping | None = None) -> CostReport:
    return evaluate(
        inp.architecture,
        inp.problem,
        mapping or inp.mapping,
        tables=inp.tables,
        legacy_translation=True,
    )


def test_capacity_overflow() -> None:
    rep = _eval(_inputs(C00, **{"1level_arch_yaml": ("depth: 64", "depth: 16")}))
    assert not rep.valid
    assert any("Buffer" in r and "37" in r and "16" in r for r in rep.reasons)


def test_multiple_buffering_halves_capacity() -> None:
    ok = _eval(_inputs(C00, **{"1level_arch_yaml": ("depth: 64", "depth: 40")}))
    assert ok.valid
    rep = _eval(
        _inputs(
            C00, **{"1level_arch_yaml": ("depth: 64", "depth: 40\n      multiple_buffering: 2")}
        )
    )
    assert not rep.valid
    assert any("multiple_buffering" in r for r in rep.reasons)


def test_fanout_x_exceeded() -> None:
    inp = _inputs(C04, **{"conv1d_oc_ic_3levelspatial_cp_ws_map_yaml": ("K=32 C=2", "K=32 C=1")})
    mapping = inp.mapping
    pe = inp.architecture.level_index("inter_PE_spatial")
    c = inp.problem.dimensions.index("C")
    lm = mapping.levels[pe]
    sx = list(lm.spatial_x)
    sx[c] = 32
    levels = list(mapping.levels)
    levels[pe] = replace(lm, spatial_x=tuple(sx))
    rep = _eval(inp, Mapping(tuple(levels)))
    assert not rep.valid
    assert any("inter_PE_spatial" in r and "X" in r and "32" in r for r in rep.reasons)


def test_mesh_y_exceeded() -> None:
    inp = _inputs(
        C04,
        **{
            "conv1d_oc_ic_3levelspatial_cp_ws_map_yaml": (
                "factors: R=1 P=1 K=1 C=16\n    permutation: PRKC",
                "factors: R=1 P=1 K=1 C=16\n    permutation: PRKC\n    split: 0",
            )
        },
    )
    rep = _eval(inp)
    assert not rep.valid
    assert any("Y" in r and "mesh Y fanout is 1" in r for r in rep.reasons)


def test_factors_do_not_multiply_to_bound() -> None:
    rep = _eval(_inputs(C00, **{"conv1d_1level_map_yaml": ("R=3", "R=2")}))
    assert not rep.valid
    assert any("R" in r and "2" in r and "3" in r for r in rep.reasons)


def test_keep_bypass_conflict() -> None:
    extra = (
        "\n  - target: Buffer\n    type: dataspace\n    keep: [Weights]\n    bypass: [Weights]\n"
    )
    rep = _eval(
        _inputs(C00, **{"conv1d_1level_map_yaml": ("permutation: RP", "permutation: RP" + extra)})
    )
    assert not rep.valid
    assert any("both kept and bypassed" in r for r in rep.reasons)


def test_tensor_kept_nowhere() -> None:
    extra = (
        "\n  - target: Buffer\n    type: bypass\n"
        "    keep: [Inputs, Outputs]\n    bypass: [Weights]\n"
    )
    rep = _eval(
        _inputs(C00, **{"conv1d_1level_map_yaml": ("permutation: RP", "permutation: RP" + extra)})
    )
    assert not rep.valid
    assert any("Weights" in r and "kept at no level" in r for r in rep.reasons)


def test_invalid_report_json_shape() -> None:
    rep = _eval(_inputs(C00, **{"conv1d_1level_map_yaml": ("R=3", "R=2")}))
    assert rep.to_json() == {"valid": False, "reasons": list(rep.reasons)}


def test_programmatic_mapping_equals_parsed() -> None:
    inp = load_model_inputs(input_files(C00))
    built = Mapping((level_mapping(inp.problem, temporal={"R": 3, "P": 16}, permutation="RP"),))
    assert built == inp.mapping
    assert _eval(inp, built) == _eval(inp)


def test_mapping_for_another_problem_is_misuse() -> None:
    inp = load_model_inputs(input_files(C00))
    with pytest.raises(ValueError):
        _eval(inp, Mapping(()))


def test_container_target_goes_to_dummy_level() -> None:
    inp = load_model_inputs(input_files(C04))
    pe = inp.architecture.level_index("inter_PE_spatial")
    c = inp.problem.dimensions.index("C")
    assert inp.mapping.levels[pe].spatial_x[c] == 16
    assert inp.mapping.levels[pe].keep == (False, False, False)
    assert inp.architecture.storage[pe].is_dummy
    assert inp.architecture.storage[pe].instances == 1
    assert inp.architecture.level_index("GlobalBuffer") == pe - 1
    assert inp.architecture.storage[pe - 1].instances == 16


def test_spec_loading_keeps_source_files() -> None:
    doc = load_spec(input_files(C00))
    assert doc.file_of("problem").endswith("conv1d.prob.yaml")
    assert doc.file_of("ERT").endswith("timeloop-model.ERT.yaml")
    assert str(DATA) in doc.file_of("architecture")


@pytest.mark.parametrize(
    "case",
    [
        "04-conv1d+oc+ic-3levelspatial-kp",
        "06-eyeriss-vgg02-layer5",
        "ex-simba_like",
        "03-conv1d+oc-3level-bypass",
    ],
)
def test_mapping_yaml_round_trip(case: str) -> None:
    inp = load_model_inputs(input_files(case))
    text = yaml.safe_dump({"mapping": mapping_to_yaml(inp.mapping, inp.architecture, inp.problem)})
    again = parse_mapping(load_yaml_text(text)["mapping"], inp.architecture, inp.problem)
    n = len(inp.problem.dimensions)
    assert lower(again, n) == lower(inp.mapping, n)
    assert _eval(inp, again) == _eval(inp)
