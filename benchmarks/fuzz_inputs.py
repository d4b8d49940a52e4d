"""Fuzz dcoc's input readers with mutated YAML files and print what came back, as counts.

    python benchmarks/fuzz_inputs.py --cases 10000 [--seed 0] [--keep DIR]

Every case starts from a valid input of one kind (Timeloop model inputs: architecture,
problem, mapping, ERT/ART; mapper inputs with mapspace constraints; a hardware design space;
an experiment config; a layer-set file), mutates one of its files one to three times (a value
replaced by a hostile scalar, a line deleted, duplicated, re-indented or cut, a snippet
inserted: YAML tags that would run code, Jinja2 that would, anchors, huge numbers, NaN,
names with newlines, quotes, ``#``, path separators, unicode) and reads it the way dcoc's
entry point does, in a worker process limited to ``--memory-gib`` of address space. A case
ends in one of:

- ``result``: the reader returned (an evaluated mapping, a mapper run, a design space, ...);
- ``spec_error``: a ``SpecError`` naming a file (one of the case's, or one they refer to);

and any other outcome is a defect: ``spec_error_unnamed`` (a ``SpecError`` that names no
file), ``crash`` (any other exception), ``hang`` (over ``--timeout`` seconds),
``died`` (the worker process ended), ``leaked_file`` (a file appeared in the worker's working
directory or in its temporary directory, ``TMPDIR``), ``leaked_process`` (the worker has a
child process after the case) and ``executed`` (the marker file a hostile snippet would create
exists). The table gives the counts per kind; each distinct defect is listed once with the number of
cases and one mutated file (kept under ``--keep``). Exit status 1 if any case is a defect.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import multiprocessing.connection
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
TIMELOOP_CASES = REPO / "tests" / "data" / "timeloop"
MAPPER_DATA = REPO / "tests" / "accel" / "mapper_data"
OUTCOMES = (
    "result",
    "spec_error",
    "spec_error_unnamed",
    "crash",
    "hang",
    "died",
    "leaked_file",
    "leaked_process",
    "executed",
)
GOOD_OUTCOMES = frozenset({"result", "spec_error"})
MARKER = "dcoc_fuzz_executed"
"""The file a hostile snippet would create if dcoc ran it (in the worker's working
directory)."""


@dataclass(frozen=True)
class Seed:
    """A valid input: its files and the reader that takes them."""

    kind: str
    name: str
    files: tuple[Path, ...]
    mutable: tuple[int, ...]
    """Indices in ``files`` of the files a case mutates."""


def _model_seeds() -> list[Seed]:
    seeds = []
    for case in sorted(TIMELOOP_CASES.iterdir()):
        if not case.is_dir():
            continue
        files = tuple(
            p for p in sorted(case.glob("*.yaml")) if p.name != "timeloopfe-flattened.yaml"
        )
        mutable = tuple(i for i, p in enumerate(files) if ".ERT." not in p.name)
        seeds.append(Seed("model", case.name, files, mutable))
        flat = case / "timeloopfe-flattened.yaml"
        if flat.exists() and case.name.startswith("ex-"):  # their v0.3 flattened arch
            others = tuple(p for p in files if "arch" not in p.name)
            seeds.append(Seed("model_v4", case.name, (flat, *others), (0,)))
    return seeds


def _mapper_seeds() -> list[Seed]:
    seeds = []
    for variant in ("freebypass", "null"):
        case = TIMELOOP_CASES / f"05-mapper-conv1d+oc-3level-{variant}"
        constraints = MAPPER_DATA / (
            "conv1d+oc-3level-freebypass.constraints.yaml"
            if variant == "freebypass"
            else "null.constraints.yaml"
        )
        files: tuple[Path, ...] = (
            case / "3level.arch.yaml",
            case / "conv1d+oc.prob.yaml",
            constraints,
            MAPPER_DATA / "example_designs.mapper.yaml",
        )
        seeds.append(Seed("mapper", variant, files, (0, 1, 2, 3)))
    for design in ("ex-simba_like", "06-eyeriss-vgg02-layer5"):
        case = TIMELOOP_CASES / design
        arch = next(p for p in case.glob("*arch.yaml"))
        prob = next(p for p in case.glob("*prob*.yaml"))
        files = (arch, prob, MAPPER_DATA / "eyeriss.mapper.yaml")
        seeds.append(Seed("mapper", design, files, (0, 1, 2)))
    return seeds


def _design_space_seeds() -> list[Seed]:
    specs = REPO / "accel_specs"
    return [
        Seed("design_space", space.name, (space, specs / space.name.replace(".space", "")), (0, 1))
        for space in sorted(specs.glob("*.space.yaml"))
    ]


def _experiment_seeds() -> list[Seed]:
    return [
        Seed("experiment", config.name, (config,), (0,))
        for config in sorted((REPO / "experiments").glob("*.yaml"))
    ]


def _layer_set_seeds() -> list[Seed]:
    files = [*sorted((REPO / "experiments" / "layers").glob("*.yaml"))]
    files += [REPO / "dcoc" / "workloads" / "data" / n for n in ("resnet18.yaml", "gpt2.yaml")]
    return [Seed("layers", f.name, (f,), (0,)) for f in files]


def all_seeds() -> list[Seed]:
    return [
        *_model_seeds(),
        *_mapper_seeds(),
        *_design_space_seeds(),
        *_experiment_seeds(),
        *_layer_set_seeds(),
    ]


# --- mutations ------------------------------------------------------------------------------

HOSTILE_SCALARS = (
    "null",
    "true",
    '""',
    "-1",
    "0",
    "-0.0",
    "2.5",
    "1e400",
    ".nan",
    ".inf",
    "-.inf",
    "99999999999999999999999999",
    "4294967296",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    '"a\\nb"',
    '"quote \' and \\" # not a comment"',
    '"../../../../etc/passwd"',
    '"/tmp/dcoc-fuzz-escape/name"',
    '"..\\\\..\\\\windows"',
    '"名前_🙂_ñ"',
    '"' + "L" * 5000 + '"',
    "!!python/name:os.system",
    f'!!python/object/apply:os.system ["touch {MARKER}"]',
    "!!binary aGVsbG8=",
    "!Component {}",
    "*undefined_alias",
    "'{{ 7 * 7 }}'",
    f"\"{{{{ cycler.__init__.__globals__.os.popen('touch {MARKER}').read() }}}}\"",
    "'{{ 9 ** 999999 }}'",
    "'{% include \"/etc/passwd\" %}'",
    "'$(touch " + MARKER + ")'",
    '\'1 if __import__("os").system("touch ' + MARKER + "\") else 2'",
    "'x' ",
)
HOSTILE_SNIPPETS = (
    "\t",
    ":",
    "- ",
    "{",
    "]",
    "&a ",
    "*a ",
    "? ",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "\x00",
    "\ufeff",
    "\n  extra_key: 1\n",
    f"\nx: !!python/object/apply:os.system ['touch {MARKER}']\n",
    f"{{{{ lipsum.__globals__.os.popen('touch {MARKER}') }}}}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{{ 'a' * 10**10 }}",
    "\nlaughs: &l0 [x, x, x, x, x, x, x, x, x]\n"
    "l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n"
    "l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n"
    "l3: [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]\n",
)
_VALUE_LINE = re.compile(r"^(\s*(?:- )?[^:#\n]+:\s+)(\S.*)$")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def _mutate_value_line(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _VALUE_LINE.match(line)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    m = _VALUE_LINE.match(lines[i])
    assert m is not None
    lines[i] = m.group(1) + rng.choice(HOSTILE_SCALARS)
    return "\n".join(lines)


def _mutate_number(text: str, rng: random.Random) -> str:
    numbers = list(_NUMBER.finditer(text))
    if not numbers:
        return text
    m = rng.choice(numbers)
    value = rng.choice(
        ("0", "-1", "-" + m.group(), m.group() + "0000000", "1e400", "nan", "0.5", "3", "7")
    )
    return text[: m.start()] + value + text[m.end() :]


def _mutate_lines(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    i = rng.randrange(len(lines))
    op = rng.randrange(4)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[i])
    elif op == 2:
        lines[i] = " " * rng.choice((1, 2, 3, 5)) + lines[i]
    else:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _insert_snippet(text: str, rng: random.Random) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(HOSTILE_SNIPPETS) + text[at:]


def _truncate(text: str, rng: random.Random) -> str:
    return text[: rng.randrange(len(text) + 1)]


def _mutate_tree(text: str, rng: random.Random) -> str:
    """Parse (plain YAML only), change one node (delete, rename, retype, wrap), dump."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return _mutate_lines(text, rng)
    nodes: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                nodes.append((node, key))
                walk(node[key])
        elif isinstance(node, list):
            for index in range(len(node)):
                nodes.append((node, index))
                walk(node[index])

    walk(doc)
    if not nodes:
        return text
    parent, key = rng.choice(nodes)
    op = rng.randrange(5)
    if op == 0:
        del parent[key]
    elif op == 1 and isinstance(parent, dict):
        parent[rng.choice(("x", key + "_", "", "名", "a\nb", "../k"))] = parent.pop(key)
    elif op == 2:
        parent[key] = [parent[key]]
    elif op == 3:
        parent[key] = {"value": parent[key]}
    else:
        parent[key] = rng.choice(
            (None, True, -1, 0, 10**30, 2.5, float("nan"), float("inf"), "", "a\nb", "名", [], {})
        )
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


