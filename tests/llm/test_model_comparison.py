"""benchmarks/llm_models.py's table: the counts it reads from a run's records (kept, fallbacks
by reason, answers that change the heuristic's order, pick ranks, random picks), and its rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dcoc.records import LlmCallRecord, RecordsDB

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "llm_models.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llm_models_bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _call(call: int, verdict: str, picks: list[int], latency_s: float) -> LlmCallRecord:
    froms = ["heuristic"] * 4 + ["random"] * 2
    context: dict[str, Any] = {
        "candidates": [{"number": i + 1, "from": f} for i, f in enumerate(froms)],
        "picks": picks if verdict == "kept" else [],
    }
    return LlmCallRecord(
        method="mcts-llm",
        seed=0,
        call=call,
        backend="llama.cpp:test.gguf",
        prompt="question",
        answer=None if verdict == "timeout" else f'{{"picks": {picks}}}',
        latency_s=latency_s,
        verdict=verdict,
        context=context,
    )


def test_the_table_counts_what_the_records_hold(bench: ModuleType, tmp_path: Path) -> None:
    calls = [
        _call(0, "kept", [1, 2, 3, 4], 1.0),  # the heuristic's own order
        _call(1, "kept", [1, 2], 2.0),  # a prefix of it: the same proposal
        _call(2, "kept", [2, 1, 5], 3.0),  # reordered, and a random move
        _call(3, "illegal", [], 4.0),
        _call(4, "timeout", [], 10.0),
        _call(5, "illegal", [], 5.0),
    ]
    with RecordsDB.open(tmp_path) as db:
        for c in calls:
            db.add_llm_call(c)
        stored = db.llm_calls("mcts-llm")
    s = bench.summarize_calls(stored)
    assert (s.calls, s.kept, s.valid) == (6, 3, 0.5)
    assert dict(s.fallbacks) == {"illegal": 2, "timeout": 1}
    assert s.differs == 1
    assert s.first_pick_ranks == (1, 1, 2)
    assert s.pick_ranks == (1, 2, 3, 4, 1, 2, 2, 1, 5)
    assert s.random_picks == 1

    row = bench.Row("m", (1e16, 4e16), 12.0, s)
    cells = dict(zip(bench.HEADER, bench.table_cells(row), strict=True))
    assert cells["fallbacks"] == "illegal 2, timeout 1" and cells["valid"] == "50%"
    assert cells["s/call med"] == "3.50" and cells["s/call mean"] == "4.17"
    assert cells["differs"] == "1/3" and cells["random"] == "1/9"
    assert cells["pick rank 1st/all"] == "1.33/2.33"
    assert cells["best EDP (gmean)"] == "2.000e+16"

    reference = bench.Row("heuristic", (1e16, None), 1.0)
    cells = dict(zip(bench.HEADER, bench.table_cells(reference), strict=True))
    assert cells["calls"] == "-" and cells["best EDP (gmean)"] == "none"
    table = bench.format_table([reference, row]).splitlines()
    assert len(table) == 4 and table[1].startswith("|--") and table[3].startswith("| m ")
