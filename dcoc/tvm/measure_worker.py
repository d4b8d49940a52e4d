"""The measurement worker: runs in its own process, builds, runs and verifies programs.

Started as ``python -m dcoc.tvm.measure_worker READ_FD WRITE_FD TARGET_JSON SETTINGS_JSON``
(a plain subprocess, so the parent's ``__main__`` is never re-imported). Protocol over two
``multiprocessing.connection.Connection`` pipes. The parent sends ``(mod_json, spec)``; the worker
answers ``("built", build_s)`` or ``("build_error", message)``, then ``("done", payload)`` or
``("run_error", message)`` / ``("wrong_result", payload)``. ``None`` stops the worker. A
crash (segfault) or a hang is detected by the parent, which kills and replaces the worker.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import tvm

from dcoc.tvm.compute import EinsumSpec, outputs_match, random_inputs, reference_output


def _last_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else text}"[:2000]


def serve(
    inbox: Connection, conn: Connection, target_config: dict[str, Any], settings: dict[str, Any]
) -> None:
    """Serve measurement requests until ``None`` arrives or the pipe closes.

    ``TVM_NUM_THREADS`` is set in this process's environment by the parent."""
    target = tvm.target.Target(target_config)
    dev = tvm.cpu(0)
    references: dict[EinsumSpec, tuple[list[np.ndarray], np.ndarray]] = {}
    while True:
        try:
            message = inbox.recv()
        except EOFError:
            return
        if message is None:
            return
        mod_json, spec = message
        # -- build ------------------------------------------------------------------------
        start = time.perf_counter()
        try:
            mod = tvm.ir.load_json(mod_json)
            runtime_mod = tvm.compile(mod, target=target).jit()
            func = runtime_mod["main"]
        except Exception as error:  # any build failure becomes a record
            conn.send(("build_error", _last_line(error), traceback.format_exc()[-4000:]))
            continue
        conn.send(("built", time.perf_counter() - start))
        # -- run and verify ---------------------------------------------------------------
        start = time.perf_counter()
        try:
            if spec not in references:
                inputs = random_inputs(spec, settings["seed"])
                references[spec] = (inputs, reference_output(spec, inputs))
            inputs, expected = references[spec]
            args = [tvm.runtime.tensor(a, dev) for a in inputs]
            out = tvm.runtime.tensor(np.full(spec.output.shape, np.nan, np.float32), dev)
            func(*args, out)
            actual = out.numpy()
            if not outputs_match(actual, expected, settings["rtol"]):
                diff = np.abs(actual.astype(np.float64) - expected)
                max_err = float(np.nanmax(diff)) if np.isfinite(diff).any() else float("inf")
                conn.send(
                    (
                        "wrong_result",
                        {"max_abs_error": max_err, "run_s": time.perf_counter() - start},
                    )
                )
                continue
            for _ in range(settings["warmup_runs"]):
                func(*args, out)
            evaluator = runtime_mod.time_evaluator(
                "main",
                dev,
                number=settings["number"],
                repeat=settings["repeat"],
                min_repeat_ms=settings["min_repeat_ms"],
            )
            costs = [float(c) for c in evaluator(*args, out).results]
        except Exception as error:  # any run failure becomes a record
            conn.send(("run_error", _last_line(error), traceback.format_exc()[-4000:]))
            continue
        max_err = float(np.max(np.abs(actual.astype(np.float64) - expected)))
        conn.send(
            (
                "done",
                {"costs_s": costs, "run_s": time.perf_counter() - start, "max_abs_error": max_err},
            )
        )


if __name__ == "__main__":
    read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
    serve(
        Connection(read_fd, writable=False),
        Connection(write_fd, readable=False),
        json.loads(sys.argv[3]),
        json.loads(sys.argv[4]),
    )
