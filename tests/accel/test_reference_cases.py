"""dcoc's model against 15 Timeloop + Accelergy reference runs: every count exactly, energies to
1e-6 relative, cycles, utilization and area (tests/data/timeloop, exercises @ 2ffec69)."""

from __future__ import annotations

import pytest
from timeloop_cases import CASES, expected, input_files

from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostReport
from dcoc.accel.spec.inputs import load_model_inputs

REL = 1e-6
COUNTS = ("reads", "fills", "updates", "utilized_capacity", "partition_size")


def _run(case: str, legacy: bool) -> CostReport:
    inputs = load_model_inputs(input_files(case))
    return evaluate(
        inputs.architecture,
        inputs.problem,
        inputs.mapping,
        tables=inputs.tables,
        legacy_translation=legacy,
    )


def test_all_fifteen_cases_present() -> None:
    assert len(CASES) == 15


@pytest.mark.parametrize("case", CASES)
def test_reference_case_legacy_translation(case: str) -> None:
    exp = expected(case)
    rep = _run(case, legacy=True)
    assert rep.valid, rep.reasons
    s = exp["summary"]
    assert rep.cycles == s["cycles"]
    assert rep.computes == s["computes"]
    assert rep.utilization == pytest.approx(s["utilization"], rel=1e-12)
    assert rep.energy_pj == pytest.approx(s["total_energy_pJ"], rel=REL)
    assert rep.area_um2 == pytest.approx(s["area_um2_total_from_ART"], rel=REL)
    assert rep.mac_energy_pj == pytest.approx(exp["mac"]["energy_total_pJ"], rel=REL)
    assert rep.mac_area_um2 == pytest.approx(exp["mac"]["area_um2_total"], rel=REL)
    assert rep.utilized_macs == exp["mac"]["utilized_instances"]
    assert [lv.name for lv in rep.levels] == [lv["name"] for lv in exp["levels"]]
    for lv in exp["levels"]:
        got = rep.level(lv["name"])
        assert got.instances == lv["instances"]
        assert got.energy_pj == pytest.approx(lv["energy_total_pJ"], rel=REL, abs=1e-9)
        assert got.leakage_pj == pytest.approx(lv["leakage_total_pJ"], rel=REL, abs=1e-9)
        assert got.area_um2 == pytest.approx(lv["area_um2_total"], rel=REL, abs=1e-9)
        for ds in got.dataspaces:
            e = lv["per_dataspace"][ds.name]
            assert ds.kept == bool(e["keep"]), (lv["name"], ds.name)
            for key in COUNTS:
                assert getattr(ds, key) == e[key], (lv["name"], ds.name, key)
            assert ds.utilized_instances == e["utilized_instances"], (lv["name"], ds.name)
            assert ds.energy_pj == pytest.approx(e["energy_total_pJ"], rel=REL, abs=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_reference_case_current_translation(case: str) -> None:
    """Current Timeloop (after a12fff5) differs only in the counts listed per case."""
    exp = expected(case)
    legacy = _run(case, legacy=True)
    current = _run(case, legacy=False)
    assert current.cycles == legacy.cycles
    differences = exp["current_translation_differences"]
    for lv_legacy, lv_current in zip(legacy.levels, current.levels, strict=True):
        for a, b in zip(lv_legacy.dataspaces, lv_current.dataspaces, strict=True):
            for key in COUNTS:
                want = (
                    differences.get(lv_current.name, {}).get(b.name, {}).get(key, getattr(a, key))
                )
                assert getattr(b, key) == want, (lv_current.name, b.name, key)
    if not differences:
        assert current.energy_pj == legacy.energy_pj
    else:
        assert current.energy_pj < legacy.energy_pj


def test_current_rule_numbers_from_expected_md() -> None:
    """The two numbers EXPECTED.md gives for current Timeloop master."""
    rep06 = _run("06-eyeriss-vgg02-layer5", legacy=False)
    assert rep06.level("DRAM").dataspaces[1].reads == 475136
    assert rep06.level("shared_glb").dataspaces[1].fills == 475136
    rep_os = _run("ex-simple_output_stationary", legacy=False)
    assert rep_os.level("DRAM").dataspaces[1].reads == 152550
    assert rep_os.level("shared_glb").dataspaces[1].fills == 152550
