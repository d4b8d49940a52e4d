"""The LLM proposer with the embedded SmolLM2 model, end to end through the CLI: the search
spends its budget, asks the model at most --llm-calls times, prints llm_calls and
llm_fallbacks, records every call and the best path, and ``explain`` reads them back; bad
LLM settings are one line and exit 2; mcts-llm is a bench method."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dcoc.records import RecordsDB
from dcoc.search.methods import ACCEL_METHODS, build_baseline
from dcoc.search.methods.mcts_search import MctsSearch
from dcoc.search.network_search import NetworkSearchConfig, run_network_search

WORKLOAD = "resnet18/C5,resnet18/C8"


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcoc.search", *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.mark.slow
def test_cli_mcts_with_the_llm_proposer_and_explain(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    search = "--target accel --method mcts --proposer llm --llm-calls 3 --trials 60 --seed 1"
    out = _cli(*search.split(), "--workload", WORKLOAD, "--run-dir", run_dir, "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["evaluations"] == 60 and summary["best_edp"] > 0
    assert summary["llm_calls"] == 3
    assert 0 <= summary["llm_fallbacks"] <= 3
    assert sum(summary["llm_verdicts"].values()) == 3 and summary["llm_s_per_call"] > 0
    with RecordsDB.open(run_dir) as db:
        calls = db.llm_calls()
        (path,) = db.search_paths()
    assert [c.call for c in calls] == [0, 1, 2]
    assert all(c.backend == "llama.cpp:SmolLM2-135M-Instruct.Q4_1.gguf" for c in calls)
    assert all("Current design" in c.prompt and c.latency_s > 0 for c in calls)
    kept = [c for c in calls if c.verdict == "kept"]
    assert all(c.context["picks"] and c.answer for c in kept)
    assert path.method == "mcts" and path.design["proposer"] == "llm"

    explained = _cli("explain", run_dir)
    assert explained.returncode == 0, explained.stderr
    text = explained.stdout
    assert text.startswith("# Why this design")
    assert "## The language model" in text and "3 calls" in text
    assert "## The path to the tree's best design" in text
    assert text.count("\n| ") >= 3 + len(path.steps)
    written = tmp_path / "why.md"
    assert _cli("explain", run_dir, "--out", written).returncode == 0
    assert written.read_text() == text


def test_explain_reads_a_heuristic_run_too(tmp_path: Path) -> None:
    config = NetworkSearchConfig(WORKLOAD, "mcts", 40, tmp_path, seed=2)
    run_network_search(config, MctsSearch("heuristic"))
    out = _cli("explain", tmp_path)
    assert out.returncode == 0, out.stderr
    assert "Not asked in this run." in out.stdout
    with RecordsDB.open(tmp_path) as db:
        (path,) = db.search_paths()
    assert all(s["source"] == "heuristic" for s in path.steps)
    assert out.stdout.count("| heuristic |") == len(path.steps)


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (["--proposer", "llm", "--llm-model", "/no/such.gguf"], {}, "DCOC_LLM_GGUF"),
        (["--proposer", "llm", "--llm-backend", "openai"], {}, "DCOC_LLM_BASE_URL"),
        (["--proposer", "llm"], {"DCOC_LLM_TIMEOUT_S": "soon"}, "DCOC_LLM_TIMEOUT_S"),
        (["--proposer", "heuristic", "--llm-calls", "3"], {}, "--llm-calls"),
        (["--proposer", "llm", "--llm-timeout-s", "-1"], {}, "--llm-timeout-s"),
    ],
)
def test_bad_llm_settings_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], names: str
) -> None:
    search = ["-m", "dcoc.search", "--target", "accel", "--method", "mcts", "--trials", "10"]
    out = subprocess.run(
        [sys.executable, *search, "--workload", WORKLOAD, "--run-dir", str(tmp_path / "r"), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert out.returncode == 2, out.stderr
    assert names in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_explain_of_a_directory_without_a_search_is_one_line(tmp_path: Path) -> None:
    out = _cli("explain", tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "records.sqlite" in out.stderr


def test_mcts_llm_is_a_method_of_the_bench() -> None:
    assert "mcts-llm" in ACCEL_METHODS and "mcts" in ACCEL_METHODS
    searcher = build_baseline("mcts-llm")
    assert isinstance(searcher, MctsSearch) and searcher.proposer == "llm"
    assert build_baseline("mcts").proposer == "heuristic"  # type: ignore[attr-defined]
