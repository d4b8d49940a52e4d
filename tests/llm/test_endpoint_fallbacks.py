"""The endpoint backend against a real local HTTP server that answers badly: every bad answer
(garbage, illegal picks, wrong shape, empty, an error status, a body that is no chat
completion, too late, nobody listening) is one verdict, and the tree search goes on with the
heuristic, every fallback counted and recorded with its reason."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from answer_server import Behaviour, answer_server

from dcoc.llm.backend import ChatRequest, LlmError, Verdict
from dcoc.llm.choice_format import ChoiceFormat
from dcoc.llm.endpoint import EndpointBackend
from dcoc.llm.settings import BackendKind, Constraint, LlmSettings
from dcoc.records import RecordsDB
from dcoc.search.design_moves import DesignMoves
from dcoc.search.llm_proposer import LlmLog, LlmProposer, LlmProposerSettings
from dcoc.search.mcts import Lineage
from dcoc.search.methods.mcts_search import DesignScorer, MctsSearch
from dcoc.search.network_search import NetworkSearchConfig, build_problem, run_network_search
from dcoc.search.task import SearchTask

WORKLOAD = "resnet18/C5,resnet18/C8"
DESIGN_SPACE = "accel_specs/eyeriss_like.space.yaml"


def _verdict(
    base_url: str, *, timeout_s: float = 5.0, constraint: Constraint = Constraint.JSON_SCHEMA
) -> Verdict:
    backend = EndpointBackend(base_url, model="fixed", constraint=constraint)
    fmt = ChoiceFormat(5, 3)
    request = ChatRequest("system", "user", fmt.json_schema(), fmt.grammar(), timeout_s=timeout_s)
    try:
        return fmt.read(backend.complete(request)).verdict
    except LlmError as error:
        return error.verdict


@pytest.mark.parametrize(
    ("behaviour", "verdict"),
    [
        (Behaviour(content='{"picks": [2, 1]}'), Verdict.KEPT),
        (Behaviour(content="I would try number 2 first."), Verdict.NOT_JSON),
        (Behaviour(content='{"picks": [9]}'), Verdict.ILLEGAL),
        (Behaviour(content='{"picks": [2, 2]}'), Verdict.ILLEGAL),
        (Behaviour(content='{"choice": 1}'), Verdict.WRONG_SHAPE),
        (Behaviour(content='{"picks": [1, 2, 3, 4]}'), Verdict.WRONG_SHAPE),
        (Behaviour(content=""), Verdict.EMPTY),
        (Behaviour(content='{"picks": []}'), Verdict.EMPTY),
        (Behaviour(status=500), Verdict.BACKEND_ERROR),
        (Behaviour(raw_body="<html>not a chat completion</html>"), Verdict.BACKEND_ERROR),
        (Behaviour(raw_body='{"choices": []}'), Verdict.BACKEND_ERROR),
    ],
)
def test_each_bad_answer_has_its_verdict(behaviour: Behaviour, verdict: Verdict) -> None:
    with answer_server(behaviour) as url:
        assert _verdict(url) == verdict
    assert len(behaviour.requests) == 1  # never retried


def test_a_late_answer_is_a_timeout() -> None:
    with answer_server(Behaviour(delay_s=1.5)) as url:
        assert _verdict(url, timeout_s=0.3) == Verdict.TIMEOUT


def test_nobody_listening_is_unreachable() -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert _verdict(f"http://127.0.0.1:{port}/v1") == Verdict.UNREACHABLE


@pytest.mark.parametrize("constraint", list(Constraint))
def test_the_constraint_is_sent_as_the_server_takes_it(constraint: Constraint) -> None:
    behaviour = Behaviour()
    with answer_server(behaviour) as url:
        assert _verdict(url, constraint=constraint) == Verdict.KEPT
    body = behaviour.requests[0]
    fmt = ChoiceFormat(5, 3)
    if constraint == Constraint.JSON_SCHEMA:
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"] == fmt.json_schema()
    elif constraint == Constraint.JSON_OBJECT:
        assert body["response_format"] == {"type": "json_object", "schema": fmt.json_schema()}
    elif constraint == Constraint.GRAMMAR:
        assert body["grammar"] == fmt.grammar() and "response_format" not in body
    else:
        assert "response_format" not in body and "grammar" not in body


def test_without_a_model_name_the_first_listed_is_asked() -> None:
    behaviour = Behaviour()
    with answer_server(behaviour) as url:
        backend = EndpointBackend(url)
        fmt = ChoiceFormat(2, 1)
        backend.complete(ChatRequest("s", "u", fmt.json_schema(), fmt.grammar()))
    assert behaviour.requests[0]["model"] == "fixed"


# -- the proposer and the search ---------------------------------------------------------------
def _settings(url: str, calls: int = 64) -> LlmProposerSettings:
    llm = LlmSettings(backend=BackendKind.OPENAI, model="fixed", base_url=url, timeout_s=0.5)
    return LlmProposerSettings(calls=calls, llm=llm)


def test_kept_picks_lead_the_expansion_in_the_answers_order(tmp_path: Path) -> None:
    problem = build_problem(WORKLOAD, DESIGN_SPACE)
    task = SearchTask(
        problem.space, problem.layer_set.counts, problem.layer_set.keys, budget=50, method="mcts"
    )
    moves, scorer = DesignMoves(problem.space), DesignScorer(task)
    root = moves.random_state(np.random.default_rng(1))
    value = scorer(root)
    with (
        answer_server(Behaviour(content='{"picks": [3, 1]}')) as url,
        RecordsDB.open(tmp_path) as db,
    ):
        settings = _settings(url)
        backend = EndpointBackend(url, model="fixed")
        proposer = LlmProposer(moves, scorer, backend, settings, log=LlmLog(db, "mcts", 0))
        out = proposer.propose(Lineage(root, value, ()), 8, np.random.default_rng(2))
        calls = db.llm_calls()
    listed = [c["text"] for c in calls[0].context["candidates"]]
    assert [str(t) for t in out[:2]] == [listed[2], listed[0]]
    assert len(out) == 8 and len(set(out)) == 8
    assert calls[0].verdict == "kept" and calls[0].context["picks"] == [3, 1]
    assert "Legal transformations" in calls[0].prompt and "3. " in calls[0].prompt
    assert proposer.provenance(root, out[0]).source == "llm"  # type: ignore[union-attr]
    assert proposer.provenance(root, out[2]).source == "heuristic"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("behaviour", "verdict"),
    [
        (Behaviour(content="garbage, not JSON"), "not_json"),
        (Behaviour(content='{"picks": [99]}'), "illegal"),
        (Behaviour(delay_s=1.0), "timeout"),
    ],
)
def test_the_search_goes_on_through_bad_answers(
    tmp_path: Path, behaviour: Behaviour, verdict: str
) -> None:
    with answer_server(behaviour) as url:
        config = NetworkSearchConfig(WORKLOAD, "mcts-llm", 40, tmp_path, seed=3)
        result = run_network_search(config, MctsSearch("llm", llm=_settings(url, calls=3)))
    assert result.evaluations == 40
    with RecordsDB.open(tmp_path) as db:
        calls = db.llm_calls()
        paths = db.search_paths()
    assert len(calls) == 3
    assert {c.verdict for c in calls} == {verdict}
    assert all(c.context["picks"] == [] and len(c.context["proposed"]) == 8 for c in calls)
    assert len(paths) == 1 and all(s["source"] != "llm" for s in paths[0].steps)


def test_an_endpoint_that_is_down_costs_fallbacks_not_the_search(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = NetworkSearchConfig(WORKLOAD, "mcts-llm", 30, tmp_path, seed=4)
    result = run_network_search(
        config, MctsSearch("llm", llm=_settings(f"http://127.0.0.1:{port}/v1", calls=2))
    )
    assert result.evaluations == 30 and result.best_edp is not None
    with RecordsDB.open(tmp_path) as db:
        assert [c.verdict for c in db.llm_calls()] == ["unreachable", "unreachable"]
