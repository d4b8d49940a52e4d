"""Flattening of v0.4 architectures (compared with timeloopfe's output), v0.3 input, tables."""

from __future__ import annotations

from dataclasses import replace

import pytest
from timeloop_cases import CASES, DATA, input_files

from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.spec.architecture import parse_architecture
from dcoc.accel.spec.documents import load_spec, load_yaml_file, load_yaml_text, merge_documents
from dcoc.accel.spec.inputs import load_model_inputs, model_inputs
from dcoc.accel.spec.tables import parse_art, parse_ert
from dcoc.accel.tables import table_level_name


def _arch_file(case: str):  # type: ignore[no-untyped-def]
    return next(f for f in input_files(case) if "architecture" in load_yaml_file(f))


@pytest.mark.parametrize("case", CASES)
def test_flattening_matches_timeloopfe(case: str) -> None:
    v4 = parse_architecture(load_yaml_file(_arch_file(case))["architecture"])
    flat_file = DATA / case / "timeloopfe-flattened.yaml"
    v3 = parse_architecture(load_yaml_file(flat_file)["architecture"], str(flat_file))
    assert v4.names == v3.names
    for a, b in zip(v4.storage, v3.storage, strict=True):
        assert (a.instances, a.mesh_x, a.mesh_y) == (b.instances, b.mesh_x, b.mesh_y), a.name
        assert (a.word_bits, a.block_size, a.cluster_size, a.depth) == (
            b.word_bits,
            b.block_size,
            b.cluster_size,
            b.depth,
        ), a.name
        assert a.is_dummy == b.is_dummy
        # timeloopfe writes technology -1 on dummies and "SET ME" where none is inherited
        if "technology" in a.attributes and not a.is_dummy:
            assert a.attributes["technology"] == b.attributes["technology"]
    assert v4.arithmetic.instances == v3.arithmetic.instances
    assert (v4.arithmetic.mesh_x, v4.arithmetic.mesh_y) == (
        v3.arithmetic.mesh_x,
        v3.arithmetic.mesh_y,
    )


def test_v03_flattened_architecture_evaluates_like_v04() -> None:
    case = "ex-simba_like"
    files = [f for f in input_files(case) if "architecture" not in load_yaml_file(f)]
    v4 = load_model_inputs(input_files(case))
    v3 = load_model_inputs([DATA / case / "timeloopfe-flattened.yaml", *files])
    a = evaluate(v4.architecture, v4.problem, v4.mapping, tables=v4.tables)
    b = evaluate(v3.architecture, v3.problem, v3.mapping, tables=v3.tables)
    assert a == b and a.valid


def test_parallel_order_nothing_and_inheritance() -> None:
    arch = parse_architecture(load_yaml_file(_arch_file("ex-simba_like"))["architecture"])
    assert arch.names == (
        "PEWeightRegs",
        "inter_reg_mac_spatial",
        "PEAccuBuffer",
        "PEWeightBuffer",
        "inter_distributed_buffers_spatial",
        "PEInputBuffer",
        "inter_PE_spatial",
        "GlobalBuffer",
        "DRAM",
    )
    regs = arch.storage[0]
    assert regs.cluster_size == 64 and regs.block_size == 1 and regs.instances == 256
    assert arch.arithmetic.attributes["technology"] == "45nm"
    assert arch.arithmetic.word_bits == 8  # datawidth inherited from the System container
    assert arch.fanout_xy(arch.level_index("inter_PE_spatial")) == (16, 1)
    assert arch.fanout_xy(arch.level_index("inter_distributed_buffers_spatial")) == (1, 4)


def test_component_with_own_spatial_is_replicated() -> None:
    text = """
architecture:
  version: 0.4
  nodes:
  - !Component {name: DRAM, class: DRAM, attributes: {width: 64, datawidth: 8}}
  - !Component
    name: Buf
    class: SRAM
    spatial: {meshX: 4}
    attributes: {depth: 128, width: 32, datawidth: 8}
  - !Component {name: mac, class: intmac, spatial: {meshY: 2}}
"""
    arch = parse_architecture(load_yaml_text(text)["architecture"])
    assert arch.names == ("inter_mac_spatial", "Buf", "inter_Buf_spatial", "DRAM")
    assert [lv.instances for lv in arch.storage] == [4, 4, 1, 1]
    assert arch.arithmetic.instances == 8
    assert arch.fanout_xy(0) == (1, 2)
    assert arch.storage[1].block_size == 4 and arch.storage[1].size_words == 512
    assert arch.storage[3].size_words is None


def test_ert_max_over_argument_variants_and_names() -> None:
    raw = load_yaml_text("""
ERT:
  version: 0.4
  tables:
  - name: top.PE[1..16].Buffer[1..64]
    actions:
    - {name: read, arguments: {address_delta: 0}, energy: 1.5}
    - {name: read, arguments: {address_delta: 1}, energy: 2.5}
    - {name: write, arguments: {}, energy: 1e-1}
""")
    ert = parse_ert(raw["ERT"])
    assert ert == {"Buffer": {"read": 2.5, "write": 0.1}}
    assert table_level_name("System_top_level.DRAM[1..1]") == "DRAM"


def test_art_is_float32() -> None:
    art = parse_art({"tables": [{"name": "a.B[1..1]", "area": 0.1}]})
    assert art["B"] == pytest.approx(0.1, rel=1e-7) and art["B"] != 0.1


def test_bandwidth_throttling_slows_cycles() -> None:
    inp = load_model_inputs(input_files("01-conv1d-2level-os"))
    mem = inp.architecture.level_index("MainMemory")
    slow = replace(inp.architecture.storage[mem], read_bandwidth=0.25)
    storage = list(inp.architecture.storage)
    storage[mem] = slow
    arch = replace(inp.architecture, storage=tuple(storage))
    fast = evaluate(inp.architecture, inp.problem, inp.mapping, tables=inp.tables)
    rep = evaluate(arch, inp.problem, inp.mapping, tables=inp.tables)
    reads = sum(ds.reads for ds in fast.level("MainMemory").dataspaces)  # 3 + 18 words
    assert reads == 21
    assert rep.cycles == 84 > fast.cycles == 48  # ceil(21 / 0.25)
    assert rep.level("MainMemory").cycles == 84
    assert rep.utilization == pytest.approx(48 / 84)


def test_estimated_tables_when_no_ert() -> None:
    files = [
        f
        for f in input_files("03-conv1d+oc-3level-nobypass")
        if "ERT" not in f.name and "ART" not in f.name
    ]
    doc = load_spec(files)
    assert "ERT" not in doc
    inp = model_inputs(doc)
    rep = evaluate(inp.architecture, inp.problem, inp.mapping, tables=inp.tables)
    assert rep.valid and rep.energy_pj > 0 and rep.area_um2 > 0
    ref = load_model_inputs(input_files("03-conv1d+oc-3level-nobypass"))
    exact = evaluate(ref.architecture, ref.problem, ref.mapping, tables=ref.tables)
    for a, b in zip(rep.levels, exact.levels, strict=True):
        assert [(d.reads, d.fills, d.updates) for d in a.dataspaces] == [
            (d.reads, d.fills, d.updates) for d in b.dataspaces
        ]


def test_merge_refuses_duplicate_keys() -> None:
    with pytest.raises(Exception, match="also given"):
        merge_documents([("a.yaml", {"problem": 1}), ("b.yaml", {"problem": 2})])
