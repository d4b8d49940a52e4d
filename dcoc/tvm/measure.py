"""Build, run and verify scheduled programs out of process, with timeouts.

Each worker is a subprocess (:mod:`dcoc.tvm.measure_worker`) that imports TVM once
and serves many candidates. A candidate travels as ``tvm.ir.save_json`` of its scheduled
module plus the :class:`~dcoc.tvm.compute.EinsumSpec` it must compute. The parent waits
``build_timeout_s`` for the build and ``run_timeout_s`` for the run; a worker that exceeds
either, or dies (segfault, abort), is killed and replaced, and the candidate becomes a
:class:`MeasureResult` with its error. Measuring never raises for a bad candidate.

Every run is checked against numpy (float64 reference, ``rtol`` relative tolerance) before it
is timed. Latency is the median of ``repeat`` measurements, each the mean of ``number`` runs
(stretched to ``min_repeat_ms``), after ``warmup_runs`` untimed runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import Any

import tvm
from tvm.s_tir.schedule import Schedule

from dcoc.objective import unusable_numbers
from dcoc.tvm.compute import EinsumSpec

logger = logging.getLogger(__name__)


class ErrorKind(StrEnum):
    SCHEDULE_ERROR = "schedule_error"  # decisions rejected before building
    BUILD_ERROR = "build_error"
    BUILD_TIMEOUT = "build_timeout"
    RUN_ERROR = "run_error"
    RUN_TIMEOUT = "run_timeout"
    CRASH = "crash"  # the worker process died
    WRONG_RESULT = "wrong_result"
    BAD_TIMING = "bad_timing"  # a cost that is NaN, infinite, zero or negative


@dataclass(frozen=True)
class MeasureSettings:
    """How candidates are measured (shared with the MetaSchedule baseline's runner)."""

    number: int = 1
    repeat: int = 5
    min_repeat_ms: int = 20
    warmup_runs: int = 1
    build_timeout_s: float = 60.0
    run_timeout_s: float = 30.0
    rtol: float = 1e-4
    num_threads: int = 1  # TVM_NUM_THREADS of the program being measured
    seed: int = 0  # of the random inputs


@dataclass(frozen=True)
class MeasureInput:
    """A scheduled module, serialized, and the computation it must perform."""

    mod_json: str
    spec: EinsumSpec

    @staticmethod
    def from_schedule(sch: Schedule | tvm.IRModule, spec: EinsumSpec) -> MeasureInput:
        mod = sch.mod if isinstance(sch, Schedule) else sch
        return MeasureInput(tvm.ir.save_json(mod), spec)


@dataclass(frozen=True)
class MeasureResult:
    """The outcome of one candidate. ``latency_s`` is ``None`` unless it is valid."""

    latency_s: float | None = None
    costs_s: tuple[float, ...] = ()
    build_s: float | None = None
    run_s: float | None = None
    error_kind: ErrorKind | None = None
    error: str | None = None
    max_abs_error: float | None = None
    details: str | None = field(default=None, repr=False)

    @property
    def valid(self) -> bool:
        return self.error_kind is None and self.latency_s is not None


class _Worker:
    """One worker process and the pipes to it; restarted after a crash or a timeout."""

    def __init__(self, target_config: dict[str, Any], settings: MeasureSettings) -> None:
        self._target_config = target_config
        self._settings = settings
        self._process: subprocess.Popen[bytes] | None = None
        self._outbox: Connection | None = None
        self._conn: Connection | None = None
        self._stderr: Any = None
        self._warm = False  # has this process built something (TVM imported)?

    def _start(self) -> None:
        to_child_r, to_child_w = os.pipe()
        to_parent_r, to_parent_w = os.pipe()
        env = dict(os.environ, TVM_NUM_THREADS=str(self._settings.num_threads), OMP_NUM_THREADS="1")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dcoc.tvm.measure_worker",
                    str(to_child_r),
                    str(to_parent_w),
                    json.dumps(self._target_config),
                    json.dumps(asdict(self._settings)),
                ],
                pass_fds=(to_child_r, to_parent_w),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=env,
            )
        finally:
            os.close(to_child_r)
            os.close(to_parent_w)
        self._outbox = Connection(to_child_w, readable=False)
        self._conn = Connection(to_parent_r, writable=False)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 1500))
        return self._stderr.read().decode(errors="replace").strip()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
        for c in (self._outbox, self._conn):
            if c is not None:
                c.close()
        if self._stderr is not None:
            self._stderr.close()
        self._process, self._outbox, self._conn, self._stderr = None, None, None, None
        self._warm = False

    def close(self) -> None:
        if self._outbox is not None and self._process is not None:
            try:
                self._outbox.send(None)
                self._process.wait(timeout=5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                pass
        self.kill()

    def _receive(self, timeout_s: float) -> tuple[Any, ...] | None:
        """The next message, or ``None`` on timeout; raises ``EOFError`` if the worker died."""
        assert self._conn is not None
        if not self._conn.poll(timeout_s):
            if self._process is not None and self._process.poll() is not None:
                raise EOFError
            return None
        return self._conn.recv()

    def measure(self, item: MeasureInput) -> MeasureResult:
        s = self._settings
        try:
            if self._process is None:
                self._start()
            assert self._outbox is not None
            self._outbox.send((item.mod_json, item.spec))
            # The first build also waits for the worker to start and import TVM.
            message = self._receive(s.build_timeout_s if self._warm else s.build_timeout_s + 120.0)
            if message is None:
                self.kill()
                return MeasureResult(
                    error_kind=ErrorKind.BUILD_TIMEOUT,
                    error=f"build exceeded {s.build_timeout_s} s; killed",
                )
            if message[0] == "build_error":
                return MeasureResult(
                    error_kind=ErrorKind.BUILD_ERROR, error=message[1], details=message[2]
                )
            build_s = float(message[1])
            self._warm = True
            message = self._receive(s.run_timeout_s)
            if message is None:
                self.kill()
                return MeasureResult(
                    build_s=build_s,
                    error_kind=ErrorKind.RUN_TIMEOUT,
                    error=f"run exceeded {s.run_timeout_s} s; killed",
                )
        except (EOFError, OSError) as error:  # OSError: broken pipe, failed start
            code = self._process.poll() if self._process is not None else None
            if code is None and self._process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = self._process.wait(timeout=2)
            tail = self._stderr_tail()
            self.kill()
            return MeasureResult(
                error_kind=ErrorKind.CRASH,
                error=f"worker process died (exit code {code}): {error!r}",
                details=tail or None,
            )
        kind, payload = message[0], message[1]
        if kind == "run_error":
            return MeasureResult(
                build_s=build_s, error_kind=ErrorKind.RUN_ERROR, error=payload, details=message[2]
            )
        if kind == "wrong_result":
            return MeasureResult(
                build_s=build_s,
                run_s=payload["run_s"],
                error_kind=ErrorKind.WRONG_RESULT,
                error=f"output differs from numpy (max abs error {payload['max_abs_error']:.3g})",
                max_abs_error=payload["max_abs_error"],
            )
        costs = tuple(payload["costs_s"])
        unusable = unusable_numbers({f"costs_s[{i}]": c for i, c in enumerate(costs)})
        if unusable is not None or not costs:
            return MeasureResult(
                build_s=build_s,
                run_s=payload["run_s"],
                error_kind=ErrorKind.BAD_TIMING,
                error=unusable or "the runner returned no timing",
            )
        return MeasureResult(
            latency_s=statistics.median(costs),
            costs_s=costs,
            build_s=build_s,
            run_s=payload["run_s"],
            max_abs_error=payload["max_abs_error"],
        )


class Measurer:
    """A bounded pool of measurement workers. Use as a context manager (or call ``close``)."""

    def __init__(
        self,
        target_config: dict[str, Any],
        settings: MeasureSettings | None = None,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.settings = settings or MeasureSettings()
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all = [_Worker(target_config, self.settings) for _ in range(workers)]
        for w in self._all:
            self._idle.put(w)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dcoc-measure")

    def _run_one(self, item: MeasureInput) -> MeasureResult:
        worker = self._idle.get()
        try:
            return worker.measure(item)
        finally:
            self._idle.put(worker)

    def measure_iter(self, items: Sequence[MeasureInput]) -> Iterator[tuple[int, MeasureResult]]:
        """Yield ``(index, result)`` as each candidate finishes."""
        futures = {self._executor.submit(self._run_one, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def measure(self, items: Sequence[MeasureInput]) -> list[MeasureResult]:
        results: list[MeasureResult | None] = [None] * len(items)
        for i, result in self.measure_iter(items):
            results[i] = result
        return [r for r in results if r is not None]

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for w in self._all:
            w.close()

    def __enter__(self) -> Measurer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
