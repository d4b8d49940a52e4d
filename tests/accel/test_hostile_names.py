"""No spec string becomes code: names that are Python in disguise change nothing.

Every name a Timeloop spec gives (storage levels, containers, the MAC, the problem, its
dimensions and data spaces) is replaced by hostile text: a newline or a carriage return
followed by Python that writes a marker file (indented, as it would be inside a function),
quotes, backslashes, ``#``, braces, unicode, line and paragraph separators, several kilobytes of
text. The renamed files go through every engine (``model.evaluate`` with the closed form and
the delta engine, the cached ``Evaluator.summary``, the batched evaluator) and through the CLI.
Nothing may run (the marker file never appears) and every number equals the one of the same
case with its plain names. dcoc itself calls no ``eval``, ``exec`` or ``compile``: it writes no
Python source to run.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Mapping as MappingABC
from dataclasses import astuple, dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from timeloop_cases import input_files

from dcoc.accel.batched.evaluator import BatchEvaluator, evaluate_batch
from dcoc.accel.batched.inputs import HardwareBatch, MappingBatch
from dcoc.accel.mapper.random_mappings import random_mapping
from dcoc.accel.mapping import Mapping
from dcoc.accel.model.cached_evaluator import Evaluator
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostSummary
from dcoc.accel.spec.documents import TaggedNode, load_yaml_file
from dcoc.accel.spec.inputs import ModelInputs, load_model_inputs
from dcoc.accel.spec.mapping import parse_factors, parse_permutation
from dcoc.accel.tables import table_level_name
from dcoc.experiment.outputs import layer_file_stems

SPATIAL = "04-conv1d+oc+ic-3levelspatial-kp"  # a container with a fanout, sliding Inputs
EYERISS = "06-eyeriss-vgg02-layer5"  # two fanouts, bypass, coefficients, bandwidths
CASES = [SPATIAL, EYERISS]


def _payload(marker: Path) -> str:
    """Python that creates ``marker``, written without a dot (a dot would split an ERT/ART
    table name into a scope and a level name)."""
    return f"open(getattr(bytes, 'fromhex')('{bytes(marker).hex()}'), 'w')"


def _hostile_names(marker: Path, count: int) -> list[str]:
    """``count`` distinct hostile names (none starts or ends with white space, has a dot or
    ends with ``[..]``: the parser strips those, and ERT/ART names are split at them)."""
    code = _payload(marker)
    templates = [
        "N{i}\n    " + code + "  #",  # runs inside summary()
        "N{i}\n" + code + "\ndef summary(mapping):\n    return INVALID\n#",  # runs at exec
        "N{i}\r    " + code + "  #",  # a carriage return ends a line too
        "N{i} '\"\"\" ''' \\ \\n \\\\ # {{}} %s ${{x}} `x`",
        "N{i} \u00fcn\u00efc\u00f6d\u00e9 \u7f13\u51b2 \u2713 \u2028\u2029\x85\x0c\x0b "
        + code
        + " #",
        "N{i}" + "x" * 4000 + "\n    " + code + "  #",
        "N{i}\n    " + code + "\n    " + code + "\n    #",
    ]
    return [templates[i % len(templates)].format(i=i) for i in range(count)]


@dataclass(frozen=True)
class Names:
    """Old name -> new name, per kind of name."""

    levels: dict[str, str]
    dims: dict[str, str]
    spaces: dict[str, str]
    problem: dict[str, str]

    def level(self, name: str) -> str:
        if name in self.levels:
            return self.levels[name]
        m = re.fullmatch(r"inter_(.*)_spatial", name)
        if m and m.group(1) in self.levels:  # the dummy level of a container
            return f"inter_{self.levels[m.group(1)]}_spatial"
        return name

    @property
    def all(self) -> list[str]:
        return [*self.levels.values(), *self.dims.values(), *self.spaces.values()]


def _node_names(value: Any) -> list[str]:
    if isinstance(value, MappingABC):
        own = [value["name"]] if isinstance(value.get("name"), str) else []
        return own + [n for k, v in value.items() if k != "attributes" for n in _node_names(v)]
    if isinstance(value, list):
        return [n for v in value for n in _node_names(v)]
    return []


def _hostile(docs: dict[str, dict[str, Any]], marker: Path) -> Names:
    merged = {k: v for doc in docs.values() for k, v in doc.items()}
    levels = _node_names(merged["architecture"])
    shape = merged["problem"]["shape"]
    dims = [str(d) for d in shape["dimensions"]]
    spaces = [str(ds["name"]) for ds in shape["data_spaces"]]
    new = iter(_hostile_names(marker, len(levels) + len(dims) + len(spaces) + 1))
    return Names(
        levels={n: next(new) for n in levels},
        dims={d: next(new) for d in dims},
        spaces={s: next(new) for s in spaces},
        problem={str(shape.get("name")): next(new)},
    )


def _rename_constraints(raw: Any, dims: list[str], n: Names) -> Any:
    if not isinstance(raw, MappingABC):
        return raw
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("keep", "bypass") and isinstance(value, list):
            out[key] = [n.spaces[v] for v in value]
        elif key == "permutation" and isinstance(value, list):
            out[key] = [n.dims[v] for v in value]
        elif key == "factors":
            out[key] = {n.dims[d]: v for d, v in parse_factors(value, dims, None, ()).items()}
        else:
            out[key] = _rename_constraints(value, dims, n)
    return out


def _rename_architecture(value: Any, dims: list[str], n: Names) -> Any:
    if isinstance(value, MappingABC):
        out: dict[str, Any] = {}
        for key, v in value.items():
            if key == "name" and isinstance(v, str):
                out[key] = n.level(v)
            elif key == "constraints":
                out[key] = _rename_constraints(v, dims, n)
            elif key == "attributes":
                out[key] = v
            else:
                out[key] = _rename_architecture(v, dims, n)
        return TaggedNode(value.tag, out) if isinstance(value, TaggedNode) else out
    if isinstance(value, list):
        return [_rename_architecture(v, dims, n) for v in value]
    return value


def _rename_mapping(raw: list[Any], dims: list[str], n: Names) -> list[Any]:
    out = []
    for directive in raw:
        d = dict(directive)
        d["target"] = n.level(d["target"])
        if "factors" in d:
            d["factors"] = {
                n.dims[k]: v for k, v in parse_factors(d["factors"], dims, None, ()).items()
            }
        if "permutation" in d:
            d["permutation"] = [
                n.dims[k] for k in parse_permutation(d["permutation"], dims, None, ())
            ]
        for key in ("keep", "bypass"):
            if key in d:
                d[key] = [n.spaces[s] for s in d[key] or []]
        out.append(d)
    return out


def _rename_problem(raw: dict[str, Any], n: Names) -> dict[str, Any]:
    shape = dict(raw["shape"])
    shape["name"] = n.problem.get(str(shape.get("name")), shape.get("name"))
    shape["dimensions"] = [n.dims[str(d)] for d in shape["dimensions"]]

    def term(t: Any) -> Any:
        return [n.dims.get(str(x), x) for x in t] if isinstance(t, list) else n.dims[str(t)]

    shape["data_spaces"] = [
        {
            **ds,
            "name": n.spaces[str(ds["name"])],
            "projection": [[term(t) for t in dd] for dd in ds["projection"]],
        }
        for ds in shape["data_spaces"]
    ]
    instance = {n.dims.get(str(k), k): v for k, v in raw["instance"].items()}
    return {**raw, "shape": shape, "instance": instance}


def _rename_tables(raw: dict[str, Any], n: Names) -> dict[str, Any]:
    tables = [{**t, "name": n.level(table_level_name(t["name"]))} for t in raw["tables"]]
    return {**raw, "tables": tables}


def _rename(doc: dict[str, Any], dims: list[str], n: Names) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "architecture":
            out[key] = _rename_architecture(value, dims, n)
        elif key == "mapping":
            out[key] = _rename_mapping(value, dims, n)
        elif key == "problem":
            out[key] = _rename_problem(value, n)
        elif key in ("ERT", "ART"):
            out[key] = _rename_tables(value, n)
        else:
            out[key] = value
    return out


class _Dumper(yaml.SafeDumper):
    """A safe dumper that writes :class:`TaggedNode` back with its timeloopfe tag."""


def _represent_tagged(dumper: yaml.SafeDumper, node: TaggedNode) -> yaml.Node:
    return dumper.represent_mapping(f"!{node.tag}", dict(node))


_Dumper.add_representer(TaggedNode, _represent_tagged)


@dataclass(frozen=True)
class HostileCase:
    case: str
    """The reference case renamed."""
    files: list[Path]
    """The renamed YAML files (mapping included)."""
    names: Names
    marker: Path
    plain: ModelInputs
    hostile: ModelInputs


def _hostile_case(case: str, tmp_path: Path) -> HostileCase:
    marker = tmp_path / "marker"
    originals = input_files(case)
    docs = {p.name: load_yaml_file(p) for p in originals}
    names = _hostile(docs, marker)
    problem = next(d["problem"] for d in docs.values() if "problem" in d)
    dims = [str(d) for d in problem["shape"]["dimensions"]]
    out = tmp_path / "hostile"
    out.mkdir()
    files = []
    for file, doc in docs.items():
        path = out / file
        text = yaml.dump(_rename(doc, dims, names), Dumper=_Dumper, sort_keys=False)
        path.write_text(text, encoding="ascii")  # non-ASCII characters are escaped
        files.append(path)
    plain, hostile = load_model_inputs(originals), load_model_inputs(files)
    # the parser kept every hostile name as it is
    assert hostile.architecture.names == tuple(map(names.level, plain.architecture.names))
    assert hostile.architecture.arithmetic.name == names.level(plain.architecture.arithmetic.name)
    assert tuple(hostile.problem.dimensions) == tuple(names.dims.values())
    assert [ds.name for ds in hostile.problem.data_spaces] == list(names.spaces.values())
    assert hostile.problem.name in names.problem.values()
    return HostileCase(case, files, names, marker, plain, hostile)


def _numbers(value: Any) -> Any:
    """``value`` with every string left out (names, reasons): the numbers only."""
    if is_dataclass(value) and not isinstance(value, type):
        return tuple(
            _numbers(getattr(value, f.name))
            for f in fields(value)
            if not isinstance(getattr(value, f.name), str)
            and f.name != "reasons"
            and f.name != "attributes"
        )
    if isinstance(value, tuple | list):
        return tuple(_numbers(v) for v in value)
    if isinstance(value, float):
        return repr(value)  # tells 0.0 from -0.0
    return value


def _bits(s: CostSummary) -> tuple[str, ...]:
    return tuple(repr(x) for x in astuple(s))


def _mappings(inp: ModelInputs, count: int, seed: int) -> list[Mapping]:
    rng = np.random.default_rng(seed)
    return [inp.mapping] + [
        random_mapping(inp.architecture, inp.problem, rng) for _ in range(count)
    ]


@pytest.fixture(params=CASES)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> HostileCase:
    return _hostile_case(request.param, tmp_path)


def test_hostile_names_survive_the_yaml_round_trip(case: HostileCase) -> None:
    names = case.names.all
    assert any("\n" in n for n in names) and any("\r" in n for n in names)
    assert any(len(n) > 4000 for n in case.names.all)
    assert not case.marker.exists()


def test_cached_summary_gives_the_plain_numbers(case: HostileCase) -> None:
    """The cached evaluator on hostile names equals the full report on the plain names."""
    inp, plain = case.hostile, case.plain
    mappings = _mappings(plain, 60, seed=5)
    valid = 0
    for links in (True, False):
        ev = Evaluator(inp.architecture, inp.problem, inp.tables, link_transfers=links)
        for m in mappings:
            want = evaluate(
                plain.architecture, plain.problem, m, tables=plain.tables, link_transfers=links
            )
            assert _bits(ev.summary(m)) == _bits(want.summary())
            valid += want.valid
    assert valid > 0
    assert not case.marker.exists()


def test_model_engines_give_the_plain_numbers(case: HostileCase) -> None:
    inp, plain = case.hostile, case.plain
    valid = 0
    for m in _mappings(plain, 12, seed=7):
        for engine in ("closed_form", "simulate"):
            got = evaluate(inp.architecture, inp.problem, m, tables=inp.tables, engine=engine)
            want = evaluate(
                plain.architecture, plain.problem, m, tables=plain.tables, engine=engine
            )
            assert _numbers(got) == _numbers(want)
            assert len(got.reasons) == len(want.reasons)
            valid += got.valid
    assert valid > 0
    assert not case.marker.exists()


def test_batched_evaluator_gives_the_plain_numbers(case: HostileCase) -> None:
    inp, plain = case.hostile, case.plain
    mappings = _mappings(plain, 30, seed=9)
    shape = (len(plain.architecture.storage), len(plain.problem.dimensions))
    batch = MappingBatch.from_mappings(mappings, *shape, len(plain.problem.data_spaces))
    got = evaluate_batch(inp.architecture, inp.problem, batch, tables=inp.tables)
    want = evaluate_batch(plain.architecture, plain.problem, batch, tables=plain.tables)
    for f in fields(got):
        assert np.array_equal(getattr(got, f.name), getattr(want, f.name)), f.name
    assert bool(got.valid.any())
    hardware = HardwareBatch.from_architecture(inp.architecture, inp.tables)
    summary = BatchEvaluator(inp.architecture, inp.problem).evaluate_summary(batch, hardware)
    for f in fields(summary):
        assert np.array_equal(getattr(summary, f.name), getattr(want, f.name)), f.name
    assert not case.marker.exists()


# -- the command line ---------------------------------------------------------------------------


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcoc.accel", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
    )


def _json_numbers(value: Any) -> Any:
    """The CLI's JSON with names dropped (level names; data-space keys become positions)."""
    if isinstance(value, dict):
        return tuple(_json_numbers(v) for k, v in value.items() if k not in ("name", "reasons"))
    if isinstance(value, list):
        return tuple(_json_numbers(v) for v in value)
    return value


