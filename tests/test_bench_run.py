"""``python -m dcoc.bench run`` and ``plot``: method comparisons into a benchmark directory."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from dcoc.bench import main
from dcoc.benchmark.report import bootstrap_interval, geometric_mean
from dcoc.benchmark.rundirs import RESULT_FILE, best_at, compact_curve, run_dirs
from dcoc.benchmark.suites import BenchInputError, parse_budgets, parse_seeds, parse_suites
from dcoc.errors import SpecError
from dcoc.records import RecordsDB
from dcoc.search import methods
from dcoc.search.codesign_space import CoDesignSpace
from dcoc.search.network_search import DEFAULT_DESIGN_SPACE

PNG = b"\x89PNG\r\n\x1a\n"
SUITE = "resnet18/C5,resnet18/C8"
SUITE_DIR = "resnet18_C5,resnet18_C8"
PLOTS = ("best_so_far", "pareto", "hardware")


def _args(out: Path, methods: str = "random,ga", budget: str = "60", seeds: str = "0-1") -> list:
    return [
        "run", "--suite", SUITE, "--methods", methods, "--budget", budget, "--seeds", seeds,
        "--out", str(out),
    ]  # fmt: skip


def _mtimes(out: Path) -> dict[Path, int]:
    return {
        p: (p / "summary.json").stat().st_mtime_ns
        for p in run_dirs(out)
        if (p / "summary.json").exists()
    }


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench") / "out"
    assert main(_args(out)) == 0
    return out


def test_run_writes_curves_table_json_and_plots(bench: Path) -> None:
    dirs = run_dirs(bench)
    assert [d.relative_to(bench).parts for d in dirs] == [
        (SUITE_DIR, "60", m, s) for m in ("ga", "random") for s in ("0", "1")
    ]
    md = (bench / "results.md").read_text()
    rows = {line.split("|")[1].strip(): line for line in md.splitlines() if line.startswith("| ")}
    for method in ("random", "ga"):
        cells = [c.strip() for c in rows[method].split("|")[1:-1]]
        # best, interval lo-hi around it, ratios, seeds
        best, lo, hi = float(cells[1]), *map(float, cells[2].split("–"))
        assert lo <= best <= hi and cells[3] != "—" and cells[-1] == "2"
    assert "## All suites: geometric mean over suites" in md
    data = json.loads((bench / "results.json").read_text())
    (group,) = data["groups"]
    assert group["budget"] == 60 and set(group["methods"]) == {"random", "ga"}
    random_ = group["methods"]["random"]
    assert random_["seeds"] == [0, 1] and all(v > 0 for v in random_["best_objective"])
    assert random_["geometric_mean"] == pytest.approx(geometric_mean(random_["best_objective"]))
    with (bench / "curves.csv").open() as f:
        table = list(csv.DictReader(f))
    runs = {(r["method"], r["seed"]) for r in table}
    assert runs == {(m, s) for m in ("random", "ga") for s in ("0", "1")}
    for method, seed in runs:
        points = [r for r in table if (r["method"], r["seed"]) == (method, seed)]
        values = [float(r["best_objective"]) for r in points]
        assert points[-1]["evaluation"] == "60"  # the last point
        assert all(a > b for a, b in itertools.pairwise(values[:-1]))  # changes only
        best = json.loads((bench / SUITE_DIR / "60" / method / seed / "summary.json").read_text())
        assert values[-1] == pytest.approx(best["best_objective"])
    for kind in PLOTS:
        png = (bench / f"{kind}_{SUITE_DIR}_60.png").read_bytes()
        assert png[:8] == PNG and len(png) > 1000


def test_plot_remakes_the_outputs(bench: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bench, copy)
    md = (copy / "results.md").read_text()
    js = (copy / "results.json").read_text()
    csv_text = (copy / "curves.csv").read_text()
    for name in (
        "results.md",
        "results.json",
        "curves.csv",
        *(f"{k}_{SUITE_DIR}_60.png" for k in PLOTS),
    ):
        (copy / name).unlink()
    assert main(["plot", str(copy)]) == 0
    assert (copy / "results.md").read_text() == md
    assert (copy / "results.json").read_text() == js
    assert (copy / "curves.csv").read_text() == csv_text
    for kind in PLOTS:
        assert (copy / f"{kind}_{SUITE_DIR}_60.png").read_bytes()[:8] == PNG


def test_rerun_resumes_without_running_again(
    bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bench, copy)
    before = _mtimes(copy)
    # a finished run whose numbers were lost is read back from its records, equal
    lost = copy / SUITE_DIR / "60" / "ga" / "1" / RESULT_FILE
    kept = json.loads(lost.read_text())
    lost.unlink()
    capsys.readouterr()
    assert main(_args(copy)) == 0
    assert "4 of 4 runs already finished" in capsys.readouterr().err
    assert _mtimes(copy) == before
    assert json.loads(lost.read_text()) == kept
    # other settings into the same directory: refused
    assert main([*_args(copy), "--objective", "latency"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "other settings" in err[0] and "objective" in err[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"--methods": "random,nope"}, ["nope", "random, ga, sa", "ppo, mappo, ippo"]),
        ({"--suite": "nonet"}, ["nonet", "resnet18", "vgg16"]),
        ({"--suite": "resnet18/C99"}, ["C99", "C5"]),
        ({"--objective": "power"}, ["power", "edp, latency, energy"]),
        ({"--seeds": "4-1"}, ["--seeds"]),
        ({"--methods": "ga,mappo-frozen"}, ["--policy", "name a checkpoint"]),
        ({"--methods": "mappo", "--policy": "accel_specs"}, ["--policy", "not a checkpoint"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict, expected: list
) -> None:
    args = _args(tmp_path / "out")
    for flag, value in change.items():
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert all(word in err[0] for word in expected), err[0]
    assert "Traceback" not in err[0]
    assert not run_dirs(tmp_path / "out")


def test_unmappable_layer_set_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def unmappable(self: object) -> None:
        raise SpecError(
            "<workload>", ("C8",), "no configuration of x.space.yaml can map this layer"
        )

    monkeypatch.setattr(CoDesignSpace, "_check_mappable", unmappable)
    assert main(_args(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "C8" in err[0] and "can map" in err[0]


def test_a_failing_method_is_recorded_and_the_others_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = methods.build_baseline

    def broken(name: str):  # type: ignore[no-untyped-def]
        if name == "ga":
            raise RuntimeError("ga is broken today")
        return real(name)

    out = tmp_path / "out"
    monkeypatch.setattr(methods, "build_baseline", broken)
    assert main(_args(out, budget="30")) == 1
    err = capsys.readouterr().err
    assert "ga seed 0: FAILED (RuntimeError: ga is broken today)" in err
    ga = out / SUITE_DIR / "30" / "ga" / "0"
    assert "ga is broken today" in (ga / "error.txt").read_text()
    assert not (ga / "summary.json").exists()
    md = (out / "results.md").read_text()
    (ga_row,) = [line for line in md.splitlines() if line.startswith("| ga |")]
    assert "| failed |" in ga_row and "RuntimeError: ga is broken today" in ga_row
    (random_row,) = [line for line in md.splitlines() if line.startswith("| random |")]
    assert re.match(r"\| random \| \d\.\d\de\+\d\d \|", random_row)
    # fixed: the same command runs only the failed runs
    random_before = {p: t for p, t in _mtimes(out).items() if p.parent.name == "random"}
    monkeypatch.setattr(methods, "build_baseline", real)
    assert main(_args(out, budget="30")) == 0
    assert "2 of 4 runs already finished" in capsys.readouterr().err
    assert {p: t for p, t in _mtimes(out).items() if p.parent.name == "random"} == random_before
    assert not (ga / "error.txt").exists() and (ga / "summary.json").exists()
    assert "failed" not in (out / "results.md").read_text().split("## All suites")[0]


def test_suite_grammar() -> None:
    default = DEFAULT_DESIGN_SPACE
    (pair,) = parse_suites([SUITE], default)
    assert (pair.kind, pair.workload, pair.key) == ("accel", SUITE, SUITE_DIR)
    suites = parse_suites(
        ["resnet18.vta,mobilenetv2@accel_specs/simba_like.space.yaml", "resnet18/C5"], default
    )
    assert [(s.name, s.design_space) for s in suites] == [
        ("resnet18.vta", default),
        ("mobilenetv2@simba_like", "accel_specs/simba_like.space.yaml"),
        ("resnet18/C5", default),
    ]
    cpu = parse_suites(["cpu:matmul:512,512,512,resnet18/C5"], default)
    assert [(s.kind, s.workload) for s in cpu] == [
        ("cpu", "matmul:512,512,512"),
        ("cpu", "resnet18/C5"),
    ]
    (layers,) = parse_suites(["resnet18/C5,matmul:64,64,64@accel_specs/tpu_like.space.yaml"], "")
    assert layers.workload == "resnet18/C5,matmul:64,64,64" and layers.name.endswith("@tpu_like")
    assert parse_seeds("0-2,7,1") == (0, 1, 2, 7)
    with pytest.raises(BenchInputError, match="seeds are integers >= 0, got '-1'"):
        parse_seeds("0,-1")
    assert parse_budgets("8000,20000") == (8000, 20000)
    with pytest.raises(BenchInputError):
        parse_budgets("0")
    with pytest.raises(BenchInputError):
        parse_suites(["cpu:matmul:8,8,8@accel_specs/tpu_like.space.yaml"], default)


def test_bootstrap_interval_and_compact_curves() -> None:
    values = [1e17, 3e17, 2e17, 5e16]
    lo, hi = bootstrap_interval(values)
    assert lo < geometric_mean(values) < hi
    assert min(values) <= lo and hi <= max(values)
    assert bootstrap_interval(values) == (lo, hi)  # seeded
    assert bootstrap_interval([4.0, 4.0]) == pytest.approx((4.0, 4.0))
    curve = [math.inf, math.inf, 9.0, 9.0, 4.0, 4.0, 4.0]
    points = compact_curve(curve)
    assert points == ((3, 9.0), (5, 4.0), (7, 4.0))
    assert [best_at(points, e) for e in range(1, 8)] == curve
    assert compact_curve([math.inf] * 3) == ((3, math.inf),)


@pytest.mark.slow
def test_runs_as_ray_tasks_give_the_serial_results(bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray"
    assert main([*_args(out), "--address", "local"]) == 0
    serial = json.loads((bench / "results.json").read_text())["groups"][0]["methods"]
    remote = json.loads((out / "results.json").read_text())["groups"][0]["methods"]
    for method in ("random", "ga"):
        assert remote[method]["best_objective"] == serial[method]["best_objective"]


@pytest.mark.slow
def test_cpu_suite_measures_tvm_schedules(tmp_path: Path) -> None:
    out = tmp_path / "cpu"
    args = ["run", "--suite", "cpu:matmul:16,16,16", "--methods", "random,mcts", "--budget", "4"]
    assert main([*args, "--seeds", "0", "--out", str(out)]) == 0
    (group,) = json.loads((out / "results.json").read_text())["groups"]
    assert group["objective"] == "latency_s" and group["suite"]["kind"] == "cpu"
    (best,) = group["methods"]["random"]["best_objective"]
    assert 0 < best < 1
    # the tree search is compared with the baselines, never its own reference
    assert group["best_baseline"] == "random"
    mcts = group["methods"]["mcts"]
    assert mcts["evaluations"] == [4] and len(mcts["evals_to_best_baseline"]) == 1
    assert "latency (s)" in (out / "results.md").read_text()
    assert (out / "best_so_far_cpu_matmul_16,16,16_4.png").read_bytes()[:8] == PNG
    assert not list(out.glob("pareto_*.png"))


def test_language_model_usage_is_read_from_each_runs_records(tmp_path: Path) -> None:
    """The report's language-model section: calls, kept answers, fallbacks by reason and
    seconds per call over a method's runs, from the calls each run recorded."""
    from dcoc.benchmark.llm_usage import llm_usage, render_llm_usage
    from dcoc.benchmark.rundirs import RunResult, RunSpec
    from dcoc.records import LlmCallRecord, RecordsDB

    (suite,) = parse_suites(["cpu:matmul:16,16,16"], DEFAULT_DESIGN_SPACE)
    results = []
    answers = {0: [("kept", 2.0), ("not_json", 4.0)], 1: [("kept", 3.0), ("timeout", 9.0)]}
    for seed, calls in answers.items():
        spec = RunSpec(suite, 4, "mcts-llm", seed, "latency_s")
        spec.run_dir(tmp_path).mkdir(parents=True)
        with RecordsDB.open(spec.run_dir(tmp_path)) as db:
            for i, (verdict, seconds) in enumerate(calls):
                db.add_llm_call(
                    LlmCallRecord(
                        method="mcts-llm",
                        seed=seed,
                        call=i,
                        backend="llama.cpp:x.gguf",
                        prompt="p",
                        answer="a",
                        latency_s=seconds,
                        verdict=verdict,
                    )
                )
        results.append(RunResult(spec, "ok"))
    plain = RunSpec(suite, 4, "mcts", 0, "latency_s")
    results.append(RunResult(plain, "ok"))  # no records: no row
    (usage,) = llm_usage(results, tmp_path)
    report = usage.to_json()
    assert report["runs"] == 2 and report["calls"] == 4
    assert report["verdicts"] == {"kept": 2, "not_json": 1, "timeout": 1}
    assert report["fallback_rate"] == 0.5 and report["s_per_call_median"] == 3.5
    (row,) = [line for line in render_llm_usage([usage]) if "mcts-llm" in line]
    assert "| 4 | 2 | not_json 1, timeout 1 | 3.50 (4.50) |" in row


