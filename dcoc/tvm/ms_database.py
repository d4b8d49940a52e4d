"""dcoc's TVM records as a MetaSchedule JSON database, and compiling from one.

:func:`export_metaschedule_database` writes ``database_workload.json`` and
``database_tuning_record.json`` (MetaSchedule's ``JSONDatabase`` format) holding every valid
CPU record of one workload; ``tvm.s_tir.meta_schedule.tir_integration.compile_tir`` (or
:func:`best_schedule_from_database`) then returns the fastest record's schedule.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.schedule import Schedule

from dcoc.records import RecordsDB, TargetKind
from dcoc.tvm.compute import EinsumSpec, einsum_module
from dcoc.tvm.traces import schedule_from_trace_json

logger = logging.getLogger(__name__)

WORKLOAD_FILE = "database_workload.json"
TUNING_RECORD_FILE = "database_tuning_record.json"


def export_metaschedule_database(
    records: RecordsDB,
    workload: str,
    spec: EinsumSpec,
    target: tvm.target.Target,
    out_dir: str | Path,
) -> ms.database.JSONDatabase:
    """Write the valid CPU records of ``workload`` to ``out_dir`` (files replaced).

    ``spec`` must be the workload's computation: the stored traces are replayed on its
    module, and a trace that does not replay is skipped with a warning."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in (WORKLOAD_FILE, TUNING_RECORD_FILE):
        (out / name).unlink(missing_ok=True)
    database = ms.database.JSONDatabase(
        path_workload=str(out / WORKLOAD_FILE),
        path_tuning_record=str(out / TUNING_RECORD_FILE),
        allow_missing=True,
    )
    mod = einsum_module(spec)
    entry = database.commit_workload(mod)
    args_info = ms.arg_info.ArgInfo.from_prim_func(mod["main"])
    exported = 0
    for record in records.iterate(workload=workload, target=TargetKind.CPU):
        if not record.valid or record.trace is None or record.latency_s is None:
            continue
        try:
            sch = schedule_from_trace_json(mod, record.trace)
        except Exception as error:  # a foreign trace must not stop the export
            logger.warning("record %s: trace does not replay (%s); skipped", record.id, error)
            continue
        database.commit_tuning_record(
            ms.database.TuningRecord(
                sch.trace,
                entry,
                run_secs=[float(record.latency_s)],
                target=target,
                args_info=args_info,
            )
        )
        exported += 1
    logger.info("exported %d records of %s to %s", exported, workload, out)
    return database


def best_schedule_from_database(
    database_dir: str | Path, spec: EinsumSpec, target: tvm.target.Target
) -> Schedule | None:
    """The schedule MetaSchedule's ``compile_tir`` picks from a JSON database directory."""
    d = Path(database_dir)
    database = ms.database.JSONDatabase(
        path_workload=str(d / WORKLOAD_FILE),
        path_tuning_record=str(d / TUNING_RECORD_FILE),
        allow_missing=False,
    )
    return ms.tir_integration.compile_tir(database, einsum_module(spec), target)
