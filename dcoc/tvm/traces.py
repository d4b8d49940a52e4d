"""TVM schedule traces as plain JSON (for the records database) and back."""

from __future__ import annotations

from typing import Any

import tvm
from tvm.s_tir.schedule import Schedule, Trace


def plain_json(value: Any) -> Any:
    """``Trace.as_json`` output with TVM scalars (``IntImm``, ``FloatImm``) made Python."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tvm.tirx.IntImm, tvm.tirx.FloatImm)):
        return value.value
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): plain_json(v) for k, v in value.items()}
    return [plain_json(v) for v in value]


def trace_to_json(trace: Trace) -> Any:
    """The whole trace (postprocessing included, as MetaSchedule stores it), JSON-able."""
    return plain_json(trace.as_json(remove_postproc=False))


def schedule_from_trace_json(mod: tvm.IRModule, trace_json: Any) -> Schedule:
    """Replay a stored trace on ``mod`` (decisions exactly as stored)."""
    sch = Schedule(mod, debug_mask="none")
    Trace.apply_json_to_schedule(trace_json, sch)
    return sch
