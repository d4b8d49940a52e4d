"""Jinja2 in input files, as timeloopfe renders them, in a sandbox.

timeloopfe (through accelergy's ``load_file_and_includes``) renders every input file with
Jinja2 before it parses the YAML, with these helpers, which dcoc offers too:

* ``include(path, keys="")``: the YAML of another file (rendered the same way), or the part
  under the dotted ``keys`` (``include('arch.yaml', 'architecture')``); ``include_all(glob,
  keys="")`` the list of every matching file's;
* ``include_text(path)``: another file's rendered text, pasted in;
* ``add_to_path(dir)``: one more directory to look for included files in;
* ``cwd()``: the directory of the file being rendered;
* ``find_path(p)``, ``find_paths(glob)``, ``path_exists(p)``.

Relative paths are looked up from the file's directory and then the ``add_to_path``
directories. Unlike timeloopfe, every path must stay inside the directory tree of the file
given on the command line (the *root*), templates run in ``jinja2.sandbox.SandboxedEnvironment``
(no attribute starting with ``_``, no unsafe callables; ``**`` and ``*`` bounded), and
``setenv`` (which sets the process environment in timeloopfe) is refused. Undefined names are
errors (``StrictUndefined``, as in timeloopfe); ``name|default(value)`` gives a default.

An included value reaches the YAML as ``!include_loaded NAME.keys``, the tag accelergy uses;
:mod:`dcoc.accel.spec.documents` replaces it by the loaded value.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox

from dcoc.errors import SpecError

MAX_INCLUDE_DEPTH = 32
MAX_POWER_BITS = 100_000
MAX_REPEAT = 10_000_000
TEMPLATE_MARKS = ("{{", "{%", "{#")


def has_template_syntax(text: str) -> bool:
    return any(mark in text for mark in TEMPLATE_MARKS)


class _BoundedSandbox(jinja2.sandbox.SandboxedEnvironment):
    """The sandbox with ``**`` and ``*`` refused when their result would be huge."""

    intercepted_binops = frozenset(["**", "*"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and right > 0
            and abs(left) > 1
            and right * abs(left).bit_length() > MAX_POWER_BITS
        ):
            raise jinja2.sandbox.SecurityError(f"{left}**{right} is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(n, int)
                    and len(seq) * n > MAX_REPEAT
                ):
                    raise jinja2.sandbox.SecurityError("a repeated sequence is too large")
        return super().call_binop(context, operator, left, right)


class IncludedAll(list[Any]):
    """The files ``include_all`` loaded; keys after its name apply to each (accelergy's
    ``MultiIncludeWrapper``)."""


class _ConfinedLoader(jinja2.FileSystemLoader):
    """``{% include %}``/``{% import %}`` from the root only, symlinks resolved first (the
    plain loader refuses ``..`` but follows a symlink out of the tree)."""

    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self.root = root

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not _inside(Path(os.path.realpath(filename)), self.root):
            raise jinja2.sandbox.SecurityError(
                f"{template!r} resolves outside {self.root}; templates must be inside the "
                "directory of the file given on the command line"
            )
        return source, filename, uptodate


@dataclass
class IncludeTable:
    """Values loaded by ``include``, by the name the rendered text refers to them with."""

    values: dict[str, Any] = field(default_factory=dict)


# (path, text, include table) -> parsed YAML value: documents.py parses rendered text.
Parser = Callable[[Path, str, IncludeTable], Any]


@dataclass
class TemplateContext:
    """What a render needs: the confinement root, the jinja data, the search directories."""

    root: Path
    data: dict[str, Any]
    parse: Parser
    include_dirs: list[Path] = field(default_factory=list)
    depth: int = 0


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


class _Renderer:
    def __init__(self, path: Path, ctx: TemplateContext, table: IncludeTable) -> None:
        self.path = path
        self.ctx = ctx
        self.table = table
        self.counter = 0

    def fail(self, message: str) -> SpecError:
        return SpecError(str(self.path), (), message)

    def find_paths(self, pattern: Any) -> list[str]:
        if isinstance(pattern, list | tuple):
            return [p for x in pattern for p in self.find_paths(x)]
        p = str(pattern)
        bases = [Path("")] if os.path.isabs(p) else [self.path.parent, *self.ctx.include_dirs]
        found: list[str] = []
        searched = []
        for base in bases:
            candidate = os.path.join(base, p)
            searched.append(candidate)
            for hit in sorted(glob.glob(candidate)):
                real = Path(os.path.realpath(hit))
                if not _inside(real, self.ctx.root):
                    raise self.fail(
                        f"{p!r} resolves to {real}, outside {self.ctx.root}; included files "
                        "must be inside the directory of the file given on the command line"
                    )
                if str(real) not in found:
                    found.append(str(real))
        if not found:
            raise self.fail(f"cannot find {p!r} (looked in: {', '.join(searched)})")
        return found

    def find_path(self, p: Any) -> str:
        return self.find_paths(p)[0]

    def path_exists(self, p: Any) -> bool:
        try:
            self.find_paths(p)
        except SpecError:
            return False
        return True

    def add_to_path(self, p: Any) -> str:
        for found in self.find_paths(p):
            if Path(found).is_dir() and Path(found) not in self.ctx.include_dirs:
                self.ctx.include_dirs.append(Path(found))
        return ""

    def cwd(self) -> str:
        return str(self.path.parent)

    def _load(self, found: str) -> Any:
        if self.ctx.depth >= MAX_INCLUDE_DEPTH:
            raise self.fail(f"includes nested more than {MAX_INCLUDE_DEPTH} deep (a cycle?)")
        sub = TemplateContext(
            self.ctx.root, self.ctx.data, self.ctx.parse, self.ctx.include_dirs, self.ctx.depth + 1
        )
        path = Path(found)
        table = IncludeTable()
        return self.ctx.parse(path, render_file(path, sub, table), table)

    def _refer(self, value: Any, keys: Any) -> str:
        name = f"{self.path.stem.replace('.', '_')}_{self.counter}"
        self.counter += 1
        self.table.values[name] = value
        keys = str(keys or "").lstrip(".")
        return f"!include_loaded {name}" + (f".{keys}" if keys else "")

    def include(self, p: Any, keys: Any = "") -> str:
        found = self.find_paths(p)
        if len(found) > 1:
            raise self.fail(f"include({p!r}) matches {len(found)} files; use include_all")
        return self._refer(self._load(found[0]), keys)

    def include_all(self, p: Any, keys: Any = "") -> str:
        return self._refer(IncludedAll(self._load(f) for f in self.find_paths(p)), keys)

    def include_text(self, p: Any) -> str:
        out = []
        for found in self.find_paths(p):
            sub = TemplateContext(
                self.ctx.root,
                self.ctx.data,
                self.ctx.parse,
                self.ctx.include_dirs,
                self.ctx.depth + 1,
            )
            if sub.depth > MAX_INCLUDE_DEPTH:
                raise self.fail(f"includes nested more than {MAX_INCLUDE_DEPTH} deep (a cycle?)")
            out.append(render_file(Path(found), sub, IncludeTable()))
        return "\n".join(out)

    def setenv(self, key: Any, value: Any) -> str:
        raise self.fail(
            f"setenv({key!r}, ...) sets the process environment; dcoc does not run it, "
            "remove it from the template"
        )

    def helpers(self) -> Mapping[str, Callable[..., Any]]:
        return {
            "include": self.include,
            "include_all": self.include_all,
            "include_text": self.include_text,
            "add_to_path": self.add_to_path,
            "cwd": self.cwd,
            "find_path": self.find_path,
            "find_paths": self.find_paths,
            "path_exists": self.path_exists,
            "setenv": self.setenv,
        }


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise SpecError(str(path), (), f"cannot read the file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise SpecError(str(path), (), "the file is not UTF-8 text") from None


def render_text(text: str, path: Path, ctx: TemplateContext, table: IncludeTable) -> str:
    """``text`` (the contents of ``path``) rendered; text without ``{{``/``{%``/``{#`` is
    returned as it is."""
    if not has_template_syntax(text):
        return text
    renderer = _Renderer(path, ctx, table)
    env = _BoundedSandbox(
        loader=_ConfinedLoader(ctx.root),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.globals.update(renderer.helpers())
    try:
        return env.from_string(text).render(ctx.data)
    except SpecError:
        raise
    except jinja2.sandbox.SecurityError as exc:
        raise renderer.fail(f"refused by the template sandbox: {exc}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise renderer.fail(f"Jinja2 syntax error (line {exc.lineno}): {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise renderer.fail(
            f"Jinja2: {exc.message}; give it with --jinja NAME=VALUE or use "
            "NAME|default(value) in the template"
        ) from None
    except jinja2.TemplateError as exc:
        raise renderer.fail(f"Jinja2 error: {exc}") from None
    except (
        ArithmeticError,
        TypeError,
        ValueError,
        RecursionError,
        MemoryError,
        NameError,  # Jinja2 folds an overflowing constant into the name `inf`
    ) as exc:
        raise renderer.fail(f"the template failed: {type(exc).__name__}: {exc}") from None


def render_file(path: Path, ctx: TemplateContext, table: IncludeTable) -> str:
    return render_text(read_text(path), path, ctx, table)
