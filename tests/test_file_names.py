"""Names from inputs used in file names cannot leave the directory they are joined to."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcoc.benchmark.suites import Suite
from dcoc.experiment.outputs import layer_file_stems
from dcoc.experiment.run_dir import default_run_dir
from dcoc.file_names import MAX_COMPONENT, file_name_component
from dcoc.search.cpu_trials import default_run_dir as cpu_default_run_dir

HOSTILE = [
    "..", ".", "../..", "../../etc/passwd", "/etc/passwd", "a/../../b", "C:\\Windows\\x",
    ".hidden", "a\nb", "a\x00b", "'; rm -rf ~ #", "$(touch pwned)", "{{ 7*7 }}", "x" * 5000,
    "层/卷积", "", "   ", "-rf", "~", "a" * 99 + "/..",
]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE)
def test_a_component_stays_in_its_directory(tmp_path: Path, name: str) -> None:
    for keep in ("A-Za-z0-9._-", "A-Za-z0-9.,@+=-", "A-Za-z0-9_-"):
        component = file_name_component(name, keep=keep)
        assert component not in ("", ".", "..") and not component.startswith(".")
        assert "/" not in component and "\\" not in component and "\x00" not in component
        assert len(component) <= MAX_COMPONENT
        assert (tmp_path / component).resolve().parent == tmp_path.resolve()
        (tmp_path / component).mkdir(exist_ok=True)  # the file system takes it


def test_long_names_stay_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert file_name_component(a) != file_name_component(b)
    assert file_name_component("resnet18.vta") == "resnet18.vta"


@pytest.mark.parametrize("name", HOSTILE)
def test_run_directories_named_from_inputs_stay_under_their_root(name: str) -> None:
    runs = Path("runs").resolve()
    for run_dir in (default_run_dir(name, 0), cpu_default_run_dir(name, "random")):
        assert run_dir.resolve().parent == runs
    out = Path("bench").resolve()
    assert (out / Suite(name, "accel", "w").key / "8000").resolve().parent.parent == out


def test_layer_file_stems_are_distinct_and_safe(tmp_path: Path) -> None:
    stems = layer_file_stems(HOSTILE)
    assert len({s.casefold() for s in stems}) == len(HOSTILE)
    for stem in stems:
        assert not stem.startswith(".") and len(stem) <= MAX_COMPONENT + 4
        path = tmp_path / f"{stem}.mapping.yaml"
        assert path.resolve().parent == tmp_path.resolve()
        path.write_text("")
