"""``python -m dcoc.accel evaluate``: JSON contract, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from timeloop_cases import DATA, expected, input_files


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcoc.accel", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_json_valid_case_matches_reference() -> None:
    case = "04-conv1d+oc+ic-3levelspatial-kp"
    proc = _cli("evaluate", *input_files(case), "--legacy-translation", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {
        "valid",
        "cycles",
        "computes",
        "utilization",
        "energy_pj",
        "area_um2",
        "levels",
    }
    exp = expected(case)
    assert out["valid"] is True
    assert out["cycles"] == exp["summary"]["cycles"]
    assert out["computes"] == exp["summary"]["computes"]
    assert out["energy_pj"] == pytest.approx(exp["summary"]["total_energy_pJ"], rel=1e-6)
    names = [lv["name"] for lv in out["levels"]]
    assert names == [lv["name"] for lv in reversed(exp["levels"])]
    for lv, e in zip(out["levels"], reversed(exp["levels"]), strict=True):
        assert set(lv) == {"name", "energy_pj", "dataspaces"}
        assert lv["energy_pj"] == pytest.approx(e["energy_total_pJ"], rel=1e-6, abs=1e-9)
        for name, ds in lv["dataspaces"].items():
            assert set(ds) == {"reads", "fills", "updates", "utilized_instances"}
            if e["per_dataspace"][name]["keep"]:
                for key in ("reads", "fills", "updates"):
                    assert ds[key] == e["per_dataspace"][name][key]


def test_default_is_current_translation() -> None:
    case = "06-eyeriss-vgg02-layer5"
    proc = _cli("evaluate", *input_files(case), "--json")
    assert proc.returncode == 0, proc.stderr
    dram = json.loads(proc.stdout)["levels"][0]
    assert dram["name"] == "DRAM"
    assert dram["dataspaces"]["Inputs"]["reads"] == 475136


def test_text_summary() -> None:
    proc = _cli("evaluate", *input_files("00-conv1d-1level"))
    assert proc.returncode == 0
    assert "Cycles: 48" in proc.stdout and "Buffer" in proc.stdout


def test_invalid_mapping_exit_1(tmp_path: Path) -> None:
    files = input_files("00-conv1d-1level")
    bad_map = tmp_path / "map.yaml"
    bad_map.write_text(
        (DATA / "00-conv1d-1level" / "conv1d-1level.map.yaml").read_text().replace("R=3", "R=2")
    )
    files = [bad_map if f.name.endswith(".map.yaml") else f for f in files]
    proc = _cli("evaluate", *files, "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["valid"] is False and out["reasons"]


def test_malformed_spec_exit_2_one_line(tmp_path: Path) -> None:
    files = input_files("00-conv1d-1level")
    bad = tmp_path / "prob.yaml"
    bad.write_text(
        (DATA / "00-conv1d-1level" / "conv1d.prob.yaml").read_text().replace("P: 16", "P: -4")
    )
    files = [bad if f.name.endswith(".prob.yaml") else f for f in files]
    proc = _cli("evaluate", *files, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(bad) in lines[0] and "problem.instance.P" in lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_file_exit_2() -> None:
    proc = _cli("evaluate", "/nonexistent/arch.yaml", "--json")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "/nonexistent/arch.yaml" in proc.stderr
