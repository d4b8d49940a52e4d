"""``python -m dcoc.search``: one search, every candidate evaluated and recorded.

    python -m dcoc.search --target cpu --workload matmul:512,512,512 --method random \\
        --trials 64 [--run-dir DIR] [--seed S] [--threads T] [--json]
    python -m dcoc.search --target cpu --workload resnet18/C5 --method mcts \\
        [--proposer heuristic|random|llm] --trials 16 --json
    python -m dcoc.search --target accel --workload resnet18.vta --method ga --trials 8000 \\
        [--seed S] [--design-space accel_specs/eyeriss_like.space.yaml] [--objective edp]
        [--area-budget-um2 A] [--proposer heuristic] [--json]
    python -m dcoc.search --target accel --workload resnet18.vta --method mcts --proposer llm \
        [--llm-backend embedded|openai] [--llm-model M] [--llm-calls N] [--llm-every K]
        [--llm-timeout-s T] --trials 2000 --json
    python -m dcoc.search --resume RUN_DIR [--json]
    python -m dcoc.search explain RUN_DIR [--out FILE]

cpu methods: random, metaschedule (MetaSchedule's evolutionary search), mcts (the tree search
over MetaSchedule's decisions, rollouts ranked by its XGBoost model trained on the measurements:
:mod:`dcoc.search.cpu_mcts`; ``--proposer heuristic|random|llm``), mcts-random and mcts-llm
(mcts with the random or the llm proposer); ``--trials`` is the budget of measured schedules.
accel methods (:mod:`dcoc.search.methods`): random, ga, sa, tpe, cma, de, pso, decoupled, mcts
(``--proposer random|heuristic|llm``), mcts-llm (mcts with the llm proposer), and the RL agents
ppo, mappo, ippo; ``--trials`` is the
budget of layer-mapping evaluations; the workload is a layer set (a network, a subset such as
``resnet18.vta``, a layer-set YAML file) or one layer. The best design goes to
``RUN_DIR/best/`` as Timeloop files.

Progress goes to stderr; ``--json`` prints one JSON object on stdout (cpu: ``best_latency_s``,
``best_gflops``; accel: ``best_edp``, ``best_cycles``, ``best_energy_pj``; both:
``evaluations``, ``failed``, ``run_dir``, ``method``, ``workload``, ``wall_s``), also written
to ``RUN_DIR/summary.json``; with the llm proposer also ``llm_calls``, ``llm_fallbacks``,
``llm_verdicts`` and ``llm_s_per_call``. The language model is set by the ``DCOC_LLM_*``
variables (:mod:`dcoc.llm.settings`), which the ``--llm-*`` flags override. Bad arguments, an
unknown workload or an LLM backend that cannot be set up: one line on stderr, exit 2. No valid
candidate found: exit 1.

A search writes its arguments to ``RUN_DIR/search.json`` before it starts and refuses a run
directory that is not empty. ``--resume RUN_DIR`` continues a run that was killed: the same
search runs again with the same seed, its recorded evaluations are read back instead of written
again (each checked against what the search asks for, :class:`~dcoc.search.task.SearchTask`), and
it goes on from where it stopped, so the records and the result are the uninterrupted run's.
Resumable: the accel baselines without a language model, and the cpu ``random`` search (its
recorded measurements are not measured again). The other methods refuse ``--resume`` with the
reason.

``explain RUN_DIR`` prints (or writes to ``--out``) a Markdown report of why a tree search chose
its design: the path from its random start, who proposed each step, and the LLM's calls, read
from the run's records (:mod:`dcoc.search.explain`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from dcoc.benchmark.suites import CPU_METHODS
from dcoc.errors import ConfigError, SpecError
from dcoc.records import ReplayMismatchError
from dcoc.search.methods import ACCEL_METHODS
from dcoc.search.network_search import OBJECTIVES

TARGETS = ("cpu", "accel")
PROG = "python -m dcoc.search"
ARGS_FILE = "search.json"
"""The arguments a search was started with, in its run directory (what ``--resume`` reads)."""
CPU_RESUMABLE = ("random",)
_ANY_SEARCH = ["--target", "accel", "--workload", "-", "--method", "-"]
"""The required arguments, to read the parser's defaults."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog=PROG,
        description="One design search without RL, every candidate "
        "measured and recorded in RUN_DIR/records.sqlite.",
    )
    p.add_argument(
        "--target",
        required=True,
        choices=TARGETS,
        help="cpu: real TVM schedules on this machine; accel: accelerator model",
    )
    p.add_argument(
        "--workload",
        required=True,
        help="cpu: a shipped layer (resnet18/C5) or a shape (matmul:512,512,512); accel also "
        "a layer set (resnet18.vta, vgg16, a layer-set YAML file) or a comma list of layers",
    )
    p.add_argument(
        "--method",
        required=True,
        help=f"cpu: {', '.join(CPU_METHODS)}; accel: {', '.join(ACCEL_METHODS)}",
    )
    p.add_argument(
        "--trials",
        type=_positive,
        default=64,
        help="cpu: candidates to measure; accel: the budget of layer-mapping evaluations",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="default: runs/search__{workload}__{method}__{time}",
    )
    p.add_argument("--seed", type=_natural, default=0)
    p.add_argument(
        "--threads",
        type=_positive,
        default=1,
        help="cores the programs use (target num-cores and TVM_NUM_THREADS)",
    )
    p.add_argument("--workers", type=_positive, default=1, help="measurement worker processes")
    p.add_argument(
        "--design-space",
        default=None,
        help="accel: hardware design-space file (default accel_specs/eyeriss_like.space.yaml)",
    )
    from dcoc.search.proposers import PROPOSERS

    p.add_argument(
        "--proposer",
        default=None,
        choices=tuple(PROPOSERS),
        help="--method mcts: who proposes the tree's transformations (default heuristic)",
    )
    p.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="mappo-frozen, mappo-finetune: the dcoc.train checkpoint their agents start from "
        "(RUN/checkpoints/iter_NNNN)",
    )
    p.add_argument(
        "--objective",
        default="edp",
        choices=OBJECTIVES,
        help="accel: network objective (edp, latency or energy)",
    )
    p.add_argument(
        "--area-budget-um2",
        type=float,
        default=None,
        help="accel: area budget (default: the design space's own)",
    )
    llm = p.add_argument_group("language model (--proposer llm, --method mcts-llm)")
    llm.add_argument(
        "--llm-backend",
        choices=("embedded", "openai"),
        default=None,
        help="embedded: llama.cpp in this process (default); openai: the OpenAI-compatible "
        "endpoint at DCOC_LLM_BASE_URL",
    )
    llm.add_argument(
        "--llm-model",
        default=None,
        help="embedded: a .gguf file or smollm2 (default) or gemma3 (DCOC_LLM_GGUF); openai: the "
        "model name (DCOC_LLM_MODEL)",
    )
    llm.add_argument(
        "--llm-calls", type=_natural, default=None, help="questions per search at most (64)"
    )
    llm.add_argument(
        "--llm-every", type=_positive, default=None, help="ask at every k-th expansion (1)"
    )
    llm.add_argument(
        "--llm-timeout-s",
        type=float,
        default=None,
        help="seconds an answer may take (DCOC_LLM_TIMEOUT_S, 60)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return p


LLM_FLAGS = ("llm_backend", "llm_model", "llm_calls", "llm_every", "llm_timeout_s")


def _natural(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return value


def _uses_llm(args: argparse.Namespace) -> bool:
    return args.method == "mcts-llm" or (args.method == "mcts" and args.proposer == "llm")


def _llm_settings(
    args: argparse.Namespace, calls: int | None = None, every: int | None = None
) -> Any:
    """The LLM proposer's settings: the environment, then the flags (``calls`` and ``every``:
    the target's defaults when the flags are not given); the backend is set up once here so
    that a bad setting is one line and exit 2 before the search starts."""
    from dcoc.llm.settings import LlmSettings, build_backend
    from dcoc.search.llm_proposer import LlmProposerSettings

    if args.llm_timeout_s is not None and not args.llm_timeout_s > 0:
        _fail(f"--llm-timeout-s: expected a positive number, got {args.llm_timeout_s}", 2)
    env = dict(os.environ)
    if args.llm_backend is not None:
        env["DCOC_LLM_BACKEND"] = args.llm_backend
    try:
        llm = LlmSettings.from_env(env)
        llm = llm.overridden(model=args.llm_model, timeout_s=args.llm_timeout_s)
        build_backend(llm)
    except ConfigError as error:
        _fail(str(error), 2)
    defaults = LlmProposerSettings(llm=llm)
    defaults = LlmProposerSettings(
        calls=defaults.calls if calls is None else calls,
        every=defaults.every if every is None else every,
        llm=llm,
    )
    return LlmProposerSettings(
        calls=defaults.calls if args.llm_calls is None else args.llm_calls,
        every=defaults.every if args.llm_every is None else args.llm_every,
        llm=llm,
    )


def llm_summary(run_dir: Path, method: str) -> dict[str, Any]:
    """``llm_calls``, ``llm_fallbacks``, ``llm_verdicts``, ``llm_s_per_call`` of ``method``'s
    LLM calls in the run's records."""
    from dcoc.records import RecordsDB
    from dcoc.search.llm_proposer import LlmStats

    with RecordsDB.open(run_dir) as db:
        stats = LlmStats.of(db.llm_calls(method))
    seconds = stats.seconds
    return {
        "llm_calls": stats.calls,
        "llm_fallbacks": stats.fallbacks,
        "llm_verdicts": dict(sorted(stats.verdicts.items())),
        "llm_s_per_call": sum(seconds) / len(seconds) if seconds else None,
    }


def _fail(message: str, code: int) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def _accel(args: argparse.Namespace) -> int:
    from dcoc.experiment.run_dir import policy_problem
    from dcoc.search.cpu_search import default_run_dir
    from dcoc.search.methods import BASELINES, CARRIED_METHODS, build_baseline, resume_refusal
    from dcoc.search.network_search import (
        DEFAULT_DESIGN_SPACE,
        NetworkSearchConfig,
        build_problem,
        run_network_search,
    )

    llm = _llm_settings(args) if _uses_llm(args) else None
    carried = args.method in CARRIED_METHODS
    run_dir = args.run_dir or default_run_dir(args.workload, args.method)
    if args.resume:
        _check_resumable(run_dir, resume_refusal(args.method, args.proposer))
    if carried or args.policy is not None:
        problem = policy_problem(args.policy, required=carried)
        if not carried:
            problem = f"only {', '.join(CARRIED_METHODS)} start from a checkpoint"
        if problem:
            _fail(f"--policy: {problem}", 2)
    if not args.resume:
        _start(run_dir, args)
    config = NetworkSearchConfig(
        workload=args.workload,
        method=args.method,
        budget=args.trials,
        run_dir=run_dir,
        design_space=Path(args.design_space or DEFAULT_DESIGN_SPACE),
        seed=args.seed,
        objective=args.objective,
        area_budget_um2=args.area_budget_um2,
        resume=args.resume,
    )

    def search() -> Any:
        problem = build_problem(config.workload, config.design_space, config.area_budget_um2)
        counted: tuple[str, ...] | None = None
        if args.method in BASELINES:
            searcher = build_baseline(args.method, proposer=args.proposer, llm=llm)
        else:
            from dcoc.experiment.rl_search import build_rl_searcher  # imports ray when run

            searcher, counted = build_rl_searcher(args.method, run_dir=run_dir, policy=args.policy)
        return run_network_search(
            config, searcher, problem=problem, progress=_progress, counted_methods=counted
        )

    result = _run_search(
        search,
        run_dir,
        user_errors=(SpecError, ConfigError, FileNotFoundError, ReplayMismatchError),
        kept="evaluated",
    )
    best = "none" if result.best_edp is None else f"{result.best_edp:.4g} pJ*cycles"
    extra = llm_summary(run_dir, args.method) if llm is not None else {}
    asked = f"; LLM {extra['llm_calls']} calls, {extra['llm_fallbacks']} fell back" if extra else ""
    _report(
        result,
        as_json=args.json,
        line=f"{result.workload} [accel {result.method}]: best EDP {best} "
        f"({result.objective} {result.best_objective}), "
        f"{result.evaluations} evaluations, {result.failed} failed, "
        f"{result.wall_s:.1f} s{asked}; best design in {result.run_dir}/best",
        extra=extra,
    )
    return 0 if result.best_edp is not None else 1


def _start(run_dir: Path, args: argparse.Namespace) -> None:
    """A search never writes into another run's records: an existing, non-empty run
    directory is refused. The arguments go to ``RUN_DIR/search.json`` for ``--resume``."""
    if run_dir.exists() and any(run_dir.iterdir()):
        _fail(
            f"{run_dir} exists and is not empty; give a new --run-dir, or continue an "
            f"interrupted search with --resume {run_dir}",
            2,
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    saved.pop("resume", None)
    saved.pop("json", None)
    (run_dir / ARGS_FILE).write_text(json.dumps({"arguments": saved}, indent=2) + "\n")


def _resumed_args(argv: list[str]) -> argparse.Namespace:
    """The arguments of the search ``--resume RUN_DIR`` continues (from its ``search.json``)."""
    p = _Parser(prog=f"{PROG} --resume")
    p.add_argument("--resume", type=Path, required=True, metavar="RUN_DIR")
    p.add_argument("--json", action="store_true")
    given, rest = p.parse_known_args(argv)
    if rest:
        _fail(
            f"--resume continues the search as it was started; give only --resume RUN_DIR "
            f"and --json, not {rest[0]}",
            2,
        )
    run_dir: Path = given.resume
    path = run_dir / ARGS_FILE
    try:
        saved = json.loads(path.read_text())["arguments"]
        defaults = vars(build_parser().parse_args(_ANY_SEARCH))
        if not isinstance(saved, dict) or set(saved) - set(defaults):
            raise ValueError("unknown arguments")
        for key, value in saved.items():
            default = defaults[key]
            if value is not None and default is not None and type(value) is not type(default):
                raise ValueError(f"{key} is {value!r}")
    except FileNotFoundError:
        _fail(f"{path}: no such file; --resume takes the run directory of a dcoc.search run", 2)
    except (OSError, ValueError, KeyError, TypeError) as error:
        _fail(f"{path}: not the arguments of a dcoc.search run ({error})", 2)
    args = argparse.Namespace(**{**defaults, **saved})
    for key in ("run_dir", "policy"):
        if getattr(args, key) is not None:
            setattr(args, key, Path(getattr(args, key)))
    args.run_dir = run_dir
    args.resume = True
    args.json = given.json
    return args


def _check_resumable(run_dir: Path, problem: str | None) -> None:
    if (run_dir / "summary.json").exists():
        _fail(f"{run_dir}: the search finished (its summary.json exists); nothing to resume", 2)
    if problem is not None:
        _fail(f"{run_dir}: cannot resume: {problem}; start a new run directory", 2)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _internal_error(run_dir: Path, error: Exception) -> NoReturn:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "error.log").write_text(traceback.format_exc())
    _fail(f"{type(error).__name__}: {error} (traceback in {run_dir / 'error.log'})", 1)


class _SearchResult(Protocol):
    @property
    def run_dir(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


ResultT = TypeVar("ResultT", bound=_SearchResult)


def _run_search(
    search: Callable[[], ResultT],
    run_dir: Path,
    *,
    user_errors: tuple[type[Exception], ...],
    kept: str,
) -> ResultT:
    """``search()``, its failures turned into one line on stderr and an exit code: 2 for
    ``user_errors``, 130 on Ctrl-C (``kept``: what the run dir holds so far), 1 otherwise
    with the traceback in the run dir."""
    try:
        return search()
    except user_errors as error:
        _fail(str(error), 2)
    except KeyboardInterrupt:
        _fail(f"interrupted; everything {kept} so far is in {run_dir}", 130)
    except Exception as error:  # a CLI shows no traceback: one line, details in the run dir
        _internal_error(run_dir, error)


def _report(
    result: _SearchResult, *, as_json: bool, line: str, extra: dict[str, Any] | None = None
) -> None:
    """Write ``RUN_DIR/summary.json``; print the summary (``as_json``) or ``line``; ``extra``
    joins the summary."""
    summary = {**result.to_json(), **(extra or {})}
    (Path(result.run_dir) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary) if as_json else line)


def explain(argv: list[str]) -> int:
    """``python -m dcoc.search explain RUN_DIR [--out FILE]``."""
    from dcoc.records import RecordsSchemaError
    from dcoc.search.explain import NothingToExplainError, explain_run

    p = _Parser(
        prog=f"{PROG} explain",
        description="Why a tree search chose its design: its path, who proposed each step, "
        "and the language model's calls, as Markdown.",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    p.add_argument("--out", type=Path, default=None, help="write the Markdown here")
    args = p.parse_args(argv)
    try:
        text = explain_run(args.run_dir)
    except (NothingToExplainError, RecordsSchemaError) as error:
        _fail(str(error), 2)
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "explain":
        return explain(argv[1:])
    if "--resume" in argv or any(a.startswith("--resume=") for a in argv):
        args = _resumed_args(argv)
    else:
        args = build_parser().parse_args(argv)
        args.resume = False
    methods = CPU_METHODS if args.target == "cpu" else ACCEL_METHODS
    if args.method not in methods:
        _fail(
            f"unknown method {args.method!r} for --target {args.target}; choose from "
            f"{list(methods)}",
            2,
        )
    if args.proposer is not None and args.method != "mcts":
        _fail("--proposer applies to --method mcts only", 2)
    given = [f"--{f.replace('_', '-')}" for f in LLM_FLAGS if getattr(args, f) is not None]
    if given and not _uses_llm(args):
        _fail(f"{given[0]} applies to --method mcts --proposer llm (or mcts-llm) only", 2)
    if args.target == "accel":
        return _accel(args)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from dcoc.search.cpu_search import (
        CpuMethod,
        CpuSearchConfig,
        default_run_dir,
        run_cpu_search,
    )
    from dcoc.workloads.catalog import resolve_workload

    try:
        resolve_workload(args.workload)
    except SpecError as error:
        _fail(str(error), 2)
    llm = None
    if _uses_llm(args):
        from dcoc.search.schedule_llm_proposer import CPU_LLM_CALLS, CPU_LLM_EVERY

        llm = _llm_settings(args, CPU_LLM_CALLS, CPU_LLM_EVERY)
    run_dir = args.run_dir or default_run_dir(args.workload, args.method)
    if args.resume:
        _check_resumable(
            run_dir,
            None
            if args.method in CPU_RESUMABLE and args.proposer is None
            else f"only the cpu methods {', '.join(CPU_RESUMABLE)} resume (a tree search and "
            "MetaSchedule learn from measurements that would differ when taken again)",
        )
    else:
        _start(run_dir, args)
    config = CpuSearchConfig(
        workload=args.workload,
        method=CpuMethod(
            {"random": "mcts-random", "llm": "mcts-llm"}.get(args.proposer or "", args.method)
        ),
        trials=args.trials,
        run_dir=run_dir,
        seed=args.seed,
        threads=args.threads,
        workers=args.workers,
        llm=llm,
        resume=args.resume,
    )
    result = _run_search(
        lambda: run_cpu_search(config, _progress),
        run_dir,
        user_errors=(SpecError, ReplayMismatchError),
        kept="measured",
    )
    best = result.best_latency_s
    extra = llm_summary(run_dir, str(config.method)) if llm is not None else {}
    asked = f"; LLM {extra['llm_calls']} calls, {extra['llm_fallbacks']} fell back" if extra else ""
    _report(
        result,
        as_json=args.json,
        line=f"{result.workload} [{result.method}]: best "
        f"{'none' if best is None else f'{best * 1e3:.4f} ms'}"
        f"{'' if result.best_gflops is None else f' ({result.best_gflops:.2f} GFLOP/s)'}"
        f", {result.evaluations} evaluations, {result.failed} failed, "
        f"{result.wall_s:.1f} s{asked}; records in {result.run_dir}",
        extra=extra,
    )
    return 0 if result.best_latency_s is not None else 1


if __name__ == "__main__":
    sys.exit(main())
