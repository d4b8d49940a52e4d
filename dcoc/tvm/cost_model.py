"""A learned cost model of CPU schedules, trained online on dcoc's own measurements.

:class:`ScheduleCostModel` is MetaSchedule's XGBoost model (``XGBModel``, per-store features of
the scheduled program, its pack-sum objective) fed with dcoc's measured latencies instead of
MetaSchedule's runner results. It predicts a schedule's *normalized throughput*: the best
latency measured so far divided by the schedule's latency (1.0 is as fast as the best, larger
is predicted faster), the scale MetaSchedule trains on. An unmeasurable schedule (it failed to
build, run or verify) is trained on as MetaSchedule does, a cost of ``1e10`` s.

Predictions are free (no build, no run): the tree search ranks thousands of schedules with it
and measures only the few it chooses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tvm
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.meta_schedule.cost_model.xgb_model import XGBConfig, XGBModel
from tvm.s_tir.schedule import Schedule

from dcoc.tvm.target import defer_tensor_intrinsics

FAILED_COST_S = 1e10
"""The cost MetaSchedule's model trains on for a candidate without a measured latency."""


class ScheduleCostModel:
    """MetaSchedule's XGBoost cost model of one workload's schedules on one target.

    ``seed`` fixes XGBoost's own randomness; ``threads`` is XGBoost's thread count (one on small
    machines, next to the measured program)."""

    def __init__(
        self, mod: tvm.IRModule, target: tvm.target.Target, seed: int = 0, threads: int = 1
    ) -> None:
        defer_tensor_intrinsics()
        self._context = ms.TuneContext(
            mod=mod, target=target, task_name="main", rand_state=seed, num_threads=1
        )
        config = XGBConfig(nthread=threads, seed=seed)
        self._model = XGBModel(
            config=config,
            num_warmup_samples=0,
            verbose_eval=0,
            adaptive_training=False,
        )
        self._args = ArgInfo.from_prim_func(mod["main"])
        self.samples = 0
        """Measurements trained on."""

    def _candidates(self, schedules: Sequence[Schedule]) -> list[ms.MeasureCandidate]:
        return [ms.MeasureCandidate(sch, self._args) for sch in schedules]

    def update(self, schedules: Sequence[Schedule], latencies_s: Sequence[float | None]) -> None:
        """Train on measured schedules; ``None`` is a failed measurement."""
        if not schedules:
            return
        results = [
            ms.runner.RunnerResult(
                run_secs=[FAILED_COST_S if t is None else float(t)], error_msg=None
            )
            for t in latencies_s
        ]
        self._model.update(self._context, self._candidates(schedules), results)
        self.samples += len(schedules)

    def predict(self, schedules: Sequence[Schedule]) -> np.ndarray:
        """``[len(schedules)]`` predicted normalized throughputs (see the module docstring).

        Raises ``RuntimeError`` before the first :meth:`update` (an untrained model would answer
        with random numbers)."""
        if self.samples == 0:
            raise RuntimeError("the cost model has not been trained on any measurement yet")
        if not schedules:
            return np.zeros(0)
        return np.asarray(self._model.predict(self._context, self._candidates(schedules)))
