"""The records database: persistence, ranking, counts, schema version, crash safety."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from dcoc.records import (
    RECORDS_FILE,
    SCHEMA_VERSION,
    CandidateRecord,
    LlmCallRecord,
    RecordsDB,
    RecordsSchemaError,
    SearchPathRecord,
    TargetKind,
)


def cpu(
    trial: int, latency: float | None, method: str = "random", workload: str = "matmul:64,64,64"
) -> CandidateRecord:
    return CandidateRecord(
        target=TargetKind.CPU,
        workload=workload,
        method=method,
        trial=trial,
        design={"sketch": 0, "decisions": [[1, 2, 32], 3]},
        trace=[["GetSBlock"], [[4, [2]]]],
        valid=latency is not None,
        verified=latency is not None,
        error=None if latency is not None else "build_error: boom",
        latency_s=latency,
        build_s=0.5,
        metrics={"costs_s": [latency] if latency else []},
    )


def test_round_trip_and_reopen(tmp_path: Path) -> None:
    with RecordsDB.open(tmp_path) as db:
        db.add_workload("matmul:64,64,64", {"macs": 262144})
        first = db.add(cpu(0, 2e-5))
        db.add(cpu(1, None))
    assert (tmp_path / RECORDS_FILE).exists()
    with RecordsDB.open(tmp_path / RECORDS_FILE) as db:
        assert db.workloads() == ["matmul:64,64,64"]
        assert db.workload("matmul:64,64,64") == {"macs": 262144}
        records = list(db.iterate())
    assert [r.id for r in records] == [first, first + 1]
    r = records[0]
    assert r.target is TargetKind.CPU and r.valid and r.verified
    assert dict(r.design) == {"sketch": 0, "decisions": [[1, 2, 32], 3]}
    assert r.trace == [["GetSBlock"], [[4, [2]]]]
    assert r.latency_s == 2e-5 and r.build_s == 0.5
    assert records[1].error == "build_error: boom" and not records[1].valid


def test_best_k_counts_and_filters(tmp_path: Path) -> None:
    with RecordsDB.open(tmp_path) as db:
        db.add_workload("matmul:64,64,64", {})
        db.add_workload("conv", {})
        for i, lat in enumerate([3e-5, None, 1e-5, 2e-5, None, 1e-5]):
            db.add(cpu(i, lat))
        db.add(cpu(0, 5e-6, method="metaschedule"))
        db.add(cpu(0, 1e-7, workload="conv"))
        best = db.best("matmul:64,64,64", k=3, method="random")
        assert [(b.trial, b.latency_s) for b in best] == [(2, 1e-5), (5, 1e-5), (3, 2e-5)]
        assert db.best("matmul:64,64,64", k=1)[0].method == "metaschedule"
        assert db.count() == 8
        assert db.count("matmul:64,64,64", "random") == 6
        assert db.failed_count("matmul:64,64,64", "random") == 2
        assert db.failed_count(method="metaschedule") == 0
        assert db.count(target="accel") == 0
        assert [r.trial for r in db.iterate("matmul:64,64,64", "random")] == [0, 1, 2, 3, 4, 5]


def test_accelerator_records_rank_by_edp(tmp_path: Path) -> None:
    with RecordsDB.open(tmp_path) as db:
        db.add_workload("resnet18/C5", {})
        for i, (cycles, energy) in enumerate([(100, 5.0), (50, 20.0), (80, 4.0)]):
            db.add(
                CandidateRecord(
                    target="accel",
                    workload="resnet18/C5",
                    method="ga",
                    trial=i,  # type: ignore[arg-type]
                    design={"pe": 16},
                    valid=True,
                    cycles=cycles,
                    energy_pj=energy,
                    area_um2=1e6,
                    edp=cycles * energy,
                )
            )
        assert [r.edp for r in db.best("resnet18/C5", 2, objective="edp")] == [320.0, 500.0]
        assert db.best("resnet18/C5", 1, objective="cycles")[0].cycles == 50


def test_unknown_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="gpu"):
        cpu(0, 1.0).__class__(
            target="gpu",
            workload="w",
            method="m",
            trial=0,  # type: ignore[arg-type]
            design={},
            valid=True,
        )


def test_records_are_committed_immediately(tmp_path: Path) -> None:
    """A process that dies right after ``add`` loses nothing."""
    code = (
        "import os, sys\n"
        "from dcoc.records import RecordsDB, CandidateRecord\n"
        "db = RecordsDB.open(sys.argv[1])\n"
        "db.add_workload('w', {})\n"
        "for i in range(3):\n"
        "    db.add(CandidateRecord(target='cpu', workload='w', method='random', trial=i,\n"
        "                           design={}, valid=True, latency_s=float(i + 1)))\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=False)
    assert proc.returncode == 9
    with RecordsDB.open(tmp_path) as db:
        assert db.count("w") == 3
        assert db.best("w")[0].latency_s == 1.0


def test_wal_and_schema_version(tmp_path: Path) -> None:
    RecordsDB.open(tmp_path).close()
    raw = sqlite3.connect(tmp_path / RECORDS_FILE)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(
        SCHEMA_VERSION
    )
    raw.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    raw.commit()
    raw.close()
    with pytest.raises(RecordsSchemaError, match="schema version 999"):
        RecordsDB.open(tmp_path)


def test_llm_calls_and_search_paths_round_trip(tmp_path: Path) -> None:
    call = LlmCallRecord(
        method="mcts-llm",
        seed=2,
        call=0,
        backend="llama.cpp:m.gguf",
        prompt="pick one",
        answer=None,
        latency_s=0.5,
        verdict="timeout",
        detail="no answer in 0.5 s",
        context={"picks": [], "candidates": [{"number": 1, "text": "a"}]},
    )
    path = SearchPathRecord("mcts-llm", 2, -3.5, {"best": {"hw_action": [1, 2]}}, ({"text": "a"},))
    with RecordsDB.open(tmp_path) as db:
        assert db.add_llm_call(call) == 1
        db.add_search_path(path)
    with RecordsDB.open(tmp_path) as db:
        (got,) = db.llm_calls("mcts-llm")
        (got_path,) = db.search_paths()
        assert db.llm_calls("other") == []
    assert got.id == 1 and {**got.__dict__, "id": None} == {**call.__dict__, "id": None}
    assert got_path.steps == ({"text": "a"},) and got_path.value == -3.5


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    with RecordsDB.open(tmp_path) as db:
        db.add_workload("matmul:64,64,64", {})
        db.add(cpu(0, 1.0))
    raw = sqlite3.connect(tmp_path / RECORDS_FILE)
    raw.executescript(
        "DROP TABLE llm_calls; DROP TABLE search_paths; "
        "UPDATE meta SET value='1' WHERE key='schema_version';"
    )
    raw.close()
    with RecordsDB.open(tmp_path) as db:
        assert db.count() == 1 and db.llm_calls() == [] and db.search_paths() == []
    raw = sqlite3.connect(tmp_path / RECORDS_FILE)
    version = raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    raw.close()
    assert version == str(SCHEMA_VERSION) == "2"


@pytest.mark.parametrize(
    ("cycles", "energy"),
    [(100, float("nan")), (100, float("inf")), (100, -5.0), (0, 5.0), (-3, 5.0)],
)
def test_unusable_numbers_are_recorded_as_failures(
    tmp_path: Path, cycles: int, energy: float
) -> None:
    with RecordsDB.open(tmp_path) as db:
        db.add_workload("resnet18/C5", {})
        for i, (c, e) in enumerate([(cycles, energy), (80, 4.0)]):
            db.add(
                CandidateRecord(
                    target="accel",
                    workload="resnet18/C5",
                    method="ga",
                    trial=i,
                    design={"pe": 16},
                    valid=True,
                    cycles=c,
                    energy_pj=e,
                    area_um2=1e6,
                    edp=c * e,
                )
            )
        assert [r.edp for r in db.best("resnet18/C5", 5, objective="edp")] == [320.0]
        bad = next(r for r in db.iterate("resnet18/C5") if r.trial == 0)
        assert not bad.valid and bad.error is not None and "unusable result" in bad.error
        assert db.count("resnet18/C5") == 2  # kept, as a failure


@pytest.mark.parametrize("latency", [0.0, -1e-3, float("nan"), float("inf")])
def test_unusable_latency_is_a_failure(latency: float) -> None:
    record = cpu(0, latency)
    assert not record.valid and record.error is not None and "latency_s" in record.error


def test_a_summary_or_report_with_unusable_numbers_is_invalid() -> None:
    from dcoc.accel.report import CostReport, CostSummary

    assert not CostSummary(True, 10, float("nan"), 1.0, 0.5).valid
    assert not CostSummary(True, 0, 1.0, 1.0, 0.5).valid
    assert CostSummary(True, 10, 0.0, 0.0, 0.5).valid  # empty energy tables: zero is a number
    report = CostReport(valid=True, cycles=10, energy_pj=-1.0, area_um2=1.0)
    assert not report.valid and "energy_pj=-1.0" in report.reasons[-1]


def test_two_processes_writing_one_database_lose_nothing(tmp_path: Path) -> None:
    """Two writers at once, one committing per record and one per batch of 25 (as a search
    does): every record of both is stored once and the file passes SQLite's integrity check."""
    code = (
        "import sys\n"
        "from dcoc.records import RecordsDB, CandidateRecord\n"
        "method, per_batch = sys.argv[2], int(sys.argv[3])\n"
        "with RecordsDB.open(sys.argv[1]) as db:\n"
        "    db.add_workload('w', {})\n"
        "    for i in range(300):\n"
        "        db.add(CandidateRecord(target='cpu', workload='w', method=method, trial=i,\n"
        "                               design={'i': i}, valid=True, latency_s=float(i + 1)),\n"
        "               commit=per_batch == 1)\n"
        "        if per_batch > 1 and (i + 1) % per_batch == 0:\n"
        "            db.commit()\n"
    )
    writers = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), method, per_batch])
        for method, per_batch in (("one", "1"), ("batched", "25"))
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    with RecordsDB.open(tmp_path) as db:
        for method in ("one", "batched"):
            trials = sorted(r.trial for r in db.iterate("w", method))
            assert trials == list(range(300))
    with sqlite3.connect(tmp_path / RECORDS_FILE) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
