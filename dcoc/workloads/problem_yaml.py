"""Timeloop problem YAML (v0.4 and the older v0.3 hyphenated keys) to and from :class:`Problem`.

v0.4::

    problem:
      version: 0.4
      shape:
        name: Conv1D
        dimensions: [R, P]
        coefficients: [{name: Wstride, default: 1}]
        data_spaces:
        - {name: Weights, projection: [[[R]]]}
        - {name: Inputs, projection: [[[R], [P, Wstride]]]}
        - {name: Outputs, projection: [[[P]]], read_write: true}
      instance: {R: 3, P: 16}

v0.3 uses ``data-spaces`` and ``read-write``. A projection term is ``[dim]`` or
``[dim, coefficient]``. Instance keys that are neither dimensions nor coefficients (timeloopfe
variables such as ``H`` or ``densities``) are ignored, as Timeloop ignores them.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from typing import Any

from dcoc.errors import SpecError
from dcoc.workloads.problem import MAX_BOUND, DataSpace, Problem, ProjectionTerm

Path = tuple[str | int, ...]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_mapping(value: Any, file: str | None, path: Path, what: str) -> MappingABC[str, Any]:
    if not isinstance(value, MappingABC):
        raise SpecError(file, path, f"{what} must be a mapping, got {type(value).__name__}")
    return value


def _require_list(value: Any, file: str | None, path: Path, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(file, path, f"{what} must be a list, got {type(value).__name__}")
    return value


def _get(mapping: MappingABC[str, Any], *names: str) -> Any:
    for n in names:
        if n in mapping:
            return mapping[n]
    return None


def _parse_term(
    raw: Any, file: str | None, path: Path, dims: set[str], coefs: set[str]
) -> ProjectionTerm:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not 1 <= len(raw) <= 2:
        raise SpecError(
            file,
            path,
            f"a projection term must be [dimension] or [dimension, coefficient], got {raw!r}",
        )
    names = [str(x) for x in raw]
    if len(names) == 2 and names[0] in coefs and names[1] in dims:
        names = [names[1], names[0]]  # tolerate [coefficient, dimension]
    dim = names[0]
    if dim not in dims:
        raise SpecError(
            file,
            path,
            f"{dim!r} is not a dimension of the problem "
            f"(dimensions: {sorted(dims)}); add it to problem.shape.dimensions",
        )
    coef = names[1] if len(names) == 2 else None
    if coef is not None and coef not in coefs:
        raise SpecError(
            file,
            path,
            f"coefficient {coef!r} is not declared; add it to problem.shape.coefficients",
        )
    return ProjectionTerm(dim, coef)


def parse_problem(raw: Any, file: str | None = None, path: Path = ("problem",)) -> Problem:
    """Build a :class:`Problem` from the value of a ``problem:`` key."""
    top = _require_mapping(raw, file, path, "problem")
    shape = _require_mapping(top.get("shape"), file, (*path, "shape"), "problem.shape")
    instance_raw = top.get("instance")
    if instance_raw is None:
        raise SpecError(file, (*path, "instance"), "missing; give the bounds, e.g. {R: 3, P: 16}")
    instance = _require_mapping(instance_raw, file, (*path, "instance"), "problem.instance")

    dims_raw = _require_list(
        shape.get("dimensions"), file, (*path, "shape", "dimensions"), "problem.shape.dimensions"
    )
    dims = tuple(str(d) for d in dims_raw)
    if not dims:
        raise SpecError(file, (*path, "shape", "dimensions"), "give at least one dimension")

    coefficients: dict[str, int] = {}
    coefs_raw = shape.get("coefficients") or []
    for i, c in enumerate(
        _require_list(
            coefs_raw, file, (*path, "shape", "coefficients"), "problem.shape.coefficients"
        )
    ):
        where: Path = (*path, "shape", "coefficients", i)
        c = _require_mapping(c, file, where, "a coefficient")
        if "name" not in c:
            raise SpecError(file, where, "a coefficient needs a 'name'")
        default = c.get("default", 1)
        if not _is_int(default):
            raise SpecError(file, (*where, "default"), f"must be an integer, got {default!r}")
        coefficients[str(c["name"])] = default

    ds_key = "data_spaces" if "data_spaces" in shape else "data-spaces"
    ds_raw = _require_list(
        shape.get(ds_key), file, (*path, "shape", ds_key), "problem.shape.data_spaces"
    )
    data_spaces = []
    for i, d in enumerate(ds_raw):
        where = (*path, "shape", ds_key, i)
        d = _require_mapping(d, file, where, "a data space")
        if "name" not in d:
            raise SpecError(file, where, "a data space needs a 'name'")
        proj = _require_list(d.get("projection"), file, (*where, "projection"), "projection")
        data_dims = []
        for j, dd in enumerate(proj):
            if isinstance(dd, str):
                dd = [[dd]]
            terms = _require_list(dd, file, (*where, "projection", j), "a data dimension")
            data_dims.append(
                tuple(
                    _parse_term(t, file, (*where, "projection", j, k), set(dims), set(coefficients))
                    for k, t in enumerate(terms)
                )
            )
        rw = _get(d, "read_write", "read-write")
        if rw is not None and not isinstance(rw, bool):
            raise SpecError(file, (*where, "read_write"), f"must be true or false, got {rw!r}")
        data_spaces.append(DataSpace(str(d["name"]), tuple(data_dims), bool(rw)))

    bounds: dict[str, int] = {}
    for key, value in instance.items():
        key = str(key)
        if key in dims or key in coefficients:
            if not _is_int(value) or value < 1:
                raise SpecError(
                    file, (*path, "instance", key), f"must be a positive integer, got {value!r}"
                )
            if value > MAX_BOUND:
                raise SpecError(
                    file, (*path, "instance", key), f"must be at most 2**31, got {value!r}"
                )
            if key in dims:
                bounds[key] = value
            else:
                coefficients[key] = value
    for d in dims:
        if d not in bounds:
            raise SpecError(
                file,
                (*path, "instance", d),
                f"no bound for dimension {d!r}; add '{d}: <positive int>'",
            )
    name = str(shape.get("name", "problem"))
    try:
        return Problem(name, dims, tuple(data_spaces), bounds, coefficients)
    except SpecError as exc:
        raise SpecError(file, exc.yaml_path, exc.message) from None


def problem_to_yaml(problem: Problem) -> dict[str, Any]:
    """The v0.4 ``problem:`` value for ``problem`` (round-trips through :func:`parse_problem`)."""
    data_spaces = []
    for ds in problem.data_spaces:
        entry: dict[str, Any] = {
            "name": ds.name,
            "projection": [
                [
                    [t.dimension] if t.coefficient is None else [t.dimension, t.coefficient]
                    for t in terms
                ]
                for terms in ds.projection
            ],
        }
        if ds.read_write:
            entry["read_write"] = True
        data_spaces.append(entry)
    instance: dict[str, int] = {d: int(problem.bounds[d]) for d in problem.dimensions}
    instance.update({c: int(v) for c, v in problem.coefficients.items()})
    return {
        "version": 0.4,
        "shape": {
            "name": problem.name,
            "dimensions": list(problem.dimensions),
            "coefficients": [
                {"name": c, "default": int(v)} for c, v in problem.coefficients.items()
            ],
            "data_spaces": data_spaces,
        },
        "instance": instance,
    }