MUTATIONS: tuple[Callable[[str, random.Random], str], ...] = (
    _mutate_value_line,
    _mutate_value_line,
    _mutate_number,
    _mutate_lines,
    _insert_snippet,
    _truncate,
    _mutate_tree,
    _mutate_tree,
)


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.choice((1, 1, 2, 3))):
        text = rng.choice(MUTATIONS)(text, rng)
    return text


# --- reading a case, in the worker ----------------------------------------------------------


def _read_model(files: list[Path], scratch: Path) -> None:
    from dcoc.accel.model.evaluation import evaluate
    from dcoc.accel.spec.inputs import load_model_inputs

    inputs = load_model_inputs(files)
    evaluate(inputs.architecture, inputs.problem, inputs.mapping, tables=inputs.tables)


def _read_mapper(files: list[Path], scratch: Path) -> None:
    from dcoc.accel.mapper.inputs import MapperOverrides, load_mapper_inputs
    from dcoc.accel.mapper.search import search_mapspace

    inputs = load_mapper_inputs(files, overrides=MapperOverrides(max_evaluations=64))
    search_mapspace(inputs.space, inputs.evaluator(), inputs.config)


def _read_design_space(files: list[Path], scratch: Path) -> None:
    import numpy as np

    from dcoc.accel.spec.design_space import load_design_space

    space = load_design_space(files[0])
    rng = np.random.default_rng(0)
    for config in (space.default(), space.smallest(), space.sample(rng)):
        space.architecture(config)
        space.area_um2(config)


