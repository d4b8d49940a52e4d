"""timeloopfe-style inputs (issue 12): Jinja2 templates, ``variables`` and expressions, against
the reference runs in ``tests/data/timeloopfe``, and the sandbox against hostile inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from timeloopfe_cases import DESIGN_NAMES, DESIGNS, EXERCISE, Stats, read_stats

from dcoc.accel.__main__ import main
from dcoc.accel.model.evaluation import evaluate
from dcoc.accel.report import CostReport
from dcoc.accel.spec.documents import load_spec
from dcoc.accel.spec.expressions import (
    ExpressionFailed,
    ExpressionRefused,
    evaluate_expression,
)
from dcoc.accel.spec.inputs import model_inputs
from dcoc.errors import SpecError

REL = 1e-6
EXERCISE_OUT = EXERCISE / "outputs"
EXERCISE_FILES = [
    EXERCISE / "inputs" / f
    for f in ("arch.yaml", "variables.yaml", "problem.yaml", "components.yaml")
]
TABLES = [EXERCISE_OUT / f"timeloop-mapper.{k}.yaml" for k in ("map", "ERT", "ART")]


def _evaluate(files: list[Path], jinja: dict[str, str] | None = None, legacy: bool = False):
    doc = load_spec(files, jinja)
    inputs = model_inputs(doc)
    report = evaluate(
        inputs.architecture,
        inputs.problem,
        inputs.mapping,
        tables=inputs.tables,
        legacy_translation=legacy,
    )
    return doc, report


def _check_against_stats(report: CostReport, stats: Stats, total_abs_uj: float) -> None:
    assert report.valid, report.reasons
    assert report.cycles == stats.cycles
    mac = next(lv for lv in stats.levels.values() if lv.computes is not None)
    assert report.computes == mac.computes
    assert mac.energy_total_pj is not None
    assert report.mac_energy_pj == pytest.approx(mac.energy_total_pj, rel=REL, abs=0.006)
    checked = 0
    for level in report.levels:
        ref = stats.levels.get(level.name)
        if ref is None:
            continue
        for ds in level.dataspaces:
            want = ref.dataspaces.get(ds.name)
            if want is None:
                continue
            assert (ds.reads, ds.fills, ds.updates) == (want.reads, want.fills, want.updates), (
                level.name,
                ds.name,
            )
            assert ds.energy_pj == pytest.approx(want.energy_total_pj, rel=REL, abs=0.006)
            checked += 1
    assert checked >= 3
    # stats.txt prints the total in uJ with two decimals
    assert report.energy_pj / 1e6 == pytest.approx(stats.energy_uj, rel=REL, abs=total_abs_uj)


def test_exercise_02_2024_files_as_given() -> None:
    doc, report = _evaluate([*EXERCISE_FILES, *TABLES])
    stats = read_stats(EXERCISE_OUT / "timeloop-mapper.stats.txt")
    _check_against_stats(report, stats, total_abs_uj=0.0)
    assert report.cycles == 1073741824
    assert f"{report.energy_pj / 1e6:.2f}" == "66981.10"
    assert doc.get("variables")["DATAWIDTH"] == 8
    reg = next(n for n in doc.get("architecture")["nodes"] if n.get("name") == "reg")
    assert reg["attributes"]["width"] == 24  # datawidth * 3, datawidth: DATAWIDTH
    pe = next(n for n in doc.get("architecture")["nodes"] if n.get("name") == "PE")
    assert pe["constraints"]["spatial"]["split"] == 16  # len(spec.problem.instance)


@pytest.mark.parametrize("legacy", [False, True])
def test_exercise_02_2024_top_file(legacy: bool) -> None:
    _, report = _evaluate([EXERCISE / "top.yaml.jinja", *TABLES], legacy=legacy)
    _check_against_stats(report, read_stats(EXERCISE_OUT / "timeloop-mapper.stats.txt"), 0.0)


@pytest.mark.parametrize("design", DESIGN_NAMES)
def test_example_design_through_top_template(design: str) -> None:
    out = DESIGNS / design / "ref_outputs" / "default_problem"
    files = [
        DESIGNS / "top.yaml.jinja2",
        *(out / f"timeloop-mapper.{k}.yaml" for k in ("map", "ERT", "ART")),
    ]
    doc, report = _evaluate(files, {"architecture": design}, legacy=True)
    _check_against_stats(report, read_stats(out / "timeloop-mapper.stats.txt"), 0.005)
    assert isinstance(doc.get("components")["classes"], list)  # include_all of _components


def test_cli_evaluate_prints_timeloops_area_and_resolved_variables(capsys) -> None:
    args = ["evaluate", str(EXERCISE / "top.yaml.jinja"), *map(str, TABLES)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Area: 0.00 mm^2" in text  # as timeloop-mapper.stats.txt: see report.py
    assert main([*args, "--json", "--jinja", "datawidth_jinja=4"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["variables"]["DATAWIDTH"] == 4
    assert out["area_um2"] == pytest.approx(13812.0 + 43608.4, rel=1e-4)


def test_jinja_data_removes_the_register(capsys) -> None:
    doc = load_spec([EXERCISE / "top.yaml.jinja"], {"reg_enabled": ""})
    names = [n.get("name") for n in doc.get("architecture")["nodes"]]
    assert "reg" not in names and "mac" in names


@pytest.mark.parametrize("bad", ["x", "=1", "_a=1", "a b=1"])
def test_cli_jinja_argument_must_be_name_value(bad: str, capsys) -> None:
    args = ["evaluate", str(EXERCISE / "top.yaml.jinja"), *map(str, TABLES), "--jinja", bad]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--jinja" in err and "Traceback" not in err


# -- the restricted evaluator --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("datawidth * 3", 24),
        ("DATAWIDTH * 2", 16),
        ("ceil(log2(depth)) + 1", 11),
        ("len(spec.problem.instance)", 2),
        ("spec.problem.instance['C'] // 2", 4),
        ("1e-9", 1e-9),
        ("max(1, min(4, 2)) if datawidth > 4 else 0", 2),
        ("'a' + 'b'", "ab"),
        ("2 ** 10", 1024),
        ("not (1 < 2 <= 2)", False),
        ("sum([1, 2, 3]) + prod([2, 3])", 12),
        ("round(pi, 2)", 3.14),
        ("C in spec.problem.instance", True),
    ],
)
def test_expressions_allowed(text: str, want: object) -> None:
    scope = {
        "datawidth": 8,
        "DATAWIDTH": 8,
        "depth": 1000,
        "C": "C",
        "spec": {"problem": {"instance": {"C": 8, "M": 4}}},
    }
    assert evaluate_expression(text, scope) == want


HOSTILE_EXPRESSIONS = [
    "().__class__.__bases__[0].__subclasses__()",
    "__import__('os').system('true')",
    "open('/etc/passwd').read()",
    "eval('1')",
    "exec('x=1')",
    "compile('1', 'f', 'eval')",
    "getattr(1, 'real')",
    "globals()",
    "(lambda: 1)()",
    "[x for x in range(3)]",
    "{x: 1 for x in range(3)}",
    "(x for x in range(3))",
    "9**9**9",
    "2 << 10**9",
    "'a' * 10**9",
    "[0] * 10**9",
    "factorial(10**6)",
    "range(10**12)",
    "sum([[1]], [])",
    "'%999999999d' % 1",
    "f'{1:999999999}'",
    "spec.__class__",
    "spec['__class__']",
    "len.__self__",
    "str.join",
    "(1).real",
    "'x'.upper()",
    "max(*[1, 2])",
    "int('1', base=2)",
    "x := 1",
    "b'bytes'",
    "(" * 500 + "1" + ")" * 500,
    "1" + " + 1" * 5000,
]


@pytest.mark.parametrize("text", HOSTILE_EXPRESSIONS)
def test_hostile_expressions_are_refused(text: str) -> None:
    with pytest.raises((ExpressionRefused, ExpressionFailed, SyntaxError)):
        evaluate_expression(text, {"spec": {"problem": {}}})


@pytest.mark.parametrize("text", HOSTILE_EXPRESSIONS)
def test_hostile_expression_in_a_spec_is_a_spec_error(text: str, tmp_path: Path) -> None:
    arch = (EXERCISE / "inputs" / "arch.yaml").read_text()
    # a block scalar: unquoted (so an expression) whatever characters the text holds
    block = "width: |-\n" + " " * 8 + text
    hostile = arch.replace("width: datawidth * 3", block)
    (tmp_path / "arch.yaml").write_text(hostile)
    files = [tmp_path / "arch.yaml", *EXERCISE_FILES[1:], *TABLES]
    try:
        _evaluate(files)
    except SpecError as exc:
        assert exc.file == str(tmp_path / "arch.yaml")
        assert exc.yaml_path[:2] == ("architecture", "nodes")
        assert exc.yaml_path[-2:] == ("attributes", "width")
    else:  # a string that is no Python syntax stays a string and the model refuses it
        pytest.fail(f"{text!r} was accepted")


def test_unknown_name_in_an_expression_names_the_fix(tmp_path: Path) -> None:
    arch = (EXERCISE / "inputs" / "arch.yaml").read_text().replace("datawidth * 3", "dw * 3")
    (tmp_path / "arch.yaml").write_text(arch)
    with pytest.raises(SpecError) as err:
        _evaluate([tmp_path / "arch.yaml", *EXERCISE_FILES[1:], *TABLES])
    assert "'dw' is not defined" in str(err.value) and "variables" in str(err.value)


# -- the template sandbox -------------------------------------------------------------------
HOSTILE_TEMPLATES = [
    "{{ cycler.__init__.__globals__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ lipsum.__globals__['os'].system('true') }}",
    "{{ self._TemplateReference__context }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ include.__func__ }}",
    "{{ 9**(9**9) }}",  # Jinja2 reads 9**9**9 as (9**9)**9, which is small
    "{{ 'a' * 10**9 }}",
    "{{ include('/etc/passwd') }}",
    "{{ include('../../../../../../etc/hostname') }}",
    "{{ include_text('/etc/hostname') }}",
    "{{ add_to_path('/') }}",
    "{{ setenv('PATH', '') }}",
    "{{ undefined_name }}",
    "{% include '/etc/passwd' %}",
    "{% include '../outside.yaml' %}",
    "{% for x in range(10**9) %}{% endfor %}",
]


@pytest.mark.parametrize("template", HOSTILE_TEMPLATES)
def test_hostile_templates_are_spec_errors(template: str, tmp_path: Path) -> None:
    (tmp_path / "outside.yaml").write_text("x: 1\n")
    root = tmp_path / "spec"
    root.mkdir()
    top = root / "top.yaml"
    top.write_text(f"variables:\n  a: 1\nnote: {template}\n")
    with pytest.raises(SpecError) as err:
        load_spec([top])
    assert err.value.file == str(top)


def test_include_through_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text("secret: 1\n")
    root = tmp_path / "spec"
    root.mkdir()
    os.symlink(tmp_path / "secret.yaml", root / "link.yaml")
    (root / "top.yaml").write_text("x: {{ include('link.yaml', 'secret') }}\n")
    with pytest.raises(SpecError, match="outside"):
        load_spec([root / "top.yaml"])


def test_include_cycle_is_a_spec_error(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: {{ include('a.yaml') }}\n")
    with pytest.raises(SpecError, match="nested"):
        load_spec([tmp_path / "a.yaml"])


def test_quoted_strings_are_not_expressions(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("variables:\n  a: '1 + 1'\n  b: 1 + 1\n  c: 45nm\n")
    values = load_spec([tmp_path / "v.yaml"]).get("variables")
    assert values == {"a": "1 + 1", "b": 2, "c": "45nm"}
    assert type(values["a"]) is str


# -- the mapper on the tutorial's mapper.yaml and architecture constraints ------------------
def test_mapper_takes_the_tutorial_and_names_what_it_ignores(tmp_path: Path, capsys) -> None:
    from dcoc.accel.mapper.inputs import load_mapper_inputs

    files = [EXERCISE / "top.yaml.jinja", *TABLES[1:]]
    inputs = load_mapper_inputs(files)
    assert inputs.config.max_evaluations == 100  # search_size
    assert inputs.config.victory_condition == 10000
    assert inputs.config.max_permutations_per_if_visit == 4
    ignored = "\n".join(inputs.ignored)
    assert "spatial.maximize_dims: ignored" in ignored
    for key in ("live_status", "num_threads", "max_temporal_loops_in_a_mapping"):
        assert f"mapper.{key}: ignored" in ignored
    args = ["map", *map(str, files), "--budget", "20", "--out", str(tmp_path), "--quiet"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["ignored"] == list(inputs.ignored)
    # reg has temporal: {factors_only: []}: every temporal factor there is 1
    mapping = (tmp_path / "timeloop-mapper.map.yaml").read_text()
    doc = load_spec([files[0], tmp_path / "timeloop-mapper.map.yaml", *TABLES[1:]])
    reg = [t for t in doc.get("mapping") if t.get("target") == "reg" and t["type"] == "temporal"]
    assert reg and all(f[1:] == "1" for f in reg[0]["factors"].split()), mapping
    assert main(args) == 0
    assert "warning: " in capsys.readouterr().out


def test_cli_jinja_between_the_files(capsys) -> None:
    out = DESIGNS / "simba_like" / "ref_outputs" / "default_problem"
    tables = [str(out / f"timeloop-mapper.{k}.yaml") for k in ("map", "ERT", "ART")]
    args = ["evaluate", str(DESIGNS / "top.yaml.jinja2"), "--jinja", "architecture=simba_like"]
    assert main([*args, *tables, "--legacy-translation", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cycles"] == read_stats(out / "timeloop-mapper.stats.txt").cycles


def test_plain_words_stay_strings(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text("variables:\n  a: LPDDR4\n  b: max\n  c: 1..8\n  d: a\n")
    values = load_spec([tmp_path / "v.yaml"]).get("variables")
    assert values == {"a": "LPDDR4", "b": "max", "c": "1..8", "d": "LPDDR4"}


def test_jinja_include_tag_through_a_symlink_out_of_the_tree_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("secret: 1\n")
    root = tmp_path / "spec"
    root.mkdir()
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    (root / "top.yaml").write_text("{% include 'link.txt' %}\n")
    with pytest.raises(SpecError, match="outside"):
        load_spec([root / "top.yaml"])
    (root / "inner.txt").write_text("inner: 2\n")
    (root / "ok.yaml").write_text("{% include 'inner.txt' %}\n")
    assert load_spec([root / "ok.yaml"]).get("inner") == 2
