"""The CPU schedules' LLM proposer against a real local server that answers badly: each bad
answer is a counted fallback with its reason in the records, and the search measures its whole
trial budget with the heuristic's proposals."""

from __future__ import annotations

from pathlib import Path

import pytest
from answer_server import Behaviour, answer_server

from dcoc.llm.settings import BackendKind, LlmSettings
from dcoc.records import RecordsDB
from dcoc.search.cpu_search import run_cpu_search
from dcoc.search.cpu_trials import CpuMctsSettings, CpuMethod, CpuSearchConfig
from dcoc.search.llm_proposer import LlmProposerSettings
from dcoc.tvm.measure import MeasureSettings

WORKLOAD = "matmul:32,32,32"


@pytest.mark.parametrize(
    ("content", "verdict"),
    [("the best is number two", "not_json"), ('{"picks": [999]}', "illegal")],
)
def test_bad_answers_fall_back_and_the_search_goes_on(
    content: str, verdict: str, tmp_path: Path
) -> None:
    behaviour = Behaviour(content=content)
    with answer_server(behaviour) as url:
        llm = LlmSettings(backend=BackendKind.OPENAI, base_url=url, model="fixed", timeout_s=10)
        config = CpuSearchConfig(
            workload=WORKLOAD,
            method=CpuMethod.MCTS_LLM,
            trials=4,
            run_dir=tmp_path / "run",
            settings=MeasureSettings(repeat=2, min_repeat_ms=2, run_timeout_s=8.0),
            mcts=CpuMctsSettings(simulations=16),
            llm=LlmProposerSettings(calls=3, every=1, llm=llm),
        )
        result = run_cpu_search(config, lambda line: None)
    assert result.evaluations == 4 and result.best_latency_s is not None
    with RecordsDB.open(config.run_dir) as db:
        calls = db.llm_calls("mcts-llm")
    assert 1 <= len(calls) <= 3 and len(behaviour.requests) == len(calls)
    assert {c.verdict for c in calls} == {verdict}
    assert all(c.detail for c in calls)
