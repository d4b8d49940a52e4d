"""MetaSchedule's evolutionary search (XGBoost cost model) as a baseline, a few trials."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from tvm_problems import matmul_problem

from dcoc.tvm.compute import einsum_spec
from dcoc.tvm.measure import MeasureInput, Measurer, MeasureSettings
from dcoc.tvm.metaschedule_baseline import (
    FAILED_RUN_S,
    read_measurements,
    schedule_of,
    tune_metaschedule,
)
from dcoc.tvm.ms_database import TUNING_RECORD_FILE
from dcoc.tvm.target import host_target


@pytest.mark.slow
def test_metaschedule_tunes_and_its_best_verifies(
    tmp_path: Path, measurer: Measurer, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = einsum_spec(matmul_problem(64, 64, 64))
    settings = MeasureSettings(repeat=3, min_repeat_ms=5)
    # A caller's logging must survive tuning: MetaSchedule's tune_tir runs logging.dictConfig,
    # which closes every handler in the process.
    caller_stream = io.StringIO()
    caller_handler = logging.StreamHandler(caller_stream)
    logging.getLogger("dcoc-test-caller").addHandler(caller_handler)
    handlers_before = logging.getLogger("tvm.s_tir.meta_schedule").handlers[:]
    found = tune_metaschedule(
        spec,
        host_target(1),
        trials=4,
        work_dir=tmp_path,
        settings=settings,
        seed=3,
        trials_per_iteration=4,
    )
    assert capsys.readouterr().out == ""  # MetaSchedule adds no console handler
    assert not caller_stream.closed
    assert logging.getLogger("tvm.s_tir.meta_schedule").handlers == handlers_before
    logging.getLogger("dcoc-test-caller").removeHandler(caller_handler)
    assert 1 <= len(found) <= 4
    assert found == read_measurements(tmp_path / TUNING_RECORD_FILE)
    valid = [m for m in found if m.valid]
    assert valid
    for m in valid:
        assert len(m.costs_s) == settings.repeat  # the runner used our repeat count
        assert all(0 < c < FAILED_RUN_S for c in m.costs_s)
    best = min(valid, key=lambda m: m.latency_s or 0.0)
    (result,) = measurer.measure([MeasureInput.from_schedule(schedule_of(spec, best), spec)])
    assert result.valid, result.error