def _assert_clean(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode in (0, 1, 2)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr


def test_cli_evaluate_with_hostile_names(case: HostileCase, tmp_path: Path) -> None:
    got = _cli("evaluate", *case.files, "--json", cwd=tmp_path)
    want = _cli("evaluate", *input_files(case.case), "--json", cwd=tmp_path)
    _assert_clean(got)
    assert got.returncode == want.returncode == 0, got.stderr
    out = json.loads(got.stdout)
    assert [lv["name"] for lv in out["levels"]] == list(reversed(case.hostile.architecture.names))
    assert _json_numbers(out) == _json_numbers(json.loads(want.stdout))
    assert not case.marker.exists()


def test_cli_reports_a_hostile_unknown_target_on_one_line(
    case: HostileCase, tmp_path: Path
) -> None:
    mapping_file = next(p for p in case.files if "mapping" in load_yaml_file(p))
    doc = load_yaml_file(mapping_file)
    doc["mapping"][0]["target"] = _hostile_names(case.marker, 1)[0] + " unknown"
    broken = tmp_path / "broken.map.yaml"
    broken.write_text(yaml.dump(doc, Dumper=_Dumper, sort_keys=False), encoding="ascii")
    files = [broken if p == mapping_file else p for p in case.files]
    proc = _cli("evaluate", *files, "--json", cwd=tmp_path)
    _assert_clean(proc)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1  # the name's newlines are not printed
    assert not case.marker.exists()


def test_cli_map_with_hostile_names(tmp_path: Path) -> None:
    """The mapper searches, writes its mapping and stats files and reports what it does on
    the plain names."""
    case = _hostile_case(SPATIAL, tmp_path)
    no_map = [p for p in case.files if "mapping" not in load_yaml_file(p)]
    plain = [p for p in input_files(SPATIAL) if not p.name.endswith(".map.yaml")]
    args = ["--evaluator", "scalar", "--budget", "300", "--seed", "3", "--json", "--quiet"]
    got = _cli("map", *no_map, *args, "--out", tmp_path / "got", cwd=tmp_path)
    want = _cli("map", *plain, *args, "--out", tmp_path / "want", cwd=tmp_path)
    _assert_clean(got)
    assert got.returncode == want.returncode == 0, got.stderr
    a, b = json.loads(got.stdout), json.loads(want.stdout)
    assert a["evaluations"] == b["evaluations"] > 0
    for key in ("best_edp", "energy_pj", "cycles", "valid_evaluations"):
        assert a[key] == b[key], key
    assert not case.marker.exists()


# -- what dcoc executes ------------------------------------------------------------------------


def _builtin_code_calls(path: Path) -> list[str]:
    """``eval``/``exec``/``compile`` called by their bare names in ``path`` (attribute calls
    such as ``tvm.compile`` or ``model.eval()`` run no Python source)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        f"{path}:{node.lineno} {node.func.id}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("eval", "exec", "compile", "__import__")
    ]


def test_dcoc_writes_no_python_source_to_run(tmp_path: Path) -> None:
    """SECURITY.md: no part of dcoc (the accelerator model above all) runs Python source it
    writes. The scan finds the calls it looks for (checked on a sample)."""
    root = Path(__file__).resolve().parents[2]
    sources = [
        p for package in ("dcoc", "envs", "agents") for p in sorted((root / package).rglob("*.py"))
    ]
    assert len(sources) > 50
    found = [hit for p in sources for hit in _builtin_code_calls(p)]
    assert found == []
    sample = tmp_path / "sample.py"
    sample.write_text("f = eval('lambda e: e')\nexec(compile('', '', 'exec'))\nm.eval()\n")
    assert [hit.split()[-1] for hit in _builtin_code_calls(sample)] == ["eval", "exec", "compile"]


def test_a_string_where_a_number_belongs_is_never_run(tmp_path: Path) -> None:
    """Specs are validated at the edge; an architecture built in code that carries a string
    for a number makes the evaluators raise, and the string never runs."""
    inp = load_model_inputs(input_files(SPATIAL))
    levels = list(inp.architecture.storage)
    marker = tmp_path / "marker"
    levels[-1] = replace(levels[-1], read_bandwidth=f"1) or {_payload(marker)} #")
    arch = replace(inp.architecture, storage=tuple(levels))
    with pytest.raises(TypeError):
        Evaluator(arch, inp.problem, inp.tables).summary(inp.mapping)
    with pytest.raises(TypeError):
        evaluate(arch, inp.problem, inp.mapping, tables=inp.tables)
    assert not marker.exists()


# -- mapping programs (TIR text) and the trainer's file names --------------------------------


def test_tir_text_holds_names_only_as_identifiers(case: HostileCase) -> None:
    tvm = pytest.importorskip("tvm")
    from dcoc.tvm.mapping_tir import emit_tir, mapping_tir_text

    inp = case.hostile
    text = mapping_tir_text(inp.problem, inp.mapping, architecture=inp.architecture)
    header = text.splitlines()[: 2 + len(inp.architecture.storage)]
    assert all(line.startswith("# ") for line in header)
    assert "\r" not in text and "'w'" not in text
    # the only calls are TVMScript's own (T.*, I.*) and range
    calls = {ast.unparse(n.func) for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Call)}
    assert all(c.split(".")[0] in ("T", "I") or c == "range" for c in calls), calls
    parsed = tvm.script.parser.parse(text)
    expected = emit_tir(inp.problem, inp.mapping, architecture=inp.architecture)
    tvm.ir.assert_structural_equal(parsed, expected)
    assert not case.marker.exists()


def test_identifier_is_letters_digits_and_underscores() -> None:
    pytest.importorskip("tvm")
    from dcoc.tvm.mapping_tir_nest import identifier

    for name in ["a\nb", "x'y", "1st", "for", "None", "\u7f13", "", "a.b/c"]:
        out = identifier(name)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", out) and out.isidentifier()
        assert not __import__("keyword").iskeyword(out)
    assert identifier("GlobalBuffer") == "GlobalBuffer"


def test_layer_file_stems_stay_in_their_directory(tmp_path: Path) -> None:
    names = [
        "C8",
        "conv1.a-b",
        "../../escape",
        "/etc/passwd",
        "..",
        ".hidden",
        "a/b",
        "a_b",
        "A_B",
        "L\nimport os",
        "x" * 300,
        "\u7f13\u51b2",
        "",
    ]
    stems = layer_file_stems(names)
    assert stems[:2] == ["C8", "conv1.a-b"]  # plain names are kept
    assert len({s.casefold() for s in stems}) == len(names)
    for stem in stems:
        assert re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*", stem) and len(stem) <= 100
        path = (tmp_path / "tir" / f"{stem}.py").resolve()
        assert path.parent == (tmp_path / "tir").resolve()
