"""MetaSchedule's own search as a baseline: evolutionary search guided by XGBoost.

:func:`tune_metaschedule` runs MetaSchedule's tuning as ``tune_tir`` does
(``strategy="evolutionary"``, ``cost_model="xgb"``, gradient task scheduler) on the same
computation, the same sketches (the space generator of :mod:`dcoc.tvm.design_space`), the same
target and the same measurement settings as dcoc's own searches (``LocalRunner`` with the same
``number``/``repeat``/``min_repeat_ms``, its program run with the same ``TVM_NUM_THREADS``). It
returns every measured candidate, read back from MetaSchedule's JSON database in the order it
was measured. Failed candidates have no latency (MetaSchedule stores them with a run time of
1e9 s).

MetaSchedule does not check results; the caller re-measures its best schedules with
:class:`~dcoc.tvm.measure.Measurer`, which does.

Logging: ``tune_tir`` would build its task loggers with ``logging.config.dictConfig``, which
closes every handler of the process (``logging._clearExistingHandlers``; e.g. absl's
``PythonHandler`` then closes the stream it was created with) and leaves a console handler
bound to the then-current ``sys.stdout`` on ``tvm.s_tir.meta_schedule``. So the task is built
here as ``tune_tir`` builds it, with a task logger of this module that writes MetaSchedule's
per-task log to ``<work_dir>/logs/`` only while the call runs. MetaSchedule's other loggers
(task scheduler, builder, runner) are left to the caller's logging configuration.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.utils import fork_seed

from dcoc.tvm.compute import EinsumSpec, einsum_module
from dcoc.tvm.design_space import cpu_space_generator
from dcoc.tvm.measure import MeasureSettings
from dcoc.tvm.ms_database import TUNING_RECORD_FILE
from dcoc.tvm.target import defer_tensor_intrinsics
from dcoc.tvm.traces import schedule_from_trace_json

logger = logging.getLogger(__name__)

FAILED_RUN_S = 1e9  # MetaSchedule's run time for a candidate that failed


@dataclass(frozen=True)
class MetaScheduleMeasurement:
    """One candidate measured by MetaSchedule's builder and runner."""

    trace_json: Any
    costs_s: tuple[float, ...]  # empty if it failed

    @property
    def valid(self) -> bool:
        return bool(self.costs_s)

    @property
    def latency_s(self) -> float | None:
        return statistics.median(self.costs_s) if self.costs_s else None


def build_cpu_module(
    mod: tvm.IRModule, target: tvm.target.Target, _params: dict[str, Any] | None
) -> tvm.runtime.Module:
    """MetaSchedule's ``default_build`` without importing every GPU tensor intrinsic (which
    its builder workers, restarted for every batch, would otherwise pay a minute for)."""
    from tvm.driver import build
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock

    return build(RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod), target=target)


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the runner's worker processes, restore afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _task_logger(log_dir: Path, task_name: str) -> Iterator[logging.Logger]:
    """A logger for one MetaSchedule task that writes (at DEBUG, as MetaSchedule's own task
    loggers do) to ``log_dir/<task_name>.log`` and nowhere else, for the duration of the block.

    Its handler is removed and closed and its level and propagation restored on exit, so no
    logging state of the process outlives the call."""
    log_dir.mkdir(parents=True, exist_ok=True)
    task_logger = logging.getLogger(f"{__name__}.task.{task_name}")
    handler = logging.FileHandler(log_dir / f"{task_name}.log", mode="a")
    handler.setFormatter(
        logging.Formatter("%(asctime)s [%(levelname)s] %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    saved_level, saved_propagate = task_logger.level, task_logger.propagate
    task_logger.addHandler(handler)
    task_logger.setLevel(logging.DEBUG)
    task_logger.propagate = False
    try:
        yield task_logger
    finally:
        task_logger.removeHandler(handler)
        handler.close()
        task_logger.setLevel(saved_level)
        task_logger.propagate = saved_propagate


def tune_metaschedule(
    spec: EinsumSpec,
    target: tvm.target.Target,
    trials: int,
    work_dir: str | Path,
    settings: MeasureSettings | None = None,
    seed: int = 0,
    trials_per_iteration: int = 16,
    builder_workers: int = 1,
) -> list[MetaScheduleMeasurement]:
    """Run MetaSchedule's evolutionary search for ``trials`` measurements; return them."""
    settings = settings or MeasureSettings()
    defer_tensor_intrinsics()
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    mod = einsum_module(spec)
    builder = ms.builder.LocalBuilder(
        max_workers=builder_workers, timeout_sec=settings.build_timeout_s, f_build=build_cpu_module
    )
    with (
        _environment(TVM_NUM_THREADS=str(settings.num_threads), OMP_NUM_THREADS="1"),
        _task_logger(work / "logs", "main") as task_logger,
    ):
        runner = ms.runner.LocalRunner(
            timeout_sec=settings.run_timeout_s,
            evaluator_config=ms.runner.EvaluatorConfig(
                number=settings.number,
                repeat=settings.repeat,
                min_repeat_ms=settings.min_repeat_ms,
                enable_cpu_cache_flush=False,
            ),
        )
        (task_seed,) = fork_seed(seed, n=1)
        task = ms.TuneContext(
            mod=mod,
            target=target,
            space_generator=cpu_space_generator(),
            search_strategy="evolutionary",
            task_name="main",
            rand_state=task_seed,
            num_threads=builder_workers,
            logger=task_logger,
        ).clone()
        database = ms.tune.tune_tasks(
            tasks=[task],
            task_weights=[1.0],
            work_dir=str(work),
            max_trials_global=trials,
            num_trials_per_iter=min(trials_per_iteration, trials),
            builder=builder,
            runner=runner,
            database="json",
            cost_model="xgb",
        )
    del database
    out = read_measurements(work / TUNING_RECORD_FILE)
    logger.info(
        "MetaSchedule measured %d candidates (%d failed)", len(out), sum(not m.valid for m in out)
    )
    return out


def read_measurements(path: Path) -> list[MetaScheduleMeasurement]:
    """The tuning records of a MetaSchedule JSON database file, in the order measured.

    Each line is ``[workload index, [trace, run_secs, target, args_info]]``."""
    out: list[MetaScheduleMeasurement] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        _, (trace_json, run_secs, *_rest) = json.loads(line)
        secs = tuple(float(x) for x in (run_secs or ()))
        failed = not secs or any(x >= FAILED_RUN_S for x in secs)
        out.append(MetaScheduleMeasurement(trace_json, () if failed else secs))
    return out


def schedule_of(spec: EinsumSpec, measurement: MetaScheduleMeasurement) -> tvm.IRModule:
    """The scheduled module of a MetaSchedule measurement (its trace replayed)."""
    return schedule_from_trace_json(einsum_module(spec), measurement.trace_json).mod
