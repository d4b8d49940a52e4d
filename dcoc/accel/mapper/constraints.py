"""Mapspace constraints: what a mapper may choose at each storage level, as Timeloop reads them.

Two sources are merged, exactly as ``timeloop-mapper`` does after timeloopfe's processing:

* the architecture's per-node ``constraints`` (``temporal``/``spatial``/``dataspace``), kept by
  :func:`~dcoc.accel.architecture.parse_architecture` on each :class:`StorageLevel`; a
  container's ``spatial`` constraint sits on its dummy ``inter_<name>_spatial`` level;
* a Timeloop constraints file: ``mapspace_constraints: {targets: [...]}``, ``constraints:
  {targets: [...]}``, ``mapspace: {constraints: [...]}`` or a bare list. Each target has a
  ``target`` (storage level or container name) and a ``type``: ``temporal``/``spatial``
  (``factors`` like ``"R=3 P<=4 K>=2"``, ``permutation``, ``split``), ``dataspace``/``bypass``/
  ``datatype`` (``keep``/``bypass``), ``utilization``/``parallelism`` (``min``).

Semantics (Timeloop ``src/mapping/constraints.cpp``, ``src/mapspaces/subspaces.cpp``, timeloopfe
``v4/processors/dataspace2branch.py``):

* ``X=n`` fixes a factor, ``X<=n``/``X>=n`` bound it; a spatial factor is the product of the X
  and Y factors of that dimension (each dimension runs along one mesh axis only).
* A ``permutation`` lists the *innermost* loops, in order; the other dimensions are free above.
* A spatial ``split`` s puts the first s dimensions of the spatial permutation on mesh X and
  the rest (including unlisted dimensions) on mesh Y.
* Dummy ``inter_*_spatial`` levels keep nothing and have no temporal loops; the outermost level
  keeps every data space. In a ``!Parallel`` node, each branch bypasses every data space it
  does not ``keep``. Any other (level, data space) pair is free.
* Two constraints on the same (level, dimension) or (level, data space) that disagree are an
  error (Timeloop: "re-specification").
* A dimension the problem lacks is an error (Timeloop: "not found in problem shape"), unless
  ``dimension_names`` says how the constraints' dimension names read for this problem (e.g. a
  GEMM layer under constraints written for convolutions,
  :func:`dcoc.workloads.shapes.cnn_constraint_names`): a name mapped to another dimension
  constrains that one, a name mapped to ``None`` is dropped from factors and permutations (a
  spatial ``split`` then counts only the permutation's remaining dimensions).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from dcoc.accel.architecture import PARALLEL_KEEP, Architecture
from dcoc.accel.spec.documents import SpecDocument, data_space_names
from dcoc.errors import SpecError, format_yaml_path
from dcoc.workloads.problem import Problem

YamlPath = tuple[str | int, ...]
_FACTOR = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*?)\s*(<=|>=|=)?\s*(\d+)\s*$")
_SPLIT = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class FactorBounds:
    """Allowed values of one loop factor: ``low <= f <= high``; ``exact`` fixes it."""

    exact: int | None = None
    low: int = 1
    high: int | None = None

    def allows(self, f: int) -> bool:
        if self.exact is not None:
            return f == self.exact
        return f >= self.low and (self.high is None or f <= self.high)


FREE = FactorBounds()


@dataclass(frozen=True)
class LoopConstraints:
    """Constraints on the temporal or the spatial loops of one level (dimension indices)."""

    factors: tuple[FactorBounds, ...]
    prefix: tuple[int, ...] = ()
    """Innermost loops, in order (Timeloop's user permutation)."""
    split: int | None = None
    """Spatial only: dimensions at positions < split of the spatial permutation go on X."""

    def axis_of(self, dim: int) -> str | None:
        """``"X"``, ``"Y"`` or ``None`` (free) for a spatial dimension under ``split``."""
        if self.split is None:
            return None
        pos = self.prefix.index(dim) if dim in self.prefix else len(self.prefix)
        return "X" if pos < self.split else "Y"


@dataclass(frozen=True)
class LevelConstraints:
    temporal: LoopConstraints
    spatial: LoopConstraints
    keep: tuple[bool | None, ...]
    """Per data space: forced keep (True), forced bypass (False) or free (None)."""


@dataclass(frozen=True)
class MapspaceConstraints:
    """Per storage level (inner to outer, as ``Architecture.storage``) and global constraints."""

    levels: tuple[LevelConstraints, ...]
    min_utilization: float = 0.0
    """Minimum fraction of the MAC units a mapping must use (Timeloop ``utilization``)."""
    sources: tuple[str, ...] = field(default=(), compare=False)
    ignored: tuple[str, ...] = field(default=(), compare=False)
    """Constraints dcoc read but does not apply, as ``file: yaml.path: key (why)`` lines."""


IGNORED_LOOP_KEYS = {
    "maximize_dims": "timeloopfe's greedy fill of the fanout is not implemented; the mapper "
    "searches these dimensions freely",
    "maximize_dims_capacity": "goes with maximize_dims, not implemented",
    "no_iteration_over_dataspaces": "not implemented; write the factors as D=1",
    "must_iterate_over_dataspaces": "not implemented",
    "default_max_factor": "not implemented",
    "default_min_factor": "not implemented",
    "remainders": "imperfect factorization is not modelled",
    "no_reuse": "not modelled",
    "no_link_transfer": "not modelled",
    "rmw_first_update": "not modelled",
}
"""timeloopfe constraint keys the mapper reads and ignores (reported, never dropped silently)."""


# ---------------------------------------------------------------------------------------------
# parsing helpers


DimensionNames = MappingABC[str, str | None]
"""How constraint dimension names read for a problem: name -> the problem dimension it
constrains, or ``None`` (the problem has no such loop: the entry is dropped). Names not in the
mapping are read as they are."""


class UnknownDimensionError(SpecError):
    """A constraint names a dimension the problem does not have."""


def _dim_index(
    name: str,
    problem: Problem,
    file: str | None,
    path: YamlPath,
    names: DimensionNames | None = None,
) -> int | None:
    """The problem dimension ``name`` constrains (``None``: ``names`` drops it)."""
    own = names.get(name, name) if names is not None else name
    if own is None:
        return None
    if own not in problem.dimensions:
        via = f" (read as {own!r})" if own != name else ""
        raise UnknownDimensionError(
            file,
            path,
            f"{name!r}{via} is not a problem dimension (dimensions: {list(problem.dimensions)})",
        )
    return problem.dimensions.index(own)


def parse_factor_bounds(
    raw: Any,
    problem: Problem,
    file: str | None,
    path: YamlPath,
    names: DimensionNames | None = None,
) -> dict[int, FactorBounds]:
    """``"R=3 P<=4"``, ``"R3 P4"``, ``[R=3, P<=4]`` or ``{R: 3}`` -> bounds per dimension
    (``names``: see :data:`DimensionNames`)."""
    if raw is None:
        return {}
    if isinstance(raw, MappingABC):
        tokens = [f"{k}={v}" for k, v in raw.items()]
    elif isinstance(raw, str):
        tokens = [t for t in re.split(r"[\s,]+", raw.strip()) if t]
    elif isinstance(raw, list):
        tokens = [str(t).strip() for t in raw]
    else:
        raise SpecError(file, path, f"factors must be a string like 'R=3 P<=4', got {raw!r}")
    out: dict[int, FactorBounds] = {}
    for token in tokens:
        m = _FACTOR.match(token)
        if m is None:
            raise SpecError(file, path, f"cannot read factor {token!r}; write it like R=3 or P<=4")
        name, op, value = m.group(1), m.group(2) or "=", int(m.group(3))
        d = _dim_index(name, problem, file, path, names)
        if d is None:
            continue
        bound = problem.bounds[problem.dimensions[d]]
        prev = out.get(d, FREE)
        if op == "=":
            if value == 0 or value > bound:  # Timeloop: 0 or too large means the whole bound
                value = bound
            new = FactorBounds(exact=value)
        elif op == "<=":
            new = FactorBounds(prev.exact, prev.low, value)
        else:
            new = FactorBounds(prev.exact, value, prev.high)
        if d in out and (op == "=" or prev.exact is not None):
            raise SpecError(file, path, f"dimension {name} is given two factors in {raw!r}")
        out[d] = new
    return out


def parse_permutation_prefix(
    raw: Any,
    problem: Problem,
    file: str | None,
    path: YamlPath,
    names: DimensionNames | None = None,
) -> tuple[int | None, ...]:
    """``"RPK"``, ``"R P K"`` or ``[R, P, K]`` (innermost first) -> dimension indices
    (``None`` where ``names`` drops a name; see :data:`DimensionNames`)."""
    if raw is None:
        return ()
    vocabulary = [*problem.dimensions, *(names or {})]
    if isinstance(raw, str):
        text = raw.strip()
        if _SPLIT.search(text) or not all(len(d) == 1 for d in vocabulary):
            tokens = [t for t in _SPLIT.split(text) if t]
        else:
            tokens = list(text)
    elif isinstance(raw, list):
        tokens = [str(x) for x in raw]
    else:
        raise SpecError(file, path, f"permutation must be a string like 'RPK', got {raw!r}")
    idx = [_dim_index(n, problem, file, path, names) for n in tokens]
    kept = [d for d in idx if d is not None]
    if len(set(kept)) != len(kept):
        raise SpecError(file, path, f"permutation {raw!r} repeats a dimension")
    return tuple(idx)


def _ds_list(raw: Any, problem: Problem, file: str | None, path: YamlPath) -> list[int]:
    names = [ds.name for ds in problem.data_spaces]
    return [names.index(n) for n in data_space_names(raw, names, file, path)]


# ---------------------------------------------------------------------------------------------
# a mutable builder merged from several sources


@dataclass
class _LevelDraft:
    factors: dict[str, dict[int, FactorBounds]]
    prefix: dict[str, tuple[int, ...]]
    split: int | None
    keep: list[bool | None]


class _Builder:
    def __init__(
        self, arch: Architecture, problem: Problem, names: DimensionNames | None = None
    ) -> None:
        self.arch, self.problem, self.names = arch, problem, names
        nds = len(problem.data_spaces)
        self.levels = [
            _LevelDraft({"temporal": {}, "spatial": {}}, {}, None, [None] * nds)
            for _ in arch.storage
        ]
        self.min_utilization = 0.0
        self.sources: list[str] = []
        self.ignored: list[str] = []

    def ignore(self, file: str | None, path: YamlPath, why: str) -> None:
        self.ignored.append(f"{file or 'architecture'}: {format_yaml_path(path)}: ignored ({why})")

    def loops(
        self, li: int, kind: str, raw: MappingABC[str, Any], file: str | None, path: YamlPath
    ) -> None:
        level = self.levels[li]
        name = self.arch.storage[li].name
        for key, why in IGNORED_LOOP_KEYS.items():
            if raw.get(key) not in (None, [], {}):
                self.ignore(file, (*path, key), why)
        factors = parse_factor_bounds(
            raw.get("factors"), self.problem, file, (*path, "factors"), self.names
        )
        only = raw.get("factors_only")
        if only is not None:
            # timeloopfe's ConstraintMacroProcessor: the listed factors, every other one 1.
            only_bounds = parse_factor_bounds(
                only, self.problem, file, (*path, "factors_only"), self.names
            )
            for d in range(len(self.problem.dimensions)):
                factors.setdefault(d, only_bounds.get(d, FactorBounds(exact=1)))
        for d, b in factors.items():
            old = level.factors[kind].get(d)
            if old is not None and old != b:
                raise SpecError(
                    file,
                    (*path, "factors"),
                    f"{kind} factor of {self.problem.dimensions[d]} at {name} is constrained "
                    "twice, differently (architecture and constraints file?); keep one",
                )
            level.factors[kind][d] = b
        listed = parse_permutation_prefix(
            raw.get("permutation"), self.problem, file, (*path, "permutation"), self.names
        )
        prefix = tuple(d for d in listed if d is not None)
        if prefix:
            old_p = level.prefix.get(kind)
            if old_p is not None and old_p != prefix:
                raise SpecError(
                    file,
                    (*path, "permutation"),
                    f"{kind} permutation at {name} is constrained twice, differently; keep one",
                )
            level.prefix[kind] = prefix
        if kind == "spatial" and raw.get("split") is not None:
            s = raw["split"]
            if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                raise SpecError(file, (*path, "split"), f"split must be an integer >= 0, got {s!r}")
            s -= sum(d is None for d in listed[:s])  # dropped names do not count
            if level.split is not None and level.split != s:
                raise SpecError(file, (*path, "split"), f"spatial split at {name} given twice")
            level.split = s

    def dataspace(
        self,
        li: int,
        keep: Iterable[int],
        bypass: Iterable[int],
        file: str | None,
        path: YamlPath,
    ) -> None:
        level = self.levels[li]
        for ds, value in [(d, True) for d in keep] + [(d, False) for d in bypass]:
            old = level.keep[ds]
            if old is not None and old != value:
                raise SpecError(
                    file,
                    path,
                    f"data space {self.problem.data_spaces[ds].name} is both kept and bypassed "
                    f"at {self.arch.storage[li].name}",
                )
            level.keep[ds] = value

    def _unit_first(
        self, factors: dict[int, FactorBounds], prefix: tuple[int, ...]
    ) -> tuple[int, ...]:
        """timeloopfe's PermutationOptimizer: dimensions fixed to 1 and dimensions of bound 1
        that the permutation omits are put in front of it (this shifts a spatial ``split``)."""
        out = list(prefix)
        for d, b in factors.items():
            if b.exact == 1 and d not in out:
                out.insert(0, d)
        for d, name in enumerate(self.problem.dimensions):
            if self.problem.bounds[name] == 1 and d not in out:
                out.insert(0, d)
        return tuple(out)

    def node(self, li: int, raw: MappingABC[str, Any], file: str | None, path: YamlPath) -> None:
        """One architecture node's ``constraints`` block."""
        for kind in ("temporal", "spatial"):
            block = raw.get(kind)
            if isinstance(block, MappingABC):
                self.loops(li, kind, block, file, (*path, kind))
        ds = raw.get("dataspace")
        if isinstance(ds, MappingABC):
            dpath = (*path, "dataspace")
            keep = _ds_list(ds.get("keep"), self.problem, file, (*dpath, "keep"))
            bypass = _ds_list(ds.get("bypass"), self.problem, file, (*dpath, "bypass"))
            every = range(len(self.problem.data_spaces))
            # timeloopfe's keep_only / bypass_only macros: the others the other way.
            if ds.get("keep_only") is not None:
                only = _ds_list(ds.get("keep_only"), self.problem, file, (*dpath, "keep_only"))
                keep += only
                bypass += [d for d in every if d not in only]
            if ds.get("bypass_only") is not None:
                only = _ds_list(ds.get("bypass_only"), self.problem, file, (*dpath, "bypass_only"))
                bypass += only
                keep += [d for d in every if d not in only]
            if ds.get("no_coalesce"):
                self.ignore(file, (*dpath, "no_coalesce"), "not modelled")
            self.dataspace(li, keep, bypass, file, dpath)
        if raw.get("max_overbooked_proportion"):
            self.ignore(file, (*path, "max_overbooked_proportion"), "overbooking is not modelled")

    def build(self) -> MapspaceConstraints:
        nd = len(self.problem.dimensions)
        levels = []
        for draft in self.levels:
            loops = {}
            for kind in ("temporal", "spatial"):
                loops[kind] = LoopConstraints(
                    tuple(draft.factors[kind].get(d, FREE) for d in range(nd)),
                    self._unit_first(draft.factors[kind], draft.prefix.get(kind, ())),
                    draft.split if kind == "spatial" else None,
                )
            levels.append(LevelConstraints(loops["temporal"], loops["spatial"], tuple(draft.keep)))
        return MapspaceConstraints(
            tuple(levels), self.min_utilization, tuple(self.sources), tuple(self.ignored)
        )


def _targets(raw: Any, file: str | None, path: YamlPath) -> tuple[list[Any], YamlPath]:
    if raw is None:
        return [], path
    if isinstance(raw, list):
        return raw, path
    if isinstance(raw, MappingABC):
        for key in ("targets", "constraints"):
            if key in raw:
                inner = raw[key]
                if inner is None:
                    return [], (*path, key)
                if isinstance(inner, list):
                    return inner, (*path, key)
                return _targets(inner, file, (*path, key))
        if set(raw) <= {"version"}:
            return [], path
    raise SpecError(file, path, "constraints must be a list of targets or {targets: [...]}")


def _apply_targets(b: _Builder, doc: ConstraintDocument) -> None:
    arch, problem = b.arch, b.problem
    top = len(arch.storage) - 1
    if doc.file is not None:
        b.sources.append(doc.file)
    targets, tpath = _targets(doc.targets, doc.file, (doc.key,))
    for i, t in enumerate(targets):
        path = (*tpath, i)
        if not isinstance(t, MappingABC):
            raise SpecError(doc.file, path, "a constraint target must be a mapping")
        li = arch.target_level(t.get("target", t.get("name")), doc.file, path, "constraint")
        kind = t.get("type")
        if kind in ("temporal", "spatial"):
            b.loops(li, str(kind), t, doc.file, path)
        elif kind in ("dataspace", "bypass", "datatype", "bypassing"):
            keep = _ds_list(t.get("keep"), problem, doc.file, (*path, "keep"))
            byp = _ds_list(t.get("bypass"), problem, doc.file, (*path, "bypass"))
            if li == top and byp:
                raise SpecError(
                    doc.file, (*path, "bypass"), "the outermost level keeps every tensor"
                )
            b.dataspace(li, keep, byp, doc.file, path)
        elif kind in ("utilization", "parallelism"):
            value = t.get("min")
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
                raise SpecError(doc.file, (*path, "min"), f"min must be in [0, 1], got {value!r}")
            b.min_utilization = float(value)
        else:
            raise SpecError(
                doc.file,
                (*path, "type"),
                f"constraint type {kind!r} is not supported; use temporal, spatial, dataspace, "
                "bypass or utilization",
            )


@dataclass(frozen=True)
class ConstraintDocument:
    """One constraints document: its raw YAML value, the file and the top-level key."""

    targets: Any
    file: str | None = None
    key: str = "mapspace_constraints"


CONSTRAINT_KEYS = ("architecture_constraints", "mapspace_constraints", "constraints", "mapspace")


def constraint_documents(doc: SpecDocument) -> list[ConstraintDocument]:
    """Every constraints document among merged top-level YAML keys (:data:`CONSTRAINT_KEYS`)."""
    return [ConstraintDocument(doc.get(k), doc.file_of(k), k) for k in CONSTRAINT_KEYS if k in doc]


def build_constraints(
    arch: Architecture,
    problem: Problem,
    *,
    constraint_targets: Any = None,
    constraints_file: str | None = None,
    documents: Sequence[ConstraintDocument] = (),
    dimension_names: DimensionNames | None = None,
    architecture_file: str | None = None,
) -> MapspaceConstraints:
    """Merge the architecture's node constraints, timeloopfe's implicit rules (dummy levels,
    outermost keeps all, ``!Parallel`` branches) and constraints documents (``documents``, or
    one given as ``constraint_targets``/``constraints_file``). ``dimension_names`` reads the
    constraints' dimension names for a problem of another shape (:data:`DimensionNames`);
    without it a name the problem lacks raises :class:`UnknownDimensionError`. Errors in the
    architecture's own node constraints name ``architecture_file``."""
    b = _Builder(arch, problem, dimension_names)
    nds = len(problem.data_spaces)
    for li, level in enumerate(arch.storage):
        where = ("architecture", level.name, "constraints")
        b.node(li, level.constraints, architecture_file, where)
        branch_keep = level.constraints.get(PARALLEL_KEEP)
        if isinstance(branch_keep, list):
            kept = {ds.name for ds in problem.data_spaces} & set(branch_keep)
            bypass = [d for d, ds in enumerate(problem.data_spaces) if ds.name not in kept]
            b.dataspace(li, [], bypass, architecture_file, where)
        if level.is_dummy:
            b.dataspace(li, [], range(nds), architecture_file, ("architecture", level.name))
            all_ones = {d: FactorBounds(exact=1) for d in range(len(problem.dimensions))}
            b.levels[li].factors["temporal"].update(all_ones)
    b.levels[-1].keep = [True] * nds
    docs = list(documents)
    if constraint_targets is not None:
        docs.append(ConstraintDocument(constraint_targets, constraints_file))
    for d in docs:
        _apply_targets(b, d)
    for li, draft in enumerate(b.levels):
        if arch.fanout(li) == 1 and any(
            f.exact not in (None, 1) or f.low > 1 for f in draft.factors["spatial"].values()
        ):
            raise SpecError(
                next((d.file for d in docs), None),
                ("constraints", arch.storage[li].name),
                f"{arch.storage[li].name} has no spatial fanout; remove its spatial factors",
            )
    return b.build()
