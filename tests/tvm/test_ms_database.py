"""Export of measured records to MetaSchedule's JSON database, compiled back by MetaSchedule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tvm
from tvm.s_tir import meta_schedule as ms
from tvm_problems import matmul_problem

from dcoc.records import CandidateRecord, RecordsDB, TargetKind
from dcoc.tvm.compute import einsum_module, einsum_spec
from dcoc.tvm.design_space import generate_design_space
from dcoc.tvm.measure import MeasureInput, Measurer
from dcoc.tvm.ms_database import (
    TUNING_RECORD_FILE,
    WORKLOAD_FILE,
    best_schedule_from_database,
    export_metaschedule_database,
)
from dcoc.tvm.target import host_target
from dcoc.tvm.traces import schedule_from_trace_json, trace_to_json

KEY = "matmul:64,64,64"


def test_export_round_trip_picks_the_best_record(tmp_path: Path, measurer: Measurer) -> None:
    spec = einsum_spec(matmul_problem(64, 64, 64))
    target = host_target(1)
    space = generate_design_space(spec, target)
    rng = np.random.default_rng(11)
    schedules = [space.apply(space.random_point(rng)) for _ in range(3)]
    results = measurer.measure([MeasureInput.from_schedule(s, spec) for s in schedules])
    with RecordsDB.open(tmp_path / "run") as db:
        db.add_workload(KEY, {})
        for i, (sch, r) in enumerate(zip(schedules, results, strict=True)):
            assert r.valid, r.error
            db.add(
                CandidateRecord(
                    target=TargetKind.CPU,
                    workload=KEY,
                    method="random",
                    trial=i,
                    design={},
                    trace=trace_to_json(sch.trace),
                    valid=True,
                    verified=True,
                    latency_s=r.latency_s,
                )
            )
        db.add(
            CandidateRecord(
                target=TargetKind.CPU,
                workload=KEY,
                method="random",
                trial=3,
                design={},
                trace=None,
                valid=False,
                error="crash",
            )
        )
        (best,) = db.best(KEY, 1)
        database = export_metaschedule_database(db, KEY, spec, target, tmp_path / "msdb")
    assert (tmp_path / "msdb" / WORKLOAD_FILE).exists()
    lines = (tmp_path / "msdb" / TUNING_RECORD_FILE).read_text().splitlines()
    assert len(lines) == 3  # the failed record is not exported
    assert sorted(json.loads(line)[1][1][0] for line in lines) == sorted(
        r.latency_s for r in results
    )
    assert len(database) == 3

    # MetaSchedule's own compile_tir, on a fresh JSONDatabase read from disk
    fresh = ms.database.JSONDatabase(work_dir=str(tmp_path / "msdb"), allow_missing=False)
    chosen = ms.tir_integration.compile_tir(fresh, einsum_module(spec), target)
    expected = schedule_from_trace_json(einsum_module(spec), best.trace)
    tvm.ir.assert_structural_equal(chosen.mod, expected.mod)
    again = best_schedule_from_database(tmp_path / "msdb", spec, target)
    assert again is not None
    tvm.ir.assert_structural_equal(again.mod, expected.mod)