def _read_experiment(files: list[Path], scratch: Path) -> None:
    from dcoc.experiment.environment import plan_env
    from dcoc.experiment.loader import load_config

    config = load_config(files[0])
    plan_env(config, scratch / "records.sqlite", str(files[0]))


def _read_layers(files: list[Path], scratch: Path) -> None:
    from dcoc.workloads.catalog import resolve_layers

    for layer in resolve_layers(str(files[0])).layers:
        _ = layer.problem


READERS: dict[str, Callable[[list[Path], Path], None]] = {
    "model": _read_model,
    "model_v4": _read_model,
    "mapper": _read_mapper,
    "design_space": _read_design_space,
    "experiment": _read_experiment,
    "layers": _read_layers,
}


def _crash_site(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    inside = [f for f in frames if "/dcoc/" in f.filename] or frames
    where = inside[-1] if inside else None
    site = f"{Path(where.filename).name}:{where.lineno} {where.name}" if where else "?"
    return f"{type(error).__name__} at {site}"


def _classify(kind: str, files: list[Path], scratch: Path) -> tuple[str, str]:
    from dcoc.errors import SpecError

    try:
        READERS[kind](files, scratch)
    except SpecError as error:
        if error.file not in ("<memory>", ""):  # a case file, or a file one of them names
            return "spec_error", ""
        return "spec_error_unnamed", f"SpecError naming {error.file!r}: {error.message[:120]}"
    except RecursionError as error:
        return "crash", _crash_site(error)
    except Exception as error:  # a defect: reported, with where it came from
        return "crash", f"{_crash_site(error)}: {str(error)[:160]}"
    return "result", ""


def _worker(conn: mp.connection.Connection, scratch: str, tmp: str, memory_gib: float) -> None:
    limit = int(memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.chdir(scratch)
    os.environ["TMPDIR"] = tempfile.tempdir = tmp  # the worker's own, watched for leaks
    warnings.simplefilter("error", RuntimeWarning)  # a NaN reaching numpy is a defect
    import dcoc.accel.spec.inputs  # noqa: F401  (imported once, before the clock runs)

    while True:
        message = conn.recv()
        if message is None:
            return
        kind, names = message
        conn.send(_classify(kind, [Path(n) for n in names], Path(scratch)))


class Worker:
    """A worker process; replaced when it hangs or dies."""

    def __init__(self, scratch: Path, tmp: Path, memory_gib: float) -> None:
        self.scratch, self.tmp, self.memory_gib = scratch, tmp, memory_gib
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker,
            args=(child, str(self.scratch), str(self.tmp), self.memory_gib),
            daemon=True,
        )
        self.process.start()

    def run(self, kind: str, files: list[Path], timeout: float) -> tuple[str, str]:
        self.conn.send((kind, [str(f) for f in files]))
        try:
            ready = self.conn.poll(timeout)
            if ready:
                return self.conn.recv()  # type: ignore[no-any-return]
            outcome = ("hang", f"{kind}: no answer in {timeout:.0f} s")
        except (EOFError, ConnectionError):
            outcome = ("died", f"{kind}: worker exit code {self.process.exitcode}")
        self.restart()
        return outcome

    def children(self) -> int:
        try:
            return len(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return 0

    def restart(self) -> None:
        self.process.kill()
        self.process.join()
        self._start()

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.conn.send(None)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


# --- the run --------------------------------------------------------------------------------


@dataclass
class Tally:
    counts: dict[str, Counter[str]]
    defects: Counter[str]
    examples: dict[str, Path]


def _case_files(seed: Seed, case_dir: Path, rng: random.Random) -> list[Path]:
    shutil.rmtree(case_dir, ignore_errors=True)
    case_dir.mkdir(parents=True)
    target = rng.choice(seed.mutable)
    files = []
    for i, source in enumerate(seed.files):
        text = source.read_text(encoding="utf-8")
        if i == target:
            text = mutate(text, rng)
        path = case_dir / source.name
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        files.append(path)
    return files


def _new_files(directory: Path, before: set[str]) -> set[str]:
    return {name for name in os.listdir(directory) if name not in before}


def fuzz(cases: int, seed: int, timeout: float, memory_gib: float, keep: Path) -> Tally:
    seeds = all_seeds()
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="dcoc-fuzz-"))
    scratch, tmp, case_dir = work / "scratch", work / "tmp", work / "case"
    scratch.mkdir()
    tmp.mkdir()
    keep.mkdir(parents=True, exist_ok=True)
    tally = Tally({s.kind: Counter() for s in seeds}, Counter(), {})
    worker = Worker(scratch, tmp, memory_gib)
    started = time.monotonic()
    try:
        for number in range(cases):
            chosen = seeds[number % len(seeds)] if number < len(seeds) else rng.choice(seeds)
            files = (
                list(chosen.files) if number < len(seeds) else _case_files(chosen, case_dir, rng)
            )
            outcome, detail = worker.run(chosen.kind, files, timeout)
            if number < len(seeds):  # the unmutated seeds must read
                if outcome != "result":
                    raise SystemExit(f"seed {chosen.kind}/{chosen.name} does not read: {detail}")
                continue
            leaked = _new_files(scratch, set()) | _new_files(tmp, set())
            if any(MARKER in name for name in leaked) or (work / MARKER).exists():
                outcome, detail = "executed", f"{chosen.kind}: {sorted(leaked)}"
            elif leaked:
                outcome, detail = "leaked_file", f"{chosen.kind}: {sorted(leaked)[:3]}"
            elif worker.children():
                outcome, detail = "leaked_process", f"{chosen.kind}: {worker.children()} children"
                worker.restart()
            for directory in (scratch, tmp):
                for name in _new_files(directory, set()):
                    target = directory / name
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
            tally.counts[chosen.kind][outcome] += 1
            if outcome not in GOOD_OUTCOMES:
                key = f"{outcome}: {detail}"
                tally.defects[key] += 1
                if key not in tally.examples:
                    example = keep / f"defect_{len(tally.examples):03d}_{chosen.kind}"
                    shutil.copytree(case_dir, example, dirs_exist_ok=True)
                    tally.examples[key] = example
            if (number + 1) % 500 == 0:
                print(
                    f"[fuzz] {number + 1}/{cases} cases, {sum(tally.defects.values())} defects, "
                    f"{time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        worker.close()
        shutil.rmtree(work, ignore_errors=True)
    return tally


def print_table(tally: Tally, cases: int, elapsed: float) -> None:
    shown = [o for o in OUTCOMES if o in GOOD_OUTCOMES or any(c[o] for c in tally.counts.values())]
    print(f"{cases} mutated inputs in {elapsed:.0f} s\n")
    print("| kind | cases | " + " | ".join(shown) + " |")
    print("|---|---:|" + "---:|" * len(shown))
    total: Counter[str] = Counter()
    for kind, counts in tally.counts.items():
        total.update(counts)
        cells = " | ".join(str(counts[o]) for o in shown)
        print(f"| {kind} | {sum(counts.values())} | {cells} |")
    print(f"| all | {sum(total.values())} | " + " | ".join(str(total[o]) for o in shown) + " |")
    if tally.defects:
        print("\nDefects (cases, first example):")
        for key, count in tally.defects.most_common():
            print(f"- {count} x {key}  [{tally.examples[key]}]")
    else:
        print("\nNo defects.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="mutated inputs (default 10000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per case")
    parser.add_argument("--memory-gib", type=float, default=4.0, help="worker address space")
    parser.add_argument("--keep", type=Path, default=Path("fuzz-defects"), help="defect examples")
    args = parser.parse_args()
    started = time.monotonic()
    tally = fuzz(args.cases + len(all_seeds()), args.seed, args.timeout, args.memory_gib, args.keep)
    print_table(tally, args.cases, time.monotonic() - started)
    return 1 if tally.defects else 0


if __name__ == "__main__":
    raise SystemExit(main())
