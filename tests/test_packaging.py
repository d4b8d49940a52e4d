"""The package installs as one import name, ``dcoc``, with ``envs/`` and ``agents/`` mapped to
``dcoc.envs`` and ``dcoc.agents``, both as an editable install and from a built wheel."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = {"dcoc": ROOT / "dcoc", "dcoc.envs": ROOT / "envs", "dcoc.agents": ROOT / "agents"}


def _packages_on_disk() -> set[str]:
    found: set[str] = set()
    for prefix, top in SOURCE_DIRS.items():
        for init in top.rglob("__init__.py"):
            rel = init.parent.relative_to(top).parts
            if prefix == "dcoc" and rel and rel[0] in {"envs", "agents"}:
                continue
            found.add(".".join((prefix, *rel)))
    return found


def _declared() -> tuple[set[str], dict[str, str]]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(cfg["packages"]), cfg["package-dir"]


def test_every_package_is_declared() -> None:
    declared, package_dir = _declared()
    assert package_dir == {"dcoc": "dcoc", "dcoc.envs": "envs", "dcoc.agents": "agents"}
    missing = _packages_on_disk() - declared
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"
    stale = declared - _packages_on_disk()
    assert not stale, f"declared but without __init__.py: {stale}"


def test_editable_or_installed_import_maps_envs_and_agents() -> None:
    import dcoc.agents
    import dcoc.envs

    assert Path(dcoc.envs.__file__).resolve().parent == (ROOT / "envs")
    assert Path(dcoc.agents.__file__).resolve().parent == (ROOT / "agents")


@pytest.mark.slow
def test_wheel_contains_one_import_name_and_data(tmp_path: Path) -> None:
    # Build from a copy: an in-tree build leaves build/ behind in the checkout.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "runs", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(source),
        ],
        check=True,
        cwd=source,
    )
    (wheel,) = tmp_path.glob("dcoc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"dcoc"}, tops
    assert "dcoc/envs/__init__.py" in names and "dcoc/agents/__init__.py" in names
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    probe = (
        "import dcoc, dcoc.envs, dcoc.agents, pathlib; "
        "print(pathlib.Path(dcoc.envs.__file__).parent.parent)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {probe}"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(out) == target / "dcoc"
