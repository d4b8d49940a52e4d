"""A CPU schedule search whose candidates crash the measured process, compute the wrong result,
never end or hang the build: each is recorded as a failure with its reason and the search goes
on to its last trial. The faults are real (the programs of :mod:`hostile_programs`, built and
run by real measurement workers); only which candidates they replace is chosen here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import tvm
from hostile_programs import never_ends, out_of_bounds, slow_build, wrong_result

from dcoc.records import RecordsDB, TargetKind
from dcoc.search.cpu_search import METHODS, CpuMethod, CpuSearchConfig
from dcoc.search.cpu_trials import workload_description
from dcoc.tvm.compute import einsum_spec
from dcoc.tvm.design_space import generate_design_space
from dcoc.tvm.measure import MeasureInput, Measurer, MeasureResult, MeasureSettings
from dcoc.tvm.target import host_target, host_target_config
from dcoc.workloads.catalog import resolve_workload

pytestmark = pytest.mark.slow

WORKLOAD = "matmul:64,64,64"  # the hostile programs' signature
SWAPS = {1: out_of_bounds, 2: wrong_result, 4: never_ends, 6: slow_build}
"""Which measured candidates (in the order the search sends them) a hostile program replaces.
A good candidate precedes ``slow_build`` so that its worker is warm and the 3 s build limit
applies, not the 120 s more a worker's first build gets."""
REASONS = {1: "crash: ", 2: "wrong_result: ", 4: "run_timeout: ", 6: "build_timeout: "}


class SwappingMeasurer(Measurer):
    """A real measurement pool that measures a hostile program in place of chosen candidates."""

    def __init__(self, settings: MeasureSettings) -> None:
        super().__init__(host_target_config(1), settings, workers=1)
        self.sent = 0

    def measure_iter(self, items: Sequence[MeasureInput]) -> Iterator[tuple[int, MeasureResult]]:
        swapped = []
        for item in items:
            func = SWAPS.get(self.sent)
            self.sent += 1
            if func is not None:
                item = MeasureInput.from_schedule(tvm.IRModule({"main": func}), item.spec)
            swapped.append(item)
        return super().measure_iter(swapped)


@pytest.mark.parametrize("method", [CpuMethod.RANDOM, CpuMethod.MCTS])
def test_failed_candidates_are_recorded_with_their_reason_and_the_search_goes_on(
    tmp_path: Path, method: CpuMethod
) -> None:
    settings = MeasureSettings(repeat=2, min_repeat_ms=1, build_timeout_s=3.0, run_timeout_s=3.0)
    config = CpuSearchConfig(
        WORKLOAD, method, trials=10, run_dir=tmp_path, batch_size=2, settings=settings
    )
    spec = einsum_spec(resolve_workload(WORKLOAD).problem)
    space = generate_design_space(spec, host_target(1), seed=1)
    lines: list[str] = []
    with RecordsDB.open(tmp_path) as records, SwappingMeasurer(settings) as measurer:
        records.add_workload(WORKLOAD, workload_description(WORKLOAD, spec))
        METHODS[method](config, space, measurer, records, lines.append)
        rows = sorted(records.iterate(WORKLOAD, method, TargetKind.CPU), key=lambda r: r.id)
        # A point whose decisions TVM rejects is recorded without being sent to a worker.
        measured = [r for r in rows if not (r.error or "").startswith("schedule_error")]
        best = records.best(WORKLOAD, 1, method=method, target=TargetKind.CPU, verified_only=True)
        failed = records.failed_count(WORKLOAD, method)
    assert len(rows) == 10
    assert measurer.sent == len(measured)  # every candidate sent was recorded, once
    for sent, row in enumerate(measured):
        if sent in REASONS:
            assert not row.valid and row.latency_s is None
            assert row.error is not None and row.error.startswith(REASONS[sent]), row.error
        else:
            assert row.valid, row.error
            assert row.latency_s is not None and row.latency_s > 0
    assert failed == len(SWAPS) + len(rows) - len(measured)
    assert best and best[0].valid and best[0].error is None
    assert f", {failed} failed" in lines[-1]