def _candidates(run: Path) -> list[tuple[object, ...]]:
    with RecordsDB.open(run) as db:
        return [
            (r.workload, r.method, r.trial, dict(r.design), r.valid, r.cycles, r.energy_pj)
            for r in db.iterate()
        ]


def test_an_interrupted_baseline_run_resumes_from_its_records(
    bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bench, copy)
    run = copy / SUITE_DIR / "60" / "ga" / "1"
    whole = _candidates(run)
    result = json.loads((run / RESULT_FILE).read_text())
    (run / "summary.json").unlink()  # as if killed after 40 of its 60 evaluations
    (run / RESULT_FILE).unlink()
    db = sqlite3.connect(run / "records.sqlite")
    with db:
        db.execute("DELETE FROM candidates WHERE id > 40")
    db.close()
    assert main(_args(copy)) == 0
    assert "3 of 4 runs already finished" in capsys.readouterr().err
    assert _candidates(run) == whole  # the 40 kept, the other 20 evaluated once
    assert json.loads((run / RESULT_FILE).read_text())["best_objective"] == result["best_objective"]
    assert not (copy / "interrupted").exists()


def test_a_failed_run_is_kept_aside_and_run_again(
    bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bench, copy)
    run = copy / SUITE_DIR / "60" / "ga" / "1"
    (run / "summary.json").unlink()  # as if it had failed
    (run / "error.txt").write_text("RuntimeError: a fault\n")
    with RecordsDB.open(run) as db:
        evaluated = db.count()
    assert evaluated > 0
    assert main(_args(copy)) == 0
    assert "3 of 4 runs already finished" in capsys.readouterr().err
    kept = copy / "interrupted" / SUITE_DIR / "60" / "ga" / "1.1"
    with RecordsDB.open(kept) as db:
        assert db.count() == evaluated  # nothing the failed run evaluated is lost
    assert (run / "summary.json").exists() and not (run / "error.txt").exists()
    assert len(run_dirs(copy)) == 4  # the kept attempt is not a run of the report
